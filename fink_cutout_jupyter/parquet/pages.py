"""One Parquet data page holding a stamp: find it once at index time, read only it per request.

The pieces of the Parquet format needed for that, with the specification's names: the Thrift
compact protocol (`thrift`) for ``PageHeader`` (``DataPageHeader``, ``DataPageHeaderV2``,
``DictionaryPageHeader``), the RLE/bit-packed hybrid encoding of definition levels and
dictionary indices, and PLAIN ``BYTE_ARRAY`` values. Decompression is pyarrow's `Codec`.

Only flat or struct-nested ``BYTE_ARRAY``, ``INT32`` and ``INT64`` columns (no repetition) are
handled: stamps, and the alert id read beside them to prove the row is still the alert's. Anything
else raises `Unsupported`, and callers fall back to pyarrow.

Where a value lives (`PageSpan`) and what its column chunk is (`ColumnInfo`) are `spans`' format,
found here at index time and read back here at request time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter.parquet.spans import PHYSICAL_TYPES, ColumnInfo, PageSpan
from fink_cutout_jupyter.parquet.thrift import CompactReader
from fink_cutout_jupyter.storage.open_files import SharedFile, fetch_pages

if TYPE_CHECKING:
    import pyarrow as pa

# PageType
DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 1, 2, 3
# Encoding
PLAIN, PLAIN_DICTIONARY, RLE, RLE_DICTIONARY = 0, 2, 3, 8
_CODECS = {
    "UNCOMPRESSED": None,
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "ZSTD": "zstd",
    "LZ4_RAW": "lz4_raw",
    "LZ4": "lz4",
    "BROTLI": "brotli",
}


class Unsupported(Exception):
    """The page cannot be decoded here (or is not what the index said): read it with pyarrow."""


_FIXED_WIDTH = {"INT32": struct.Struct("<i"), "INT64": struct.Struct("<q")}


@dataclass(frozen=True)
class PageHeader:
    """The fields of a Parquet ``PageHeader`` this reader uses."""

    type: int
    uncompressed_page_size: int
    compressed_page_size: int
    header_size: int
    num_values: int
    encoding: int
    num_rows: int | None = None
    definition_levels_byte_length: int = 0
    repetition_levels_byte_length: int = 0
    is_compressed: bool = True


def parse_page_header(data: bytes | memoryview) -> PageHeader:
    """Parse the Thrift ``PageHeader`` at the start of `data` (`EOFError` if it is cut short)."""
    reader = CompactReader(data)
    fields = reader.struct()
    kind = fields[1]
    common = {
        "type": kind,
        "uncompressed_page_size": fields[2],
        "compressed_page_size": fields[3],
        "header_size": reader.position,
    }
    if kind == DATA_PAGE:
        page = fields[5]
        return PageHeader(**common, num_values=page[1], encoding=page[2])
    if kind == DICTIONARY_PAGE:
        page = fields[7]
        return PageHeader(**common, num_values=page[1], encoding=page[2])
    if kind == DATA_PAGE_V2:
        page = fields[8]
        return PageHeader(
            **common,
            num_values=page[1],
            encoding=page[4],
            num_rows=page[3],
            definition_levels_byte_length=page[5],
            repetition_levels_byte_length=page[6],
            is_compressed=page.get(7, True),
        )
    return PageHeader(**common, num_values=0, encoding=PLAIN)


def read_page_header(source: pa.NativeFile, offset: int, first_read: int = 256) -> PageHeader:
    """Read and parse the page header at `offset`, reading more while it does not fit."""
    size = first_read
    while True:
        data = source.read_at(size, offset)
        try:
            return parse_page_header(data)
        except EOFError:
            if len(data) < size:
                raise Unsupported(f"truncated page header at {offset}") from None
            size *= 4


# Finding pages (index time)


def page_map(source: pa.NativeFile, chunk) -> tuple[list[tuple[int, int, int]], tuple[int, int]]:
    """Data pages of a column chunk as (first row, offset, length) and its dictionary page span.

    `chunk` is the pyarrow ``ColumnChunkMetaData``. Page bodies are skipped: one small read
    per page header.
    """
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset:
        start = min(start, chunk.dictionary_page_offset)
    end = start + chunk.total_compressed_size
    pages, dictionary, row, offset = [], (-1, 0), 0, start
    while offset < end:
        header = read_page_header(source, offset)
        length = header.header_size + header.compressed_page_size
        if header.type == DICTIONARY_PAGE:
            dictionary = (offset, length)
        elif header.type in (DATA_PAGE, DATA_PAGE_V2):
            pages.append((row, offset, length))
            row += header.num_rows if header.num_rows is not None else header.num_values
        offset += length
    if row != chunk.num_values:
        raise Unsupported(f"pages hold {row} values, the footer says {chunk.num_values}")
    return pages, dictionary


def spans_of_rows(pages: list[tuple[int, int, int]], dictionary: tuple[int, int], rows: int):
    """The `PageSpan` of each row 0..rows-1 of a column chunk (non-repeated column)."""
    spans, page = [], 0
    for row in range(rows):
        while page + 1 < len(pages) and pages[page + 1][0] <= row:
            page += 1
        first, offset, length = pages[page]
        spans.append(PageSpan(offset, length, row - first, *dictionary))
    return spans


# Reading one value (request time)


def read_span(source: pa.NativeFile, offset: int, length: int) -> memoryview:
    """`length` bytes at `offset`, read positionally (threads may share the file).

    pyarrow's ``read_at`` fills a buffer of its own memory pool, which keeps the pages it has
    had: a 1 MB page reads in 0.15 ms from the page cache, where a seek and ``readinto`` a
    reused ``bytearray`` took 0.49 ms (and glibc hands a fresh 1 MB Python object back to the
    system when freed, so each would page-fault again).
    """
    if isinstance(source, SharedFile):
        data = source.read(offset, length)
    else:
        metrics.add("lake_bytes_read", length)  # a shared remote file counts its own reads
        data = memoryview(source.read_at(length, offset))
    if len(data) != length:
        raise Unsupported(f"the file ends before the page at {offset}")
    return data


def _decompress(data, codec: str, size: int) -> memoryview:
    """The page body uncompressed (a view of `data` itself when uncompressed)."""
    import pyarrow as pa

    name = _CODECS.get(codec, "?")
    if name is None:
        return memoryview(data)
    if name == "?":
        raise Unsupported(f"codec {codec}")
    try:
        return memoryview(pa.Codec(name).decompress(data, decompressed_size=size))
    except (OSError, ValueError, pa.ArrowException) as error:
        if name == "lz4":  # LZ4 in Parquet is ambiguous: raw block in files pyarrow writes
            return memoryview(pa.Codec("lz4_raw").decompress(data, decompressed_size=size))
        raise Unsupported(f"{codec} decompression failed: {error}") from error


def decode_hybrid(data, position: int, end: int, bit_width: int, count: int) -> list[int]:
    """The first `count` values of an RLE/bit-packed hybrid run sequence in data[position:end]."""
    values: list[int] = []
    byte_width = (bit_width + 7) // 8
    reader = CompactReader(data, position)
    while len(values) < count and reader.position < end:
        header = reader.varint()
        if header & 1:
            groups = header >> 1
            size = groups * bit_width
            if reader.position + size > end:
                raise Unsupported("a bit-packed run goes past its data")
            values.extend(_unpacked(data, reader.position, groups, bit_width))
            reader.position += size
        else:
            repeat = header >> 1
            value = int.from_bytes(
                bytes(data[reader.position : reader.position + byte_width]), "little"
            )
            reader.position += byte_width
            values.extend([value] * min(repeat, count - len(values)))  # a run may claim more
    if len(values) < count:
        raise Unsupported("definition levels or indices end early")
    return values[:count]


def _unpacked(data, position: int, groups: int, bit_width: int) -> list[int]:
    """The 8 * `groups` values of a bit-packed run at `position`, `bit_width` bits each, least
    significant bit first (numpy unpacks the bits and weighs each value's)."""
    if bit_width == 0:
        return [0] * (8 * groups)
    packed = np.frombuffer(data, np.uint8, groups * bit_width, position)
    bits = np.unpackbits(packed, bitorder="little")
    if bit_width == 1:
        return bits.tolist()
    weights = np.left_shift(1, np.arange(bit_width, dtype=np.int64))
    return (bits.reshape(-1, bit_width).astype(np.int64) @ weights).tolist()


def _plain_values(data, position: int, indices: list[int], physical_type: str) -> list:
    """The PLAIN values at `indices` (ascending) of a page body starting at `position`."""
    fixed = _FIXED_WIDTH.get(physical_type)
    if fixed is not None:
        if position + (indices[-1] + 1) * fixed.size > len(data):
            raise Unsupported("value runs past the page")
        return [fixed.unpack_from(data, position + index * fixed.size)[0] for index in indices]
    found, current = [], 0
    for index in indices:
        while current < index:
            (size,) = struct.unpack_from("<i", data, position)
            position += 4 + size
            current += 1
        (size,) = struct.unpack_from("<i", data, position)
        if position + 4 + size > len(data):
            raise Unsupported("value runs past the page")
        found.append(bytes(data[position + 4 : position + 4 + size]))
    return found


def read_value(source: pa.NativeFile, span: PageSpan, column: ColumnInfo) -> bytes | int | None:
    """The value at `span` (None if null), reading only its page (and dictionary page).

    ``BYTE_ARRAY`` values come back as bytes, ``INT32``/``INT64`` as int.
    """
    return read_values(source, span, column, [span.index_in_page])[span.index_in_page]


def read_pages(
    source: pa.NativeFile | SharedFile, wanted: list[tuple[PageSpan, ColumnInfo, list[int]]]
) -> list[dict[int, bytes | int | None]]:
    """`read_values` of several pages; a shared remote file's pages are fetched concurrently."""
    if isinstance(source, SharedFile) and len(wanted) > 1:
        raws = fetch_pages(source, [(span.offset, span.length) for span, _, _ in wanted])
        return [
            read_values(source, span, column, rows, raw)
            for (span, column, rows), raw in zip(wanted, raws, strict=True)
        ]
    return [read_values(source, span, column, rows) for span, column, rows in wanted]


def read_values(
    source: pa.NativeFile | SharedFile,
    span: PageSpan,
    column: ColumnInfo,
    rows: Iterable[int],
    raw: memoryview | None = None,
) -> dict[int, bytes | int | None]:
    """The values of several rows of the page at `span` (row in page -> value, None if null),
    reading the page (unless its bytes are given as `raw`) and its dictionary page once.

    Bytes that do not decode as the index said (a file rewritten in place keeping its size and
    modification time) raise `Unsupported`, whatever the parser tripped on.
    """
    try:
        return _read_values(source, span, column, rows, raw)
    except (EOFError, KeyError, TypeError, ValueError, IndexError, struct.error) as error:
        raise Unsupported(f"the page at {span.offset} does not decode ({error!r})") from None


def _read_values(source, span: PageSpan, column: ColumnInfo, rows: Iterable[int], raw=None):
    if column.physical_type not in PHYSICAL_TYPES:
        raise Unsupported(f"physical type {column.physical_type}")
    rows = sorted(set(rows))
    if raw is None:
        raw = read_span(source, span.offset, span.length)
    elif len(raw) != span.length:
        raise Unsupported(f"the file ends before the page at {span.offset}")
    header = parse_page_header(raw)
    if header.header_size + header.compressed_page_size != span.length:
        raise Unsupported("the page is not where the index says")
    if rows[-1] >= (header.num_rows or header.num_values):
        raise Unsupported("the row is past the end of the page")
    body = raw[header.header_size :]
    max_level = column.max_definition_level
    if header.type == DATA_PAGE_V2:
        levels_size = header.definition_levels_byte_length + header.repetition_levels_byte_length
        if header.repetition_levels_byte_length:
            raise Unsupported("repeated columns")
        levels, level_end = body, header.definition_levels_byte_length
        values_data = body[levels_size:]
        if header.is_compressed:
            values_data = _decompress(
                values_data, column.codec, header.uncompressed_page_size - levels_size
            )
        level_start, values_start = 0, 0
    elif header.type == DATA_PAGE:
        page = _decompress(body, column.codec, header.uncompressed_page_size)
        levels, level_start = page, 4
        level_end = 4 + struct.unpack_from("<i", page, 0)[0] if max_level else 0
        values_data, values_start = page, level_end
    else:
        raise Unsupported(f"page type {header.type}")
    # a row's place among the page's non-null values
    value_index: dict[int, int | None] = {row: row for row in rows}
    if max_level:
        width = max_level.bit_length()
        defined = decode_hybrid(levels, level_start, level_end, width, rows[-1] + 1)
        before, counted = 0, 0
        for row in rows:
            before += defined[counted:row].count(max_level)
            counted = row
            value_index[row] = before if defined[row] == max_level else None
    present = [row for row in rows if value_index[row] is not None]
    found: dict[int, bytes | int | None] = dict.fromkeys(rows)
    if not present:
        return found
    wanted = [index for row in present if (index := value_index[row]) is not None]
    if header.encoding == PLAIN:
        values = _plain_values(values_data, values_start, wanted, column.physical_type)
    elif header.encoding in (PLAIN_DICTIONARY, RLE_DICTIONARY):
        bit_width = values_data[values_start]
        entries = decode_hybrid(
            values_data, values_start + 1, len(values_data), bit_width, wanted[-1] + 1
        )
        values = _dictionary_values(source, span, column, [entries[index] for index in wanted])
    else:
        raise Unsupported(f"encoding {header.encoding}")
    found.update(zip(present, values, strict=True))
    return found


def _dictionary_values(
    source: pa.NativeFile, span: PageSpan, column: ColumnInfo, entries: list[int]
) -> list[bytes | int]:
    if span.dictionary_offset < 0:
        raise Unsupported("dictionary-encoded page without a dictionary page")
    raw = read_span(source, span.dictionary_offset, span.dictionary_length)
    header = parse_page_header(raw)
    if header.type != DICTIONARY_PAGE or max(entries) >= header.num_values:
        raise Unsupported("bad dictionary page")
    page = _decompress(raw[header.header_size :], column.codec, header.uncompressed_page_size)
    order = sorted(set(entries))
    values = dict(zip(order, _plain_values(page, 0, order, column.physical_type), strict=True))
    return [values[entry] for entry in entries]
