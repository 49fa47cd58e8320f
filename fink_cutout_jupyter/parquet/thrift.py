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

    def fields(self):
        """The (field id, type) of each field of the struct at the position, one at a time: the
        caller reads each value (`value`, `list_header`) or passes over it (`skip`)."""
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self.zigzag()
            yield last, kind

    def list_header(self) -> tuple[int, int]:
        """The (size, element type) of the list at the position; its elements follow."""
        header = self.byte()
        size = header >> 4 if header >> 4 != 15 else self.varint()
        return size, header & 0x0F

    def skip(self, kind: int) -> None:
        """Pass over a value of type `kind` without building it (a footer's many column
        chunks are passed over this way to reach a few)."""
        try:
            self.position = _skip(self.data, self.position, kind)
        except IndexError:
            raise EOFError from None
        if self.position > len(self.data):
            raise EOFError


_STRUCT_REST = -1  # on `_skip`'s stack: the remaining fields of a struct


def _skip(data: bytes | memoryview, position: int, kind: int) -> int:
    """The position after the value of type `kind` at `position`."""
    pending: list[tuple[int, int]] = [(kind, 1)]  # (type, how many values of it) left
    while pending:
        kind, count = pending.pop()
        if kind == _STRUCT_REST or kind == 12:
            if kind == 12 and count > 1:
                pending.append((12, count - 1))
            header = data[position]
            position += 1
            if header:
                pending.append((_STRUCT_REST, 1))
                if not header >> 4:  # the field id follows as a zigzag varint
                    position = _past_varint(data, position)
                pending.append((header & 0x0F, 1))
            continue
        if count > 1:
            pending.append((kind, count - 1))
        if kind in (1, 2):  # a struct field's bool is in its header
            continue
        if kind == 3:
            position += 1
        elif kind in (4, 5, 6):
            position = _past_varint(data, position)
        elif kind == 7:
            position += 8
        elif kind == 8:
            size, position = varint_at(data, position)
            position += size
        elif kind in (9, 10):
            header = data[position]
            size, position = header >> 4, position + 1
            if size == 15:
                size, position = varint_at(data, position)
            if size:
                pending.append((_element_type(header & 0x0F), size))
        elif kind == 11:
            size, position = varint_at(data, position)
            if size:
                kinds = data[position]
                position += 1
                pair = [(_element_type(kinds & 0x0F), 1), (_element_type(kinds >> 4), 1)]
                pending.extend(pair * size)
        else:
            raise ValueError(f"unknown Thrift compact type {kind}")
    return position


def _element_type(kind: int) -> int:
    """A list's or map's element type as read: its booleans take a byte each."""
    return 3 if kind in (1, 2) else kind


def varint_at(data: bytes | memoryview, position: int) -> tuple[int, int]:
    """The unsigned LEB128 varint at `position` (Thrift's and Parquet's RLE run headers), and
    the position after it."""
    shift = result = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _past_varint(data: bytes | memoryview, position: int) -> int:
    """The position after the varint at `position`."""
    while data[position] & 0x80:
        position += 1
    return position + 1
