"""The follower: the live nights indexed as Spark commits them, then replaced by their archive.

Fink's streaming job appends each micro-batch of a live night to ``<online_dir>/<YYYYMMDD>/``
and commits it in the sink's log (`storage.sink_log`); the next day its merge writes the night
again under ``<science_dir>/year=/month=/day=``. A `Follower` polls the lake every `interval`
seconds (`Follower.cycle`):

- For every live night the index has not archived, the sink's latest committed batch (one
  listing of its log). When it is beyond what the index holds, the files committed since are
  read from the log (never a part file the log does not name), less the files already indexed
  for that night, and indexed as ONE part (`parts.online_part`, batch = the sink's latest) in
  one write: a delta and a manifest that the tiering merges (`deltas.write_nights`).
- For every live night the index holds (the layout's ``"online"``), whether its archive
  directory has files. Once they are settled (the same names and sizes for `settle_cycles`
  cycles in a row, and no ``<science_dir>/_temporary`` of a Spark job still running), the
  archived night is indexed whole and written in one write that hides the night's live parts
  (readers see one or the other, never neither nor both), provided it holds at least as many
  alerts as the live parts it replaces; otherwise a warning, and the follower waits (unless the
  live night's directory is gone: then its files are gone too, and the archive is written).

Restart: the follower keeps nothing of its own. What the index holds is its resume point: the
layout's ``"online"`` batch of each night and the files its manifests record
(`manifests.online_indexed`), published together in one write. A follower killed at any point
(SIGKILL) leaves either the write published, or files no layout names, swept by the next
writer: started again, it reads the log from the published batch and subtracts the files already
indexed, so nothing is lost and nothing indexed twice. The same check, made again under the
writer lock just before each write, catches another writer that indexed the night meanwhile.

An empty micro-batch (a batch that committed no file, or only files already indexed) is not
written: the follower remembers, in memory, that it read the log up to it. Writing it would
cost a delta, a manifest and a layout (a second or so on HDFS) for no entry; after a restart,
the log is read again from the last part written, and the subtraction makes it harmless.

Locks: ``follower.lock`` in the index root (`lock.FOLLOWER_LOCK`, with the writer lock's
heartbeat and stale rules) keeps a second follower out, refused at start naming the first.
Each write takes the index's writer lock for that write only (waiting `wait` seconds): when
another writer holds it (``index build``, ``index compact``), the write is logged and retried
at the next cycle, redone from the log.

Cost of an idle cycle (nothing committed, nothing merged), in calls to the lake's filesystem
(each one NameNode call on HDFS): 1 read of ``layout.json``, 1 listing of ``online_dir``,
1 listing of each followed night's ``_spark_metadata``, and for each night the index holds
live, 1 or 2 listings of its archive directory (padded, then unpadded when that name differs:
absent until the merge), so 4 or 5 for one live night; while an archive waits to settle, 3
(its listing, its sizes, ``_temporary``). Besides, the follower lock's heartbeat: 5 calls a minute. Counted by
``tests/index/test_follow.py`` through a counting pyarrow filesystem.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple

from fink_cutout_jupyter.errors import BadParameter, CutoutError, IndexBusy
from fink_cutout_jupyter.index.build import IndexedFile, entries_of_file
from fink_cutout_jupyter.index.deltas import IndexedNight, write_nights
from fink_cutout_jupyter.index.entries import entry_schema
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.lock import FOLLOWER_LOCK, WriterLock
from fink_cutout_jupyter.index.manifests import online_indexed
from fink_cutout_jupyter.index.parts import archive_part
from fink_cutout_jupyter.index.writes import writing
from fink_cutout_jupyter.storage.lake import parse_night
from fink_cutout_jupyter.storage.redaction import redacted
from fink_cutout_jupyter.storage.sink_log import latest_batch, read_commits

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.index.lookup import AlertIndex

COMMAND = "index follow"
TEMPORARY = "_temporary"  # where a Spark batch job's files are until its job commit

logger = logging.getLogger(__name__)


class BatchReport(NamedTuple):
    """A live night's micro-batches indexed as one part."""

    night: dt.date
    first: int  # the first batch read from the log
    batch: int  # the part's batch: the latest committed when read
    files: int
    alerts: int
    seconds: float


class MergeReport(NamedTuple):
    """An archived night written in place of its live parts."""

    night: dt.date
    files: int
    alerts: int
    online_alerts: int  # the live parts' entries it replaced
    seconds: float


@dataclass
class CycleReport:
    """What one cycle did."""

    indexed: list[BatchReport] = field(default_factory=list)
    merged: list[MergeReport] = field(default_factory=list)
    waiting: list[dt.date] = field(default_factory=list)
    """Archived nights seen but not written yet (not settled, or not covering the live one)."""
    busy: list[dt.date] = field(default_factory=list)
    """Nights whose write was refused (the writer lock held by another): retried next cycle."""
    failed: list[dt.date] = field(default_factory=list)
    """Nights the lake failed on (logged): retried next cycle."""


@dataclass
class _LiveNight:
    """What the index holds of a live night, as this follower knows it."""

    published: int  # the layout's "online" batch `files` match
    files: dict[str, dict]  # path -> identity, indexed in the night's parts
    entries: int
    read_up_to: int  # the last batch of the log read (>= published: empty batches)


@dataclass
class _Archive:
    """An archived night watched until it settles."""

    signature: tuple[tuple[str, int], ...]  # (path, size) of its files
    seen: int  # consecutive cycles it was seen so, without a running job
    alerts: int | None = None  # counted, when they did not cover the live night


class Follower:
    """Index the live nights of a lake as they are committed, and their merge into the archive.

    Parameters
    ----------
    index : AlertIndex
        The index to keep up to date; its lake's ``online_dir`` and ``science_dir`` are the
        live nights and the archive.
    interval : float
        Seconds between the starts of two cycles (`run`).
    workers : int
        Files read in parallel when indexing.
    settle_cycles : int
        Cycles an archived night must be seen unchanged before it is indexed.
    wait : float
        Seconds a write waits for the index's writer lock before it is retried next cycle.
    """

    def __init__(
        self,
        index: AlertIndex,
        interval: float = 5.0,
        workers: int = 4,
        settle_cycles: int = 2,
        wait: float = 0.0,
    ) -> None:
        self.index = index
        self.lake = index.lake
        self.interval = interval
        self.workers = max(1, workers)
        self.settle_cycles = max(1, settle_cycles)
        self.wait = wait
        self._nights: dict[dt.date, _LiveNight] = {}
        self._archives: dict[dt.date, _Archive] = {}
        self._layout_seen = False
        self._stop = threading.Event()

    # The loop

    def run(self, stop: threading.Event | None = None, once: bool = False) -> None:
        """Hold the follower lock and run a cycle every `interval` seconds until `stop` is set.

        In the main thread, SIGTERM and SIGINT set `stop`: the current write is finished, the
        locks released, and `run` returns; a second signal abandons the current write (nothing
        of it is published). A cycle that fails is logged and the next one runs.

        Raises
        ------
        IndexBusy
            At start, when another follower holds the index's follower lock (naming it).
        """
        self._stop = stop or threading.Event()
        restore = _stop_on_signals(self._stop)
        try:
            with WriterLock(self.index.store, COMMAND, name=FOLLOWER_LOCK):
                logger.info(
                    "following %s of %s (archive %s), index %s, every %g s",
                    self.lake.online_dir,
                    redacted(self.lake.uri),
                    self.lake.science_dir,
                    redacted(self.index.store.uri),
                    self.interval,
                )
                self._loop(once)
        except KeyboardInterrupt:
            logger.warning("stopped again while writing: the current write is abandoned")
        finally:
            restore()
        logger.info("follower stopped")

    def _loop(self, once: bool) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.cycle()
            except CutoutError as error:
                logger.warning("cycle failed, retried in %g s: %s", self.interval, error)
            except Exception:  # a bug or a file pyarrow cannot read: logged, the loop goes on
                logger.exception("cycle failed, retried in %g s", self.interval)
            if once:
                return
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def cycle(self) -> CycleReport:
        """One poll of the lake: new micro-batches indexed, settled archives written."""
        report = CycleReport()
        layout = read_layout(self.index.store, look_first=not self._layout_seen)
        self._layout_seen = layout is not None
        online = dict((layout or {}).get("online", {}))
        archived = set((layout or {}).get("archived", []))
        for night in self.lake.online_nights():
            if archive_part(night) in archived or self._stop.is_set():
                continue
            self._guarded(report, night, self._follow, night, layout, online, report)
        for name in sorted(online):
            night = parse_night(name)
            if archive_part(night) in archived or self._stop.is_set():
                continue
            self._guarded(report, night, self._merge, night, report)
        for night in [n for n in self._nights if archive_part(n) in archived]:
            del self._nights[night]
        return report

    def _guarded(self, report: CycleReport, night: dt.date, step, *args) -> None:
        """Run one night's step; a busy writer lock or a failing lake is logged, and the
        night retried at the next cycle."""
        try:
            step(*args)
        except IndexBusy as error:
            logger.info("%s: write put off to the next cycle: %s", night, error)
            report.busy.append(night)
        except (CutoutError, OSError) as error:
            logger.warning("%s: %s; retried at the next cycle", night, error)
            report.failed.append(night)

    # Live nights

    def _follow(
        self, night: dt.date, layout: dict | None, online: dict[str, int], report: CycleReport
    ) -> None:
        """Index what the sink committed for `night` since the index's last part of it."""
        name = f"{night:%Y%m%d}"
        done = online.get(name, -1)
        state = self._nights.get(night)
        if state is None or state.published != done:
            if state is not None:
                logger.info(
                    "%s: the index holds batch %d, this follower wrote %d: another writer "
                    "indexed the night; reading what the index holds",
                    night,
                    done,
                    state.published,
                )
            files: dict[str, dict] = {}
            entries = 0
            if layout is not None and name in online:
                files, entries = online_indexed(self.index.store, layout, night)
            state = self._nights[night] = _LiveNight(done, files, entries, done)
        directory = self.lake.online_night_dir(night)
        latest = latest_batch(self.lake, directory)
        if latest <= state.read_up_to:
            return
        started = time.perf_counter()
        commits = read_commits(self.lake, directory, after=state.read_up_to, latest=latest)
        new = [file.path for file in commits.files if file.path not in state.files]
        if not new:
            state.read_up_to = commits.latest
            logger.debug("%s: batches to %d committed no new file", night, commits.latest)
            return
        results = self._read(night, new, commits.latest)
        entries, survey = _together(results)
        identities = {path: result.identity for path, result in zip(new, results, strict=True)}
        with writing(self.index, COMMAND, self.wait) as session:
            current = session.working() or {}
            if archive_part(night) in current.get("archived", []):
                return  # archived meanwhile: its live parts are hidden
            if current.get("online", {}).get(name, -1) != state.published:
                del self._nights[night]  # another writer indexed it meanwhile: read it again
                return
            write_nights(
                self.index, [IndexedNight(night, entries, identities, commits.latest)], survey
            )
        first = state.read_up_to + 1
        state.files |= identities
        state.entries += entries.num_rows
        state.published = state.read_up_to = commits.latest
        seconds = time.perf_counter() - started
        done_report = BatchReport(night, first, commits.latest, len(new), entries.num_rows, seconds)
        report.indexed.append(done_report)
        logger.info(
            "%s: batches %d-%d indexed: %d files, %d alerts, in %.2f s",
            night,
            first,
            commits.latest,
            len(new),
            entries.num_rows,
            seconds,
        )

    # Archived nights

    def _merge(self, night: dt.date, report: CycleReport) -> None:
        """Write the archived night in place of its live parts once settled and covering."""
        paths = self.lake.archive_night_files(night)
        if not paths:
            self._archives.pop(night, None)
            return
        sizes = {name: size for name, size, _ in self.lake.list_files(posixpath.dirname(paths[0]))}
        signature = tuple(sorted((path, sizes.get(posixpath.basename(path), -1)) for path in paths))
        running = self.lake.exists(f"{self.lake.science_dir}/{TEMPORARY}")
        watch = self._archives.get(night)
        if watch is None or watch.signature != signature or running:
            watch = self._archives[night] = _Archive(signature, 0 if running else 1)
        else:
            watch.seen += 1
        report.waiting.append(night)
        if watch.seen < self.settle_cycles:
            logger.info(
                "%s: the archived night (%d files) is settling%s",
                night,
                len(paths),
                " (a Spark job is writing the archive)" if running else "",
            )
            return
        started = time.perf_counter()
        results = None
        if watch.alerts is None:
            results = self._read(night, paths, None)
            watch.alerts = sum(result.entries.num_rows for result in results)
        layout = read_layout(self.index.store) or {}
        _, online_alerts = online_indexed(self.index.store, layout, night)
        if watch.alerts < online_alerts:
            if self.lake.exists(self.lake.online_night_dir(night)):
                if results is not None:  # warned once for these files
                    logger.warning(
                        "%s: the archived night holds %d alerts, fewer than the %d indexed from "
                        "the live night: waiting for the merge to complete",
                        night,
                        watch.alerts,
                        online_alerts,
                    )
                return
            logger.warning(
                "%s: the archived night holds %d alerts, fewer than the %d indexed from the live "
                "night, whose directory is gone: writing the archive",
                night,
                watch.alerts,
                online_alerts,
            )
        if results is None:
            results = self._read(night, paths, None)
        entries, survey = _together(results)
        identities = {path: result.identity for path, result in zip(paths, results, strict=True)}
        with writing(self.index, COMMAND, self.wait) as session:
            if archive_part(night) in (session.working() or {}).get("archived", []):
                self._archives.pop(night, None)
                return  # archived by another writer
            write_nights(self.index, [IndexedNight(night, entries, identities)], survey)
        del self._archives[night]
        self._nights.pop(night, None)
        report.waiting.remove(night)
        seconds = time.perf_counter() - started
        report.merged.append(
            MergeReport(night, len(paths), entries.num_rows, online_alerts, seconds)
        )
        logger.info(
            "%s: archived night indexed in place of its live parts: %d files, %d alerts "
            "(live: %d), in %.2f s",
            night,
            len(paths),
            entries.num_rows,
            online_alerts,
            seconds,
        )

    def _read(self, night: dt.date, paths: list[str], batch: int | None) -> list[IndexedFile]:
        """Each file's entries (in the order of `paths`), read on `workers` threads."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(
                pool.map(entries_of_file, repeat(self.lake), paths, repeat(night), repeat(batch))
            )


def _together(results: list[IndexedFile]) -> tuple[pa.Table, str]:
    """The files' entries in one table, and their one survey."""
    import pyarrow as pa

    surveys = {result.survey.name for result in results}
    if len(surveys) > 1:
        raise BadParameter(f"survey: the index holds one survey, found {sorted(surveys)}")
    tables = [result.entries for result in results] or [entry_schema().empty_table()]
    return pa.concat_tables(tables), next(iter(surveys))


def _stop_on_signals(stop: threading.Event):
    """In the main thread, SIGTERM and SIGINT set `stop` (a second one interrupts); returns
    what puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(number, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        logger.info("%s: stopping after the current write", signal.Signals(number).name)
        stop.set()

    previous = {number: signal.signal(number, handle) for number in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore
