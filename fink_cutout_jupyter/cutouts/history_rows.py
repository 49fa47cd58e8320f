"""The latest alert's row read for its history: only the leaves a point needs, proven.

Where each survey keeps its history (`HISTORIES`: ZTF's ``prv_candidates``, Rubin's
``prvDiaSources`` and ``prvDiaForcedSources``) and `read_latest_row`: the row's flat leaves and
its lists' leaves, a page per leaf through the Parquet offset index (`parquet.row_leaves`), or
pyarrow's read of only those leaf columns of the row group; proven to be the alert's (its stored
alert id); a removed live file looked for in its archived night, as `moved` does for stamps.
Stored bytes that do not decode are `CorruptData` (502) naming the alert and the file, a
filesystem that fails to serve them `LakeUnavailable` (503), as `decoding` judges them.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, replace
from typing import Any

from fink_cutout_jupyter.cutouts.decoding import StoredDecoder
from fink_cutout_jupyter.cutouts.row_reads import NotAlertFile, RowReads, open_parquet
from fink_cutout_jupyter.errors import CorruptData, NotFound
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.parquet.columns import leaf_paths
from fink_cutout_jupyter.parquet.row_leaves import NoOffsetIndex, Unsupported, read_row
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import LSST, ZTF, Survey

logger = logging.getLogger(__name__)

DETECTION, FORCED, UPPER_LIMIT = "detection", "forced", "upper_limit"


@dataclass(frozen=True)
class HistoryList:
    """One list column of an alert's history: the leaves of its elements a point is made of.

    Attributes
    ----------
    column : str
        The list column (``prvDiaSources``).
    kind : str
        The kind of its points (`DETECTION` or `FORCED`).
    time, band, value, error : str
        Leaf names in an element: time (in the survey's time scale), band, magnitude or flux
        and its error.
    alert_id : str or None
        Leaf of the element's alert id; ``None`` where its points have no alert.
    limit : str or None
        Leaf of the depth of a non-detection: an element without an alert id is then an
        `UPPER_LIMIT` at that depth (ZTF).
    sources : tuple of str
        Leaves of the element read for the alert's catalog (`SOURCE_LEAVES`): its position.
    """

    column: str
    kind: str
    time: str
    band: str
    value: str
    error: str
    alert_id: str | None = None
    limit: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def leaves(self) -> tuple[str, ...]:
        """The element's leaves read."""
        names = (self.alert_id, self.time, self.band, self.value, self.error, self.limit)
        return (*(name for name in names if name), *self.sources)


@dataclass(frozen=True)
class SurveyHistory:
    """Where a survey's alerts keep their history, and the time system of its times."""

    lists: tuple[HistoryList, ...]
    time_system: str  # astropy's scale of the stored times: ZTF's jd is UTC, Rubin's MJD TAI


HISTORIES = {
    ZTF.name: SurveyHistory(
        (
            HistoryList(
                "prv_candidates",
                DETECTION,
                time="jd",
                band="fid",
                value="magpsf",
                error="sigmapsf",
                alert_id="candid",
                limit="diffmaglim",
            ),
        ),
        time_system="utc",
    ),
    LSST.name: SurveyHistory(
        (
            HistoryList(
                "prvDiaSources",
                DETECTION,
                time="midpointMjdTai",
                band="band",
                value="psfFlux",
                error="psfFluxErr",
                alert_id="diaSourceId",
                sources=("ra", "dec"),
            ),
            HistoryList(
                "prvDiaForcedSources",
                FORCED,
                time="midpointMjdTai",
                band="band",
                value="psfFlux",
                error="psfFluxErr",
            ),
        ),
        time_system="tai",
    ),
}


# The latest alert's own leaves read for its catalog (``/api/v1/history``'s ``sources``): ZTF's
# nearest reference source and Pan-STARRS distances, Rubin's DIA object position.
SOURCE_LEAVES = {
    ZTF.name: (
        "candidate.ranr",
        "candidate.decnr",
        "candidate.distnr",
        "candidate.distpsnr1",
        "candidate.distpsnr2",
        "candidate.distpsnr3",
    ),
    LSST.name: ("diaObject.ra", "diaObject.dec"),
}


@dataclass(frozen=True)
class StoredRow:
    """The latest alert's row as read: its flat leaves (one value each) and its history's leaves
    (one list per leaf, an entry per element; ``None`` for a null list). ``proven`` says the row
    holds the alert (its stored alert id); ``has_history`` that the file has history columns."""

    proven: bool
    has_history: bool
    flat: dict[str, Any]
    lists: dict[str, list[Any] | None]


def history_leaf_paths(paths: list[str], history: SurveyHistory) -> dict[tuple[str, str], str]:
    """The file's leaf path of each (list column, element leaf) the history reads."""
    by_name = {}
    for path in paths:
        names = path.split(".")
        if len(names) == 4:  # <column>.list.element.<leaf> (or Spark's legacy names)
            by_name[names[0], names[3]] = path
    return {
        (item.column, name): by_name[item.column, name]
        for item in history.lists
        for name in item.leaves
        if (item.column, name) in by_name
    }


def flat_leaf_paths(survey: Survey) -> tuple[str, ...]:
    """The latest alert's own leaves: alert id, time, band, value and error, and its catalog's
    (`SOURCE_LEAVES`)."""
    return (
        survey.alert_id_column,
        survey.time_column,
        survey.filter_column,
        survey.magnitude_column,
        survey.magnitude_error_column,
        *SOURCE_LEAVES.get(survey.name, ()),
    )


def read_latest_row(
    lake: Lake, location: AlertLocation, survey: Survey, history: SurveyHistory | None
) -> StoredRow:
    """The alert's row: its own leaves and its history's.

    Only those leaf columns are read: through the file's offset index, the one page of each
    holding the row (`parquet.row_leaves`); in a file without one (or with pages the page
    reader does not decode, or leaves of one list that disagree on its length), pyarrow's read
    of those columns of the row group. A removed file gives an unproven row, unless it was a
    live night's and its archived night holds the alert (then that row is read).

    Raises
    ------
    CorruptData
        The file's bytes do not decode (naming the alert and the file).
    LakeUnavailable
        The filesystem failed to serve them.
    """
    try:
        return _read_judged(lake, location, survey, history)
    except NotAlertFile as error:
        raise CorruptData(f"the row of alert {location.alert_id}: {error}") from None
    except NotFound:
        if lake.exists(location.path):
            raise
    archived = _archived(lake, location, survey)
    if archived is None:
        logger.info(
            "history of alert %s: its file %s was removed from the lake",
            location.alert_id,
            location.path,
        )
        return StoredRow(False, False, {}, {})
    try:
        return _read_judged(lake, archived, survey, history)
    except NotFound as error:  # removed again, or not an alert file (found by its alert id)
        logger.info("history of alert %s: %s", location.alert_id, error)
        return StoredRow(False, False, {}, {})


_DECODERS: weakref.WeakKeyDictionary[Lake, StoredDecoder] = weakref.WeakKeyDictionary()
_DECODERS_LOCK = threading.Lock()


def _decoder(lake: Lake) -> StoredDecoder:
    """The lake's judge of failed reads (one per lake: its whole-file probes one at a time)."""
    with _DECODERS_LOCK:
        decoder = _DECODERS.get(lake)
        if decoder is None:
            decoder = _DECODERS[lake] = StoredDecoder(lake)
        return decoder


def _read_judged(
    lake: Lake, location: AlertLocation, survey: Survey, history: SurveyHistory | None
) -> StoredRow:
    """`_read_row`, its failures judged: `CorruptData` (naming the alert) or `LakeUnavailable`."""
    try:
        with _decoder(lake).judging(location.path):
            return _read_row(lake, location, survey, history)
    except CorruptData as error:
        raise CorruptData(f"the row of alert {location.alert_id}: {error}") from None


def _archived(lake: Lake, location: AlertLocation, survey: Survey) -> AlertLocation | None:
    """Where the alert of a removed live night's file is now: the archived night's file holding
    its alert id (each file's alert id column read), or None."""
    night = lake.online_night_of(location.path)
    if night is None:
        return None
    rows = RowReads(lake, survey, _decoder(lake))
    for path in lake.archive_night_files(night):
        try:
            found = rows.rows_of(path, {location.alert_id}, survey)
        except NotFound:  # removed since listed, or not an alert file
            continue
        if location.alert_id in found:
            group, row = found[location.alert_id]
            logger.info(
                "history of alert %s: its live file %s was removed; read from %s",
                location.alert_id,
                location.path,
                path,
            )
            return replace(location, path=path, row_group=group, row=row, page_spans=None)
    return None


def _read_row(
    lake: Lake, location: AlertLocation, survey: Survey, history: SurveyHistory | None
) -> StoredRow:
    with lake.open(location.path) as source:
        parquet = open_parquet(source, location.path)
        paths = leaf_paths(parquet.schema)
        nested = history_leaf_paths(paths, history) if history else {}
        flat = [path for path in flat_leaf_paths(survey) if path in paths]
        wanted = [*flat, *dict.fromkeys(nested.values())]
        group, row = location.row_group, location.row
        if not (
            0 <= group < parquet.num_row_groups
            and 0 <= row < parquet.metadata.row_group(group).num_rows
        ):
            return StoredRow(False, bool(nested), {}, {})
        try:
            key = (lake.resolve(location.path), source.size())
            values = read_row(source, parquet, group, row, wanted, key)
            if not _lists_agree(values, nested):
                raise Unsupported("the leaves of a list disagree on its length")
        except (NoOffsetIndex, Unsupported):
            values = _read_with_pyarrow(parquet, group, row, flat, nested)
    flat_values = {path: values[path] for path in flat}
    lists = {path: values[path] for path in nested.values()}
    proven = flat_values.get(survey.alert_id_column) == location.alert_id
    return StoredRow(proven, bool(nested), flat_values, lists)


def _lists_agree(values: dict[str, Any], nested: dict[tuple[str, str], str]) -> bool:
    """Whether the leaves read of each list column agree on its length (or on its being null):
    leaves read through offset indexes that do not tell the truth may be other rows'."""
    lengths: dict[str, set[int | None]] = {}
    for (column, _), path in nested.items():
        read = values[path]
        lengths.setdefault(column, set()).add(None if read is None else len(read))
    return all(len(found) == 1 for found in lengths.values())


def _read_with_pyarrow(
    parquet, group: int, row: int, flat: list[str], nested: dict[tuple[str, str], str]
) -> dict[str, Any]:
    """The row's leaves, from pyarrow's read of those columns of its row group."""
    table = parquet.read_row_group(group, columns=[*flat, *dict.fromkeys(nested.values())])
    record = table.slice(row, 1).to_pylist()[0]
    values = {path: _at_path(record, path.split(".")) for path in flat}
    for (column, name), path in nested.items():
        elements = record.get(column)
        values[path] = (
            None if elements is None else [None if e is None else e.get(name) for e in elements]
        )
    return values


def _at_path(record: dict[str, Any], names: list[str]) -> Any:
    node: Any = record
    for name in names:
        if node is None:
            return None
        node = node.get(name)
    return node
