"""Tonight's live night of a demo lake: `stream_demo_batch` adds one micro-batch at a time under
``online/science/<YYYYMMDD>/``, a simulation of Fink's streaming job writing what Spark's parquet
file sink writes (a part file, then the batch's commit in the sink's log ``_spark_metadata/``,
see `fink_cutout_jupyter.storage.sink_log`); `LiveDemoNight` streams and follows it. Fink's real
job is Spark's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import string
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fink_cutout_jupyter.demo.archive import PAGE_ROWS
from fink_cutout_jupyter.demo.ztf import (
    DEMO_OBJECTS,
    alert_row,
    alerts_table,
    julian_date,
    sky_object,
    sky_objects,
)

# Spark's parquet file sink: its commit log, compacted every `compactInterval` batches.
SINK_LOG = "_spark_metadata"
COMPACT_INTERVAL = 10
BATCH_SECONDS = 30
_BLOCK_SIZE = 134_217_728  # what Hadoop's local filesystem reports, as Spark logs it


@dataclass(frozen=True)
class DemoBatch:
    """What `stream_demo_batch` committed."""

    night: dt.date
    batch: int
    path: str
    """The part file, relative to the lake root."""
    log: str
    """The commit log file of the batch (``N``, or ``N.compact``), relative to the lake root."""
    object_ids: tuple[str, ...]
    """The object of each alert, in the file's row order."""
    candids: tuple[int, ...]
    """Each alert's id, in the file's row order."""
    new_objects: tuple[str, ...]
    """Objects seen for the first time (not in the demo lake's archive)."""


def stream_demo_batch(
    root: str | Path,
    night: dt.date,
    batch: int | None = None,
    *,
    seed: int = 42,
    objects: int = DEMO_OBJECTS,
    alerts: int = 12,
    new_objects: int = 1,
    at: dt.datetime | None = None,
) -> DemoBatch:
    """Commit one micro-batch of new synthetic alerts to the live night `night` of a demo lake.

    A simulation of Fink's streaming job, for the demo: it writes what Spark's parquet file sink
    writes for one micro-batch (Fink's real job is Spark's). Under
    ``<root>/online/science/<YYYYMMDD>/``: the part file ``part-00000-<uuid>-c000.snappy.parquet``,
    then the batch's commit ``_spark_metadata/<batch>`` (the line ``v1``, then the JSON entry of
    the file); every 10th batch (``(batch + 1) % 10 == 0``) the commit is
    ``<batch>.compact`` and lists every file committed so far. Each file is written to a hidden
    temporary name in its directory and renamed. Older batch files are kept (Spark deletes them
    some minutes after a compaction).

    Parameters
    ----------
    root : path
        The demo lake's root (as given to `make_demo_lake`).
    night : datetime.date
        The live night (its directory's name).
    batch : int, optional
        The micro-batch id: batches of a night start at 0 and follow each other, as a streaming
        query's do. Default: the night's next.
    seed, objects : int
        As given to `make_demo_lake`: the batch's alerts are of the demo lake's objects.
    alerts : int
        Alerts of known objects in the batch: ``ZTF24abssjsb`` has one in every batch, so
        the quickstart's viewer shows tonight's alerts, the others are drawn at random.
    new_objects : int
        Objects seen for the first time in this batch (one alert each).
    at : datetime.datetime, optional
        When the batch is written (timezone-aware); its alerts were observed in the 20 seconds
        before. Default: 04:00 UTC on `night`, plus 30 s per batch. The batch is a function of
        `seed`, `night`, `batch` and `at`.

    Returns
    -------
    DemoBatch

    Raises
    ------
    ValueError
        `batch` is not the night's next batch, `at` has no timezone, or the counts are out of
        range.
    """
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.storage.atomic import write_atomically, write_bytes_atomically

    if not (1 <= alerts <= objects and new_objects >= 0 and alerts + new_objects < 100):
        raise ValueError(
            f"alerts: between 1 and the {objects} objects, and fewer than 100 with new_objects"
        )
    if at is not None and at.utcoffset() is None:
        raise ValueError("at: a timezone-aware datetime, e.g. datetime.now(datetime.UTC)")
    directory = Path(root) / "online" / "science" / f"{night:%Y%m%d}"
    log_dir = directory / SINK_LOG
    log_dir.mkdir(parents=True, exist_ok=True)
    committed = _sink_batches(log_dir)
    expected = max(committed, default=-1) + 1
    if batch is None:
        batch = expected
    if batch != expected:
        raise ValueError(f"batch: the next batch of the live night {night:%Y%m%d} is {expected}")
    if at is None:
        at = dt.datetime.combine(night, dt.time(4), tzinfo=dt.UTC) + dt.timedelta(
            seconds=BATCH_SECONDS * batch
        )
    sky = sky_objects(np.random.default_rng(seed), objects)
    rng = np.random.default_rng([seed, night.toordinal(), batch, round(at.timestamp() * 1e6)])
    chosen = [sky[0], *(sky[i] for i in 1 + rng.choice(len(sky) - 1, alerts - 1, replace=False))]
    known = {obj["objectId"] for obj in sky}
    born: list[dict] = []
    while len(born) < new_objects:
        name = f"ZTF{night:%y}" + "".join(rng.choice(list(string.ascii_lowercase), 7))
        if name not in known:
            known.add(name)
            born.append(sky_object(rng, name))
    end = julian_date(at)
    rows = [
        alert_row(rng, obj, night, (batch % 100) * 100 + i, end - float(rng.uniform(0, 20)) / 86400)
        for i, obj in enumerate(chosen + born)
    ]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    part = directory / f"part-00000-{uuid.UUID(bytes=rng.bytes(16), version=4)}-c000.snappy.parquet"
    write_atomically(
        part,
        lambda stream: pq.write_table(
            alerts_table(rows),
            stream,
            compression="snappy",
            use_dictionary=["objectId", "candidate.isdiffpos"],
            write_batch_size=PAGE_ROWS,
        ),
    )
    status = part.stat()
    entry = {
        "path": part.resolve().as_uri(),
        "size": status.st_size,
        "isDir": False,
        "modificationTime": status.st_mtime_ns // 1_000_000,
        "blockReplication": 1,
        "blockSize": _BLOCK_SIZE,
        "action": "add",
    }
    entries = [entry]
    name = str(batch)
    if (batch + 1) % COMPACT_INTERVAL == 0:
        entries = [*_sink_entries(log_dir, committed), entry]
        name += ".compact"
    text = "\n".join(["v1", *(json.dumps(e, separators=(",", ":")) for e in entries)])
    write_bytes_atomically(log_dir / name, text.encode())
    return DemoBatch(
        night,
        batch,
        part.relative_to(root).as_posix(),
        (log_dir / name).relative_to(root).as_posix(),
        tuple(row["objectId"] for row in rows),
        tuple(row["candid"] for row in rows),
        tuple(obj["objectId"] for obj in born),
    )


class LiveDemoNight:
    """Tonight's live night of a demo lake, streamed and followed in background threads.

    While it runs (a context manager), one thread commits a micro-batch (`stream_demo_batch`,
    observed now) every `batch_seconds` to ``online/science/<today, UTC>/``, and another runs a
    `Follower` of the lake's index, which indexes each batch as it is committed. A night already
    there (an earlier run today) goes on from its next batch.

    Parameters
    ----------
    root : path
        The demo lake's root.
    seed : int
        The demo lake's seed.
    batch_seconds : float
        Seconds between two micro-batches.
    interval : float
        Seconds between two polls of the follower.
    """

    def __init__(
        self,
        root: str | Path,
        seed: int = 42,
        batch_seconds: float = BATCH_SECONDS,
        interval: float = 5.0,
    ) -> None:
        import threading

        self.root = Path(root)
        self.seed = seed
        self.batch_seconds = batch_seconds
        self.interval = interval
        self.night = dt.datetime.now(dt.UTC).date()
        self.directory = f"online/science/{self.night:%Y%m%d}"
        self.batches: list[DemoBatch] = []
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> LiveDemoNight:
        import threading

        from fink_cutout_jupyter.index.follow import Follower
        from fink_cutout_jupyter.index.lookup import AlertIndex
        from fink_cutout_jupyter.storage.lake import Lake

        follower = Follower(AlertIndex(Lake(self.root)), interval=self.interval)
        self._threads = [
            threading.Thread(target=self._stream, name="demo-stream", daemon=True),
            threading.Thread(
                target=follower.run, args=(self.stopped,), name="demo-follower", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exception: object) -> None:
        self.stopped.set()
        for thread in self._threads:
            thread.join()

    def wait(self) -> int:
        """Block until SIGINT or SIGTERM (from the main thread) or `stopped`; returns 0."""
        import signal

        previous = signal.signal(signal.SIGTERM, lambda *_: self.stopped.set())
        try:
            while not self.stopped.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        return 0

    def _stream(self) -> None:
        import logging

        while not self.stopped.is_set():
            try:
                batch = stream_demo_batch(
                    self.root, self.night, seed=self.seed, at=dt.datetime.now(dt.UTC)
                )
                self.batches.append(batch)
            except (OSError, ValueError):
                logging.getLogger(__name__).exception("the demo's micro-batch failed")
            self.stopped.wait(self.batch_seconds)


def _sink_batches(log_dir: Path) -> dict[int, str]:
    """Batch id -> its commit file's name in a sink log (hidden temporary files aside)."""
    batches = {}
    for entry in os.scandir(log_dir):
        number = entry.name.removesuffix(".compact")
        if number.isascii() and number.isdigit():
            batches[int(number)] = entry.name
    return batches


def _sink_entries(log_dir: Path, batches: dict[int, str]) -> list[dict]:
    """Every file entry committed in the log: its latest compact, then the batches after it."""
    compacts = [n for n, name in batches.items() if name.endswith(".compact")]
    start = max(compacts, default=0)
    entries: dict[str, dict] = {}
    for number in sorted(n for n in batches if n >= start):
        for line in (log_dir / batches[number]).read_text().splitlines()[1:]:
            entry = json.loads(line)
            if entry["action"] == "add":
                entries[entry["path"]] = entry
            else:
                entries.pop(entry["path"], None)
    return list(entries.values())
