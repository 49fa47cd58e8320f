from openapi_spec_validator import validate

from fink_cutout_jupyter.api import ALERT_PARAMETERS, CUTOUT_PARAMETERS
from fink_cutout_jupyter.openapi import openapi_document


def test_the_document_is_valid_openapi():
    validate(openapi_document())


def test_every_parameter_is_documented_with_its_choices():
    document = openapi_document()
    get = {p["name"]: p for p in document["paths"]["/api/v1/cutouts"]["get"]["parameters"]}
    body = document["paths"]["/api/v1/cutouts"]["post"]["requestBody"]["content"]
    properties = body["application/json"]["schema"]["properties"]
    for parameter in CUTOUT_PARAMETERS:
        assert get[parameter.name]["schema"].get("enum") == (
            list(parameter.allowed) if parameter.allowed else None
        )
        assert parameter.name in properties
    alerts = document["paths"]["/api/v1/alerts"]["get"]["parameters"]
    assert [p["name"] for p in alerts] == [p.name for p in ALERT_PARAMETERS]


def test_errors_are_documented_for_every_cutout_call():
    document = openapi_document()
    for method in ("get", "post"):
        responses = document["paths"]["/api/v1/cutouts"][method]["responses"]
        assert {"200", "304", "400", "403", "404", "503"} <= set(responses)
