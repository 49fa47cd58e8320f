"""CutoutClient: cutouts from a /api/v1 server (found on its own) or from the lake in-process.

Over HTTP, `timeout` bounds a whole request (connecting, the headers, the whole reply: a server
that drips its answer is cut at the deadline). A batch's reply may be at most `max_reply_bytes`,
any other reply (about one object or alert) at most `MAX_ALERT_REPLY_BYTES` (JSON takes some
twenty times its size as Python objects). The token is not sent on when a server redirects to
another origin. A reply that is not what the contract says (not JSON, not a complete Arrow
stream, missing columns) is a `CutoutClientError` (502) too.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.surveys import KINDS

if TYPE_CHECKING:
    from email.message import Message

    import numpy as np
    import pandas as pd
    from astropy.io import fits

MAX_REPLY_BYTES = 512 * 1024**2  # above a full batch of 2,000 alerts' three stamps
MAX_ALERT_REPLY_BYTES = 32 * 1024**2  # an object's alert list, one alert's stamps: far less
_READ_BYTES = 1024**2
BUSY_RETRIES = 5  # a batch request answered 503 + Retry-After (the server's memory budget)
MAX_RETRY_AFTER_SECONDS = 10.0


class CutoutClientError(Exception):
    """A request the server (or the in-process API) refused, with its message.

    Attributes
    ----------
    status : int
        HTTP status (400 bad parameter, 403 outside the lake, 404 unknown, 503 lake down or
        server unreachable, ...); the client's own: 502 an answer not as the contract says or
        beyond the reply cap, 504 no complete answer within the timeout.
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
    headers: Mapping[str, str] | Message  # urllib's headers are an email Message
    body: bytes
    over_http: bool = True


class _HTTP:
    """/api/v1 of a server at `base_url` (ends with /), token-authenticated."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout: float,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.headers = {"Authorization": f"token {token}"} if token else {}
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes

    def __repr__(self) -> str:
        return f"server {self.base_url}"

    def _url(self, route: str, params: Mapping[str, Any]) -> str:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base_url}api/v1/{route}" + (f"?{query}" if query else "")

    def get(self, route: str, params: Mapping[str, Any]) -> _Answer:
        request = urllib.request.Request(self._url(route, params), headers=self.headers)
        return self._send(request, min(self.max_reply_bytes, MAX_ALERT_REPLY_BYTES))

    def post(self, route: str, params: Mapping[str, Any]) -> _Answer:
        headers = {**self.headers, "Content-Type": "application/json"}
        data = json.dumps(params).encode()
        request = urllib.request.Request(self._url(route, {}), data, headers)
        return self._send(request, self.max_reply_bytes)

    def _send(self, request: urllib.request.Request, limit: int) -> _Answer:
        deadline = _Deadline(self.timeout)
        opener = urllib.request.build_opener(
            _DeadlineHTTPHandler(deadline),
            _DeadlineHTTPSHandler(deadline),
            _SameOriginCredentials(),
        )
        try:
            with deadline:
                try:
                    with opener.open(request, timeout=self.timeout) as response:
                        answer = _Answer(
                            response.status, response.headers, self._read(response, limit)
                        )
                except urllib.error.HTTPError as error:
                    with error:
                        answer = _Answer(error.code, error.headers, self._read(error, limit))
                if deadline.expired:  # a shut socket reads as the end of the reply
                    raise TimeoutError(f"timeout={self.timeout} s")
                return answer
        except (OSError, http.client.HTTPException) as error:
            if deadline.expired:
                raise CutoutClientError(
                    504, f"{self.base_url} did not answer in full within timeout={self.timeout} s"
                ) from error
            raise CutoutClientError(503, f"cannot reach {self.base_url}: {error}") from error

    def _read(self, response, limit: int) -> bytes:
        """The reply's body, refused beyond `limit` bytes (before reading it, if it says so)."""
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise self._too_large(int(length), limit)
        chunks, size = [], 0
        while chunk := response.read(_READ_BYTES):
            size += len(chunk)
            if size > limit:
                raise self._too_large(None, limit)
            chunks.append(chunk)
        if length.isdigit() and size < int(length):  # http.client returns a cut reply as is
            raise http.client.IncompleteRead(b"", int(length) - size)
        return b"".join(chunks)

    def _too_large(self, length: int | None, limit: int) -> CutoutClientError:
        size = f"{length} bytes" if length is not None else "more"
        return CutoutClientError(
            502,
            f"{self.base_url} answered {size}, more than the client's cap of {limit} bytes "
            "(max_reply_bytes; ask for fewer ids at once, or raise it)",
        )

    async def aget(self, session, route: str, params: Mapping[str, Any]) -> _Answer:
        import aiohttp

        limit = min(self.max_reply_bytes, MAX_ALERT_REPLY_BYTES)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        url = self._url(route, params)
        try:
            async with session.get(url, headers=self.headers, timeout=timeout) as response:
                if (response.content_length or 0) > limit:
                    raise self._too_large(response.content_length, limit)
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(_READ_BYTES):
                    size += len(chunk)
                    if size > limit:
                        raise self._too_large(None, limit)
                    chunks.append(chunk)
                return _Answer(response.status, response.headers, b"".join(chunks))
        except TimeoutError as error:
            raise CutoutClientError(
                504, f"{self.base_url} did not answer in full within timeout={self.timeout} s"
            ) from error
        except aiohttp.ClientError as error:
            raise CutoutClientError(503, f"cannot reach {self.base_url}: {error}") from error


class _Deadline:
    """A request's end: at `seconds`, the sockets of its connections are shut, which ends any
    read blocked on a server that sends too slowly (a socket timeout bounds one read only)."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` at the deadline (at once if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def connection_class(self, base: type[http.client.HTTPConnection]):
        """`base`, its connections watched by this deadline."""
        deadline = self

        class Watched(base):  # type: ignore[valid-type,misc]  # a base given at run time
            def connect(self) -> None:
                self.timeout = deadline.remaining()  # connecting counts too
                if self.timeout <= 0:
                    raise TimeoutError("the deadline passed before connecting")
                super().connect()
                # The socket itself: urllib lets go of the connection's once the headers are in.
                deadline.watch(self.sock)

        return Watched


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown: safe while another thread reads (also under TLS); a socket
    # closed since (the reply read in time) has no file descriptor left to shut.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(self.deadline.connection_class(http.client.HTTPConnection), req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        connection = self.deadline.connection_class(http.client.HTTPSConnection)
        return self.do_open(connection, req, context=self._context)


class _SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """Redirects followed as urllib does, with ``Authorization`` kept only on the same origin
    (scheme, host and port), as aiohttp and browsers do."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(new.full_url) != _origin(req.full_url):
            for name in list(new.headers):
                if name.lower() in ("authorization", "cookie"):
                    del new.headers[name]
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class _InProcess:
    """The same contract answered by `CutoutAPI` in this process, reading the lake directly."""

    def __init__(self, lake: str) -> None:
        from fink_cutout_jupyter.contract.api import CutoutAPI

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


def _running_jupyter_server(timeout: float, max_reply_bytes: int) -> _HTTP | None:
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
        transport = _HTTP(info["url"], info.get("token"), timeout, max_reply_bytes)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        if transport.get("openapi.json", {}).status == 200:
            return transport
    except CutoutClientError:
        pass
    return None


def discover(
    url: str | None = None,
    token: str | None = None,
    lake: str | None = None,
    timeout: float = 30,
    max_reply_bytes: int = MAX_REPLY_BYTES,
) -> _HTTP | _InProcess:
    """Where to get cutouts, in this order: `url`; `lake`; ``FINK_CUTOUTS_URL`` (e.g. the hub
    service ``…/services/fink-cutouts/``); JupyterHub's ``JUPYTERHUB_SERVICE_URL`` (this user's
    server); this kernel's Jupyter server; the lake in ``FINK_CUTOUTS_LAKE`` read in-process.

    The token sent to `url` is `token`, else ``FINK_CUTOUTS_TOKEN``. ``FINK_CUTOUTS_URL``, set by
    the hub's admin, gets ``FINK_CUTOUTS_TOKEN``, else (in a JupyterHub user server)
    ``JUPYTERHUB_API_TOKEN``, the server's own hub token; a URL the user passes never gets it."""
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if url:
        return _HTTP(url, token or os.environ.get("FINK_CUTOUTS_TOKEN"), timeout, max_reply_bytes)
    if lake:
        return _InProcess(lake)
    if os.environ.get("FINK_CUTOUTS_URL"):
        token = os.environ.get("FINK_CUTOUTS_TOKEN") or hub_token
        return _HTTP(os.environ["FINK_CUTOUTS_URL"], token, timeout, max_reply_bytes)
    if os.environ.get("JUPYTERHUB_SERVICE_URL") and hub_token:
        return _HTTP(os.environ["JUPYTERHUB_SERVICE_URL"], hub_token, timeout, max_reply_bytes)
    server = _running_jupyter_server(min(timeout, 5), max_reply_bytes)
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
        lake: str | None = None,
        timeout: float = 30,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.transport = discover(url, token, lake, timeout, max_reply_bytes)

    def __repr__(self) -> str:
        return f"CutoutClient({self.transport!r})"

    def alerts(self, object_id: str | int) -> list[dict[str, Any]]:
        """Every alert of an object, oldest first: ids, jd, date, filter, magnitude, ra, dec..."""
        return _json(self.transport.get("alerts", {"objectId": object_id}), list)

    def upper_limits(self, object_id: str | int) -> list[dict[str, Any]]:
        """The object's upper limits from its latest alert's history: jd, date, filter, limit."""
        return _json(self.transport.get("limits", {"objectId": object_id}), list)

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
        arrays = _json(self.transport.get("cutouts", params), list)
        try:
            return np.array(arrays[0], dtype=float)
        except (IndexError, TypeError, ValueError) as error:
            raise _not_as_agreed(f"not an array of pixels ({error})") from error

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
            candid = self.alerts(_object_id_given(object_id))[-1]["alertId"]
        return {kind: Stamp(kind, self.fits_bytes(object_id, candid, kind)) for kind in kinds}

    def _post_when_not_busy(self, route: str, params: dict) -> _Answer:
        """POST, asking again after ``Retry-After`` while the server says it is busy (503), at
        most `BUSY_RETRIES` times and within the client's `timeout` from the first request: a
        pause that would end past it is not taken, the busy answer is the result."""
        deadline = time.monotonic() + getattr(self.transport, "timeout", math.inf)
        for _ in range(BUSY_RETRIES):
            answer = self.transport.post(route, params)
            wait = _retry_after(answer)
            if wait is None or time.monotonic() + wait >= deadline:
                return answer
            time.sleep(wait)
        return self.transport.post(route, params)

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
        import numpy as np
        import pandas as pd
        import pyarrow as pa
        from tqdm.auto import tqdm

        from fink_cutout_jupyter.contract.batch import max_batch_ids

        kinds = list(kinds)
        if not kinds or not set(kinds) <= set(KINDS):
            raise ValueError(f"kinds: {kinds!r}; allowed: some of {', '.join(KINDS)}")
        if by == "auto":
            numbers = all(isinstance(i, int) or str(i).isdigit() for i in ids)
            by = "candid" if numbers else "objectId"
        kind = kinds[0] if len(kinds) == 1 else "All"
        most = max_batch_ids("arrow", 1 if kind != "All" else len(KINDS))
        chunks = [list(ids[i : i + most]) for i in range(0, len(ids), most)]
        show = len(chunks) > 1 if progress is None else progress
        tables = []
        for chunk in tqdm(chunks, desc="batches", unit="batch", disable=not show):
            params = {by: chunk, "kind": kind, "return_type": "arrow"}
            body = _checked(self._post_when_not_busy("cutouts", params)).body
            tables.append(_arrow_table(body, ["id", "status", *kinds], len(chunk)))
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
        return _json(answer, list)

    async def astamps(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        kinds: Sequence[str] = KINDS,
    ) -> dict[str, Stamp]:
        """`stamps`, fetching the kinds concurrently."""
        import asyncio

        if candid is None:
            candid = (await self.aalerts(_object_id_given(object_id)))[-1]["alertId"]
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


def _retry_after(answer: _Answer) -> float | None:
    """Seconds a busy server (503 with ``Retry-After``) asks to wait, or None."""
    from fink_cutout_jupyter.contract.retry_after import retry_after_seconds

    if answer.status != 503:
        return None
    return retry_after_seconds(answer.headers.get("Retry-After"), MAX_RETRY_AFTER_SECONDS)


def _checked(answer: _Answer) -> _Answer:
    if answer.status == 200:
        return answer
    try:
        text = json.loads(answer.body)["text"]
    except (ValueError, KeyError, TypeError):
        text = answer.body[:300].decode(errors="replace") or "no message"
    raise CutoutClientError(answer.status, text, answer.over_http)


def _object_id_given(object_id: str | int | None) -> str | int:
    """The object id of a call that gives no alert id (the server's 400, without asking it)."""
    if object_id is None:
        raise CutoutClientError(400, "objectId: missing; give object_id or candid", False)
    return object_id


def _not_as_agreed(problem: str) -> CutoutClientError:
    return CutoutClientError(502, f"the server's answer is {problem}")


def _json(answer: _Answer, expected: type) -> Any:
    """The JSON of a successful answer, which must be an `expected` (list, dict)."""
    body = _checked(answer).body
    try:
        value = json.loads(body)
    except ValueError as error:
        raise _not_as_agreed(f"not JSON ({error}): {body[:80]!r}") from error
    if not isinstance(value, expected):
        raise _not_as_agreed(f"a JSON {type(value).__name__}, not a {expected.__name__}")
    return value


def _arrow_table(body: bytes, columns: Sequence[str], rows: int):
    """The batch door's Arrow stream: `rows` rows, with `columns` (stamp columns as tensors)."""
    import pyarrow as pa

    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowException, OSError) as error:  # pyarrow: OSError for a cut stream
        raise _not_as_agreed(f"not a complete Arrow stream ({error})") from error
    if table.num_rows != rows:
        raise _not_as_agreed(f"an Arrow table of {table.num_rows} rows for {rows} ids")
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise _not_as_agreed(f"an Arrow table without the columns {', '.join(missing)}")
    for name in columns[2:]:
        if not isinstance(table.schema.field(name).type, pa.FixedShapeTensorType):
            raise _not_as_agreed(f"an Arrow table whose {name} is {table.schema.field(name).type}")
    return table


def _tensor(column, rows: int):
    """A fixed-shape tensor column as one (rows, height, width) array."""
    import numpy as np

    chunks = [chunk.to_numpy_ndarray() for chunk in column.chunks if len(chunk)]
    return np.concatenate(chunks) if chunks else np.empty((rows, 0, 0), np.float32)


def _session():
    import aiohttp

    return aiohttp.ClientSession()
