"""`fink-cutouts serve` as a JupyterHub service: every request needs a hub token with access.

The hub starts a managed service with its address and API in the environment
(``JUPYTERHUB_SERVICE_NAME``, ``JUPYTERHUB_API_URL``, ``JUPYTERHUB_SERVICE_URL``,
``JUPYTERHUB_SERVICE_PREFIX``). A request's token (``Authorization: token …`` or ``Bearer …``,
or ``?token=``) is shown to the hub's ``GET /hub/api/user``, which names the token's owner and
scopes, as JupyterHub's own ``HubAuth`` does. The token must carry
``access:services!service=<name>`` (or ``access:services``). Answers are kept for
`CACHE_SECONDS`, and concurrent requests with the same token share one hub call, so a burst of
requests costs one hub call per token.

Only the hub's verdicts are kept: a user model (let in, or refused for lacking the scope) and
401/403/404 (not a valid token). A busy or failing hub (429, 5xx) is asked again after a pause
(``Retry-After`` if it gives one), up to `HUB_ATTEMPTS` times; then, like a hub that does not
answer or answers something else than a user model (a list, a string, ``"scopes": null``, a
redirect), the request gets 503 and the next one asks again.
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
from typing import TYPE_CHECKING

from aiohttp import web

from fink_cutout_jupyter.contract.replies import error_reply
from fink_cutout_jupyter.doors.connections import reply_response

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger(__name__)
CACHE_SECONDS = 60.0
CACHED_TOKENS = 4096
HUB_TIMEOUT_SECONDS = 10.0
HUB_ATTEMPTS = 3
HUB_RETRY_SECONDS = 0.25  # the first pause before asking a busy hub again, then doubled
MAX_RETRY_AFTER_SECONDS = 2.0
NOT_A_TOKEN_STATUSES = frozenset({401, 403, 404})
TOKEN_PARAMETER = "token"
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


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
        self._asking: dict[str, asyncio.Future[tuple[float, str | None, str]]] = {}
        self._session: aiohttp.ClientSession | None = None

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
        for attempt in range(1, HUB_ATTEMPTS + 1):
            status, model, retry_after = await self._call_hub(token)
            if status != 429 and status < 500:
                break
            if attempt == HUB_ATTEMPTS:
                raise HubUnavailable(
                    f"JupyterHub's API at {self._user_url} answered HTTP {status} "
                    f"{HUB_ATTEMPTS} times"
                )
            await asyncio.sleep(retry_after or HUB_RETRY_SECONDS * 2 ** (attempt - 1))
        answer = self._judge(status, model)
        self._answers[key] = (time.monotonic() + self.cache_seconds, *answer)
        while len(self._answers) > CACHED_TOKENS:
            self._answers.popitem(last=False)
        return self._answers[key]

    @property
    def _user_url(self) -> str:
        return f"{self.service.api_url}/user"

    async def _call_hub(self, token: str) -> tuple[int, object, float]:
        """One call: the status, the JSON of a 200 and the pause a 429/503 asks for."""
        import aiohttp

        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=HUB_TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        self.hub_calls += 1
        headers = {"Authorization": f"token {token}"}
        try:
            async with self._session.get(
                self._user_url, headers=headers, allow_redirects=False
            ) as reply:
                model = await reply.json(content_type=None) if reply.status == 200 else None
                return reply.status, model, _retry_after(reply.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise HubUnavailable(
                f"JupyterHub's API at {self._user_url} did not answer: {error}"
            ) from error

    def _judge(self, status: int, model: object) -> tuple[str | None, str]:
        if status in NOT_A_TOKEN_STATUSES:
            return None, "the token is not a valid JupyterHub token"
        if status != 200:
            raise HubUnavailable(f"JupyterHub's API at {self._user_url} answered HTTP {status}")
        owner, scopes = self._user_model(model)
        if self.service.scopes.isdisjoint(scopes):
            scope = f"access:services!service={self.service.name}"
            return None, f"the token of {owner} lacks the scope {scope}"
        return owner, ""

    def _user_model(self, model: object) -> tuple[str, list[str]]:
        """The owner and scopes of the hub's user model, or `HubUnavailable` if malformed."""
        if not isinstance(model, dict):
            problem = f"{_JSON_TYPES.get(type(model), 'a JSON value')} instead of a user model"
        elif not isinstance(model.get("name"), str) or not model["name"]:
            problem = "a user model without a name"
        elif not isinstance(model.get("scopes"), list) or not all(
            isinstance(scope, str) for scope in model["scopes"]
        ):
            problem = f"a user model whose scopes are {_json_excerpt(model.get('scopes'))}"
        else:
            return model["name"], model["scopes"]
        raise HubUnavailable(f"JupyterHub's API at {self._user_url} answered {problem}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _retry_after(value: str | None) -> float:
    """A ``Retry-After`` in seconds (at most `MAX_RETRY_AFTER_SECONDS`), or 0 if none or a date."""
    from fink_cutout_jupyter.contract.retry_after import retry_after_seconds

    return retry_after_seconds(value, MAX_RETRY_AFTER_SECONDS) or 0.0


def _json_excerpt(value: object) -> str:
    """`value` as JSON, cut to 60 characters (a hub's malformed answer, in an error text)."""
    import json

    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def request_token(request: web.Request) -> str | None:
    """The token of a request: ``Authorization: token|Bearer …`` first, then ``?token=``."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return request.query.get(TOKEN_PARAMETER) or None


def hub_auth_middleware(check: HubTokenCheck, public_routes: frozenset[str] = frozenset()):
    """An aiohttp middleware answering 403 (contract JSON) to requests without a valid token,
    but for the routes named in `public_routes` (files that hold no data, such as the API
    page's Swagger UI, which a browser loads without the token the page was opened with)."""

    @web.middleware
    async def require_hub_token(request: web.Request, handler) -> web.StreamResponse:
        if request.match_info.route.name in public_routes:
            return await handler(request)
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
