"""The OpenAPI 3 document of /api/v1, generated from the parameter tables of `api`."""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .api import ALERT_PARAMETERS, CUTOUT_PARAMETERS, Parameter

_ERRORS = {
    "400": "A parameter is missing or not allowed (the text names it and the allowed values)",
    "403": "The path leaves the lake root, or the request is not authorized",
    "404": "No such object, alert or file",
    "503": "The lake's filesystem is unreachable",
}


def _schema(parameter: Parameter) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": parameter.kind}
    if parameter.allowed:
        schema["enum"] = list(parameter.allowed)
    if parameter.default is not None:
        schema["default"] = parameter.default
    if parameter.kind == "number":
        schema |= {"minimum": 0, "maximum": 100}
    return schema


def _query(parameters: tuple[Parameter, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": p.description,
            "schema": _schema(p),
        }
        for p in parameters
    ]


def _errors() -> dict[str, Any]:
    reference = {"$ref": "#/components/schemas/Error"}
    return {
        code: {"description": text, "content": {"application/json": {"schema": reference}}}
        for code, text in _ERRORS.items()
    }


def _cutout_responses() -> dict[str, Any]:
    stamp = {"type": "array", "items": {"type": "array", "items": {"type": ["number", "null"]}}}
    return {
        "200": {
            "description": "The stamps: JSON arrays (Science, Template, Difference order; NaN as "
            "null), the original FITS file (multi-extension for All), or a PNG (side by side)",
            "content": {
                "application/json": {"schema": {"type": "array", "items": stamp}},
                "application/fits": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "304": {"description": "Not modified (If-None-Match matched the ETag of an alert id)"},
        **_errors(),
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route and parameter."""
    cutouts_body = {
        "type": "object",
        "properties": {
            p.name: _schema(p) | {"description": p.description} for p in CUTOUT_PARAMETERS
        },
    }
    alert = {
        "type": "object",
        "properties": {
            "objectId": {"type": "string"},
            "alertId": {"type": "integer"},
            "jd": {"type": "number"},
            "date": {"type": "string", "format": "date-time"},
            "filter": {"type": "string"},
            "magnitude": {"type": "number"},
            "magnitude_error": {"type": "number"},
            "magnitude_unit": {"type": "string", "enum": ["mag", "nJy"]},
            "ra": {"type": "number"},
            "dec": {"type": "number"},
            "isdiffpos": {"type": "string"},
            "hdfsPath": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Fink cutouts",
            "version": __version__,
            "description": "Alert cutouts read straight from Fink's Parquet data lake.",
        },
        "paths": {
            "/api/v1/cutouts": {
                "get": {
                    "summary": "Stamps of an alert (no parameters: the list of parameters)",
                    "parameters": _query(CUTOUT_PARAMETERS),
                    "responses": _cutout_responses(),
                },
                "post": {
                    "summary": "Stamps of an alert, parameters as a JSON body",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": cutouts_body}},
                    },
                    "responses": _cutout_responses(),
                },
            },
            "/api/v1/alerts": {
                "get": {
                    "summary": "Every alert of an object, oldest first",
                    "parameters": _query(ALERT_PARAMETERS),
                    "responses": {
                        "200": {
                            "description": "The alerts",
                            "content": {
                                "application/json": {"schema": {"type": "array", "items": alert}}
                            },
                        },
                        **_errors(),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["status", "text"],
                    "properties": {
                        "status": {"type": "string", "enum": ["error"]},
                        "text": {"type": "string"},
                    },
                }
            }
        },
    }
