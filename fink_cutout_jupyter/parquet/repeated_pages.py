"""One row's values of a leaf column, decoded from the one data page holding them.

A leaf under a list (``prvDiaSources.list.element.psfFlux``) stores, per value, a repetition
level (0 starts a row, 1 continues its list) and a definition level (how deep the path is
defined: a null list, an empty list, a null element or leaf, or a value), each an RLE/bit-packed
hybrid run sequence, then the defined values: PLAIN, or indices into the column chunk's
dictionary page. Pages found by the offset index (`offset_index`) start at row boundaries, so
a row's values are in one page. This decodes ``DATA_PAGE`` and ``DATA_PAGE_V2`` pages of
``INT32``, ``INT64``, ``FLOAT``, ``DOUBLE`` and ``BYTE_ARRAY`` leaves with at most one
repetition level; anything else raises `Unsupported` (callers read with pyarrow instead).
Levels and fixed-width values are decoded with numpy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.parquet.pages import (
    DATA_PAGE,
    DATA_PAGE_V2,
    DICTIONARY_PAGE,
    PLAIN,
    PLAIN_DICTIONARY,
    RLE_DICTIONARY,
    PageHeader,
    Unsupported,
    _decompress,
    parse_page_header,
)
from fink_cutout_jupyter.parquet.thrift import varint_at

if TYPE_CHECKING:
    import numpy as np

FIXED_TYPES = {"INT32": "<i4", "INT64": "<i8", "FLOAT": "<f4", "DOUBLE": "<f8"}
LEAF_TYPES = (*FIXED_TYPES, "BYTE_ARRAY")


@dataclass(frozen=True)
class LeafColumn:
    """What decoding a leaf's pages needs to know of its column chunk (from the footer).

    Attributes
    ----------
    codec : str
        Compression, as pyarrow names it (``SNAPPY``).
    physical_type : str
        One of `LEAF_TYPES`.
    max_definition_level, max_repetition_level : int
        The leaf's levels; a repetition level of 1 is a leaf under one list.
    entry_level : int
        Under a list, the definition level from which a value is an entry of the list (the
        list's repeated group is defined): one less is an empty list, less again a null one.
    text : bool
        ``BYTE_ARRAY`` values are UTF-8 text (``str``) rather than bytes.
    """

    codec: str
    physical_type: str
    max_definition_level: int
    max_repetition_level: int = 0
    entry_level: int = 0
    text: bool = False


def row_of_page(
    page: bytes | memoryview,
    dictionary: bytes | memoryview | None,
    column: LeafColumn,
    row_in_page: int,
    rows_in_page: int,
) -> Any:
    """The value of row `row_in_page` of a data page whose first value starts a row.

    A leaf under a list gives the list (``None`` entries for null elements or leaves, ``None``
    for a null list); a flat leaf its value (``None`` if null). `dictionary` is the column
    chunk's dictionary page (header and body), needed by dictionary-encoded pages.

    Raises
    ------
    Unsupported
        A page this reader does not decode, or whose bytes are not what they should be.
    """
    try:
        return _row_of_page(page, dictionary, column, row_in_page, rows_in_page)
    except (EOFError, IndexError, KeyError, TypeError, ValueError, struct.error) as error:
        raise Unsupported(f"the page does not decode ({error!r})") from None


def _row_of_page(page, dictionary, column: LeafColumn, row_in_page: int, rows_in_page: int):
    import numpy as np

    if column.physical_type not in LEAF_TYPES or column.max_repetition_level > 1:
        raise Unsupported(f"{column.physical_type} leaf, {column.max_repetition_level} lists")
    header = parse_page_header(page)
    if header.header_size + header.compressed_page_size != len(page):
        raise Unsupported("the page is not where the offset index says")
    repetition, definition, values, values_start = _levels_and_values(page, header, column)
    count = header.num_values
    if header.num_rows is not None and header.num_rows != rows_in_page:
        raise Unsupported("the page's rows are not the offset index's")
    if column.max_repetition_level:
        data, first, last, _ = repetition
        start, end, rows = row_bounds(data, first, last, row_in_page, count)
        if rows != rows_in_page:
            raise Unsupported("the page's rows are not the offset index's")
    else:
        if count != rows_in_page or row_in_page >= count:
            raise Unsupported("the page's rows are not the offset index's")
        start, end = row_in_page, row_in_page + 1
    data, first, last, max_level = definition
    if max_level:
        levels, before = hybrid_slice(
            data, first, last, max_level.bit_length(), start, end - start, max_level
        )
    else:
        levels, before = np.zeros(end - start, dtype=np.int64), start
    present = levels == column.max_definition_level
    found = _values(values, values_start, header, column, dictionary, before, int(present.sum()))
    if not column.max_repetition_level:
        return found[0] if present[0] else None
    if end - start == 1 and levels[0] < column.entry_level:
        return [] if levels[0] == column.entry_level - 1 else None
    entries: list[Any] = [None] * (end - start)
    for place, value in zip(np.flatnonzero(present).tolist(), found, strict=True):
        entries[place] = value
    return entries


def _levels_and_values(page, header: PageHeader, column: LeafColumn):
    """Where the page's repetition and definition levels are, each as (data, start, end, max
    level), and its values' bytes with where they start."""
    body_start = header.header_size
    if header.type == DATA_PAGE_V2:
        repetition_end = body_start + header.repetition_levels_byte_length
        levels_end = repetition_end + header.definition_levels_byte_length
        repetition = (page, body_start, repetition_end, column.max_repetition_level)
        definition = (page, repetition_end, levels_end, column.max_definition_level)
        values: Any = page[levels_end:]
        if header.is_compressed:
            size = header.uncompressed_page_size - (levels_end - body_start)
            values = _decompress(values, column.codec, size)
        return repetition, definition, values, 0
    if header.type != DATA_PAGE:
        raise Unsupported(f"page type {header.type}")
    body = _decompress(page[body_start:], column.codec, header.uncompressed_page_size)
    position, levels = 0, []
    for max_level in (column.max_repetition_level, column.max_definition_level):
        if not max_level:
            levels.append((body, position, position, 0))
            continue
        (length,) = struct.unpack_from("<i", body, position)
        levels.append((body, position + 4, position + 4 + length, max_level))
        position += 4 + length
    return levels[0], levels[1], body, position


def _runs(data, position: int, end: int, bit_width: int):
    """The runs of a hybrid sequence: (values, RLE value or None if bit-packed, where the
    packed bytes start)."""
    byte_width = (bit_width + 7) // 8
    while position < end:
        header, position = varint_at(data, position)
        if header & 1:
            size = (header >> 1) * bit_width
            if position + size > end:
                raise Unsupported("a bit-packed run goes past its data")
            yield (header >> 1) * 8, None, position
            position += size
        else:
            value = int.from_bytes(bytes(data[position : position + byte_width]), "little")
            yield header >> 1, value, position
            position += byte_width


def _unpacked(data, position: int, count: int, bit_width: int) -> np.ndarray:
    """`count` bit-packed values of `bit_width` bits from data[position:]."""
    import numpy as np

    size = (count * bit_width + 7) // 8
    bits = np.unpackbits(np.frombuffer(data, np.uint8, size, position), bitorder="little")
    if bit_width == 1:
        return bits[:count].astype(np.int64)
    return bits[: count * bit_width].reshape(count, bit_width) @ (
        1 << np.arange(bit_width, dtype=np.int64)
    )


def hybrid_slice(
    data, position: int, end: int, bit_width: int, first: int, count: int, counted: int = -1
) -> tuple[np.ndarray, int]:
    """Values `first` to `first + count` of a hybrid sequence, decoding only the runs holding
    them, and how many of the values before `first` equal `counted`.

    Raises
    ------
    Unsupported
        The runs end before those values.
    """
    import numpy as np

    pieces, index, stop, before = [], 0, first + count, 0
    for length, value, at in _runs(data, position, end, bit_width):
        if value is None and index < first and counted >= 0:
            head = _unpacked(data, at, min(length, first - index), bit_width)
            before += int(np.count_nonzero(head == counted))
        elif value is not None and index < first and value == counted:
            before += min(length, first - index)
        if index + length > first and index < stop:
            low, high = max(first - index, 0), min(stop - index, length)
            if value is None:
                pieces.append(_unpacked(data, at, high, bit_width)[low:])
            else:
                pieces.append(np.full(high - low, value, dtype=np.int64))
        index += length
        if index >= stop:
            break
    if index < stop:
        raise Unsupported("levels or indices end early")
    found = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return found, before


def row_bounds(data, position: int, end: int, row: int, count: int) -> tuple[int, int, int]:
    """Where row `row` of a page starts and ends among its `count` values, from repetition
    levels of bit width 1 (a 0 starts a row), and how many rows the page holds: the levels are
    walked to the page's end, each run's zeros counted, so that a page whose rows are not the
    offset index's is caught whichever of its rows is read.

    One tight loop: a page holds ~2 runs per row, and this is most of a history read's time.

    Raises
    ------
    Unsupported
        The levels end before the page's values, or hold no row `row`.
    """
    starts: list[int] = []
    wanted, index, rows = row + 2, 0, 0
    while position < end and index < count and len(starts) < wanted:
        header = data[position]
        position += 1
        if header & 0x80:
            if data[position] & 0x80:
                header, position = varint_at(data, position - 1)
            else:  # two bytes: a run of up to 8191 (most RLE runs of a list)
                header = (header & 0x7F) | (data[position] << 7)
                position += 1
        if header & 1:  # bit-packed: a byte per group of 8 levels
            size = header >> 1
            if position + size > end:
                raise Unsupported("a bit-packed run goes past its data")
            length = min(size * 8, count - index)
            bits = (
                data[position]
                if size == 1
                else int.from_bytes(bytes(data[position : position + size]), "little")
            )
            position += size
            zeros = ~bits & ((1 << length) - 1)
            rows += zeros.bit_count()
            while zeros and len(starts) < wanted:
                lowest = zeros & -zeros
                starts.append(index + lowest.bit_length() - 1)
                zeros ^= lowest
        else:
            length = min(header >> 1, count - index)
            if data[position] == 0:
                rows += length
                if len(starts) < wanted:
                    starts.extend(range(index, index + min(length, wanted - len(starts))))
            elif data[position] != 1:
                raise Unsupported("a repetition level past 1")
            position += 1
        index += length
    while position < end and index < count:  # the rest: only counted
        header = data[position]
        position += 1
        if header & 0x80:
            header, position = varint_at(data, position - 1)
        if header & 1:
            size = header >> 1
            length = min(size * 8, count - index)
            bits = int.from_bytes(data[position : position + size], "little")
            position += size
            rows += length - (bits & ((1 << length) - 1)).bit_count()
        else:
            length = min(header >> 1, count - index)
            if not data[position]:
                rows += length
            position += 1
        index += length
    if index < count or position > end:
        raise Unsupported("the repetition levels end before the page's values")
    if not starts or starts[0] != 0 or len(starts) <= row:
        raise Unsupported("the page's rows are not the offset index's")
    return starts[row], starts[row + 1] if len(starts) > row + 1 else count, rows


def _values(
    data, start: int, header: PageHeader, column: LeafColumn, dictionary, first: int, count: int
) -> list[Any]:
    """Values `first` to `first + count` of the page's defined values, as Python objects."""
    if not count:
        return []
    if header.encoding == PLAIN:
        return _plain(data, start, column, first, count, len(data))
    if header.encoding not in (PLAIN_DICTIONARY, RLE_DICTIONARY):
        raise Unsupported(f"encoding {header.encoding}")
    if dictionary is None:
        raise Unsupported("a dictionary-encoded page without a dictionary page")
    bit_width = data[start]
    indices, _ = hybrid_slice(data, start + 1, len(data), bit_width, first, count)
    entries, size = _dictionary(dictionary, column)
    if int(indices.max()) >= size:
        raise Unsupported("a dictionary index past the dictionary")
    if isinstance(entries, list):
        return [entries[index] for index in indices.tolist()]
    return entries[indices].tolist()


def _dictionary(page, column: LeafColumn):
    """The dictionary page's values (a numpy array, or a list of bytes or text) and count."""
    header = parse_page_header(page)
    if header.type != DICTIONARY_PAGE or header.header_size + header.compressed_page_size != len(
        page
    ):
        raise Unsupported("bad dictionary page")
    body = _decompress(page[header.header_size :], column.codec, header.uncompressed_page_size)
    if column.physical_type in FIXED_TYPES:
        import numpy as np

        entries = np.frombuffer(body, FIXED_TYPES[column.physical_type], header.num_values)
        return entries, header.num_values
    return _plain(body, 0, column, 0, header.num_values, len(body)), header.num_values


def _plain(data, start: int, column: LeafColumn, first: int, count: int, end: int) -> list[Any]:
    """PLAIN values `first` to `first + count` from data[start:end]."""
    dtype = FIXED_TYPES.get(column.physical_type)
    if dtype is not None:
        import numpy as np

        width = int(dtype[-1])
        if start + (first + count) * width > end:
            raise Unsupported("values run past the page")
        return np.frombuffer(data, dtype, count, start + first * width).tolist()
    position = start
    for _ in range(first):
        (size,) = struct.unpack_from("<i", data, position)
        position += 4 + size
    found: list[Any] = []
    for _ in range(count):
        (size,) = struct.unpack_from("<i", data, position)
        if size < 0 or position + 4 + size > end:
            raise Unsupported("a value runs past the page")
        raw = bytes(data[position + 4 : position + 4 + size])
        found.append(raw.decode() if column.text else raw)
        position += 4 + size
    return found
