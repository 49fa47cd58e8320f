"""What both HTTP doors share: the API built on first use, answered in a bounded thread pool.

Importing this module is cheap (standard library only): pyarrow, astropy, numpy and the API load
in a worker thread on the first request, so a Jupyter server starts as fast as without us.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

NO_LAKE = (
    "no lake configured: set FINK_CUTOUTS_LAKE (a directory, hdfs:// or s3:// URI) or "
    "c.FinkCutoutsApp.lake in jupyter_server_config.py, or pass --lake to fink-cutouts serve"
)


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
        Threads reading the lake; at most this many reads run at once.
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
        self.executor = ThreadPoolExecutor(
            max_workers=max(1, workers), thread_name_prefix="fink-cutouts"
        )
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
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.executor, self._answer, route, params, body, if_none_match)
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.timeout)
        except TimeoutError:
            from .api import error_reply

            return error_reply(503, f"the lake did not answer within {self.timeout:g} s; try again")

    def close(self) -> None:
        """Stop the thread pool (running reads finish)."""
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _answer(self, route: str, params, body, if_none_match):
        from .api import error_reply, parse_body
        from .errors import CutoutError

        if body is not None:
            try:
                params = parse_body(body)
            except CutoutError as error:
                return error_reply(error.status, str(error))
        api = self._get_api()
        if api is None:
            return error_reply(503, NO_LAKE)
        return api.handle(route, params or {}, if_none_match, body=body is not None)

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
