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
writer: started again, it reads the night's whole log once (a compact and at most nine batch
files) and subtracts the files already indexed, by path, so nothing is lost and nothing indexed
twice. The same check, made again under the writer lock just before each write, catches another
writer that indexed the night meanwhile.

A live night written again (its directory deleted and streamed again: batch ids from 0): when
the log's latest batch is behind the one this follower read up to (or the index's, at first
sight), a warning names both, and the log is read again from the start, less the files indexed
by path. The new batches' parts take their keys from the new log (`parts.online_part`): a part
of a batch the index already holds REPLACES that part (its entries and manifest), whose files
were in the deleted directory; parts of later batches of the first writing stay, their entries
naming deleted files (a lookup then serves the alert from the archive once archived, else a
clear 404/503), until the archived night hides every live part. The layout's ``"online"`` batch
keeps the larger number (`deltas`); after such a write this follower reads what the index holds
again. Every file of the new log is indexed: reading the whole log at first sight covers a
restart whatever the new log's batch. The archive may then look shorter than the live parts
(they count the first writing's entries): it waits until the live directory is gone.

A file that cannot be indexed for a reason of its own (not Parquet or corrupt, another survey
than the index's, named by the log but absent, a directory) is left out with an ERROR naming the
night and the file, and remembered in memory (read again after a restart); the night's other
files are indexed. A failing lake (`LakeUnavailable`) is not such a reason: the night is retried
at the next cycle. A malformed log (`CorruptData`: a path outside the night) fails the night,
said at most once an hour per message; any other exception of a night's step is logged with its
traceback, and the other nights go on. ``run(once=True)`` returns 1 when its cycle failed or
skipped files.

An empty micro-batch (a batch that committed no file, or only files already indexed) is not
written: the follower remembers, in memory, that it read the log up to it. Writing it would
cost a delta, a manifest and a layout (a second or so on HDFS) for no entry; after a restart,
the log is read again, and the subtraction makes it harmless.

Locks: ``follower.lock`` in the index root (`lock.FOLLOWER_LOCK`, with the writer lock's
heartbeat and stale rules) keeps a second follower out, refused at start naming the first.
Each write takes the index's writer lock for that write only (waiting `wait` seconds): when
another writer holds it (``index build``, ``index compact``), the write is logged and retried
at the next cycle, redone from the log. A ``<science_dir>/_temporary`` blocks every archived
night (a running job looks the same as a crashed one's leftover); seen for an hour, a warning
once an hour says since when, and to remove it if no Spark job writes the archive. With no live
night and neither ``online_dir`` nor ``science_dir`` in the lake, a warning names both (at the
first cycle, then hourly: 2 calls an hour).

Cost of an idle cycle (nothing committed, nothing merged), in calls to the lake's filesystem
(pyarrow calls): 1 read of ``layout.json``, 1 listing of ``online_dir``, 1 listing of each
followed night's ``_spark_metadata``, and for each night the index holds live, its archive
directory looked for (padded, then unpadded when that name differs: absent until the merge),
so 4 or 5 for one live night; while an archive settles, 2 more (its listing with the files'
sizes, ``_temporary``): 6; while a settled archive waits for more alerts, 1 more (the live
directory's existence): 7, the live alerts counted from what the follower knows (the manifests
are read only after a restart or another writer's write). Besides, the follower lock's
heartbeat: 5 calls a minute. Counted by ``tests/index/test_follow.py`` through a counting
pyarrow filesystem. On HDFS a listing is 3 NameNode calls (pyarrow asks for the directory's
status twice, then lists it): an idle cycle is 8 NameNode calls (counted in the audit log by
``tests/integration/test_live_night.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple

from fink_cutout_jupyter.errors import (
    BadParameter,
    CorruptData,
    CutoutError,
    IndexBusy,
    LakeUnavailable,
    NotFound,
)
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
HOUR = 3600.0  # seconds between two repeats of a lasting warning

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
    """Nights the lake failed on, or whose step raised (logged): retried next cycle."""
    skipped: list[tuple[dt.date, str]] = field(default_factory=list)
    """Files that cannot be indexed (night, path), logged; not retried until a restart."""

    def summary(self) -> str:
        """One line: what failed or was skipped ("" when nothing)."""
        parts = []
        if self.failed:
            parts.append("failed for " + ", ".join(str(night) for night in self.failed))
        if self.skipped:
            parts.append(
                f"{len(self.skipped)} files skipped ("
                + ", ".join(f"{night}: {path}" for night, path in self.skipped)
                + ")"
            )
        return "; ".join(parts)


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
        self.clock = time.monotonic  # what times the hourly warnings (a test may set it)
        self._nights: dict[dt.date, _LiveNight] = {}
        self._archives: dict[dt.date, _Archive] = {}
        self._skipped: dict[str, str] = {}  # path -> why it cannot be indexed (until a restart)
        self._said: dict[str, float] = {}  # a lasting warning -> when it was last logged
        self._temporary_since: tuple[float, float] | None = None  # (clock, wall time) first seen
        self._archived_said: set[dt.date] = set()
        self._layout_seen = False
        self._stop = threading.Event()

    # The loop

    def run(self, stop: threading.Event | None = None, once: bool = False) -> int:
        """Hold the follower lock and run a cycle every `interval` seconds until `stop` is set.

        In the main thread, SIGTERM and SIGINT set `stop`: the current write is finished, the
        locks released, and `run` returns; a second signal abandons the current write (nothing
        of it is published). A cycle that fails is logged and the next one runs.

        Returns
        -------
        int
            0; with `once`, 1 when the cycle failed (for a night, or whole) or skipped files
            (`last_report` says which).

        Raises
        ------
        IndexBusy
            At start, when another follower holds the index's follower lock (naming it).
        """
        self._stop = stop or threading.Event()
        self.last_report: CycleReport | None = None
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
        if not once:
            return 0
        report = self.last_report
        return 1 if report is None or report.failed or report.skipped else 0

    def _loop(self, once: bool) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.last_report = None
            try:
                self.last_report = self.cycle()
            except CutoutError as error:
                logger.warning("cycle failed, retried in %g s: %s", self.interval, error)
            except Exception:  # a bug: logged, the loop goes on
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
        nights = self.lake.online_nights()
        if not nights and not online:
            self._look_for_the_lake()
        for night in nights:
            if self._stop.is_set():
                continue
            if archive_part(night) in archived:
                if night not in self._archived_said:
                    self._archived_said.add(night)
                    logger.info("%s: archived: its live directory is no longer followed", night)
                continue
            self._guarded(report, night, self._follow, night, layout, online, report)
        for name in sorted(online):
            night = parse_night(name)
            if archive_part(night) in archived or self._stop.is_set():
                continue
            self._guarded(report, night, self._merge, night, layout, online, report)
        for night in [n for n in self._nights if archive_part(n) in archived]:
            del self._nights[night]
        return report

    def _guarded(self, report: CycleReport, night: dt.date, step, *args) -> None:
        """Run one night's step; a busy writer lock, a failing lake or a malformed log is
        logged, anything else with its traceback, and the night retried at the next cycle."""
        try:
            step(*args)
        except IndexBusy as error:
            logger.info("%s: write put off to the next cycle: %s", night, error)
            report.busy.append(night)
        except CorruptData as error:  # a malformed log: said again at most once an hour
            self._once_an_hour(f"{night}: {error}; retried at the next cycle")
            report.failed.append(night)
        except (CutoutError, OSError) as error:
            logger.warning("%s: %s; retried at the next cycle", night, error)
            report.failed.append(night)
        except Exception:
            logger.exception("%s: the cycle's step failed; retried at the next cycle", night)
            report.failed.append(night)

    def _once_an_hour(self, message: str) -> None:
        """Log a lasting warning, unless it was logged less than an hour ago."""
        now = self.clock()
        last = self._said.get(message)
        if last is None or now - last >= HOUR:
            self._said[message] = now
            logger.warning(message)

    def _look_for_the_lake(self) -> None:
        """No live night and none indexed: warn (at start, then hourly) when neither the live
        directory nor the archive exists (a wrong --lake, --online-dir or --science-dir)."""
        now = self.clock()
        last = self._said.get("missing directories")
        if last is not None and now - last < HOUR:
            return
        self._said["missing directories"] = now
        if not self.lake.exists(self.lake.online_dir) and not self.lake.exists(
            self.lake.science_dir
        ):
            logger.warning(
                "neither %s nor %s exists in %s: nothing to follow (check --lake, "
                "--online-dir and --science-dir)",
                self.lake.online_dir,
                self.lake.science_dir,
                redacted(self.lake.uri),
            )

    # Live nights

    def _follow(
        self, night: dt.date, layout: dict | None, online: dict[str, int], report: CycleReport
    ) -> None:
        """Index what the sink committed for `night` since the index's last part of it."""
        name = f"{night:%Y%m%d}"
        done = online.get(name, -1)
        state = self._nights.get(night)
        first_sight = state is None or state.published != done
        if first_sight:
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
        assert state is not None
        directory = self.lake.online_night_dir(night)
        latest = latest_batch(self.lake, directory)
        after = state.read_up_to
        rewound = latest < state.read_up_to
        if rewound:
            logger.warning(
                "%s: the sink's log went back to batch %d, this follower read up to batch %d: "
                "the live night was written again; reading its log from the start",
                night,
                latest,
                state.read_up_to,
            )
            after = -1
        elif first_sight and latest >= 0:
            after = -1  # what the index holds is subtracted by path: a log written again is safe
        elif latest == state.read_up_to:
            return
        started = time.perf_counter()
        commits = read_commits(self.lake, directory, after=after, latest=latest)
        new = [
            file.path
            for file in commits.files
            if file.path not in state.files and file.path not in self._skipped
        ]
        if not new:
            state.read_up_to = commits.latest
            logger.debug("%s: batches to %d committed no new file", night, commits.latest)
            return
        results = self._read(night, new, commits.latest, layout, report)
        if not results:
            state.read_up_to = commits.latest
            return
        entries, survey = _together(list(results.values()))
        identities = {path: result.identity for path, result in results.items()}
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
        first = 0 if rewound else state.read_up_to + 1
        if commits.latest <= state.published:
            # the log written again: this part replaced the index's part of that batch (its
            # files are gone with the old directory); read what the index holds next cycle
            del self._nights[night]
        else:
            state.files |= identities
            state.entries += entries.num_rows
            state.published = state.read_up_to = commits.latest
        seconds = time.perf_counter() - started
        done_report = BatchReport(
            night, first, commits.latest, len(results), entries.num_rows, seconds
        )
        report.indexed.append(done_report)
        logger.info(
            "%s: batches %d-%d indexed: %d files, %d alerts, in %.2f s",
            night,
            first,
            commits.latest,
            len(results),
            entries.num_rows,
            seconds,
        )

    # Archived nights

    def _merge(
        self, night: dt.date, layout: dict | None, online: dict[str, int], report: CycleReport
    ) -> None:
        """Write the archived night in place of its live parts once settled and covering."""
        sizes = self.lake.archive_night_sizes(night)  # one listing: names and sizes
        paths = list(sizes)
        if not paths:
            self._archives.pop(night, None)
            return
        signature = tuple(sorted(sizes.items()))
        running = self.lake.exists(f"{self.lake.science_dir}/{TEMPORARY}")
        self._watch_temporary(running)
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
            results = self._read(night, paths, None, layout, report)
            watch.alerts = sum(result.entries.num_rows for result in results.values())
        online_alerts = self._online_alerts(night, layout, online)
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
            results = self._read(night, paths, None, layout, report)
        entries, survey = _together(list(results.values()))
        identities = {path: result.identity for path, result in results.items()}
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
            MergeReport(night, len(results), entries.num_rows, online_alerts, seconds)
        )
        logger.info(
            "%s: archived night indexed in place of its live parts: %d files, %d alerts "
            "(live: %d), in %.2f s",
            night,
            len(results),
            entries.num_rows,
            online_alerts,
            seconds,
        )

    def _online_alerts(self, night: dt.date, layout: dict | None, online: dict[str, int]) -> int:
        """The entries of the night's live parts: what this follower knows when its state
        matches the cycle's layout, else counted from the manifests."""
        state = self._nights.get(night)
        if state is not None and state.published == online.get(f"{night:%Y%m%d}", -1):
            return state.entries
        current = read_layout(self.index.store) if state is not None else layout
        return online_indexed(self.index.store, current or {}, night)[1]

    def _watch_temporary(self, running: bool) -> None:
        """A ``_temporary`` seen for an hour: warned once an hour (a crashed merge leaves it)."""
        if not running:
            self._temporary_since = None
            return
        if self._temporary_since is None:
            self._temporary_since = (self.clock(), time.time())
            return
        first, wall = self._temporary_since
        if self.clock() - first < HOUR:
            return
        since = dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="seconds")
        self._once_an_hour(
            f"{self.lake.science_dir}/{TEMPORARY} has been there since {since}, blocking every "
            "archived night; if no Spark job writes the archive, remove it"
        )

    def _read(
        self,
        night: dt.date,
        paths: list[str],
        batch: int | None,
        layout: dict | None,
        report: CycleReport,
    ) -> dict[str, IndexedFile]:
        """Each file's entries (path -> its entries, in the order of `paths`), read on
        `workers` threads. A file that cannot be indexed for a reason of its own (missing, not
        Parquet, another survey) is logged, remembered and left out; a failing lake raises."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            outcomes = list(pool.map(self._entries_of, paths, repeat(night), repeat(batch)))
        expected = (layout or {}).get("survey")
        results: dict[str, IndexedFile] = {}
        for path, outcome in zip(paths, outcomes, strict=True):
            if isinstance(outcome, str):
                why = outcome
            elif expected is not None and outcome.survey.name != expected:
                why = f"its survey is {outcome.survey.name}, the index's is {expected}"
            else:
                expected = outcome.survey.name
                results[path] = outcome
                continue
            self._skipped[path] = why
            report.skipped.append((night, path))
            logger.error("%s: file %r skipped, it cannot be indexed: %s", night, path, why)
        return results

    def _entries_of(self, path: str, night: dt.date, batch: int | None) -> IndexedFile | str:
        """A file's entries, or why they cannot be read (a failing lake raises)."""
        try:
            return entries_of_file(self.lake, path, night, batch)
        except LakeUnavailable:
            raise
        except NotFound:
            return "no such file in the lake (deleted, never written, or a directory)"
        except CutoutError as error:
            return str(error)
        except (ValueError, TypeError, NotImplementedError) as error:  # pyarrow's ArrowInvalid..
            return f"not a Parquet file pyarrow can read: {error}"


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
