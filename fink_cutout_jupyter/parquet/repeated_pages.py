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
    except (EOFError, IndexError, ValueError, struct.error) as error:
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
    if column.max_repetition_level:
        starts = np.flatnonzero(repetition == 0)
        if starts.size != rows_in_page or starts[0] != 0:
            raise Unsupported("the page's rows are not the offset index's")
        start = int(starts[row_in_page])
        end = int(starts[row_in_page + 1]) if row_in_page + 1 < starts.size else count
    else:
        if count != rows_in_page or row_in_page >= count:
            raise Unsupported("the page's rows are not the offset index's")
        start, end = row_in_page, row_in_page + 1
    levels = definition[start:end]
    present = levels == column.max_definition_level
    before = int(np.count_nonzero(definition[:start] == column.max_definition_level))
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
    """The page's repetition and definition levels (numpy arrays, one per value) and its
    values' bytes with where they start."""
    import numpy as np

    count = header.num_values
    body_start = header.header_size
    if header.type == DATA_PAGE_V2:
        repetition_end = body_start + header.repetition_levels_byte_length
        levels_end = repetition_end + header.definition_levels_byte_length
        repetition = _levels(page, body_start, repetition_end, column.max_repetition_level, count)
        definition = _levels(page, repetition_end, levels_end, column.max_definition_level, count)
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
            levels.append(np.zeros(count, dtype=np.int32))
            continue
        (length,) = struct.unpack_from("<i", body, position)
        levels.append(_levels(body, position + 4, position + 4 + length, max_level, count))
        position += 4 + length
    return levels[0], levels[1], body, position


def _levels(data, start: int, end: int, max_level: int, count: int) -> np.ndarray:
    import numpy as np

    if not max_level:
        return np.zeros(count, dtype=np.int32)
    return hybrid(data, start, end, max_level.bit_length(), count)


def hybrid(data, position: int, end: int, bit_width: int, count: int) -> np.ndarray:
    """The first `count` values of an RLE/bit-packed hybrid run sequence in data[position:end],
    as an int64 numpy array.

    Raises
    ------
    Unsupported
        The runs end before `count` values, or a run goes past `end`.
    """
    import numpy as np

    found = np.empty(count, dtype=np.int64)
    byte_width = (bit_width + 7) // 8
    weights = (1 << np.arange(bit_width, dtype=np.int64)) if bit_width > 1 else None
    filled = 0
    while filled < count and position < end:
        header, position = _varint(data, position)
        if header & 1:
            size = (header >> 1) * bit_width
            if position + size > end:
                raise Unsupported("a bit-packed run goes past its data")
            bits = np.unpackbits(np.frombuffer(data, np.uint8, size, position), bitorder="little")
            position += size
            taken = min((header >> 1) * 8, count - filled)
            if weights is None:
                found[filled : filled + taken] = bits[:taken] if bit_width else 0
            else:
                found[filled : filled + taken] = (
                    bits[: taken * bit_width].reshape(taken, bit_width) @ weights
                )
        else:
            value = int.from_bytes(bytes(data[position : position + byte_width]), "little")
            position += byte_width
            taken = min(header >> 1, count - filled)
            found[filled : filled + taken] = value
        filled += taken
    if filled < count:
        raise Unsupported("levels or indices end early")
    return found


def _varint(data, position: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


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
    indices = hybrid(data, start + 1, len(data), bit_width, first + count)[first:]
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
