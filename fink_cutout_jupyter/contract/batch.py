"""The batch door: the stamps of many alerts in one request, each data page read once.

`POST /api/v1/cutouts` with a list of ids (``objectId``/``diaObjectId``: each object's latest
alert; ``candid``/``diaSourceId``: those alerts) answers every id, in the order given, with its
alert's stamps or the reason it has none. Here the request is parsed and each id located through
the index; `CutoutReader.read_many` reads the stamps grouped by file and by data page (a page
holding the stamps of forty alerts is read and decompressed once, whatever the order of the ids),
each row proven to be the requested alert's as a single alert's is. A file deleted or no longer
decodable since it was indexed fails its own rows (their status says why), not the batch.

Memory: a request may ask for at most `max_batch_ids` ids for its format and kinds (what keeps
it within `REQUEST_BYTES`, 413 beyond), and the batches answered at once share
`BATCH_MEMORY` (503 with ``Retry-After`` beyond it); both are `batch_memory`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fink_cutout_jupyter.contract.batch_memory import (
    BATCH_MEMORY,
    REQUEST_BYTES,
    STAMP_BYTES,
    MemoryBudget,
)
from fink_cutout_jupyter.contract.parameters import stamp_kinds
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.cutouts.stamps import Stamp, StampKinds
from fink_cutout_jupyter.errors import (
    BadParameter,
    CutoutError,
    NotFound,
    TooLarge,
    quote,
)
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.surveys import KINDS, ObjectId, Survey, as_integer

MAX_BATCH_IDS = 2000
BATCH_FORMATS = ("arrow", "array", "FITS")
OBJECT_NAMES = ("objectId", "diaObjectId")
ALERT_NAMES = ("candid", "diaSourceId")
_ALLOWED = (*OBJECT_NAMES, *ALERT_NAMES, "kind", "return_type", "output-format")


@dataclass(frozen=True)
class BatchRequest:
    """A validated batch: ids of one kind (objects or alerts), stamp kinds, output format."""

    ids: tuple[str | int, ...]
    by_object: bool
    kinds: StampKinds
    fmt: str


@dataclass
class BatchItem:
    """One requested id: its alert and stamps, or why it has none (`status` other than ok)."""

    requested: str | int
    status: str = "ok"
    location: AlertLocation | None = None
    stamps: dict[str, Stamp] = field(default_factory=dict)

    @property
    def located(self) -> AlertLocation:
        """`location`, of an item the index found (asking it of another is a bug)."""
        if self.location is None:
            raise RuntimeError(f"batch item {self.requested!r} has no location")
        return self.location


def is_batch(params: Mapping[str, Any]) -> bool:
    """Whether a POST's parameters ask for many alerts (an id given as a list)."""
    return any(isinstance(params.get(name), list) for name in (*OBJECT_NAMES, *ALERT_NAMES))


def parse_batch_request(params: Mapping[str, Any], survey: Survey | None = None) -> BatchRequest:
    """Validate a batch (`BadParameter` names what is wrong, past `MAX_BATCH_IDS` ids too)."""
    for name in params:
        if name not in _ALLOWED:
            raise BadParameter(
                f"{quote(name)[1:-1]}: not a batch parameter; allowed: {', '.join(_ALLOWED)}"
            )
    given = [name for name in (*OBJECT_NAMES, *ALERT_NAMES) if name in params]
    if len(given) != 1:
        raise BadParameter(
            f"{given[0] if given else 'objectId'}: a batch takes one list of ids, under one of "
            f"{', '.join((*OBJECT_NAMES, *ALERT_NAMES))} (got {', '.join(given) or 'none'})"
        )
    name = given[0]
    values = params[name]
    if not isinstance(values, list) or not values:
        raise BadParameter(f"{name}: expected a non-empty list of ids")
    if len(values) > MAX_BATCH_IDS:
        raise BadParameter(f"{name}: {len(values)} ids, at most {MAX_BATCH_IDS} per request")
    kinds, canonical = _kinds_and_format(params)
    most = max_batch_ids(canonical, len(kinds))
    if len(values) > most:
        raise TooLarge(
            f"{name}: {len(values)} ids of {len(kinds)} kind(s) in {canonical}, at most {most} "
            f"per request for that format and kind; split the list (CutoutClient.batch does)"
        )
    by_object = name in OBJECT_NAMES
    ids: list[str | int] = []
    for position, value in enumerate(values):
        types = (str, int) if by_object else (str, int, float)
        if isinstance(value, bool) or not isinstance(value, types) or value == "":
            raise BadParameter(f"{name}[{position}]: {quote(value)} is not an id")
        if by_object:
            ids.append(_object_id(survey, name, position, value) if survey else str(value))
        else:
            ids.append(as_integer(f"{name}[{position}]", value, "1234567890123456789"))
    return BatchRequest(tuple(ids), by_object, kinds, canonical)


def _kinds_and_format(params: Mapping[str, Any]) -> tuple[StampKinds, str]:
    kind = params.get("kind", "All")
    if kind not in (*KINDS, "All"):
        raise BadParameter(f"kind: {quote(kind)} is not allowed; allowed: {', '.join(KINDS)}, All")
    formats = {name.lower(): name for name in BATCH_FORMATS}
    for name in ("return_type", "output-format"):
        if name in params and str(params[name]).lower() not in formats:
            raise BadParameter(
                f"{name}: {quote(params[name])} is not allowed for a batch; allowed: "
                f"{', '.join(BATCH_FORMATS)}"
            )
    canonical = formats[
        str(params.get("return_type", params.get("output-format", "arrow"))).lower()
    ]
    return stamp_kinds(kind), canonical


def max_batch_ids(fmt: str, kinds: int) -> int:
    """The most ids one batch of `kinds` stamp kinds may ask for in the format `fmt`: what keeps
    its answer within `REQUEST_BYTES` of server memory, and at most `MAX_BATCH_IDS`."""
    return max(1, min(MAX_BATCH_IDS, REQUEST_BYTES // (kinds * STAMP_BYTES[fmt])))


def _object_id(survey: Survey, name: str, position: int, value: object) -> ObjectId:
    """The object id checked (the index takes it as such), or `BadParameter` naming its place in
    the list (a ZTF id among Rubin ones, or the reverse, is the first one of the other survey)."""
    try:
        return ObjectId.of(value, survey)
    except BadParameter as error:
        reason = str(error).split(": ", 1)[-1]
        raise BadParameter(f"{name}[{position}]: {reason}") from None


class Batches:
    """Answers batches: the index locates each id, `CutoutReader.read_many` reads the stamps.

    Attributes
    ----------
    budget : MemoryBudget
        The server memory batches may hold at once (`BATCH_MEMORY`, shared by the process).
    """

    def __init__(
        self, index: AlertIndex, reader: CutoutReader, budget: MemoryBudget | None = None
    ) -> None:
        self.index = index
        self.reader = reader
        self.budget = budget or BATCH_MEMORY

    @property
    def pages_read(self) -> int:
        """Data pages the reader has read and decompressed so far (see `CutoutReader`)."""
        return self.reader.pages_read

    def read(self, request: BatchRequest) -> list[BatchItem]:
        """Every requested id, in order, with its stamps or its status."""
        items = []
        for position, value in enumerate(request.ids):
            try:
                items.append(self._locate(value, request.by_object))
            except BadParameter as error:  # the lake's survey was not known at parse time
                name = OBJECT_NAMES[0] if request.by_object else ALERT_NAMES[0]
                raise BadParameter(f"{name}[{position}]: {str(error).split(': ', 1)[-1]}") from None
        located = [item for item in items if item.location is not None]
        read = self.reader.read_many([item.located for item in located], request.kinds)
        for item, alert in zip(located, read, strict=True):
            if isinstance(alert, CutoutError):
                item.status = failure(alert)
            else:
                item.stamps = alert.stamps
        return items

    def _locate(self, value: str | int, by_object: bool) -> BatchItem:
        item = BatchItem(value)
        try:
            if by_object:
                item.location = self.index.latest(value)
            else:
                item.location = self.index.alert(value)
        except NotFound as error:
            item.status = f"not found: {error}"
        return item


def failure(error: CutoutError) -> str:
    """A row's status for an error: ``not found``, ``corrupt``, ``unavailable`` or ``error``."""
    reason = {404: "not found", 502: "corrupt", 503: "unavailable"}.get(error.status, "error")
    return f"{reason}: {error}"
