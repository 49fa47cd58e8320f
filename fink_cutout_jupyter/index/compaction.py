"""Compaction: the waiting deltas merged into a new base generation, bucket by bucket.

A base holds every night no delta holds, hash-bucketed by key (`entries.bucket_of_keys`) into
buckets of about `TARGET_BUCKET_ROWS` entries; the number of buckets doubles as the lake grows,
an old bucket ``b`` splitting into ``b`` and ``b + B``, so that the base and the deltas
(bucketed or not) are read a bucket at a time (`buckets.merged_buckets`). The new generation
is written under new names and published with `publish_base` (also how `spark` publishes the
base its executors wrote).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter.errors import NotFound
from fink_cutout_jupyter.index.buckets import (
    BucketSource,
    delta_entries,
    file_source,
    merged_buckets,
)
from fink_cutout_jupyter.index.entries import TABLES, bucket_of_keys
from fink_cutout_jupyter.index.files import index_file_bytes, index_file_rows
from fink_cutout_jupyter.index.layout import (
    archived,
    base_file,
    base_sizes_file,
    check_format,
    delta_files,
    delta_paths,
    owners,
    read_base_sizes,
)
from fink_cutout_jupyter.index.parts import hidden
from fink_cutout_jupyter.index.writes import write_new, writing

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.index.lookup import AlertIndex

TARGET_BUCKET_ROWS = 200_000


def bucket_count(entries: int, at_least: int = 1) -> int:
    """Buckets for a base of `entries`: doubled from `at_least` to ≤ `TARGET_BUCKET_ROWS` each."""
    buckets = at_least
    while entries / buckets > TARGET_BUCKET_ROWS:
        buckets *= 2
    return buckets


def by_bucket(table: pa.Table, key: str, buckets: int):
    """A function giving the rows of `table` whose key falls in a bucket (one sort, then slices)."""
    of_rows = bucket_of_keys(table.column(key), buckets)
    order = np.argsort(of_rows, kind="stable")
    grouped = table.take(order)
    bounds = np.searchsorted(of_rows[order], np.arange(buckets + 1))
    return lambda bucket: grouped.slice(bounds[bucket], bounds[bucket + 1] - bounds[bucket])


def to_compact(index: AlertIndex) -> tuple[dict, dict[str, list[int]]]:
    """The layout, and the nights each waiting delta holds entries of (by each of its alerts
    files: one, or one per bucket holding entries)."""
    with writing(index) as session:
        layout = session.working()
    if layout is None:
        raise NotFound("the index is empty: nothing to compact")
    check_format(layout)
    owner, hide = owners(layout), archived(layout)
    waiting = {}
    for delta in layout["deltas"]:
        own = [n for n in delta["nights"] if owner[n] == delta["order"] and not hidden(n, hide)]
        if own:
            for path, size in delta_files(delta, "alerts"):
                if size:
                    waiting[path] = own
    return layout, waiting


def compact(index: AlertIndex, progress: bool = True, wait: float = 0.0) -> dict:
    """Merge the deltas into a new base generation, bucket by bucket.

    The number of buckets grows (doubling) so that a bucket holds about `TARGET_BUCKET_ROWS`
    entries; an old bucket ``b`` splits into ``b`` and ``b + B``: one bucket of the old base
    and of each delta is in memory at a time (`merged_buckets`). It holds the writer lock
    (waiting up to `wait` seconds for a build that holds it).
    """
    with writing(index, "index compact", wait):
        return _compact(index, progress)


def _compact(index: AlertIndex, progress: bool) -> dict:
    from tqdm.auto import tqdm

    layout, waiting = to_compact(index)
    old_generation, old_buckets = layout["generation"], layout["buckets"]
    if not waiting:
        return {"generation": old_generation, "buckets": old_buckets, "merged_nights": 0}
    store, owner, hide = index.store, owners(layout), archived(layout)
    sources: dict[str, list[BucketSource]] = {table: [] for table in TABLES}
    rows = 0
    for delta in layout["deltas"]:
        own = [n for n in delta["nights"] if owner[n] == delta["order"] and not hidden(n, hide)]
        if own:
            for table in TABLES:
                sources[table].append(file_source(store, delta_files(delta, table), keep=own))
            rows += delta_entries(store, delta)
    if old_generation is not None:
        base_sizes = read_base_sizes(store, old_generation, old_buckets)
        for table in TABLES:
            files = [
                (base_file(old_generation, table, b), base_sizes[table][b])
                for b in range(old_buckets)
            ]
            sources[table].append(file_source(store, files, drop=list(owner), hide=hide))
        base = range(old_buckets)  # counted by its objects table, as `spark` counts it
        rows += sum(index_file_rows(store, base_file(old_generation, "objects", b)) for b in base)
    buckets = bucket_count(rows, old_buckets)
    generation = index.writer.claim_generation()
    sizes: dict[str, list[int]] = {table: [0] * buckets for table in TABLES}
    with tqdm(total=2 * buckets, unit="bucket", desc="compacting", disable=not progress) as bar:
        for table, key in TABLES.items():
            for bucket, entries in merged_buckets(sources[table], key, buckets):
                data = index_file_bytes(entries, key)
                write_new(store, base_file(generation, table, bucket), data)
                sizes[table][bucket] = len(data)
                bar.update()
    publish_base(index, layout, generation, buckets, sizes)
    return {"generation": generation, "buckets": buckets, "merged_nights": len(owner)}


def publish_base(
    index: AlertIndex, layout: dict, generation: int, buckets: int, sizes: dict[str, list[int]]
) -> None:
    """Publish a written base generation in place of the old one and of every delta."""
    with writing(index) as session:
        write_new(index.store, base_sizes_file(generation), json.dumps(sizes).encode())
        old_generation = layout["generation"]
        garbage = [path for delta in layout["deltas"] for path in delta_paths(delta)]
        if old_generation is not None and old_generation != generation:
            garbage.append(f"base-{old_generation}")
        new = {**layout, "buckets": buckets, "generation": generation, "deltas": []}
        session.commit(new, garbage)
