"""One row's values of a few leaf columns, read through the file's offset index: for each leaf,
its offset index, then the one data page holding the row (and the dictionary page).

An alert's history is a few leaves of lists holding hundreds of entries per alert: pyarrow
reads a row group's whole column chunks (every alert's history) to give one row, this reads a
page per leaf. The offset indexes' locations (from the footer) and the offset indexes are kept
per file (`OffsetIndexCache`), so a file's next row costs the pages alone.
Files without an offset index raise `NoOffsetIndex`, pages this reader does not decode
`Unsupported`: callers then read with pyarrow.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.parquet.offset_index import (
    NoOffsetIndex,
    PageLocation,
    offset_index_spans,
    page_of_row,
    parse_offset_index,
    read_footer,
)
from fink_cutout_jupyter.parquet.pages import Unsupported
from fink_cutout_jupyter.parquet.repeated_pages import LeafColumn, row_of_page

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["NoOffsetIndex", "OffsetIndexCache", "Unsupported", "leaf_column", "read_row"]


class OffsetIndexCache:
    """The offset indexes of recently read files' column chunks, by file key (a path and the
    file's size: a rewritten file is another key, and its pages are checked as read)."""

    def __init__(self, files: int = 64) -> None:
        self.files = files
        self._entries: OrderedDict[tuple[Any, int], dict[int, list[PageLocation]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, row_group: int) -> dict[int, list[PageLocation]]:
        """The known offset indexes of a row group, column -> pages (a copy)."""
        with self._lock:
            found = self._entries.get((key, row_group))
            if found is None:
                return {}
            self._entries.move_to_end((key, row_group))
            return dict(found)

    def add(self, key: Any, row_group: int, pages: dict[int, list[PageLocation]]) -> None:
        """Remember these columns' offset indexes too."""
        with self._lock:
            self._entries.setdefault((key, row_group), {}).update(pages)
            self._entries.move_to_end((key, row_group))
            while len(self._entries) > self.files:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


OFFSET_INDEXES = OffsetIndexCache()


def read_row(
    source: pa.NativeFile,
    parquet: pq.ParquetFile,
    row_group: int,
    row: int,
    paths: list[str],
    key: Any = None,
    cache: OffsetIndexCache | None = OFFSET_INDEXES,
) -> dict[str, Any]:
    """The values of `row` of `row_group` in the leaf columns `paths` (dotted leaf paths, as
    pyarrow names them): a list (or None) for a leaf under one list, a value (or None) for a
    flat leaf. `key` names the file in `cache` (None: not cached).

    Raises
    ------
    NoOffsetIndex
        A column chunk without an offset index.
    Unsupported
        A page this reader does not decode (another type, encoding, nesting, or bytes that are
        not what the footer and the offset index say).
    KeyError
        A path the file does not have.
    """
    schema = parquet.schema
    index_of = {schema.column(i).path: i for i in range(len(schema))}
    columns = [index_of[path] for path in paths]
    group = parquet.metadata.row_group(row_group)
    known = cache.get(key, row_group) if cache is not None and key is not None else {}
    missing = [column for column in columns if column not in known]
    if missing:
        found = _offset_indexes(source, row_group, missing)
        if cache is not None and key is not None:
            cache.add(key, row_group, found)
        known.update(found)
    values = {}
    for path, column in zip(paths, columns, strict=True):
        pages = known[column]
        page, first, rows = page_of_row(pages, row, group.num_rows)
        chunk = group.column(column)
        leaf = leaf_column(parquet, column, chunk.compression)
        start, end = _chunk_span(chunk)
        _check_inside(page, chunk.data_page_offset, end, path)
        data = _read(source, page.offset, page.compressed_page_size)
        dictionary = None
        if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
            _check_inside(pages[0], chunk.data_page_offset, end, path)
            dictionary = _read(source, start, pages[0].offset - start)
        values[path] = row_of_page(data, dictionary, leaf, row - first, rows)
    return values


def _chunk_span(chunk: pq.ColumnChunkMetaData) -> tuple[int, int]:
    """Where a column chunk's pages are in the file, as the footer says: [start, end)."""
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
        start = min(start, chunk.dictionary_page_offset)
    return start, start + chunk.total_compressed_size


def _check_inside(page: PageLocation, start: int, end: int, path: str) -> None:
    """`Unsupported` unless the page lies in [start, end): an offset index pointing elsewhere
    (another column's pages) is not this column's."""
    if not start <= page.offset < page.offset + page.compressed_page_size <= end:
        raise Unsupported(
            f"{path}: the offset index places a page at {page.offset} "
            f"(+{page.compressed_page_size}), outside its column chunk [{start}, {end})"
        )


def _offset_indexes(
    source: pa.NativeFile, row_group: int, columns: list[int]
) -> dict[int, list[PageLocation]]:
    spans = offset_index_spans(read_footer(source), row_group, columns)
    lacking = [column for column in columns if column not in spans]
    if lacking:
        raise NoOffsetIndex(f"column {lacking[0]} of row group {row_group} has no offset index")
    low = min(offset for offset, _ in spans.values())
    high = max(offset + length for offset, length in spans.values())
    if high - low <= 1 << 20:  # usually together before the footer: one read
        block = _read(source, low, high - low)
        return {
            column: parse_offset_index(block[offset - low : offset - low + length])
            for column, (offset, length) in spans.items()
        }
    return {
        column: parse_offset_index(_read(source, offset, length))
        for column, (offset, length) in spans.items()
    }


def _read(source: pa.NativeFile, offset: int, length: int) -> memoryview:
    if offset < 0 or length <= 0:
        raise Unsupported(f"no bytes at {offset} (+{length})")
    data = memoryview(source.read_at(length, offset))
    if len(data) != length:
        raise Unsupported(f"the file ends before {offset + length}")
    return data


# Logical types whose values are the physical ones as they are: text, and signed integers
# (an unsigned one, a timestamp, a date or a decimal is not: pyarrow reads those)
_AS_STORED = {"NONE", "STRING", "INT"}
_CONVERTED_AS_STORED = {"NONE", "UTF8", "INT_8", "INT_16", "INT_32", "INT_64"}


def leaf_column(parquet: pq.ParquetFile, column: int, codec: str) -> LeafColumn:
    """How to decode the leaf `column` (its index in the schema) of a file.

    Raises
    ------
    Unsupported
        A logical type whose values are not the stored ones as they are (anything but none,
        ``String`` and signed ``Int``).
    """
    described = parquet.schema.column(column)
    logical = described.logical_type
    if (
        logical.type not in _AS_STORED
        or described.converted_type not in _CONVERTED_AS_STORED
        or "isSigned=false" in str(logical)
    ):
        raise Unsupported(f"{described.path}: logical type {logical}, {described.converted_type}")
    text = logical.type == "STRING" or described.converted_type == "UTF8"
    entry_level = 0
    if described.max_repetition_level:
        entry_level = _entry_level(parquet.schema_arrow, described.path.split("."))
    return LeafColumn(
        codec,
        described.physical_type,
        described.max_definition_level,
        described.max_repetition_level,
        entry_level,
        text,
    )


def _entry_level(schema: pa.Schema, names: list[str]) -> int:
    """The definition level at which a leaf's list holds an entry: one per optional field down
    to the list, and one for its repeated group."""
    import pyarrow as pa

    field = schema.field(names[0])
    level = int(field.nullable)
    for name in names[1:]:
        kind = field.type
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return level + 1
        if not pa.types.is_struct(kind):
            break
        field = kind.field(name)
        level += int(field.nullable)
    raise Unsupported(f"no list on the path {'.'.join(names)}")
