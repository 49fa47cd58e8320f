"""A real aiohttp server that answers as a broken, slow, huge, busy or redirecting one would:
what the client must survive (tests of the client's transport, batching and answers).

The first path segment chooses the behaviour (``http://host:port/<base>/api/v1/<route>``):
``away`` redirects to another origin, ``here`` to the same one, ``same`` answers ``[]``,
``busy`` 503 with ``Retry-After``, ``reply`` the body set in ``replies[route]``, ``drip`` the
headers at once and the body a byte every half second, ``huge`` (announced) and ``endless``
(unannounced) ``HUGE_REPLY_BYTES``. ``drip_port`` drips a whole answer, status line included.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from aiohttp import web

HUGE_REPLY_BYTES = 300 * 1024**2


class Misbehaving:
    """A real aiohttp server in a thread of its own (its own event loop), answering as a broken,
    slow, huge or redirecting server would; `seen` records each request's Authorization."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.seen: list[tuple[str, str | None]] = []
        self.replies: dict[str, bytes] = {}
        self.elsewhere = ""  # where "away" redirects to
        self.retry_after = "1"  # what "busy" answers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        app = web.Application()
        app.router.add_route("*", "/{base}/api/v1/{route}", self.answer)
        self.runner = web.AppRunner(app, access_log=None)
        self.thread.start()
        self._call(self._start())
        self.drip_port = self._call(self._start_header_drip())

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.url = f"http://{self.host}:{site._server.sockets[0].getsockname()[1]}/"

    async def _start_header_drip(self) -> int:
        """A raw server sending a whole (valid) HTTP answer, status line too, a byte at a time."""

        async def drip(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]":
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.5)
            writer.close()

        self.drip_server = await asyncio.start_server(drip, self.host, 0)
        return self.drip_server.sockets[0].getsockname()[1]

    def close(self) -> None:
        self.drip_server.close()
        self._call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    async def answer(self, request: web.Request) -> web.StreamResponse:
        base, route = request.match_info["base"], request.match_info["route"]
        self.seen.append((base, request.headers.get("Authorization")))
        if base == "away":  # to the same path on another origin
            raise web.HTTPFound(f"{self.elsewhere}same/api/v1/{route}?{request.query_string}")
        if base == "here":
            raise web.HTTPFound(f"/same/api/v1/{route}?{request.query_string}")
        if base == "same":
            return web.json_response([])
        if base == "busy":  # the batch memory budget held: 503 and a pause
            return web.json_response(
                {"status": "error", "text": "busy: try again"},
                status=503,
                headers={"Retry-After": self.retry_after},
            )
        if base == "reply":  # the body set for this route
            return web.Response(body=self.replies[route], content_type="application/octet-stream")
        if base == "drip":  # headers at once, then the body a byte at a time
            response = web.StreamResponse(headers={"Content-Length": "40"})
            await response.prepare(request)
            for _ in range(40):
                await response.write(b" ")
                await asyncio.sleep(0.5)
            return response
        if base in ("huge", "endless"):
            size = HUGE_REPLY_BYTES if base == "huge" else None
            headers = {"Content-Length": str(size)} if size else {}
            response = web.StreamResponse(headers=headers)
            await response.prepare(request)
            block = bytes(1024**2)
            with contextlib.suppress(ConnectionError):
                for _ in range(HUGE_REPLY_BYTES // len(block)):
                    await response.write(block)
            return response
        raise web.HTTPNotFound()


@contextlib.contextmanager
def misbehaving_servers() -> Iterator[tuple[Misbehaving, Misbehaving]]:
    """Two misbehaving servers on two loopback addresses (two origins): ``away`` on the first
    redirects to the second."""
    here, elsewhere = Misbehaving("127.0.0.1"), Misbehaving("127.0.0.2")
    here.elsewhere = elsewhere.url
    try:
        yield here, elsewhere
    finally:
        here.close()
        elsewhere.close()
