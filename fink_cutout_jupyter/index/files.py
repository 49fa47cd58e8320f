"""The alert index's files: Arrow IPC files of entries sorted by a key, read a batch at a time.

Each file holds its entries in record batches of `ROW_GROUP_ROWS` (LZ4-compressed buffers); its
schema metadata holds the entry count and each batch's key range, so a lookup opens the footer
once and decodes only the batches whose range holds the key. Not Parquet: a cold lookup decodes
one batch of all columns, and Parquet's fixed cost per column chunk (~10 µs) made that 2.5 times
slower at about the same size (0.42 against 0.14 ms for a 256-entry batch).

A file that cannot be read is damaged (`IndexDamaged`, 503 naming it) unless its filesystem is
down (`read_error`).
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from typing import TYPE_CHECKING

from fink_cutout_jupyter.errors import CutoutError, LakeUnavailable, NotFound
from fink_cutout_jupyter.index.layout import damaged
from fink_cutout_jupyter.storage.lake import Lake

if TYPE_CHECKING:
    import pyarrow as pa

ROW_GROUP_ROWS = 256
_KEY_RANGES, _ROWS = b"fink_cutouts.key_ranges", b"fink_cutouts.rows"


def index_file_bytes(table: pa.Table, key: str) -> bytes:
    """An index file: `table` (sorted by `key`) in LZ4 record batches, key ranges in metadata."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    batches = [b for b in table.combine_chunks().to_batches(ROW_GROUP_ROWS) if b.num_rows]
    ranges = [[batch.column(key)[0].as_py(), batch.column(key)[-1].as_py()] for batch in batches]
    schema = table.schema.with_metadata(
        {_KEY_RANGES: json.dumps(ranges), _ROWS: str(table.num_rows)}
    )
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, schema, options=ipc.IpcWriteOptions(compression="lz4")) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def read_index_table(store: Lake, relative: str) -> pa.Table:
    """All entries of one index file."""
    import pyarrow.ipc as ipc

    with store.open(relative) as source:
        return ipc.open_file(source).read_all().replace_schema_metadata(None)


def index_file_rows(store: Lake, relative: str) -> int:
    """How many entries one index file holds (from its footer)."""
    import pyarrow.ipc as ipc

    with store.open(relative) as source:
        return int(ipc.open_file(source).schema.metadata[_ROWS])


def read_error(store: Lake, relative: str, size: int | None, error: Exception) -> CutoutError:
    """What a failure to read the index file `relative` (of `size` bytes, as the layout says)
    means: `IndexDamaged` naming it, or an outage of the filesystem (`LakeUnavailable`)."""
    if isinstance(error, LakeUnavailable):
        return error
    if isinstance(error, NotFound):
        return damaged(relative, "missing, while layout.json names it")
    if isinstance(error, OSError):  # pyarrow reading an open file: damage or an outage
        try:
            actual = store.size(relative)
        except NotFound:
            return damaged(relative, "missing, while layout.json names it")
        except LakeUnavailable as outage:
            return outage
        if size is not None and actual != size:
            return damaged(relative, f"{actual} bytes where layout.json says {size}")
        return LakeUnavailable(
            f"the index's filesystem failed on {relative}: {store.scrub(str(error))}"
        )
    return damaged(relative, f"malformed: {store.scrub(str(error))}")


class SortedFile:
    """An index file of entries sorted by one key, with the key range of each record batch.

    Batches read once stay decoded with their keys in a small LRU (index files never change
    under a given name, size and modification time, so this cache never goes stale); a lookup
    turns only the entries it matches into Python values, a column's scalar at a time (18 µs
    an entry, where pyarrow's `to_pylist` of a one-row slice takes 72 and a whole batch of 256
    entries 300: a batch request's thousands of lookups and a fresh one alike).
    """

    def __init__(self, source, key: str, size: int | None = None, cached_groups: int = 64) -> None:
        import pyarrow.ipc as ipc

        self.source = source
        # A known size: no size query. One thread: a batch's ~40 small LZ4 buffers decode 6 times
        # faster than handed to pyarrow's pool (0.05 against 0.3 ms for 256 entries).
        options = ipc.IpcReadOptions(use_threads=False)
        self.reader = ipc.open_file(source, footer_offset=size, options=options)
        self.lock = threading.Lock()
        ranges = json.loads(self.reader.schema.metadata[_KEY_RANGES])
        self.groups = list(range(len(ranges)))
        self.mins = [low for low, _ in ranges]
        self.maxs = [high for _, high in ranges]
        self.key = key
        self.cached_groups = cached_groups
        self.reads = 0
        self._decoded: OrderedDict[int, tuple[list, list[tuple[str, pa.Array]]]] = OrderedDict()

    def rows_with(self, key: str | int) -> list[dict]:
        """Every entry whose key equals `key`."""
        first, last = bisect_left(self.maxs, key), bisect_right(self.mins, key)
        rows = []
        for group in self.groups[first:last]:
            keys, columns = self._group(group)
            for row in range(bisect_left(keys, key), bisect_right(keys, key)):
                rows.append({name: values[row].as_py() for name, values in columns})
        return rows

    def close(self) -> None:
        """Close the file (before its filesystem goes: HDFS logs files closed after it)."""
        with self.lock:
            self._decoded.clear()
            self.source.close()

    def forget_decoded(self) -> None:
        """Drop the decoded batches (the footer stays parsed)."""
        with self.lock:
            self._decoded.clear()

    def _group(self, group: int) -> tuple[list, list[tuple[str, pa.Array]]]:
        """A batch's sorted keys and its columns."""
        with self.lock:
            if group in self._decoded:
                self._decoded.move_to_end(group)
                return self._decoded[group]
            batch = self.reader.get_batch(group)
            self.reads += 1
            columns = list(zip(batch.schema.names, batch.columns, strict=True))
            decoded = (batch.column(self.key).to_pylist(), columns)
            self._decoded[group] = decoded
            while len(self._decoded) > self.cached_groups:
                self._decoded.popitem(last=False)
            return decoded
