"""Thrift's compact protocol, read-only: what Parquet's page headers are written in."""

from __future__ import annotations

from typing import Any


class CompactReader:
    """Just enough of Thrift's compact protocol to read Parquet page headers."""

    def __init__(self, data: bytes | memoryview, position: int = 0) -> None:
        self.data = data
        self.position = position

    def byte(self) -> int:
        if self.position >= len(self.data):
            raise EOFError
        value = self.data[self.position]
        self.position += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def struct(self) -> dict[int, Any]:
        """Fields of a struct by id: ints, bools, nested structs; other values are skipped."""
        fields: dict[int, Any] = {}
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind)

    def value(self, kind: int) -> object:
        if kind in (1, 2):
            return kind == 1
        if kind == 3:
            return self.byte()
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            self.position += 8
            return None
        if kind == 8:
            size = self.varint()
            self.position += size
            return None
        if kind in (9, 10):
            header = self.byte()
            size = header >> 4 if header >> 4 != 15 else self.varint()
            return [self.value(header & 0x0F) for _ in range(size)]
        if kind == 11:
            size = self.varint()
            kinds = self.byte() if size else 0
            return [(self.value(kinds >> 4), self.value(kinds & 0x0F)) for _ in range(size)]
        if kind == 12:
            return self.struct()
        raise ValueError(f"unknown Thrift compact type {kind}")
