import random
import re

from openapi_spec_validator import validate

from fink_cutout_jupyter.api import ALERT_PARAMETERS, CUTOUT_PARAMETERS
from fink_cutout_jupyter.openapi import ID_PATTERN, digits_up_to, openapi_document
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
    assert schemas["AlertsQuery"]["required"] == ["objectId"]


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
