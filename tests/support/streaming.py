"""Fink's night played by real Spark (local mode) on a lake root: a local directory or HDFS.

As Fink's ``bin/rubin/raw2science.py`` does, `LiveNight` runs a structured-streaming query that
reads alert Parquet files as they are dropped into a source directory and appends them with the
parquet file sink to ``<root>/online/science/<night>/`` (checkpoint in
``<root>/online/science_checkpoint/<night>``). It is driven step by step: `LiveNight.step` drops
files (one micro-batch each: ``maxFilesPerTrigger`` 1, ordered by modification time) and runs
the query with ``trigger(availableNow=True)`` until they are all committed, then reads the
sink's commit log, so a test knows exactly which part files (hence alerts) are committed.

As ``bin/rubin/merge.py`` does, `merge_night` reads the online night (Spark's batch read of a
sink directory follows its commit log) and appends it, coalesced and partitioned by zero-padded
``year``/``month``/``day`` strings, to ``<root>/archive/science``. `delete_online_night` removes
the night's directory, as Fink does later.

What Spark wrote is read back here with pyarrow only (`committed_alerts`): an independent
reading of the part files, never the project's code.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

ONLINE = "online/science"
CHECKPOINTS = "online/science_checkpoint"
ARCHIVE = "archive/science"
SINK_LOG = "_spark_metadata"
COMPACT_INTERVAL = 3  # Fink runs with Spark's default, 10: 3 makes `.compact` files in a test
KINDS = ("Science", "Template", "Difference")


def night_name(night: dt.date | str) -> str:
    """``YYYYMMDD``."""
    return night if isinstance(night, str) else f"{night:%Y%m%d}"


def hadoop_root(lake_root_uri: str | os.PathLike) -> str:
    """The lake root as Spark (Hadoop) names it: ``file:///…`` for a directory, the URI
    without its pyarrow query (``?user=…&replication=…``) for ``hdfs://``."""
    text = os.fspath(lake_root_uri)
    if "://" not in text:
        return Path(text).resolve().as_uri()
    return text.split("?", 1)[0].rstrip("/")


def lake_filesystem(lake_root_uri: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem of the lake root, and the root's path on it."""
    text = os.fspath(lake_root_uri)
    if "://" not in text:
        return pafs.LocalFileSystem(), str(Path(text).resolve())
    return pafs.FileSystem.from_uri(text)


def relative_path(uri: str, root_path: str) -> str:
    """A Spark URI (``file:/…``, ``hdfs://nn:port/…``) relative to the lake root's path."""
    path = unquote(urlsplit(uri).path)
    root = "/" + root_path.strip("/") + "/"
    if not path.startswith(root):
        raise AssertionError(f"{uri} is not under the lake root {root_path}")
    return path[len(root) :]


@dataclass
class LiveNight:
    """One night of Fink's streaming job, its micro-batches committed on demand.

    Parameters
    ----------
    spark : SparkSession
        A local session (reused: starting one costs ~10 s).
    lake_root_uri : str or path
        A local directory or an ``hdfs://host:port/path?user=…`` URI (pyarrow's form).
    night : date or str
        The night (``YYYYMMDD``): ``online/science/<night>`` is the sink's directory.
    source_dir : path
        A local directory the alert files are dropped into (Fink's ``online/raw/<night>``).
    """

    spark: Any
    lake_root_uri: str | os.PathLike
    night: dt.date | str
    source_dir: str | os.PathLike
    committed: dict[int, tuple[str, ...]] = field(default_factory=dict)
    _schema: Any = None
    _dropped: int = 0

    @property
    def output_dir(self) -> str:
        """The sink's directory, relative to the lake root."""
        return f"{ONLINE}/{night_name(self.night)}"

    @property
    def checkpoint_dir(self) -> str:
        return f"{CHECKPOINTS}/{night_name(self.night)}"

    def step(self, inputs: Sequence[Path | pa.Table]) -> dict[int, tuple[str, ...]]:
        """Drop `inputs` into the source (one micro-batch each, in this order): Parquet files
        copied as they are, tables written as Spark writes timestamps (INT96). Then run the
        query until all are committed; the batches committed, with their part files."""
        source = Path(self.source_dir)
        source.mkdir(parents=True, exist_ok=True)
        now = time.time()
        tables = []
        for given in inputs:
            hidden = source / f".input-{self._dropped:05d}.parquet.tmp"
            if isinstance(given, pa.Table):
                pq.write_table(given, hidden, use_deprecated_int96_timestamps=True)
                tables.append(given)
            else:
                hidden.write_bytes(Path(given).read_bytes())
                tables.append(pq.read_table(given, columns=["candid"]))
            # A file stream takes new files oldest first: 10 ms apart, in the order given.
            stamp = now + self._dropped * 0.01
            os.utime(hidden, (stamp, stamp))
            os.replace(hidden, source / f"input-{self._dropped:05d}.parquet")
            self._dropped += 1
        if self._schema is None:
            self._schema = self.spark.read.parquet(source.resolve().as_uri()).schema
        first = max(self.committed, default=-1) + 1
        self._run()
        latest, files = sink_log(self.lake_root_uri, self.output_dir)
        if latest != first + len(tables) - 1:
            raise AssertionError(
                f"expected batch {first + len(tables) - 1} last, the log has {latest}"
            )
        known = {path for paths in self.committed.values() for path in paths}
        new: dict[int, list[str]] = {first + number: [] for number in range(len(tables))}
        alert_ids = [set(table.column("candid").to_pylist()) for table in tables]
        filesystem, root = lake_filesystem(self.lake_root_uri)
        for path in sorted(files - known):
            candids = set(
                pq.read_table(f"{root}/{path}", columns=["candid"], filesystem=filesystem)
                .column("candid")
                .to_pylist()
            )
            number = next(n for n, alerts in enumerate(alert_ids) if candids <= alerts)
            new[first + number].append(path)
        for number, alerts in enumerate(alert_ids):
            written = committed_alerts(self.lake_root_uri, new[first + number], stamps=False)
            if sorted(alert["candid"] for alert in written) != sorted(alerts):
                raise AssertionError(f"batch {first + number} did not commit its input file")
        batches = {batch: tuple(paths) for batch, paths in new.items()}
        self.committed.update(batches)
        return batches

    def _run(self) -> None:
        # Batch files before the previous compaction are deleted at the next batch (Fink, with
        # Spark's defaults: once 100 batches are behind, 10 minutes after they were written).
        # The session is shared by the whole test run: its settings are put back afterwards.
        settings = {
            "spark.sql.streaming.fileSink.log.compactInterval": str(COMPACT_INTERVAL),
            "spark.sql.streaming.fileSink.log.cleanupDelay": "0",
            "spark.sql.streaming.minBatchesToRetain": "1",
        }
        previous = {name: self.spark.conf.get(name, None) for name in settings}
        for name, value in settings.items():
            self.spark.conf.set(name, value)
        try:
            self._run_query()
        finally:
            for name, value in previous.items():
                if value is None:
                    self.spark.conf.unset(name)
                else:
                    self.spark.conf.set(name, value)

    def _run_query(self) -> None:
        spark = self.spark
        root = hadoop_root(self.lake_root_uri)
        stream = (
            spark.readStream.format("parquet")
            .schema(self._schema)
            .option("maxFilesPerTrigger", 1)
            .option("latestFirst", False)
            .load(Path(self.source_dir).resolve().as_uri())
        )
        query = (
            stream.writeStream.format("parquet")
            .outputMode("append")
            .option("checkpointLocation", f"{root}/{self.checkpoint_dir}")
            .trigger(availableNow=True)
            .start(f"{root}/{self.output_dir}")
        )
        try:
            query.awaitTermination()
        finally:
            query.stop()
        if query.exception() is not None:
            raise AssertionError(f"the streaming query failed: {query.exception()}")


def sink_log(lake_root_uri: str | os.PathLike, directory: str) -> tuple[int, set[str]]:
    """The latest committed batch of a sink directory and every part file committed (relative
    to the root), from its commit log as Spark wrote it: plain batch files and ``.compact``
    files (each lists every file committed up to its batch)."""
    filesystem, root = lake_filesystem(lake_root_uri)
    infos = filesystem.get_file_info(pafs.FileSelector(f"{root}/{directory}/{SINK_LOG}"))
    latest, files = -1, set()
    for info in infos:
        name = info.base_name
        if name.startswith(".") or not info.is_file:
            continue
        latest = max(latest, int(name.removesuffix(".compact")))
        with filesystem.open_input_stream(info.path) as stream:
            lines = stream.read().decode().splitlines()
        if lines[0] != "v1":
            raise AssertionError(f"{info.path}: not a v1 sink log file: {lines[0]!r}")
        for line in lines[1:]:
            record = json.loads(line)
            path = relative_path(record["path"], root)
            if record["action"] == "add":
                files.add(path)
            else:
                files.discard(path)
    return latest, files


def merge_night(
    spark, lake_root_uri: str | os.PathLike, night: dt.date | str, partitions: int = 1
) -> list[str]:
    """Fink's merge of a night: the online night appended to the archive, coalesced, under
    ``year=YYYY/month=MM/day=DD``; the archive files of that night (relative to the root)."""
    from pyspark.sql import functions as F

    name = night_name(night)
    root = hadoop_root(lake_root_uri)
    science = spark.read.format("parquet").load(f"{root}/{ONLINE}/{name}")
    (
        science.withColumn("year", F.lit(name[0:4]))
        .withColumn("month", F.lit(name[4:6]))
        .withColumn("day", F.lit(name[6:8]))
        .coalesce(partitions)
        .write.mode("append")
        .partitionBy("year", "month", "day")
        .parquet(f"{root}/{ARCHIVE}")
    )
    return archive_files(lake_root_uri, night)


def archive_files(lake_root_uri: str | os.PathLike, night: dt.date | str) -> list[str]:
    """The Parquet files of an archived night (relative to the root), listed with pyarrow."""
    name = night_name(night)
    filesystem, root = lake_filesystem(lake_root_uri)
    directory = f"{ARCHIVE}/year={name[0:4]}/month={name[4:6]}/day={name[6:8]}"
    infos = filesystem.get_file_info(pafs.FileSelector(f"{root}/{directory}"))
    return sorted(
        f"{directory}/{info.base_name}"
        for info in infos
        if info.is_file and info.base_name.endswith(".parquet")
    )


def delete_online_night(lake_root_uri: str | os.PathLike, night: dt.date | str) -> None:
    """Remove a live night's directory (part files and commit log), as Fink does after its
    merge."""
    filesystem, root = lake_filesystem(lake_root_uri)
    filesystem.delete_dir(f"{root}/{ONLINE}/{night_name(night)}")


def copy_file(lake_root_uri: str | os.PathLike, source: str, target: str) -> None:
    """Copy a lake file to another name (both relative to the root)."""
    filesystem, root = lake_filesystem(lake_root_uri)
    filesystem.copy_file(f"{root}/{source}", f"{root}/{target}")


def upload(lake_root_uri: str | os.PathLike, local: Path, target: str) -> None:
    """Copy a local file into the lake (`target` relative to the root)."""
    filesystem, root = lake_filesystem(lake_root_uri)
    destination = f"{root}/{target}"
    filesystem.create_dir(destination.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(destination) as sink:
        sink.write(local.read_bytes())


def committed_alerts(
    lake_root_uri: str | os.PathLike, paths: Sequence[str], stamps: bool = True
) -> list[dict]:
    """Every alert of the given lake files, read with pyarrow: its file, ids, time, and the
    FITS bytes of each stamp (gunzipped ``stampData``)."""
    filesystem, root = lake_filesystem(lake_root_uri)
    alerts = []
    for path in paths:
        columns = ["objectId", "candid", "candidate"]
        if not stamps:
            table = pq.read_table(f"{root}/{path}", columns=columns, filesystem=filesystem)
            alerts += [{"path": path, **record} for record in table.to_pylist()]
            continue
        columns += [f"cutout{kind}" for kind in KINDS]
        table = pq.read_table(f"{root}/{path}", columns=columns, filesystem=filesystem)
        for record in table.to_pylist():
            alerts.append(
                {
                    "path": path,
                    "objectId": record["objectId"],
                    "candid": record["candid"],
                    "jd": record["candidate"]["jd"],
                    "fits": {
                        kind: gzip.decompress(record[f"cutout{kind}"]["stampData"])
                        for kind in KINDS
                    },
                }
            )
    return alerts


def as_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table`'s rows in `schema`, every field nullable (fields it lacks are null): demo alerts
    in the real files' schema, so that one stream reads both (Spark reads every field of a
    file source as nullable)."""
    nullable = pa.schema([_nullable(f) for f in schema])
    return pa.Table.from_pylist(table.to_pylist(), schema=nullable)


def _nullable(field_: pa.Field) -> pa.Field:
    kind = field_.type
    if pa.types.is_struct(kind):
        kind = pa.struct([_nullable(kind.field(i)) for i in range(kind.num_fields)])
    elif pa.types.is_list(kind):
        kind = pa.list_(_nullable(kind.value_field))
    return field_.with_type(kind).with_nullable(True)


def chunks(table: pa.Table, count: int) -> list[pa.Table]:
    """`table` cut into `count` consecutive slices of about equal size."""
    size = -(-table.num_rows // count)
    return [table.slice(start, size) for start in range(0, table.num_rows, size)]
