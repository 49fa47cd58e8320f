"""The batch door: the stamps of many alerts in one request, each data page read once.

`POST /api/v1/cutouts` with a list of ids (``objectId``/``diaObjectId``: each object's latest
alert; ``candid``/``diaSourceId``: those alerts) answers every id, in the order given, with its
alert's stamps or the reason it has none. The alerts are grouped by file and by data page: a page
holding the stamps of forty alerts is read and decompressed once, whatever the order of the ids.
Every row is still proven to be the requested alert's (file identity, and the alert id stored in
the same row); a row that is not, or a page the page reader cannot decode, is read alone by
`CutoutReader.read_location`, which scans the file if needed. A file deleted or no longer
decodable since it was indexed fails its own rows (their status says why), not the batch.

Memory: a request may ask for at most `max_batch_ids` ids for its format and kinds (what keeps
it within `REQUEST_BYTES`, 413 beyond), and the batches answered at once share
`BATCH_MEMORY` (503 with ``Retry-After`` beyond it); both are `batch_memory`'s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fink_cutout_jupyter.contract.batch_memory import (
    BATCH_MEMORY,
    REQUEST_BYTES,
    STAMP_BYTES,
    MemoryBudget,
)
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.cutouts.stamps import Stamp, stamp_from_stored
from fink_cutout_jupyter.errors import (
    BadParameter,
    CorruptData,
    CutoutError,
    NotFound,
    TooLarge,
    quote,
)
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.locations import ALERT_ID_SPAN, AlertLocation
from fink_cutout_jupyter.parquet.pages import Unsupported, read_values
from fink_cutout_jupyter.surveys import KINDS, Survey, as_integer, survey_named

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
    kinds: tuple[str, ...]
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


def _kinds_and_format(params: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
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
    return (KINDS if kind == "All" else (kind,)), canonical


def max_batch_ids(fmt: str, kinds: int) -> int:
    """The most ids one batch of `kinds` stamp kinds may ask for in the format `fmt`: what keeps
    its answer within `REQUEST_BYTES` of server memory, and at most `MAX_BATCH_IDS`."""
    return max(1, min(MAX_BATCH_IDS, REQUEST_BYTES // (kinds * STAMP_BYTES[fmt])))


def _object_id(survey: Survey, name: str, position: int, value: object) -> str:
    """The object id as text, or `BadParameter` naming its place in the list (a ZTF id among
    Rubin ones, or the reverse, is the first one of the other survey)."""
    try:
        return str(survey.validate_object_id(value))
    except BadParameter as error:
        reason = str(error).split(": ", 1)[-1]
        raise BadParameter(f"{name}[{position}]: {reason}") from None


class BatchReader:
    """Reads a batch through the index, grouping its stamps by file and data page.

    Attributes
    ----------
    pages_read : int
        Data pages read and decompressed by all batches so far (dictionary pages not counted).
    budget : MemoryBudget
        The server memory batches may hold at once (`BATCH_MEMORY`, shared by the process).
    """

    def __init__(
        self, index: AlertIndex, reader: CutoutReader, budget: MemoryBudget | None = None
    ) -> None:
        self.index = index
        self.reader = reader
        self.budget = budget or BATCH_MEMORY
        self.pages_read = 0

    def read(self, request: BatchRequest) -> list[BatchItem]:
        """Every requested id, in order, with its stamps or its status."""
        items = []
        for position, value in enumerate(request.ids):
            try:
                items.append(self._locate(value, request.by_object))
            except BadParameter as error:  # the lake's survey was not known at parse time
                name = OBJECT_NAMES[0] if request.by_object else ALERT_NAMES[0]
                raise BadParameter(f"{name}[{position}]: {str(error).split(': ', 1)[-1]}") from None
        by_file: dict[str, list[BatchItem]] = defaultdict(list)
        for item in items:
            if item.location is not None:
                by_file[item.location.path].append(item)
        for path, found in by_file.items():
            try:
                self._read_file(path, found, request.kinds)
            except CutoutError as error:  # the file is gone, or no longer Parquet: its rows say so
                for item in found:
                    if item.status == "ok" and not item.stamps:
                        item.status = failure(error)
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

    def _read_file(self, path: str, items: list[BatchItem], kinds: tuple[str, ...]) -> None:
        """Stamps of the file's alerts by page; the others (stale, undecodable) one by one."""
        alone = list(items)
        identity = self.reader.files.identity(path)
        paged = [
            item
            for item in items
            if item.located.page_spans and item.located.file_identity == identity
        ]
        if paged:
            chosen = {id(item) for item in paged}
            with self.reader.files.reading(path, identity) as source:
                retry = self._read_pages(source, paged, kinds)
            alone = [item for item in items if id(item) not in chosen] + retry
        for item in alone:
            try:
                item.stamps = self.reader.read_location(item.located, kinds).stamps
            except CutoutError as error:
                item.status = failure(error)

    def _read_pages(self, source, items: list[BatchItem], kinds) -> list[BatchItem]:
        """Read each page holding one of the items' alert ids or stamps once; return the items
        whose row does not hold their alert, or whose pages cannot be decoded here."""
        wanted: dict[tuple, list[tuple[BatchItem, str, Any]]] = defaultdict(list)
        for item in items:
            spans = item.located.page_spans
            assert spans is not None  # `_read_file` passes only items with spans
            for name in (ALERT_ID_SPAN, *kinds):
                span, column = spans[name]
                page = (span.offset, span.length, span.dictionary_offset, column)
                wanted[page].append((item, name, span))
        values: dict[tuple[int, str], Any] = {}
        failed: set[int] = set()
        for page, entries in wanted.items():
            span, column = entries[0][2], page[3]
            try:
                found = read_values(source, span, column, [e[2].index_in_page for e in entries])
            except (Unsupported, ValueError, IndexError, OSError):
                failed.update(id(item) for item, _, _ in entries)
                continue
            self.pages_read += 1
            for item, name, entry_span in entries:
                values[id(item), name] = found[entry_span.index_in_page]
        retry = []
        for item in items:
            key = id(item)
            if key in failed or values.get((key, ALERT_ID_SPAN)) != item.located.alert_id:
                retry.append(item)
                continue
            survey = _survey(self.reader, item.located)
            try:
                item.stamps = {
                    kind: self._stamp(kind, values[key, kind], survey, item) for kind in kinds
                }
            except CutoutError as error:
                item.status = failure(error)
        return retry

    def _stamp(self, kind: str, stored, survey: Survey, item: BatchItem) -> Stamp:
        if stored is None:
            raise NotFound(f"alert {item.located.alert_id} has no {kind} stamp")
        try:
            return stamp_from_stored(kind, stored, survey.gzipped)
        except CorruptData as error:
            raise CorruptData(
                f"the {kind} stamp of alert {item.located.alert_id} in {item.located.path} "
                f"is corrupt ({error})"
            ) from None


def failure(error: CutoutError) -> str:
    """A row's status for an error: ``not found``, ``corrupt``, ``unavailable`` or ``error``."""
    reason = {404: "not found", 502: "corrupt", 503: "unavailable"}.get(error.status, "error")
    return f"{reason}: {error}"


def _survey(reader: CutoutReader, location: AlertLocation) -> Survey:
    return reader.survey or survey_named(location.survey or "ztf")


def batch_shape(items: Sequence[BatchItem]) -> tuple[int, int]:
    """The stamps' most common shape (stamps of another shape are sent as NaN, see `stack`)."""
    shapes = Counter(s.data.shape for item in items for s in item.stamps.values())
    return shapes.most_common(1)[0][0] if shapes else (0, 0)
