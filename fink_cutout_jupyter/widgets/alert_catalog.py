"""The catalog an alert carries: its own position and the sources stored with it, as a Table.

ZTF stores, with each detection (``candidate``), the position of the nearest source of the
reference image (``ranr``, ``decnr``, at ``distnr`` arcseconds) and the distances of the three
nearest Pan-STARRS 1 sources (``distpsnr1..3``, -999 where there is none) but not their
positions: those become columns of the alert's row, not markers. Rubin stores the DIA object's
position (``diaObject.ra``, ``dec``, null for a solar-system source) and the object's earlier
detections (``prvDiaSources``, each with its position).

`alert_catalog` reads these from a record in any of the shapes the package meets: a row of
``/api/v1/alerts`` (``ra``, ``dec``), Fink's stored alert as pyarrow or fastavro gives it (nested
``candidate`` / ``diaSource`` / ``diaObject`` / ``prvDiaSources``), or leaves named by their
dotted paths (``candidate.ranr``, ``prvDiaSources.ra``: a list), as ``/api/v1/history`` gives
the latest alert's (``sources``). Positions that are missing or not finite are left out.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.locations import JD_OF_ZERO
from fink_cutout_jupyter.surveys import LSST, ZTF, Survey

if TYPE_CHECKING:
    from astropy.table import Table

ALERT = "alert"
NEAREST_REFERENCE = "nearest reference source"
DIA_OBJECT = "DIA object"
EARLIER_DIA_SOURCE = "earlier DIA source"
PS1_DISTANCES = ("distpsnr1", "distpsnr2", "distpsnr3")  # ZTF: arcsec, -999 where none

# List columns whose elements' positions are catalog sources: column -> (id leaf, time leaf).
CATALOG_LISTS = {LSST.name: {"prvDiaSources": ("diaSourceId", "midpointMjdTai")}}


def alert_catalog(
    alert_record: Mapping[str, Any],
    survey: Survey,
    sources: Mapping[str, Any] | None = None,
) -> Table:
    """The alert's position and the sources stored with it, one row each.

    Parameters
    ----------
    alert_record : mapping
        The alert: a row of ``/api/v1/alerts`` (`CutoutClient.alerts`), Fink's stored record
        (nested, as pyarrow's ``to_pylist`` or fastavro gives it), or its leaves by dotted path.
    survey : Survey
        Whose columns these are (`fink_cutout_jupyter.surveys.ZTF` or ``LSST``).
    sources : mapping, optional
        More leaves by dotted path, e.g. the latest alert's (``/api/v1/history``'s
        ``sources``), used where `alert_record` has none. Earlier detections
        (``prvDiaSources``) later than the alert, or the alert itself, are left out.

    Returns
    -------
    astropy.table.Table
        Columns ``coord`` (`SkyCoord`, ICRS), ``kind`` (``alert``, ``nearest reference source``,
        ``DIA object``, ``earlier DIA source``), ``name`` (the kind, with the source's id where
        it has one), ``separation`` (from the alert, arcsec) and, for ZTF, ``distpsnr1..3``
        (arcsec on the alert's row; NaN where there is no Pan-STARRS source, and on other rows).
        The alert's row first; rows without a finite position are left out.
    """
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    own_leaves = dict(leaves_of(alert_record))
    own_leaves.update(_alert_position(alert_record, survey))
    leaves = {**dict(leaves_of(sources or {})), **own_leaves}
    alert_id = own_leaves.get(survey.alert_id_column, alert_record.get("alertId"))
    rows: list[tuple[str, str, float, float]] = []
    own = _position(own_leaves, survey.ra_column, survey.dec_column)
    if own is not None:
        rows.append((ALERT, _named(ALERT, alert_id), *own))
    if survey.name == ZTF.name:
        reference = _position(leaves, "candidate.ranr", "candidate.decnr")
        if reference is not None:
            rows.append((NEAREST_REFERENCE, NEAREST_REFERENCE, *reference))
    if survey.name == LSST.name:
        dia_object = _position(leaves, "diaObject.ra", "diaObject.dec")
        if dia_object is not None:
            object_id = leaves.get("diaObject.diaObjectId", alert_record.get("objectId"))
            rows.append((DIA_OBJECT, _named(DIA_OBJECT, object_id), *dia_object))
    for column, (id_leaf, time_leaf) in CATALOG_LISTS.get(survey.name, {}).items():
        alert_time = _alert_time(own_leaves, survey)
        earlier = _earlier(leaves, column, id_leaf, time_leaf, alert_id, alert_time)
        rows += [(EARLIER_DIA_SOURCE, _named(column, source_id), *at) for source_id, at in earlier]
    kinds = np.array([row[0] for row in rows], dtype=str)
    names = np.array([row[1] for row in rows], dtype=str)
    coord = SkyCoord(
        ra=np.array([row[2] for row in rows], dtype=float) * u.deg,
        dec=np.array([row[3] for row in rows], dtype=float) * u.deg,
    )
    table = Table({"coord": coord, "kind": kinds, "name": names})
    separation = np.full(len(rows), np.nan) * u.arcsec
    if own is not None:
        separation = coord.separation(coord[0]).to(u.arcsec)
    table["separation"] = separation
    if survey.name == ZTF.name:
        for ps1 in PS1_DISTANCES:
            distance = _finite(leaves.get(f"candidate.{ps1}"))
            distances = np.full(len(rows), np.nan)
            if own is not None and distance is not None and distance >= 0:
                distances[0] = distance
            table[ps1] = distances * u.arcsec
            text = f"distance of the Pan-STARRS 1 source {ps1[-1]} from the alert that stored it"
            table[ps1].description = text
    return table


def leaves_of(record: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """A record's values by dotted leaf path: nested mappings walked, a list of mappings turned
    into one list per leaf (``prvDiaSources.ra``: every element's ``ra``)."""
    for name, value in record.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            yield from leaves_of(value, f"{path}.")
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            names = dict.fromkeys(key for item in value if item for key in item)
            for leaf in names:
                yield f"{path}.{leaf}", [item.get(leaf) if item else None for item in value]
        else:
            yield path, value


def _alert_position(record: Mapping[str, Any], survey: Survey) -> dict[str, Any]:
    """The alert's position of a ``/api/v1/alerts`` row (``ra``, ``dec``) under its leaves."""
    flat = {survey.ra_column: record.get("ra"), survey.dec_column: record.get("dec")}
    return {path: value for path, value in flat.items() if value is not None}


def _alert_time(leaves: Mapping[str, Any], survey: Survey) -> float | None:
    """The alert's time in the survey's scale: its stored time, else the row's ``jd``."""
    stored = _finite(leaves.get(survey.time_column))
    if stored is not None:
        return stored
    jd = _finite(leaves.get("jd"))
    return None if jd is None else jd - JD_OF_ZERO[survey.time_scale]


def _earlier(
    leaves: Mapping[str, Any],
    column: str,
    id_leaf: str,
    time_leaf: str,
    alert_id: Any,
    alert_time: float | None,
) -> list[tuple[Any, tuple[float, float]]]:
    """The positions of a list column's elements before the alert (not the alert itself)."""
    ras, decs = leaves.get(f"{column}.ra"), leaves.get(f"{column}.dec")
    if not isinstance(ras, list) or not isinstance(decs, list):
        return []
    ids = leaves.get(f"{column}.{id_leaf}") or [None] * len(ras)
    times = leaves.get(f"{column}.{time_leaf}") or [None] * len(ras)
    found = []
    for ra, dec, source_id, time in zip(ras, decs, ids, times, strict=True):
        position = _position({"ra": ra, "dec": dec}, "ra", "dec")
        if position is None or (alert_id is not None and str(source_id) == str(alert_id)):
            continue
        when = _finite(time)
        if alert_time is not None and when is not None and when >= alert_time:
            continue
        found.append((source_id, position))
    return found


def _position(leaves: Mapping[str, Any], ra: str, dec: str) -> tuple[float, float] | None:
    """(ra, dec) in degrees, or None if either is missing, not finite or out of range."""
    ra_value, dec_value = _finite(leaves.get(ra)), _finite(leaves.get(dec))
    if ra_value is None or dec_value is None or not -90 <= dec_value <= 90:
        return None
    return ra_value, dec_value


def _finite(value: Any) -> float | None:
    """`value` as a float if it is a finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value) if math.isfinite(value) else None


def _named(kind: str, source_id: Any) -> str:
    return kind if source_id is None else f"{kind} {source_id}"
