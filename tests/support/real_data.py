"""Where Fink's real test files are, and what an alert must show, read with pyarrow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fink_cutout_jupyter.storage.lake import Lake

REPOSITORY = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("FINK_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
ZTF_LAKES = {
    "ztf/lake": "archive/science",
    "ztf/lake-spark3": "science",
}
ZTF_CUTOUTS = ["cutoutScience", "cutoutTemplate", "cutoutDifference"]
DISPLAYED = ("fid", "magpsf", "sigmapsf", "ra", "dec", "isdiffpos")
ZTF_FILTERS = {1: "g", 2: "r", 3: "i"}  # ZTF's fid convention


def ztf_lake_files() -> list[tuple[Lake, str]]:
    """Every real ZTF lake file, as (lake, path relative to its root)."""
    found = []
    for root, science_dir in ZTF_LAKES.items():
        lake = Lake(SHARED_DATA / root, science_dir=science_dir)
        found += [(lake, path) for night in lake.nights() for path in lake.night_files(night)]
    return found


def displayed(row: dict) -> dict:
    """What an alert's display fields must be, from its `candidate` as pyarrow read it."""
    candidate = row["candidate"]
    return {
        "filter": ZTF_FILTERS[candidate["fid"]],
        "magnitude": candidate["magpsf"],
        "magnitude_error": candidate["sigmapsf"],
        "ra": candidate["ra"],
        "dec": candidate["dec"],
        "isdiffpos": candidate["isdiffpos"],
        "magnitude_unit": "mag",
    }


@dataclass(frozen=True)
class LakeCase:
    """A lake served by a door, and facts about one of its objects read with pyarrow."""

    name: str
    lake: str
    index: str
    science_dir: str
    object_id: str
    alert_ids: tuple[int, ...]
    path: str
    alerts: tuple[dict, ...]


def ztf_lake_case(name: str, root: Path, science_dir: str, index: str, object_id: str):
    """The object's alerts, oldest first, as /api/v1/alerts must list them: from the files."""
    import datetime as dt

    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from astropy.time import Time

    alerts = []
    for file in sorted((root / science_dir).rglob("*.parquet")):
        table = pq.read_table(file, columns=["objectId", "candid", "candidate"])
        table = table.filter(pc.equal(table.column("objectId"), object_id))
        for record in table.to_pylist():
            row = {"candid": record["candid"], "candidate": record["candidate"]}
            shown = displayed(row)
            jd = record["candidate"]["jd"]
            date = Time(jd, format="jd", scale="utc").to_datetime(timezone=dt.UTC)
            alerts.append(
                {
                    "objectId": object_id,
                    "alertId": record["candid"],
                    "jd": jd,
                    "date": date.isoformat(timespec="seconds"),
                    **shown,
                    "survey": "ztf",
                    "hdfsPath": file.relative_to(root).as_posix(),
                }
            )
    alerts.sort(key=lambda alert: (alert["jd"], alert["alertId"]))
    return LakeCase(
        name,
        str(root),
        index,
        science_dir,
        object_id,
        tuple(alert["alertId"] for alert in alerts),
        alerts[0]["hdfsPath"],
        tuple(alerts),
    )
