"""The Spark door's executor side: ids located, shuffled by file and slab, read in chunks.

The located ids and the pages they name are checked against the locations themselves (each
page read once, plus the pages a chunk's cut shares); the shuffle against Spark's own view of
its tasks (local[2]).
"""

from __future__ import annotations

import pickle
import random

import pyarrow as pa

from fink_cutout_jupyter.doors.spark import output_schema
from fink_cutout_jupyter.doors.spark_tasks import (
    MAX_CHUNK,
    TASKS_PER_CORE,
    Where,
    locate,
    located_by_file,
    opened,
    read_chunks,
)
from fink_cutout_jupyter.surveys import KINDS


def test_reads_are_chunked_at_page_ends_and_each_page_read_about_once(demo, demo_stored):
    """The executors' reading step alone, on the located ids as Spark sorts them: Arrow batches
    of at most MAX_CHUNK rows, and the pages read: the distinct pages, plus one per chunk cut at
    most (a page shared by two chunks)."""
    where = Where(str(demo.root), "science", "online/science", "")
    ids = pa.record_batch({"id": pa.array([str(c) for c in demo_stored])})
    located = pa.Table.from_batches(list(locate(where, False, "Science", [ids])))
    ordered = located.sort_by([("hdfsPath", "ascending"), ("row", "ascending")])
    _, reader = opened(where)
    before = reader.pages_read
    columns = output_schema(KINDS, "FITS")
    batches = list(
        read_chunks(where, KINDS, "FITS", columns, ordered.to_batches(max_chunksize=100))
    )
    assert {tuple(b.schema.names) for b in batches} == {tuple(name for name, _ in columns)}
    assert sum(b.num_rows for b in batches) == len(demo_stored)
    assert max(b.num_rows for b in batches) <= MAX_CHUNK
    assert len(batches) > 1
    pages = set()
    for location in map(pickle.loads, located.column("location").to_pylist()):
        for name, (span, _) in location.page_spans.items():
            pages.add((location.path, name, span.offset))
    read = reader.pages_read - before
    assert len(pages) <= read <= len(pages) + len(batches) * (len(KINDS) + 1)


def test_located_ids_reach_the_readers_grouped_by_file_and_slab_and_sorted_by_row(
    spark, demo, demo_stored
):
    candids = list(demo_stored)
    random.Random(13).shuffle(candids)
    ids = spark.createDataFrame([(str(c),) for c in [*candids, 1]], "id string")
    where = Where(str(demo.root), "science", "online/science", "")
    grouped = located_by_file(spark, ids, where, False, "Science")
    tasks = grouped.rdd.mapPartitionsWithIndex(
        lambda task, rows: [(task, [(r.hdfsPath, r.rowGroup, r.slab, r.row) for r in rows])]
    ).collect()
    seen: dict[tuple, int] = {}
    busy = 0
    for task, rows in tasks:
        located = [row for row in rows if row[0] is not None]
        assert located == sorted(located), "sorted by file and row"
        for path, row_group, slab, _ in located:
            assert seen.setdefault((path, row_group, slab), task) == task, "one task a slab"
        busy += bool(located)
    assert sum(len(rows) for _, rows in tasks) == len(candids) + 1
    assert len(tasks) == spark.sparkContext.defaultParallelism * TASKS_PER_CORE
    assert busy > 1, "the files' slabs spread over several tasks"
