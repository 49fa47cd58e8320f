"""The standalone door: the same /api/v1 contract as an aiohttp application.

Run it with ``fink-cutouts serve --lake ROOT`` or behind gunicorn::

    FINK_CUTOUTS_LAKE=hdfs://namenode:8020/user/fink gunicorn \\
        fink_cutout_jupyter.doors.standalone:gunicorn_app --worker-class aiohttp.GunicornWebWorker

(`gunicorn_app` gives aiohttp's worker a runner with the scrubbed access log; with
``'fink_cutout_jupyter.doors.standalone:create_app()'`` the worker's own access log shows
``?token=``.)

Besides /api/v1 (with /api/v1/health for probes), it serves Prometheus metrics at ``/metrics``
(under `base_url`; see `metrics`), behind the hub token like every route when it is a hub service,
and the interactive API page at ``/api/v1/docs`` (`api_page`), behind the hub token too; only the
page's static files (Swagger UI's, ``/api/v1/docs/<file>``) are served without one.

``fink-cutouts serve`` also answers the HTTP parser's own errors (a bad or too long request line)
in the contract's JSON shape, and closes connections that make no progress for
`IDLE_SECONDS` (idle keep-alive, or headers never finished); behind gunicorn, its own settings
and the proxy's do that.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from fink_cutout_jupyter.contract.replies import ROUTES, error_reply, no_route_reply
from fink_cutout_jupyter.doors.api_page import PAGE_ROUTE, APIPage
from fink_cutout_jupyter.doors.connections import (
    IDLE_SECONDS,
    ContractHandler,
    ScrubbedAccessLogger,
    reply_response,
)
from fink_cutout_jupyter.doors.hub_auth import (
    TOKEN_PARAMETER,
    HubService,
    HubTokenCheck,
    hub_auth_middleware,
)
from fink_cutout_jupyter.doors.runner import APIRunner
from fink_cutout_jupyter.doors.settings import DoorSettings

logger = logging.getLogger(__name__)
_RUNNER = web.AppKey("runner", APIRunner)
_MAX_BODY = web.AppKey("max_body_bytes", int)
_PAGE = web.AppKey("api_page", APIPage)
_PAGE_ASSET = "api-page-asset"  # the route of the page's static files
MAX_REQUEST_LINE = 32 * 1024  # a query within the OpenAPI document's lengths always fits
GIL_SWITCH_SECONDS = 0.001


def create_app(
    settings: DoorSettings | None = None, base_url: str = "/", hub: HubService | None = None
) -> web.Application:
    """The aiohttp application (default settings: ``DoorSettings.from_environment()``).

    `base_url` is where /api/v1 and /metrics are served (a hub service's prefix). With `hub`,
    every request needs a JupyterHub token with access to that service (see `hub_auth`), the
    metrics' too.
    """
    from fink_cutout_jupyter.contract.parameters import MAX_BODY_BYTES  # start-up, not a request

    base_url = f"/{base_url.strip('/')}/".replace("//", "/")
    runner = APIRunner(settings or DoorSettings.from_environment(), base_url)
    middlewares = [_json_errors]
    check = None
    if hub is not None:
        check = HubTokenCheck(hub)
        middlewares.append(hub_auth_middleware(check, public_routes=frozenset({_PAGE_ASSET})))
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    app[_RUNNER] = runner
    app[_MAX_BODY] = MAX_BODY_BYTES
    app[_PAGE] = APIPage()
    ignored = frozenset({TOKEN_PARAMETER}) if hub is not None else frozenset()
    for route in ROUTES:
        app.router.add_get(f"{base_url}api/v1/{route}", _handler(route, ignored=ignored))
    app.router.add_post(f"{base_url}api/v1/cutouts", _handler("cutouts", post=True))
    app.router.add_get(f"{base_url}api/v1/{PAGE_ROUTE}", _api_page)
    app.router.add_get(
        f"{base_url}api/v1/{PAGE_ROUTE}/{{name:.*}}", _api_page_file, name=_PAGE_ASSET
    )
    app.router.add_get(f"{base_url}metrics", _metrics)

    async def close(_: web.Application) -> None:
        runner.close()
        if check is not None:
            await check.close()

    app.on_cleanup.append(close)
    return app


async def gunicorn_app() -> web.AppRunner:
    """`create_app` (configured by the environment: ``$FINK_CUTOUTS_LAKE``,
    ``$FINK_CUTOUTS_SCIENCE_DIR``, ...; see `DoorSettings.from_environment`) in a runner for
    aiohttp's gunicorn worker: its access log scrubbed as ``fink-cutouts serve``'s
    (`ScrubbedAccessLogger`, in aiohttp's format), written to gunicorn's access log
    (``--access-logfile``)."""
    return web.AppRunner(
        create_app(),
        access_log_class=ScrubbedAccessLogger,
        access_log=logging.getLogger("gunicorn.access"),
        max_line_size=MAX_REQUEST_LINE,
    )


@web.middleware
async def _json_errors(request: web.Request, handler) -> web.StreamResponse:
    """aiohttp's own errors (unknown route, method, too large, unhandled) as contract JSON."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        if error.status == 404:
            return reply_response(no_route_reply(request.path.rsplit("/api/v1/", 1)[-1]))
        too_large = f"body: more than {request.app[_MAX_BODY]} bytes"
        text = too_large if error.status == 413 else error.reason
        return reply_response(error_reply(error.status, text), error.headers.get("Allow"))


async def _api_page(request: web.Request) -> web.Response:
    """The interactive API page (`api_page`)."""
    return reply_response(await request.app[_PAGE].page())


async def _api_page_file(request: web.Request) -> web.Response:
    """One of the API page's static files; any other name is a 404."""
    page = request.app[_PAGE]
    name = request.match_info["name"]
    return reply_response(await page.asset(name, request.headers.get("If-None-Match")))


async def _metrics(_: web.Request) -> web.Response:
    """Prometheus' text exposition of this process's metrics (from memory: no thread needed)."""
    from fink_cutout_jupyter.metrics import exposition

    body, media_type = exposition()
    return web.Response(body=body, headers={"Content-Type": media_type})


def _handler(route: str, post: bool = False, ignored: frozenset[str] = frozenset()):
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read() if post else None
        params = None if post else {k: v for k, v in request.query.items() if k not in ignored}
        reply = await request.app[_RUNNER].answer(
            route, params, body, request.headers.get("If-None-Match")
        )
        return reply_response(reply)

    return handle


async def _serve_until_stopped(
    app: web.Application, host: str, port: int, idle_seconds: float, base_url: str
) -> None:
    app[_RUNNER].connect()  # a remote lake's client first: its JVM must not own our signals
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    handler = runner.server
    assert handler is not None  # made by `setup`
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    kwargs = {
        "max_line_size": MAX_REQUEST_LINE,
        "keepalive_timeout": idle_seconds,
        "access_log_class": ScrubbedAccessLogger,  # no ?token= of a hub service's requests
    }
    server = await loop.create_server(
        lambda: ContractHandler(runner.server, loop=loop, idle_seconds=idle_seconds, **kwargs),
        host,
        port,
    )
    logger.info("serving on http://%s:%s%sapi/v1/ (Ctrl-C or SIGTERM stops)", host, port, base_url)
    try:
        await stopped.wait()
    finally:
        server.close()
        await handler.shutdown(10.0)
        await runner.cleanup()


def serve(
    settings: DoorSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    idle_seconds: float = IDLE_SECONDS,
    base_url: str = "/",
    hub: HubService | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; shuts down gracefully (running requests finish).

    Connections that make no progress for `idle_seconds` (no new request on a kept-alive
    connection, or headers not finished) are closed. With `hub`, requests need a JupyterHub
    token (see `create_app`).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # This process is ours: hand the GIL over more often, so that the event loop answers cheap
    # requests between the worker threads' renders (a Jupyter server's process is not ours).
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    app = create_app(settings, base_url, hub)
    if hub is not None:
        logger.info(
            "JupyterHub service %r: requests need a hub token with access:services!service=%s",
            hub.name,
            hub.name,
        )
    asyncio.run(_serve_until_stopped(app, host, port, idle_seconds, base_url))
