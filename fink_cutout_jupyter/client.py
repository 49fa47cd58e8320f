"""CutoutClient: cutouts from a /api/v1 server (found on its own) or from the lake in-process."""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .stamps import Stamp
from .surveys import KINDS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from astropy.io import fits


class CutoutClientError(Exception):
    """A request the server (or the in-process API) refused, with its message.

    Attributes
    ----------
    status : int
        HTTP status (400 bad parameter, 403 outside the lake, 404 unknown, 503 lake down, ...).
    text : str
        The server's explanation.
    """

    def __init__(self, status: int, text: str, over_http: bool = True) -> None:
        # In-process answers made no request: their status is the API's, not HTTP's.
        super().__init__(f"{text} (HTTP {status})" if over_http else text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    over_http: bool = True


class _HTTP:
    """/api/v1 of a server at `base_url` (ends with /), token-authenticated."""

    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.headers = {"Authorization": f"token {token}"} if token else {}
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"server {self.base_url}"

    def _url(self, route: str, params: Mapping[str, Any]) -> str:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base_url}api/v1/{route}" + (f"?{query}" if query else "")

    def get(self, route: str, params: Mapping[str, Any]) -> _Answer:
        return self._send(urllib.request.Request(self._url(route, params), headers=self.headers))

    def post(self, route: str, params: Mapping[str, Any]) -> _Answer:
        headers = {**self.headers, "Content-Type": "application/json"}
        data = json.dumps(params).encode()
        return self._send(urllib.request.Request(self._url(route, {}), data, headers))

    def _send(self, request: urllib.request.Request) -> _Answer:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return _Answer(error.code, error.headers, error.read())
        except OSError as error:
            raise CutoutClientError(503, f"cannot reach {self.base_url}: {error}") from error

    async def aget(self, session, route: str, params: Mapping[str, Any]) -> _Answer:
        import aiohttp

        try:
            async with session.get(self._url(route, params), headers=self.headers) as response:
                return _Answer(response.status, response.headers, await response.read())
        except aiohttp.ClientError as error:
            raise CutoutClientError(503, f"cannot reach {self.base_url}: {error}") from error


class _InProcess:
    """The same contract answered by `CutoutAPI` in this process, reading the lake directly."""

    def __init__(self, lake: str) -> None:
        from .api import CutoutAPI

        self.lake = lake
        self.api = CutoutAPI(lake)

    def __repr__(self) -> str:
        return f"lake {self.lake} (in-process)"

    def get(self, route: str, params: Mapping[str, Any]) -> _Answer:
        reply = self.api.handle(route, {k: v for k, v in params.items() if v is not None})
        return _Answer(reply.status, reply.headers, reply.body, over_http=False)

    def post(self, route: str, params: Mapping[str, Any]) -> _Answer:
        reply = self.api.handle(route, params, body=True)
        return _Answer(reply.status, reply.headers, reply.body, over_http=False)

    async def aget(self, session, route: str, params: Mapping[str, Any]) -> _Answer:
        import asyncio

        return await asyncio.to_thread(self.get, route, params)


def _running_jupyter_server(timeout: float) -> _HTTP | None:
    """This kernel's own Jupyter server, if it serves /api/v1 (the extension is enabled).

    The server is the process that started the kernel (``JPY_PARENT_PID``), found by its
    ``jpserver-<pid>.json`` in the runtime directory; another server running on the machine is
    never taken for it. (jupyter_server's own listing costs a second of imports.)
    """
    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return None
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    try:
        with open(os.path.join(jupyter_runtime_dir(), f"jpserver-{parent}.json")) as info_file:
            info = json.load(info_file)
        transport = _HTTP(info["url"], info.get("token"), timeout)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        if transport.get("openapi.json", {}).status == 200:
            return transport
    except CutoutClientError:
        pass
    return None


def discover(
    url: str | None = None, token: str | None = None, lake: str | None = None, timeout: float = 30
) -> _HTTP | _InProcess:
    """Where to get cutouts, in this order: `url`; `lake`; ``FINK_CUTOUTS_URL`` (e.g. the hub
    service ``…/services/fink-cutouts/``); JupyterHub's ``JUPYTERHUB_SERVICE_URL`` (this user's
    server); this kernel's Jupyter server; the lake in ``FINK_CUTOUTS_LAKE`` read in-process.

    The token sent to `url` is `token`, else ``FINK_CUTOUTS_TOKEN``. ``FINK_CUTOUTS_URL``, set by
    the hub's admin, gets ``FINK_CUTOUTS_TOKEN``, else (in a JupyterHub user server)
    ``JUPYTERHUB_API_TOKEN``, the server's own hub token; a URL the user passes never gets it."""
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if url:
        return _HTTP(url, token or os.environ.get("FINK_CUTOUTS_TOKEN"), timeout)
    if lake:
        return _InProcess(lake)
    if os.environ.get("FINK_CUTOUTS_URL"):
        token = os.environ.get("FINK_CUTOUTS_TOKEN") or hub_token
        return _HTTP(os.environ["FINK_CUTOUTS_URL"], token, timeout)
    if os.environ.get("JUPYTERHUB_SERVICE_URL") and hub_token:
        return _HTTP(os.environ["JUPYTERHUB_SERVICE_URL"], hub_token, timeout)
    server = _running_jupyter_server(min(timeout, 5))
    if server is not None:
        return server
    if os.environ.get("FINK_CUTOUTS_LAKE"):
        return _InProcess(os.environ["FINK_CUTOUTS_LAKE"])
    raise CutoutClientError(
        503,
        "no cutout server or lake found: pass url= or lake=, or set FINK_CUTOUTS_URL or "
        "FINK_CUTOUTS_LAKE, or run in a Jupyter server with fink_cutout_jupyter enabled",
    )


class CutoutClient:
    """Get Fink cutouts and alert lists, from a server or from the lake directly.

    Parameters
    ----------
    url : str, optional
        Base URL of a server with /api/v1 (a Jupyter server, a JupyterHub user server,
        or ``fink-cutouts serve``).
    token : str, optional
        Its token (default ``$FINK_CUTOUTS_TOKEN``).
    lake : str, optional
        Read this lake in-process instead.
    timeout : float
        Seconds before an HTTP request fails.

    Without `url` or `lake`, see `discover` for where the client looks.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        lake: str | None = None,
        timeout: float = 30,
    ) -> None:
        self.transport = discover(url, token, lake, timeout)

    def __repr__(self) -> str:
        return f"CutoutClient({self.transport!r})"

    def alerts(self, object_id: str | int) -> list[dict[str, Any]]:
        """Every alert of an object, oldest first: ids, jd, date, filter, magnitude, ra, dec..."""
        return json.loads(_checked(self.transport.get("alerts", {"objectId": object_id})).body)

    def upper_limits(self, object_id: str | int) -> list[dict[str, Any]]:
        """The object's upper limits from its latest alert's history: jd, date, filter, limit."""
        return json.loads(_checked(self.transport.get("limits", {"objectId": object_id})).body)

    def fits_bytes(
        self, object_id: str | int | None = None, candid: int | None = None, kind: str = "Science"
    ) -> bytes:
        """The original FITS file of one stamp (``kind="All"``: a multi-extension file)."""
        params = {"objectId": object_id, "candid": candid, "kind": kind, "return_type": "FITS"}
        return _checked(self.transport.get("cutouts", params)).body

    def hdulist(
        self, object_id: str | int | None = None, candid: int | None = None, kind: str = "Science"
    ) -> fits.HDUList:
        """One stamp as an astropy HDUList."""
        from astropy.io import fits

        data = self.fits_bytes(object_id, candid, kind)
        return fits.open(io.BytesIO(data), ignore_missing_simple=True)

    def array(
        self, object_id: str | int | None = None, candid: int | None = None, kind: str = "Science"
    ) -> np.ndarray:
        """One stamp's pixels as a float64 array (NaN where the survey has no value)."""
        import numpy as np

        params = {"objectId": object_id, "candid": candid, "kind": kind, "return_type": "array"}
        arrays = json.loads(_checked(self.transport.get("cutouts", params)).body)
        return np.array(arrays[0], dtype=float)

    def png(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kind: str = "All",
        **render,
    ) -> bytes:
        """A PNG rendered by the server (`render`: stretch, interval, pmin, pmax, colormap, ...)."""
        params = {
            "objectId": object_id,
            "candid": candid,
            "kind": kind,
            "return_type": "PNG",
            **render,
        }
        return _checked(self.transport.get("cutouts", params)).body

    def stamps(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kinds: Sequence[str] = KINDS,
    ) -> dict[str, Stamp]:
        """Stamps (pixels, header, original FITS bytes) of one alert (default: the latest)."""
        if candid is None:
            candid = self.alerts(object_id)[-1]["alertId"]
        return {kind: Stamp(kind, self.fits_bytes(object_id, candid, kind)) for kind in kinds}

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
            A progress bar (default: when more than one request of `MAX_BATCH_IDS` is needed).

        Returns
        -------
        stamps : numpy.ndarray
            float32, shape (len(ids), len(kinds), height, width), NaN kept; NaN for ids without
            stamps and for stamps of another shape (see the table's ``status``).
        table : pandas.DataFrame
            One row per id, in order: ``id``, ``status`` (``ok`` or why not), ``objectId``,
            ``alertId``, ``jd``, ``date``, filter, magnitude, position, ``hdfsPath``.
        """
        import numpy as np
        import pandas as pd
        import pyarrow as pa
        from tqdm.auto import tqdm

        from .batch import MAX_BATCH_IDS

        kinds = list(kinds)
        if not kinds or not set(kinds) <= set(KINDS):
            raise ValueError(f"kinds: {kinds!r}; allowed: some of {', '.join(KINDS)}")
        if by == "auto":
            numbers = all(isinstance(i, int) or str(i).isdigit() for i in ids)
            by = "candid" if numbers else "objectId"
        kind = kinds[0] if len(kinds) == 1 else "All"
        chunks = [list(ids[i : i + MAX_BATCH_IDS]) for i in range(0, len(ids), MAX_BATCH_IDS)]
        show = len(chunks) > 1 if progress is None else progress
        tables = []
        for chunk in tqdm(chunks, desc="batches", unit="batch", disable=not show):
            params = {by: chunk, "kind": kind, "return_type": "arrow"}
            body = _checked(self.transport.post("cutouts", params)).body
            tables.append(pa.ipc.open_stream(body).read_all())
        table = pa.concat_tables(tables) if tables else None
        if table is None or table.num_rows == 0:
            return np.empty((0, len(kinds), 0, 0), np.float32), pd.DataFrame()
        planes = [_tensor(table.column(name), table.num_rows) for name in kinds]
        stamps = np.stack(planes, axis=1)
        metadata = table.drop_columns([name for name in KINDS if name in table.column_names])
        return stamps, metadata.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    async def aalerts(self, object_id: str | int) -> list[dict[str, Any]]:
        """`alerts`, without blocking the event loop."""
        async with _session() as session:
            answer = await self.transport.aget(session, "alerts", {"objectId": object_id})
        return json.loads(_checked(answer).body)

    async def astamps(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kinds: Sequence[str] = KINDS,
    ) -> dict[str, Stamp]:
        """`stamps`, fetching the kinds concurrently."""
        import asyncio

        if candid is None:
            candid = (await self.aalerts(object_id))[-1]["alertId"]
        async with _session() as session:
            answers = await asyncio.gather(
                *(
                    self.transport.aget(
                        session,
                        "cutouts",
                        {
                            "objectId": object_id,
                            "candid": candid,
                            "kind": kind,
                            "return_type": "FITS",
                        },
                    )
                    for kind in kinds
                )
            )
        return {
            kind: Stamp(kind, _checked(answer).body)
            for kind, answer in zip(kinds, answers, strict=True)
        }


def _checked(answer: _Answer) -> _Answer:
    if answer.status == 200:
        return answer
    try:
        text = json.loads(answer.body)["text"]
    except (ValueError, KeyError, TypeError):
        text = answer.body[:300].decode(errors="replace") or "no message"
    raise CutoutClientError(answer.status, text, answer.over_http)


def _tensor(column, rows: int):
    """A fixed-shape tensor column as one (rows, height, width) array."""
    import numpy as np

    chunks = [chunk.to_numpy_ndarray() for chunk in column.chunks if len(chunk)]
    return np.concatenate(chunks) if chunks else np.empty((rows, 0, 0), np.float32)


def _session():
    import aiohttp

    return aiohttp.ClientSession()
