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
    with pytest.raises(BadParameter, match="disagree"):
        parse_cutout_request({"candid": 7, "diaSourceId": 8})


def test_render_options_are_parsed_and_checked():
    request = parse_cutout_request(
        {
            "candid": 1,
            "pmin": "1.5",
            "pmax": 98,
            "flip": "yes",
            "stretch": "log",
            "colormap": "magma",
        }
    )
    assert request.render == RenderOptions(
        stretch="log", pmin=1.5, pmax=98.0, colormap="magma", flip=True
    )
    with pytest.raises(BadParameter, match="0 <= pmin < pmax <= 100"):
        parse_cutout_request({"candid": 1, "pmin": 50, "pmax": 10})
    with pytest.raises(BadParameter, match="pmin: NaN"):
        parse_cutout_request({"candid": 1, "pmin": "nan"})


def test_object_ids_are_validated_when_the_survey_is_known():
    with pytest.raises(BadParameter, match="ZTF24abssjsb"):
        parse_cutout_request({"objectId": "12345"}, ZTF)
    assert parse_cutout_request({"objectId": "12345"}).object_id == "12345"


def test_etags_name_the_exact_response():
    first = parse_cutout_request({"candid": 1, "kind": "Science"})
    assert first.etag() == parse_cutout_request({"candid": "1", "kind": "Science"}).etag()
    assert first.etag() != parse_cutout_request({"candid": 1, "kind": "Template"}).etag()
    assert first.etag() != parse_cutout_request({"candid": 1, "kind": "Science", "flip": 1}).etag()
    assert first.etag()[0] == first.etag()[-1] == '"'  # a strong ETag


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
