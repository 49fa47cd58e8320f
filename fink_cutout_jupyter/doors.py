"""What both HTTP doors share: the API built on first use, answered in bounded thread pools.

Importing this module is cheap (standard library only): pyarrow, astropy, numpy and the API load
in a worker thread on the first request, so a Jupyter server starts as fast as without us.

Work is split by kind so that one kind cannot starve another: stamp reads (array, FITS), PNG
renders, and lookups (alerts, the parameter list, the OpenAPI document) each have their own
threads and a bounded queue. A request whose queue is full is answered 503 with ``Retry-After``
at once. The parameter list, and the OpenAPI document once the lake's survey is known, are
answered from memory on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

NO_LAKE = (
    "no lake configured: set FINK_CUTOUTS_LAKE (a directory, hdfs:// or s3:// URI) or "
    "c.FinkCutoutsApp.lake in jupyter_server_config.py, or pass --lake to fink-cutouts serve"
)
QUEUED_PER_THREAD = 16  # requests held per thread of a pool before a 503 (Retry-After)
RETRY_AFTER_SECONDS = 1


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
    lake : str
        Lake root URI or directory ("" when none is configured: every request answers 503).
    index : str
        Index root ("" for ``_cutout_index`` inside the lake).
    survey : str
        ``ztf``, ``lsst`` or "" to recognise it from the data.
    science_dir : str
        Directory of the nights under the lake root.
    workers : int
        Threads reading stamps (at most this many reads at once); PNG renders get a quarter as
        many, lookups two. Each pool holds at most `QUEUED_PER_THREAD` requests per thread.
    timeout : float
        Seconds a request may wait for the lake before it is answered 503 (the read itself goes
        on in its thread: a filesystem call cannot be interrupted).
    base_url : str
        Where the door serves /api/v1 (the OpenAPI document's ``servers`` entry).
    """

    def __init__(
        self,
        lake: str,
        index: str = "",
        survey: str = "",
        science_dir: str = "science",
        workers: int = 4,
        timeout: float = 60.0,
        base_url: str = "/",
    ) -> None:
        self.settings = {"lake": lake, "index": index, "survey": survey, "science_dir": science_dir}
        self.base_url = base_url
        self.timeout = timeout
        sizes = {"read": max(1, workers), "render": max(1, workers // 4), "lookup": 2}
        self.pools = {
            name: _Pool(
                ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"fink-cutouts-{name}"),
                size * QUEUED_PER_THREAD,
            )
            for name, size in sizes.items()
        }
        self._memory: dict[tuple[str, bool], Any] = {}  # cached replies: (route, has params)
        self._api = None
        self._lock = threading.Lock()

    async def answer(
        self,
        route: str,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        if_none_match: str | None = None,
    ):
        """The `Reply` to a GET (`params`) or a POST (JSON `body`)."""
        from .api import error_reply
        from .errors import CutoutError
        from .parameters import parse_body

        if body is not None:
            try:
                params = parse_body(body)
            except CutoutError as error:
                return error_reply(error.status, str(error))
        params = params or {}
        remembered = self._memory.get((route, bool(params)))
        if remembered is not None:
            return remembered
        pool = self.pools[_kind_of_work(route, params)]
        if pool.held >= pool.limit:
            reply = error_reply(503, "the server is busy; try again in a second")
            reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return reply
        pool.held += 1
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(
            pool.executor, self._answer, route, params, body is not None, if_none_match
        )
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.timeout)
        except TimeoutError:
            return error_reply(503, f"the lake did not answer within {self.timeout:g} s; try again")
        finally:
            work.add_done_callback(lambda _: self._release(pool))

    @staticmethod
    def _release(pool: _Pool) -> None:
        pool.held -= 1

    def connect(self) -> None:
        """Start a remote lake's client now, in the main thread, and keep this process's signals.

        An HDFS client is a JVM, which takes over SIGINT and SIGTERM when it starts: started in
        a worker thread on the first request, it left servers that ignore SIGTERM (a hub stops
        user servers with it) or die without finishing their requests. Started here, before or
        while the server sets its handlers, and followed by `keep_signal_handlers`, it cannot.
        """
        import logging

        from .errors import CutoutError

        api = self._get_api()
        if api is None or api.lake.is_local:
            return
        try:
            api.lake.filesystem  # noqa: B018 - connecting is the point
        except CutoutError as error:
            logging.getLogger(__name__).warning("the lake is not reachable yet: %s", error)
        keep_signal_handlers()

    def close(self) -> None:
        """Stop the thread pools (running reads finish) and close the lake's open files."""
        for pool in self.pools.values():
            pool.executor.shutdown(wait=False, cancel_futures=True)
        if self._api is not None:
            self._api.close()

    def _answer(self, route: str, params: dict, body: bool, if_none_match):
        from .api import error_reply

        api = self._get_api()
        if api is None:
            return error_reply(503, NO_LAKE)
        reply = api.handle(route, params, if_none_match, body=body)
        if reply.status == 200 and _lasting(route, params, api):
            self._memory[route, bool(params)] = reply
        return reply

    def _get_api(self):
        with self._lock:
            if self._api is None and self.settings["lake"]:
                from .api import CutoutAPI
                from .lake import Lake
                from .surveys import survey_named

                survey = survey_named(self.settings["survey"]) if self.settings["survey"] else None
                lake = Lake(self.settings["lake"], science_dir=self.settings["science_dir"])
                self._api = CutoutAPI(
                    lake, self.settings["index"] or None, survey, base_url=self.base_url
                )
            return self._api


def _kind_of_work(route: str, params: dict) -> str:
    if route == "limits":
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
