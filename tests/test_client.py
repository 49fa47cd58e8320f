import asyncio
import io
import os

import numpy as np
import pytest
from astropy.io import fits
from conftest import free_port, start_jupyter_server, wait_for_http

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError, discover
from fink_cutout_jupyter.demo import DEMO_OBJECT_ID
from fink_cutout_jupyter.surveys import KINDS

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


@pytest.fixture
def both(demo, served_demo):
    return CutoutClient(url=served_demo), CutoutClient(lake=str(demo.root))


def test_http_and_in_process_give_the_same_results(both):
    http, local = both
    assert repr(http).startswith("CutoutClient(server http://127.0.0.1:")
    assert "in-process" in repr(local)
    assert http.alerts(DEMO_OBJECT_ID) == local.alerts(DEMO_OBJECT_ID)
    first = http.alerts(DEMO_OBJECT_ID)[0]["alertId"]
    for kind in KINDS:
        assert http.fits_bytes(DEMO_OBJECT_ID, first, kind) == local.fits_bytes(
            DEMO_OBJECT_ID, first, kind
        )
        np.testing.assert_array_equal(
            http.array(DEMO_OBJECT_ID, first, kind), local.array(DEMO_OBJECT_ID, first, kind)
        )
    assert http.png(DEMO_OBJECT_ID, first, stretch="log") == local.png(
        DEMO_OBJECT_ID, first, stretch="log"
    )


def test_stamps_default_to_the_latest_alert_and_carry_headers(both):
    http, _ = both
    stamps = http.stamps(DEMO_OBJECT_ID)
    latest = http.alerts(DEMO_OBJECT_ID)[-1]["alertId"]
    assert list(stamps) == list(KINDS)
    assert stamps["Science"].fits_bytes == http.fits_bytes(DEMO_OBJECT_ID, latest, "Science")
    assert stamps["Science"].header["BUNIT"] == "DN"
    with http.hdulist(DEMO_OBJECT_ID, latest, "Difference") as hdul:
        np.testing.assert_array_equal(hdul[0].data, stamps["Difference"].data)


def test_async_fetches_the_kinds_concurrently_with_the_same_result(both):
    http, local = both

    async def fetch(client):
        alerts = await client.aalerts(DEMO_OBJECT_ID)
        return alerts, await client.astamps(DEMO_OBJECT_ID, alerts[1]["alertId"])

    for client in (http, local):
        alerts, stamps = asyncio.run(fetch(client))
        assert {k: s.fits_bytes for k, s in stamps.items()} == {
            k: s.fits_bytes for k, s in client.stamps(DEMO_OBJECT_ID, alerts[1]["alertId"]).items()
        }


def test_server_errors_become_exceptions_with_the_message(both):
    for client in both:
        with pytest.raises(CutoutClientError, match="no alert of ZTF99zzzzzzz") as caught:
            client.alerts("ZTF99zzzzzzz")
        assert caught.value.status == 404
        with pytest.raises(CutoutClientError, match="kind: 'Sci' is not allowed") as caught:
            client.fits_bytes(DEMO_OBJECT_ID, kind="Sci")
        assert caught.value.status == 400
        in_process = "(in-process)" in repr(client)
        assert ("(HTTP 400)" in str(caught.value)) != in_process, "only requests made say HTTP"


def test_an_unreachable_server_is_a_clear_error():
    client = CutoutClient(url=f"http://127.0.0.1:{free_port()}/", timeout=2)
    with pytest.raises(CutoutClientError, match="cannot reach") as caught:
        client.alerts(DEMO_OBJECT_ID)
    assert caught.value.status == 503


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


def test_batch_gives_one_array_and_a_table_over_http_and_in_process(both, demo):
    import pyarrow.parquet as pq

    ids = []
    for path in demo.files[:2]:
        ids += pq.read_table(demo.root / path, columns=["candid"]).column(0).to_pylist()
    ids = [*ids[::-1], 3]
    http, local = both
    stamps, table = http.batch(ids, kinds=["Difference", "Science"])
    assert stamps.shape == (len(ids), 2, 63, 63)
    assert stamps.dtype == np.float32
    assert list(table["id"]) == [str(i) for i in ids]
    assert table["alertId"].dtype == "Int64"
    assert table["status"].iloc[-1].startswith("not found")
    assert np.isnan(stamps[-1]).all()
    for row in np.flatnonzero(table["status"] == "ok")[:20]:
        expected = local.array(candid=ids[row], kind="Difference")
        np.testing.assert_array_equal(stamps[row, 0], expected.astype(np.float32))
    same, same_table = local.batch(ids, kinds=["Difference", "Science"])
    np.testing.assert_array_equal(same, stamps)
    assert same_table.equals(table)


def test_batch_splits_long_lists_into_requests(both, monkeypatch, demo):
    import fink_cutout_jupyter.batch as batch

    monkeypatch.setattr(batch, "MAX_BATCH_IDS", 7)
    _, local = both
    ids = [local.alerts(DEMO_OBJECT_ID)[0]["alertId"]] * 20
    stamps, table = local.batch(ids, kinds=["Template"], progress=False)
    assert stamps.shape == (20, 1, 63, 63)
    assert (table["status"] == "ok").all()
    with pytest.raises(ValueError, match="allowed: some of Science"):
        local.batch(ids, kinds=["Sky"])
