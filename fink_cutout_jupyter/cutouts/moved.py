"""Alerts of a live night whose file was removed from the lake, served from where they are now.

Fink streams a night into ``<online_dir>/<YYYYMMDD>/``, merges it into the archive
(``<science_dir>/year=/month=/day=``) the next day, and deletes the live files later. An index
entry may still name a deleted live file: a server read its layout before the archived night was
indexed, or the follower has not indexed it yet. Its alert is then looked for again:

1. in the index read afresh, which gives the archived file once the night is indexed there;
2. else in the archived night's files, reading their alert id column only, and served from the
   file that holds it, its alert id checked in the same row as any indexed read;
3. else the reply says why there is none: 404 when the archived night is there without the
   alert, 503 (`NotArchivedYet`) while the archived night is not there yet.

A file outside the live nights that is gone answers as before (404 naming the file).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from fink_cutout_jupyter.cutouts.row_reads import NotAlertFile, RowReads
from fink_cutout_jupyter.errors import CutoutError, NotFound
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import Survey, survey_named

if TYPE_CHECKING:
    from fink_cutout_jupyter.cutouts.alerts import AlertCutouts
    from fink_cutout_jupyter.index.lookup import AlertIndex

logger = logging.getLogger(__name__)

Found = list["AlertCutouts | CutoutError | None"]
ReadAgain = Callable[[Sequence[AlertLocation]], list["AlertCutouts | CutoutError"]]


class NotArchivedYet(CutoutError):
    """A live night's file was removed and its archived night is not in the lake yet (HTTP 503:
    the merge is being written; retry later)."""

    status = 503


class MovedAlerts:
    """Find again the alerts whose live file was removed (see the module's text).

    Parameters
    ----------
    lake : Lake
    index : AlertIndex
        The index the locations came from: read afresh when one's file is gone.
    rows : RowReads
        The reader's row group reads (an archived file's alert ids).
    survey : Survey or None
        The lake's survey if configured (else the index's, else each file's own).
    """

    def __init__(
        self, lake: Lake, index: AlertIndex, rows: RowReads, survey: Survey | None = None
    ) -> None:
        self.lake = lake
        self.index = index
        self.rows = rows
        self.survey = survey

    def answer(
        self,
        path: str,
        entries: list[tuple[int, AlertLocation]],
        found: Found,
        read_again: ReadAgain,
    ) -> None:
        """Answer again, in `found`, the entries of `path` that failed because the file is gone
        and it was a live night's; `read_again` reads other locations (never moved again)."""
        night = self.lake.online_night_of(path)
        if night is None:
            return
        lost = [(p, location) for p, location in entries if _file_missing(found[p])]
        if not lost:
            return
        try:
            if self.lake.exists(path):  # the file is there: its NotFound is about its content
                return
        except CutoutError as error:
            _answer_all(found, lost, error)
            return
        logger.info(
            "%s was removed from the lake: looking for its %d alert(s) in the index read "
            "afresh, then in the archived night %s",
            path,
            len(lost),
            night,
        )
        left = self._from_index(path, lost, found, read_again)
        if left:
            try:
                self._from_archive(path, night, left, found, read_again)
            except CutoutError as error:
                _answer_all(found, left, error)

    def _from_index(
        self,
        path: str,
        lost: list[tuple[int, AlertLocation]],
        found: Found,
        read_again: ReadAgain,
    ) -> list[tuple[int, AlertLocation]]:
        """Read the entries the index, read afresh, places elsewhere; return the others."""
        self.index.refresh()
        elsewhere, left = [], []
        for position, location in lost:
            try:
                now = self.index.alert(location.alert_id)
            except NotFound:
                now = None
            except CutoutError as error:  # a damaged index: the archived night may still tell
                logger.warning("index lookup of alert %s failed: %s", location.alert_id, error)
                now = None
            if now is not None and now.path != path:
                elsewhere.append((position, now))
            else:
                left.append((position, location))
        if elsewhere:
            answers = read_again([location for _, location in elsewhere])
            for (position, _), answer in zip(elsewhere, answers, strict=True):
                found[position] = answer
        return left

    def _from_archive(
        self,
        path: str,
        night: dt.date,
        left: list[tuple[int, AlertLocation]],
        found: Found,
        read_again: ReadAgain,
    ) -> None:
        """Answer the entries from the archived night's files, or say why not."""
        files = self.lake.archive_night_files(night)
        if not files:
            for position, location in left:
                found[position] = NotArchivedYet(
                    f"candid: alert {location.alert_id}'s file {path} was removed from the lake "
                    "(a live night being merged into the archive?); the archived night "
                    f"{night:%Y-%m-%d} is not there yet: retry later"
                )
            return
        wanted = {location.alert_id for _, location in left}
        places: dict[int, tuple[str, int, int]] = {}
        for file in files:
            rows = self.rows.rows_of(file, wanted - set(places), self._survey_of(left[0][1]))
            places.update((alert_id, (file, *row)) for alert_id, row in rows.items())
            if len(places) == len(wanted):
                break
        identities = {file: self.lake.identity(file) for file, *_ in places.values()}
        moved = []
        for position, location in left:
            place = places.get(location.alert_id)
            if place is None:
                found[position] = NotFound(
                    f"candid: alert {location.alert_id}'s file {path} was removed from the lake "
                    f"and the archived night {night:%Y-%m-%d} does not hold it"
                )
                continue
            file, group, row = place
            size, mtime_ns = identities[file]
            archived = replace(
                location,
                path=file,
                row_group=group,
                row=row,
                file_size=size,
                file_mtime_ns=mtime_ns,
                page_spans=None,  # its pages are not mapped: read with its row group, proven
            )
            moved.append((position, archived))
        if moved:
            answers = read_again([location for _, location in moved])
            for (position, _), answer in zip(moved, answers, strict=True):
                found[position] = answer

    def _survey_of(self, location: AlertLocation) -> Survey | None:
        """The survey whose alert id column to read (None: each file's own)."""
        return self.survey or (survey_named(location.survey) if location.survey else None)


def _file_missing(answer: object) -> bool:
    """Whether an answer may say the file is missing (checked then with the lake)."""
    return isinstance(answer, NotFound) and not isinstance(answer, NotAlertFile)


def _answer_all(found: Found, entries: list[tuple[int, AlertLocation]], error: CutoutError) -> None:
    for position, _ in entries:
        found[position] = error
