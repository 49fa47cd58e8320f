"""`fink-cutouts serve` as a JupyterHub service: every request needs a hub token with access.

The hub starts a managed service with its address and API in the environment
(``JUPYTERHUB_SERVICE_NAME``, ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_SERVICE_URL``,
``JUPYTERHUB_SERVICE_PREFIX``). A request's token (``Authorization: token …`` or ``Bearer …``,
or ``?token=``) is shown to the hub's ``GET /hub/api/user``, which names the token's owner and
scopes, as JupyterHub's own ``HubAuth`` does. The token must carry
``access:services!service=<name>`` (or ``access:services``). Answers are kept for
`CACHE_SECONDS`, and concurrent requests with the same token share one hub call, so a burst of
requests costs one hub call per token.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from .api import error_reply
from .connections import reply_response

logger = logging.getLogger(__name__)
CACHE_SECONDS = 60.0
CACHED_TOKENS = 4096
HUB_TIMEOUT_SECONDS = 10.0
TOKEN_PARAMETER = "token"


@dataclass(frozen=True)
class HubService:
    """Where the hub put this service, read from the environment the hub gives it."""

    name: str
    api_url: str
    url: str
    prefix: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> HubService | None:
        """The hub's settings, or None outside a hub-managed (or hub-registered) service."""
        if not environ.get("JUPYTERHUB_SERVICE_NAME"):
            return None
        missing = [
            name
            for name in ("JUPYTERHUB_API_URL", "JUPYTERHUB_SERVICE_URL")
            if not environ.get(name)
        ]
        if missing:
            raise ValueError(f"JupyterHub service environment incomplete: {', '.join(missing)}")
        name = environ["JUPYTERHUB_SERVICE_NAME"]
        prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX") or f"/services/{name}/"
        return cls(
            name,
            environ["JUPYTERHUB_API_URL"].rstrip("/"),
            environ["JUPYTERHUB_SERVICE_URL"],
            prefix,
        )

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or 80

    @property
    def scopes(self) -> frozenset[str]:
        """Either scope lets a token in."""
        return frozenset({"access:services", f"access:services!service={self.name}"})


class Refused(Exception):
    """No token, or a token the hub does not know or that lacks the access scope."""


class HubUnavailable(Exception):
    """The hub did not answer the token check."""


class HubTokenCheck:
    """Ask the hub who owns a token and whether it may use this service; remember the answer.

    Attributes
    ----------
    hub_calls : int
        Calls made to the hub's API so far.
    """

    def __init__(self, service: HubService, cache_seconds: float = CACHE_SECONDS) -> None:
        self.service = service
        self.cache_seconds = cache_seconds
        self.hub_calls = 0
        self._answers: OrderedDict[str, tuple[float, str | None, str]] = OrderedDict()
        self._asking: dict[str, asyncio.Future] = {}
        self._session = None

    async def owner(self, token: str) -> str:
        """The name of the token's owner; raises `Refused` or `HubUnavailable`."""
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        remembered = self._answers.get(key)
        if remembered is not None and remembered[0] > time.monotonic():
            self._answers.move_to_end(key)
        else:
            if key not in self._asking:
                self._asking[key] = asyncio.ensure_future(self._ask_hub(key, token))
            try:
                remembered = await asyncio.shield(self._asking[key])
            finally:
                self._asking.pop(key, None)
        _, name, reason = remembered
        if name is None:
            raise Refused(reason)
        return name

    async def _ask_hub(self, key: str, token: str) -> tuple[float, str | None, str]:
        import aiohttp

        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=HUB_TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        self.hub_calls += 1
        url = f"{self.service.api_url}/user"
        try:
            async with self._session.get(url, headers={"Authorization": f"token {token}"}) as reply:
                model = await reply.json(content_type=None) if reply.status == 200 else None
                status = reply.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise HubUnavailable(f"JupyterHub's API at {url} did not answer: {error}") from error
        if status >= 500:
            raise HubUnavailable(f"JupyterHub's API at {url} answered HTTP {status}")
        answer = self._judge(model)
        self._answers[key] = (time.monotonic() + self.cache_seconds, *answer)
        while len(self._answers) > CACHED_TOKENS:
            self._answers.popitem(last=False)
        return self._answers[key]

    def _judge(self, model: dict | None) -> tuple[str | None, str]:
        if not model:
            return None, "the token is not a valid JupyterHub token"
        owner = model.get("name", "?")
        if self.service.scopes.isdisjoint(model.get("scopes", ())):
            scope = f"access:services!service={self.service.name}"
            return None, f"the token of {owner} lacks the scope {scope}"
        return owner, ""

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def request_token(request: web.Request) -> str | None:
    """The token of a request: ``Authorization: token|Bearer …`` first, then ``?token=``."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return request.query.get(TOKEN_PARAMETER) or None


def hub_auth_middleware(check: HubTokenCheck):
    """An aiohttp middleware answering 403 (contract JSON) to requests without a valid token."""

    @web.middleware
    async def require_hub_token(request: web.Request, handler) -> web.StreamResponse:
        token = request_token(request)
        try:
            if token is None:
                raise Refused(
                    "a JupyterHub token is required (header 'Authorization: token …'), "
                    f"with the scope access:services!service={check.service.name}"
                )
            await check.owner(token)
        except Refused as refusal:
            return reply_response(error_reply(403, str(refusal)))
        except HubUnavailable as error:
            logger.warning("%s", error)
            return reply_response(error_reply(503, f"cannot check the token: {error}"))
        return await handler(request)

    return require_hub_token
