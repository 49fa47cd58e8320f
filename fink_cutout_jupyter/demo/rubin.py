"""The Rubin demo: archived nights of synthetic alerts in Fink's Rubin schema (lsst.v10_0).

What it writes, as Rubin and Fink make it:

- ids packed as Rubin packs them: a ``diaSourceId`` holds the exposure (day of observation and
  sequence number), the detector and a counter (`source_id`); a ``diaObjectId`` is the id of
  the object's first detection; a ``ssObjectId`` is the MPC packed designation's ASCII bytes
  (`packed_designation`: ``2004 JQ12`` -> ``K04J12Q`` -> 21163624394469969);
- ``diaSource`` with its time ``midpointMjdTai``, ``band`` in ugrizy and PSF fluxes in nJy;
- ``prvDiaSources`` (the object's earlier detections, up to 12 months) and
  ``prvDiaForcedSources`` (forced photometry at each visit of the 12 months, before the
  detection too, and at the alert's own visit): a transient that rises and fades;
- solar-system alerts: ``diaObject`` null, ``diaSource.diaObjectId`` 0, ``ssSource`` and
  ``mpc_orbits`` set, the asteroid moving night to night;
- raw (not gzipped) three-HDU FITS stamps (`rubin_stamps`).

The fields written are a subset of Fink's schema, with its names, types and order (`SCHEMA`);
``tests/demo/test_rubin.py`` checks them against the schema file Fink writes.
"""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path
from typing import Any

import numpy as np

from fink_cutout_jupyter.demo.archive import PAGE_ROWS, DemoLake, night_directory
from fink_cutout_jupyter.demo.rubin_stamps import STAMP_SIZE, rubin_cutouts

FIRST_NIGHT = dt.date(2026, 3, 4)
DEMO_OBJECTS = 24
MIN_OBJECTS = 10
MAX_OBJECTS = 180  # one detector each (LSSTCam has 189 science detectors)
SOLAR_SYSTEM_OBJECTS = 3
BANDS = "ugrizy"
HISTORY_DAYS = 365  # Rubin's alerts carry up to 12 months of history
# The day count of Rubin's exposure ids starts here (as the real ids of lsst.v10_0 give it).
_DAY_ZERO = dt.date(1920, 4, 15)
_MJD_ZERO = dt.date(1858, 11, 17)
_VISIT_SECONDS = 40  # a 30 s exposure and its overheads: sequence numbers follow the night
_FIRST_SEQ, _LAST_SEQ = 1125, 1890  # 00:30 to 09:00 UTC, after the day of observation's noon
_FORCED_COUNTER = 1 << 18
_SS_COUNTER = 1 << 17
# The demo object (the quickstart's): its own generator, so its id is the same for every seed
# (over the default 3 nights).
_DEMO_OBJECT_SEED = 2026
_ASTEROIDS_SEED = 2027
RUBIN_DEMO_OBJECT_ID = 170033125323177999
RUBIN_DEMO_SS_OBJECT_ID = 21163637396944961  # 2007 QA38, the first of the same asteroids


def schema():
    """The Arrow schema of the demo's Rubin files: a subset of Fink's, names and types as there."""
    import pyarrow as pa

    f32, f64, i64, i32, text = pa.float32(), pa.float64(), pa.int64(), pa.int32(), pa.string()
    source = pa.struct(
        [
            ("diaSourceId", i64),
            ("visit", i64),
            ("detector", i32),
            ("diaObjectId", i64),
            ("ssObjectId", i64),
            ("parentDiaSourceId", i64),
            ("midpointMjdTai", f64),
            ("ra", f64),
            ("raErr", f32),
            ("dec", f64),
            ("decErr", f32),
            ("x", f32),
            ("y", f32),
            ("apFlux", f32),
            ("apFluxErr", f32),
            ("isNegative", pa.bool_()),
            ("snr", f32),
            ("psfFlux", f32),
            ("psfFluxErr", f32),
            ("scienceFlux", f32),
            ("scienceFluxErr", f32),
            ("templateFlux", f32),
            ("templateFluxErr", f32),
            ("extendedness", f32),
            ("reliability", f32),
            ("band", text),
            ("timeProcessedMjdTai", f64),
        ]
    )
    forced = pa.struct(
        [
            ("diaForcedSourceId", i64),
            ("diaObjectId", i64),
            ("ra", f64),
            ("dec", f64),
            ("visit", i64),
            ("detector", i32),
            ("psfFlux", f32),
            ("psfFluxErr", f32),
            ("midpointMjdTai", f64),
            ("scienceFlux", f32),
            ("scienceFluxErr", f32),
            ("band", text),
            ("timeProcessedMjdTai", f64),
            ("timeWithdrawnMjdTai", f64),
        ]
    )
    per_band = [
        (f"{band}_{name}", kind)
        for band in BANDS
        for name, kind in (("psfFluxMean", f32), ("psfFluxMeanErr", f32), ("psfFluxNdata", i32))
    ]
    dia_object = pa.struct(
        [
            ("diaObjectId", i64),
            ("validityStartMjdTai", f64),
            ("ra", f64),
            ("raErr", f32),
            ("dec", f64),
            ("decErr", f32),
            *per_band,
            ("firstDiaSourceMjdTai", f64),
            ("lastDiaSourceMjdTai", f64),
            ("nDiaSources", i32),
        ]
    )
    ss_source = pa.struct(
        [
            ("diaSourceId", i64),
            ("ssObjectId", i64),
            ("designation", text),
            ("elongation", f32),
            ("phaseAngle", f32),
            ("topoRange", f32),
            ("helioRange", f32),
            ("ephRa", f64),
            ("ephDec", f64),
            ("ephVmag", f32),
            ("ephRate", f32),
            ("ephOffset", f32),
        ]
    )
    orbits = pa.struct(
        [
            ("designation", text),
            ("packed_primary_provisional_designation", text),
            ("a", f64),
            ("q", f64),
            ("e", f64),
            ("i", f64),
            ("h", f64),
            ("g", f64),
        ]
    )
    return pa.schema(
        [
            ("diaSourceId", i64),
            ("observation_reason", text),
            ("target_name", text),
            ("diaSource", source),
            ("prvDiaSources", pa.list_(pa.field("element", source))),
            ("prvDiaForcedSources", pa.list_(pa.field("element", forced))),
            ("diaObject", dia_object),
            ("ssSource", ss_source),
            ("mpc_orbits", orbits),
            ("cutoutDifference", pa.binary()),
            ("cutoutScience", pa.binary()),
            ("cutoutTemplate", pa.binary()),
        ]
    )


def exposure_id(day_obs: dt.date, seq: int) -> int:
    """Rubin's exposure id: the day of observation's count, then its 15-bit sequence number."""
    return (day_obs - _DAY_ZERO).days << 15 | seq


def visit_id(day_obs: dt.date, seq: int) -> int:
    """The ``visit`` column: ``YYYYMMDD`` of the day of observation, then 5 digits of sequence."""
    return int(f"{day_obs:%Y%m%d}{seq:05d}")


def source_id(day_obs: dt.date, seq: int, detector: int, counter: int) -> int:
    """A ``diaSourceId`` (or ``diaForcedSourceId``) as Rubin packs it: exposure, detector (8
    bits), then a 19-bit counter of the sources of that detector's image."""
    return ((exposure_id(day_obs, seq) << 8 | detector) << 19) | counter


def packed_designation(designation: str) -> str:
    """The MPC packed form of a provisional designation (``2004 JQ12`` -> ``K04J12Q``)."""
    year, letters = designation.split(" ")
    cycle = int(letters[2:] or 0)
    if not (len(year) == 4 and len(letters) >= 2 and cycle < 620):
        raise ValueError(f"designation: {designation!r} is not a provisional designation")
    century = string.ascii_uppercase[int(year[:2]) - 10]
    tens = string.digits + string.ascii_uppercase + string.ascii_lowercase
    return f"{century}{year[2:]}{letters[0]}{tens[cycle // 10]}{cycle % 10}{letters[1]}"


def ss_object_id(designation: str) -> int:
    """Rubin's ``ssObjectId``: the packed designation's ASCII bytes as a big-endian integer."""
    return int.from_bytes(packed_designation(designation).encode("ascii"), "big")


def mjd_tai(day_obs: dt.date, seq: int) -> float:
    """The midpoint of the exposure ``seq`` of the night that starts on `day_obs` (TAI)."""
    noon = (day_obs - _MJD_ZERO).days + 0.5
    return noon + (seq * _VISIT_SECONDS + _VISIT_SECONDS / 2) / 86400


def write_nights(
    root: Path, seed: int, nights: int, objects: int, files_per_night: int
) -> DemoLake:
    """Write `nights` archived nights of `objects` Rubin objects (and a few solar-system objects)
    under `root` (see `make_demo_lake`). The demo object ``RUBIN_DEMO_OBJECT_ID`` has alerts in
    every night, two in the first two."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    dates = tuple(FIRST_NIGHT + dt.timedelta(days=n) for n in range(nights))
    last_night = dates[-1] - dt.timedelta(days=1)  # the day of observation of the last night
    detectors = 1 + rng.permutation(MAX_OBJECTS + 8)
    sky = [_transient(np.random.default_rng(_DEMO_OBJECT_SEED), 0, 0, last_night, dates)]
    sky += [
        _transient(rng, number, int(detectors[number]), last_night, dates)
        for number in range(1, objects)
    ]
    fixed = np.random.default_rng(_ASTEROIDS_SEED)  # the same asteroids for every seed
    asteroids = [_asteroid(fixed, number, dates) for number in range(SOLAR_SYSTEM_OBJECTS)]
    table_schema = schema()
    files, demo_object_files, alerts, seen = [], [], 0, set()
    for night in dates:
        rows = [row for obj in sky for row in _transient_alerts(rng, obj, night)]
        rows += [row for asteroid in asteroids for row in _asteroid_alerts(rng, asteroid, night)]
        seen |= {row["diaSource"]["diaObjectId"] or row["diaSource"]["ssObjectId"] for row in rows}
        order = rng.permutation(len(rows))
        directory = night_directory(root, night)
        for part, chunk in enumerate(np.array_split(order, files_per_night)):
            path = directory / f"part-{part:05d}-{seed:08x}-fink-rubin-demo-c000.snappy.parquet"
            table = pa.Table.from_pylist([rows[i] for i in chunk], schema=table_schema)
            pq.write_table(
                table,
                path,
                compression="snappy",
                row_group_size=len(chunk) + 1,
                use_dictionary=False,
                write_batch_size=PAGE_ROWS,
            )
            files.append(path.relative_to(root).as_posix())
            if any(rows[i]["diaSource"]["diaObjectId"] == sky[0]["id"] for i in chunk):
                demo_object_files.append(files[-1])
        alerts += len(rows)
    return DemoLake(
        root,
        dates,
        tuple(files),
        len(seen),
        alerts,
        tuple(demo_object_files),
        survey="lsst",
        demo_object_id=str(sky[0]["id"]),
        ss_object_ids=tuple(a["ssObjectId"] for a in asteroids),
    )


def _day_obs(night: dt.date) -> dt.date:
    """A lake night (the UTC date of its alerts) -> Rubin's day of observation (the evening)."""
    return night - dt.timedelta(days=1)


def _transient(
    rng: np.random.Generator,
    number: int,
    detector: int,
    last_night: dt.date,
    dates: tuple[dt.date, ...],
) -> dict[str, Any]:
    """A transient: position, light curve (Bazin's rise and fall, per band), its visits."""
    demo = number == 0
    last = mjd_tai(last_night, _FIRST_SEQ)
    colours = {band: float(rng.uniform(0.6, 1.4)) for band in BANDS}
    obj: dict[str, Any] = {
        "number": number,
        "ra": float(rng.uniform(0, 360)),
        "dec": float(np.degrees(np.arcsin(rng.uniform(-1.0, 0.3)))),
        "detector": 94 if demo else detector,
        "x": float(rng.uniform(100, 3900)),
        "y": float(rng.uniform(100, 3900)),
        "rotpa": float(rng.uniform(0, 360)),
        "peak_time": last - (8.0 if demo else float(rng.uniform(3, 30))),
        "peak_flux": {
            band: (40000.0 if demo else float(rng.uniform(10000, 60000))) * colour
            for band, colour in colours.items()
        },
        "rise": float(rng.uniform(2, 6)),
        "fall": float(rng.uniform(25, 60)),
        "host": float(rng.uniform(5000, 80000)),
        "host_offset": rng.normal(0, 2.0, 2),
        "stars": np.column_stack(
            [
                rng.uniform(1, STAMP_SIZE - 2, 4),
                rng.uniform(1, STAMP_SIZE - 2, 4),
                rng.lognormal(10.0, 1.0, 4),
            ]
        ),
    }
    visits: list[tuple[dt.date, int, str]] = []
    first_day = last_night - dt.timedelta(days=HISTORY_DAYS)
    for day in range(HISTORY_DAYS - len(dates) + 1):  # the nights before the lake's
        if rng.random() < 0.12:
            visits += _night_visits(
                rng, first_day + dt.timedelta(days=day), int(rng.integers(1, 4))
            )
    lake_visits = [2, 2, 1] + [1] * (len(dates) - 3) if demo else None
    for n, night in enumerate(dates):
        count = lake_visits[n] if lake_visits else int(rng.choice([0, 1, 1, 2]))
        visits += _night_visits(rng, _day_obs(night), count)
    obj["epochs"] = [_epoch(rng, obj, *visit) for visit in sorted(visits)]
    detections = [e for e in obj["epochs"] if e["detected"]]
    if not detections:  # noise hid it all year (rare): another object
        return _transient(rng, number, detector, last_night, dates)
    first = detections[0]
    obj["id"] = source_id(first["day_obs"], first["seq"], obj["detector"], first["counter"])
    return obj


def _night_visits(rng: np.random.Generator, day_obs: dt.date, count: int) -> list:
    seqs = rng.choice(np.arange(_FIRST_SEQ, _LAST_SEQ), size=count, replace=False)
    return [(day_obs, int(seq), str(rng.choice(list(BANDS[1:5])))) for seq in sorted(seqs)]


def _flux(obj: dict, band: str, mjd: float) -> float:
    phase = mjd - obj["peak_time"]
    shape = np.exp(-phase / obj["fall"]) / (1 + np.exp(-phase / obj["rise"]))
    return obj["peak_flux"][band] * float(shape) * 2  # the shape is 1/2 at phase 0


def _epoch(rng: np.random.Generator, obj: dict, day_obs: dt.date, seq: int, band: str) -> dict:
    mjd = mjd_tai(day_obs, seq)
    error = float(rng.uniform(350, 650))
    true = _flux(obj, band, mjd)
    flux = true + float(rng.normal(0, error))
    return {
        "day_obs": day_obs,
        "seq": seq,
        "band": band,
        "mjd": mjd,
        "flux": flux,
        "error": error,
        "forced_flux": true + float(rng.normal(0, error)),
        "detected": flux / error >= 5,
        "counter": int(1 + obj["number"] * 97 + rng.integers(0, 90)),
        "seeing": float(rng.uniform(0.6, 1.1)),
        "ra": obj["ra"] + float(rng.normal(0, 1e-5)),
        "dec": obj["dec"] + float(rng.normal(0, 1e-5)),
    }


def _dia_source(obj: dict, epoch: dict, object_id: int, ss_object_id: int = 0) -> dict:
    snr = epoch["flux"] / epoch["error"]
    template = obj.get("host", 0.0)
    return {
        "diaSourceId": source_id(epoch["day_obs"], epoch["seq"], obj["detector"], epoch["counter"]),
        "visit": visit_id(epoch["day_obs"], epoch["seq"]),
        "detector": obj["detector"],
        "diaObjectId": object_id,
        "ssObjectId": ss_object_id,
        "parentDiaSourceId": 0,
        "midpointMjdTai": epoch["mjd"],
        "ra": epoch["ra"],
        "raErr": 2e-6 + 1e-4 / max(snr, 1),
        "dec": epoch["dec"],
        "decErr": 2e-6 + 1e-4 / max(snr, 1),
        "x": obj["x"],
        "y": obj["y"],
        "apFlux": epoch["flux"] * 0.95,
        "apFluxErr": epoch["error"] * 1.6,
        "isNegative": epoch["flux"] < 0,
        "snr": abs(snr),
        "psfFlux": epoch["flux"],
        "psfFluxErr": epoch["error"],
        "scienceFlux": template + epoch["flux"],
        "scienceFluxErr": epoch["error"] * 1.01,
        "templateFlux": template,
        "templateFluxErr": 20.0,
        "extendedness": 0.05,
        "reliability": min(0.99, 0.5 + abs(snr) / 100),
        "band": epoch["band"],
        "timeProcessedMjdTai": epoch["mjd"] + 0.0019,
    }


def _forced_source(obj: dict, epoch: dict) -> dict:
    return {
        "diaForcedSourceId": source_id(
            epoch["day_obs"], epoch["seq"], obj["detector"], _FORCED_COUNTER + obj["number"]
        ),
        "diaObjectId": obj["id"],
        "ra": obj["ra"],
        "dec": obj["dec"],
        "visit": visit_id(epoch["day_obs"], epoch["seq"]),
        "detector": obj["detector"],
        "psfFlux": epoch["forced_flux"],
        "psfFluxErr": epoch["error"],
        "midpointMjdTai": epoch["mjd"],
        "scienceFlux": obj["host"] + epoch["forced_flux"],
        "scienceFluxErr": epoch["error"] * 1.01,
        "band": epoch["band"],
        "timeProcessedMjdTai": epoch["mjd"] + 0.0021,
        "timeWithdrawnMjdTai": None,
    }


def _dia_object(obj: dict, detections: list[dict], now: float) -> dict:
    row: dict[str, Any] = {
        "diaObjectId": obj["id"],
        "validityStartMjdTai": now + 0.002,
        "ra": obj["ra"],
        "raErr": 1.4e-5,
        "dec": obj["dec"],
        "decErr": 1.1e-5,
    }
    for band in BANDS:
        fluxes = [d["flux"] for d in detections if d["band"] == band]
        row[f"{band}_psfFluxNdata"] = len(fluxes)
        if fluxes:
            row[f"{band}_psfFluxMean"] = float(np.mean(fluxes))
            row[f"{band}_psfFluxMeanErr"] = float(np.std(fluxes) / np.sqrt(len(fluxes)))
    row["firstDiaSourceMjdTai"] = detections[0]["mjd"]
    row["lastDiaSourceMjdTai"] = detections[-1]["mjd"]
    row["nDiaSources"] = len(detections)
    return row


def _transient_alerts(rng: np.random.Generator, obj: dict, night: dt.date) -> list[dict]:
    """The object's alerts of a lake night: one per detection, with its history."""
    rows = []
    start = mjd_tai(_day_obs(night) - dt.timedelta(days=HISTORY_DAYS), 0)
    for n, epoch in enumerate(obj["epochs"]):
        if epoch["day_obs"] != _day_obs(night) or not epoch["detected"]:
            continue
        past = [e for e in obj["epochs"][: n + 1] if e["mjd"] >= start]
        detections = [e for e in past if e["detected"]]
        source = _dia_source(obj, epoch, obj["id"])
        rows.append(
            {
                "diaSourceId": source["diaSourceId"],
                "observation_reason": "wfd",
                "target_name": "lowdust",
                "diaSource": source,
                "prvDiaSources": [_dia_source(obj, e, obj["id"]) for e in detections[:-1]],
                "prvDiaForcedSources": [_forced_source(obj, e) for e in past],
                "diaObject": _dia_object(obj, detections, epoch["mjd"]),
                "ssSource": {},
                "mpc_orbits": None,
                **rubin_cutouts(rng, obj, epoch, epoch["flux"]),
            }
        )
    return rows


def _asteroid(rng: np.random.Generator, number: int, dates: tuple[dt.date, ...]) -> dict:
    """A main-belt asteroid: designation, orbit's elements, path on the sky, brightness."""
    letters = string.ascii_uppercase.replace("I", "")  # half-months A-Y, then A-Z, without I
    half_month, order = rng.choice(list(letters[:24])), rng.choice(list(letters))
    designation = f"{rng.integers(2004, 2025)} {half_month}{order}{rng.integers(1, 99)}"
    a = float(rng.uniform(2.2, 3.2))
    e = float(rng.uniform(0.02, 0.25))
    return {
        "number": number,
        "designation": designation,
        "ssObjectId": ss_object_id(designation),
        "ra": float(rng.uniform(120, 200)),
        "dec": float(rng.uniform(-10, 10)),
        "rate": rng.normal(0, 0.2, 2) + np.array([-0.25, 0.0]),  # degrees a day
        "start": mjd_tai(_day_obs(dates[0]), _FIRST_SEQ),
        "flux": float(rng.uniform(5000, 30000)),
        "orbit": {"a": a, "q": a * (1 - e), "e": e, "i": float(rng.uniform(1, 15))},
        "h": float(rng.uniform(15, 19)),
        "helio": float(rng.uniform(2.1, 3.3)),
    }


def _asteroid_alerts(rng: np.random.Generator, asteroid: dict, night: dt.date) -> list[dict]:
    rows = []
    for day_obs, seq, band in _night_visits(rng, _day_obs(night), int(rng.integers(1, 3))):
        mjd = mjd_tai(day_obs, seq)
        ra, dec = asteroid["ra"], asteroid["dec"]
        ra = (ra + asteroid["rate"][0] * (mjd - asteroid["start"])) % 360
        dec = dec + asteroid["rate"][1] * (mjd - asteroid["start"])
        error = float(rng.uniform(350, 650))
        detector = int(rng.integers(0, 189))
        epoch = {
            "day_obs": day_obs,
            "seq": seq,
            "band": band,
            "mjd": mjd,
            "flux": asteroid["flux"] + float(rng.normal(0, error)),
            "error": error,
            "counter": _SS_COUNTER + int(rng.integers(0, 1000)),
            "seeing": float(rng.uniform(0.6, 1.1)),
            "ra": ra,
            "dec": dec,
        }
        place = {
            "number": asteroid["number"],
            "detector": detector,
            "x": float(rng.uniform(100, 3900)),
            "y": float(rng.uniform(100, 3900)),
            "rotpa": float(rng.uniform(0, 360)),
            "host": 0.0,
            "host_offset": np.zeros(2),
            "stars": np.column_stack(
                [
                    rng.uniform(1, STAMP_SIZE - 2, 3),
                    rng.uniform(1, STAMP_SIZE - 2, 3),
                    rng.lognormal(10.0, 1.0, 3),
                ]
            ),
        }
        source = _dia_source(place, epoch, 0, asteroid["ssObjectId"])
        rate = float(np.hypot(*asteroid["rate"]))
        rows.append(
            {
                "diaSourceId": source["diaSourceId"],
                "observation_reason": "wfd",
                "target_name": "lowdust",
                "diaSource": source,
                "prvDiaSources": None,
                "prvDiaForcedSources": None,
                "diaObject": None,
                "ssSource": {
                    "diaSourceId": source["diaSourceId"],
                    "ssObjectId": asteroid["ssObjectId"],
                    "designation": asteroid["designation"],
                    "elongation": float(rng.uniform(150, 175)),
                    "phaseAngle": float(rng.uniform(3, 15)),
                    "topoRange": asteroid["helio"] - 1.0,
                    "helioRange": asteroid["helio"],
                    "ephRa": ra + float(rng.normal(0, 5e-6)),
                    "ephDec": dec + float(rng.normal(0, 5e-6)),
                    "ephVmag": 31.4 - 2.5 * float(np.log10(asteroid["flux"])),
                    "ephRate": rate,
                    "ephOffset": float(abs(rng.normal(0, 0.05))),
                },
                "mpc_orbits": {
                    "designation": asteroid["designation"],
                    "packed_primary_provisional_designation": packed_designation(
                        asteroid["designation"]
                    ),
                    **asteroid["orbit"],
                    "h": asteroid["h"],
                    "g": 0.15,
                },
                **rubin_cutouts(rng, place, epoch, epoch["flux"]),
            }
        )
    return rows
