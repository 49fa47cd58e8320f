"""What both HTTP doors share: the API built on first use, answered in bounded thread pools.

Importing this module is cheap (standard library only): pyarrow, astropy, numpy and the API load
in a worker thread, never on the event loop: at start-up (`connect`) or on the first request.

Work is split by kind so that one kind cannot starve another: stamp reads (array, FITS), PNG
renders, lookups (alerts, the parameter list, the OpenAPI document) and health probes each have
their own threads and a bounded queue. A request whose queue is full is answered 503 with
``Retry-After`` at once. The parameter list, and the OpenAPI document once the lake's survey is
known, are answered from memory on the event loop. PNG renders run in worker processes
(`render_processes`): the render threads read the stamps, then wait for the image without
holding the GIL, so that renders never keep the event loop waiting.

Every answer is counted in the Prometheus metrics (`metrics`): by route and status, its latency,
and the requests each pool holds or refuses.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter.contract.replies import ROUTES, Reply, error_reply
from fink_cutout_jupyter.doors.settings import LAKE_ENVIRONMENT, DoorSettings
from fink_cutout_jupyter.errors import CutoutError

NO_LAKE = (
    f"no lake configured: set {LAKE_ENVIRONMENT} (a directory, hdfs:// or s3:// URI) or "
    "c.FinkCutoutsApp.lake in jupyter_server_config.py, or pass --lake to fink-cutouts serve"
)
QUEUED_PER_THREAD = 16  # requests held per thread of a pool before a 503 (Retry-After)
RETRY_AFTER_SECONDS = 1
HEALTH_TIMEOUT_SECONDS = 5.0  # a probe answers 503 sooner than a load balancer gives up


@dataclass
class _Pool:
    """Threads for one kind of work, and how many requests they hold (running or queued)."""

    executor: ThreadPoolExecutor
    limit: int
    held: int = field(default=0)


class APIRunner:
    """Run `CutoutAPI.handle` off the event loop.

    Parameters
    ----------
    settings : DoorSettings
        The lake and how to serve it. `workers` threads read stamps (lookups get two threads,
        health probes one); each pool holds at most `QUEUED_PER_THREAD` requests per thread. A
        request waiting longer than `timeout` for the lake is answered 503 (the read goes on in
        its thread: a filesystem call cannot be interrupted). `render_processes` render PNG
        images, each fed by one render thread; 0 renders in a quarter as many threads as
        `workers` instead (in this process, holding its GIL).
    base_url : str
        Where the door serves /api/v1 (the OpenAPI document's ``servers`` entry).
    """

    def __init__(self, settings: DoorSettings, base_url: str = "/") -> None:
        from fink_cutout_jupyter.cutouts.render_processes import RenderProcesses, default_processes

        self.settings = settings
        self.base_url = base_url
        self.timeout = settings.timeout
        render_processes = settings.render_processes
        if render_processes is None:
            render_processes = default_processes()
        self.renders = RenderProcesses(render_processes) if render_processes > 0 else None
        workers = settings.workers
        renderers = render_processes if self.renders else max(1, workers // 4)
        sizes = {"read": workers, "render": renderers, "lookup": 2, "health": 1}
        self.pools = {
            name: _Pool(
                ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"fink-cutouts-{name}"),
                size * QUEUED_PER_THREAD,
            )
            for name, size in sizes.items()
        }
        self._memory: dict[tuple[str, bool], Reply] = {}  # cached replies: (route, has params)
        self._api: Any = None
        self._parse_body: Callable[[bytes], dict[str, Any]] | None = None  # loaded in a thread
        self._lock = threading.Lock()
        metrics.enable()

    async def answer(
        self,
        route: str,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        if_none_match: str | None = None,
    ) -> Reply:
        """The `Reply` to a GET (`params`) or a POST (JSON `body`)."""
        start = time.perf_counter()
        reply = await self._reply(route, params, body, if_none_match)
        label = route if route in ROUTES else "other"
        metrics.observe_request(label, reply.status, time.perf_counter() - start)
        return reply

    async def _reply(
        self,
        route: str,
        params: dict[str, Any] | None,
        body: bytes | None,
        if_none_match: str | None,
    ) -> Reply:
        if not self.settings.lake:
            return error_reply(503, NO_LAKE)
        if body is not None:
            parse_body = self._parse_body or await self._load_parse_body()
            try:
                params = parse_body(body)
            except CutoutError as error:
                return error_reply(error.status, str(error))
        params = params or {}
        remembered = self._memory.get((route, bool(params)))
        if remembered is not None:
            return remembered
        kind = _kind_of_work(route, params)
        pool = self.pools[kind]
        if pool.held >= pool.limit:
            metrics.count_rejection(kind)
            reply = error_reply(503, "the server is busy; try again in a second")
            reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return reply
        pool.held += 1
        metrics.hold(kind, 1)
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(
            pool.executor, self._answer, route, params, body is not None, if_none_match, kind
        )
        timeout = min(self.timeout, HEALTH_TIMEOUT_SECONDS) if kind == "health" else self.timeout
        try:
            return await asyncio.wait_for(asyncio.shield(work), timeout)
        except TimeoutError:
            return error_reply(503, f"the lake did not answer within {timeout:g} s; try again")
        finally:
            work.add_done_callback(lambda _: self._release(pool, kind))

    async def _load_parse_body(self) -> Callable[[bytes], dict[str, Any]]:
        """The body parser, its module (which loads numpy) imported in a thread, once."""
        loop = asyncio.get_running_loop()
        executor = self.pools["lookup"].executor
        self._parse_body = await loop.run_in_executor(executor, _import_parse_body)
        return self._parse_body

    @staticmethod
    def _release(pool: _Pool, kind: str) -> None:
        pool.held -= 1
        metrics.hold(kind, -1)

    def connect(self) -> None:
        """Start a remote lake's client now, in the main thread, and keep this process's signals.

        An HDFS client is a JVM, which takes over SIGINT and SIGTERM when it starts: started in
        a worker thread on the first request, it left servers that ignore SIGTERM (a hub stops
        user servers with it) or die without finishing their requests. Started here, before or
        while the server sets its handlers, and followed by `keep_signal_handlers`, it cannot.
        """
        import logging

        api = self._get_api()
        if api is None or api.lake.is_local:
            return
        try:
            api.lake.filesystem  # noqa: B018 - connecting is the point
        except CutoutError as error:
            logging.getLogger(__name__).warning("the lake is not reachable yet: %s", error)
        keep_signal_handlers()

    def close(self) -> None:
        """Stop the thread pools and render processes (running reads finish) and close the
        lake's open files."""
        for pool in self.pools.values():
            pool.executor.shutdown(wait=False, cancel_futures=True)
        if self.renders is not None:
            self.renders.close()
        if self._api is not None:
            self._api.close()

    def _answer(
        self, route: str, params: dict, body: bool, if_none_match: str | None, kind: str = ""
    ) -> Reply:
        api = self._get_api()
        if kind == "render" and self.renders is not None:
            with self.renders.serving():
                reply = api.handle(route, params, if_none_match, body=body)
        else:
            reply = api.handle(route, params, if_none_match, body=body)
        if reply.status == 200 and _lasting(route, params, api):
            self._memory[route, bool(params)] = reply
        return reply

    def _get_api(self) -> Any:
        """The `CutoutAPI` (made on first use: it loads pyarrow), None without a lake."""
        with self._lock:
            if self._api is None and self.settings.lake:
                from fink_cutout_jupyter.contract.api import CutoutAPI
                from fink_cutout_jupyter.storage.lake import Lake
                from fink_cutout_jupyter.surveys import survey_named

                settings = self.settings
                survey = survey_named(settings.survey) if settings.survey else None
                lake = Lake(settings.lake, settings.science_dir, settings.online_dir)
                self._api = CutoutAPI(lake, settings.index or None, survey, self.base_url)
            return self._api


def _import_parse_body() -> Callable[[bytes], dict[str, Any]]:
    from fink_cutout_jupyter.contract.parameters import parse_body

    return parse_body


def _kind_of_work(route: str, params: dict) -> str:
    if route == "health":
        return "health"
    if route in ("history", "limits"):
        return "read"
    if route != "cutouts" or not params:
        return "lookup"
    fmt = params.get("return_type", params.get("output-format"))
    return "render" if isinstance(fmt, str) and fmt.upper() == "PNG" else "read"


def _lasting(route: str, params: dict, api) -> bool:
    """Whether a reply never changes: the parameter list; the document once the survey is known."""
    if route == "cutouts":
        return not params
    return route == "openapi.json" and api.known_survey() is not None


def keep_signal_handlers() -> None:
    """Install again the Python handlers of SIGINT, SIGTERM and SIGHUP (main thread only)."""
    import signal

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(number)
        if handler is not None:
            signal.signal(number, handler)
