"""The HTTP contract of /api/v1, without a web framework: parameters in, `Reply` out.

Both doors (the Jupyter server extension and the standalone aiohttp service) turn a request into
``handle(route, params, if_none_match)`` run in a thread pool, and the `Reply` back into a response.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._version import __version__
from .errors import BadParameter, CutoutError, NotFound, TooLarge, quote
from .formats import FORMATS, encode, output_format
from .index import AlertIndex
from .lake import Lake
from .locations import AlertLocation
from .reader import CutoutReader
from .render import INTERVALS, KERNELS, STRETCHES, RenderOptions
from .surveys import KINDS, Survey, as_integer

logger = logging.getLogger(__name__)

ROUTES = ("cutouts", "alerts", "openapi.json")
# Stored, but revalidated on every use: a 304 costs one lookup and one stat, and a rewritten file
# changes the ETag, so no cache can keep serving what the lake no longer holds.
REVALIDATE = "private, no-cache"
FORMAT_SPELLINGS = (*FORMATS, *(name.lower() for name in FORMATS if name.lower() != name))
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_LENGTH = 256
# What a value of each kind may be, as JSON gives it or as a query string's text.
_KIND_TYPES = {
    "string": (str,),
    "id": (str, int),
    "integer": (str, int, float),
    "number": (str, int, float),
    "boolean": (str, bool),
}
# In a JSON body, numbers and booleans are JSON's own (ids may still be digits as text).
_BODY_KIND_TYPES = _KIND_TYPES | {"number": (int, float), "boolean": (bool,)}


@dataclass(frozen=True)
class Parameter:
    """One request parameter: documented in ``{"args": [...]}`` and in the OpenAPI document.

    `kind` is ``string``, ``id`` (text, or a whole number for Rubin), ``integer`` (an alert id:
    up to 20 digits, 0 to 2**63-1), ``number`` (0 to 100) or ``boolean``; text is at most
    `max_length` characters.
    """

    name: str
    description: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    default: Any = None
    kind: str = "string"
    max_length: int = MAX_TEXT_LENGTH


CUTOUT_PARAMETERS = (
    Parameter("objectId", "ZTF object id, e.g. ZTF24abssjsb (or a Rubin diaObjectId)", kind="id"),
    Parameter(
        "diaObjectId", "Rubin object id (same role as objectId; Fink's object API name)", kind="id"
    ),
    Parameter(
        "candid",
        "Alert id (ZTF candid). Without it, the latest alert of the object",
        kind="integer",
    ),
    Parameter("diaSourceId", "Rubin alert id (same role as candid)", kind="integer"),
    Parameter(
        "hdfsPath",
        "File to read (seed compatibility): relative to the lake root, or an absolute path or "
        "URI of the lake's filesystem inside the root; without it the alert index finds the alert",
        max_length=1024,
    ),
    Parameter("kind", "Which stamp(s)", allowed=(*KINDS, "All"), default="All"),
    Parameter("return_type", "Output format", allowed=FORMAT_SPELLINGS, default="array"),
    Parameter(
        "output-format",
        "Same as return_type (Fink portal's name); return_type wins when both are given",
        allowed=FORMAT_SPELLINGS,
    ),
    Parameter("stretch", "PNG: stretch", allowed=STRETCHES, default="sigmoid"),
    Parameter("interval", "PNG: interval", allowed=INTERVALS, default="percentile"),
    Parameter(
        "pmin",
        "PNG: lower percentile (interval=percentile), 0 <= pmin < 50",
        default=0.5,
        kind="number",
    ),
    Parameter(
        "pmax",
        "PNG: upper percentile (interval=percentile), 50 < pmax <= 100",
        default=99.95,
        kind="number",
    ),
    Parameter("colormap", "PNG: any matplotlib colormap name", default="gray"),
    Parameter("convolution_kernel", "PNG: smoothing before the stretch", allowed=KERNELS),
    Parameter("flip", "PNG: flip vertically (row 0 at the bottom)", default=False, kind="boolean"),
)
ALERT_PARAMETERS = (
    Parameter("objectId", "Object id whose alerts to list", required=True, kind="id"),
)
_RENDER_FIELDS = ("stretch", "interval", "pmin", "pmax", "colormap", "convolution_kernel", "flip")


@dataclass(frozen=True)
class Reply:
    """An HTTP response as plain data."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CutoutRequest:
    """A validated /api/v1/cutouts request."""

    object_id: str | None
    alert_id: int | None
    path: str | None
    kinds: tuple[str, ...]
    fmt: str
    render: RenderOptions
    disagreeing: bool = False  # two names of one id with different values: no such alert

    def etag(self, *facts: Any) -> str:
        """Strong ETag of this request's response given `facts`: what the answer depends on.

        The doors pass the file read (lake-relative path), its `FileIdentity` and, when the
        index chose the alert, the alert id: a rewritten file or a newer alert changes it.
        """
        identity = f"{__version__}|{self!r}|{facts!r}"
        return '"' + hashlib.sha256(identity.encode()).hexdigest()[:32] + '"'


def parse_body(body: bytes) -> dict[str, Any]:
    """The parameters of a POST: a JSON object of at most `MAX_BODY_BYTES` (`TooLarge`, 413)."""
    import orjson

    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"body: {len(body)} bytes, more than {MAX_BODY_BYTES}")
    if not body.strip():
        raise BadParameter("body: empty; send a JSON object of parameters (e.g. {})")
    try:
        params = orjson.loads(body)  # refuses nesting deeper than 1,024
    except orjson.JSONDecodeError as error:
        raise BadParameter(f"body: not valid JSON ({quote(str(error))})") from None
    if not isinstance(params, dict):
        raise BadParameter("body: expected a JSON object of parameters")
    return params


def parse_cutout_request(
    params: Mapping[str, Any], survey: Survey | None = None, body: bool = False
) -> CutoutRequest:
    """Validate the parameters of /api/v1/cutouts (`BadParameter` names what is wrong).

    Every rule here is one the OpenAPI document states, so that a request it calls valid is
    never refused with a 400: two names of one id that disagree name no alert (404, later),
    and ``return_type`` wins over ``output-format``. With `body`, the parameters came as a JSON
    object, whose numbers and booleans must be JSON's own.
    """
    _check(params, CUTOUT_PARAMETERS, body)
    object_ids = {str(params[name]) for name in ("objectId", "diaObjectId") if name in params}
    alert_ids = {
        as_integer(name, params[name], "1234567890123456789")
        for name in ("candid", "diaSourceId")
        if name in params
    }
    if not object_ids and not alert_ids:
        raise BadParameter(
            "objectId: missing; give objectId (e.g. ZTF24abssjsb), diaObjectId, candid or "
            "diaSourceId"
        )
    if survey is not None:
        object_ids = {str(survey.validate_object_id(value)) for value in object_ids}
    kind = params.get("kind", "All")
    fmt = output_format(params.get("return_type", params.get("output-format", "array")))
    options = {name: params[name] for name in _RENDER_FIELDS if name in params}
    for name in ("pmin", "pmax"):
        if name in options:
            options[name] = _number(name, options[name])
    if "flip" in options:
        options["flip"] = _boolean("flip", options["flip"])
    return CutoutRequest(
        object_id=min(object_ids) if object_ids else None,
        alert_id=min(alert_ids) if alert_ids else None,
        path=params.get("hdfsPath"),
        kinds=KINDS if kind == "All" else (kind,),
        fmt=fmt,
        render=RenderOptions(**options),
        disagreeing=len(object_ids) > 1 or len(alert_ids) > 1,
    )


class CutoutAPI:
    """The /api/v1 contract over a lake and its alert index.

    Parameters
    ----------
    lake : Lake or str
        The data lake (local directory, ``hdfs://`` or ``s3://`` URI).
    index_root : str or None
        Where the alert index lives (default: ``_cutout_index`` inside the lake).
    survey : Survey or None
        The lake's survey; ``None`` takes it from the index, or from each file's columns.
    """

    def __init__(
        self,
        lake: Lake | str,
        index_root: str | None = None,
        survey: Survey | None = None,
        base_url: str = "/",
    ) -> None:
        self.lake = lake if isinstance(lake, Lake) else Lake(lake)
        self.index = AlertIndex(self.lake, index_root or None)
        self.reader = CutoutReader(self.lake, survey)
        self.survey = survey
        self.base_url = base_url

    def handle(
        self,
        route: str,
        params: Mapping[str, Any],
        if_none_match: str | None = None,
        body: bool = False,
    ) -> Reply:
        """Answer one request; never raises (errors become JSON replies).

        `body`: the parameters came as a POST's JSON object (see `parse_cutout_request`).
        """
        try:
            if route == "cutouts":
                if not params:
                    return json_reply({"args": [_describe(p) for p in CUTOUT_PARAMETERS]})
                return self.cutouts(params, if_none_match, body)
            if route == "alerts":
                return self.alerts(params)
            if route == "openapi.json":
                from .openapi import openapi_document

                return json_reply(openapi_document(self.base_url, self.known_survey()))
            return error_reply(404, f"no route {quote(route)}; routes: {', '.join(ROUTES)}")
        except CutoutError as error:
            return error_reply(error.status, str(error))
        except OSError as error:
            logger.warning("lake unavailable: %s", error)
            text = self.lake.scrub(str(error))
            return error_reply(503, f"the lake's filesystem is unavailable: {text}")
        except Exception:
            logger.exception("unexpected error answering %s %s", route, dict(params))
            return error_reply(500, "internal error; the server log has the details")

    def cutouts(
        self, params: Mapping[str, Any], if_none_match: str | None = None, body: bool = False
    ) -> Reply:
        """Stamps of one alert as array, FITS or PNG.

        The ETag covers the file's identity (and the alert the index chose), so a 304 needs one
        index lookup and one stat, and no read of the lake's pages.
        """
        request = parse_cutout_request(params, self.survey, body)
        if request.disagreeing:
            raise NotFound(
                "candid: candid and diaSourceId (or objectId and diaObjectId) name different "
                "alerts; no alert has both"
            )
        location = self._locate(request) if request.path is None else None
        path = location.path if location else self.lake.relative(request.path)
        identity = self.lake.identity(path)
        etag = request.etag(path, tuple(identity), location and location.alert_id)
        cache = {"ETag": etag, "Cache-Control": REVALIDATE}
        if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
            return Reply(304, b"", cache)
        if location is None:
            alert = self.reader.read(path, request.object_id, request.alert_id, request.kinds)
        else:
            alert = self.reader.read_location(location, request.kinds, identity)
        encoded = encode(alert, request.fmt, request.render)
        headers = {"Content-Type": encoded.media_type}
        if request.fmt == "FITS":
            headers["Content-Disposition"] = f'attachment; filename="{encoded.filename}"'
        return Reply(200, encoded.body, headers | cache)

    def alerts(self, params: Mapping[str, Any]) -> Reply:
        """Every alert of an object, oldest first."""
        _check(params, ALERT_PARAMETERS)
        object_id = params.get("objectId")
        if object_id is None:
            raise BadParameter("objectId: missing; e.g. objectId=ZTF24abssjsb")
        rows = [
            {
                "objectId": location.object_id,
                "alertId": location.alert_id,
                "jd": location.jd,
                "date": location.date.isoformat(timespec="seconds"),
                **location.properties,
                "hdfsPath": location.path,
            }
            for location in self.index.alerts(object_id)
        ]
        return json_reply(rows, {"Cache-Control": "no-cache"})

    def known_survey(self) -> Survey | None:
        """The lake's survey if configured or indexed (None while nothing says)."""
        if self.survey is not None:
            return self.survey
        try:
            return self.index.survey
        except CutoutError:
            return None

    def _locate(self, request: CutoutRequest) -> AlertLocation:
        """The indexed alert a request without a file names."""
        if request.alert_id is None:
            return self.index.latest(request.object_id)
        location = self.index.alert(request.alert_id)
        if request.object_id is not None and location.object_id != request.object_id:
            raise NotFound(
                f"candid: alert {request.alert_id} is not an alert of {request.object_id}"
            )
        return location


def json_reply(payload: Any, headers: Mapping[str, str] | None = None, status: int = 200) -> Reply:
    """A JSON reply (NaN is never emitted: it is not JSON)."""
    body = json.dumps(payload, allow_nan=False).encode()
    return Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


def error_reply(status: int, text: str) -> Reply:
    """The seed's error shape: ``{"status": "error", "text": ...}``."""
    return json_reply({"status": "error", "text": text}, status=status)


def _describe(parameter: Parameter) -> dict[str, Any]:
    described = {
        "name": parameter.name,
        "required": parameter.required,
        "description": parameter.description,
    }
    if parameter.allowed:
        described["allowed"] = list(parameter.allowed)
    if parameter.default is not None:
        described["default"] = parameter.default
    return described


def _check(params: Mapping[str, Any], known: tuple[Parameter, ...], body: bool = False) -> None:
    """Refuse unknown names, values of the wrong type, and text longer than allowed."""
    types = _BODY_KIND_TYPES if body else _KIND_TYPES
    by_name = {parameter.name: parameter for parameter in known}
    for name, value in params.items():
        parameter = by_name.get(name)
        if parameter is None:
            raise BadParameter(
                f"{quote(name)[1:-1]}: unknown parameter; allowed: {', '.join(sorted(by_name))}"
            )
        if not isinstance(value, types[parameter.kind]) or (
            isinstance(value, bool) and parameter.kind != "boolean"
        ):
            got = _JSON_TYPES.get(type(value), type(value).__name__)
            raise BadParameter(f"{name}: expected {_EXPECTED[parameter.kind]}, got {got}")
        if isinstance(value, str) and not value:
            raise BadParameter(f"{name}: empty")
        if isinstance(value, str) and len(value) > parameter.max_length:
            raise BadParameter(
                f"{name}: {len(value)} characters, at most {parameter.max_length} allowed"
            )
        if parameter.allowed and value not in parameter.allowed:
            raise BadParameter(
                f"{name}: {quote(value)} is not allowed; allowed: {', '.join(parameter.allowed)}"
            )


_JSON_TYPES = {type(None): "null", dict: "an object", list: "an array", float: "a number"}
_EXPECTED = {
    "string": "text",
    "id": "text or a whole number",
    "integer": "a whole number (or its digits as text)",
    "number": "a number",
    "boolean": "true or false",
}


# pmin in [0, 50), pmax in (50, 100]: pmin < pmax always, as the OpenAPI document can state it.
PERCENTILE_RANGES = {"pmin": (0.0, 50.0), "pmax": (50.0, 100.0)}
_NUMBER_TEXT = r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"  # a number's text in a query


def _number(name: str, value: Any) -> float:
    low, high = PERCENTILE_RANGES[name]
    allowed = f"a number from {low:g} to {high:g} (pmin < 50 < pmax)"
    if isinstance(value, str) and not re.fullmatch(_NUMBER_TEXT, value):
        raise BadParameter(f"{name}: {quote(value)} is not {allowed}")
    number = float(value)
    inside = low <= number < high if name == "pmin" else low < number <= high
    if not inside:  # NaN is never inside
        raise BadParameter(f"{name}: {quote(value)} is not {allowed}")
    return number


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise BadParameter(f"{name}: {quote(value)} is not allowed; allowed: true, false")
