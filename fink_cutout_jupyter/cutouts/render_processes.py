"""PNG renders in worker processes, so that a render never holds the server's GIL.

A render (smoothing, zscale, stretch, colormap, PNG encoding) is a few milliseconds of Python
and numpy holding the GIL. Run in a door's threads, a flood of renders kept the event loop
waiting for the GIL, and cheap routes (the OpenAPI document, a health probe) waited behind
them. The doors' render threads read the stamps as before, then hand the pixels to one of these
processes and wait for the PNG bytes without holding the GIL.

The processes are started on the first render (``spawn``: safe beside the event loop's threads
and an HDFS client's JVM), import `render` and what it needs, and run at a lower priority
(`NICENESS`), so that the server's own process wins the CPU whenever it has a request to
answer. Until the first of them is ready (about a second: numpy, astropy, matplotlib), renders
are done in the calling thread, so that the first PNGs do not wait for them. (``spawn`` also
imports the parent's main script: under ``jupyter server``, jupyter_server's launcher, about
40 MB more per worker.)

Their queue is the door's render pool (`doors.APIRunner`): each render thread waits for one
render, so at most as many renders as processes are ever queued here. A worker that dies
(killed, out of memory) is replaced on the next render. Workers that die before their first
render (they cannot start here) are started again only after a pause, doubled each time from
`RESTART_PAUSE_SECONDS` up to `MAX_RESTART_PAUSE_SECONDS`; renders are done in threads meanwhile.

Importing this module is cheap (standard library only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

NICENESS = 10  # added to the workers' niceness: renders yield the CPU to the server
ENVIRONMENT = "FINK_CUTOUTS_RENDER_PROCESSES"
RESTART_PAUSE_SECONDS = 1.0  # the first pause after workers died before rendering anything
MAX_RESTART_PAUSE_SECONDS = 60.0

logger = logging.getLogger(__name__)

_serving = threading.local()


def default_processes() -> int:
    """``$FINK_CUTOUTS_RENDER_PROCESSES`` if set (0: render in threads), else up to 2, one per
    CPU. A value that is not a whole number is ignored with a warning naming it."""
    default = min(2, os.cpu_count() or 1)
    configured = os.environ.get(ENVIRONMENT, "").strip()
    if not configured:
        return default
    try:
        return max(0, int(configured))
    except ValueError:
        logger.warning(
            "%s=%r is not a whole number (0: render in threads): using %d render processes",
            ENVIRONMENT,
            configured[:40],
            default,
        )
        return default


class RenderProcesses:
    """A bounded pool of render processes, started on first use.

    Parameters
    ----------
    processes : int
        How many processes render at once.
    """

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None
        self._ready = threading.Event()  # the current executor's workers can render
        self._lock = threading.Lock()
        self._closed = False
        self.unavailable: str | None = None  # why processes cannot start here: render in threads
        self._rendered = False  # the current executor has rendered (its workers started)
        self._pause = 0.0  # before starting workers again after some died before rendering
        self._start_after = 0.0  # time.monotonic() before which renders stay in threads

    def render(self, function: Callable[..., bytes], *args: Any) -> bytes:
        """``function(*args)`` in a render process (a broken pool is replaced, once); in this
        thread while the processes are starting, or if they cannot start."""
        from fink_cutout_jupyter.errors import LakeUnavailable

        for attempt in range(2):
            executor, ready = self._executor_in_use()
            if executor is None or not ready.is_set():
                return function(*args)
            try:
                result = executor.submit(function, *args).result()
            except BrokenProcessPool:
                self._replace(executor)
                if attempt:
                    raise LakeUnavailable(
                        "return_type: the PNG renderer stopped twice; try again"
                    ) from None
            else:
                if self._executor is executor:
                    self._rendered = True
                return result
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Within this block, this thread's `render.stamps_png` calls render here."""
        _serving.processes = self
        try:
            yield
        finally:
            _serving.processes = None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start the processes if need be and wait until they render; whether they do."""
        return self._executor_in_use()[1].wait(timeout)

    def pids(self) -> list[int]:
        """Process ids of the running workers (none before the first render)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(processes)

    def close(self) -> None:
        """Stop the workers (renders running finish; no new one starts)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _executor_in_use(self) -> tuple[ProcessPoolExecutor | None, threading.Event]:
        with self._lock:
            if self._closed:
                from fink_cutout_jupyter.errors import LakeUnavailable

                raise LakeUnavailable("return_type: the server is stopping; try again")
            if (
                self._executor is None
                and self.unavailable is None
                and time.monotonic() >= self._start_after
            ):
                import multiprocessing

                executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                )
                ready = threading.Event()
                try:
                    executor.submit(int).add_done_callback(lambda _: ready.set())
                except (RuntimeError, OSError) as error:
                    # e.g. spawn refuses a main script that starts a server without
                    # ``if __name__ == "__main__"``, or the process limit is reached.
                    self.unavailable = str(error).strip().splitlines()[0]
                    logger.warning(
                        "PNG renders stay in threads: render processes cannot start (%s)",
                        self.unavailable,
                    )
                    executor.shutdown(wait=False, cancel_futures=True)
                else:
                    self._executor, self._ready, self._rendered = executor, ready, False
            return self._executor, self._ready

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Forget a broken pool: the next render starts another, at once if it had rendered,
        else after a pause (doubled each time its successors die before rendering too)."""
        with self._lock:
            if self._executor is broken:
                self._executor = None
                self.restarts += 1
                if self._rendered:
                    self._pause = 0.0
                else:
                    self._pause = min(
                        max(2 * self._pause, RESTART_PAUSE_SECONDS), MAX_RESTART_PAUSE_SECONDS
                    )
                    self._start_after = time.monotonic() + self._pause
                    logger.warning(
                        "render processes died before their first render: PNG renders in "
                        "threads for %.0f s before starting them again",
                        self._pause,
                    )
                from fink_cutout_jupyter import metrics

                metrics.add("render_process_restarts")
        broken.shutdown(wait=False, cancel_futures=True)


def current() -> RenderProcesses | None:
    """The render processes this thread renders in, if it serves a door's PNG requests."""
    return getattr(_serving, "processes", None)


def _start_worker() -> None:
    """Lower the worker's priority and load what a render needs before the first one."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    import numpy as np

    from fink_cutout_jupyter.cutouts.render import RenderOptions, render_stamps_png

    render_stamps_png([np.zeros((4, 4))], RenderOptions(convolution_kernel="gauss"))
