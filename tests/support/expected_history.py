"""What /api/v1/history must answer, from the stored files read independently: pyarrow for a
Parquet lake (ZTF's ``prv_candidates``), fastavro's records for the real Rubin alerts
(``prvDiaSources``, ``prvDiaForcedSources``), astropy for the times.

A point is compared as a `Point` tuple; floats with `pytest.approx`, times to the millisecond.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest

ZTF_BANDS = {1: "g", 2: "r", 3: "i"}
MJD_OF_JD_ZERO = 2400000.5


class Point(NamedTuple):
    kind: str
    alert_id: str | None
    band: str | None
    mjd: float
    value: float | None
    error: float | None
    indexed: bool


def _number(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


def ztf_history(files: list[Path], object_id: str) -> tuple[int, list[Point]]:
    """The latest alert's candid and the points of a ZTF object, from every file of its lake:
    its alerts (all indexed) and its latest alert's ``prv_candidates`` (if the files have it)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = []
    for file in files:
        names = pq.read_schema(file).names
        columns = ["objectId", "candid", "candidate"]
        columns += ["prv_candidates"] if "prv_candidates" in names else []
        table = pq.read_table(file, columns=columns)
        rows += table.filter(pc.equal(table.column("objectId"), object_id)).to_pylist()
    assert rows, f"{object_id} is in the lake"
    latest = max(rows, key=lambda row: (row["candidate"]["jd"], row["candid"]))
    own = {row["candid"] for row in rows}
    detections: dict[int, Point] = {}
    others = []

    def detection(candid: int, entry: dict) -> None:
        if _finite(entry["jd"]):
            detections[candid] = Point(
                "detection",
                str(candid),
                ZTF_BANDS[entry["fid"]],
                entry["jd"] - MJD_OF_JD_ZERO,
                _number(entry["magpsf"]),
                _number(entry["sigmapsf"]),
                candid in own,
            )

    for row in rows:
        detection(row["candid"], row["candidate"])
    for entry in latest.get("prv_candidates") or []:
        if entry["candid"] is not None:
            detection(entry["candid"], entry)
        elif _finite(entry["jd"]) and _finite(entry["diffmaglim"]):
            band = ZTF_BANDS[entry["fid"]]
            mjd = entry["jd"] - MJD_OF_JD_ZERO
            others.append(Point("upper_limit", None, band, mjd, entry["diffmaglim"], None, False))
    detection(latest["candid"], latest["candidate"])
    return latest["candid"], sorted([*detections.values(), *others], key=_order)


def rubin_history(
    records: list[dict], object_id: int | None = None, ss_object_id: int | None = None
) -> tuple[dict, list[Point]]:
    """The latest record and the points of a Rubin object (or solar-system object), from the
    alerts as fastavro reads them: its alerts, ``prvDiaSources``, ``prvDiaForcedSources``."""
    if ss_object_id is not None:
        mine = [r for r in records if (r.get("ssSource") or {}).get("ssObjectId") == ss_object_id]
    else:
        mine = [r for r in records if (r["diaObject"] or {}).get("diaObjectId") == object_id]
    assert mine, "the object is among the records"
    latest = max(mine, key=lambda r: (r["diaSource"]["midpointMjdTai"], r["diaSourceId"]))
    own = {r["diaSourceId"] for r in mine}
    detections: dict[int, Point] = {}

    def detection(source: dict) -> None:
        if _finite(source["midpointMjdTai"]):
            detections[source["diaSourceId"]] = Point(
                "detection",
                str(source["diaSourceId"]),
                source["band"],
                source["midpointMjdTai"],
                _number(source["psfFlux"]),
                _number(source["psfFluxErr"]),
                source["diaSourceId"] in own,
            )

    for record in mine:
        detection(record["diaSource"])
    for source in latest.get("prvDiaSources") or []:
        detection(source)
    detection(latest["diaSource"])
    forced = [
        Point(
            "forced",
            None,
            source["band"],
            source["midpointMjdTai"],
            _number(source["psfFlux"]),
            _number(source["psfFluxErr"]),
            False,
        )
        for source in latest.get("prvDiaForcedSources") or []
        if _finite(source["midpointMjdTai"])
    ]
    return latest, sorted([*detections.values(), *forced], key=_order)


def _order(point: Point) -> tuple:
    return (point.mjd, point.alert_id or "", point.kind, point.band or "", point.value or 0.0)


def assert_points(body: dict, expected: list[Point], time_scale: str) -> None:
    """The body's points are `expected` (in mjd order), each time the MJD in UTC (astropy)."""
    from astropy.time import Time

    got = body["points"]
    mjds = [point["mjd"] for point in got]
    assert mjds == sorted(mjds), "oldest first"
    as_points = sorted(
        (
            Point(
                p["kind"], p["alertId"], p["band"], p["mjd"], p["value"], p["error"], p["indexed"]
            )
            for p in got
        ),
        key=_order,
    )
    assert len(as_points) == len(expected)
    for one, other in zip(as_points, expected, strict=True):
        assert one._replace(mjd=0, value=0, error=0) == other._replace(mjd=0, value=0, error=0)
        assert one.mjd == pytest.approx(other.mjd, abs=1e-9)
        for mine, theirs in ((one.value, other.value), (one.error, other.error)):
            assert (mine is None) == (theirs is None)
            if theirs is not None:
                assert mine == pytest.approx(theirs, rel=1e-6)
    if got:
        utc = Time(mjds, format="mjd", scale=time_scale).utc.to_datetime(timezone=dt.UTC)
        for point, expected_time in zip(got, utc, strict=True):
            assert point["time"].endswith("Z")
            time = dt.datetime.fromisoformat(point["time"][:-1] + "+00:00")
            assert abs((time - expected_time).total_seconds()) < 0.002, point
