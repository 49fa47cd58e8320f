"""A real JupyterHub on loopback, started with the shipped jupyter-config/jupyterhub_config.py.

Used by tests/integration/test_jupyterhub.py and benchmarks/hub.py. The hub runs in its own
directory (database, cookie secret, proxy PID file, users' homes); every process it starts is
found by PID from ``/proc`` and must be gone once the hub is stopped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from support.servers import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
HUB_CONFIG = REPOSITORY / "jupyter-config" / "jupyterhub_config.py"
PASSWORD = "fink-hub-test"
SERVICE = "fink-cutouts"


def missing_pieces() -> list[str]:
    """What a hub needs that this machine lacks (the proxy comes from npm)."""
    missing = []
    if shutil.which("configurable-http-proxy") is None:
        missing.append("configurable-http-proxy (npm install -g configurable-http-proxy)")
    if shutil.which("jupyterhub") is None or shutil.which("jupyterhub-singleuser") is None:
        missing.append("jupyterhub (pip install 'fink-cutout-jupyter[hub]')")
    return missing


@dataclass
class Hub:
    """A running hub: its public URL (the proxy), its log, and how to reach its pieces."""

    directory: Path
    lake: str
    url: str
    hub_api: str
    service_port: int
    process: subprocess.Popen
    started_seconds: float
    log_file: object = None
    proxy_api: str = ""
    proxy_token: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    service: str = SERVICE  # the name of the hub service serving cutouts

    @property
    def log(self) -> str:
        return (self.directory / "hub.log").read_text(errors="replace")

    def home(self, user: str) -> Path:
        return self.directory / "home" / user

    def login(self, user: str) -> requests.Session:
        """A browser-like session logged in at /hub/login (cookies, _xsrf)."""
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=30).raise_for_status()
        reply = session.post(
            f"{self.url}/hub/login",
            data={"username": user, "password": PASSWORD, "_xsrf": session.cookies["_xsrf"]},
            allow_redirects=False,
            timeout=30,
        )
        assert reply.status_code == 302, f"login of {user}: HTTP {reply.status_code}"
        return session

    def new_token(self, user: str, scopes: list[str] | None = None, note: str = "test") -> str:
        """A token of `user`, asked for as the user does (logged-in session, hub API)."""
        session = self.login(user)
        body = {"note": note, **({"scopes": scopes} if scopes is not None else {})}
        reply = session.post(
            f"{self.url}/hub/api/users/{user}/tokens",
            json=body,
            headers={"X-XSRFToken": session.cookies["_xsrf"]},
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()["token"]

    def token(self, user: str) -> str:
        """The user's default token (every scope the user has), made once."""
        if user not in self.tokens:
            self.tokens[user] = self.new_token(user)
        return self.tokens[user]

    def start_server(self, user: str, seconds: float = 120) -> None:
        """Start the user's server through the hub's API and wait until it is ready."""
        headers = {"Authorization": f"token {self.token(user)}"}
        reply = requests.post(f"{self.url}/hub/api/users/{user}/server", headers=headers)
        assert reply.status_code in (201, 202, 400), reply.text  # 400: already running
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            model = requests.get(f"{self.url}/hub/api/users/{user}", headers=headers).json()
            server = model["servers"].get("")
            if server and server["ready"]:
                return
            time.sleep(0.2)
        raise AssertionError(f"{user}'s server was not ready within {seconds} s:\n{self.log}")

    def direct_url(self, prefix: str) -> str:
        """Where the proxy sends `prefix` (e.g. ``/user/alice``): the server itself."""
        reply = requests.get(
            f"{self.proxy_api}/api/routes", headers={"Authorization": f"token {self.proxy_token}"}
        )
        reply.raise_for_status()
        return reply.json()[prefix.rstrip("/")]["target"]

    def api_calls(self, path: str = "/hub/api/user") -> int:
        """Requests the hub logged for `path` (its access log: one line per request)."""
        return sum(f" GET {path} (" in line for line in self.log.splitlines())

    def processes(self) -> dict[int, str]:
        """Every live process started for this hub: proxy, service, users' servers and kernels."""
        found = {}
        mark = str(self.directory)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                where = os.readlink(entry / "cwd")
                environment = (entry / "environ").read_bytes()
            except OSError:
                continue
            if mark in command or where.startswith(mark) or mark.encode() in environment:
                found[int(entry.name)] = command.strip()
        return found

    def service_pids(self) -> list[int]:
        return [pid for pid, command in self.processes().items() if "--jupyterhub" in command]

    def stop(self, seconds: float = 60) -> int:
        """SIGTERM to the hub, as systemd or a container runtime stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds)
        finally:
            if self.log_file is not None:
                self.log_file.close()

    def kill_leftovers(self) -> dict[int, str]:
        """Kill (by PID) whatever outlived the hub; returns what that was."""
        left = self.processes()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left


def start_hub(directory: Path, lake: str, seconds: float = 120) -> Hub:
    """Start ``jupyterhub -f jupyter-config/jupyterhub_config.py`` in `directory`, on loopback.

    Only addresses, the users' homes and the test password are given on top of the shipped file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    proxy_token = secrets.token_hex(16)
    port, hub_port, proxy_api_port, service_port = (free_port() for _ in range(4))
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTERHUB_", "FINK_CUTOUTS_", "JPY_"))
    }
    environment |= {
        "FINK_CUTOUTS_LAKE": lake,
        "FINK_CUTOUTS_SERVICE_PORT": str(service_port),
        "FINK_HUB_PASSWORD": PASSWORD,
        "FINK_HUB_MARK": str(directory),
        "CONFIGPROXY_AUTH_TOKEN": proxy_token,
        "PYTHONUNBUFFERED": "1",  # lets `processes` find every child by its environment
        "JUPYTER_CONFIG_DIR": str(directory / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(directory / "runtime"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterhub",
        "-f",
        str(HUB_CONFIG),
        f"--JupyterHub.bind_url=http://127.0.0.1:{port}",
        f"--JupyterHub.hub_bind_url=http://127.0.0.1:{hub_port}",
        f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{proxy_api_port}",
        f"--SimpleLocalProcessSpawner.home_dir_template={directory}/home/{{username}}",
    ]
    log = (directory / "hub.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=directory, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    hub = Hub(
        directory,
        lake,
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{hub_port}/hub/api",
        service_port,
        process,
        0.0,
        log,
        f"http://127.0.0.1:{proxy_api_port}",
        proxy_token,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the hub exited with {process.returncode}:\n{hub.log}")
        try:
            service = requests.get(f"{hub.url}/services/{SERVICE}/api/v1/openapi.json", timeout=5)
            hub_up = requests.get(f"{hub.url}/hub/api", timeout=5)
        except requests.ConnectionError:
            service = hub_up = None
        if hub_up is not None and hub_up.status_code == 200 and service.status_code == 403:
            hub.started_seconds = time.perf_counter() - started
            return hub
        time.sleep(0.1)
    hub.stop()
    hub.kill_leftovers()
    raise AssertionError(f"the hub did not answer within {seconds} s:\n{hub.log}")
