"""The Jupyter door: /api/v1/cutouts, alerts, history, limits, health, openapi.json in a server,
and the interactive API page, /api/v1/docs (`api_page`), for logged-in users like every route.

The service's Prometheus metrics (`metrics`) are in prometheus_client's default registry, which
the server's own ``/metrics`` serves (with its own authentication, see
``ServerApp.authenticate_prometheus``).
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.application import ExtensionApp
from tornado import web
from traitlets import Float, Int, TraitType, Unicode, default

from fink_cutout_jupyter.contract.replies import Reply, error_reply
from fink_cutout_jupyter.doors.api_page import PAGE_ROUTE, SOURCES_POLICY, APIPage
from fink_cutout_jupyter.doors.runner import APIRunner
from fink_cutout_jupyter.doors.settings import LAKE_ENVIRONMENT, DoorSettings

AUTH_RESOURCE = "fink_cutouts"
# Jupyter's own query parameters (login token, XSRF cookie check): never API parameters.
JUPYTER_PARAMETERS = frozenset({"token", "_xsrf"})
_DEFAULTS = DoorSettings()


def _setting(name: str, trait: type[TraitType]) -> Any:
    """The configurable trait of the door setting `name`: its default and help are the
    `DoorSettings` field's."""
    value = getattr(_DEFAULTS, name)
    return trait(value, allow_none=value is None, help=DoorSettings.help(name)).tag(config=True)


class _Handler(APIHandler):
    """Translate a request to `APIRunner.answer` and its `Reply` back."""

    auth_resource = AUTH_RESOURCE
    route = ""

    def initialize(self, runner: APIRunner) -> None:
        self.runner = runner

    async def _respond(self, params=None, body=None) -> None:
        reply = await self.runner.answer(
            self.route, params, body, self.request.headers.get("If-None-Match")
        )
        self.set_status(reply.status)
        headers = dict(reply.headers)
        content_type = headers.pop("Content-Type", "application/json")
        for name, value in headers.items():
            self.set_header(name, value)
        # APIHandler.finish would otherwise label every body application/json.
        self.finish(reply.body if reply.status != 304 else None, set_content_type=content_type)

    def _request_summary(self) -> str:
        """The request as tornado's warnings name it, with ?token= (and the server's
        ``extra_log_scrub_param_keys``) scrubbed as Jupyter's request log does."""
        from fink_cutout_jupyter.doors.scrubbing import scrub_secrets

        keys = self.settings.get("extra_log_scrub_param_keys", [])
        uri = scrub_secrets(self.request.uri, keys=keys)
        return f"{self.request.method} {uri} ({self.request.remote_ip})"

    def write_error(self, status_code: int, **kwargs) -> None:
        """Tornado's own errors (405, 403, 500, ...) in the contract's JSON shape."""
        reason = self._reason or "error"
        exception = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exception, web.HTTPError) and exception.log_message:
            reason = exception.log_message % exception.args if exception.args else reason
        reply = error_reply(status_code, reason)
        self.set_header("Content-Type", "application/json")
        self.finish(reply.body)

    @web.authenticated
    @authorized("read")
    async def get(self) -> None:
        # Each value as sent (get_argument would strip it and blank control characters).
        await self._respond(
            params={
                name: self.decode_argument(values[-1], name)
                for name, values in self.request.query_arguments.items()
                if name not in JUPYTER_PARAMETERS
            }
        )


class CutoutsHandler(_Handler):
    route = "cutouts"

    @web.authenticated
    @authorized("read")
    async def post(self) -> None:
        await self._respond(body=self.request.body)


class AlertsHandler(_Handler):
    route = "alerts"


class HistoryHandler(_Handler):
    route = "history"


class LimitsHandler(_Handler):
    route = "limits"


class OpenAPIHandler(_Handler):
    route = "openapi.json"


class HealthHandler(_Handler):
    route = "health"


class NoRouteHandler(_Handler):
    """Any other path under /api/v1: the contract's 404 (the route names the path)."""

    def initialize(self, runner: APIRunner) -> None:
        super().initialize(runner)
        self.route = self.request.path.rsplit("/api/v1/", 1)[-1]


class _PageHandler(JupyterHandler):
    """The API page's HTML and files: a page (not an APIHandler, whose policy forbids scripts);
    a request without the user's login is sent to the login page."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, page: APIPage) -> None:
        self.page = page

    @property
    def content_security_policy(self) -> str:
        """The server's policy (frame ancestors, report URI), then the page's own origin only."""
        return f"{super().content_security_policy}; {SOURCES_POLICY}"

    def _send(self, reply: Reply) -> None:
        self.set_status(reply.status)
        for name, value in reply.headers.items():
            if name != "Content-Security-Policy":  # the server's own, with the page's
                self.set_header(name, value)
        self.finish(reply.body if reply.status != 304 else None)


class APIPageHandler(_PageHandler):
    """GET /api/v1/docs: the interactive API page."""

    @web.authenticated
    @authorized("read")
    async def get(self) -> None:
        self.xsrf_token  # noqa: B018  # sets the _xsrf cookie the page sends back on a POST
        self._send(await self.page.page())


class APIPageFileHandler(_PageHandler):
    """GET /api/v1/docs/<file>: one of the page's files (an allow-list; any other is a 404)."""

    @web.authenticated
    @authorized("read")
    async def get(self, name: str) -> None:
        self._send(await self.page.asset(name, self.request.headers.get("If-None-Match")))


class FinkCutoutsApp(ExtensionApp):
    """Serve Fink cutouts from the data lake inside a Jupyter server."""

    name = "fink_cutout_jupyter"

    lake = _setting("lake", Unicode)
    index = _setting("index", Unicode)
    survey = _setting("survey", Unicode)
    science_dir = _setting("science_dir", Unicode)
    online_dir = _setting("online_dir", Unicode)
    workers = _setting("workers", Int)
    timeout = _setting("timeout", Float)
    render_processes = _setting("render_processes", Int)

    @default("lake")
    def _default_lake(self) -> str:
        # Only the lake falls back to the environment here (the traits are the configuration):
        # another FINK_CUTOUTS_<NAME> is neither read nor checked.
        return os.environ.get(LAKE_ENVIRONMENT, "")

    def initialize_settings(self) -> None:
        assert self.serverapp is not None  # Jupyter sets it before it initializes an extension
        settings = DoorSettings(**{name: getattr(self, name) for name in DoorSettings.names()})
        self.runner = APIRunner(settings, self.serverapp.base_url)
        self.api_page = APIPage()
        from fink_cutout_jupyter.doors.scrubbing import redacted

        lake = redacted(self.lake) if self.lake else "(no lake set)"
        self.log.info("fink_cutout_jupyter: serving cutouts of %s", lake)
        self.runner.connect()

    def initialize_handlers(self) -> None:
        for path, handler in (
            ("/api/v1/cutouts", CutoutsHandler),
            ("/api/v1/alerts", AlertsHandler),
            ("/api/v1/history", HistoryHandler),
            ("/api/v1/limits", LimitsHandler),
            ("/api/v1/openapi.json", OpenAPIHandler),
            ("/api/v1/health", HealthHandler),
        ):
            self.handlers.append((path, handler, {"runner": self.runner}))
        self.handlers.append((f"/api/v1/{PAGE_ROUTE}", APIPageHandler, {"page": self.api_page}))
        self.handlers.append(
            (f"/api/v1/{PAGE_ROUTE}/(.*)", APIPageFileHandler, {"page": self.api_page})
        )
        self.handlers.append(("/api/v1/.*", NoRouteHandler, {"runner": self.runner}))

    async def stop_extension(self) -> None:
        self.runner.close()
