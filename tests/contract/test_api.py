import io
import json
import math
import os
from pathlib import Path

import pytest

from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.contract.parameters import parse_cutout_request
from fink_cutout_jupyter.cutouts.render import RenderOptions
from fink_cutout_jupyter.errors import BadParameter, NotFound
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import KINDS, LSST, ZTF, ObjectId


def test_defaults_are_all_kinds_as_arrays():
    request = parse_cutout_request({"objectId": "ZTF24abssjsb"})
    assert (request.kinds, request.fmt, request.alert_id, request.path) == (
        KINDS,
        "array",
        None,
        None,
    )
    assert request.render == RenderOptions()


def test_portal_and_seed_names_mean_the_same():
    assert parse_cutout_request({"candid": 5, "output-format": "png"}).fmt == "PNG"
    assert parse_cutout_request({"candid": "5", "return_type": "fits"}).fmt == "FITS"
    assert (
        parse_cutout_request({"diaSourceId": "170094456272322680"}).alert_id == 170094456272322680
    )
    assert parse_cutout_request({"candid": 7, "diaSourceId": "7"}).alert_id == 7
    with pytest.raises(NotFound, match="name different alerts"):
        parse_cutout_request({"candid": 7, "diaSourceId": 8})
    both = parse_cutout_request({"candid": 5, "return_type": "FITS", "output-format": "PNG"})
    assert both.fmt == "FITS", "return_type wins over output-format"


def test_render_options_are_parsed_and_checked():
    request = parse_cutout_request(
        {
            "candid": 1,
            "pmin": "1.5",
            "pmax": 98,
            "flip": "true",
            "stretch": "log",
            "colormap": "magma",
        }
    )
    assert request.render == RenderOptions(
        stretch="log", pmin=1.5, pmax=98.0, colormap="magma", flip=True
    )
    with pytest.raises(BadParameter, match=r"pmin: 50 is not a number from 0 to 50 \(pmin < 50"):
        parse_cutout_request({"candid": 1, "pmin": 50, "pmax": 10})
    with pytest.raises(BadParameter, match="pmax: 10 is not a number from 50 to 100"):
        parse_cutout_request({"candid": 1, "pmax": 10})
    with pytest.raises(BadParameter, match="pmin: 'nan' is not a number"):
        parse_cutout_request({"candid": 1, "pmin": "nan"})
    with pytest.raises(BadParameter, match="flip: 'yes' is not allowed; allowed: true, false"):
        parse_cutout_request({"candid": 1, "flip": "yes"})


def test_object_ids_are_validated_when_the_survey_is_known():
    with pytest.raises(BadParameter, match="ZTF24abssjsb"):
        parse_cutout_request({"objectId": "12345"}, ZTF)
    assert parse_cutout_request({"objectId": "12345"}).object_id == "12345"
    checked = parse_cutout_request({"objectId": "ZTF24abssjsb"}, ZTF).object_id
    assert isinstance(checked, ObjectId)
    assert (checked, checked.stored, checked.survey) == ("ZTF24abssjsb", "ZTF24abssjsb", ZTF)
    rubin = parse_cutout_request({"diaObjectId": 170028485706776685}, LSST).object_id
    assert isinstance(rubin, ObjectId)
    assert (rubin, rubin.stored, rubin.survey) == ("170028485706776685", 170028485706776685, LSST)


def test_etags_name_the_exact_response():
    first = parse_cutout_request({"candid": 1, "kind": "Science"})
    assert first.etag() == parse_cutout_request({"candid": "1", "kind": "Science"}).etag()
    assert first.etag() != parse_cutout_request({"candid": 1, "kind": "Template"}).etag()
    assert (
        first.etag() != parse_cutout_request({"candid": 1, "kind": "Science", "flip": True}).etag()
    )
    assert first.etag()[0] == first.etag()[-1] == '"'  # a strong ETag
    assert first.etag("a.parquet", (10, 1)) != first.etag("a.parquet", (10, 2))
    assert first.etag("a.parquet", (10, 1), 5) != first.etag("a.parquet", (10, 1), 6)


@pytest.mark.parametrize("through_index", [True, False], ids=["index", "hdfsPath"])
def test_a_rewritten_file_gets_a_new_etag_and_serves_its_new_bytes(rewritable_lake, through_index):
    from support.rewrites import change_a_pixel, stored_stamps

    lake = rewritable_lake
    candid = lake.table.column("candid")[10].as_py()
    params = {"candid": str(candid), "kind": "Science", "return_type": "FITS"}
    if not through_index:
        params["hdfsPath"] = lake.path
    api = CutoutAPI(lake.lake)
    first = api.handle("cutouts", params)
    assert first.body == stored_stamps(lake.file, candid)["Science"]
    assert api.handle("cutouts", params, first.headers["ETag"]).status == 304

    lake.rewrite(change_a_pixel(lake.table, 10, "Science"), keep_mtime=False)
    again = api.handle("cutouts", params, first.headers["ETag"])
    assert again.status == 200
    assert again.headers["ETag"] != first.headers["ETag"]
    assert again.body == stored_stamps(lake.file, candid)["Science"] != first.body


def test_fink_object_api_ztf_request_verbatim(ztf_rows):
    """What Fink's object API posts for ZTF: candid as text, the absolute path it stored."""
    api = CutoutAPI(ztf_rows[0]["lake"])
    for row in ztf_rows[:: len(ztf_rows) // 10]:
        lake = row["lake"]
        api = CutoutAPI(lake)
        for kind in ("Science", "Template", "Difference"):
            body = {
                "candid": str(row["candid"]),
                "hdfsPath": lake.resolve(row["path"]),
                "kind": kind,
                "objectId": row["objectId"],
                "return_type": "FITS",
            }
            reply = api.handle("cutouts", body)
            assert reply.status == 200, reply.body
            assert reply.body == row["fits"][kind]
        arrays = api.handle("cutouts", {**body, "return_type": "array"})
        assert arrays.status == 200
        assert len(json.loads(arrays.body)) == 1


def test_fink_object_api_rubin_request_verbatim(rubin_lake, rubin_records):
    """What Fink's object API posts for Rubin: diaSourceId as text, diaObjectId, absolute path."""
    api = CutoutAPI(rubin_lake)
    files = rubin_lake.night_files("20260306")
    answered = 0
    for record in rubin_records:
        if not (record["diaObject"] or {}).get("diaObjectId"):
            continue
        for path in files:
            body = {
                "diaSourceId": str(record["diaSourceId"]),
                "hdfsPath": rubin_lake.resolve(path),
                "kind": "Difference",
                "diaObjectId": record["diaObject"]["diaObjectId"],
                "return_type": "FITS",
            }
            reply = api.handle("cutouts", body)
            if reply.status == 404:
                continue
            assert reply.status == 200, reply.body
            assert reply.body == record["cutoutDifference"]
            wrong = api.handle("cutouts", {**body, "diaObjectId": "1"})
            assert wrong.status == 404
            assert "is not an alert of 1" in json.loads(wrong.body)["text"]
            answered += 1
    assert answered == 7


def test_two_names_of_one_id_that_disagree_name_no_alert(demo):
    assert parse_cutout_request({"diaObjectId": "42"}).object_id == "42"
    assert parse_cutout_request({"diaObjectId": 42, "objectId": "42"}).object_id == "42"
    with pytest.raises(NotFound, match="name different alerts"):
        parse_cutout_request({"diaObjectId": 42, "objectId": "43"})
    reply = CutoutAPI(Lake(demo.root)).handle("cutouts", {"candid": 1, "diaSourceId": 2})
    assert reply.status == 404
    assert "name different alerts" in json.loads(reply.body)["text"]


def test_handle_turns_every_failure_into_a_json_reply(demo, tmp_path, caplog):
    api = CutoutAPI(Lake(demo.root))
    assert api.handle("nope", {}).status == 404
    ok = api.handle("cutouts", {"objectId": "ZTF24abssjsb", "kind": "Science"})
    assert ok.status == 200
    assert len(json.loads(ok.body)) == 1

    broken = tmp_path / "broken-index"
    broken.mkdir()
    (broken / "layout.json").write_text("{not json")
    damaged = CutoutAPI(Lake(demo.root), str(broken)).handle("alerts", {"objectId": "ZTF24abssjsb"})
    assert damaged.status == 503  # a damaged index names its file (tests/index/test_lookup.py)
    assert "layout.json is damaged" in json.loads(damaged.body)["text"]

    class Failing(dict):  # a failure nobody foresaw
        def get(self, *_):
            raise RuntimeError("a bug")

        __getitem__ = get

    with caplog.at_level("ERROR"):
        reply = api.handle("alerts", Failing(objectId="ZTF24abssjsb"))
    assert reply.status == 500
    assert json.loads(reply.body) == {
        "status": "error",
        "text": "internal error; the server log has the details",
    }
    assert "unexpected error answering alerts" in caplog.text


def test_no_parameters_describe_the_arguments(demo):
    reply = CutoutAPI(str(demo.root)).handle("cutouts", {})
    args = json.loads(reply.body)["args"]
    kind = next(arg for arg in args if arg["name"] == "kind")
    assert kind["allowed"] == ["Science", "Template", "Difference", "All"]
    assert kind["default"] == "All"


@pytest.fixture
def damaged_lake(tmp_path):
    """Real alerts with three broken Science stamps, and files and links that are not the lake's."""
    import gzip

    import pyarrow as pa
    import pyarrow.compute as pc
    from support.rewrites import real_alerts, write_fixed_layout

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    table = real_alerts()
    stamps = table.column("cutoutScience").combine_chunks()
    data = pc.struct_field(stamps, "stampData").to_pylist()
    fits = gzip.decompress(data[2])
    data[0] = b"garbage, not gzip"
    data[1] = gzip.compress(b"gzip of something that is not FITS")
    data[2] = gzip.compress(fits[:2000])  # a FITS file cut short, in a valid gzip
    broken = pa.StructArray.from_arrays(
        [pc.struct_field(stamps, "fileName"), pa.array(data, pa.binary())],
        ["fileName", "stampData"],
    )
    table = table.set_column(table.schema.get_field_index("cutoutScience"), "cutoutScience", broken)
    night = tmp_path / "lake/science/year=2021/month=11/day=21"
    night.mkdir(parents=True)
    write_fixed_layout(table, night / "part-00000-damaged.parquet")
    deleted = real_alerts().slice(10, 5)
    moved_ids = pc.add(deleted.column("candid"), 1)  # alerts of their own
    deleted = deleted.set_column(deleted.schema.get_field_index("candid"), "candid", moved_ids)
    write_fixed_layout(deleted, night / "part-00001-deleted.parquet")
    lake = Lake(tmp_path / "lake")
    build(AlertIndex(lake), lake.nights(), progress=False)
    (night / "part-00001-deleted.parquet").unlink()
    whole = (night / "part-00000-damaged.parquet").read_bytes()
    (night / "part-00002-truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (night / "part-00003-random.parquet").write_bytes(os.urandom(5000))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.parquet").write_bytes(whole)
    (tmp_path / "lake/link-out.parquet").symlink_to(outside / "secret.parquet")
    (tmp_path / "lake/dir-out").symlink_to(outside)
    (tmp_path / "lake/link-missing.parquet").symlink_to(outside / "missing.parquet")
    (tmp_path / "lake/link-in.parquet").symlink_to(night / "part-00000-damaged.parquet")
    return lake, table.column("candid").to_pylist() + moved_ids.to_pylist()


def test_corrupt_stamps_are_their_own_error_and_the_other_kinds_still_answer(damaged_lake, caplog):
    lake, candids = damaged_lake
    api = CutoutAPI(lake)
    path = "science/year=2021/month=11/day=21/part-00000-damaged.parquet"
    with caplog.at_level("ERROR"):
        for row in (0, 1, 2):
            for extra in ({}, {"hdfsPath": path}):
                params = {"candid": candids[row], "kind": "Science", **extra}
                for fmt in ("array", "FITS", "PNG"):
                    reply = api.handle("cutouts", {**params, "return_type": fmt})
                    assert reply.status == 502, (row, fmt, reply.body)
                    text = json.loads(reply.body)["text"]
                    assert f"the Science stamp of alert {candids[row]} in {path}" in text
                everything = api.handle("cutouts", {**params, "kind": "All"})
                assert everything.status == 502
                assert "Science stamp" in json.loads(everything.body)["text"]
                for kind in ("Template", "Difference"):
                    fine = api.handle("cutouts", {**params, "kind": kind, "return_type": "FITS"})
                    assert fine.status == 200
                    assert fine.body.startswith(b"SIMPLE")
    assert caplog.text.count("corrupt stamp in") == 1, "logged once per file"
    assert str(lake.uri) not in caplog.text + reply.body.decode()


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        (
            "science/year=2021/month=11/day=21/part-00002-truncated.parquet",
            404,
            "not an alert file",
        ),
        ("science/year=2021/month=11/day=21/part-00003-random.parquet", 404, "not an alert file"),
        ("science/year=2021/month=11/day=21/part-00001-deleted.parquet", 404, "no file"),
        ("science/year=2021/month=11/day=21", 404, "no file"),
        ("link-out.parquet", 403, "leads outside the lake root"),
        ("dir-out/secret.parquet", 403, "leads outside the lake root"),
        ("link-missing.parquet", 403, "leads outside the lake root"),
        ("x" * 300 + ".parquet", 404, "longer than 255 bytes"),
    ],
)
def test_files_that_are_not_the_lakes_alerts_answer_their_status(damaged_lake, path, status, text):
    lake, candids = damaged_lake
    api = CutoutAPI(lake)
    reply = api.handle("cutouts", {"objectId": "ZTF18aaqfhlj", "hdfsPath": path})
    assert reply.status == status, reply.body
    answer = json.loads(reply.body)["text"]
    assert text in answer
    assert str(lake.uri) not in answer, "no server path in a reply"
    assert len(answer) < 600
    ok = api.handle("cutouts", {"candid": candids[5], "kind": "Science"})
    assert ok.status == 200, "the server goes on"


def test_links_that_stay_inside_the_lake_work(damaged_lake):
    lake, candids = damaged_lake
    reply = CutoutAPI(lake).handle(
        "cutouts", {"candid": candids[5], "hdfsPath": "link-in.parquet", "return_type": "FITS"}
    )
    assert reply.status == 200


def test_an_indexed_file_deleted_or_truncated_after_indexing(damaged_lake):
    lake, candids = damaged_lake
    api = CutoutAPI(lake)
    deleted = api.handle("cutouts", {"candid": candids[-1]})  # indexed in part-00001, deleted
    assert deleted.status == 404
    assert "no file" in json.loads(deleted.body)["text"]
    damaged = Path(lake.resolve("science/year=2021/month=11/day=21/part-00000-damaged.parquet"))
    damaged.write_bytes(damaged.read_bytes()[:5000])
    truncated = api.handle("cutouts", {"candid": candids[5]})
    assert truncated.status == 502
    assert "is no longer a readable alert file" in json.loads(truncated.body)["text"]


def test_upper_limits_are_the_latest_alerts_non_detections(real_lake_case):
    """ZTF's prv_candidates, read with pyarrow: the entries without a candid of each object's
    latest alert, with their diffmaglim; the demo lake keeps no history: none."""
    import json

    import pyarrow.parquet as pq

    from fink_cutout_jupyter.storage.lake import Lake

    lake = Lake(real_lake_case.lake, science_dir=real_lake_case.science_dir)
    api = CutoutAPI(lake, real_lake_case.index)
    latest: dict[str, dict] = {}
    for path in sorted((Path(real_lake_case.lake) / real_lake_case.science_dir).rglob("*.parquet")):
        for row in pq.read_table(
            path, columns=["objectId", "candidate", "prv_candidates"]
        ).to_pylist():
            known = latest.get(row["objectId"])
            if known is None or row["candidate"]["jd"] > known["candidate"]["jd"]:
                latest[row["objectId"]] = row
    checked = 0
    for object_id, row in sorted(latest.items()):
        expected = sorted(
            (entry["jd"], "gri"[entry["fid"] - 1], entry["diffmaglim"])
            for entry in row["prv_candidates"] or []
            if entry["candid"] is None
        )
        reply = api.handle("limits", {"objectId": object_id})
        assert reply.status == 200
        limits = json.loads(reply.body)
        assert [(limit["jd"], limit["filter"], limit["limit"]) for limit in limits] == [
            (jd, band, pytest.approx(limit)) for jd, band, limit in expected
        ], object_id
        assert all(limit["date"].endswith("+00:00") for limit in limits)
        checked += bool(expected)
    assert checked >= 10, "real alerts with non-detections were compared"
    assert api.handle("limits", {"objectId": "ZTF99zzzzzzz"}).status == 404
    assert api.handle("limits", {}).status == 400


def test_a_lake_without_history_has_no_upper_limits(demo):
    import json

    reply = CutoutAPI(str(demo.root)).handle("limits", {"objectId": "ZTF24abssjsb"})
    assert (reply.status, json.loads(reply.body)) == (200, [])


@pytest.fixture(scope="module")
def nonfinite(tmp_path_factory):
    from support.nonfinite import nonfinite_api

    return nonfinite_api(tmp_path_factory.mktemp("nonfinite-lake"))


def test_numbers_the_lake_holds_as_nan_or_infinity_are_null_in_alerts(nonfinite):
    """Each changed alert read with pyarrow: every number as stored, or null where not finite;
    an alert without a finite time is listed last, jd and date null, and so is its FITS."""
    import datetime as dt

    import pyarrow.parquet as pq
    from astropy.time import Time
    from support.nonfinite import CANDIDATES, finite_or_none, strict_json

    api, file = nonfinite
    rows = pq.read_table(file, columns=["objectId", "candid", "candidate"]).to_pylist()
    names = {"magnitude": "magpsf", "magnitude_error": "sigmapsf", "ra": "ra", "dec": "dec"}
    for row in CANDIDATES:
        stored = rows[row]
        reply = api.handle("alerts", {"objectId": stored["objectId"]})
        assert reply.status == 200, reply.body
        listed = strict_json(reply.body)
        alert = next(alert for alert in listed if alert["alertId"] == stored["candid"])
        for name, column in names.items():
            assert alert[name] == finite_or_none(stored["candidate"][column]), (row, name)
        jd = finite_or_none(stored["candidate"]["jd"])
        assert alert["jd"] == jd
        if jd is None:
            assert alert["date"] is None
            assert listed[-1] is alert, "an alert without a time is listed last"
        else:
            date = Time(jd, format="jd", scale="utc").to_datetime(timezone=dt.UTC)
            assert alert["date"] == date.isoformat(timespec="seconds")
        fits_reply = api.handle("cutouts", {"candid": stored["candid"], "return_type": "FITS"})
        assert fits_reply.status == 200, fits_reply.body


def test_upper_limits_without_a_finite_time_or_depth_are_left_out(nonfinite):
    import pyarrow.parquet as pq
    from support.nonfinite import HISTORY, HISTORY_ROW, strict_json

    api, file = nonfinite
    stored = pq.read_table(file, columns=["objectId", "prv_candidates"]).to_pylist()[HISTORY_ROW]
    non_detections = [e for e in stored["prv_candidates"] if e["candid"] is None]
    expected = sorted(
        (entry["jd"], entry["diffmaglim"])
        for entry in non_detections
        if all(math.isfinite(entry[name]) for name in ("jd", "diffmaglim"))
    )
    assert len(expected) == len(non_detections) - len(HISTORY)
    reply = api.handle("limits", {"objectId": stored["objectId"]})
    assert reply.status == 200, reply.body
    limits = strict_json(reply.body)
    assert [(limit["jd"], limit["limit"]) for limit in limits] == expected
    assert all(limit["date"].endswith("+00:00") for limit in limits)


def count_calls(monkeypatch, owner, name: str, counted=lambda *args: True) -> list:
    """The arguments of every call of the real `owner.name` (still called) that `counted`."""
    calls = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        if counted(*args):
            calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_an_hdfs_path_is_made_relative_once_per_request(demo, monkeypatch, form):
    """At the edge only: the reader, the stat and the open take its `LakePath` (was 4 calls)."""
    from support.rewrites import stored_stamps

    api = CutoutAPI(str(demo.root))
    location = api.index.latest("ZTF24abssjsb")
    path = location.path if form == "relative" else str(demo.root / location.path)
    calls = count_calls(monkeypatch, Lake, "relative")
    params = {
        "objectId": "ZTF24abssjsb",
        "hdfsPath": path,
        "kind": "Science",
        "return_type": "FITS",
    }
    reply = api.handle("cutouts", params)
    assert reply.status == 200, reply.body
    assert reply.body == stored_stamps(demo.root / location.path, location.alert_id)["Science"]
    assert [args[1] for args in calls] == [path]


def test_kinds_are_checked_once_at_the_edge(demo, monkeypatch):
    """The parameter table checks ``kind``; the reader and the stamps take its `StampKinds`
    (was three checks: the table, the reader, each stamp's decoding)."""
    from fink_cutout_jupyter.contract import parameters
    from fink_cutout_jupyter.cutouts import stamps

    api = CutoutAPI(str(demo.root))
    location = api.index.latest("ZTF24abssjsb")
    edge = count_calls(monkeypatch, parameters, "check")
    inner = count_calls(
        monkeypatch, stamps.StampKinds, "of", lambda kinds: not isinstance(kinds, stamps.StampKinds)
    )
    per_stamp = count_calls(monkeypatch, stamps, "stamp_from_stored")
    for params, body in (
        ({"candid": location.alert_id, "kind": "Template"}, False),
        ({"objectId": "ZTF24abssjsb", "hdfsPath": location.path}, False),
        ({"candid": [location.alert_id] * 2, "kind": "Difference"}, True),
    ):
        reply = api.handle("cutouts", params, body=body)
        assert reply.status == 200, reply.body
    assert (len(edge), inner, per_stamp) == (2, [], [])
    refused = api.handle("cutouts", {"candid": location.alert_id, "kind": "Sky"})
    assert refused.status == 400
    assert json.loads(refused.body)["text"].startswith("kind: 'Sky' is not allowed")


@pytest.mark.parametrize("configured", [True, False], ids=["survey-configured", "survey-indexed"])
def test_object_ids_are_checked_once_per_request(demo, monkeypatch, configured):
    """Where the edge knows the survey it checks the id and gives an `ObjectId`, which the index
    and the reader take as checked (was twice: the edge, then the index or the reader; twice
    per id of a batch). Without a configured survey a single alert's id is checked by the index
    alone, and a batch's by the edge (the index's survey)."""
    from support.rewrites import stored_stamps

    from fink_cutout_jupyter.surveys import Survey

    api = CutoutAPI(str(demo.root), survey=ZTF if configured else None)
    location = api.index.latest("ZTF24abssjsb")
    science = stored_stamps(demo.root / location.path, location.alert_id)["Science"]
    calls = count_calls(monkeypatch, Survey, "validate_object_id")
    counts = []
    for route, params, body in (
        ("cutouts", {"objectId": "ZTF24abssjsb", "kind": "Science", "return_type": "FITS"}, False),
        (
            "cutouts",
            {
                "objectId": "ZTF24abssjsb",
                "hdfsPath": location.path,
                "kind": "Science",
                "return_type": "FITS",
            },
            False,
        ),
        ("cutouts", {"objectId": ["ZTF24abssjsb"] * 3, "kind": "Science"}, True),
        ("alerts", {"objectId": "ZTF24abssjsb"}, False),
    ):
        before = len(calls)
        reply = api.handle(route, params, body=body)
        assert reply.status == 200, reply.body
        counts.append(len(calls) - before)
        if route == "cutouts" and not body:
            assert reply.body == science
    assert counts == [1, 1, 3, 1]
    refused = api.handle("cutouts", {"objectId": "ZTF24abssjs", "kind": "Science"})
    assert refused.status == 400
    assert json.loads(refused.body)["text"].startswith("objectId: 'ZTF24abssjs' is not a ZTF")


def test_an_indexed_request_stats_its_file_once_and_its_etag_names_that_stat(
    rewritable_lake, monkeypatch
):
    """The reader checks the file's identity before reading the alert's row, and the reply's ETag
    names that identity: one stat a request (a second one cost 0.1 ms a request). A conditional
    request stats first, so that a match reads nothing. After the file is rewritten, the reply
    (read again through the index's stale entry) carries a new ETag that names the new file."""
    from support.rewrites import change_a_pixel, stored_stamps

    lake = rewritable_lake
    candid = lake.table.column("candid")[10].as_py()
    params = {"candid": str(candid), "kind": "Science", "return_type": "FITS"}
    api = CutoutAPI(lake.lake)
    stats = count_calls(monkeypatch, Lake, "identity")
    first = api.handle("cutouts", params)
    assert first.status == 200, first.body
    assert first.body == stored_stamps(lake.file, candid)["Science"]
    assert len(stats) == 1
    del stats[:]
    assert api.handle("cutouts", params, first.headers["ETag"]).status == 304
    assert len(stats) == 1

    lake.rewrite(change_a_pixel(lake.table, 10, "Science"), keep_mtime=False)
    again = api.handle("cutouts", params)
    assert again.status == 200, again.body
    assert again.headers["ETag"] != first.headers["ETag"]
    assert again.body == stored_stamps(lake.file, candid)["Science"] != first.body
    assert api.handle("cutouts", params, again.headers["ETag"]).status == 304


# /api/v1/history, and solar-system objects in /alerts and /cutouts (issue 24)

SOLAR_SYSTEM = {21163624394469969: "2004 JQ12", 21165806389311562: "2020 SJ88"}


@pytest.fixture(scope="module")
def rubin_api(rubin_lake, tmp_path_factory):
    """The real Rubin alerts, indexed outside their lake."""
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    index_root = str(tmp_path_factory.mktemp("rubin-index"))
    build(AlertIndex(rubin_lake, index_root), rubin_lake.nights(), progress=False)
    return CutoutAPI(rubin_lake, index_root)


def _history(api: CutoutAPI, **params) -> dict:
    from support.nonfinite import strict_json

    reply = api.handle("history", params)
    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "private, no-cache"
    return strict_json(reply.body)


def test_the_history_of_each_rubin_object_is_its_alerts_and_their_history(rubin_api, rubin_records):
    from support.expected_history import assert_points, rubin_history

    objects = {(r["diaObject"] or {}).get("diaObjectId") for r in rubin_records} - {None}
    assert len(objects) == 7
    kinds = set()
    for object_id in sorted(objects):
        latest, expected = rubin_history(rubin_records, object_id=object_id)
        for name in ("objectId", "diaObjectId"):
            body = _history(rubin_api, **{name: str(object_id)})
            assert {key: body[key] for key in ("survey", "objectId", "ssObjectId", "unit")} == {
                "survey": "lsst",
                "objectId": str(object_id),
                "ssObjectId": None,
                "unit": "nJy",
            }
            assert body["latestAlertId"] == str(latest["diaSourceId"])
            assert_points(body, expected, "tai")
        kinds |= {point["kind"] for point in body["points"]}
        if latest["prvDiaForcedSources"]:
            assert body["historyRead"] is True
    assert kinds == {"detection", "forced"}


@pytest.mark.parametrize("ss_object_id", sorted(SOLAR_SYSTEM))
def test_the_history_of_a_solar_system_object(rubin_api, rubin_records, ss_object_id):
    from support.expected_history import assert_points, rubin_history

    latest, expected = rubin_history(rubin_records, ss_object_id=ss_object_id)
    body = _history(rubin_api, ssObjectId=str(ss_object_id))
    assert body["objectId"] is None
    assert body["ssObjectId"] == str(ss_object_id)
    assert body["designation"] == SOLAR_SYSTEM[ss_object_id]
    assert body["latestAlertId"] == str(latest["diaSourceId"])
    assert_points(body, expected, "tai")
    assert [point["alertId"] for point in body["points"]] == [str(latest["diaSourceId"])]
    assert _history(rubin_api, ssObjectId=ss_object_id) == body, "a number as a number"


def test_the_history_of_each_real_ztf_object(real_lake_case):
    from support.expected_history import assert_points, ztf_history

    lake = Lake(real_lake_case.lake, science_dir=real_lake_case.science_dir)
    api = CutoutAPI(lake, real_lake_case.index)
    files = sorted((Path(real_lake_case.lake) / real_lake_case.science_dir).rglob("*.parquet"))
    import pyarrow.parquet as pq

    objects = sorted(
        {i for f in files for i in pq.read_table(f, columns=["objectId"])[0].to_pylist()}
    )
    kinds = set()
    for object_id in objects:
        candid, expected = ztf_history(files, object_id)
        body = _history(api, objectId=object_id)
        assert (body["survey"], body["objectId"], body["unit"]) == ("ztf", object_id, "mag")
        assert (body["ssObjectId"], body["designation"]) == (None, None)
        assert body["latestAlertId"] == str(candid)
        assert body["historyRead"] is True
        assert_points(body, expected, "utc")
        kinds |= {point["kind"] for point in body["points"]}
    assert kinds == {"detection", "upper_limit"}


def test_the_history_of_the_demo_object(demo_lake_case):
    from support.expected_history import assert_points, ztf_history

    files = sorted((Path(demo_lake_case.lake) / "science").rglob("*.parquet"))
    candid, expected = ztf_history(files, demo_lake_case.object_id)
    body = _history(CutoutAPI(demo_lake_case.lake), objectId=demo_lake_case.object_id)
    assert body["latestAlertId"] == str(candid) == str(demo_lake_case.alert_ids[-1])
    assert_points(body, expected, "utc")
    assert sum(point["indexed"] for point in body["points"]) == len(demo_lake_case.alert_ids)


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({}, 400, "objectId: missing; give one of objectId, diaObjectId, ssObjectId"),
        (
            {"objectId": "170028485706776685", "ssObjectId": "21163624394469969"},
            400,
            "objectId, ssObjectId: give one of them, not 2",
        ),
        (
            {"objectId": "170028485706776685", "diaObjectId": "170028485706776685"},
            400,
            "objectId, diaObjectId: give one of them, not 2",
        ),
        ({"ssObjectId": "2004 JQ12"}, 400, "ssObjectId: '2004 JQ12' is not an id"),
        ({"ssObjectId": "-1"}, 400, "ssObjectId: '-1' is not an id"),
        ({"objectId": "ZTF24abssjsb"}, 400, "objectId: 'ZTF24abssjsb'"),
        ({"diaObjectId": "ZTF24abssjsb"}, 400, "diaObjectId: 'ZTF24abssjsb' is not an id"),
        ({"diaObjectId": "-1"}, 400, "diaObjectId: '-1' is not an id"),
        ({"candid": "170094456272322680"}, 400, "candid: unknown parameter; allowed:"),
        ({"objectId": "1"}, 404, "objectId: no alert of 1"),
        ({"ssObjectId": "1"}, 404, "ssObjectId: no alert of 1"),
    ],
)
def test_bad_history_requests_name_the_parameter(rubin_api, params, status, text):
    reply = rubin_api.handle("history", params)
    assert reply.status == status, reply.body
    assert text in json.loads(reply.body)["text"]


@pytest.mark.parametrize("route", ["alerts", "history", "cutouts"])
@pytest.mark.parametrize("value", ["-1", "1.5", " 170028485706776685", str(2**63)])
def test_a_bad_diaobjectid_is_named_diaobjectid(rubin_api, route, value):
    """The API as the lake's index gives its survey (none configured): the id is checked where
    the request comes in, and the 400 names the parameter the client sent."""
    reply = rubin_api.handle(route, {"diaObjectId": value})
    assert reply.status == 400, reply.body
    assert json.loads(reply.body)["text"].startswith(f"diaObjectId: {value!r} is not an id")


def test_alerts_of_a_diaobjectid_are_those_of_its_objectid(rubin_api, rubin_records):
    """/alerts takes diaObjectId as /history and /cutouts do: each real Rubin object's alerts,
    their ids as fastavro reads them."""
    from support.nonfinite import strict_json

    objects = {r["diaObject"]["diaObjectId"] for r in rubin_records if r["diaObject"]}
    objects.discard(None)
    assert len(objects) == 7
    for object_id in objects:
        stored = [
            r["diaSourceId"]
            for r in rubin_records
            if r["diaObject"] and r["diaObject"]["diaObjectId"] == object_id
        ]
        by_dia = rubin_api.handle("alerts", {"diaObjectId": str(object_id)})
        assert by_dia.status == 200, by_dia.body
        listed = strict_json(by_dia.body)
        assert sorted(alert["alertId"] for alert in listed) == sorted(stored)
        assert {alert["objectId"] for alert in listed} == {str(object_id)}
        assert by_dia.body == rubin_api.handle("alerts", {"objectId": object_id}).body


def test_history_without_an_index_is_a_404_saying_so(rubin_lake, tmp_path):
    reply = CutoutAPI(rubin_lake, str(tmp_path / "none")).handle(
        "history", {"objectId": "170028485706776685"}
    )
    assert reply.status == 404
    assert "the lake has no alert index yet" in json.loads(reply.body)["text"]


def test_history_is_revalidated_by_its_etag(rubin_api):
    params = {"ssObjectId": "21163624394469969"}
    first = rubin_api.handle("history", params)
    etag = first.headers["ETag"]
    assert etag[0] == etag[-1] == '"'
    again = rubin_api.handle("history", params, if_none_match=f'"other", {etag}')
    assert (again.status, again.body, again.headers["ETag"]) == (304, b"", etag)
    other = rubin_api.handle("history", {"ssObjectId": "21165806389311562"}, etag)
    assert other.status == 200
    assert other.headers["ETag"] != etag


def test_alerts_of_a_solar_system_object_carry_its_id_and_designation(rubin_api, rubin_records):
    for ss_object_id, designation in SOLAR_SYSTEM.items():
        record = next(
            r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") == ss_object_id
        )
        reply = rubin_api.handle("alerts", {"ssObjectId": str(ss_object_id)})
        assert reply.status == 200, reply.body
        [alert] = json.loads(reply.body)
        assert alert["objectId"] is None
        assert alert["alertId"] == record["diaSourceId"]
        assert alert["ssObjectId"] == str(ss_object_id)
        assert alert["designation"] == designation
        assert "ss_object_id" not in alert
        assert alert["hdfsPath"].startswith("science/year=2026/month=03/day=06/")
    other = next(r for r in rubin_records if (r["diaObject"] or {}).get("diaObjectId"))
    [alert] = json.loads(
        rubin_api.handle("alerts", {"objectId": str(other["diaObject"]["diaObjectId"])}).body
    )
    assert "ssObjectId" not in alert
    assert "designation" not in alert
    both = rubin_api.handle("alerts", {"objectId": "1", "ssObjectId": "21163624394469969"})
    assert both.status == 400
    assert "objectId, ssObjectId: give one of them" in json.loads(both.body)["text"]
    assert rubin_api.handle("alerts", {"ssObjectId": "7"}).status == 404


def test_cutouts_of_a_solar_system_object(rubin_api, rubin_records):
    """Its latest alert, or with candid that alert if it is the object's: the stored bytes."""
    from astropy.io import fits

    by_object = {
        r["ssSource"]["ssObjectId"]: r
        for r in rubin_records
        if (r["ssSource"] or {}).get("ssObjectId")
    }
    for ss_object_id, record in by_object.items():
        for extra in (
            {},
            {"candid": record["diaSourceId"]},
            {"diaSourceId": str(record["diaSourceId"])},
        ):
            reply = rubin_api.handle(
                "cutouts",
                {
                    "ssObjectId": str(ss_object_id),
                    "kind": "Science",
                    "return_type": "FITS",
                    **extra,
                },
            )
            assert reply.status == 200, reply.body
            assert reply.body == record["cutoutScience"]
        with fits.open(io.BytesIO(reply.body)) as hdul:
            assert len(hdul) == 3
    first, second = sorted(by_object)
    wrong = rubin_api.handle(
        "cutouts", {"ssObjectId": str(first), "candid": by_object[second]["diaSourceId"]}
    )
    assert wrong.status == 404
    assert f"is not an alert of ssObjectId {first}" in json.loads(wrong.body)["text"]
    for name, value in (("objectId", "170028485706776685"), ("hdfsPath", "science/x.parquet")):
        refused = rubin_api.handle("cutouts", {"ssObjectId": str(first), name: value})
        assert refused.status == 400
        assert (
            f"ssObjectId, {name}: give ssObjectId without {name}"
            in json.loads(refused.body)["text"]
        )
    bad = rubin_api.handle("cutouts", {"ssObjectId": "x"})
    assert (bad.status, json.loads(bad.body)["text"][:28]) == (400, "ssObjectId: 'x' is not an id")


def test_the_history_of_the_rubin_demos_objects(rubin_demo):
    """The Rubin demo's object and asteroids, against pyarrow's reading of its files."""
    import pyarrow.parquet as pq
    from support.expected_history import assert_points, rubin_history

    root = Path(rubin_demo.root)
    columns = ["diaSourceId", "diaObject", "diaSource", "ssSource"]
    columns += ["prvDiaSources", "prvDiaForcedSources"]
    records = [
        record
        for file in sorted((root / "science").rglob("*.parquet"))
        for record in pq.read_table(file, columns=columns).to_pylist()
    ]
    api = CutoutAPI(str(root))
    latest, expected = rubin_history(records, object_id=int(rubin_demo.demo_object_id))
    body = _history(api, diaObjectId=str(rubin_demo.demo_object_id))
    assert body["latestAlertId"] == str(latest["diaSourceId"])
    assert_points(body, expected, "tai")
    assert {"detection", "forced"} <= {point["kind"] for point in body["points"]}
    assert sum(point["indexed"] for point in body["points"]) >= 2
    assert rubin_demo.ss_object_ids
    for ss_object_id in rubin_demo.ss_object_ids:
        latest, expected = rubin_history(records, ss_object_id=int(ss_object_id))
        body = _history(api, ssObjectId=str(ss_object_id))
        assert (body["objectId"], body["ssObjectId"]) == (None, str(ss_object_id))
        assert body["designation"] == latest["ssSource"]["designation"]
        assert_points(body, expected, "tai")
        alerts = json.loads(api.handle("alerts", {"ssObjectId": str(ss_object_id)}).body)
        assert [alert["alertId"] for alert in alerts] == [
            point["alertId"] and int(point["alertId"]) for point in body["points"]
        ]
