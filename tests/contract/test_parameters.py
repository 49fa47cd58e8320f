import pytest

from fink_cutout_jupyter.contract.parameters import (
    ALERT_PARAMETERS,
    CUTOUT_PARAMETERS,
    HISTORY_PARAMETERS,
    MAX_BODY_BYTES,
    ObjectTarget,
    boolean,
    check,
    describe,
    number,
    parse_body,
    parse_cutout_request,
    parse_object_target,
)
from fink_cutout_jupyter.errors import BadParameter, TooLarge
from fink_cutout_jupyter.surveys import LSST, ZTF


@pytest.mark.parametrize(
    ("params", "body", "text"),
    [
        ({"objectId": ["a"]}, False, "objectId: expected text or a whole number, got an array"),
        (
            {"candid": None},
            True,
            "candid: expected a whole number (or its digits as text), got null",
        ),
        ({"pmin": "1.5"}, True, "pmin: expected a number, got str"),
        ({"flip": "true"}, True, "flip: expected true or false, got str"),
        ({"kind": ""}, False, "kind: empty"),
        ({"kind": "sci"}, False, "kind: 'sci' is not allowed; allowed: Science"),
        ({"hdfsPath": "x" * 1025}, False, "hdfsPath: 1025 characters, at most 1024"),
        ({"nope" * 100: 1}, False, "unknown parameter; allowed:"),
    ],
)
def test_each_kind_of_parameter_is_checked(params, body, text):
    with pytest.raises(BadParameter, match=text.replace("(", r"\(").replace(")", r"\)")) as caught:
        check(params, CUTOUT_PARAMETERS, body)
    assert len(str(caught.value)) < 400


def test_queries_give_text_and_bodies_give_json_values():
    check({"pmin": "1.5", "flip": "true", "candid": "12"}, CUTOUT_PARAMETERS)
    check({"pmin": 1.5, "flip": True, "candid": 12}, CUTOUT_PARAMETERS, body=True)
    assert number("pmin", "1e-3") == 0.001
    assert boolean("flip", "false") is False
    for bad in ("1_0", " 1", "inf", "nan", "-1"):
        with pytest.raises(BadParameter, match=r"pmin: .* is not a number from 0 to 50"):
            number("pmin", bad)
    with pytest.raises(BadParameter, match="pmax: 50 is not a number from 50 to 100"):
        number("pmax", 50)


def test_bodies():
    assert parse_body(b'{"objectId": "ZTF24abssjsb"}') == {"objectId": "ZTF24abssjsb"}
    with pytest.raises(TooLarge):
        parse_body(b" " * (MAX_BODY_BYTES + 1))
    with pytest.raises(BadParameter, match="body: not valid JSON"):
        parse_body(b"[" * 2000 + b"]" * 2000)


def test_the_parameter_list_names_defaults_and_choices():
    kind = next(describe(p) for p in CUTOUT_PARAMETERS if p.name == "kind")
    assert kind == kind | {"required": False, "default": "All"}
    assert kind["allowed"] == ["Science", "Template", "Difference", "All"]


def test_the_edge_gives_a_checked_lake_path_and_stamp_kinds(demo):
    """``hdfsPath`` made relative to the lake's root once, here (absolute or relative, the same
    `LakePath`); a path leaving the root is refused naming the parameter."""
    from fink_cutout_jupyter.contract.parameters import parse_cutout_request
    from fink_cutout_jupyter.cutouts.stamps import StampKinds
    from fink_cutout_jupyter.errors import OutsideLake
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.storage.paths import LakePath

    lake = Lake(demo.root)
    relative = demo.files[0]
    for given in (relative, str(demo.root / relative), f"./{relative}"):
        request = parse_cutout_request(
            {"candid": 1, "hdfsPath": given, "kind": "Science"}, lake=lake
        )
        assert isinstance(request.path, LakePath)
        assert request.path == relative
        assert isinstance(request.kinds, StampKinds)
        assert request.kinds == ("Science",)
    assert parse_cutout_request({"candid": 1}, lake=lake).kinds == (
        "Science",
        "Template",
        "Difference",
    )
    with pytest.raises(OutsideLake, match=r"^hdfsPath: "):
        parse_cutout_request({"candid": 1, "hdfsPath": "../x.parquet"}, lake=lake)


def test_an_object_target_is_exactly_one_name():
    assert parse_object_target({"diaObjectId": "17"}, HISTORY_PARAMETERS) == ObjectTarget(
        "17", None
    )
    assert parse_object_target({"ssObjectId": "21163624394469969"}, ALERT_PARAMETERS) == (
        ObjectTarget(None, 21163624394469969)
    )
    with pytest.raises(
        BadParameter, match=r"^objectId: missing; give one of objectId, diaObjectId, ssObjectId"
    ):
        parse_object_target({}, ALERT_PARAMETERS)
    for known in (ALERT_PARAMETERS, HISTORY_PARAMETERS):
        with pytest.raises(BadParameter, match=r"^objectId, diaObjectId, ssObjectId: give one"):
            parse_object_target({"objectId": 1, "diaObjectId": 1, "ssObjectId": 1}, known)
        with pytest.raises(BadParameter, match=r"^ssObjectId: 1\.5 is not an id"):
            parse_object_target({"ssObjectId": 1.5}, known)


def test_alerts_take_a_diaobjectid_as_history_and_cutouts_do():
    target = parse_object_target({"diaObjectId": "170028485706776685"}, ALERT_PARAMETERS, LSST)
    assert target == ObjectTarget("170028485706776685", None)
    assert target.object_id.stored == 170028485706776685


@pytest.mark.parametrize("name", ["objectId", "diaObjectId"])
@pytest.mark.parametrize(
    ("survey", "value", "why"),
    [
        (LSST, "-1", "'-1' is not an id"),
        (LSST, "ZTF24abssjsb", "'ZTF24abssjsb' is not an id"),
        (ZTF, "170028485706776685", "'170028485706776685' is not a ZTF object id"),
    ],
)
def test_a_bad_object_id_is_named_as_the_request_named_it(name, survey, value, why):
    """/alerts, /history and /cutouts name the parameter given, not objectId for both."""
    for known in (ALERT_PARAMETERS, HISTORY_PARAMETERS):
        with pytest.raises(BadParameter, match=rf"^{name}: {why}"):
            parse_object_target({name: value}, known, survey)
    with pytest.raises(BadParameter, match=rf"^{name}: {why}"):
        parse_cutout_request({name: value}, survey)


def test_a_cutout_request_of_a_solar_system_object():
    request = parse_cutout_request({"ssObjectId": "21163624394469969", "candid": "7"})
    assert (request.ss_object_id, request.alert_id, request.object_id) == (
        21163624394469969,
        7,
        None,
    )
    for other in ("objectId", "diaObjectId", "hdfsPath"):
        with pytest.raises(BadParameter, match=rf"^ssObjectId, {other}: give ssObjectId without"):
            parse_cutout_request({"ssObjectId": 1, other: "x"})
