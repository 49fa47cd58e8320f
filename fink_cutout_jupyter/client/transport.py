"""Transports: how a request reaches the /api/v1 contract and its `Answer` comes back.

`HTTPTransport` asks a server: the token in ``Authorization`` (never sent on to another origin,
see `opener`), `timeout` a deadline for the whole request (connecting, headers, the whole reply:
a server that drips its answer is cut at it), the reply refused beyond a size cap (a batch's at
most `max_reply_bytes`, any other at most `MAX_ALERT_REPLY_BYTES`, since JSON takes some twenty
times its size as Python objects) and read without growing past it. A server that cannot be
reached is a `CutoutClientError` 503, one that does not answer in full in time a 504, a reply
beyond the cap a 502. `InProcessTransport` answers the same contract with `CutoutAPI` in this
process, reading the lake directly. Both have ``get``, ``post`` and the asynchronous ``aget``.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.client.answers import Answer, CutoutClientError
from fink_cutout_jupyter.client.opener import Deadline, opener

if TYPE_CHECKING:
    import aiohttp

    from fink_cutout_jupyter.storage.lake import Lake

MAX_REPLY_BYTES = 512 * 1024**2  # above a full batch of 2,000 alerts' three stamps
MAX_ALERT_REPLY_BYTES = 32 * 1024**2  # an object's alert list, one alert's stamps: far less
_READ_BYTES = 1024**2


class HTTPTransport:
    """/api/v1 of a server at `base_url` (ends with /), token-authenticated."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout: float,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        base_url, token = base_url_and_token(base_url, token)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.headers = {"Authorization": f"token {token}"} if token else {}
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes

    def __repr__(self) -> str:
        return f"server {self.base_url}"

    def _url(self, route: str, params: Mapping[str, Any]) -> str:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base_url}api/v1/{route}" + (f"?{query}" if query else "")

    def get(self, route: str, params: Mapping[str, Any]) -> Answer:
        """GET `route` with `params` in the query (None values left out)."""
        request = urllib.request.Request(self._url(route, params), headers=self.headers)
        return self._send(request, min(self.max_reply_bytes, MAX_ALERT_REPLY_BYTES))

    def post(self, route: str, params: Mapping[str, Any]) -> Answer:
        """POST `route` with `params` as a JSON body (a batch)."""
        headers = {**self.headers, "Content-Type": "application/json"}
        data = json.dumps(params).encode()
        request = urllib.request.Request(self._url(route, {}), data, headers)
        return self._send(request, self.max_reply_bytes)

    def _send(self, request: urllib.request.Request, limit: int) -> Answer:
        deadline = Deadline(self.timeout)
        try:
            with deadline:
                try:
                    with opener(deadline).open(request, timeout=self.timeout) as response:
                        answer = Answer(
                            response.status, response.headers, self._read(response, limit)
                        )
                except urllib.error.HTTPError as error:
                    with error:
                        answer = Answer(error.code, error.headers, self._read(error, limit))
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

    async def aget(
        self, session: aiohttp.ClientSession, route: str, params: Mapping[str, Any]
    ) -> Answer:
        """`get` in `session`, without blocking the event loop."""
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
                return Answer(response.status, response.headers, b"".join(chunks))
        except TimeoutError as error:
            raise CutoutClientError(
                504, f"{self.base_url} did not answer in full within timeout={self.timeout} s"
            ) from error
        except aiohttp.ClientError as error:
            raise CutoutClientError(503, f"cannot reach {self.base_url}: {error}") from error


def base_url_and_token(url: str, token: str | None) -> tuple[str, str | None]:
    """`url` without the ``?token=`` of the address Jupyter prints (the token taken from it
    unless `token` is given), so that no error text or repr shows it; a user or password in
    the URL, or another query, is refused without repeating it."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise CutoutClientError(
            400, "url: a user or password in the URL is not sent; pass token= instead", False
        )
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"token"}:
        raise CutoutClientError(400, "url: a base URL takes no query other than ?token=", False)
    if query:
        token = token or query["token"][-1] or None
    return urllib.parse.urlunsplit(parts._replace(query="", fragment="")), token


class InProcessTransport:
    """The same contract answered by `CutoutAPI` in this process, reading the lake directly.

    `lake` is a root (its archive under ``science``, its live nights under ``online/science``)
    or a `Lake` made with other directories.
    """

    def __init__(self, lake: str | Lake) -> None:
        from fink_cutout_jupyter.contract.api import CutoutAPI

        self.api = CutoutAPI(lake)
        self.lake = self.api.lake.uri

    def __repr__(self) -> str:
        from fink_cutout_jupyter.storage.redaction import redacted

        return f"lake {redacted(self.lake)} (in-process)"

    def get(self, route: str, params: Mapping[str, Any]) -> Answer:
        """The API's answer to `route` with `params` (None values left out)."""
        reply = self.api.handle(route, {k: v for k, v in params.items() if v is not None})
        return Answer(reply.status, reply.headers, reply.body, over_http=False)

    def post(self, route: str, params: Mapping[str, Any]) -> Answer:
        """The API's answer to `route` with `params` as a request body (a batch)."""
        reply = self.api.handle(route, params, body=True)
        return Answer(reply.status, reply.headers, reply.body, over_http=False)

    async def aget(
        self, session: aiohttp.ClientSession, route: str, params: Mapping[str, Any]
    ) -> Answer:
        """`get` in a worker thread (`session` unused: no request is made)."""
        import asyncio

        return await asyncio.to_thread(self.get, route, params)


Transport = HTTPTransport | InProcessTransport
