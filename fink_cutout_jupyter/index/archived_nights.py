"""An archived night watched until it settles, then written in place of its live parts.

For every live night the index holds (the layout's ``"online"``), the follower asks here whether
its archive directory has files. Once they are settled (the same names and sizes for
`settle_cycles` cycles in a row, and no ``<science_dir>/_temporary`` of a Spark job still
running), the archived night is indexed whole and written in one write that hides the night's
live parts (readers see one or the other, never neither nor both; its entries go through an
`spills.EntrySpill` as its files are read: a Rubin night is never held whole), provided it holds
at least as many alerts as the live parts it replaces; otherwise a warning, and the follower
waits (unless the live night's directory is gone: then its files are gone too, and the archive
is written).

A ``<science_dir>/_temporary`` blocks every archived night (a running job looks the same as a
crashed one's leftover); seen for an hour, a warning once an hour says since when, and to remove
it if no Spark job writes the archive.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from fink_cutout_jupyter.index.deltas import IndexedNight, write_nights
from fink_cutout_jupyter.index.entries import entry_schema
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.manifests import online_indexed
from fink_cutout_jupyter.index.parts import archive_part
from fink_cutout_jupyter.index.spills import EntrySpill
from fink_cutout_jupyter.index.writes import writing

if TYPE_CHECKING:
    from fink_cutout_jupyter.index.follow import CycleReport, Follower

TEMPORARY = "_temporary"  # where a Spark batch job's files are until its job commit
HOUR = 3600.0  # seconds a _temporary is seen before it is warned of

logger = logging.getLogger("fink_cutout_jupyter.index.follow")  # the follower's one log


class MergeReport(NamedTuple):
    """An archived night written in place of its live parts."""

    night: dt.date
    files: int
    alerts: int
    online_alerts: int  # the live parts' entries it replaced
    seconds: float


@dataclass
class _Archive:
    """An archived night watched until it settles."""

    signature: tuple[tuple[str, int], ...]  # (path, size) of its files
    seen: int  # consecutive cycles it was seen so, without a running job
    alerts: int | None = None  # counted, when they did not cover the live night


class ArchivedNights:
    """The archived nights of followed live nights, watched until they settle and written.

    Parameters
    ----------
    follower : Follower
        Whose index, lake, settle cycles, writer-lock wait, file reader, live nights, clock
        and hourly warnings are used.
    """

    def __init__(self, follower: Follower) -> None:
        self.follower = follower
        self.index = follower.index
        self.lake = follower.lake
        self._archives: dict[dt.date, _Archive] = {}
        self._temporary_since: tuple[float, float] | None = None  # (clock, wall time) first seen

    def merge(
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
        if watch.seen < self.follower.settle_cycles:
            logger.info(
                "%s: the archived night (%d files) is settling%s",
                night,
                len(paths),
                " (a Spark job is writing the archive)" if running else "",
            )
            return
        started = time.perf_counter()
        with EntrySpill() as spill:  # the night's entries, never held whole (a Rubin night)
            read = None
            if watch.alerts is None:
                read = self.follower.reader.read_into(spill, night, paths, layout, report)
                watch.alerts = read.rows
            online_alerts = self._online_alerts(night, layout, online)
            if watch.alerts < online_alerts:
                if self.lake.exists(self.lake.online_night_dir(night)):
                    if read is not None:  # warned once for these files
                        logger.warning(
                            "%s: the archived night holds %d alerts, fewer than the %d indexed "
                            "from the live night: waiting for the merge to complete",
                            night,
                            watch.alerts,
                            online_alerts,
                        )
                    return
                logger.warning(
                    "%s: the archived night holds %d alerts, fewer than the %d indexed from the "
                    "live night, whose directory is gone: writing the archive",
                    night,
                    watch.alerts,
                    online_alerts,
                )
            if read is None:
                read = self.follower.reader.read_into(spill, night, paths, layout, report)
            if read.survey is None:
                logger.warning("%s: no file of the archived night can be indexed", night)
                report.failed.append(night)
                return
            part = IndexedNight(
                night, entry_schema().empty_table(), read.identities, entry_count=read.rows
            )
            with writing(self.index, self.follower.command, self.follower.wait) as session:
                if archive_part(night) in (session.working() or {}).get("archived", []):
                    self._archives.pop(night, None)
                    return  # archived by another writer
                write_nights(self.index, [part], read.survey, spill)
        del self._archives[night]
        self.follower.live.forget(night)
        report.waiting.remove(night)
        seconds = time.perf_counter() - started
        files = len(read.identities)
        report.merged.append(MergeReport(night, files, read.rows, online_alerts, seconds))
        logger.info(
            "%s: archived night indexed in place of its live parts: %d files, %d alerts "
            "(live: %d), in %.2f s",
            night,
            files,
            read.rows,
            online_alerts,
            seconds,
        )

    def _online_alerts(self, night: dt.date, layout: dict | None, online: dict[str, int]) -> int:
        """The entries of the night's live parts: what this follower knows when its state
        matches the cycle's layout, else counted from the manifests."""
        known = self.follower.live.entries(night, online)
        if known is not None:
            return known
        current = read_layout(self.index.store) if self.follower.live.known(night) else layout
        return online_indexed(self.index.store, current or {}, night)[1]

    def _watch_temporary(self, running: bool) -> None:
        """A ``_temporary`` seen for an hour: warned once an hour (a crashed merge leaves it)."""
        if not running:
            self._temporary_since = None
            return
        if self._temporary_since is None:
            self._temporary_since = (self.follower.clock(), time.time())
            return
        first, wall = self._temporary_since
        if self.follower.clock() - first < HOUR:
            return
        since = dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="seconds")
        self.follower.once_an_hour(
            f"{self.lake.science_dir}/{TEMPORARY} has been there since {since}, blocking every "
            "archived night; if no Spark job writes the archive, remove it"
        )
