"""The follower: the live nights indexed as Spark commits them, then replaced by their archive.

Fink's streaming job appends each micro-batch of a live night to ``<online_dir>/<YYYYMMDD>/``
and commits it in the sink's log (`storage.sink_log`); the next day its merge writes the night
again under ``<science_dir>/year=/month=/day=``. A `Follower` polls the lake every `interval`
seconds (`Follower.cycle`), each night's step done by its own module:

- `live_nights`: each live night's new micro-batches indexed as one part.
- `archived_nights`: each archived night, once settled, written in place of its live parts.
- `night_reads`: the files read on worker threads; a file that cannot be indexed is skipped.

Locks: ``follower.lock`` in the index root (`lock.FOLLOWER_LOCK`, with the writer lock's
heartbeat and stale rules) keeps a second follower out, refused at start naming the first.
Each write takes the index's writer lock for that write only (waiting `wait` seconds): when
another writer holds it (``index build``, ``index compact``), the write is logged and retried
at the next cycle, redone from the log. With no live night and neither ``online_dir`` nor
``science_dir`` in the lake, a warning names both (at the first cycle, then hourly: 2 calls an
hour). Every step logs to this module's logger.

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

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fink_cutout_jupyter.errors import CorruptData, CutoutError, IndexBusy
from fink_cutout_jupyter.index.archived_nights import ArchivedNights, MergeReport
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.live_nights import BatchReport, LiveNights
from fink_cutout_jupyter.index.lock import FOLLOWER_LOCK, WriterLock
from fink_cutout_jupyter.index.night_reads import NightReader
from fink_cutout_jupyter.index.parts import archive_part
from fink_cutout_jupyter.storage.lake import parse_night
from fink_cutout_jupyter.storage.redaction import redacted

if TYPE_CHECKING:
    import datetime as dt

    from fink_cutout_jupyter.index.lookup import AlertIndex

__all__ = ["BatchReport", "CycleReport", "Follower", "MergeReport"]

COMMAND = "index follow"
HOUR = 3600.0  # seconds between two repeats of a lasting warning

logger = logging.getLogger(__name__)


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
        self.command = COMMAND
        self.clock = time.monotonic  # what times the hourly warnings (a test may set it)
        self.reader = NightReader(self.lake, self.workers)
        self.live = LiveNights(self)
        self.archived = ArchivedNights(self)
        self._said: dict[str, float] = {}  # a lasting warning -> when it was last logged
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
            self._guarded(report, night, self.live.follow, night, layout, online, report)
        for name in sorted(online):
            night = parse_night(name)
            if archive_part(night) in archived or self._stop.is_set():
                continue
            self._guarded(report, night, self.archived.merge, night, layout, online, report)
        self.live.forget_archived(archived)
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
            self.once_an_hour(f"{night}: {error}; retried at the next cycle")
            report.failed.append(night)
        except (CutoutError, OSError) as error:
            logger.warning("%s: %s; retried at the next cycle", night, error)
            report.failed.append(night)
        except Exception:
            logger.exception("%s: the cycle's step failed; retried at the next cycle", night)
            report.failed.append(night)

    def once_an_hour(self, message: str) -> None:
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
