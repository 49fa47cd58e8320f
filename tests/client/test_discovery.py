"""Where a client without url or lake looks, and which token goes where
(client/discovery.py)."""

import io
import os

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
