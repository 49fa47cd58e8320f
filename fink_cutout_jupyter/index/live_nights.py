"""A live night followed: what Spark's file sink committed since the index's last part of it.

For every live night the index has not archived, the follower asks here for the sink's latest
committed batch (one listing of its log, `storage.sink_log`). When it is beyond what the index
holds, the files committed since are read from the log (never a part file the log does not
name), less the files already indexed for that night, and indexed as ONE part
(`parts.online_part`, batch = the sink's latest) in one write: a delta and a manifest that the
tiering merges (`deltas.write_nights`).

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


An empty micro-batch (a batch that committed no file, or only files already indexed) is not
written: the follower remembers, in memory, that it read the log up to it. Writing it would
cost a delta, a manifest and a layout (a second or so on HDFS) for no entry; after a restart,
the log is read again, and the subtraction makes it harmless.

"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from fink_cutout_jupyter.index.deltas import IndexedNight, write_nights
from fink_cutout_jupyter.index.entries import entry_schema
from fink_cutout_jupyter.index.manifests import online_indexed
from fink_cutout_jupyter.index.parts import archive_part
from fink_cutout_jupyter.index.spills import EntrySpill
from fink_cutout_jupyter.index.writes import writing
from fink_cutout_jupyter.storage.sink_log import latest_batch, read_commits

if TYPE_CHECKING:
    from fink_cutout_jupyter.index.follow import CycleReport, Follower

logger = logging.getLogger("fink_cutout_jupyter.index.follow")  # the follower's one log


class BatchReport(NamedTuple):
    """A live night's micro-batches indexed as one part."""

    night: dt.date
    first: int  # the first batch read from the log
    batch: int  # the part's batch: the latest committed when read
    files: int
    alerts: int
    seconds: float


@dataclass
class _LiveNight:
    """What the index holds of a live night, as this follower knows it."""

    published: int  # the layout's "online" batch `files` match
    files: dict[str, dict]  # path -> identity, indexed in the night's parts
    entries: int
    read_up_to: int  # the last batch of the log read (>= published: empty batches)


class LiveNights:
    """The live nights a follower indexes, and what it knows the index holds of each.

    Parameters
    ----------
    follower : Follower
        Whose index, lake, writer-lock wait and file reader are used.
    """

    def __init__(self, follower: Follower) -> None:
        self.follower = follower
        self.index = follower.index
        self.lake = follower.lake
        self._nights: dict[dt.date, _LiveNight] = {}

    def forget_archived(self, archived: set[int]) -> None:
        """Forget the nights the index has archived (no longer followed)."""
        for night in [n for n in self._nights if archive_part(n) in archived]:
            del self._nights[night]

    def forget(self, night: dt.date) -> None:
        """Forget one night (its archive was written in place of its live parts)."""
        self._nights.pop(night, None)

    def entries(self, night: dt.date, online: dict[str, int]) -> int | None:
        """The entries of the night's live parts, when what this follower knows matches the
        cycle's layout (`online`); None otherwise."""
        state = self._nights.get(night)
        if state is not None and state.published == online.get(f"{night:%Y%m%d}", -1):
            return state.entries
        return None

    def known(self, night: dt.date) -> bool:
        """Whether this follower has followed the night since it started."""
        return night in self._nights

    def follow(
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
            if file.path not in state.files and not self.follower.reader.skipped(file.path)
        ]
        if not new:
            state.read_up_to = commits.latest
            logger.debug("%s: batches to %d committed no new file", night, commits.latest)
            return
        with EntrySpill() as spill:  # a night caught up after an outage is never held whole
            read = self.follower.reader.read_into(
                spill, night, new, layout, report, batch=commits.latest
            )
            if read.survey is None:  # no file could be indexed (each logged)
                state.read_up_to = commits.latest
                return
            part = IndexedNight(
                night, entry_schema().empty_table(), read.identities, commits.latest, read.rows
            )
            with writing(self.index, self.follower.command, self.follower.wait) as session:
                current = session.working() or {}
                if archive_part(night) in current.get("archived", []):
                    return  # archived meanwhile: its live parts are hidden
                if current.get("online", {}).get(name, -1) != state.published:
                    del self._nights[night]  # another writer indexed it meanwhile: read again
                    return
                write_nights(self.index, [part], read.survey, spill)
        identities = read.identities
        first = 0 if rewound else state.read_up_to + 1
        if commits.latest <= state.published:
            # the log written again: this part replaced the index's part of that batch (its
            # files are gone with the old directory); read what the index holds next cycle
            del self._nights[night]
        else:
            state.files |= identities
            state.entries += read.rows
            state.published = state.read_up_to = commits.latest
        seconds = time.perf_counter() - started
        done_report = BatchReport(night, first, commits.latest, len(identities), read.rows, seconds)
        report.indexed.append(done_report)
        logger.info(
            "%s: batches %d-%d indexed: %d files, %d alerts, in %.2f s",
            night,
            first,
            commits.latest,
            len(identities),
            read.rows,
            seconds,
        )
