"""An object's light curve from its latest alert's history, merged with the index's detections.

Each alert carries the object's past: ZTF's ``prv_candidates`` (30 days of detections, with a
``candid``, and of non-detections, with the depth reached: ``diffmaglim``, an upper limit on
the magnitude), Rubin's ``prvDiaSources`` (up to 12 months of detections) and
``prvDiaForcedSources`` (forced photometry at the object's position). The latest alert's row is
read alone (`history_rows`), only the leaf columns a point needs, and proven to be the alert's
(its stored alert id) before its history is used; an unproven row gives the index's detections
only, and so does a removed file. Here: the points made of it and merged.

`object_history` answers ``/api/v1/history``; `upper_limits` (``/api/v1/limits``) is its ZTF
non-detections in the older shape.
"""

from __future__ import annotations

import math
from typing import Any

from fink_cutout_jupyter.cutouts.history_rows import (
    DETECTION,
    HISTORIES,
    SOURCE_LEAVES,
    UPPER_LIMIT,
    StoredRow,
    SurveyHistory,
    read_latest_row,
)
from fink_cutout_jupyter.locations import JD_OF_ZERO, AlertLocation, julian_date
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import Survey


def object_history(
    lake: Lake, latest: AlertLocation, survey: Survey, indexed: list[AlertLocation]
) -> dict[str, Any]:
    """An object's light curve: the body of ``/api/v1/history``.

    Parameters
    ----------
    lake : Lake
    latest : AlertLocation
        The object's latest alert, whose row's history is read.
    survey : Survey
    indexed : list of AlertLocation
        The index's locations of the object's alerts (their stamps can be opened).

    Returns
    -------
    dict
        ``survey``, ``objectId``, ``ssObjectId``, ``designation`` (text or null), ``unit``,
        ``latestAlertId`` (text), ``historyRead`` (whether the row's history was read: false
        when the row is not proven to be the alert's, or its file keeps no history) and
        ``points``, oldest first (mjd, then alertId): each with ``kind`` (``detection``,
        ``forced``, ``upper_limit``), ``mjd``, ``time`` (ISO 8601 UTC), ``band``, ``value``
        and ``error`` (null where not finite; a limit has no error), ``alertId`` (text, or
        null) and ``indexed``. A point without a finite time is left out, and so is an upper
        limit without a finite depth. ``sources``: the latest alert's catalog leaves by dotted
        path (`history_rows.SOURCE_LEAVES`: ZTF's ``candidate.ranr`` ..., Rubin's
        ``diaObject.ra`` ...; numbers, null where not finite) and its earlier detections'
        positions (``prvDiaSources.ra``, ``.dec``, ``.diaSourceId`` as text,
        ``.midpointMjdTai``: a list each); empty when the row is not proven.
    """
    history = HISTORIES.get(survey.name)
    stored = read_latest_row(lake, latest, survey, history)
    read = stored.proven and stored.has_history
    points = _merged_points(latest, survey, indexed, stored if read else None, history)
    properties = latest.properties
    ss_object_id = properties.get("ss_object_id")
    return {
        "survey": survey.name,
        "objectId": None if latest.object_id is None else str(latest.object_id),
        "ssObjectId": None if ss_object_id is None else str(ss_object_id),
        "designation": properties.get("designation"),
        "unit": survey.magnitude_unit,
        "latestAlertId": str(latest.alert_id),
        "historyRead": read,
        "points": _with_times(points, history.time_system if history else "utc"),
        "sources": _sources(stored, survey, history) if stored.proven else {},
    }


def _sources(stored: StoredRow, survey: Survey, history: SurveyHistory | None) -> dict[str, Any]:
    """The latest row's catalog leaves by dotted path (a list's: one list per leaf)."""
    found: dict[str, Any] = {
        path: _number(stored.flat[path])
        for path in SOURCE_LEAVES.get(survey.name, ())
        if path in stored.flat
    }
    for item in history.lists if history else ():
        if not item.sources:
            continue
        base = f"{item.column}."
        for path, values in stored.lists.items():
            name = path.rsplit(".", 1)[1]
            if not path.startswith(base) or values is None:
                continue
            if name == item.alert_id:
                found[f"{item.column}.{name}"] = [None if v is None else str(v) for v in values]
            elif name in (item.time, *item.sources):
                found[f"{item.column}.{name}"] = [_number(value) for value in values]
    return found


def upper_limits(lake: Lake, location: AlertLocation, survey: Survey) -> list[dict[str, Any]]:
    """The non-detections in the alert's history: jd, filter, limit (magnitude), oldest first.

    Empty when the file has no history column, or when the indexed row no longer holds the
    alert (the file was rewritten since it was indexed: nothing unproven is shown).
    """
    history = HISTORIES.get(survey.name)
    stored = read_latest_row(lake, location, survey, history)
    if not (stored.proven and stored.has_history) or history is None:
        return []
    limits = [
        {
            "jd": julian_date(point["stored_time"], survey.time_scale),
            "filter": point["band"],
            "limit": point["value"],
        }
        for point in _history_points(stored, survey, history)
        if point["kind"] == UPPER_LIMIT
    ]
    return sorted(limits, key=lambda limit: limit["jd"])


def _history_points(stored: StoredRow, survey: Survey, history: SurveyHistory):
    """The points of the row's history lists, as stored (times in MJD, not yet placed)."""
    for item in history.lists:
        base = f"{item.column}."
        columns = {
            path.rsplit(".", 1)[1]: values
            for path, values in stored.lists.items()
            if path.startswith(base)
        }
        if item.time not in columns:
            continue
        count = len(columns[item.time] or [])
        for index in range(count):
            entry = {name: (values or [None] * count)[index] for name, values in columns.items()}
            alert_id = entry.get(item.alert_id) if item.alert_id else None
            kind, value, error = item.kind, entry.get(item.value), entry.get(item.error)
            if item.limit and alert_id is None:
                kind, value, error = UPPER_LIMIT, entry.get(item.limit), None
                if not _finite(value):
                    continue
            mjd = _mjd(entry.get(item.time), survey)
            if mjd is None:
                continue
            yield {
                "kind": kind,
                "mjd": mjd,
                "stored_time": entry.get(item.time),
                "band": _band(entry.get(item.band), survey),
                "value": _number(value),
                "error": _number(error),
                "alertId": None if alert_id is None else str(alert_id),
            }


def _merged_points(
    latest: AlertLocation,
    survey: Survey,
    indexed: list[AlertLocation],
    stored: StoredRow | None,
    history: SurveyHistory | None,
) -> list[dict[str, Any]]:
    opened = {str(location.alert_id) for location in indexed}
    detections: dict[str, dict[str, Any]] = {}
    for location in [*indexed, latest]:
        mjd = _mjd(location.time, survey)
        if mjd is not None:
            detections[str(location.alert_id)] = {
                "kind": DETECTION,
                "mjd": mjd,
                "band": location.properties.get("filter"),
                "value": _number(location.properties.get("magnitude")),
                "error": _number(location.properties.get("magnitude_error")),
                "alertId": str(location.alert_id),
            }
    others = []
    if stored is not None and history is not None:
        for point in _history_points(stored, survey, history):
            if point["alertId"] is None:
                others.append(point)
            else:
                detections[point["alertId"]] = point
        own = _own_point(stored, survey)
        if own is not None:
            detections[own["alertId"]] = own
    points = [*detections.values(), *others]
    for point in points:
        point["indexed"] = point["alertId"] in opened
    points.sort(key=lambda point: (point["mjd"], point["alertId"] or ""))
    return points


def _own_point(stored: StoredRow, survey: Survey) -> dict[str, Any] | None:
    """The latest alert itself, from its row."""
    mjd = _mjd(stored.flat.get(survey.time_column), survey)
    if mjd is None:
        return None
    return {
        "kind": DETECTION,
        "mjd": mjd,
        "band": _band(stored.flat.get(survey.filter_column), survey),
        "value": _number(stored.flat.get(survey.magnitude_column)),
        "error": _number(stored.flat.get(survey.magnitude_error_column)),
        "alertId": str(stored.flat[survey.alert_id_column]),
    }


def _with_times(points: list[dict[str, Any]], time_system: str) -> list[dict[str, Any]]:
    """Each point with ``time``, its MJD as ISO 8601 UTC (astropy: TAI to UTC), keys in order."""
    if not points:
        return []
    from astropy.time import Time

    times = Time([point["mjd"] for point in points], format="mjd", scale=time_system).utc.isot
    return [
        {
            "kind": point["kind"],
            "mjd": point["mjd"],
            "time": f"{time}Z",
            "band": point["band"],
            "value": point["value"],
            "error": point["error"],
            "alertId": point["alertId"],
            "indexed": point["indexed"],
        }
        for point, time in zip(points, times, strict=True)
    ]


def _band(stored: Any, survey: Survey) -> str | None:
    """A stored band's name (ZTF's fid 1 is g); None for a null one, as the index has it."""
    return None if stored is None else survey.filter_name(stored)


def _mjd(time: Any, survey: Survey) -> float | None:
    """A stored time (the survey's time scale) as an MJD; None if not finite."""
    if not _finite(time):
        return None
    return float(time) - (JD_OF_ZERO["mjd"] - JD_OF_ZERO[survey.time_scale])  # MJDs kept exact


def _number(number: Any) -> float | None:
    """A stored number as a float, None if null, NaN or infinite (JSON has no NaN)."""
    return float(number) if _finite(number) else None


def _finite(*numbers: Any) -> bool:
    """Whether every number is there and finite: a limit without a time or a depth (null, NaN
    or infinity in the lake) cannot be drawn, and is left out."""
    return all(number is not None and math.isfinite(number) for number in numbers)
