"""An object's whole story as flip-book frames: its alerts' stamps in time order, a page at a time.

`object_frames` lists the object's alerts (``/api/v1/alerts``, oldest first), then asks the batch
door for up to `page_size` of them per request, by alert id, and yields each page as
`ObjectFrames` as soon as it is answered: the first page is short (`FIRST_PAGE_SIZE` alerts), so
the first frames show after a quick request, and an object of thousands of alerts takes a
request per page, never one per alert. `all_frames` joins the pages into one.

Shapes: the batch door's Arrow reply holds the page's most common stamp shape and names the rows
of another shape in their status (ZTF stamps cut at a CCD edge, Rubin stamps sized to their
source). Those rows are asked for again in one request of the batch door's FITS format, which
keeps every stamp as stored; then every stamp of the page is NaN-padded, centred, to the page's
largest shape (a row's status says ``padded from 63x62``). Pages may differ in shape:
`join_frames` pads them to the largest of all. A server that refuses the FITS request (400, 413)
leaves those rows NaN, their status naming their shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.client.answers import CutoutClientError, checked, not_as_agreed
from fink_cutout_jupyter.client.batching import post_when_not_busy
from fink_cutout_jupyter.client.iteration import checked_kinds, joined_status, split_status
from fink_cutout_jupyter.surveys import KINDS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from fink_cutout_jupyter.client.cutout_client import CutoutClient

Shape = tuple[int, int]
Progress = bool | Callable[[int, int], object] | None
PADDED_FROM = "; padded from "
FIRST_PAGE_SIZE = 10
"""The first page's alerts by default: the first frames after a short request."""


@dataclass
class ObjectFrames:
    """Frames of an object's flip-book: its alerts' stamps in time order (a page, or all).

    Attributes
    ----------
    alert_ids : list of int
        The frames' alert ids, oldest first.
    jd : numpy.ndarray
        float64 Julian date of each frame (NaN where the lake stores no finite time).
    kinds : tuple of str
        The stamp kinds, in the order of the stamps' second axis.
    stamps : numpy.ndarray
        float32, shape (frames, len(kinds), height, width): each stamp NaN-padded, centred, to
        the largest shape; all NaN for an alert without stamps (its status says why).
    table : pandas.DataFrame
        The batch door's table, one row per frame: ``id``, ``status``, ``objectId``,
        ``alertId``, ``jd``, ``date``, filter, magnitude, position, ``hdfsPath``.
    offset : int
        The position of the first frame among all the object's frames.
    total : int
        The object's frames in all (``len(self)`` for `all_frames`).
    """

    alert_ids: list[int]
    jd: np.ndarray
    kinds: tuple[str, ...]
    stamps: np.ndarray
    table: pd.DataFrame
    offset: int = 0
    total: int = 0

    def __len__(self) -> int:
        return len(self.alert_ids)

    @property
    def mjd(self) -> np.ndarray:
        """Modified Julian dates of the frames (``jd - 2400000.5``)."""
        return self.jd - 2400000.5

    @property
    def status(self) -> list[str]:
        """Each frame's status: ``ok``, or why its stamps are missing or padded."""
        return [str(value) for value in self.table["status"]]


def object_frames(
    client: CutoutClient,
    object_id: str | int | None = None,
    *,
    ss_object_id: str | int | None = None,
    kinds: Sequence[str] = KINDS,
    page_size: int = 100,
    progress: Progress = None,
    first_page_size: int | None = None,
) -> Iterator[ObjectFrames]:
    """An object's frames, oldest first, one page (one batch request) at a time.

    Parameters
    ----------
    client : CutoutClient
        Over HTTP or in-process: the same requests either way.
    object_id : str or int, optional
        The object (ZTF ``objectId``, Rubin ``diaObjectId``).
    ss_object_id : str or int, optional
        A Rubin solar-system object instead.
    kinds : sequence of str
        Which stamps, in the order of the stamps' second axis.
    page_size : int
        Alerts per page, each page one batch request (at most the batch door's limit,
        `max_batch_ids`; a larger value is lowered to it), plus one FITS request for the page's
        stamps of other shapes, if any.
    progress : bool or callable, optional
        A progress bar over the pages (default: when there are several), or a function called
        with (frames done, frames in all) after each page.
    first_page_size : int, optional
        Alerts of the first page (default: `page_size`, at most `FIRST_PAGE_SIZE`): a short
        first request, so that the first frames show at once.

    Yields
    ------
    ObjectFrames
        A page: `offset` and `total` place it among the object's frames.

    Raises
    ------
    CutoutClientError
        Unknown object (404), bad parameters (400), a server failing.
    """
    from tqdm.auto import tqdm

    from fink_cutout_jupyter.contract.batch import max_batch_ids

    kinds = tuple(checked_kinds(kinds))
    most = max_batch_ids("arrow", len(KINDS))
    page_size = min(_whole("page_size", page_size), most)
    first = min(page_size, FIRST_PAGE_SIZE) if first_page_size is None else first_page_size
    first = min(_whole("first_page_size", first), most)
    if object_id is None and ss_object_id is None:
        raise CutoutClientError(400, "objectId: missing; give object_id or ss_object_id", False)
    alerts = client.alerts(object_id, ss_object_id=ss_object_id)
    ids = [int(alert["alertId"]) for alert in alerts]
    starts = [0, *range(first, len(ids), page_size)] if ids else []
    show = progress if isinstance(progress, bool) else progress is None and len(starts) > 1
    for start in tqdm(starts, desc="frames", unit="page", disable=not show):
        page = ids[start : start + (first if start == 0 else page_size)]
        stamps, table = client.batch(page, kinds, by="candid", progress=False)
        stamps = _with_other_shapes(client, stamps, table, kinds)
        jd = table["jd"].to_numpy(dtype=float, na_value=float("nan"))
        yield ObjectFrames(page, jd, kinds, stamps, table, start, len(ids))
        if callable(progress):
            progress(start + len(page), len(ids))


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: {value!r}; expected a whole number ≥ 1")
    return value


def all_frames(
    client: CutoutClient,
    object_id: str | int | None = None,
    *,
    ss_object_id: str | int | None = None,
    kinds: Sequence[str] = KINDS,
    page_size: int = 100,
    progress: Progress = None,
) -> ObjectFrames:
    """All an object's frames at once: `object_frames`' pages joined (`join_frames`)."""
    pages = list(
        object_frames(
            client,
            object_id,
            ss_object_id=ss_object_id,
            kinds=kinds,
            page_size=page_size,
            progress=progress,
            first_page_size=page_size,
        )
    )
    return join_frames(pages, tuple(checked_kinds(kinds)))


def join_frames(pages: Sequence[ObjectFrames], kinds: Sequence[str] = KINDS) -> ObjectFrames:
    """Pages joined in order, their stamps padded to the largest shape among them (`kinds`:
    those of an empty result)."""
    import numpy as np
    import pandas as pd

    if not pages:
        empty = np.empty((0, len(kinds), 0, 0), np.float32)
        return ObjectFrames([], np.empty(0), tuple(kinds), empty, pd.DataFrame())
    shape = largest([page.stamps.shape[2:] for page in pages])
    table = pd.concat([page.table for page in pages], ignore_index=True)
    statuses, row = list(table["status"]), 0
    for page in pages:  # the rows of a page of a smaller shape say they were padded
        height, width = page.stamps.shape[2:]
        if (height, width) != shape and height and width:
            grown = ", ".join(f"{kind} {height}x{width}" for kind in page.kinds)
            for position in range(row, row + len(page)):
                status = str(statuses[position])
                if status.startswith("ok") and PADDED_FROM not in status:
                    statuses[position] = status + PADDED_FROM + grown
        row += len(page)
    table["status"] = statuses
    return ObjectFrames(
        [alert for page in pages for alert in page.alert_ids],
        np.concatenate([page.jd for page in pages]),
        pages[0].kinds,
        np.concatenate([padded(page.stamps, shape) for page in pages]),
        table,
        pages[0].offset,
        max(page.total for page in pages),
    )


def largest(shapes: Sequence[Sequence[int]]) -> Shape:
    """The smallest (height, width) that holds every one of `shapes`."""
    return (max((s[0] for s in shapes), default=0), max((s[1] for s in shapes), default=0))


def padded(stamps: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """`stamps` (..., height, width) NaN-padded to `shape`, centred (the extra row or column,
    if odd, below and right); `stamps` itself when already of that shape."""
    import numpy as np

    height, width = stamps.shape[-2:]
    if (height, width) == tuple(shape):
        return stamps
    if height > shape[0] or width > shape[1]:
        raise ValueError(f"stamps of {height}x{width} do not fit in {shape[0]}x{shape[1]}")
    out = np.full((*stamps.shape[:-2], *shape), np.nan, np.float32)
    top, left = (shape[0] - height) // 2, (shape[1] - width) // 2
    out[..., top : top + height, left : left + width] = stamps
    return out


def _with_other_shapes(
    client: CutoutClient, stamps: np.ndarray, table: pd.DataFrame, kinds: Sequence[str]
) -> np.ndarray:
    """The page's stamps with the rows of other shapes filled in from the batch door's FITS
    format, all padded to the page's largest shape; `table`'s statuses updated in place."""
    statuses = [split_status(str(status)) for status in table["status"]]
    wanted = [
        row
        for row, (base, others) in enumerate(statuses)
        if base.startswith("ok")
        and set(others) & {*kinds, "all"}
        and not _is_na(table["alertId"].iloc[row])
    ]
    fetched: dict[tuple[int, str], np.ndarray] = {}
    if wanted:
        alert_ids = [int(table["alertId"].iloc[row]) for row in wanted]
        try:
            for (position, kind), pixels in _fits_stamps(client, alert_ids, kinds).items():
                fetched[wanted[position], kind] = pixels
        except CutoutClientError as error:
            if error.status not in (400, 413):  # a server without FITS batches: rows stay NaN
                raise
    shapes = [stamps.shape[2:]] if stamps.shape[2] and stamps.shape[3] else []
    shape = largest([*shapes, *(pixels.shape for pixels in fetched.values())])
    out = padded(stamps, shape)
    for row, (base, others) in enumerate(statuses):
        if not base.startswith("ok"):
            continue
        origin = {}  # kind -> the shape of the stamp now in the row, before padding
        for position, kind in enumerate(kinds):
            got = fetched.get((row, kind))
            if got is not None:
                out[row, position] = padded(got, shape)
                origin[kind] = got.shape
                others.pop(kind, None)
            elif kind not in others and "all" not in others:
                origin[kind] = stamps.shape[2:]
        if "all" in others and all((row, kind) in fetched for kind in kinds):
            del others["all"]  # a reply of another shape than the batch's first, fetched again
        status = joined_status(base, others)
        grown = [f"{kind} {h}x{w}" for kind, (h, w) in origin.items() if (h, w) != shape]
        if grown:
            status += PADDED_FROM + ", ".join(grown)
        table.loc[table.index[row], "status"] = status
    return out


def _fits_stamps(
    client: CutoutClient, alert_ids: list[int], kinds: Sequence[str]
) -> dict[tuple[int, str], np.ndarray]:
    """The stamps of `alert_ids` as stored, any shape, by (position in `alert_ids`, kind):
    the batch door's FITS answer (an image HDU per stamp, EXTVER its row), in as few requests
    as its limit allows."""
    import io

    import numpy as np
    from astropy.io import fits

    from fink_cutout_jupyter.contract.batch import max_batch_ids

    kind = kinds[0] if len(kinds) == 1 else "All"
    most = max_batch_ids("FITS", 1 if kind != "All" else len(KINDS))
    named = {name.upper(): name for name in kinds}
    stamps: dict[tuple[int, str], np.ndarray] = {}
    for first in range(0, len(alert_ids), most):
        chunk = alert_ids[first : first + most]
        params: dict[str, Any] = {"candid": chunk, "kind": kind, "return_type": "FITS"}
        body = checked(post_when_not_busy(client.transport, "cutouts", params)).body
        with fits.open(io.BytesIO(body)) as hdus:
            for hdu in hdus[1:]:
                name = str(hdu.header.get("EXTNAME", ""))
                if name not in named or hdu.data is None or hdu.data.ndim != 2:
                    continue
                row = int(hdu.header["EXTVER"]) - 1
                if int(hdu.header["ALERTID"]) != chunk[row]:
                    raise not_as_agreed(f"a FITS batch whose row {row + 1} is not {chunk[row]}")
                stamps[first + row, named[name]] = np.asarray(hdu.data, dtype=np.float32)
    return stamps


def _is_na(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
