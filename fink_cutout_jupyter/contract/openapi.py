"""The OpenAPI 3.1 document of /api/v1, generated from the parameter tables of `api`.

It states every rule the API enforces, so that a request the document calls valid is never
refused with a 400, and one it calls invalid always is: types, lengths, patterns (alert ids as
digits up to 2**63-1, the survey's object ids), enums, ranges, "no parameters, or at least one
id", no unknown parameters. Query parameters form one exploded object (``style: form``), which
lets the same object schema hold for a GET's query and a POST's JSON body.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fink_cutout_jupyter._version import __version__
from fink_cutout_jupyter.contract.health import HEALTH_SCHEMA, health_path
from fink_cutout_jupyter.contract.parameters import (
    ALERT_PARAMETERS,
    CUTOUT_PARAMETERS,
    HISTORY_PARAMETERS,
    LIMIT_PARAMETERS,
    MAX_BODY_BYTES,
    TARGET_NAMES,
    Parameter,
)
from fink_cutout_jupyter.surveys import MAX_ID, SURVEYS, Survey

_PATH_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"  # not blank, no NUL
_BATCH_ID_NAMES = ("objectId", "diaObjectId", "candid", "diaSourceId")
_ID_NAMES = (*_BATCH_ID_NAMES, "ssObjectId")
# ssObjectId names a solar-system object alone: not beside another object id or a file.
_NOT_BESIDE_SS_OBJECT_ID = ("objectId", "diaObjectId", "hdfsPath")
_ERRORS = {
    "400": "A parameter is missing or not allowed: the text names it and the allowed values",
    "403": "The path leaves the lake root, or the request is not authorized",
    "404": "No such object, alert or file (or two names of one id that disagree)",
    "413": (
        f"The body is larger than {MAX_BODY_BYTES} bytes, or a batch asks for more stamps than "
        "one request may hold in its format (the text names the allowed count)"
    ),
    "500": "An error of the server itself (never the caller's doing)",
    "502": "The lake holds bytes that do not decode (a corrupt stamp, file or index file)",
    "503": "The lake or the alert index is unavailable, or the server is busy (Retry-After)",
}


def digits_up_to(maximum: int) -> str:
    """A regular expression of the decimal numbers from 0 to `maximum` (no sign, no leading 0)."""
    text = str(maximum)
    shorter = f"[1-9][0-9]{{0,{len(text) - 2}}}" if len(text) > 1 else ""
    same_length = []
    for position, digit in enumerate(text):
        low = 1 if position == 0 else 0
        if int(digit) > low:
            below = f"[{low}-{int(digit) - 1}]" if int(digit) - 1 > low else str(low)
            rest = len(text) - position - 1
            same_length.append(text[:position] + below + (f"[0-9]{{{rest}}}" if rest else ""))
    same_length.append(text)
    return "^(0|" + "|".join(filter(None, [shorter, *same_length])) + ")$"


ID_PATTERN = digits_up_to(MAX_ID)


@lru_cache(maxsize=1)
def _colormaps() -> tuple[str, ...]:
    import matplotlib

    return tuple(sorted(matplotlib.colormaps))


def _value_schema(parameter: Parameter, survey: Survey | None, body: bool) -> dict[str, Any]:
    """What one parameter may be, in a query (text) or a JSON body (typed values too)."""
    if parameter.allowed:
        schema: dict[str, Any] = {"type": "string", "enum": list(parameter.allowed)}
    elif parameter.name == "colormap":
        schema = {"type": "string", "enum": list(_colormaps())}
    elif parameter.kind == "integer" or (
        parameter.kind == "id" and survey is not None and survey.integer_object_ids
    ):
        as_text = {"type": "string", "pattern": ID_PATTERN}
        number = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
        schema = {"anyOf": [number, as_text]} if body else number
    elif parameter.kind == "id":
        schema = {"type": "string", "minLength": 1, "maxLength": parameter.max_length}
        if survey is not None:
            schema["pattern"] = f"^{survey.object_id_pattern}$"
    elif parameter.kind == "number":
        low, high = {"pmin": (0, 50), "pmax": (50, 100)}[parameter.name]
        bounds = (
            {"minimum": low, "exclusiveMaximum": high}
            if parameter.name == "pmin"
            else {"exclusiveMinimum": low, "maximum": high}
        )
        schema = {"type": "number", **bounds}  # a JSON number in a body, its text in a query
    elif parameter.kind == "boolean":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string", "minLength": 1, "maxLength": parameter.max_length}
        if parameter.name == "hdfsPath":
            schema["pattern"] = _PATH_PATTERN
    if parameter.default is not None:
        schema["default"] = parameter.default
    return schema | {"description": parameter.description}


def _parameters_object(
    parameters: tuple[Parameter, ...],
    survey: Survey | None,
    body: bool,
    ids: bool = False,
    one_object: bool = False,
) -> dict[str, Any]:
    """The object schema of a route's parameters. `ids`: none (the list of parameters), or at
    least one id, ssObjectId alone; `one_object`: exactly one of the object names."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: _value_schema(p, survey, body) for p in parameters},
        "additionalProperties": False,
    }
    required = [p.name for p in parameters if p.required]
    if required:
        schema["required"] = required
    if ids:  # no parameters (the list of parameters), or at least one id
        schema["anyOf"] = [{"maxProperties": 0}, *({"required": [n]} for n in _ID_NAMES)]
        schema["not"] = {
            "anyOf": [{"required": ["ssObjectId", n]} for n in _NOT_BESIDE_SS_OBJECT_ID]
        }
    if one_object:
        names = [p.name for p in parameters if p.name in TARGET_NAMES]
        schema["oneOf"] = [{"required": [name]} for name in names]
    return schema


def _batch_object(survey: Survey | None) -> dict[str, Any]:
    """A batch: one list of object ids or alert ids, a kind, an output format."""
    from fink_cutout_jupyter.contract.batch import BATCH_FORMATS, MAX_BATCH_IDS

    by_name = {p.name: p for p in CUTOUT_PARAMETERS}
    properties = {
        name: {
            "type": "array",
            "items": _value_schema(by_name[name], survey, True),
            "minItems": 1,
            "maxItems": MAX_BATCH_IDS,
            "description": (
                f"{by_name[name].description}; a list: one answer per id, in order. At most "
                f"{MAX_BATCH_IDS} ids of one kind; of all three, fewer per format (see 413)"
            ),
        }
        for name in _BATCH_ID_NAMES
    }
    formats = [*BATCH_FORMATS, *(f.lower() for f in BATCH_FORMATS if f.lower() != f)]
    properties["kind"] = _value_schema(by_name["kind"], survey, True)
    for name in ("return_type", "output-format"):
        properties[name] = {"enum": formats, "default": "arrow", "description": "Batch output"}
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "oneOf": [{"required": [name]} for name in _BATCH_ID_NAMES],
    }


def _query(name: str, schema_name: str, required: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "query",
            "required": required,
            "style": "form",
            "explode": True,
            "schema": {"$ref": f"#/components/schemas/{schema_name}"},
        }
    ]


def _errors(*codes: str) -> dict[str, Any]:
    reference = {"$ref": "#/components/schemas/Error"}
    return {
        code: {"description": _ERRORS[code], "content": {"application/json": {"schema": reference}}}
        for code in codes or _ERRORS
    }


_CACHING = {
    "ETag": {"description": "Strong; covers the file read", "schema": {"type": "string"}},
    "Cache-Control": {"description": "private, no-cache", "schema": {"type": "string"}},
}


def _cutout_responses(body: bool) -> dict[str, Any]:
    stamp = {"type": "array", "items": {"type": "array", "items": {"type": ["number", "null"]}}}
    stamps = {"type": "array", "items": stamp, "minItems": 1, "maxItems": 3}
    arguments = {"$ref": "#/components/schemas/Arguments"}
    codes: tuple[str, ...] = ("400", "403", "404", "413", "500", "502", "503") if body else ()
    codes = codes or ("400", "403", "404", "500", "502", "503")
    batch = {
        "type": "object",
        "required": ["kinds", "shape", "alerts"],
        "properties": {
            "kinds": {"type": "array", "items": {"type": "string"}},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "shape_policy": {"type": "string"},
            "alerts": {"type": "array", "items": {"type": "object"}},
        },
    }
    content = {
        "application/json": {
            "schema": {"anyOf": [stamps, arguments, batch] if body else [stamps, arguments]}
        },
        "application/fits": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
    }
    if body:
        content["application/vnd.apache.arrow.stream"] = {
            "schema": {"type": "string", "format": "binary"}
        }
    return {
        "200": {
            "description": "The stamps as JSON arrays (Science, Template, Difference order; NaN "
            "as null), the original FITS file (multi-extension for All) or a PNG (side by "
            "side); without parameters, the list of parameters. A batch (POST with a list of "
            "ids): Arrow IPC (default; a row per id: id, status, alert fields, one "
            "fixed-shape float32 tensor column per kind), JSON, or FITS (an ALERTS table and "
            "one image per stamp)",
            "headers": _CACHING,
            "content": content,
        },
        "304": {"description": "Not modified: If-None-Match holds the ETag", "headers": _CACHING},
        **_errors(*codes),
    }


def _alert_schema() -> dict[str, Any]:
    number = {"type": ["number", "null"]}
    return {
        "type": "object",
        "required": ["objectId", "alertId", "jd", "date", "hdfsPath"],
        "properties": {
            "objectId": {"type": ["string", "null"]},
            "alertId": {"type": "integer"},
            "jd": {"type": "number"},
            "date": {"type": "string", "format": "date-time"},
            "filter": {"type": "string"},
            "magnitude": number,
            "magnitude_error": number,
            "magnitude_unit": {"type": "string", "enum": ["mag", "nJy"]},
            "ra": number,
            "dec": number,
            "isdiffpos": {"type": "string"},
            "ssObjectId": {"type": "string", "description": "Rubin solar-system object id"},
            "designation": {"type": "string", "description": "its designation, e.g. 2004 JQ12"},
            "survey": {"type": "string", "enum": list(SURVEYS)},
            "hdfsPath": {"type": "string"},
        },
    }


def _history_schema() -> dict[str, Any]:
    """The body of /history (`cutouts.history.object_history`)."""
    text_or_null = {"type": ["string", "null"]}
    number_or_null = {"type": ["number", "null"]}
    point = {
        "type": "object",
        "required": ["kind", "mjd", "time", "band", "value", "error", "alertId", "indexed"],
        "properties": {
            "kind": {"type": "string", "enum": ["detection", "forced", "upper_limit"]},
            "mjd": {"type": "number", "description": "Modified Julian Date"},
            "time": {"type": "string", "format": "date-time", "description": "UTC"},
            "band": text_or_null,
            "value": number_or_null
            | {
                "description": "flux (nJy, Rubin) or magnitude (ZTF; upper_limit: the "
                "magnitude not reached)"
            },
            "error": number_or_null,
            "alertId": text_or_null | {"description": "the detection's alert id, as text"},
            "indexed": {"type": "boolean", "description": "its stamps can be opened"},
        },
    }
    return {
        "type": "object",
        "required": [
            "survey",
            "objectId",
            "ssObjectId",
            "designation",
            "unit",
            "latestAlertId",
            "points",
        ],
        "properties": {
            "survey": {"type": "string", "enum": list(SURVEYS)},
            "objectId": text_or_null,
            "ssObjectId": text_or_null,
            "designation": text_or_null,
            "unit": {"type": "string", "enum": ["nJy", "mag"]},
            "latestAlertId": {"type": "string"},
            "historyRead": {
                "type": "boolean",
                "description": "false: the latest alert's row could not be proven to be its "
                "own (the file was rewritten), and only the index's detections are given",
            },
            "points": {"type": "array", "items": point, "description": "oldest first"},
            "sources": {
                "type": "object",
                "description": "the latest alert's catalog leaves by dotted path (ZTF: "
                "candidate.ranr, decnr, distnr, distpsnr1..3; Rubin: diaObject.ra, dec, and "
                "prvDiaSources.ra, dec, diaSourceId, midpointMjdTai as lists); empty when its "
                "row is not proven",
            },
        },
    }


def _limit_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["jd", "date", "filter", "limit"],
        "additionalProperties": False,
        "properties": {
            "jd": {"type": "number"},
            "date": {"type": "string", "format": "date-time"},
            "filter": {"type": "string"},
            "limit": {"type": "number", "description": "magnitude not reached (diffmaglim)"},
        },
    }


def openapi_document(base_url: str = "/", survey: Survey | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route, parameter, status and media type.

    Parameters
    ----------
    base_url : str
        Where the routes live (a Jupyter server's ``base_url``, e.g. ``/user/alice/``).
    survey : Survey or None
        The lake's survey, when known: its object ids' pattern is then part of the document.
    """
    arguments = {
        "type": "object",
        "required": ["args"],
        "properties": {
            "args": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "required", "description"],
                    "properties": {
                        "name": {"type": "string"},
                        "required": {"type": "boolean"},
                        "description": {"type": "string"},
                        "allowed": {"type": "array", "items": {"type": "string"}},
                        "default": {},
                    },
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Fink cutouts",
            "version": __version__,
            "description": "Alert cutouts read straight from Fink's Parquet data lake.",
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": {
            "/api/v1/cutouts": {
                "get": {
                    "summary": "Stamps of an alert (no parameters: the list of parameters)",
                    "parameters": _query("parameters", "CutoutQuery"),
                    "responses": _cutout_responses(body=False),
                },
                "post": {
                    "summary": "Stamps of an alert, parameters as a JSON object; or of many "
                    "alerts, when the ids are a list (a batch)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {"$ref": "#/components/schemas/CutoutBody"},
                                        {"$ref": "#/components/schemas/BatchBody"},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": _cutout_responses(body=True),
                },
            },
            "/api/v1/alerts": {
                "get": {
                    "summary": "Every alert of an object, oldest first",
                    "parameters": _query("parameters", "AlertsQuery", required=True),
                    "responses": {
                        "200": {
                            "description": "The alerts",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": _alert_schema()}
                                }
                            },
                        },
                        **_errors("400", "404", "500", "502", "503"),
                    },
                }
            },
            "/api/v1/history": {
                "get": {
                    "summary": "An object's light curve (or a solar-system object's): "
                    "detections, forced photometry (Rubin) and upper limits (ZTF), oldest "
                    "first, from its latest alert's history merged with the indexed alerts",
                    "parameters": _query("parameters", "HistoryQuery", required=True),
                    "responses": {
                        "200": {
                            "description": "The history",
                            "headers": _CACHING
                            | {"ETag": {"description": "Strong", "schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/History"}
                                }
                            },
                        },
                        "304": {"description": "Not modified: If-None-Match holds the ETag"},
                        **_errors("400", "404", "500", "502", "503"),
                    },
                }
            },
            "/api/v1/limits": {
                "get": {
                    "summary": "The object's upper limits (non-detections) from its latest "
                    "alert's history, oldest first; empty where the lake keeps no history",
                    "description": "Replaced by /api/v1/history (its points of kind "
                    "upper_limit, with the detections and forced photometry beside them); "
                    "kept for the clients that call it.",
                    "deprecated": True,
                    "parameters": _query("parameters", "LimitsQuery", required=True),
                    "responses": {
                        "200": {
                            "description": "The upper limits",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": _limit_schema()}
                                }
                            },
                        },
                        **_errors("400", "404", "500", "502", "503"),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/api/v1/health": health_path(),
        },
        "components": {
            "schemas": {
                "CutoutQuery": _parameters_object(CUTOUT_PARAMETERS, survey, False, ids=True),
                "CutoutBody": _parameters_object(CUTOUT_PARAMETERS, survey, True, ids=True),
                "BatchBody": _batch_object(survey),
                "AlertsQuery": _parameters_object(ALERT_PARAMETERS, survey, False, one_object=True),
                "HistoryQuery": _parameters_object(
                    HISTORY_PARAMETERS, survey, False, one_object=True
                ),
                "LimitsQuery": _parameters_object(LIMIT_PARAMETERS, survey, False),
                "History": _history_schema(),
                "Arguments": arguments,
                "Health": HEALTH_SCHEMA,
                "Error": {
                    "type": "object",
                    "required": ["status", "text"],
                    "additionalProperties": False,
                    "properties": {
                        "status": {"type": "string", "enum": ["error"]},
                        "text": {"type": "string"},
                    },
                },
            }
        },
    }
