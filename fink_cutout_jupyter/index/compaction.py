"""Compaction: the waiting deltas merged into a new base generation, bucket by bucket.

A base holds every night no delta holds, hash-bucketed by key (`entries.bucket_of_keys`) into
buckets of about `TARGET_BUCKET_ROWS` entries; the number of buckets doubles as the lake grows,
an old bucket ``b`` splitting into ``b`` and ``b + B``, so that only one old bucket and the
deltas are in memory at a time. The new generation is written under new names and published
with `publish_base` (also how `spark` publishes the base its executors wrote).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter.errors import NotFound
from fink_cutout_jupyter.index.entries import (
    TABLES,
    bucket_of_keys,
    entries_of_index_file,
    sort_entries,
    table_entries,
)
from fink_cutout_jupyter.index.files import index_file_bytes, index_file_rows
from fink_cutout_jupyter.index.layout import (
    archived,
    base_file,
    base_sizes_file,
    check_format,
    delta_file,
    owners,
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
    """The layout, and the nights each waiting delta holds entries of (by its alerts file)."""
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
            waiting[delta_file("alerts", delta["name"])] = own
    return layout, waiting


def compact(index: AlertIndex, progress: bool = True, wait: float = 0.0) -> dict:
    """Merge the deltas into a new base generation, bucket by bucket.

    The number of buckets grows (doubling) so that a bucket holds about `TARGET_BUCKET_ROWS`
    entries; an old bucket ``b`` splits into ``b`` and ``b + B``, so only one old bucket and
    the deltas are in memory at a time. It holds the writer lock (waiting up to `wait` seconds
    for a build that holds it).
    """
    with writing(index, "index compact", wait):
        return _compact(index, progress)


def _compact(index: AlertIndex, progress: bool) -> dict:
    import pyarrow as pa
    from tqdm.auto import tqdm

    layout, waiting = to_compact(index)
    old_generation, old_buckets = layout["generation"], layout["buckets"]
    if not waiting:
        return {"generation": old_generation, "buckets": old_buckets, "merged_nights": 0}
    owner = owners(layout)
    fresh_entries = pa.concat_tables(
        [entries_of_index_file(index.store, path, keep=nights) for path, nights in waiting.items()]
    )
    base_rows = 0
    if old_generation is not None:
        base_rows = sum(
            index_file_rows(index.store, base_file(old_generation, "objects", b))
            for b in range(old_buckets)
        )
    buckets = bucket_count(base_rows + fresh_entries.num_rows, old_buckets)
    generation = index.writer.claim_generation()
    sizes: dict[str, list[int]] = {table: [0] * buckets for table in TABLES}
    with tqdm(total=2 * old_buckets, unit="bucket", desc="compacting", disable=not progress) as bar:
        for table, key in TABLES.items():
            fresh = by_bucket(table_entries(fresh_entries, table), key, buckets)
            for old in range(old_buckets):
                base = None
                if old_generation is not None:
                    relative = base_file(old_generation, table, old)
                    kept = entries_of_index_file(
                        index.store, relative, drop=list(owner), hide=archived(layout)
                    )
                    base = by_bucket(kept, key, buckets)
                for new in range(old, buckets, old_buckets):
                    parts = [fresh(new)] + ([base(new)] if base is not None else [])
                    data = index_file_bytes(sort_entries(pa.concat_tables(parts), key), key)
                    write_new(index.store, base_file(generation, table, new), data)
                    sizes[table][new] = len(data)
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
        garbage = [delta_file(table, d["name"]) for d in layout["deltas"] for table in TABLES]
        if old_generation is not None and old_generation != generation:
            garbage.append(f"base-{old_generation}")
        new = {**layout, "buckets": buckets, "generation": generation, "deltas": []}
        session.commit(new, garbage)
