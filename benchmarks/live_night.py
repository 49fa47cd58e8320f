"""A live night followed: commit-to-findable latency, a Rubin-shaped night's lookups, and the
follower's throughput (issue 23, "Measure").

The lake is written as Fink's streaming job writes it: micro-batches appended to
``online/science/<YYYYMMDD>/`` in the format of Spark's parquet file sink (`SparkSink`): part
files named ``part-NNNNN-<uuid>.c000.snappy.parquet`` written in place, then the commit log
``_spark_metadata/<batch>`` (``v1``, then one JSON line per file: ``file://`` URI, size,
``isDir`` false, ``modificationTime`` in ms, ``blockReplication`` 1, ``blockSize`` 128 MB,
``action`` "add") written to a hidden temporary name and renamed; every 10th batch is
``<batch>.compact`` holding every file so far, and log files older than a compact 20 batches
back are deleted (Spark's ``cleanupDelay``, 10 min, at one batch per 30 s). Running hundreds of
real Spark micro-batches would take too long for a benchmark; the format is the one real Spark
writes, as ``tests/storage/test_sink_log.py`` checks on logs written by a real streaming query.
The alert rows are the real ZTF rows of ``../shared/data`` (124 alerts, ~48 KB each), repeated
with a new ``objectId``, ``candid`` and ``candidate.jd`` per alert (a quarter of each batch's
alerts are of objects seen earlier in the night, the rest of new ones), written one row group
per file with ~1 MB pages (`demo.PAGE_ROWS` rows) and no dictionary for the stamps.

1. Latency: a real ``fink-cutouts serve`` and a real ``fink-cutouts index follow --interval S``
   (separate processes, as Fink would run them) on the lake; micro-batches are committed every
   ``--cadence`` seconds (times a random factor in [0.5, 1.5), so the commits fall at every
   phase of the follower's and the server's periods). For each batch: the time from the rename
   of its commit-log file to the first reply of ``/api/v1/alerts?objectId=<an object new in
   that batch>`` listing the new alert, asked every 50 ms by a client thread (the oldest batch
   not found yet first: batches become findable in commit order). The server re-reads the index
   layout every ``refresh_seconds`` of its `AlertIndex` (read from the door's own `CutoutAPI`).
   A first batch, untimed, waits until it is findable (the index's first write, the processes'
   start).
   Goal: p50 <= 10 s, p99 <= 30 s.
2. Night: ``--night-batches`` micro-batches (1,200: one per 30 s over 10 h) of ``--alerts``
   alerts each, each indexed by the follower's `Follower.cycle` in this process right after its
   commit (the deltas written are the follower's); each part file is deleted once indexed (the
   index's lookups never read it; ``--keep-files`` keeps them: 10 GB at the defaults). At each
   quarter of the night, 20 objects from all over the night so far, each looked up 3 times: a
   fresh lookup (a new `AlertIndex`, its first lookup: layout, footers, batches) and a warm one
   (a long-lived `AlertIndex` with the door's refresh period, warmed on 20 other objects), p50
   in ms. At the night's end the index is copied, the original compacted (`index compact`),
   and both measured again side by side, taking turns object by object (a shared machine's load
   weighs on both alike): the ratio. The number of delta files at each point. With
   ``--hdfs`` (``eval "$(bash ci/services.sh env)"``), the index at each point is copied as it
   is to the HDFS of ``ci/services.sh`` and the fresh lookups are made there, their NameNode
   calls counted in its audit log (as ``hdfs_index.py`` does). Goal: fresh <= 2x compacted,
   <= 4 NameNode calls.
3. Throughput: ``--rubin-alerts`` (8,000) alert micro-batches in ``--files-per-batch`` part
   files each, indexed by `Follower.cycle` with workers=1 and workers=2: alerts per second of
   wall time, and per CPU-second of the process (all its threads: pyarrow's too), which is the
   "per core" figure (the cycle also waits on its writes: with one worker, the wall-clock rate
   is the lower, safe one); Rubin's ~10^7 alerts a night over ~10 h (278 alerts/s) divided by
   each is the cores needed. The files were just written: they are read from the page cache.

Run: python benchmarks/live_night.py [--quick] [--hdfs] [--alerts 200] [--night-batches 1200]
(``--alerts 8000`` is Rubin's rate; ``--quick``: 20 latency batches every ~1.5 s, a night of 80
batches, 50 alerts a batch, throughput on one 2,000-alert batch; ``--skip`` leaves parts out.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _results import Figures
from _servers import serving
from _timing import p50_p99_ms

from fink_cutout_jupyter.demo.archive import PAGE_ROWS
from fink_cutout_jupyter.index.compaction import compact
from fink_cutout_jupyter.index.follow import Follower
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.locations import JD_OF_UNIX_EPOCH
from fink_cutout_jupyter.storage.lake import Lake

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ztf" / "lake"
SCIENCE = "archive/science"
ONLINE = "online/science"
NIGHT = dt.date(2026, 12, 3)
COMPACT_INTERVAL = 10  # spark.sql.streaming.fileSink.log.compactInterval
CLEANUP_BATCHES = 20  # cleanupDelay (10 min) at one micro-batch per 30 s
BLOCK_SIZE = 134217728
RUBIN_ALERTS_PER_NIGHT = 10_000_000
NIGHT_SECONDS = 10 * 3600
LOOKUP_OBJECTS = 20
REPEAT = 3  # fresh and warm lookups of each object
POLL_SECONDS = 0.05
FOUND_WITHIN = 120.0  # a batch not findable by then is counted as missing


# The alerts


class AlertRows:
    """Micro-batches of real ZTF alert rows with new object ids, alert ids and times."""

    def __init__(self, seed: int = 23, seen_fraction: float = 0.25) -> None:
        files = sorted(SHARED.glob("archive/science/year=*/month=*/day=*/*.parquet"))
        self.template = pa.concat_tables(pq.read_table(path) for path in files)
        self.rng = np.random.default_rng(seed)
        self.seen_fraction = seen_fraction
        self.objects = 0  # object ids handed out: ZTF26 + the counter in 7 letters
        self.next_candid = 3_000_000_000_000_000
        self.batches = 0

    def batch(self, alerts: int) -> tuple[pa.Table, list[str]]:
        """`alerts` rows of the next micro-batch, and the object ids new in it."""
        seen = min(int(alerts * self.seen_fraction), self.objects)
        fresh = alerts - seen
        numbers = np.concatenate(
            [
                np.arange(self.objects, self.objects + fresh),
                self.rng.integers(0, max(self.objects, 1), seen),
            ]
        )
        self.objects += fresh
        object_ids = ztf_object_ids(numbers)
        candids = np.arange(self.next_candid, self.next_candid + alerts, dtype=np.int64)
        self.next_candid += alerts
        start = dt.datetime.combine(NIGHT, dt.time(1), dt.UTC).timestamp() + 30 * self.batches
        jd = JD_OF_UNIX_EPOCH + (start + self.rng.uniform(0, 30, alerts)) / 86400
        self.batches += 1
        rows = self.template.take(self.rng.integers(0, self.template.num_rows, alerts))
        candidate = rows.column("candidate").combine_chunks()
        fields = {f.name: candidate.field(i) for i, f in enumerate(candidate.type)}
        fields["candid"], fields["jd"] = pa.array(candids), pa.array(jd)
        candidate = pa.StructArray.from_arrays(
            [fields[f.name].cast(f.type) for f in candidate.type],
            fields=list(candidate.type),
            mask=candidate.is_null(),
        )
        for name, column in (
            ("candid", pa.array(candids)),
            ("objectId", object_ids),
            ("candidate", candidate),
        ):
            rows = rows.set_column(rows.schema.get_field_index(name), name, column)
        return rows, object_ids.slice(0, fresh).to_pylist()  # the first rows


def ztf_object_ids(numbers: np.ndarray) -> pa.Array:
    """ZTF-shaped ids (``ZTF26`` and 7 letters) of distinct integers."""
    letters = np.empty((len(numbers), 7), dtype=np.uint8)
    rest = numbers.astype(np.int64)
    for position in range(6, -1, -1):
        letters[:, position] = ord("a") + rest % 26
        rest = rest // 26
    return pa.array([f"ZTF26{row.tobytes().decode()}" for row in letters], pa.string())


# Spark's file sink


@dataclass
class SparkSink:
    """Commits micro-batches into ``<root>/online/science/<night>/`` as Spark's file sink does."""

    root: Path
    night: dt.date
    committed: list[dict] = field(default_factory=list)  # every file's log entry so far
    batch: int = -1

    @property
    def directory(self) -> Path:
        return self.root / ONLINE / f"{self.night:%Y%m%d}"

    @property
    def log(self) -> Path:
        return self.directory / "_spark_metadata"

    def commit(self, tables: list[pa.Table]) -> tuple[int, float, list[Path]]:
        """Write the part files, then the batch's log file (renamed into place): the batch id,
        `time.monotonic()` just after the rename, and the part files."""
        self.log.mkdir(parents=True, exist_ok=True)
        self.batch += 1
        parts, entries = [], []
        for task, table in enumerate(tables):
            path = self.directory / f"part-{task:05d}-{uuid.uuid4()}.c000.snappy.parquet"
            write_part(table, path)
            status = path.stat()
            parts.append(path)
            entries.append(
                {
                    "path": path.as_uri(),
                    "size": status.st_size,
                    "isDir": False,
                    "modificationTime": int(status.st_mtime * 1000),
                    "blockReplication": 1,
                    "blockSize": BLOCK_SIZE,
                    "action": "add",
                }
            )
        self.committed += entries
        compacting = (self.batch + 1) % COMPACT_INTERVAL == 0
        name = f"{self.batch}.compact" if compacting else str(self.batch)
        logged = self.committed if compacting else entries
        lines = ["v1", *(json.dumps(entry, separators=(",", ":")) for entry in logged)]
        temporary = self.log / f".{name}.{uuid.uuid4()}.tmp"
        temporary.write_text("\n".join(lines))
        os.replace(temporary, self.log / name)
        committed_at = time.monotonic()
        self._clean_up()
        return self.batch, committed_at, parts

    def _clean_up(self) -> None:
        """Delete the log files before the latest compact that is CLEANUP_BATCHES old."""
        kept = self.batch - CLEANUP_BATCHES
        compacts = [b for b in range(kept + 1) if (b + 1) % COMPACT_INTERVAL == 0]
        if not compacts:
            return
        for path in self.log.iterdir():
            if path.name.startswith("."):
                continue
            if int(path.name.removesuffix(".compact")) < compacts[-1]:
                path.unlink()


def write_part(table: pa.Table, path: Path) -> None:
    """One row group, ~1 MB pages, dictionaries only for the object id (as parquet-mr does)."""
    pq.write_table(
        table,
        path,
        compression="snappy",
        row_group_size=table.num_rows + 1,
        use_dictionary=["objectId"],
        write_batch_size=PAGE_ROWS,
    )


def split(table: pa.Table, files: int) -> list[pa.Table]:
    """`table` in `files` slices, as Spark's tasks would write it."""
    bounds = np.linspace(0, table.num_rows, files + 1).astype(int)
    return [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


# 1. Commit to findable


class Poller(threading.Thread):
    """Asks a server for each committed batch's new object until the new alert is listed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.pending: queue.Queue = queue.Queue()
        self.latencies: list[float] = []
        self.missing = 0
        self.requests = 0

    def expect(self, object_id: str, alert_id: int, committed_at: float) -> None:
        self.pending.put((object_id, alert_id, committed_at))

    def finish(self) -> None:
        self.pending.put(None)
        self.join()

    def run(self) -> None:
        while (item := self.pending.get()) is not None:
            object_id, alert_id, committed_at = item
            while True:
                if self.listed(object_id, alert_id):
                    self.latencies.append(time.monotonic() - committed_at)
                    break
                if time.monotonic() - committed_at > FOUND_WITHIN:
                    self.missing += 1
                    break
                time.sleep(POLL_SECONDS)

    def listed(self, object_id: str, alert_id: int) -> bool:
        """Whether the server lists `alert_id` among the alerts of `object_id`."""
        query = urllib.parse.urlencode({"objectId": object_id})
        self.requests += 1
        try:
            with urllib.request.urlopen(f"{self.url}api/v1/alerts?{query}", timeout=10) as reply:
                return any(row["alertId"] == alert_id for row in json.load(reply))
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            return False


@contextmanager
def following(root: Path, interval: float, log: Path):
    """``fink-cutouts index follow`` on the lake, its log in `log`; stopped (SIGTERM) after."""
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "index", "follow"]
    command += ["--lake", str(root), "--science-dir", SCIENCE, "--interval", str(interval)]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=60)


def server_refresh_seconds(root: Path) -> float:
    """The refresh period of the index of the doors' `CutoutAPI` (as `fink-cutouts serve`)."""
    from fink_cutout_jupyter.contract.api import CutoutAPI

    api = CutoutAPI(Lake(root, SCIENCE))
    try:
        return api.index.refresh_seconds
    finally:
        api.close()


def latency(args, rows: AlertRows, report: Figures, scratch: Path) -> None:
    root = scratch / "latency"
    root.mkdir()
    sink = SparkSink(root, NIGHT)
    refresh = server_refresh_seconds(root)
    pacing = random.Random(23)
    with (
        serving(str(root), "--science-dir", SCIENCE) as (url, _),
        following(root, args.interval, scratch / "follower.log"),
    ):
        poller = Poller(url)
        table, new = rows.batch(args.alerts)  # untimed: the index's first write, the follower's
        _, committed_at, _ = sink.commit([table])  # and the server's start
        while not poller.listed(new[0], table.column("candid")[0].as_py()):
            if time.monotonic() - committed_at > FOUND_WITHIN:
                raise AssertionError(f"the first batch is not findable within {FOUND_WITHIN} s")
            time.sleep(POLL_SECONDS)
        poller.start()
        for _ in range(args.latency_batches):
            started = time.monotonic()
            table, new = rows.batch(args.alerts)
            _, committed_at, _ = sink.commit([table])
            poller.expect(new[0], table.column("candid")[0].as_py(), committed_at)
            pause = args.cadence * pacing.uniform(0.5, 1.5)
            time.sleep(max(0.0, pause - (time.monotonic() - started)))
        poller.finish()
    seconds = poller.latencies
    p50, p99 = (ms / 1e3 for ms in p50_p99_ms(seconds)) if seconds else (float("nan"),) * 2
    largest = max(seconds, default=float("nan"))
    report.print(
        f"commit to findable ({len(seconds)} batches of {args.alerts} alerts, one every "
        f"~{args.cadence:g} s; follower every {args.interval:g} s, server refresh {refresh:g} s): "
        f"p50 {p50:.2f} s, p99 {p99:.2f} s, max {largest:.2f} s; "
        f"{poller.missing} not found within {FOUND_WITHIN:g} s"
        f" (goal p50 <= 10 s: {_met(p50 <= 10)}, p99 <= 30 s: {_met(p99 <= 30)})",
        latency_batches=len(seconds),
        latency_missing=poller.missing,
        latency_p50_s=p50,
        latency_p99_s=p99,
        latency_max_s=largest,
        follower_interval_s=args.interval,
        server_refresh_s=refresh,
        latency_requests=poller.requests,
    )


# 2. A Rubin-shaped night


@dataclass
class Lookups:
    fresh_ms: float
    warm_ms: float
    deltas: int
    hdfs_fresh_ms: float | None = None
    hdfs_calls: float | None = None
    cycle_ms: float | None = None  # the follower's cycle, p50 over the last quarter of the night


def lookups(
    lake: Lake, roots: dict[str, str], objects: list[str], warm_up: list[str], refresh: float
) -> dict[str, Lookups]:
    """For the index at each of `roots`: p50 ms of a fresh index's first lookup of `objects`
    (each object REPEAT times, a new `AlertIndex` each time), and of a warm index's. The
    indexes take turns, object by object: a busy machine weighs on each alike."""
    fresh: dict[str, list[float]] = {name: [] for name in roots}
    for _ in range(REPEAT):
        for object_id in objects:
            for name, root in roots.items():
                started = time.perf_counter()
                alert_index = AlertIndex(lake, root)
                alert_index.alerts(object_id)
                fresh[name].append(time.perf_counter() - started)
                alert_index.close()
    warm_indexes = {
        name: AlertIndex(lake, root, refresh_seconds=refresh) for name, root in roots.items()
    }
    for object_id in warm_up:
        for warm_index in warm_indexes.values():
            warm_index.alerts(object_id)
    warm: dict[str, list[float]] = {name: [] for name in roots}
    for _ in range(REPEAT):
        for object_id in objects:
            for name, warm_index in warm_indexes.items():
                started = time.perf_counter()
                warm_index.alerts(object_id)
                warm[name].append(time.perf_counter() - started)
    results = {}
    for name, warm_index in warm_indexes.items():
        warm_index.close()
        deltas = len((read_layout(warm_index.store) or {}).get("deltas", []))
        results[name] = Lookups(
            statistics.median(fresh[name]) * 1e3, statistics.median(warm[name]) * 1e3, deltas
        )
    return results


def spread(pool: list[str], count: int, offset: int = 0) -> list[str]:
    """`count` objects evenly spread over `pool` (from the night's start to its end)."""
    step = max(1, len(pool) // count)
    return [pool[(offset + i * step) % len(pool)] for i in range(count)]


class HdfsCopy:
    """The index as it is, copied to HDFS: fresh lookups there, NameNode calls counted."""

    def __init__(self) -> None:
        import getpass

        user = getpass.getuser()
        uri = f"{os.environ['HDFS_URI']}/user/{user}/bench-live-night?user={user}&replication=1"
        self.lake = Lake(uri, SCIENCE)

    def measure(self, root: str, objects: list[str], result: Lookups) -> None:
        """Copy the local index at `root` to HDFS, and count its fresh lookups of `objects`."""
        from hdfs_index import fresh_lookups
        from pyarrow import fs

        store = AlertIndex(self.lake).store
        self.lake.filesystem.delete_dir_contents(store.base, missing_dir_ok=True)
        fs.copy_files(root, store.base, destination_filesystem=self.lake.filesystem)
        fresh_lookups(self.lake, objects[:3])  # the HDFS client's start
        result.hdfs_fresh_ms, result.hdfs_calls = fresh_lookups(self.lake, objects)


def night(args, rows: AlertRows, report: Figures, scratch: Path) -> None:
    root = scratch / "night"
    root.mkdir()
    lake = Lake(root, SCIENCE)
    refresh = server_refresh_seconds(root)
    index = AlertIndex(lake, refresh_seconds=refresh)
    follower = Follower(index, interval=0, workers=args.workers)
    sink = SparkSink(root, NIGHT)
    hdfs = HdfsCopy() if args.hdfs else None
    checkpoints = {round(args.night_batches * k / 4) for k in range(1, 5)}
    pool: list[str] = []  # one new object of each batch
    cycles: list[float] = []
    results: dict[str, Lookups] = {}
    started = time.perf_counter()
    for number in range(1, args.night_batches + 1):
        table, new = rows.batch(args.alerts)
        _, _, parts = sink.commit([table])
        pool.append(new[0])
        cycle_started = time.perf_counter()
        done = follower.cycle()
        cycles.append(time.perf_counter() - cycle_started)
        if not done.indexed:
            raise AssertionError(f"batch {sink.batch}: the follower indexed nothing: {done}")
        if not args.keep_files:
            for path in parts:
                path.unlink()
        if number in checkpoints:
            objects = spread(pool, LOOKUP_OBJECTS)
            warm_up = spread(pool, LOOKUP_OBJECTS, offset=1)
            result = lookups(lake, {"night": index.store.base}, objects, warm_up, refresh)["night"]
            results[f"{number} batches"] = result
            if hdfs is not None:
                hdfs.measure(index.store.base, objects, result)
            result.cycle_ms = statistics.median(cycles[-(args.night_batches // 4 or 1) :]) * 1e3
            _lookup_line(f"after {number} batches", result)
    night_seconds = time.perf_counter() - started
    night_copy = str(scratch / "night-index")
    shutil.copytree(index.store.base, night_copy)
    compact(AlertIndex(lake), progress=False)
    objects = spread(pool, LOOKUP_OBJECTS)
    warm_up = spread(pool, LOOKUP_OBJECTS, offset=1)
    roots = {"night": night_copy, "compacted": index.store.base}
    side_by_side = lookups(lake, roots, objects, warm_up, refresh)
    final, compacted = side_by_side["night"], side_by_side["compacted"]
    if hdfs is not None:
        hdfs.measure(index.store.base, objects, compacted)
        final.hdfs_fresh_ms = results[f"{args.night_batches} batches"].hdfs_fresh_ms
        final.hdfs_calls = results[f"{args.night_batches} batches"].hdfs_calls
    _lookup_line("the night's end (its copy), beside the compacted index", final)
    _lookup_line("after index compact", compacted)
    fresh_ratio, warm_ratio = (
        final.fresh_ms / compacted.fresh_ms,
        final.warm_ms / compacted.warm_ms,
    )
    cycle_p50, cycle_p99 = p50_p99_ms(cycles)
    report.print(
        f"night: {args.night_batches} micro-batches of {args.alerts} alerts "
        f"({args.night_batches * args.alerts:,} alerts) indexed by the follower's cycle in "
        f"{night_seconds:.0f} s (cycle p50 {cycle_p50:.0f} ms, p99 {cycle_p99:.0f} ms); "
        f"{final.deltas} delta files at the end",
        night_batches=args.night_batches,
        night_alerts_per_batch=args.alerts,
        night_s=night_seconds,
        night_cycle_p50_ms=cycle_p50,
        night_cycle_p99_ms=cycle_p99,
        night_delta_files=final.deltas,
        night_checkpoint_delta_files={k: v.deltas for k, v in results.items()},
        night_checkpoint_fresh_ms={k: v.fresh_ms for k, v in results.items()},
        night_checkpoint_warm_ms={k: v.warm_ms for k, v in results.items()},
        night_checkpoint_cycle_ms={k: v.cycle_ms for k, v in results.items()},
    )
    report.print(
        f"lookup at the night's end vs compacted (p50 of {LOOKUP_OBJECTS} objects x {REPEAT}): "
        f"fresh {final.fresh_ms:.2f} ms vs {compacted.fresh_ms:.2f} ms ({fresh_ratio:.2f}x), warm "
        f"{final.warm_ms:.3f} ms vs {compacted.warm_ms:.3f} ms ({warm_ratio:.2f}x)"
        f" (goal fresh <= 2x: {_met(fresh_ratio <= 2)})",
        night_fresh_ms=final.fresh_ms,
        night_warm_ms=final.warm_ms,
        compacted_fresh_ms=compacted.fresh_ms,
        compacted_warm_ms=compacted.warm_ms,
        fresh_ratio=fresh_ratio,
        warm_ratio=warm_ratio,
    )
    if hdfs is not None:
        calls = {k: v.hdfs_calls for k, v in results.items()}
        worst = max(c for c in calls.values() if c is not None)
        report.print(
            f"HDFS fresh lookup (the index copied as it is): night's end {final.hdfs_fresh_ms:.1f}"
            f" ms, {final.hdfs_calls:.1f} NameNode calls (worst during the night {worst:.1f}); "
            f"compacted {compacted.hdfs_fresh_ms:.1f} ms, {compacted.hdfs_calls:.1f} calls"
            f" (goal <= 4 calls: {_met(worst <= 4)})",
            hdfs_night_fresh_ms=final.hdfs_fresh_ms,
            hdfs_night_calls=final.hdfs_calls,
            hdfs_night_worst_calls=worst,
            hdfs_checkpoint_calls=calls,
            hdfs_checkpoint_fresh_ms={k: v.hdfs_fresh_ms for k, v in results.items()},
            hdfs_compacted_fresh_ms=compacted.hdfs_fresh_ms,
            hdfs_compacted_calls=compacted.hdfs_calls,
        )


def _lookup_line(label: str, result: Lookups) -> None:
    hdfs = (
        f"; HDFS fresh {result.hdfs_fresh_ms:.1f} ms, {result.hdfs_calls:.1f} NameNode calls"
        if result.hdfs_calls is not None
        else ""
    )
    cycle = f"; follower cycle p50 {result.cycle_ms:.0f} ms" if result.cycle_ms else ""
    print(
        f"  {label}: {result.deltas} delta files; fresh lookup p50 {result.fresh_ms:.2f} ms, "
        f"warm {result.warm_ms:.3f} ms{hdfs}{cycle}",
        flush=True,
    )


# 3. Throughput


def throughput(args, rows: AlertRows, report: Figures, scratch: Path) -> None:
    root = scratch / "throughput"
    root.mkdir()
    lake = Lake(root, SCIENCE)
    follower = Follower(AlertIndex(lake), interval=0, workers=1)
    sink = SparkSink(root, NIGHT)
    _, _, parts = sink.commit([rows.batch(200)[0]])  # imports, the index's first write
    follower.cycle()
    for path in parts:
        path.unlink()
    figures = {}
    for workers in (1, 2):
        follower.workers = workers
        alerts = wall = cpu = 0.0
        for _ in range(args.throughput_batches):
            table, _ = rows.batch(args.rubin_alerts)
            _, _, parts = sink.commit(split(table, args.files_per_batch))
            del table
            cpu_started, started = time.process_time(), time.perf_counter()
            done = follower.cycle()
            wall += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            alerts += sum(batch.alerts for batch in done.indexed)
            for path in parts:
                path.unlink()
        figures[workers] = (alerts / wall, alerts / cpu)
        report.print(
            f"follower throughput, workers={workers}: {alerts / wall:,.0f} alerts/s, "
            f"{alerts / cpu:,.0f} alerts per CPU-second ({args.throughput_batches} batches of "
            f"{args.rubin_alerts:,} alerts in {args.files_per_batch} files)",
            **{
                f"throughput_workers{workers}_alerts_per_s": alerts / wall,
                f"throughput_workers{workers}_alerts_per_cpu_s": alerts / cpu,
            },
        )
    rate = RUBIN_ALERTS_PER_NIGHT / NIGHT_SECONDS
    wall_rate, cpu_rate = figures[1]
    report.print(
        f"Rubin: {RUBIN_ALERTS_PER_NIGHT:.0e} alerts in {NIGHT_SECONDS / 3600:g} h = {rate:.0f} "
        f"alerts/s: {rate / wall_rate:.3f} core (one worker's wall-clock rate, "
        f"{wall_rate:,.0f} alerts/s), {rate / cpu_rate:.3f} core by CPU time",
        rubin_alerts_per_s=rate,
        rubin_cores=rate / wall_rate,
        rubin_cores_by_cpu=rate / cpu_rate,
    )


def _met(condition: bool) -> str:
    return "met" if condition else "NOT met"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (a smoke test)")
    parser.add_argument("--hdfs", action="store_true", help="add the night's lookups on HDFS")
    parser.add_argument("--alerts", type=int, default=200, help="alerts per micro-batch")
    parser.add_argument("--latency-batches", type=int, default=120)
    parser.add_argument("--cadence", type=float, default=3.0, help="seconds between commits")
    parser.add_argument("--interval", type=float, default=5.0, help="the follower's interval")
    parser.add_argument("--night-batches", type=int, default=1200)
    parser.add_argument("--workers", type=int, default=4, help="the night follower's workers")
    parser.add_argument("--keep-files", action="store_true", help="keep the night's part files")
    parser.add_argument("--rubin-alerts", type=int, default=8000)
    parser.add_argument("--files-per-batch", type=int, default=4)
    parser.add_argument("--throughput-batches", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["latency", "night", "throughput"])
    parser.add_argument("--scratch", help="directory for the temporary lakes (default: $TMPDIR)")
    args = parser.parse_args()
    if args.quick:
        args.alerts = min(args.alerts, 50)
        args.latency_batches = min(args.latency_batches, 20)
        args.cadence = min(args.cadence, 1.5)
        args.night_batches = min(args.night_batches, 80)
        args.rubin_alerts = min(args.rubin_alerts, 2000)
        args.throughput_batches = 1
    if args.hdfs and not os.environ.get("HDFS_AUDIT_LOG"):
        sys.exit('start the servers: bash ci/services.sh start; eval "$(bash ci/services.sh env)"')
    return args


def main() -> None:
    args = arguments()
    report = Figures("live_night", args)
    rows = AlertRows()
    with tempfile.TemporaryDirectory(dir=args.scratch, prefix="live-night-") as directory:
        scratch = Path(directory)
        if "latency" not in args.skip:
            latency(args, rows, report, scratch)
        if "night" not in args.skip:
            night(args, rows, report, scratch)
        if "throughput" not in args.skip:
            throughput(args, rows, report, scratch)
    report.write()


if __name__ == "__main__":
    main()
