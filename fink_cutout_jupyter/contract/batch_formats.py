"""A batch's answer as bytes: Arrow IPC (stamps as fixed-shape tensors), JSON, or FITS.

Every format lists the requested ids in the order given, each with its status (``ok``, or why it
has no stamps) and its alert's id and display fields. Stamps are float32 with NaN kept.

Shape policy: the batch's stamps share one shape, the most common among them (ZTF: 63x63). A
stamp of another shape (ZTF stamps cut at a CCD edge are smaller) is sent as NaN in the Arrow and
JSON stacks and named in its row's status (``ok; other shape: Science 63x50``); fetch it alone to
get its pixels. FITS keeps every stamp as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from fink_cutout_jupyter.contract.batch import BatchItem, BatchRequest
from fink_cutout_jupyter.contract.formats import Encoded, finite, iso_date
from fink_cutout_jupyter.cutouts.decode_threads import in_threads
from fink_cutout_jupyter.cutouts.fits_data import stored_pixels
from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.errors import CutoutError

SHAPE_POLICY = (
    "stamps share the batch's most common shape; a stamp of another shape is NaN, "
    "and its row's status names it"
)
FIELDS = (
    "filter",
    "magnitude",
    "magnitude_error",
    "magnitude_unit",
    "ra",
    "dec",
    "isdiffpos",
)


def stack(
    items: Sequence[BatchItem], kinds: Sequence[str], by_kind: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Stamps as one float32 array (n, kinds, height, width), NaN where none; the statuses.

    `by_kind`: the array is (kinds, n, height, width) instead, each kind's plane contiguous.
    The stamps are copied into it on every core (`in_threads`), straight from their stored
    bytes where astropy would not scale them (`stored_pixels`: one copy a stamp). The shape is
    the most common among the 2-D stamps; an item a stamp of which does not decode has none
    (`decoded_pixels`).
    """
    pixels = decoded_pixels(items, kinds)
    shapes = Counter(data.shape for data in pixels.values() if data.ndim == 2)
    height, width = shapes.most_common(1)[0][0] if shapes else (0, 0)
    shape = (len(kinds), len(items)) if by_kind else (len(items), len(kinds))
    stamps = np.empty((*shape, height, width), dtype=np.float32)  # each plane written once
    empty = np.ones(shape, dtype=bool)
    column_of = {kind: column for column, kind in enumerate(kinds)}
    slots = [
        ((column_of[kind], row) if by_kind else (row, column_of[kind]), data)
        for (row, kind), data in pixels.items()
        if data.shape == (height, width)
    ]

    def copied(slot: tuple[tuple[int, int], np.ndarray]) -> None:
        stamps[slot[0]] = slot[1]
        empty[slot[0]] = False

    in_threads(copied, slots)
    stamps[empty] = np.nan
    other: dict[int, list[str]] = {}
    for (row, kind), data in pixels.items():
        if data.shape != (height, width):
            other.setdefault(row, []).append(f"{kind} {'x'.join(map(str, data.shape))}")
    statuses = []
    for row, item in enumerate(items):
        status = item_status(item)
        if row in other:
            status = f"{status}; other shape: {', '.join(other[row])}"
        statuses.append(status)
    return stamps, statuses


def decoded_pixels(
    items: Sequence[BatchItem], kinds: Sequence[str]
) -> dict[tuple[int, str], np.ndarray]:
    """Every stamp's pixels by (row, kind), decoded on every core (views of the stored bytes
    where astropy would not scale them). An item one of whose stamps does not decode loses its
    stamps, and its status says which and why (``corrupt: ...``): the other rows answer."""
    wanted = [
        (row, kind, stamp)
        for row, item in enumerate(items)
        for kind in kinds
        if (stamp := item.stamps.get(kind)) is not None
    ]
    decoded = in_threads(_pixels_of, [stamp for *_, stamp in wanted])
    pixels = {}
    for (row, kind, _), data in zip(wanted, decoded, strict=True):
        item = items[row]
        if isinstance(data, CutoutError):
            if item.stamps:  # the first stamp that fails names the row's failure
                location = item.located
                item.status = (
                    f"corrupt: the {kind} stamp of alert {location.alert_id} in "
                    f"{location.path} does not decode ({data})"
                )
                item.stamps = {}
        else:
            pixels[row, kind] = data
    return {key: data for key, data in pixels.items() if items[key[0]].stamps}


def _pixels_of(stamp: Stamp) -> np.ndarray | CutoutError:
    """The stamp's pixels, as stored where that is what astropy gives (a view, no copy), or
    why they do not decode."""
    stored = stored_pixels(stamp.fits_bytes)
    if stored is not None:
        return stored
    try:
        return stamp.data
    except CutoutError as error:
        return error


def metadata(item: BatchItem) -> dict[str, Any]:
    """The alert's ids, time and display fields (None where not found, or not finite)."""
    location = item.location
    if location is None:
        return {"objectId": None, "alertId": None, "jd": None, "date": None, "hdfsPath": None}
    return {
        "objectId": location.object_id,
        "alertId": location.alert_id,
        "jd": finite(location.jd),
        "date": iso_date(location.jd),
        "hdfsPath": location.path,
        **{name: finite(location.properties.get(name)) for name in FIELDS},
    }


def item_status(item: BatchItem) -> str:
    """The row's status: the item's, and whether the lake stores no finite time for its alert."""
    if item.location is not None and finite(item.location.jd) is None:
        return f"{item.status}; no finite time in the lake (jd and date null)"
    return item.status


def encode_batch(
    items: Sequence[BatchItem], request: BatchRequest, release: bool = False
) -> Encoded:
    """The answer to a batch in the request's format (``arrow``, ``array`` or ``FITS``).

    With `release`, the items' stamps are dropped as soon as their pixels are stacked (Arrow,
    JSON): the decoded stamps and the reply are not held at once.
    """
    if request.fmt == "FITS":
        return Encoded(_fits(items, request.kinds), "application/fits", "batch.fits")
    if request.fmt == "array":
        return Encoded(_json(items, request.kinds, release), "application/json", "")
    return Encoded(
        _arrow(items, request.kinds, release),
        "application/vnd.apache.arrow.stream",
        "batch.arrows",
    )


def _released(items: Sequence[BatchItem]) -> None:
    for item in items:
        item.stamps = {}


def _table_columns(items, statuses) -> dict[str, list]:
    rows = [metadata(item) for item in items]
    columns = {"id": [str(item.requested) for item in items], "status": statuses}
    for name in ("objectId", "alertId", "jd", "date", *FIELDS, "hdfsPath"):
        columns[name] = [row.get(name) for row in rows]
    columns["objectId"] = [None if v is None else str(v) for v in columns["objectId"]]
    return columns


def _arrow(items, kinds, release: bool) -> bytes:
    import pyarrow as pa

    stamps, statuses = stack(items, kinds, by_kind=True)
    if release:
        _released(items)
    columns = _table_columns(items, statuses)
    types = {"alertId": pa.int64(), "jd": pa.float64(), "magnitude": pa.float64()}
    types |= {"magnitude_error": pa.float64(), "ra": pa.float64(), "dec": pa.float64()}
    arrays = {
        name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()
    }
    height, width = stamps.shape[2:]
    for position, kind in enumerate(kinds):
        if height and width:  # each kind's plane is contiguous: the tensors are views of it
            arrays[kind] = pa.FixedShapeTensorArray.from_numpy_ndarray(stamps[position])
        else:  # nothing found: no shape to give the tensors
            arrays[kind] = pa.nulls(len(items), pa.float32())
    table = pa.table(arrays).replace_schema_metadata(
        {"kinds": ",".join(kinds), "shape": f"{height}x{width}", "shape_policy": SHAPE_POLICY}
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    del table, arrays, stamps  # the pixels are in the stream now: not held beside the reply
    return sink.getvalue().to_pybytes()


def _json(items, kinds, release: bool) -> bytes:
    """Stamps as float32 values (the shortest text that reads back as the same float32)."""
    import orjson

    stamps, statuses = stack(items, kinds)
    found = [bool(item.stamps) for item in items]
    if release:
        _released(items)
    columns = _table_columns(items, statuses)
    alerts = []
    for row in range(len(items)):
        alert = {name: values[row] for name, values in columns.items()}
        alert["stamps"] = stamps[row] if found[row] else None
        alerts.append(alert)
    document = {
        "kinds": list(kinds),
        "shape": list(stamps.shape[2:]),
        "shape_policy": SHAPE_POLICY,
        "alerts": alerts,
    }
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


def _fits(items, kinds) -> bytes:
    import io

    from astropy.io import fits
    from astropy.table import Table

    decoded_pixels(items, kinds)  # an item a stamp of which does not decode says so, stampless

    columns = _table_columns(items, [item_status(item) for item in items])
    table = Table(
        {
            "ID": columns["id"],
            "STATUS": columns["status"],
            "OBJECTID": [v or "" for v in columns["objectId"]],
            "ALERTID": [v if v is not None else -1 for v in columns["alertId"]],
        }
    )
    primary = fits.PrimaryHDU()
    primary.header["NALERTS"] = (len(items), "ids requested, in the ALERTS table")
    primary.header["KINDS"] = ",".join(kinds)
    hdus = [primary, fits.BinTableHDU(table, name="ALERTS")]
    for row, item in enumerate(items):
        for kind in kinds:
            stamp = item.stamps.get(kind)
            if stamp is None:
                continue
            image = fits.ImageHDU(np.asarray(stamp.data, dtype=np.float32), name=kind.upper())
            image.header["EXTVER"] = (row + 1, "row of the ALERTS table")
            image.header["ALERTID"] = item.location.alert_id
            image.header["OBJECTID"] = str(item.location.object_id or "")
            if "BUNIT" in stamp.header:
                image.header["BUNIT"] = stamp.header["BUNIT"]
            hdus.append(image)
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()
