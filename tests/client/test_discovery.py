"""Where a client without url or lake looks, and which token goes where
(client/discovery.py).

A kernel's own Jupyter server (``JPY_PARENT_PID`` -> ``jpserver-<pid>.json``) gets the file's
token only from a kernel that server runs, at the address of the socket its process listens on:
real kernels, real servers, and listeners that record what reaches them.
"""

import base64
import contextlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from astropy.io import fits
from support.servers import free_port, start_jupyter_server, wait_for_http

from fink_cutout_jupyter.client import CutoutClientError, discover
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

DISCOVERY_VARIABLES = (
    "FINK_CUTOUTS_URL",
    "FINK_CUTOUTS_TOKEN",
    "FINK_CUTOUTS_LAKE",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_API_TOKEN",
    "JPY_PARENT_PID",
)
SECRET = "a-token-that-must-stay-home"
PRINT_CLIENT = "from fink_cutout_jupyter import CutoutClient\nprint(CutoutClient())"
RECORDER = """
import http.server, sys
log = open(sys.argv[1], "a", buffering=1)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(f"{self.path} {self.headers.get('Authorization')}\\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in DISCOVERY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


class RecordingServer(http.server.ThreadingHTTPServer):
    """An HTTP server in this process that records each request's path and Authorization
    header and answers 200 with ``{}``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[tuple[str, str | None]] = []
        recorded = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                recorded.append((self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        super().__init__((host, 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def start_recording_process(log: Path) -> tuple[subprocess.Popen, int]:
    """A listener in another process that records each request's path and Authorization
    header in `log` and answers 200; returns it and its port."""
    log.touch()
    process = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(log)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    with process.stdout:
        port = int(process.stdout.readline())
    return process, port


def write_server_file(runtime: Path, pid: int, url: str, token: str) -> None:
    """A ``jpserver-<pid>.json`` as jupyter_server writes it, naming `url`."""
    runtime.mkdir(parents=True, exist_ok=True)
    info = {"url": url, "token": token, "pid": pid, "port": urllib.parse.urlsplit(url).port}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))


@contextlib.contextmanager
def kernel_of_this_process(tmp_path: Path, environment: dict[str, str]):
    """A kernel started by this process (its JPY_PARENT_PID this process's id), its connection
    file named as Jupyter servers and Voilà name theirs (``kernel-<id>.json``): yields its
    BlockingKernelClient."""
    from jupyter_client.manager import KernelManager

    connection = tmp_path / f"kernel-{uuid.uuid4()}.json"
    manager = KernelManager(kernel_name="python3", connection_file=str(connection))
    manager.start_kernel(env=environment)
    try:
        client = manager.client()
        client.start_channels()
        try:
            yield client
        finally:
            client.stop_channels()
    finally:
        manager.shutdown_kernel(now=True)


def run_in_kernel(kernel, code: str) -> tuple[str, str]:
    """What `code` prints in a running kernel (`kernel`: a KernelClient): its standard output
    (stripped), then its standard error and any traceback."""
    printed: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def output(message):
        if message["msg_type"] == "stream":
            printed[message["content"]["name"]].append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed["stderr"].append("\n".join(message["content"]["traceback"]))

    kernel.wait_for_ready(timeout=60)
    kernel.execute_interactive(code, timeout=60, output_hook=output)
    return "".join(printed["stdout"]).strip(), "".join(printed["stderr"])


def test_discovery_order(clean_environment, monkeypatch, demo, served_demo):
    with pytest.raises(CutoutClientError, match="no cutout server or lake found"):
        discover()
    monkeypatch.setenv("FINK_CUTOUTS_LAKE", str(demo.root))
    assert "in-process" in repr(discover())
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:1/user/astro/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    hub = discover()
    assert repr(hub) == "server http://127.0.0.1:1/user/astro/"
    assert hub.headers == {"Authorization": "token hub-token"}
    monkeypatch.setenv("FINK_CUTOUTS_URL", served_demo)
    assert repr(discover()) == f"server {served_demo}"
    assert discover().headers == {"Authorization": "token hub-token"}, "the admin's URL"
    monkeypatch.setenv("FINK_CUTOUTS_TOKEN", "service-token")
    assert discover().headers == {"Authorization": "token service-token"}
    assert repr(discover(lake=str(demo.root))).startswith("lake ")
    passed = discover(url="http://example.invalid/x")
    assert repr(passed) == "server http://example.invalid/x/"
    monkeypatch.delenv("FINK_CUTOUTS_TOKEN")
    assert discover(url="http://example.invalid/x").headers == {}, "never the hub token"


def test_a_process_that_is_no_kernel_never_sends_the_token_of_its_parents_file(
    clean_environment, demo, tmp_path
):
    """A plain Python script (as a kernel's subprocess, a helper Voilà starts) that inherited
    JPY_PARENT_PID: the parent's jpserver file names a listener of the parent's that answers
    everything with 200; the script reads FINK_CUTOUTS_LAKE and the listener receives nothing
    (it received the file's token, asked for /api/v1/openapi.json). This test process is no
    kernel either: a real Jupyter server it is the parent of is not asked."""
    recording = RecordingServer()
    port = free_port()
    server = start_jupyter_server(str(demo.root), port, tmp_path, token="kernel-test")
    try:
        url = f"http://127.0.0.1:{recording.server_address[1]}/"
        write_server_file(tmp_path / "runtime", os.getpid(), url, SECRET)
        environment = {**os.environ, "JPY_PARENT_PID": str(os.getpid())}
        environment["FINK_CUTOUTS_LAKE"] = str(demo.root)
        done = subprocess.run(
            [sys.executable, "-c", PRINT_CLIENT],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"CutoutClient(lake {demo.root} (in-process))"
        assert recording.requests == []
        assert SECRET not in done.stderr

        wait_for_http(
            f"http://127.0.0.1:{port}/api/v1/openapi.json", {"Authorization": "token kernel-test"}
        )
        os.environ["JPY_PARENT_PID"] = str(server.pid)
        with pytest.raises(CutoutClientError, match="no cutout server or lake found"):
            discover()
    finally:
        os.environ.pop("JPY_PARENT_PID", None)
        recording.stop()
        server.terminate()
        server.wait(timeout=30)


def test_the_files_address_is_kept_to_the_parents_own_listening_socket(tmp_path):
    """On Linux, the file's port must be one its process listens on (this one, here); the token
    then goes to that socket on this machine: a remote host's name becomes the loopback address
    of a server on all interfaces. A port another process holds is refused."""
    from fink_cutout_jupyter.client.discovery import home_url

    everywhere = RecordingServer("0.0.0.0")
    foreign, foreign_port = start_recording_process(tmp_path / "foreign.log")
    try:
        port = everywhere.server_address[1]
        assert home_url(f"http://localhost:{port}/base/", os.getpid()) == (
            f"http://localhost:{port}/base/",
            "",
        )
        assert home_url(f"http://remote.example.org:{port}/base/", os.getpid()) == (
            f"http://127.0.0.1:{port}/base/",
            "",
        )
        url, why = home_url(f"http://127.0.0.1:{foreign_port}/", os.getpid())
        assert url is None
        assert f"process {os.getpid()} does not listen on port {foreign_port}" in why
        url, why = home_url(f"http://127.0.0.1:{port}/", foreign.pid)
        assert url is None
        assert f"does not listen on port {port}" in why
        assert everywhere.requests == []
    finally:
        everywhere.stop()
        foreign.terminate()
        foreign.wait(timeout=30)


def test_a_kernel_sends_nothing_to_a_port_its_parent_does_not_hold(
    clean_environment, demo, tmp_path
):
    """A kernel whose parent's jpserver file is a dead server's, naming a port another process
    now listens on: that process receives nothing (it received the file's token, asked whether
    it runs the kernel), and the kernel reads FINK_CUTOUTS_LAKE."""
    log = tmp_path / "foreign.log"
    foreign, port = start_recording_process(log)
    try:
        write_server_file(tmp_path / "runtime", os.getpid(), f"http://127.0.0.1:{port}/", SECRET)
        environment = {**os.environ, "FINK_CUTOUTS_LAKE": str(demo.root)}
        with kernel_of_this_process(tmp_path, environment) as kernel:
            printed, errors = run_in_kernel(kernel, PRINT_CLIENT)
        assert printed == f"CutoutClient(lake {demo.root} (in-process))", errors
        assert log.read_text() == ""
    finally:
        foreign.terminate()
        foreign.wait(timeout=30)


def test_a_server_that_never_answers_is_left_within_the_discovery_bound(
    clean_environment, demo, tmp_path
):
    """The kernel's parent (this process) holds a socket that accepts connections and never
    answers, named by its jpserver file: the kernel gives up within DISCOVERY_SECONDS (2 s; it
    waited 5 s), says why in a warning without the token, and reads FINK_CUTOUTS_LAKE."""
    from fink_cutout_jupyter.client.discovery import DISCOVERY_SECONDS

    assert DISCOVERY_SECONDS <= 2
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept_and_hold():
        with contextlib.suppress(OSError):
            while True:
                held.append(silent.accept()[0])

    threading.Thread(target=accept_and_hold, daemon=True).start()
    port = silent.getsockname()[1]
    try:
        write_server_file(tmp_path / "runtime", os.getpid(), f"http://127.0.0.1:{port}/", SECRET)
        environment = {**os.environ, "FINK_CUTOUTS_LAKE": str(demo.root)}
        code = (
            "import io, logging, time\nfrom fink_cutout_jupyter import CutoutClient\n"
            "said = io.StringIO()\n"
            "logging.getLogger('fink_cutout_jupyter').addHandler(logging.StreamHandler(said))\n"
            "started = time.monotonic()\nclient = CutoutClient()\n"
            "print(f'{time.monotonic() - started:.3f}', client)\nprint(said.getvalue())"
        )
        with kernel_of_this_process(tmp_path, environment) as kernel:
            printed, errors = run_in_kernel(kernel, code)
        outcome, said = printed.split("\n", 1)
        elapsed, client = outcome.split(" ", 1)
        assert client == f"CutoutClient(lake {demo.root} (in-process))", errors
        assert float(elapsed) < 4, "bounded by DISCOVERY_SECONDS, with room for a loaded machine"
        assert held, "the kernel did connect"
        assert said == (
            f"this kernel's Jupyter server http://127.0.0.1:{port}/ did not answer within 2 s: "
            "not used; reading the lake in FINK_CUTOUTS_LAKE"
        )
        assert SECRET not in printed + errors
    finally:
        silent.close()
        for connection in held:
            connection.close()


def test_a_kernel_takes_its_parents_server_only_if_the_server_runs_it(
    clean_environment, demo, tmp_path
):
    """A kernel of the server finds it and reads stamps through it; a kernel whose parent has
    the process id of a server that died (its jpserver file left, naming the address another
    server now has: a container's first process, a reused id) reads FINK_CUTOUTS_LAKE, not that
    other server's lake."""
    from jupyter_client.blocking import BlockingKernelClient

    runtime = tmp_path / "runtime"
    port = free_port()
    server = start_jupyter_server(str(demo.root), port, tmp_path, token="kernel-test")
    headers = {"Authorization": "token kernel-test"}
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/api/v1/openapi.json", headers)
        request = urllib.request.Request(f"{base}/api/kernels", b"{}", headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            kernel_id = json.loads(response.read())["id"]
        of_the_server = BlockingKernelClient()
        of_the_server.load_connection_file(str(runtime / f"kernel-{kernel_id}.json"))
        of_the_server.start_channels()
        code = (
            f"{PRINT_CLIENT}\nimport base64\n"
            f"print(base64.b64encode(CutoutClient().stamps({DEMO_OBJECT_ID!r})"
            "['Science'].fits_bytes).decode())"
        )
        try:
            printed, errors = run_in_kernel(of_the_server, code)
        finally:
            of_the_server.stop_channels()
        found, stamp = printed.split("\n")
        assert found == f"CutoutClient(server http://localhost:{port}/)", errors
        with fits.open(io.BytesIO(base64.b64decode(stamp)), ignore_missing_simple=True) as hdul:
            assert hdul[0].data.shape == (63, 63)

        # This process plays the kernel's parent; the dead server's file bears its process id.
        stale = json.loads((runtime / f"jpserver-{server.pid}.json").read_text())
        (runtime / f"jpserver-{os.getpid()}.json").write_text(json.dumps(stale))
        environment = {**os.environ, "FINK_CUTOUTS_LAKE": str(demo.root)}
        with kernel_of_this_process(tmp_path, environment) as kernel:
            printed, errors = run_in_kernel(kernel, PRINT_CLIENT)
        assert printed == f"CutoutClient(lake {demo.root} (in-process))", errors
    finally:
        server.terminate()
        server.wait(timeout=30)
