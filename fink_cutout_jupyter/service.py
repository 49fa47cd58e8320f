"""The standalone door: the same /api/v1 contract as an aiohttp application.

Run it with ``fink-cutouts serve --lake ROOT`` or behind gunicorn::

    FINK_CUTOUTS_LAKE=hdfs://namenode:8020/user/fink gunicorn \\
        'fink_cutout_jupyter.service:create_app()' --worker-class aiohttp.GunicornWebWorker
"""

from __future__ import annotations

import os

from aiohttp import web

from .doors import APIRunner

_RUNNER = web.AppKey("runner", APIRunner)
_ROUTES = ("cutouts", "alerts", "openapi.json")


def create_app(
    lake: str | None = None,
    index: str = "",
    survey: str = "",
    science_dir: str = "science",
    workers: int = 4,
    timeout: float = 60.0,
) -> web.Application:
    """The aiohttp application (lake defaults to ``$FINK_CUTOUTS_LAKE``)."""
    runner = APIRunner(
        lake if lake is not None else os.environ.get("FINK_CUTOUTS_LAKE", ""),
        index,
        survey,
        science_dir,
        workers,
        timeout,
    )
    app = web.Application()
    app[_RUNNER] = runner
    for route in _ROUTES:
        app.router.add_get(f"/api/v1/{route}", _handler(route))
    app.router.add_post("/api/v1/cutouts", _handler("cutouts", post=True))

    async def close(_: web.Application) -> None:
        runner.close()

    app.on_cleanup.append(close)
    return app


def _handler(route: str, post: bool = False):
    async def handle(request: web.Request) -> web.StreamResponse:
        runner = request.app[_RUNNER]
        if_none_match = request.headers.get("If-None-Match")
        if post:
            reply = await runner.answer(
                route, body=await request.read(), if_none_match=if_none_match
            )
        else:
            reply = await runner.answer(
                route, params=dict(request.query), if_none_match=if_none_match
            )
        return web.Response(status=reply.status, body=reply.body or None, headers=reply.headers)

    return handle


def serve(
    lake: str,
    index: str = "",
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 4,
    survey: str = "",
    science_dir: str = "science",
    timeout: float = 60.0,
) -> None:
    """Serve until interrupted; shuts down gracefully (running requests finish)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(lake, index, survey, science_dir, workers, timeout)
    web.run_app(app, host=host, port=port, shutdown_timeout=10.0)
