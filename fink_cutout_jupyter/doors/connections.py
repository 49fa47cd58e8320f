"""aiohttp pieces of the standalone door: contract replies as responses, and its connections.

`ContractHandler` is aiohttp's connection handler with the HTTP parser's own errors (a bad or too
long request line) answered in the contract's JSON shape, and connections that make no progress
for `IDLE_SECONDS` (idle keep-alive, or headers never finished) closed.

`ScrubbedAccessLogger` is aiohttp's access log with secrets blanked: query values whose name
contains ``token``, ``auth``, ``key`` or ``xsrf`` (``?token=`` of a hub service's requests, also
in a logged ``Referer``) and the request's ``Authorization`` and ``Cookie`` values, should the log
format show them. `scrub_secrets` does the same to any text.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_protocol import RequestHandler

from fink_cutout_jupyter.contract.replies import error_reply
from fink_cutout_jupyter.doors.scrubbing import SECRET, scrub_secrets

__all__ = ["SECRET", "ContractHandler", "ScrubbedAccessLogger", "reply_response", "scrub_secrets"]

IDLE_SECONDS = 15.0
_SECRET_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")


def reply_response(reply, allow: str | None = None) -> web.Response:
    """An API `Reply` as an aiohttp response (`allow`: the ``Allow`` header of a 405)."""
    headers = dict(reply.headers) | ({"Allow": allow} if allow else {})
    return web.Response(status=reply.status, body=reply.body or None, headers=headers)


class _ScrubbingLogger(logging.LoggerAdapter):
    """A logger writing messages through `scrub_secrets` (with the current request's secrets)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self.secrets: tuple[str, ...] = ()

    def process(self, msg, kwargs):
        return scrub_secrets(str(msg), self.secrets), kwargs


class ScrubbedAccessLogger(AccessLogger):
    """aiohttp's access log (same format), without tokens or credentials in its lines."""

    def __init__(self, logger: logging.Logger, log_format: str = AccessLogger.LOG_FORMAT) -> None:
        self.scrubbing = _ScrubbingLogger(logger)
        # aiohttp types it Logger, but calls only what a LoggerAdapter has too (info, ...)
        super().__init__(self.scrubbing, log_format)  # type: ignore[arg-type]

    def log(self, request, response, time: float) -> None:
        values = (request.headers.get(name, "") for name in _SECRET_HEADERS)
        # Both the whole value and its credential ("token abc" and "abc") are secrets.
        self.scrubbing.secrets = tuple(
            sorted(
                {part for value in values for part in (value, value.rpartition(" ")[2])},
                key=len,
                reverse=True,
            )
        )
        super().log(request, response, time)


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
        if status >= 500:
            self.log_exception("Error handling request", exc_info=exc)
        else:  # the client's mistake, told without a traceback; its line may hold a ?token=
            self.logger.info("bad request: %s", scrub_secrets(str(message or exc)))
        text = "internal error" if status >= 500 else f"bad request ({message or 'malformed'})"
        text = scrub_secrets(text)
        response = reply_response(error_reply(status, text[:200]))
        response.force_close()
        return response
