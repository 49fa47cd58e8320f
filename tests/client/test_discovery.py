"""Where a client without url or lake looks, and which token goes where
(client/discovery.py)."""

import io
import json
import os
import urllib.request
import uuid

import pytest
from astropy.io import fits
from support.servers import free_port, start_jupyter_server, wait_for_http

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError, discover
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

DISCOVERY_VARIABLES = (
    "FINK_CUTOUTS_URL",
    "FINK_CUTOUTS_TOKEN",
    "FINK_CUTOUTS_LAKE",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_API_TOKEN",
    "JPY_PARENT_PID",
)


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in DISCOVERY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


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


def test_discovery_finds_this_kernels_jupyter_server(clean_environment, demo, tmp_path):
    port = free_port()
    server = start_jupyter_server(str(demo.root), port, tmp_path, token="kernel-test")
    try:
        wait_for_http(
            f"http://127.0.0.1:{port}/api/v1/openapi.json", {"Authorization": "token kernel-test"}
        )
        with pytest.raises(CutoutClientError, match="no cutout server or lake found"):
            CutoutClient()  # a server that did not start this kernel is not this kernel's
        os.environ["JPY_PARENT_PID"] = str(server.pid + 1_000_000)
        with pytest.raises(CutoutClientError, match="no cutout server or lake found"):
            CutoutClient()
        os.environ["JPY_PARENT_PID"] = str(server.pid)
        client = CutoutClient()
        assert repr(client) == f"CutoutClient(server http://localhost:{port}/)"
        latest = client.stamps(DEMO_OBJECT_ID)
        with fits.open(
            io.BytesIO(latest["Science"].fits_bytes), ignore_missing_simple=True
        ) as hdul:
            assert hdul[0].data.shape == (63, 63)
    finally:
        os.environ.pop("JPY_PARENT_PID", None)
        server.terminate()
        server.wait(timeout=30)


def client_in_kernel(kernel) -> str:
    """What ``print(CutoutClient())`` prints in a running kernel (`kernel`: a KernelClient)."""
    printed: list[str] = []

    def output(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))

    kernel.wait_for_ready(timeout=60)
    code = "from fink_cutout_jupyter import CutoutClient\nprint(CutoutClient())"
    kernel.execute_interactive(code, timeout=60, output_hook=output)
    return "".join(printed).strip()


def test_a_kernel_takes_its_parents_server_only_if_the_server_runs_it(
    clean_environment, demo, tmp_path
):
    """A kernel of the server finds it; a kernel whose parent has the process id of a server
    that died (its jpserver file left, naming the address another server now has: a container's
    first process, a reused id) reads FINK_CUTOUTS_LAKE, not that other server's lake."""
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.manager import KernelManager

    runtime = tmp_path / "runtime"
    port = free_port()
    server = start_jupyter_server(str(demo.root), port, tmp_path, token="kernel-test")
    headers = {"Authorization": "token kernel-test"}
    base = f"http://127.0.0.1:{port}"
    orphan = None
    try:
        wait_for_http(f"{base}/api/v1/openapi.json", headers)
        request = urllib.request.Request(f"{base}/api/kernels", b"{}", headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            kernel_id = json.loads(response.read())["id"]
        of_the_server = BlockingKernelClient()
        of_the_server.load_connection_file(str(runtime / f"kernel-{kernel_id}.json"))
        of_the_server.start_channels()
        try:
            assert (
                client_in_kernel(of_the_server) == f"CutoutClient(server http://localhost:{port}/)"
            )
        finally:
            of_the_server.stop_channels()

        # This process plays the kernel's parent; the dead server's file bears its process id.
        stale = json.loads((runtime / f"jpserver-{server.pid}.json").read_text())
        (runtime / f"jpserver-{os.getpid()}.json").write_text(json.dumps(stale))
        environment = {**os.environ, "FINK_CUTOUTS_LAKE": str(demo.root)}
        # Named as Voilà and Jupyter servers name their kernels' files: kernel-<id>.json.
        connection = tmp_path / f"kernel-{uuid.uuid4()}.json"
        orphan = KernelManager(kernel_name="python3", connection_file=str(connection))
        orphan.start_kernel(env=environment)
        of_this_process = orphan.client()
        of_this_process.start_channels()
        try:
            printed = client_in_kernel(of_this_process)
        finally:
            of_this_process.stop_channels()
        assert printed == f"CutoutClient(lake {demo.root} (in-process))"
    finally:
        if orphan is not None:
            orphan.shutdown_kernel(now=True)
        server.terminate()
        server.wait(timeout=30)
