"""The request parameters of /api/v1: one table, read by `api` (to check) and `openapi` (to state).

Each parameter has a kind; the checks here apply the same rules the OpenAPI document states, so
that the two cannot drift apart. This is the edge: a request is checked and normalised here once
(`parse_cutout_request`: ids, an `ObjectId` when the survey is known, a `LakePath`, `StampKinds`,
the format, render options), and the layers below take what it gives as checked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fink_cutout_jupyter._version import __version__
from fink_cutout_jupyter.contract.formats import FORMATS, output_format
from fink_cutout_jupyter.cutouts.render import INTERVALS, KERNELS, STRETCHES, RenderOptions
from fink_cutout_jupyter.cutouts.stamps import StampKinds
from fink_cutout_jupyter.errors import BadParameter, NotFound, TooLarge, quote
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.paths import LakePath
from fink_cutout_jupyter.surveys import KINDS, ObjectId, Survey, as_integer

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
        "ssObjectId",
        "Rubin solar-system object id: its latest alert, or with candid that alert (checked to "
        "be the object's); not with objectId, diaObjectId or hdfsPath",
        kind="integer",
    ),
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
SS_OBJECT_ID_EXAMPLE = "21163624394469969"
ALERT_PARAMETERS = (
    Parameter("objectId", "Object id whose alerts to list (or give ssObjectId)", kind="id"),
    Parameter("diaObjectId", "Rubin object id (same role as objectId)", kind="id"),
    Parameter("ssObjectId", "Rubin solar-system object id whose alerts to list", kind="integer"),
)
LIMIT_PARAMETERS = (
    Parameter("objectId", "Object id whose upper limits to list", required=True, kind="id"),
)
HISTORY_PARAMETERS = (
    Parameter("objectId", "Object id (ZTF objectId, Rubin diaObjectId)", kind="id"),
    Parameter("diaObjectId", "Rubin object id (same role as objectId)", kind="id"),
    Parameter("ssObjectId", "Rubin solar-system object id", kind="integer"),
)
# The names of an object in /alerts and /history: a request gives exactly one of them.
TARGET_NAMES = ("objectId", "diaObjectId", "ssObjectId")
RENDER_FIELDS = ("stretch", "interval", "pmin", "pmax", "colormap", "convolution_kernel", "flip")


@dataclass(frozen=True)
class CutoutRequest:
    """A validated /api/v1/cutouts request: what the layers below take as checked.

    `object_id` is an `ObjectId` (checked) when the survey was known here; `path` (``hdfsPath``)
    is a `LakePath` when a lake was given; `kinds` and `fmt` are among the allowed ones.
    """

    object_id: str | None
    alert_id: int | None
    path: LakePath | str | None  # a `LakePath` when a lake was given
    kinds: StampKinds
    fmt: str
    render: RenderOptions
    ss_object_id: int | None = None  # ``ssObjectId``: then `object_id` and `path` are None

    def etag(self, *facts: Any) -> str:
        """Strong ETag of this request's response given `facts`: what the answer depends on.

        The doors pass the file read (lake-relative path), its `FileIdentity` and, when the
        index chose the alert, the alert id: a rewritten file or a newer alert changes it.
        """
        identity = f"{__version__}|{self!r}|{facts!r}"
        return '"' + hashlib.sha256(identity.encode()).hexdigest()[:32] + '"'


def parse_cutout_request(
    params: Mapping[str, Any],
    survey: Survey | None = None,
    body: bool = False,
    lake: Lake | None = None,
) -> CutoutRequest:
    """Validate the parameters of /api/v1/cutouts (`BadParameter` names what is wrong), once:
    the layers below take the `CutoutRequest` as checked.

    Every rule here is one the OpenAPI document states, so that a request it calls valid is
    never refused with a 400: two names of one id that disagree name no alert (`NotFound`),
    and ``return_type`` wins over ``output-format``. With `body`, the parameters came as a JSON
    object, whose numbers and booleans must be JSON's own. With `lake`, ``hdfsPath`` is made
    relative to its root (`Lake.relative`: `OutsideLake` for a path that would leave it).
    """
    check(params, CUTOUT_PARAMETERS, body)
    given = {name: str(params[name]) for name in ("objectId", "diaObjectId") if name in params}
    object_ids = set(given.values())
    alert_ids = {
        as_integer(name, params[name], "1234567890123456789")
        for name in ("candid", "diaSourceId")
        if name in params
    }
    ss_object_id = _ss_object_id(params, "objectId", "diaObjectId", "hdfsPath")
    if not object_ids and not alert_ids and ss_object_id is None:
        raise BadParameter(
            "objectId: missing; give objectId (e.g. ZTF24abssjsb), diaObjectId, ssObjectId, "
            "candid or diaSourceId"
        )
    if survey is not None:  # an id is named as the request named it
        object_ids = {ObjectId.of(value, survey, name) for name, value in given.items()}
    if len(object_ids) > 1 or len(alert_ids) > 1:
        raise NotFound(
            "candid: candid and diaSourceId (or objectId and diaObjectId) name different "
            "alerts; no alert has both"
        )
    kind = params.get("kind", "All")
    fmt = output_format(params.get("return_type", params.get("output-format", "array")))
    options = {name: params[name] for name in RENDER_FIELDS if name in params}
    for name in ("pmin", "pmax"):
        if name in options:
            options[name] = number(name, options[name])
    if "flip" in options:
        options["flip"] = boolean("flip", options["flip"])
    path = params.get("hdfsPath")
    if path is not None and lake is not None:
        path = lake.relative(path)
    return CutoutRequest(
        object_id=object_ids.pop() if object_ids else None,
        alert_id=alert_ids.pop() if alert_ids else None,
        path=path,
        kinds=stamp_kinds(kind),
        fmt=fmt,
        render=RenderOptions(**options),
        ss_object_id=ss_object_id,
    )


@dataclass(frozen=True)
class ObjectTarget:
    """The object an /alerts or /history request names: an object id, or a solar-system
    object's ``ssObjectId`` (exactly one of them is set)."""

    object_id: str | int | None
    ss_object_id: int | None


def parse_object_target(
    params: Mapping[str, Any], known: tuple[Parameter, ...], survey: Survey | None = None
) -> ObjectTarget:
    """The object of an /alerts or /history request: exactly one of the names in `known` among
    `TARGET_NAMES` (`BadParameter` naming it when none is given, or naming those given when
    more than one is). With `survey`, an object id is an `ObjectId` of it, checked here: a bad
    one is refused naming the parameter given (``objectId`` or ``diaObjectId``)."""
    check(params, known)
    names = [parameter.name for parameter in known if parameter.name in TARGET_NAMES]
    given = [name for name in names if name in params]
    if not given:
        raise BadParameter(
            f"objectId: missing; give one of {', '.join(names)} (e.g. objectId=ZTF24abssjsb "
            f"or ssObjectId={SS_OBJECT_ID_EXAMPLE})"
        )
    if len(given) > 1:
        raise BadParameter(f"{', '.join(given)}: give one of them, not {len(given)}")
    if given[0] == "ssObjectId":
        return ObjectTarget(
            None, as_integer("ssObjectId", params["ssObjectId"], SS_OBJECT_ID_EXAMPLE)
        )
    value = params[given[0]]
    return ObjectTarget(value if survey is None else ObjectId.of(value, survey, given[0]), None)


def _ss_object_id(params: Mapping[str, Any], *exclusive: str) -> int | None:
    """A /cutouts request's ``ssObjectId`` (checked), refused beside any of `exclusive`:
    a solar-system object is found by the index, and has no object id to agree with."""
    if "ssObjectId" not in params:
        return None
    beside = [name for name in exclusive if name in params]
    if beside:
        raise BadParameter(
            f"ssObjectId, {', '.join(beside)}: give ssObjectId without {' or '.join(beside)} "
            "(a solar-system object's alerts are found by the index; add candid for one of them)"
        )
    return as_integer("ssObjectId", params["ssObjectId"], SS_OBJECT_ID_EXAMPLE)


def stamp_kinds(kind: str) -> StampKinds:
    """The stamp kinds a ``kind`` parameter names, once checked (``All``: the three)."""
    return StampKinds(KINDS if kind == "All" else (kind,))


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


def describe(parameter: Parameter) -> dict[str, Any]:
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


def check(params: Mapping[str, Any], known: tuple[Parameter, ...], body: bool = False) -> None:
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


def number(name: str, value: Any) -> float:
    low, high = PERCENTILE_RANGES[name]
    allowed = f"a number from {low:g} to {high:g} (pmin < 50 < pmax)"
    if isinstance(value, str) and not re.fullmatch(_NUMBER_TEXT, value):
        raise BadParameter(f"{name}: {quote(value)} is not {allowed}")
    number = float(value)
    inside = low <= number < high if name == "pmin" else low < number <= high
    if not inside:  # NaN is never inside
        raise BadParameter(f"{name}: {quote(value)} is not {allowed}")
    return number


def boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise BadParameter(f"{name}: {quote(value)} is not allowed; allowed: true, false")
