import random
import re
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate
from support.servers import free_port, start_jupyter_server, wait_for_http

from fink_cutout_jupyter.contract.openapi import ID_PATTERN, digits_up_to, openapi_document
from fink_cutout_jupyter.contract.parameters import (
    ALERT_PARAMETERS,
    CUTOUT_PARAMETERS,
    HISTORY_PARAMETERS,
)
from fink_cutout_jupyter.surveys import LSST, MAX_ID, ZTF


def test_the_document_is_valid_openapi_for_every_survey_and_base_url():
    for survey in (None, ZTF, LSST):
        validate(openapi_document("/user/alice/", survey))


def test_every_parameter_is_documented_with_its_choices():
    schemas = openapi_document()["components"]["schemas"]
    for name in ("CutoutQuery", "CutoutBody"):
        properties = schemas[name]["properties"]
        assert list(properties) == [p.name for p in CUTOUT_PARAMETERS]
        for parameter in CUTOUT_PARAMETERS:
            if parameter.allowed:
                assert properties[parameter.name]["enum"] == list(parameter.allowed)
        assert schemas[name]["additionalProperties"] is False
    assert list(schemas["AlertsQuery"]["properties"]) == [p.name for p in ALERT_PARAMETERS]
    assert schemas["AlertsQuery"]["oneOf"] == [
        {"required": ["objectId"]},
        {"required": ["diaObjectId"]},
        {"required": ["ssObjectId"]},
    ]
    assert list(schemas["HistoryQuery"]["properties"]) == [p.name for p in HISTORY_PARAMETERS]
    assert schemas["HistoryQuery"]["oneOf"] == [
        {"required": ["objectId"]},
        {"required": ["diaObjectId"]},
        {"required": ["ssObjectId"]},
    ]
    assert schemas["LimitsQuery"]["required"] == ["objectId"]


def test_ss_object_id_is_documented_as_the_api_takes_it():
    """ssObjectId: an id of 0 to 2**63-1, alone among the object names and the file (the API
    refuses it beside them: tests/contract/test_api.py), on /cutouts but not in a batch."""
    import jsonschema

    schemas = openapi_document(survey=LSST)["components"]["schemas"]
    query = schemas["CutoutQuery"]
    assert query["properties"]["ssObjectId"]["type"] == "integer"
    valid = jsonschema.Draft202012Validator(query)
    assert valid.is_valid({"ssObjectId": 21163624394469969})
    assert valid.is_valid({"ssObjectId": 21163624394469969, "candid": 170094456480989258})
    for other in ("objectId", "diaObjectId"):
        assert not valid.is_valid({"ssObjectId": 1, other: 170028485706776685})
    assert not valid.is_valid({"ssObjectId": 1, "hdfsPath": "science/x.parquet"})
    assert "ssObjectId" not in schemas["BatchBody"]["properties"]
    history = jsonschema.Draft202012Validator(schemas["HistoryQuery"])
    assert history.is_valid({"ssObjectId": 1})
    assert not history.is_valid({})
    assert not history.is_valid({"objectId": 1, "ssObjectId": 1})


def test_limits_is_documented_as_replaced_by_history():
    paths = openapi_document()["paths"]
    limits = paths["/api/v1/limits"]["get"]
    assert limits["deprecated"] is True
    assert "Replaced by /api/v1/history" in limits["description"]
    history = paths["/api/v1/history"]["get"]
    assert "deprecated" not in history
    assert history["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/History"
    }
    assert {"200", "304", "400", "404", "500", "502", "503"} <= set(history["responses"])


def test_the_survey_gives_its_object_id_pattern():
    ztf = openapi_document(survey=ZTF)["components"]["schemas"]["CutoutQuery"]["properties"]
    assert ztf["objectId"]["pattern"] == r"^ZTF\d{2}[a-z]{7}$"
    rubin = openapi_document(survey=LSST)["components"]["schemas"]["CutoutQuery"]["properties"]
    assert rubin["objectId"] == rubin["objectId"] | {"type": "integer", "maximum": MAX_ID}


def test_servers_follow_the_base_url():
    assert openapi_document("/user/alice/")["servers"] == [{"url": "/user/alice"}]
    assert openapi_document("/")["servers"] == [{"url": "/"}]


def test_alert_ids_as_digits_are_exactly_the_int64_range():
    pattern = re.compile(ID_PATTERN)
    rng = random.Random(1)
    for number in [0, 9, MAX_ID, MAX_ID + 1, 10**19, *(rng.randrange(10**20) for _ in range(5000))]:
        assert bool(pattern.fullmatch(str(number))) == (number <= MAX_ID), number
    assert not pattern.fullmatch("007")
    assert not pattern.fullmatch("-1")
    for maximum in (0, 7, 10, 99, 100, 250, 1000):
        small = re.compile(digits_up_to(maximum))
        assert all(bool(small.fullmatch(str(n))) == (n <= maximum) for n in range(3 * maximum + 20))


def test_errors_are_documented_for_every_call():
    paths = openapi_document()["paths"]
    for method in ("get", "post"):
        responses = paths["/api/v1/cutouts"][method]["responses"]
        assert {"200", "304", "400", "403", "404", "500", "502", "503"} <= set(responses)
    assert "413" in paths["/api/v1/cutouts"]["post"]["responses"]


EXAMPLES = 300  # per operation and per mode (valid, invalid requests)


@pytest.fixture(scope="module", params=["standalone", "jupyter"])
def live_door(request, demo, tmp_path_factory):
    """A door on the demo lake as a real process: (base URL, headers)."""
    if request.param == "standalone":
        yield request.getfixturevalue("served_demo"), {}
        return
    port, headers = free_port(), {"Authorization": "token fuzz-token"}
    root = tmp_path_factory.mktemp("jupyter-fuzz")
    server = start_jupyter_server(str(demo.root), port, root, "/user/astro/", "fuzz-token")
    url = f"http://127.0.0.1:{port}/user/astro/"
    try:
        wait_for_http(f"{url}api/v1/openapi.json", headers)
        yield url, headers
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_schemathesis_finds_nothing(live_door, mode):
    """Every check of schemathesis (no 5xx, statuses, media types, response schemas, valid
    requests accepted, invalid ones refused) on requests generated from the served document."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    url, headers = live_door
    schema = schemathesis.openapi.from_url(f"{url}api/v1/openapi.json", headers=headers)
    assert schema.raw_schema["servers"] == [{"url": urlsplit(url).path.rstrip("/") or "/"}]
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        raw = operation.definition.raw
        if mode == "negative" and not (raw.get("parameters") or raw.get("requestBody")):
            continue  # nothing to make invalid (the health route takes no parameters)

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers=headers)

        run()
    # schemathesis leaves out the document's own path (tested by tests/doors/test_contract.py)
    assert [operation.label for operation in operations] == [
        "GET /api/v1/cutouts",
        "POST /api/v1/cutouts",
        "GET /api/v1/alerts",
        "GET /api/v1/history",
        "GET /api/v1/limits",
        "GET /api/v1/health",
    ]


def test_the_health_route_is_documented_with_its_reply():
    """What /api/v1/health answers (checked against real replies in
    tests/doors/test_standalone.py) is the document's Health schema, for 200 and 503, beside the
    contract's error shape."""
    document = openapi_document()
    health = document["paths"]["/api/v1/health"]["get"]["responses"]
    assert health["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }
    either = health["503"]["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/Error"} in either
    schema = document["components"]["schemas"]["Health"]
    assert {"lake", "index", "index_age_seconds"} <= set(schema["required"])
    validate(document)
