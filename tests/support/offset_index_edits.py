"""Offset indexes that do not tell the truth: a Parquet file's column chunk offset index
rewritten in place, byte for byte the same length (the footer still points at it), as a
corrupted byte or a buggy writer would leave it. Encoded with the Thrift compact protocol as
parquet.thrift's ``OffsetIndex`` says (field 1: list of ``PageLocation``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from fink_cutout_jupyter.parquet.offset_index import (
    PageLocation,
    offset_index_spans,
    parse_offset_index,
    read_footer,
)


def offset_index(path: Path, column: int, row_group: int = 0) -> list[PageLocation]:
    """The column chunk's page locations as stored."""
    with pa.OSFile(str(path)) as source:
        offset, length = offset_index_spans(read_footer(source), row_group, [column])[column]
        return parse_offset_index(source.read_at(length, offset))


def rewrite_offset_index(
    path: Path, column: int, pages: list[PageLocation], row_group: int = 0
) -> None:
    """Store `pages` as the column chunk's offset index (the same length as the stored one)."""
    with pa.OSFile(str(path)) as source:
        offset, length = offset_index_spans(read_footer(source), row_group, [column])[column]
        stored = bytes(source.read_at(length, offset))
    old = _page_list(parse_offset_index(stored))
    assert stored.startswith(old), "the stored offset index is not encoded as expected"
    new = _page_list(pages) + stored[len(old) :]
    assert len(new) == len(stored), "choose values whose varints keep the length"
    data = bytearray(path.read_bytes())
    data[offset : offset + length] = new
    path.write_bytes(bytes(data))


def _page_list(pages: list[PageLocation]) -> bytes:
    """Field 1 of ``OffsetIndex``: its header and the list of ``PageLocation`` structs."""
    size = len(pages)
    head = bytes([(size << 4) | 12]) if size < 15 else b"\xfc" + _varint(size)
    body = b"".join(
        b"\x16"
        + _varint(_zigzag(page.offset))
        + b"\x15"
        + _varint(_zigzag(page.compressed_page_size))
        + b"\x16"
        + _varint(_zigzag(page.first_row_index))
        + b"\x00"
        for page in pages
    )
    return b"\x19" + head + body


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
