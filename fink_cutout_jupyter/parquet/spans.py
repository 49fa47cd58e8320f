"""Where a value lives in a Parquet file (`PageSpan`, `ColumnInfo`), as the index stores it.

Found at index time by the page reader (`pages.page_map`, `pages.spans_of_rows`), packed into one
fixed-layout binary value per alert (`pack_spans`), and unpacked at lookup time (`unpack_spans`)
for the page reader to read only those pages. The index needs this format, not the decoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PHYSICAL_TYPES = ("BYTE_ARRAY", "INT32", "INT64")


@dataclass(frozen=True)
class PageSpan:
    """Where one value lives: its data page, the column's dictionary page, its place in the page."""

    offset: int
    length: int
    index_in_page: int
    dictionary_offset: int = -1
    dictionary_length: int = 0


@dataclass(frozen=True)
class ColumnInfo:
    """What decoding needs to know of a column chunk, from the footer."""

    codec: str
    max_definition_level: int
    physical_type: str = "BYTE_ARRAY"


# Numbered as Parquet's CompressionCodec enum (parquet.thrift), so the bytes keep their meaning.
_CODEC_NUMBERS = ("UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW")
_PACKED_SPAN = struct.Struct("<qqiqqBBB")


def pack_spans(spans: list[tuple[PageSpan, ColumnInfo]]) -> bytes:
    """Spans with their columns as bytes: per span, little-endian ``offset`` (int64),
    ``length`` (int64), ``index_in_page`` (int32), ``dictionary_offset`` (int64),
    ``dictionary_length`` (int64), then codec, max definition level and physical type (uint8,
    as numbered in `_CODEC_NUMBERS` and `PHYSICAL_TYPES`): 39 bytes each.

    Raises
    ------
    ValueError
        A codec or physical type outside those numbers, naming it.
    """
    for _, column in spans:
        if column.codec not in _CODEC_NUMBERS or column.physical_type not in PHYSICAL_TYPES:
            raise ValueError(f"no span format for {column.codec} {column.physical_type} columns")
    return b"".join(
        _PACKED_SPAN.pack(
            span.offset,
            span.length,
            span.index_in_page,
            span.dictionary_offset,
            span.dictionary_length,
            _CODEC_NUMBERS.index(column.codec),
            column.max_definition_level,
            PHYSICAL_TYPES.index(column.physical_type),
        )
        for span, column in spans
    )


def unpack_spans(packed: bytes) -> list[tuple[PageSpan, ColumnInfo]]:
    """The spans `pack_spans` wrote, in order."""
    spans = []
    for fields in _PACKED_SPAN.iter_unpack(packed):
        *where, codec, level, physical = fields
        column = ColumnInfo(_CODEC_NUMBERS[codec], level, PHYSICAL_TYPES[physical])
        spans.append((PageSpan(*where), column))
    return spans
