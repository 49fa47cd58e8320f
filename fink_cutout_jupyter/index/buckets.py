"""Hash-bucketed inputs merged into hash-bucketed outputs, one bucket in memory at a time.

Every bucketed thing of the index (a base generation, a bucketed delta, a night's spill files)
puts an entry of key ``k`` in bucket ``bucket_of(k, B)`` of ``B`` buckets, ``B`` a power of two:
bucket ``b`` of ``B`` is the union of buckets ``b`` and ``b + B`` of ``2B``. So inputs of any
bucket counts merge into an output of any bucket count through their common refinement ``M``
(the largest count): each fine bucket ``g`` of ``M`` comes from bucket ``g % B`` of each input
and goes to bucket ``g % B_out`` of the output. `merged_buckets` walks the fine buckets in
bit-reversed order, in which ``g % B`` stays the same for runs of ``M / B`` steps whatever the
power of two ``B``: each input's bucket is read once, and each output bucket is finished
before the next starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter.index.entries import (
    bucket_of_keys,
    entries_of_index_file,
    entry_schema,
    sort_entries,
)
from fink_cutout_jupyter.index.files import index_file_rows
from fink_cutout_jupyter.index.layout import delta_files

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.storage.lake import Lake

# A delta holding more entries is hash-bucketed: a fresh lookup reads one bucket's footer (its
# key ranges: ~ 40 bytes a batch of 256 entries with Rubin's 18-digit ids), not the night's.
DELTA_BUCKET_ROWS = 131_072


def delta_bucket_count(entries: int) -> int:
    """Buckets for a delta of `entries`: doubled from 1 until each holds ≤ `DELTA_BUCKET_ROWS`."""
    buckets = 1
    while entries / buckets > DELTA_BUCKET_ROWS:
        buckets *= 2
    return buckets


def delta_entries(store: Lake, delta: dict) -> int:
    """How many alerts a delta (of the layout) holds: its ``"entries"``, or for a delta written
    before they were recorded, its alerts files' footers."""
    if "entries" in delta:
        return delta["entries"]
    files = delta_files(delta, "alerts")
    return sum(index_file_rows(store, path) for path, size in files if size)


@dataclass
class BucketSource:
    """One bucketed input of a table's rows: `read(b)` gives bucket `b` of `buckets` (rows of
    `entry_schema`, keyed for the table)."""

    buckets: int
    read: Callable[[int], pa.Table]


def table_source(rows: pa.Table) -> BucketSource:
    """Rows held in memory, as one bucket."""
    return BucketSource(1, lambda _: rows)


def file_source(
    store: Lake,
    files: list[tuple[str, int]],
    keep: list[int] | None = None,
    drop: list[int] | None = None,
    hide=(),
) -> BucketSource:
    """Index files, one per bucket (``(path, size)``; size 0: no file, no entries), read with
    `entries_of_index_file`'s `keep`, `drop` and `hide`."""

    def read(bucket: int) -> pa.Table:
        relative, size = files[bucket]
        if not size:
            return entry_schema().empty_table()
        return entries_of_index_file(store, relative, keep=keep, drop=drop, hide=hide)

    return BucketSource(len(files), read)


@dataclass
class _Loaded:
    """An input's bucket read, grouped by fine bucket."""

    bucket: int = -1
    rows: pa.Table | None = None
    bounds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def fine(self, bucket: int) -> pa.Table:
        assert self.rows is not None
        start, stop = int(self.bounds[bucket]), int(self.bounds[bucket + 1])
        return self.rows.slice(start, stop - start)


def merged_buckets(
    sources: list[BucketSource], key: str, buckets: int
) -> Iterator[tuple[int, pa.Table]]:
    """Each bucket of `buckets` (a power of two) with its rows from every source, sorted
    (`sort_entries` by `key`), one at a time, each exactly once (in bit-reversed order)."""
    import pyarrow as pa

    fine = max([buckets, *(source.buckets for source in sources)])
    bits = fine.bit_length() - 1
    loaded = [_Loaded() for _ in sources]
    schema = entry_schema()
    current = -1
    parts: list[pa.Table] = []
    for step in range(fine):
        bucket = int(f"{step:0{bits}b}"[::-1], 2) if bits else 0
        out = bucket % buckets
        if out != current and current >= 0:
            yield current, sort_entries(pa.concat_tables(parts or [schema.empty_table()]), key)
            parts = []
        current = out
        for source, held in zip(sources, loaded, strict=True):
            wanted = bucket % source.buckets
            if held.bucket != wanted:
                held.rows = held.bounds = None  # type: ignore[assignment]  # freed first
                rows = source.read(wanted).select(schema.names).cast(schema).combine_chunks()
                held.bucket, held.rows, held.bounds = wanted, *_by_fine_bucket(rows, key, fine)
            piece = held.fine(bucket)
            if piece.num_rows:
                parts.append(piece)
    if current >= 0:
        yield current, sort_entries(pa.concat_tables(parts or [schema.empty_table()]), key)


def _by_fine_bucket(rows: pa.Table, key: str, fine: int) -> tuple[pa.Table, np.ndarray]:
    """`rows` grouped by bucket of `fine`, and where each bucket starts (and the last ends)."""
    if fine == 1:
        return rows, np.array([0, rows.num_rows])
    of_rows = bucket_of_keys(rows.column(key), fine)
    order = np.argsort(of_rows, kind="stable")
    return rows.take(order), np.searchsorted(of_rows[order], np.arange(fine + 1))
