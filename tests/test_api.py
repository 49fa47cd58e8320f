import json

import pytest

from fink_cutout_jupyter.api import CutoutAPI, parse_cutout_request
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.lake import Lake
from fink_cutout_jupyter.render import RenderOptions
from fink_cutout_jupyter.surveys import KINDS, ZTF


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
    assert not parse_cutout_request({"candid": 7, "diaSourceId": "7"}).disagreeing
    assert parse_cutout_request({"candid": 7, "diaSourceId": 8}).disagreeing
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
    from rewrites import change_a_pixel, stored_stamps

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
    assert parse_cutout_request({"diaObjectId": 42, "objectId": "43"}).disagreeing
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
    with caplog.at_level("ERROR"):
        reply = CutoutAPI(Lake(demo.root), str(broken)).handle(
            "alerts", {"objectId": "ZTF24abssjsb"}
        )
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
