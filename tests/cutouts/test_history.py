"""An object's history read from its latest alert's row, checked against the stored files.

Expectations come from fastavro's reading of the real Rubin alerts and pyarrow's reading of the
real ZTF files (whole columns), and times from astropy on the stored values.
"""

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.time import Time
from support.offset_index_edits import offset_index, rewrite_offset_index
from support.real_data import SHARED_DATA, ztf_lake_files

from fink_cutout_jupyter.cutouts.history import object_history, upper_limits
from fink_cutout_jupyter.errors import CorruptData
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.parquet.row_leaves import read_row
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import LSST, ZTF


def _rows(lake: Lake, path: str):
    """(row group, row, stored row) of every alert of a file, as pyarrow reads them."""
    parquet = pq.ParquetFile(lake.resolve(path))
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=["candid", "candidate", "prv_candidates"])
        for row, stored in enumerate(table.to_pylist()):
            yield group, row, stored


def _location(path: str, group: int, row: int, alert_id: int, **fields) -> AlertLocation:
    return AlertLocation(
        fields.pop("object_id", None),
        alert_id,
        fields.pop("time", 0.0),
        path,
        group,
        row,
        file_size=0,
        **fields,
    )


def _number(number):
    return None if number is None or not math.isfinite(number) else number


def _iso(mjd: float, scale: str) -> str:
    return Time(mjd, format="mjd", scale=scale).utc.isot + "Z"


def _rubin_rows(lake: Lake):
    """(path, row group, row, diaSourceId) of every alert of the Rubin lake."""
    for night in lake.nights():
        for path in lake.night_files(night):
            parquet = pq.ParquetFile(lake.resolve(path))
            for group in range(parquet.num_row_groups):
                ids = parquet.read_row_group(group, columns=["diaSourceId"]).column(0)
                for row, alert_id in enumerate(ids.to_pylist()):
                    yield path, group, row, alert_id


def _rubin_point(kind, source, alert_id=None):
    mjd = source["midpointMjdTai"]
    return (
        kind,
        mjd,
        _iso(mjd, "tai"),
        source["band"],
        _number(source["psfFlux"]),
        _number(source["psfFluxErr"]),
        alert_id,
    )


def _as_tuples(points):
    return [
        (p["kind"], p["mjd"], p["time"], p["band"], p["value"], p["error"], p["alertId"])
        for p in points
    ]


# Upper limits (/api/v1/limits)


@pytest.mark.parametrize(("lake", "path"), ztf_lake_files())
def test_each_alerts_upper_limits_are_its_stored_non_detections_oldest_first(lake, path):
    with_limits = 0
    for group, row, stored in _rows(lake, path):
        expected = sorted(
            (entry["jd"], "gri"[entry["fid"] - 1], entry["diffmaglim"])
            for entry in stored["prv_candidates"] or []
            if entry["candid"] is None
        )
        limits = upper_limits(lake, _location(path, group, row, stored["candid"]), ZTF)
        assert [(limit["jd"], limit["filter"], limit["limit"]) for limit in limits] == [
            (jd, band, pytest.approx(depth)) for jd, band, depth in expected
        ]
        with_limits += bool(expected)
    assert with_limits, f"no alert of {path} has a non-detection to compare"


def test_a_row_that_no_longer_holds_the_alert_shows_no_limits():
    lake, path = ztf_lake_files()[0]
    group, row, stored = next(
        (group, row, stored)
        for group, row, stored in _rows(lake, path)
        if any(entry["candid"] is None for entry in stored["prv_candidates"] or [])
    )
    assert upper_limits(lake, _location(path, group, row, stored["candid"]), ZTF)
    moved = _location(path, group, row, stored["candid"] + 1)
    assert upper_limits(lake, moved, ZTF) == []


def test_a_lake_without_a_history_column_has_no_limits(demo, demo_lake):
    path = demo.files[0]
    assert "prv_candidates" not in pq.read_schema(demo.root / path).names
    alert_id = pq.read_table(demo.root / path, columns=["candid"]).column(0)[0].as_py()
    assert upper_limits(demo_lake, _location(path, 0, 0, alert_id), ZTF) == []


# The history (/api/v1/history)


@pytest.fixture(scope="module")
def rubin_lake_with_page_index(rubin_lake, tmp_path_factory):
    """The Rubin lake's files written again with the page index and small pages (a row's
    history read through the offset index: several pages per column, dictionary and PLAIN)."""
    root = tmp_path_factory.mktemp("rubin-page-index")
    for night in rubin_lake.nights():
        for path in rubin_lake.night_files(night):
            table = pq.read_table(rubin_lake.resolve(path))
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                table.combine_chunks(),
                root / path,
                write_page_index=True,
                data_page_size=2048,
                dictionary_pagesize_limit=512,
            )
    return Lake(root)


def _read_through_the_offset_index(lake, path, group, row):
    with pa.OSFile(str(lake.resolve(path))) as source:
        parquet = pq.ParquetFile(source)
        read_row(
            source,
            parquet,
            group,
            row,
            [
                "diaSourceId",
                "prvDiaSources.list.element.psfFlux",
                "prvDiaForcedSources.list.element.band",
            ],
            cache=None,
        )
        return True


@pytest.mark.parametrize("page_index", [False, True])
def test_each_rubin_alerts_history_is_its_stored_sources_and_forced_photometry(
    rubin_lake, rubin_lake_with_page_index, rubin_records, page_index
):
    if page_index:
        rubin_lake = rubin_lake_with_page_index
    records = {record["diaSourceId"]: record for record in rubin_records}
    with_forced = 0
    for path, group, row, alert_id in _rubin_rows(rubin_lake):
        record = records[alert_id]
        latest = _location(path, group, row, alert_id, time_scale="mjd")
        if page_index:  # the page reader can read this row (no fallback to pyarrow)
            assert _read_through_the_offset_index(rubin_lake, path, group, row)
        body = object_history(rubin_lake, latest, LSST, [latest])
        detections = {
            source["diaSourceId"]: _rubin_point("detection", source, str(source["diaSourceId"]))
            for source in record["prvDiaSources"] or []
        }
        detections[alert_id] = _rubin_point("detection", record["diaSource"], str(alert_id))
        forced = [_rubin_point("forced", source) for source in record["prvDiaForcedSources"] or []]
        expected = sorted([*detections.values(), *forced], key=lambda p: (p[1], p[6] or ""))
        assert _as_tuples(body["points"]) == expected
        assert [p["indexed"] for p in body["points"]] == [p[6] == str(alert_id) for p in expected]
        assert body["historyRead"] is True
        assert (body["unit"], body["survey"]) == ("nJy", "lsst")
        assert body["latestAlertId"] == str(alert_id)
        with_forced += bool(forced)
    assert with_forced >= 5


def test_each_ztf_alerts_history_is_its_stored_candidates_and_limits():
    for lake, path in ztf_lake_files():
        for group, row, stored in _rows(lake, path):
            latest = _location(path, group, row, stored["candid"], object_id="ZTF")
            body = object_history(lake, latest, ZTF, [])
            detections, limits = {}, []
            for entry in [*(stored["prv_candidates"] or []), {**stored["candidate"]}]:
                mjd = entry["jd"] - 2400000.5
                band = "gri"[entry["fid"] - 1]
                if entry["candid"] is None:
                    if _number(entry["diffmaglim"]) is not None:
                        limits.append(
                            (
                                "upper_limit",
                                mjd,
                                _iso(mjd, "utc"),
                                band,
                                entry["diffmaglim"],
                                None,
                                None,
                            )
                        )
                else:
                    detections[entry["candid"]] = (
                        "detection",
                        mjd,
                        _iso(mjd, "utc"),
                        band,
                        _number(entry["magpsf"]),
                        _number(entry["sigmapsf"]),
                        str(entry["candid"]),
                    )
            expected = sorted([*detections.values(), *limits], key=lambda p: (p[1], p[6] or ""))
            got = _as_tuples(body["points"])
            assert [p[:4] + p[6:] for p in got] == [p[:4] + p[6:] for p in expected]
            assert [p[4:6] for p in got] == [
                (pytest.approx(p[4]), pytest.approx(p[5])) for p in expected
            ]
            assert (body["objectId"], body["unit"]) == ("ZTF", "mag")


def test_the_index_detections_are_merged_one_point_per_alert(rubin_lake, rubin_records):
    record = max(rubin_records, key=lambda record: len(record["prvDiaSources"] or []))
    path, group, row, alert_id = next(
        found for found in _rubin_rows(rubin_lake) if found[3] == record["diaSourceId"]
    )
    latest = _location(path, group, row, alert_id, time_scale="mjd", object_id="7")
    earlier = record["prvDiaSources"][3]
    in_history = _location(
        path,
        0,
        0,
        earlier["diaSourceId"],
        time_scale="mjd",
        time=earlier["midpointMjdTai"],
        properties={"filter": "u", "magnitude": -1.0},
    )
    only_indexed = _location(
        path,
        0,
        0,
        42,
        time_scale="mjd",
        time=61000.5,
        properties={"filter": "g", "magnitude": 7.5, "magnitude_error": float("nan")},
    )
    body = object_history(rubin_lake, latest, LSST, [only_indexed, in_history, latest])
    by_id = {point["alertId"]: point for point in body["points"] if point["alertId"]}
    assert len(by_id) == len({s["diaSourceId"] for s in record["prvDiaSources"]}) + 2
    # the stored row's values win over the index's
    assert (
        by_id[str(earlier["diaSourceId"])]["band"],
        by_id[str(earlier["diaSourceId"])]["value"],
    ) == (earlier["band"], earlier["psfFlux"])
    assert by_id[str(earlier["diaSourceId"])]["indexed"] is True
    assert by_id["42"] == {
        "kind": "detection",
        "mjd": 61000.5,
        "time": _iso(61000.5, "tai"),
        "band": "g",
        "value": 7.5,
        "error": None,
        "alertId": "42",
        "indexed": True,
    }
    assert sum(point["indexed"] for point in body["points"]) == 3
    assert body["objectId"] == "7"


def test_an_unproven_row_gives_the_index_detections_only(rubin_lake, rubin_records):
    path, group, row, alert_id = next(
        found
        for found in _rubin_rows(rubin_lake)
        if any(r["diaSourceId"] == found[3] and r["prvDiaSources"] for r in rubin_records)
    )
    moved = _location(
        path,
        group,
        row,
        alert_id + 1,
        time_scale="mjd",
        time=61105.0,
        properties={"filter": "r", "magnitude": 12.0, "magnitude_error": 1.0},
    )
    body = object_history(rubin_lake, moved, LSST, [moved])
    assert body["historyRead"] is False
    assert _as_tuples(body["points"]) == [
        ("detection", 61105.0, _iso(61105.0, "tai"), "r", 12.0, 1.0, str(alert_id + 1))
    ]


def test_a_lake_without_history_columns_gives_the_index_detections(demo, demo_lake):
    path = demo.files[0]
    stored = pq.read_table(demo.root / path, columns=["candid", "candidate"]).to_pylist()[0]
    jd = stored["candidate"]["jd"]
    latest = _location(
        path,
        0,
        0,
        stored["candid"],
        time=jd,
        properties={"filter": "g", "magnitude": 18.0, "magnitude_error": 0.1},
    )
    body = object_history(demo_lake, latest, ZTF, [latest])
    assert body["historyRead"] is False
    assert _as_tuples(body["points"]) == [
        (
            "detection",
            jd - 2400000.5,
            _iso(jd - 2400000.5, "utc"),
            "g",
            18.0,
            0.1,
            str(stored["candid"]),
        )
    ]


def test_a_solar_system_alert_is_named_by_its_ss_object(rubin_lake, rubin_records):
    record = next(record for record in rubin_records if record["ssSource"] is not None)
    path, group, row, alert_id = next(
        found for found in _rubin_rows(rubin_lake) if found[3] == record["diaSourceId"]
    )
    ss_id = record["ssSource"]["ssObjectId"]
    latest = _location(
        path,
        group,
        row,
        alert_id,
        time_scale="mjd",
        properties={"ss_object_id": str(ss_id), "designation": record["ssSource"]["designation"]},
    )
    body = object_history(rubin_lake, latest, LSST, [latest])
    assert (body["objectId"], body["ssObjectId"], body["designation"]) == (
        None,
        str(ss_id),
        record["ssSource"]["designation"],
    )


def _ztf_with_gaps(tmp_path):
    """The first real ZTF file with NaN/null written into one alert's history and own values."""
    lake, path = ztf_lake_files()[0]
    table = pq.read_table(lake.resolve(path))
    records = table.to_pylist()
    chosen = next(
        index
        for index, record in enumerate(records)
        if sum(e["candid"] is None for e in record["prv_candidates"] or []) >= 2
        and sum(e["candid"] is not None for e in record["prv_candidates"] or []) >= 2
    )
    history = records[chosen]["prv_candidates"]
    limits = [e for e in history if e["candid"] is None]
    found = [e for e in history if e["candid"] is not None]
    limits[0]["diffmaglim"] = float("nan")  # left out
    limits[1]["jd"] = None  # left out
    found[0]["magpsf"] = float("nan")  # kept, value null
    found[0]["sigmapsf"] = None
    found[1]["jd"] = float("inf")  # left out
    copy = tmp_path / "science" / "year=2021" / "month=11" / "day=22"
    copy.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(records, schema=table.schema), copy / "part-0.parquet")
    return (
        Lake(tmp_path),
        "science/year=2021/month=11/day=22/part-0.parquet",
        records[chosen],
        (limits, found),
    )


def test_nan_and_null_in_the_lake_are_null_or_left_out(tmp_path):
    lake, path, record, (limits, found) = _ztf_with_gaps(tmp_path)
    rows = pq.read_table(lake.resolve(path), columns=["candid"]).column(0).to_pylist()
    latest = _location(path, 0, rows.index(record["candid"]), record["candid"])
    points = object_history(lake, latest, ZTF, [])["points"]
    ids = {point["alertId"]: point for point in points}
    assert ids[str(found[0]["candid"])]["value"] is None
    assert ids[str(found[0]["candid"])]["error"] is None
    assert str(found[1]["candid"]) not in ids
    times = {point["mjd"] for point in points if point["kind"] == "upper_limit"}
    assert limits[0]["jd"] - 2400000.5 not in times
    assert len(times) == sum(e["candid"] is None for e in record["prv_candidates"]) - 2
    assert all(math.isfinite(point["mjd"]) for point in points)


# Files whose bytes are not what they should be, and files no longer there


def _stored_history(path, row):
    """The points of the Rubin alert at `row` of `path`, from pyarrow's read of its record."""
    record = pq.read_table(path).to_pylist()[row]
    alert_id = record["diaSourceId"]
    detections = {
        source["diaSourceId"]: _rubin_point("detection", source, str(source["diaSourceId"]))
        for source in record["prvDiaSources"] or []
    }
    detections[alert_id] = _rubin_point("detection", record["diaSource"], str(alert_id))
    forced = [_rubin_point("forced", source) for source in record["prvDiaForcedSources"] or []]
    return alert_id, sorted([*detections.values(), *forced], key=lambda p: (p[1], p[6] or ""))


def _one_rubin_file(rubin_lake, root, **options):
    """The real Rubin file part-00002 (7 alerts) written again into a lake at `root`."""
    path = next(
        p for n in rubin_lake.nights() for p in rubin_lake.night_files(n) if "part-00002" in p
    )
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pq.read_table(rubin_lake.resolve(path)), root / path, **options)
    return Lake(root), path, root / path


def _leaves(path, prefix):
    parquet = pq.ParquetFile(path)
    names = [parquet.schema.column(i).path for i in range(len(parquet.schema))]
    return {name: i for i, name in enumerate(names) if name.startswith(prefix)}


def test_offset_indexes_misstating_a_pages_rows_give_the_alerts_own_history(rubin_lake, tmp_path):
    """Every history leaf's offset index says its second page starts a row early: the row read
    must still be the alert's (its pages refused, read with pyarrow), not the alert before."""
    lake, path, file = _one_rubin_file(
        rubin_lake, tmp_path, write_page_index=True, data_page_size=2000
    )
    lied = 0
    for column in _leaves(file, "prvDia").values():
        pages = offset_index(file, column)
        if [page.first_row_index for page in pages] == [0, 3]:
            rewrite_offset_index(file, column, [pages[0], pages[1]._replace(first_row_index=2)])
            lied += 1
    assert lied >= 20
    alert_id, expected = _stored_history(file, 2)
    assert expected != _stored_history(file, 1)[1]
    latest = _location(path, 0, 2, alert_id, time_scale="mjd")
    body = object_history(lake, latest, LSST, [latest])
    assert body["historyRead"] is True
    assert _as_tuples(body["points"]) == expected


def test_leaves_of_one_list_disagreeing_on_its_length_are_read_again_with_pyarrow(
    rubin_lake, tmp_path
):
    """psfFlux's offset index shifted by a row over three pages (each page's row count still
    right): the page reader gives the row before's fluxes, which the other leaves refute."""
    lake, path, file = _one_rubin_file(
        rubin_lake, tmp_path, write_page_index=True, data_page_size=1, write_batch_size=1
    )
    column = _leaves(file, "prvDiaSources.list.element.psfFlux")[
        "prvDiaSources.list.element.psfFlux"
    ]
    pages = offset_index(file, column)
    assert [page.first_row_index for page in pages[:6]] == [0, 1, 2, 3, 4, 5]
    shifted = [page._replace(first_row_index=page.first_row_index + 1) for page in pages[2:5]]
    rewrite_offset_index(file, column, [*pages[:2], *shifted, *pages[5:]])
    with pa.OSFile(str(file)) as source:
        read = read_row(
            source,
            pq.ParquetFile(source),
            0,
            3,
            ["prvDiaSources.list.element.psfFlux", "prvDiaSources.list.element.band"],
            cache=None,
        )
    stored = pq.read_table(file).column("prvDiaSources").to_pylist()
    assert read["prvDiaSources.list.element.psfFlux"] == [s["psfFlux"] for s in stored[2]]
    assert len(read["prvDiaSources.list.element.band"]) == len(stored[3]) != len(stored[2])
    alert_id, expected = _stored_history(file, 3)
    latest = _location(path, 0, 3, alert_id, time_scale="mjd")
    body = object_history(lake, latest, LSST, [latest])
    assert body["historyRead"] is True
    assert _as_tuples(body["points"]) == expected


@pytest.mark.parametrize("damage", ["garbled", "zeroed"])
def test_a_history_page_that_does_not_decode_is_corrupt_data_naming_alert_and_file(
    rubin_lake, tmp_path, damage
):
    lake, path, file = _one_rubin_file(rubin_lake, tmp_path, write_page_index=True)
    column = _leaves(file, "prvDiaSources.list.element.psfFlux")[
        "prvDiaSources.list.element.psfFlux"
    ]
    page = offset_index(file, column)[0]
    data = bytearray(file.read_bytes())
    if damage == "garbled":  # the body (snappy) garbled, the header kept
        data[page.offset + 40 : page.offset + page.compressed_page_size - 5] = b"\xff" * (
            page.compressed_page_size - 45
        )
    else:
        data[page.offset : page.offset + page.compressed_page_size] = bytes(
            page.compressed_page_size
        )
    file.write_bytes(bytes(data))
    with pytest.raises(OSError, match=r"nappy|thrift"):  # pyarrow too finds the bytes wrong
        pq.read_table(file, columns=["prvDiaSources"])
    alert_id = pq.read_table(file, columns=["diaSourceId"]).column(0)[2].as_py()
    latest = _location(path, 0, 2, alert_id, time_scale="mjd")
    with pytest.raises(CorruptData, match=f"alert {alert_id}: hdfsPath: {path} does not decode"):
        object_history(lake, latest, LSST, [latest])
    with pytest.raises(CorruptData, match=f"alert {alert_id}"):
        upper_limits(lake, latest, LSST)


def test_a_removed_file_gives_the_index_detections_unread(rubin_lake, tmp_path):
    lake, path, file = _one_rubin_file(rubin_lake, tmp_path, write_page_index=True)
    alert_id = pq.read_table(file, columns=["diaSourceId"]).column(0)[1].as_py()
    file.unlink()
    latest = _location(
        path,
        0,
        1,
        alert_id,
        time_scale="mjd",
        time=61105.0,
        properties={"filter": "r", "magnitude": 12.0, "magnitude_error": 1.0},
    )
    body = object_history(lake, latest, LSST, [latest])
    assert body["historyRead"] is False
    assert _as_tuples(body["points"]) == [
        ("detection", 61105.0, _iso(61105.0, "tai"), "r", 12.0, 1.0, str(alert_id))
    ]


def test_a_removed_live_nights_alert_is_read_from_its_archived_night(rubin_lake, tmp_path):
    """The latest alert indexed in a live night's file, since merged into the archived night
    (another file, another row) and removed: its history is the archived row's."""
    lake, _, archived = _one_rubin_file(rubin_lake, tmp_path)
    table = pq.read_table(archived)
    reordered = table.take(list(range(table.num_rows))[::-1])
    pq.write_table(reordered, archived.parent / "part-00000-merged.snappy.parquet")
    archived.unlink()
    alert_id, expected = _stored_history(archived.parent / "part-00000-merged.snappy.parquet", 4)
    live = "online/science/20260306/part-00002-rubin.snappy.parquet"
    latest = _location(live, 0, 2, alert_id, time_scale="mjd")
    body = object_history(lake, latest, LSST, [latest])
    assert body["historyRead"] is True
    assert _as_tuples(body["points"]) == expected
    # not in the archived night: unread, the index's detections
    gone = _location(live, 0, 2, 12345, time_scale="mjd", time=61105.0)
    body = object_history(lake, gone, LSST, [gone])
    assert body["historyRead"] is False
    assert [p["alertId"] for p in body["points"]] == ["12345"]


def test_a_null_band_is_null_from_the_row_and_from_the_index(tmp_path):
    lake, path = ztf_lake_files()[0]
    table = pq.read_table(lake.resolve(path))
    records = table.to_pylist()
    chosen = next(i for i, r in enumerate(records) if len(r["prv_candidates"] or []) >= 2)
    records[chosen]["prv_candidates"][0]["fid"] = None
    records[chosen]["candidate"]["fid"] = None
    copy = tmp_path / "science" / "year=2021" / "month=11" / "day=22"
    copy.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(records, schema=table.schema), copy / "part-0.parquet")
    stored = pq.read_table(copy / "part-0.parquet").to_pylist()[chosen]
    assert stored["candidate"]["fid"] is None
    assert stored["prv_candidates"][0]["fid"] is None
    path = "science/year=2021/month=11/day=22/part-0.parquet"
    latest = _location(path, 0, chosen, stored["candid"], object_id="ZTF")
    indexed = _location(path, 0, 0, 42, time=2459500.5, properties={"filter": None})
    points = object_history(Lake(tmp_path), latest, ZTF, [indexed, latest])["points"]
    by_time = {p["mjd"]: p for p in points}
    first = stored["prv_candidates"][0]
    assert by_time[first["jd"] - 2400000.5]["band"] is None
    assert by_time[stored["candidate"]["jd"] - 2400000.5]["band"] is None
    assert by_time[2459500.5 - 2400000.5]["band"] is None
    assert "None" not in {p["band"] for p in points}


_FAILING_READS = r"""
import ctypes, platform, struct, sys
from fink_cutout_jupyter.cutouts.history import object_history
from fink_cutout_jupyter.errors import LakeUnavailable
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import ZTF

lake = Lake(sys.argv[1])
latest = AlertLocation("ZTF", int(sys.argv[3]), 0.0, sys.argv[2], 0, 0, file_size=0)
assert object_history(lake, latest, ZTF, [])["historyRead"]
# From here on every pread(2) fails with EIO (a failing disk; stat still answers)
arch, pread, seccomp = {"x86_64": (0xC000003E, 17, 317), "aarch64": (0xC00000B7, 67, 277)}[
    platform.machine()]
program = b"".join(struct.pack("HBBI", *op) for op in [
    (0x20, 0, 0, 4), (0x15, 0, 3, arch), (0x20, 0, 0, 0), (0x15, 0, 1, pread),
    (0x06, 0, 0, 0x00050000 | 5), (0x06, 0, 0, 0x7FFF0000)])
buffer = ctypes.create_string_buffer(program)
class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0
fprog = Program(len(program) // 8, ctypes.addressof(buffer))
assert libc.syscall(seccomp, 1, 1, ctypes.byref(fprog)) == 0, ctypes.get_errno()
from fink_cutout_jupyter.parquet.row_leaves import OFFSET_INDEXES
OFFSET_INDEXES.clear()
try:
    object_history(Lake(sys.argv[1]), latest, ZTF, [])
except LakeUnavailable as error:
    print(error)
"""


def test_a_filesystem_failing_its_reads_is_an_outage_not_corrupt_data():
    """Reads failing (the kernel's EIO on every pread, a seccomp filter in a subprocess) while
    the file still answers a stat: LakeUnavailable (503), never CorruptData."""
    import platform
    import subprocess
    import sys

    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip("the failing reads are made with a Linux seccomp filter")
    lake, path = next((lake, p) for lake, p in ztf_lake_files() if "lake-spark3" in str(lake))
    candid = pq.read_table(lake.resolve(path), columns=["candid"]).column(0)[0].as_py()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _FAILING_READS,
            str(SHARED_DATA / "ztf" / "lake-spark3"),
            path,
            str(candid),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"failed reading hdfsPath: {path}" in done.stdout
    assert "Input/output error" in done.stdout


@pytest.mark.parametrize("page_index", [False, True])
def test_the_latest_rubin_alerts_sources_are_its_stored_dia_object_and_earlier_positions(
    rubin_lake, rubin_lake_with_page_index, rubin_records, page_index
):
    lake = rubin_lake_with_page_index if page_index else rubin_lake
    records = {record["diaSourceId"]: record for record in rubin_records}
    with_earlier = 0
    for path, group, row, alert_id in _rubin_rows(lake):
        record = records[alert_id]
        latest = _location(path, group, row, alert_id, time_scale="mjd")
        sources = object_history(lake, latest, LSST, [latest])["sources"]
        dia_object = record["diaObject"] or {}
        assert sources["diaObject.ra"] == _number(dia_object.get("ra"))
        assert sources["diaObject.dec"] == _number(dia_object.get("dec"))
        earlier = record["prvDiaSources"]
        if earlier is None:
            assert not any(path.startswith("prvDiaSources.") for path in sources)
            continue
        with_earlier += 1
        assert sources["prvDiaSources.ra"] == [_number(s["ra"]) for s in earlier]
        assert sources["prvDiaSources.dec"] == [_number(s["dec"]) for s in earlier]
        assert sources["prvDiaSources.diaSourceId"] == [str(s["diaSourceId"]) for s in earlier]
        assert sources["prvDiaSources.midpointMjdTai"] == [s["midpointMjdTai"] for s in earlier]
    assert with_earlier >= 5


def test_the_latest_ztf_alerts_sources_are_its_stored_reference_and_pan_starrs_fields():
    names = ("ranr", "decnr", "distnr", "distpsnr1", "distpsnr2", "distpsnr3")
    for lake, path in ztf_lake_files():
        for group, row, stored in _rows(lake, path):
            latest = _location(path, group, row, stored["candid"], object_id="ZTF")
            sources = object_history(lake, latest, ZTF, [])["sources"]
            expected = {f"candidate.{name}": _number(stored["candidate"][name]) for name in names}
            assert sources == expected


def test_an_unproven_row_gives_no_sources(rubin_lake, rubin_records):
    path, group, row, alert_id = next(_rubin_rows(rubin_lake))
    other = _location(path, group, row, alert_id + 1, time_scale="mjd", time=61105.0)
    assert object_history(rubin_lake, other, LSST, [other])["sources"] == {}
