"""aiohttp pieces of the standalone door: contract replies as responses, and its connections.

`ContractHandler` is aiohttp's connection handler with the HTTP parser's own errors (a bad or too
long request line) answered in the contract's JSON shape, and connections that make no progress
for `IDLE_SECONDS` (idle keep-alive, or headers never finished) closed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .api import error_reply

IDLE_SECONDS = 15.0


def reply_response(reply, allow: str | None = None) -> web.Response:
    """An API `Reply` as an aiohttp response (`allow`: the ``Allow`` header of a 405)."""
    headers = dict(reply.headers) | ({"Allow": allow} if allow else {})
    return web.Response(status=reply.status, body=reply.body or None, headers=headers)


class ContractHandler(RequestHandler):
    """aiohttp's connection handler, with JSON parser errors and a no-progress timeout."""

    def __init__(self, *args, idle_seconds: float = IDLE_SECONDS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._idle_seconds = idle_seconds

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._seen_requests = -1
        self._watch = asyncio.get_running_loop().call_later(0, self._check_progress)

    def _check_progress(self) -> None:
        busy = getattr(self, "_current_request", None) is not None
        if not busy and self._request_count == self._seen_requests and self.transport:
            self.transport.close()  # idle keep-alive, or headers not finished in time
            return
        self._seen_requests = self._request_count
        loop = asyncio.get_running_loop()
        self._watch = loop.call_later(self._idle_seconds, self._check_progress)

    def connection_lost(self, exc) -> None:
        self._watch.cancel()
        super().connection_lost(exc)

    def handle_error(self, request, status: int = 500, exc=None, message=None):
        self.log_exception("Error handling request", exc_info=exc)
        text = "internal error" if status >= 500 else f"bad request ({message or 'malformed'})"
        response = reply_response(error_reply(status, text[:200]))
        response.force_close()
        return response
