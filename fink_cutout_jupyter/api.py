"""The HTTP contract of /api/v1, without a web framework: parameters in, `Reply` out.

Both doors (the Jupyter server extension and the standalone aiohttp service) turn a request into
``handle(route, params, if_none_match)`` run in a thread pool, and the `Reply` back into a response.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._version import __version__
from .errors import BadParameter, CutoutError, NotFound
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
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class Parameter:
    """One request parameter: documented in ``{"args": [...]}`` and in the OpenAPI document."""

    name: str
    description: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    default: Any = None
    kind: str = "string"


CUTOUT_PARAMETERS = (
    Parameter("objectId", "ZTF object id, e.g. ZTF24abssjsb (or a Rubin diaObjectId)"),
    Parameter("diaObjectId", "Rubin object id (same role as objectId; Fink's object API name)"),
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
    ),
    Parameter("kind", "Which stamp(s)", allowed=(*KINDS, "All"), default="All"),
    Parameter("return_type", "Output format", allowed=FORMATS, default="array"),
    Parameter("output-format", "Same as return_type (Fink portal's name)", allowed=FORMATS),
    Parameter("stretch", "PNG: stretch", allowed=STRETCHES, default="sigmoid"),
    Parameter("interval", "PNG: interval", allowed=INTERVALS, default="percentile"),
    Parameter("pmin", "PNG: lower percentile (interval=percentile)", default=0.5, kind="number"),
    Parameter("pmax", "PNG: upper percentile (interval=percentile)", default=99.95, kind="number"),
    Parameter("colormap", "PNG: any matplotlib colormap name", default="gray"),
    Parameter("convolution_kernel", "PNG: smoothing before the stretch", allowed=KERNELS),
    Parameter("flip", "PNG: put row 0 at the bottom", default=False, kind="boolean"),
)
ALERT_PARAMETERS = (Parameter("objectId", "Object id whose alerts to list", required=True),)
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

    def etag(self, *facts: Any) -> str:
        """Strong ETag of this request's response given `facts`: what the answer depends on.

        The doors pass the file read (lake-relative path), its `FileIdentity` and, when the
        index chose the alert, the alert id: a rewritten file or a newer alert changes it.
        """
        identity = f"{__version__}|{self!r}|{facts!r}"
        return '"' + hashlib.sha256(identity.encode()).hexdigest()[:32] + '"'


def parse_cutout_request(params: Mapping[str, Any], survey: Survey | None = None) -> CutoutRequest:
    """Validate the parameters of /api/v1/cutouts (`BadParameter` names what is wrong)."""
    _refuse_unknown(params, CUTOUT_PARAMETERS)
    object_ids = {_text(params, name) for name in ("objectId", "diaObjectId")} - {None}
    if len(object_ids) > 1:
        raise BadParameter("objectId: objectId and diaObjectId disagree; give one object id")
    object_id = object_ids.pop() if object_ids else None
    alert_ids = {
        as_integer(name, params[name], "1234567890123456789")
        for name in ("candid", "diaSourceId")
        if _text(params, name)
    }
    if len(alert_ids) > 1:
        raise BadParameter("candid: candid and diaSourceId disagree; give one alert id")
    alert_id = alert_ids.pop() if alert_ids else None
    if object_id is None and alert_id is None:
        raise BadParameter(
            "objectId: missing; give objectId (e.g. ZTF24abssjsb), candid or diaSourceId"
        )
    if object_id is not None and survey is not None:
        object_id = str(survey.validate_object_id(object_id))
    kind = _text(params, "kind") or "All"
    if kind not in (*KINDS, "All"):
        raise BadParameter(f"kind: {kind!r} is not allowed; allowed: {', '.join((*KINDS, 'All'))}")
    formats = {_text(params, name) for name in ("return_type", "output-format")} - {None}
    if len(formats) > 1:
        raise BadParameter("return_type: return_type and output-format disagree; give one")
    fmt = output_format(formats.pop() if formats else "array")
    options = {name: params[name] for name in _RENDER_FIELDS if _text(params, name)}
    for name in ("pmin", "pmax"):
        if name in options:
            options[name] = _number(name, options[name])
    if "flip" in options:
        options["flip"] = _boolean("flip", options["flip"])
    return CutoutRequest(
        object_id=object_id,
        alert_id=alert_id,
        path=_text(params, "hdfsPath"),
        kinds=KINDS if kind == "All" else (kind,),
        fmt=fmt,
        render=RenderOptions(**options),
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
        self, lake: Lake | str, index_root: str | None = None, survey: Survey | None = None
    ) -> None:
        self.lake = lake if isinstance(lake, Lake) else Lake(lake)
        self.index = AlertIndex(self.lake, index_root or None)
        self.reader = CutoutReader(self.lake, survey)
        self.survey = survey

    def handle(
        self, route: str, params: Mapping[str, Any], if_none_match: str | None = None
    ) -> Reply:
        """Answer one request; never raises (errors become JSON replies)."""
        try:
            if route == "cutouts":
                if not params:
                    return json_reply({"args": [_describe(p) for p in CUTOUT_PARAMETERS]})
                return self.cutouts(params, if_none_match)
            if route == "alerts":
                return self.alerts(params)
            if route == "openapi.json":
                from .openapi import openapi_document

                return json_reply(openapi_document())
            return error_reply(404, f"no route {route!r}; routes: {', '.join(ROUTES)}")
        except CutoutError as error:
            return error_reply(error.status, str(error))
        except OSError as error:
            logger.warning("lake unavailable: %s", error)
            return error_reply(503, f"the lake's filesystem is unavailable: {error}")
        except Exception:
            logger.exception("unexpected error answering %s %s", route, dict(params))
            return error_reply(500, "internal error; the server log has the details")

    def cutouts(self, params: Mapping[str, Any], if_none_match: str | None = None) -> Reply:
        """Stamps of one alert as array, FITS or PNG.

        The ETag covers the file's identity (and the alert the index chose), so a 304 needs one
        index lookup and one stat, and no read of the lake's pages.
        """
        request = parse_cutout_request(params, self.survey)
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
        _refuse_unknown(params, ALERT_PARAMETERS)
        object_id = _text(params, "objectId")
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


def _refuse_unknown(params: Mapping[str, Any], known: tuple[Parameter, ...]) -> None:
    names = {parameter.name for parameter in known}
    unknown = sorted(set(params) - names)
    if unknown:
        raise BadParameter(f"{unknown[0]}: unknown parameter; allowed: {', '.join(sorted(names))}")


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadParameter(f"{name}: {value!r} is not a number between 0 and 100") from None
    if number != number:
        raise BadParameter(f"{name}: NaN is not a number between 0 and 100")
    return number


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise BadParameter(f"{name}: {value!r} is not allowed; allowed: true, false")
