"""The alert's catalog, checked against the real files read independently: pyarrow for ZTF's
Parquet, fastavro for Rubin's alerts; and as the API gives it (``/alerts`` and ``/history``)."""

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from support.real_data import ztf_lake_files

from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import LSST, ZTF
from fink_cutout_jupyter.widgets.alert_catalog import alert_catalog, leaves_of

PS1 = ("distpsnr1", "distpsnr2", "distpsnr3")


def _ztf_rows():
    for lake, path in ztf_lake_files():
        yield from pq.read_table(lake.resolve(path), columns=["candid", "candidate"]).to_pylist()


def _positions(table):
    return [(float(c.ra.deg), float(c.dec.deg)) for c in table["coord"]]


def _ps1(candidate):
    return [
        candidate[name] if candidate[name] is not None and candidate[name] >= 0 else None
        for name in PS1
    ]


def _ps1_of(table):
    return [None if math.isnan(table[name][0]) else float(table[name][0]) for name in PS1]


def test_each_stored_ztf_alert_gives_its_position_its_nearest_reference_and_ps1_distances():
    rows = list(_ztf_rows())
    assert len(rows) == 126
    without_third = 0
    for row in rows:
        candidate = row["candidate"]
        table = alert_catalog(row, ZTF)
        assert list(table["kind"]) == ["alert", "nearest reference source"]
        assert table["name"][0] == f"alert {row['candid']}"
        assert _positions(table) == [
            (candidate["ra"], candidate["dec"]),
            (candidate["ranr"], candidate["decnr"]),
        ]
        # astropy's separation of the two positions is ZTF's own distnr (to its rounding)
        assert table["separation"][1] == pytest.approx(candidate["distnr"], abs=0.1)
        assert table["separation"].unit == "arcsec"
        assert _ps1_of(table) == _ps1(candidate)
        assert all(np.isnan(table[name][1]) for name in PS1), "distances are the alert's"
        without_third += candidate["distpsnr3"] < 0
    assert without_third >= 1, "a real alert with fewer than three Pan-STARRS sources (-999)"


def test_each_stored_rubin_alert_gives_its_dia_object_and_earlier_detections(rubin_records):
    with_earlier = solar_system = 0
    for record in rubin_records:
        table = alert_catalog(record, LSST)
        source = record["diaSource"]
        dia_object = record["diaObject"] or {}
        earlier = record["prvDiaSources"] or []
        expected = [(source["ra"], source["dec"])]
        kinds = ["alert"]
        if dia_object.get("ra") is not None:
            expected.append((dia_object["ra"], dia_object["dec"]))
            kinds.append("DIA object")
        expected += [(s["ra"], s["dec"]) for s in earlier]
        kinds += ["earlier DIA source"] * len(earlier)
        assert _positions(table) == expected
        assert list(table["kind"]) == kinds
        assert list(table["name"][len(kinds) - len(earlier) :]) == [
            f"prvDiaSources {s['diaSourceId']}" for s in earlier
        ]
        assert table["name"][0] == f"alert {record['diaSourceId']}"
        with_earlier += bool(earlier)
        solar_system += dia_object.get("ra") is None
    assert with_earlier >= 5
    assert solar_system >= 2, "alerts without a diaObject: the alert's position alone"


def test_missing_and_non_finite_positions_are_left_out():
    record = {
        "candid": 1,
        "candidate": {
            "ra": 10.0,
            "dec": 20.0,
            "ranr": math.nan,
            "decnr": 20.0,
            "distpsnr1": -999.0,
            "distpsnr2": None,
            "distpsnr3": 2.5,
        },
    }
    table = alert_catalog(record, ZTF)
    assert list(table["kind"]) == ["alert"]
    assert _ps1_of(table) == [None, None, 2.5]
    assert len(alert_catalog({"ra": None, "dec": 1.0}, ZTF)) == 0
    rubin = {
        "ra": 1.0,
        "dec": 2.0,
        "alertId": 5,
        "jd": 2461000.5,
        "prvDiaSources": [
            {"ra": 1.1, "dec": None, "diaSourceId": 3},
            {"ra": math.inf, "dec": 2.1, "diaSourceId": 4},
            {"ra": 1.2, "dec": 2.2, "diaSourceId": 6},
        ],
    }
    assert _positions(alert_catalog(rubin, LSST)) == [(1.0, 2.0), (1.2, 2.2)]


def _json(reply):
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def test_a_real_ztf_objects_catalog_through_the_api_is_its_stored_fields(real_lake_case):
    """/alerts gives each alert's position, /history the latest alert's stored sources."""
    case = real_lake_case
    api = CutoutAPI(Lake(case.lake, science_dir=case.science_dir), case.index)
    stored = {row["candid"]: row["candidate"] for row in _ztf_rows()}
    for object_id in ("ZTF18aaqfhlj", "ZTF18abwvktq"):
        alerts = _json(api.handle("alerts", {"objectId": object_id}))
        history = _json(api.handle("history", {"objectId": object_id}))
        latest = stored[alerts[-1]["alertId"]]
        for alert in alerts:
            table = alert_catalog(alert, ZTF, history["sources"])
            candidate = stored[alert["alertId"]]
            assert _positions(table) == [
                (candidate["ra"], candidate["dec"]),
                (latest["ranr"], latest["decnr"]),
            ]
            assert _ps1_of(table) == pytest.approx(_ps1(latest))


@pytest.fixture(scope="module")
def rubin_api(rubin_lake):
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    build(AlertIndex(rubin_lake), rubin_lake.nights(), progress=False)
    return CutoutAPI(rubin_lake)


def test_a_real_rubin_objects_catalog_through_the_api_is_its_stored_positions(
    rubin_api, rubin_records
):
    with_earlier = 0
    for record in rubin_records:
        if record["diaObject"] is None or record["diaObject"].get("diaObjectId") is None:
            continue
        object_id = record["diaObject"]["diaObjectId"]
        alerts = _json(rubin_api.handle("alerts", {"objectId": object_id}))
        history = _json(rubin_api.handle("history", {"objectId": object_id}))
        assert alerts[-1]["alertId"] == record["diaSourceId"], "one alert per object here"
        table = alert_catalog(alerts[-1], LSST, history["sources"])
        earlier = record["prvDiaSources"] or []
        assert _positions(table) == [
            (record["diaSource"]["ra"], record["diaSource"]["dec"]),
            (record["diaObject"]["ra"], record["diaObject"]["dec"]),
            *((s["ra"], s["dec"]) for s in earlier),
        ]
        with_earlier += bool(earlier)
        if earlier:  # an earlier alert sees only the sources before it, and not itself
            middle = sorted(earlier, key=lambda s: s["midpointMjdTai"])[len(earlier) // 2]
            at_middle = {
                "ra": middle["ra"],
                "dec": middle["dec"],
                "alertId": middle["diaSourceId"],
                "jd": middle["midpointMjdTai"] + 2400000.5,
            }
            before = [
                (s["ra"], s["dec"])
                for s in earlier
                if s["midpointMjdTai"] < middle["midpointMjdTai"]
            ]
            got = _positions(alert_catalog(at_middle, LSST, history["sources"]))
            assert got == [(middle["ra"], middle["dec"]), got[1], *before]
            assert len(before) < len(earlier) - 1
    assert with_earlier >= 4


def test_leaves_of_a_nested_record_are_its_dotted_paths():
    record = {"a": {"b": 1, "c": {"d": 2}}, "l": [{"x": 1, "y": 2}, None, {"x": 3}], "e": []}
    assert dict(leaves_of(record)) == {
        "a.b": 1,
        "a.c.d": 2,
        "l.x": [1, None, 3],
        "l.y": [2, None, None],
        "e": [],
    }


def test_the_alerts_reply_alone_gives_the_alerts_position(real_lake_case):
    """Without /history's sources (an older server): the alert's own position only."""
    case = real_lake_case
    table = pq.read_table(
        next(p for p in sorted((Path(case.lake) / case.science_dir).rglob("*.parquet"))),
        columns=["objectId", "candid", "candidate"],
    )
    first = table.filter(pc.equal(table["candid"], table["candid"][0])).to_pylist()[0]
    api = CutoutAPI(Lake(case.lake, science_dir=case.science_dir), case.index)
    alerts = _json(api.handle("alerts", {"objectId": first["objectId"]}))
    alert = next(a for a in alerts if a["alertId"] == first["candid"])
    catalog = alert_catalog(alert, ZTF)
    assert _positions(catalog) == [(first["candidate"]["ra"], first["candidate"]["dec"])]
    assert _ps1_of(catalog) == [None, None, None]
