"""A synthetic lake in Fink's ZTF layout and schema subset, with stamps that look like the sky.

`make_demo_lake` writes archived nights (``science/year=/month=/day=``, as Fink's nightly merge
leaves them). `stream_demo_batch` adds a live night, one micro-batch at a time, under
``online/science/<YYYYMMDD>/``: a simulation of Fink's streaming job for the demo, writing what
Spark's parquet file sink writes (a part file, then the batch's commit in the sink's log
``_spark_metadata/``, see `fink_cutout_jupyter.storage.sink_log`). Fink's real job is Spark's.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import string
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fink_cutout_jupyter.locations import JD_OF_UNIX_EPOCH

DEMO_OBJECT_ID = "ZTF24abssjsb"
QUICKSTART = "quickstart.ipynb"
# The digest of the quickstart the demo last wrote: a copy that still has it is unedited.
QUICKSTART_WRITTEN = ".quickstart.ipynb.sha256"
STAMP_SIZE = 63
_FIRST_NIGHT = dt.date(2024, 11, 19)
_DEMO_OBJECTS = 240
# Spark's parquet file sink: its commit log, compacted every `compactInterval` batches.
SINK_LOG = "_spark_metadata"
COMPACT_INTERVAL = 10
BATCH_SECONDS = 30
_BLOCK_SIZE = 134_217_728  # what Hadoop's local filesystem reports, as Spark logs it


@dataclass(frozen=True)
class DemoLake:
    """What `make_demo_lake` wrote."""

    root: Path
    nights: tuple[dt.date, ...]
    files: tuple[str, ...]
    objects: int
    alerts: int
    demo_object_files: tuple[str, ...]


# Rows per data page, as parquet-mr's 1 MB pages hold them (~40 KB of stamps per alert). pyarrow
# checks a page's size only after each write batch: its default of 1,024 rows makes 13 MB pages.
PAGE_ROWS = 64


def make_demo_lake(
    out: str | Path,
    seed: int = 42,
    nights: int = 3,
    objects: int = _DEMO_OBJECTS,
    index: bool = True,
    files_per_night: int = 2,
) -> DemoLake:
    """Write a synthetic Fink ZTF lake under `out` and return what it holds.

    Parameters
    ----------
    out : path
        Lake root; ``science/year=YYYY/month=MM/day=DD/part-*.snappy.parquet`` are written there
        (earlier demo files of the same nights are replaced).
    seed : int
        The lake is a deterministic function of the seed.
    nights : int
        Number of consecutive nights, at least 3.
    objects : int
        Number of objects, at least 200; ``ZTF24abssjsb`` always has an alert in every night
        and two in the first two nights.
    index : bool
        Also build and compact the alert index (``_cutout_index`` in the lake), so that object
        ids alone work.
    files_per_night : int
        Each night's alerts, shuffled, are split over this many files.

    Returns
    -------
    DemoLake
    """
    import pyarrow.parquet as pq

    if nights < 3 or objects < 200:
        raise ValueError("the demo lake has at least 3 nights and 200 objects")
    rng = np.random.default_rng(seed)
    root = Path(out)
    sky = _objects(rng, objects)
    dates = tuple(_FIRST_NIGHT + dt.timedelta(days=n) for n in range(nights))
    files, demo_object_files, alerts = [], [], 0
    for night_number, night in enumerate(dates):
        rows: list[dict] = []
        for obj in sky:
            for _ in range(_alerts_tonight(rng, obj, night_number)):
                rows.append(_alert(rng, obj, night, len(rows)))
        order = rng.permutation(len(rows))
        directory = root / "science" / f"year={night:%Y}" / f"month={night:%m}" / f"day={night:%d}"
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("part-*.parquet"):
            old.unlink()
        for part, chunk in enumerate(np.array_split(order, files_per_night)):
            path = directory / f"part-{part:05d}-{seed:08x}-fink-demo-c000.snappy.parquet"
            table = _table([rows[i] for i in chunk])
            pq.write_table(
                table,
                path,
                compression="snappy",
                row_group_size=len(chunk) + 1,
                use_dictionary=["objectId", "candidate.isdiffpos"],
                write_batch_size=PAGE_ROWS,
            )
            files.append(path.relative_to(root).as_posix())
            if DEMO_OBJECT_ID in table.column("objectId").to_pylist():
                demo_object_files.append(files[-1])
        alerts += len(rows)
    if index:
        from fink_cutout_jupyter.index.build import build, compact, remove
        from fink_cutout_jupyter.index.lookup import AlertIndex
        from fink_cutout_jupyter.storage.lake import Lake

        alert_index = AlertIndex(Lake(root))
        remove(alert_index)  # the files were rewritten: so is their index, whatever its format
        build(alert_index, list(dates), progress=False)
        compact(alert_index, progress=False)
    return DemoLake(root, dates, tuple(files), len(sky), alerts, tuple(demo_object_files))


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
    objects: int = _DEMO_OBJECTS,
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
    sky = _objects(np.random.default_rng(seed), objects)
    rng = np.random.default_rng([seed, night.toordinal(), batch, round(at.timestamp() * 1e6)])
    chosen = [sky[0], *(sky[i] for i in 1 + rng.choice(len(sky) - 1, alerts - 1, replace=False))]
    known = {obj["objectId"] for obj in sky}
    born: list[dict] = []
    while len(born) < new_objects:
        name = f"ZTF{night:%y}" + "".join(rng.choice(list(string.ascii_lowercase), 7))
        if name not in known:
            known.add(name)
            born.append(_object(rng, name))
    end = _jd(at)
    rows = [
        _alert(rng, obj, night, (batch % 100) * 100 + i, end - float(rng.uniform(0, 20)) / 86400)
        for i, obj in enumerate(chosen + born)
    ]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    part = directory / f"part-00000-{uuid.UUID(bytes=rng.bytes(16), version=4)}-c000.snappy.parquet"
    write_atomically(
        part,
        lambda stream: pq.write_table(
            _table(rows),
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


def _objects(rng: np.random.Generator, count: int) -> list[dict]:
    names = {DEMO_OBJECT_ID}
    while len(names) < count:
        year = rng.integers(18, 25)
        names.add(f"ZTF{year:02d}" + "".join(rng.choice(list(string.ascii_lowercase), 7)))
    return [_object(rng, name) for name in [DEMO_OBJECT_ID, *sorted(names - {DEMO_OBJECT_ID})]]


def _object(rng: np.random.Generator, name: str) -> dict:
    stars = rng.integers(4, 14)
    return {
        "objectId": name,
        "ra": float(rng.uniform(0, 360)),
        "dec": float(np.degrees(np.arcsin(rng.uniform(-0.5, 1.0)))),
        "peak_mag": float(rng.uniform(15.5, 19.5)),
        "stars": np.column_stack(
            [
                rng.uniform(2, STAMP_SIZE - 3, stars),
                rng.uniform(2, STAMP_SIZE - 3, stars),
                rng.lognormal(7.0, 1.2, stars),
            ]
        ),
        "sky": float(rng.uniform(80, 250)),
        "edge": bool(rng.random() < 0.04),
    }


def _alerts_tonight(rng: np.random.Generator, obj: dict, night_number: int) -> int:
    if obj["objectId"] == DEMO_OBJECT_ID:
        return 2 if night_number < 2 else 1
    return int(rng.choice([0, 0, 1, 1, 2]))


def _alert(
    rng: np.random.Generator, obj: dict, night: dt.date, sequence: int, jd: float | None = None
) -> dict:
    if jd is None:
        jd = _jd(dt.datetime.combine(night, dt.time(4), tzinfo=dt.UTC)) + float(
            rng.uniform(0.0, 0.3)
        )
    candid = round((jd - 2458000) * 1e6) * 10000 + sequence
    magpsf = obj["peak_mag"] + float(rng.normal(0, 0.3))
    fid = int(rng.choice([1, 2]))
    science, template, difference = _stamps(rng, obj, magpsf)
    filenames = (
        f"candid{candid}_pid{candid // 10000}_targ_{k}.fits" for k in ("sci", "ref", "diff")
    )
    cutouts = {
        f"cutout{kind}": {"fileName": name, "stampData": _gzipped_fits(pixels)}
        for kind, name, pixels in zip(
            ("Science", "Template", "Difference"),
            filenames,
            (science, template, difference),
            strict=True,
        )
    }
    return {
        "candid": candid,
        "objectId": obj["objectId"],
        "candidate": {
            "jd": jd,
            "fid": fid,
            "candid": candid,
            "isdiffpos": "t",
            "ra": obj["ra"] + float(rng.normal(0, 5e-5)),
            "dec": obj["dec"] + float(rng.normal(0, 5e-5)),
            "magpsf": magpsf,
            "sigmapsf": float(rng.uniform(0.03, 0.15)),
            "diffmaglim": float(rng.uniform(19.8, 20.8)),
            "rb": float(rng.uniform(0.6, 1.0)),
            "drb": float(rng.uniform(0.7, 1.0)),
        },
        **cutouts,
    }


def _jd(moment: dt.datetime) -> float:
    return JD_OF_UNIX_EPOCH + moment.timestamp() / 86400


def _stamps(rng: np.random.Generator, obj: dict, magpsf: float):
    """Template (deep, good seeing), science (with the transient), and their difference."""
    seeing = float(rng.uniform(1.0, 1.8))
    template = obj["sky"] + _star_field(obj["stars"], sigma=1.0)
    template += rng.normal(0, 2.0, template.shape)
    transient_flux = 10 ** (-0.4 * (magpsf - 26.0))
    centre = np.array([[STAMP_SIZE / 2 - 0.5, STAMP_SIZE / 2 - 0.5, transient_flux]])
    scene = _star_field(np.vstack([obj["stars"], centre]), sigma=seeing)
    science = obj["sky"] + scene + rng.normal(0, 8.0, template.shape)
    difference = _star_field(centre, sigma=seeing) + rng.normal(0, 9.0, template.shape)
    stamps = [a.astype(np.float32) for a in (science, template, difference)]
    if obj["edge"]:
        stamps = [s[:, :-1].copy() for s in stamps]
        for s in stamps:
            s[:, :5] = np.nan
    return stamps


def _star_field(stars: np.ndarray, sigma: float) -> np.ndarray:
    grid = np.arange(STAMP_SIZE, dtype=float)
    x, y, flux = (stars[:, i, None, None] for i in range(3))
    profiles = np.exp(
        -((grid[None, None, :] - x) ** 2 + (grid[None, :, None] - y) ** 2) / (2 * sigma**2)
    )
    return (flux / (2 * np.pi * sigma**2) * profiles).sum(axis=0)


def _gzipped_fits(pixels: np.ndarray) -> bytes:
    from astropy.io import fits

    hdu = fits.PrimaryHDU(pixels.astype(">f4"))
    hdu.header["BUNIT"] = "DN"
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)


def _table(rows: list[dict]):
    import pyarrow as pa

    cutout = pa.struct([("fileName", pa.string()), ("stampData", pa.binary())])
    schema = pa.schema(
        [
            ("candid", pa.int64()),
            ("objectId", pa.string()),
            (
                "candidate",
                pa.struct(
                    [
                        ("jd", pa.float64()),
                        ("fid", pa.int32()),
                        ("candid", pa.int64()),
                        ("isdiffpos", pa.string()),
                        ("ra", pa.float64()),
                        ("dec", pa.float64()),
                        ("magpsf", pa.float32()),
                        ("sigmapsf", pa.float32()),
                        ("diffmaglim", pa.float32()),
                        ("rb", pa.float32()),
                        ("drb", pa.float32()),
                    ]
                ),
            ),
            ("cutoutScience", cutout),
            ("cutoutTemplate", cutout),
            ("cutoutDifference", cutout),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def write_quickstart(
    directory: str | Path, notebook: bytes, version: str | None = None
) -> tuple[Path, str]:
    """Put the quickstart notebook in `directory` without ever losing a user's edits.

    It is written when missing, or replaced when it is still the copy the demo last wrote (as
    recorded in ``.quickstart.ipynb.sha256``), e.g. by an older version. A copy that differs
    from both (edited by its user, or of unknown origin) is kept; if `notebook` is not the one
    it was edited from, `notebook` is written beside it as ``quickstart-<version>.ipynb``
    (unless that file exists). Files are written whole or not at all.

    Parameters
    ----------
    directory : path
        Where the notebook goes (the demo's lake root).
    notebook : bytes
        The package's quickstart notebook.
    version : str, optional
        The package's version (default: this one), for the name of a copy written beside.

    Returns
    -------
    (Path, str)
        The notebook to open (the user's if kept), and what was done, in words.
    """
    from fink_cutout_jupyter.storage.atomic import write_bytes_atomically

    directory = Path(directory)
    path = directory / QUICKSTART
    record = directory / QUICKSTART_WRITTEN
    digest = hashlib.sha256(notebook).hexdigest()
    if path.exists():
        current = hashlib.sha256(path.read_bytes()).hexdigest()
        written = record.read_text().strip() if record.is_file() else None
        if current == digest:
            if written != digest:
                write_bytes_atomically(record, f"{digest}\n".encode())
            return path, f"{path.name} is up to date"
        if current != written:
            kept = f"kept your edited {path.name}"
            if written == digest:  # the package's quickstart is the one it was edited from
                return path, kept
            if version is None:
                from fink_cutout_jupyter._version import __version__ as version
            beside = directory / f"quickstart-{version}.ipynb"
            if not beside.exists():
                write_bytes_atomically(beside, notebook)
            return path, f"{kept}; this version's quickstart: {beside.name}"
    write_bytes_atomically(path, notebook)
    write_bytes_atomically(record, f"{digest}\n".encode())
    return path, f"wrote {path.name}"
