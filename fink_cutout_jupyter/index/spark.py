"""Building the alert index with Spark: the lake's files spread over executors.

Each executor runs the single-process build's own `entries_of_file` on its files (small columns
and page headers through ``pyarrow.fs``: HDFS, S3 and local lakes alike; no cutout bytes), and
the index files are written by the same functions, so the index is the same:

- nights (``build_with_spark(spark, lake, nights)``): files are indexed in waves of whole
  nights on the executors; the driver writes each night's delta and manifest (`write_night`);
- a whole lake (``base=True``): the entries go straight into a new base generation, shuffled
  by bucket, each bucket sorted and written by an executor; then the driver writes the
  manifests and publishes the generation in ``layout.json`` (readers use the old one until then);
- ``compact_with_spark`` merges the deltas into a new base generation the same way.

From Fink's nightly Spark job::

    from fink_cutout_jupyter.index.spark import build_with_spark
    from fink_cutout_jupyter.storage.lake import Lake

    fink = Lake("hdfs://namenode:8020/user/fink?user=fink", science_dir="archive/science")
    build_with_spark(spark, fink, ["20241121"])
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.index.build import IndexedFile, NightReport, Pending, entries_of_file
from fink_cutout_jupyter.index.compaction import bucket_count, by_bucket, publish_base, to_compact
from fink_cutout_jupyter.index.entries import (
    TABLES,
    entries_of_index_file,
    entry_schema,
    sort_entries,
    table_entries,
)
from fink_cutout_jupyter.index.files import index_file_bytes, index_file_rows
from fink_cutout_jupyter.index.layout import (
    READABLE_FORMATS,
    archived,
    base_file,
    owners,
)
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.manifests import write_manifest
from fink_cutout_jupyter.index.parts import archive_part
from fink_cutout_jupyter.index.writes import writing
from fink_cutout_jupyter.storage.lake import Lake, parse_night
from fink_cutout_jupyter.surveys import DEFAULT_SURVEY, survey_named

if TYPE_CHECKING:
    import pyarrow as pa

WAVE_FILES_PER_CORE = 16  # a wave of whole nights holds at least this many files per core
TASKS_PER_CORE = 4


@dataclass
class BuildSummary:
    """What a build did: its nights (files, alerts, bytes of the lake read) and its seconds."""

    nights: list[NightReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files(self) -> int:
        return sum(n.files for n in self.nights)

    @property
    def alerts(self) -> int:
        return sum(n.entries for n in self.nights)

    @property
    def bytes_read(self) -> int:
        return sum(n.bytes_read for n in self.nights)


def spark_session(master: str | None = None):
    """A SparkSession for the command line (``spark-submit``'s own settings apply)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BadParameter(
            "spark: pyspark is not installed: pip install 'fink-cutout-jupyter[spark]'"
        ) from None
    builder = SparkSession.builder.appName("fink-cutouts index")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if not os.environ.get("PYSPARK_PYTHON") and (master or "local").startswith("local"):
        # local workers run this interpreter (a virtual environment need not be activated);
        # pyspark reads it from the environment when the context starts
        os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (builder.master(master) if master else builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def build_with_spark(
    spark,
    lake: Lake | str,
    nights: list[dt.date | str] | None = None,
    index: str = "",
    base: bool = False,
    progress: bool = True,
    wait: float = 0.0,
    rebuild: bool = False,
) -> BuildSummary:
    """Index nights of the lake on a Spark cluster, as ``fink-cutouts index build`` would.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session (Fink's nightly job's own, or one from ``SparkSession.builder``).
    lake : Lake or str
        The lake root (a directory, ``hdfs://`` or ``s3://`` URI), or a `Lake` made from one.
    nights : list of date or "YYYYMMDD", optional
        Nights to index (re-indexing a night replaces it); default: every night of the lake.
    index : str
        Index root ("" for ``_cutout_index`` inside the lake).
    base : bool
        Write the nights into a new compacted base generation that replaces the whole index
        (the first build over a whole lake), instead of nightly deltas.
    progress : bool
        Show a progress bar of the files indexed.
    wait : float
        Seconds to wait for another writer holding the index's writer lock.
    rebuild : bool
        Write a whole new index (with `base`), even over an index that is damaged or of another
        format; the old one is deleted once the new one is published.

    Returns
    -------
    BuildSummary
    """
    started = time.perf_counter()
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    where = _Where(lake.uri, lake.science_dir, index)
    alert_index = where.index()
    chosen = sorted({parse_night(n) for n in nights}) if nights else lake.nights()
    jobs = [(night, path) for night in chosen for path in lake.night_files(night)]
    build = _build_base if base else _build_deltas
    command = "index build --spark" + (" (new base)" if base else "")
    with writing(alert_index, command, wait, rebuild):
        summary = BuildSummary(build(spark, where, alert_index, chosen, jobs, progress))
    summary.seconds = time.perf_counter() - started
    return summary


def compact_with_spark(spark, lake: Lake | str, index: str = "", wait: float = 0.0) -> dict:
    """Merge the deltas into a new base generation on the cluster (as `compact`), holding the
    index's writer lock (waiting up to `wait` seconds for it)."""
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    where = _Where(lake.uri, lake.science_dir, index)
    alert_index = where.index()
    with writing(alert_index, "index compact --spark", wait):
        return _compact_with_spark(spark, where, alert_index)


def _compact_with_spark(spark, where: _Where, alert_index: AlertIndex) -> dict:
    layout, waiting = to_compact(alert_index)
    old_generation, old_buckets = layout["generation"], layout["buckets"]
    if not waiting:
        return {"generation": old_generation, "buckets": old_buckets, "merged_nights": 0}
    owner, hide = owners(layout), sorted(archived(layout))
    # (file, keep, drop, hide)
    sources: list[tuple[str, list[int] | None, list[int] | None, list[int]]] = [
        (path, nights, None, []) for path, nights in waiting.items()
    ]
    rows = sum(index_file_rows(alert_index.store, path) for path, *_ in sources)
    if old_generation is not None:
        for table in TABLES:
            for bucket in range(old_buckets):
                sources.append((base_file(old_generation, table, bucket), None, list(owner), hide))
                if table == "objects":
                    rows += index_file_rows(alert_index.store, sources[-1][0])
    buckets = bucket_count(rows, old_buckets)
    generation = alert_index.writer.claim_generation()
    pieces = _spread(spark.sparkContext, sources).flatMap(
        # mypy counts *source (an RDD's Any) as every parameter
        lambda source: where.pieces_of_index_file(*source, buckets)  # type: ignore[call-arg]
    )
    sizes = _write_buckets(pieces, where, generation, buckets)
    publish_base(alert_index, layout, generation, buckets, sizes)
    return {"generation": generation, "buckets": buckets, "merged_nights": len(owner)}


@dataclass(frozen=True)
class _Where:
    """Where the lake and the index are: plain strings, so that executors get them pickled."""

    lake_uri: str
    science_dir: str
    index_root: str

    def index(self) -> AlertIndex:
        return AlertIndex(Lake(self.lake_uri, self.science_dir), self.index_root or None)

    def indexed_files(self, jobs):
        """Executor: each (night, path) as (night, path, survey, identity, IPC, rows, bytes)."""
        lake = Lake(self.lake_uri, self.science_dir)
        for night, path in jobs:
            found = entries_of_file(lake, path, night)
            entries = _ipc(found.entries)
            rows = found.entries.num_rows
            yield night, path, found.survey.name, found.identity, entries, rows, found.bytes_read

    def pieces_of_index_file(self, relative: str, keep, drop, hide, buckets: int):
        """Executor: an index file's entries of the parts kept (not dropped, not hidden), by
        bucket.

        A delta's file of the alerts table holds all its entries: both tables' pieces come
        from it; a base file gives its own table's."""
        entries = entries_of_index_file(
            self.index().store, relative, keep=keep, drop=drop, hide=hide
        )
        if relative.startswith("base-"):  # keyed for its table already
            yield from _pieces(relative.split("/")[1], entries, buckets, keyed=True)
        else:
            for table in TABLES:
                yield from _pieces(table, entries, buckets)

    def write_bucket(self, table: str, bucket: int, pieces: list[bytes], generation: int):
        """Executor: merge, sort and write one bucket of a new base generation; its size."""
        import pyarrow as pa

        parts = [_table(piece) for piece in pieces] or [entry_schema().empty_table()]
        entries = sort_entries(pa.concat_tables(parts), TABLES[table])
        data = index_file_bytes(entries, TABLES[table])
        self.index().store.write_atomically(base_file(generation, table, bucket), data)
        return (table, bucket), len(data)


def _build_deltas(spark, where: _Where, index: AlertIndex, nights, jobs, progress: bool):
    """Files indexed in waves of whole nights; the driver writes each night's delta."""
    from tqdm.auto import tqdm

    context = spark.sparkContext
    wave_size = max(1, context.defaultParallelism * WAVE_FILES_PER_CORE)
    files_of = {night: [path for n, path in jobs if n == night] for night in nights}
    reports, pending = [], Pending(index)  # nights written together as the single build does
    with tqdm(total=len(jobs), unit="file", desc="indexing (Spark)", disable=not progress) as bar:
        for wave_nights in _waves(files_of, wave_size):
            wave = [(night, path) for night in wave_nights for path in files_of[night]]
            rdd = _spread(context, wave).mapPartitions(where.indexed_files)
            found = {(r[0], r[1]): r for r in rdd.collect()}
            bar.update(len(wave))
            for night in wave_nights:
                files = files_of[night]
                results = [_indexed_file(found[(night, path)]) for path in files]
                reports.append(pending.add(night, files, results))
    pending.write()
    return reports


def _build_base(spark, where: _Where, index: AlertIndex, nights, jobs, progress: bool):
    """Every file indexed into a new base generation (shuffled by bucket), then published."""
    from pyspark import StorageLevel

    context = spark.sparkContext
    indexed = _spread(context, jobs).mapPartitions(where.indexed_files)
    indexed = indexed.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        facts = indexed.map(lambda r: (r[0], r[1], r[2], r[3], r[5], r[6])).collect()
        surveys = {fact[2] for fact in facts}
        if len(surveys) > 1:
            raise BadParameter(f"survey: the index holds one survey, found {sorted(surveys)}")
        buckets = bucket_count(sum(fact[4] for fact in facts))
        old = index.writer.working() or {}
        generation = index.writer.claim_generation()
        pieces = indexed.flatMap(
            lambda r: (piece for table in TABLES for piece in _pieces(table, _table(r[4]), buckets))
        )
        sizes = _write_buckets(pieces, where, generation, buckets)
    finally:
        indexed.unpersist()
    survey = surveys.pop() if surveys else old.get("survey", DEFAULT_SURVEY.name)
    if old.get("format") not in READABLE_FORMATS:
        old = {}  # an index of another format: replaced whole
    layout = {**index.writer.new_layout(survey), **old, "survey": survey}
    reports, recorded = [], []
    for night in nights:
        mine = [fact for fact in facts if fact[0] == night]
        entries = sum(fact[4] for fact in mine)
        recorded.append((night, {fact[1]: fact[3] for fact in mine}, entries))
        reports.append(NightReport(night, len(mine), entries, sum(fact[5] for fact in mine)))
    write_manifest(index.store, layout["next"], recorded)
    # the new base replaces the whole index: no live night's part is in it any more
    layout["online"] = {}
    layout["archived"] = sorted(
        {*layout.get("archived", ()), *(archive_part(n) for n, files, _ in recorded if files)}
    )
    layout["first_manifest"] = layout["next"]
    layout["next"] += 1
    publish_base(index, layout, generation, buckets, sizes)
    return reports


def _spread(context, items: list):
    """`items` over `TASKS_PER_CORE` tasks per core at most (a task has a fixed cost of tens
    of ms: one per small file would cost more than indexing it)."""
    return context.parallelize(
        items, max(1, min(len(items), context.defaultParallelism * TASKS_PER_CORE))
    )


def _write_buckets(pieces, where: _Where, generation: int, buckets: int) -> dict[str, list[int]]:
    """Group the (table, bucket) pieces on the cluster and write every bucket, empty ones too;
    the files' sizes by table."""
    context = pieces.context
    every = context.parallelize([((table, b), None) for table in TABLES for b in range(buckets)])
    grouped = pieces.union(every).groupByKey(numPartitions=max(1, min(2 * buckets, 4096)))
    written = grouped.map(
        lambda item: where.write_bucket(  # type: ignore[call-arg]  # *item[0] is Any: a 2-tuple
            *item[0], [piece for piece in item[1] if piece is not None], generation
        )
    ).collect()
    sizes = {table: [0] * buckets for table in TABLES}
    for (table, bucket), size in written:
        sizes[table][bucket] = size
    return sizes


def _pieces(table: str, entries: pa.Table, buckets: int, keyed: bool = False):
    """The rows of `table` (`table_entries`, unless `keyed` already), by bucket:
    ((table, bucket), Arrow IPC)."""
    key = TABLES[table]
    rows_of_table = entries if keyed else table_entries(entries, table)
    if rows_of_table.num_rows:
        pick = by_bucket(rows_of_table, key, buckets)
        for bucket in range(buckets):
            rows = pick(bucket)
            if rows.num_rows:
                yield (table, bucket), _ipc(rows)


def _waves(files_of: dict, wave_size: int):
    """Nights grouped so that each group has at least `wave_size` files (the last may not)."""
    wave, files = [], 0
    for night, paths in files_of.items():
        wave.append(night)
        files += len(paths)
        if files >= wave_size:
            yield wave
            wave, files = [], 0
    if wave:
        yield wave


def _indexed_file(result) -> IndexedFile:
    _, _, survey, identity, entries, _, bytes_read = result
    return IndexedFile(survey_named(survey), identity, _table(entries), bytes_read)


def _ipc(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _table(data: bytes) -> pa.Table:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()
