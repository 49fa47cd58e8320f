"""Real servers for the tests and the benchmarks: free ports, waiting for HTTP, the two doors
started as processes (``fink-cutouts serve`` and ``jupyter server`` with the extension)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A TCP port free on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, headers: dict | None = None, seconds: float = 60) -> None:
    """Wait until `url` answers 200, or fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers or {}), timeout=5
            ):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url} within {seconds} s")


@contextlib.contextmanager
def served(lake: str, port: int | None = None) -> Iterator[str]:
    """`fink-cutouts serve` on `lake` (on `port`, or a free one) while the block runs: its URL."""
    port = port or free_port()
    process = start_service(lake, port)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(f"{url}api/v1/openapi.json")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def start_service(lake: str, port: int, *options: str, **popen):
    """Start `fink-cutouts serve` on `lake` as a real process (output discarded by default)."""
    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "serve", "--lake", lake]
    return subprocess.Popen([*command, "--port", str(port), *options], **popen)


def start_jupyter_server(
    lake: str,
    port: int,
    root: Path,
    base_url: str = "/",
    token: str = "test-token",
    science_dir: str = "science",
    options: tuple[str, ...] = (),
    application: str = "server",
    **popen,
):
    """Start `jupyter server` (or another `application`: ``lab``) with the extension on `lake`
    as a real process, with extra command-line `options`."""
    environment = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / "config")}
    popen = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "env": environment,
        **popen,
    }
    command = [
        sys.executable,
        "-m",
        "jupyter",
        application,
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.base_url={base_url}",
        f"--FinkCutoutsApp.lake={lake}",
        f"--FinkCutoutsApp.science_dir={science_dir}",
        "--ServerApp.jpserver_extensions={'fink_cutout_jupyter': True}",
        *options,
    ]
    return subprocess.Popen(command, **popen)
