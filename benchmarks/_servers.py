"""The servers the benchmarks start: a free port, the two doors as real processes, waiting.

One implementation for the tests and the benchmarks: this module puts ``tests/`` on the path
and builds on ``tests/support/servers.py`` (the tests start the doors the same way).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.servers import (
    free_port,
    start_jupyter_server,
    start_service,
    wait_for_http,
)

__all__ = [
    "free_port",
    "jupyter_server",
    "jupyterhub",
    "serving",
    "start_service",
    "wait_for_http",
]


def _stopped(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


@contextlib.contextmanager
def serving(
    lake: str, *options: str, port: int | None = None, **popen
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`fink-cutouts serve` on `lake` (extra command-line `options`) on `port` (a free one by
    default), answering: its base URL (ending in ``/``) and its process; stopped on leaving."""
    port = port or free_port()
    process = start_service(lake, port, *options, **popen)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(f"{url}api/v1/openapi.json", seconds=120)
        yield url, process
    finally:
        _stopped(process)


@contextlib.contextmanager
def jupyter_server(
    lake: str,
    root: Path,
    *options: str,
    token: str,
    base_url: str = "/",
    application: str = "server",
    **popen,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`jupyter server` (or ``lab``) with the extension on `lake`, serving `root`, on a free
    port, answering: its base URL (``http://127.0.0.1:PORT{base_url}``) and its process."""
    port = free_port()
    process = start_jupyter_server(
        lake, port, root, base_url, token, options=options, application=application, **popen
    )
    url = f"http://127.0.0.1:{port}{base_url}"
    try:
        wait_for_http(f"{url}api/status?token={token}", seconds=120)
        yield url, process
    finally:
        _stopped(process)


@contextlib.contextmanager
def jupyterhub(directory: Path, lake: str) -> Iterator:
    """A real JupyterHub with the shipped config on `lake`, answering (``support.hub.Hub``);
    stopped on leaving, with whatever outlived it killed."""
    from support.hub import start_hub

    hub = start_hub(directory, lake)
    try:
        yield hub
    finally:
        hub.stop()
        hub.kill_leftovers()
