"""A column chunk's Parquet offset index: where each data page is, and its first row.

Writers of the page index (parquet-mr 1.11+, Spark 3+, Arrow with ``write_page_index``) store
for each column chunk an ``OffsetIndex``: per data page its ``offset``, ``compressed_page_size``
and ``first_row_index``; pages of a repeated column then start at row boundaries, so one row's
values of any leaf are in one page. Where the index is, ``ColumnChunk.offset_index_offset`` and
``offset_index_length``, is in the file's footer, which pyarrow does not show: the footer is read
here (Thrift compact, `thrift`), passing over everything but those fields of the wanted chunks.
"""

from __future__ import annotations

import bisect
import struct
from typing import TYPE_CHECKING, Any, NamedTuple

from fink_cutout_jupyter.parquet.thrift import CompactReader

if TYPE_CHECKING:
    import pyarrow as pa

MAGIC = b"PAR1"
# Field ids of parquet.thrift
_FILE_ROW_GROUPS, _ROW_GROUP_COLUMNS = 4, 1
_CHUNK_OFFSET_INDEX_OFFSET, _CHUNK_OFFSET_INDEX_LENGTH = 4, 5
_LIST, _STRUCT = 9, 12


class NoOffsetIndex(Exception):
    """The column chunk has no offset index (or the footer is not one this reader knows)."""


class PageLocation(NamedTuple):
    """One data page of a column chunk, as its offset index says."""

    offset: int
    compressed_page_size: int
    first_row_index: int


def read_footer(source: pa.NativeFile) -> bytes:
    """The file's Thrift ``FileMetaData`` bytes (`NoOffsetIndex` if the file does not end as
    Parquet does, or is encrypted)."""
    size = source.size()
    if size < 12:
        raise NoOffsetIndex("too short for a Parquet file")
    tail = source.read_at(8, size - 8)
    (length,) = struct.unpack("<i", tail[:4])
    if tail[4:] != MAGIC or not 0 < length <= size - 12:
        raise NoOffsetIndex("not a plain Parquet footer")
    return source.read_at(length, size - 8 - length)


def offset_index_spans(
    footer: bytes | memoryview, row_group: int, columns: list[int]
) -> dict[int, tuple[int, int]]:
    """Where the offset index of each wanted column chunk of a row group is: column (its index
    in the row group) -> (offset, length). A chunk without one is not in the answer.

    Raises
    ------
    NoOffsetIndex
        The row group is not in the footer, or the footer does not parse.
    """
    reader = CompactReader(footer)
    try:
        for field, kind in reader.fields():
            if field == _FILE_ROW_GROUPS and kind == _LIST:
                return _row_group_spans(reader, row_group, set(columns))
            reader.skip(kind)
    except (EOFError, IndexError, ValueError) as error:
        raise NoOffsetIndex(f"the footer does not parse ({error!r})") from None
    raise NoOffsetIndex("the footer lists no row groups")


def _row_group_spans(
    reader: CompactReader, row_group: int, columns: set[int]
) -> dict[int, tuple[int, int]]:
    count, _ = reader.list_header()
    if not 0 <= row_group < count:
        raise NoOffsetIndex(f"no row group {row_group} (the footer lists {count})")
    for _ in range(row_group):
        reader.skip(_STRUCT)
    for field, kind in reader.fields():
        if field != _ROW_GROUP_COLUMNS or kind != _LIST:
            reader.skip(kind)
            continue
        chunks, _ = reader.list_header()
        spans = {}
        for column in range(chunks):
            if column not in columns:
                reader.skip(_STRUCT)
                continue
            chunk: dict[int, Any] = {}
            for chunk_field, chunk_kind in reader.fields():
                if chunk_field in (_CHUNK_OFFSET_INDEX_OFFSET, _CHUNK_OFFSET_INDEX_LENGTH):
                    chunk[chunk_field] = reader.value(chunk_kind)
                else:
                    reader.skip(chunk_kind)
            if _CHUNK_OFFSET_INDEX_OFFSET in chunk and _CHUNK_OFFSET_INDEX_LENGTH in chunk:
                spans[column] = (
                    chunk[_CHUNK_OFFSET_INDEX_OFFSET],
                    chunk[_CHUNK_OFFSET_INDEX_LENGTH],
                )
            if len(spans) == len(columns) or column >= max(columns):
                return spans
        return spans
    raise NoOffsetIndex(f"row group {row_group} lists no columns")


def parse_offset_index(data: bytes | memoryview) -> list[PageLocation]:
    """The page locations of a Thrift ``OffsetIndex``, in page order.

    Raises
    ------
    NoOffsetIndex
        The bytes are not an offset index (cut short, or pages out of order).
    """
    try:
        fields = CompactReader(data).struct()
        pages = [PageLocation(page[1], page[2], page[3]) for page in fields[1]]
    except (EOFError, IndexError, KeyError, TypeError, ValueError) as error:
        raise NoOffsetIndex(f"not an offset index ({error!r})") from None
    rows = [page.first_row_index for page in pages]
    if not pages or rows[0] != 0 or rows != sorted(rows):
        raise NoOffsetIndex("the offset index's pages are not in row order from row 0")
    return pages


def page_of_row(pages: list[PageLocation], row: int, rows: int) -> tuple[PageLocation, int, int]:
    """The page holding `row` of a column chunk of `rows` rows: (page, its first row, its row
    count)."""
    if not 0 <= row < rows:
        raise IndexError(f"row {row} of a {rows}-row column chunk")
    first = [page.first_row_index for page in pages]
    index = bisect.bisect_right(first, row) - 1
    end = first[index + 1] if index + 1 < len(pages) else rows
    return pages[index], first[index], end - first[index]
