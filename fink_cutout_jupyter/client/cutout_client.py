"""CutoutClient: an alert's stamps, an object's alerts and history, many alerts at once.

The API a notebook calls, over a transport found by `discover`: a /api/v1 server over HTTP or
the lake read in-process, with the same answers either way. Each method names the route and
parameters it asks for and reads the answer as the contract says (JSON, FITS, PNG, Arrow);
refusals and answers not as agreed are a `CutoutClientError`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.client.answers import CutoutClientError, checked, json_of, not_as_agreed
from fink_cutout_jupyter.client.batching import fetch_batch
from fink_cutout_jupyter.client.discovery import discover
from fink_cutout_jupyter.client.transport import MAX_REPLY_BYTES
from fink_cutout_jupyter.surveys import KINDS

if TYPE_CHECKING:
    import aiohttp
    import numpy as np
    import pandas as pd
    from astropy.io import fits

    from fink_cutout_jupyter.client.export import ExportSummary
    from fink_cutout_jupyter.cutouts.stamps import Stamp
    from fink_cutout_jupyter.storage.lake import Lake


class CutoutClient:
    """Get Fink cutouts and alert lists, from a server or from the lake directly.

    Parameters
    ----------
    url : str, optional
        Base URL of a server with /api/v1 (a Jupyter server, a JupyterHub user server,
        or ``fink-cutouts serve``).
    token : str, optional
        Its token (default: the ``?token=`` of `url`, as Jupyter prints it, else
        ``$FINK_CUTOUTS_TOKEN``). It is sent in a header only, never shown in an error or repr.
    lake : str or Lake, optional
        Read this lake in-process instead: a root (its archived nights under ``science``, its
        live nights under ``online/science``), or a `Lake` naming other directories, e.g.
        ``Lake("hdfs://nn:8020/user/fink", science_dir="archive/science")``.
    timeout : float
        Seconds an HTTP request may take in all (connecting, headers, the whole reply) before
        it fails (`CutoutClientError` 504). A batch request that a busy server refuses (503
        with ``Retry-After``) is asked again only while the pause ends within `timeout` of the
        first try; then the 503 is raised.
    max_reply_bytes : int
        The largest reply to a batch request accepted (default `MAX_REPLY_BYTES`; other replies
        at most `MAX_ALERT_REPLY_BYTES`); a larger one is a `CutoutClientError` (502), refused
        before it is read when the server announces its length.

    Without `url` or `lake`, see `discover` for where the client looks.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        lake: str | Lake | None = None,
        timeout: float = 30,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.transport = discover(url, token, lake, timeout, max_reply_bytes)

    def __repr__(self) -> str:
        return f"CutoutClient({self.transport!r})"

    def alerts(
        self, object_id: str | int | None = None, *, ss_object_id: str | int | None = None
    ) -> list[dict[str, Any]]:
        """Every alert of an object (or of a Rubin solar-system object: `ss_object_id`), oldest
        first: ids, jd, date, filter, magnitude, ra, dec..., ``ssObjectId`` and ``designation``
        where set."""
        params = {"objectId": object_id, "ssObjectId": ss_object_id}
        return json_of(self.transport.get("alerts", params), list)

    def history(
        self, object_id: str | int | None = None, *, ss_object_id: str | int | None = None
    ) -> dict[str, Any]:
        """An object's light curve (or a Rubin solar-system object's: `ss_object_id`).

        Returns
        -------
        dict
            ``survey``, ``objectId``, ``ssObjectId``, ``designation``, ``unit`` (``nJy`` or
            ``mag``), ``latestAlertId`` and ``points``, oldest first: each with ``kind``
            (``detection``, ``forced``, ``upper_limit``), ``mjd``, ``time`` (ISO 8601 UTC),
            ``band``, ``value``, ``error``, ``alertId`` (text) and ``indexed`` (its stamps can
            be opened). See ``/api/v1/history`` in docs/reference/http.md.
        """
        params = {"objectId": object_id, "ssObjectId": ss_object_id}
        return json_of(self.transport.get("history", params), dict)

    def upper_limits(self, object_id: str | int) -> list[dict[str, Any]]:
        """The object's upper limits from its latest alert's history: jd, date, filter, limit
        (``/api/v1/limits``, replaced by `history`'s points of kind ``upper_limit``)."""
        return json_of(self.transport.get("limits", {"objectId": object_id}), list)

    def fits_bytes(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kind: str = "Science",
        *,
        ss_object_id: str | int | None = None,
    ) -> bytes:
        """The original FITS file of one stamp (``kind="All"``: a multi-extension file).

        `ss_object_id` instead of `object_id`: a Rubin solar-system object's latest alert (or
        its alert `candid`)."""
        params = _cutout_params(object_id, candid, kind, "FITS", ss_object_id)
        return checked(self.transport.get("cutouts", params)).body

    def hdulist(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kind: str = "Science",
        *,
        ss_object_id: str | int | None = None,
    ) -> fits.HDUList:
        """One stamp as an astropy HDUList."""
        from astropy.io import fits

        data = self.fits_bytes(object_id, candid, kind, ss_object_id=ss_object_id)
        return fits.open(io.BytesIO(data), ignore_missing_simple=True)

    def array(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kind: str = "Science",
        *,
        ss_object_id: str | int | None = None,
    ) -> np.ndarray:
        """One stamp's pixels as a float64 array (NaN where the survey has no value)."""
        import numpy as np

        params = _cutout_params(object_id, candid, kind, "array", ss_object_id)
        arrays = json_of(self.transport.get("cutouts", params), list)
        try:
            return np.array(arrays[0], dtype=float)
        except (IndexError, TypeError, ValueError) as error:
            raise not_as_agreed(f"not an array of pixels ({error})") from error

    def png(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kind: str = "All",
        *,
        ss_object_id: str | int | None = None,
        **render,
    ) -> bytes:
        """A PNG rendered by the server (`render`: stretch, interval, pmin, pmax, colormap, ...)."""
        params = {**_cutout_params(object_id, candid, kind, "PNG", ss_object_id), **render}
        return checked(self.transport.get("cutouts", params)).body

    def stamps(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kinds: Sequence[str] = KINDS,
        *,
        ss_object_id: str | int | None = None,
    ) -> dict[str, Stamp]:
        """Stamps (pixels, header, original FITS bytes) of one alert (default: the latest) of
        an object, or of a Rubin solar-system object (`ss_object_id`)."""
        from fink_cutout_jupyter.cutouts.stamps import Stamp

        if candid is None:
            _object_given(object_id, ss_object_id)
            candid = self.alerts(object_id, ss_object_id=ss_object_id)[-1]["alertId"]
        return {
            kind: Stamp(kind, self.fits_bytes(object_id, candid, kind, ss_object_id=ss_object_id))
            for kind in kinds
        }

    def batch(
        self,
        ids: Sequence[str | int],
        kinds: Sequence[str] = KINDS,
        by: str = "auto",
        progress: bool | None = None,
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """The stamps of many alerts at once, through the batch door (Arrow, zero-copy).

        Parameters
        ----------
        ids : sequence
            Object ids (each object's latest alert) or alert ids, in any order; unknown ids are
            reported in the table, not raised.
        kinds : sequence of str
            Which stamps, in the order of the array's second axis.
        by : {"auto", "objectId", "candid", "diaObjectId", "diaSourceId"}
            What the ids are; ``auto``: alert ids (``candid``) if all are whole numbers, else
            object ids. Rubin object ids are numbers too: pass ``by="diaObjectId"``.
        progress : bool, optional
            A progress bar (default: when more than one request (`max_batch_ids`) is needed).

        Returns
        -------
        stamps : numpy.ndarray
            float32, shape (len(ids), len(kinds), height, width), NaN kept; NaN for ids without
            stamps and for stamps of another shape (see the table's ``status``).
        table : pandas.DataFrame
            One row per id, in order: ``id``, ``status`` (``ok`` or why not), ``objectId``,
            ``alertId``, ``jd``, ``date``, filter, magnitude, position, ``hdfsPath``.
        """
        return fetch_batch(self.transport, ids, kinds, by, progress)

    def iter_batches(
        self,
        ids: Iterable[str | int],
        batch_size: int = 256,
        kinds: Sequence[str] = KINDS,
        by: str = "auto",
        shape: tuple[int, int] | None = None,
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """The stamps of `ids`, `batch_size` at a time, every batch of one shape: for training
        loops (see `fink_cutout_jupyter.client.iteration.iter_batches`).

        Yields
        ------
        stamps : numpy.ndarray
            float32 (batch, len(kinds), height, width), NaN kept.
        table : pandas.DataFrame
            One row per id, as `batch` gives it.
        """
        from fink_cutout_jupyter.client.iteration import iter_batches

        return iter_batches(self, ids, batch_size, kinds, by, shape)

    def export(
        self,
        ids: Iterable[str | int],
        out: str | os.PathLike,
        kinds: Sequence[str] = KINDS,
        by: str = "auto",
        batch_size: int = 1000,
        fmt: str = "parquet",
        progress: bool | None = None,
        **options: Any,
    ) -> ExportSummary:
        """Write the stamps of `ids` and their table to the file `out`: Parquet (one
        fixed-shape tensor column per kind) or ``npy`` (and a ``.parquet`` table); resumable,
        never a cut file under the final name (see `fink_cutout_jupyter.client.export.export`,
        which documents the parameters and `options`: ``shape``, ``restart``).

        Returns
        -------
        ExportSummary
            Rows ok, not found, of another shape, other failures; the time taken.
        """
        from fink_cutout_jupyter.client.export import export

        return export(self, ids, out, kinds, by, batch_size, fmt, progress, **options)

    async def aalerts(
        self, object_id: str | int | None = None, *, ss_object_id: str | int | None = None
    ) -> list[dict[str, Any]]:
        """`alerts`, without blocking the event loop."""
        params = {"objectId": object_id, "ssObjectId": ss_object_id}
        async with _session() as session:
            answer = await self.transport.aget(session, "alerts", params)
        return json_of(answer, list)

    async def ahistory(
        self, object_id: str | int | None = None, *, ss_object_id: str | int | None = None
    ) -> dict[str, Any]:
        """`history`, without blocking the event loop."""
        params = {"objectId": object_id, "ssObjectId": ss_object_id}
        async with _session() as session:
            answer = await self.transport.aget(session, "history", params)
        return json_of(answer, dict)

    async def astamps(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kinds: Sequence[str] = KINDS,
        *,
        ss_object_id: str | int | None = None,
    ) -> dict[str, Stamp]:
        """`stamps`, fetching the kinds concurrently."""
        import asyncio

        from fink_cutout_jupyter.cutouts.stamps import Stamp

        if candid is None:
            _object_given(object_id, ss_object_id)
            alerts = await self.aalerts(object_id, ss_object_id=ss_object_id)
            candid = alerts[-1]["alertId"]
        async with _session() as session:
            answers = await asyncio.gather(
                *(
                    self.transport.aget(
                        session,
                        "cutouts",
                        _cutout_params(object_id, candid, kind, "FITS", ss_object_id),
                    )
                    for kind in kinds
                )
            )
        return {
            kind: Stamp(kind, checked(answer).body)
            for kind, answer in zip(kinds, answers, strict=True)
        }


def _object_given(object_id: str | int | None, ss_object_id: str | int | None) -> None:
    """Refuse a call that names no alert (the server's 400, without asking it)."""
    if object_id is None and ss_object_id is None:
        raise CutoutClientError(
            400, "objectId: missing; give object_id, ss_object_id or candid", False
        )


def _cutout_params(
    object_id: str | int | None,
    candid: int | None,
    kind: str,
    return_type: str,
    ss_object_id: str | int | None,
) -> dict[str, Any]:
    """The /cutouts parameters of one alert's stamps (None values are left out)."""
    return {
        "objectId": object_id,
        "ssObjectId": ss_object_id,
        "candid": candid,
        "kind": kind,
        "return_type": return_type,
    }


def _session() -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession()
