"""CutoutClient (client/cutout_client.py, client/answers.py): the same answers over HTTP and
in-process, refusals and answers not as agreed as CutoutClientError, a cheap import."""

import asyncio
import io
import json
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
from support.misbehaving import misbehaving_servers

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.surveys import KINDS


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


@pytest.fixture(scope="module")
def misbehaving():
    with misbehaving_servers() as servers:
        yield servers


def test_an_answer_not_as_agreed_is_a_client_error(misbehaving, served_demo, demo):
    import pyarrow as pa

    here, _ = misbehaving
    client = CutoutClient(url=f"{here.url}reply/")
    ids = [DEMO_OBJECT_ID]
    real = urllib.request.urlopen(
        urllib.request.Request(
            f"{served_demo}api/v1/cutouts",
            json.dumps({"objectId": ids, "kind": "All", "return_type": "arrow"}).encode(),
            {"Content-Type": "application/json"},
        ),
        timeout=60,
    ).read()
    table = pa.ipc.open_stream(real).read_all()
    assert table.num_rows == 1
    assert "Science" in table.column_names
    without_science = io.BytesIO()
    with pa.ipc.new_stream(
        without_science, table.schema.remove(table.schema.get_field_index("Science"))
    ) as writer:
        writer.write_table(table.drop_columns(["Science"]))
    cases = [
        (
            "alerts",
            b"<html>Service Unavailable</html>",
            lambda: client.alerts(DEMO_OBJECT_ID),
            "not JSON",
        ),
        (
            "alerts",
            b'{"alerts": []}',
            lambda: client.alerts(DEMO_OBJECT_ID),
            "a JSON dict, not a list",
        ),
        ("alerts", b"\xff\xfe", lambda: asyncio.run(client.aalerts(DEMO_OBJECT_ID)), "not JSON"),
        ("cutouts", b"[[1, [2]]]", lambda: client.array(DEMO_OBJECT_ID), "not an array of pixels"),
        ("cutouts", b"[]", lambda: client.array(DEMO_OBJECT_ID), "not an array of pixels"),
        ("cutouts", b"PAR1 not arrow", lambda: client.batch(ids), "not a complete Arrow stream"),
        (
            "cutouts",
            real[: len(real) // 2],
            lambda: client.batch(ids),
            "not a complete Arrow stream",
        ),
        (
            "cutouts",
            without_science.getvalue(),
            lambda: client.batch(ids),
            "without the columns Science",
        ),
    ]
    for route, body, call, problem in cases:
        here.replies[route] = body
        with pytest.raises(CutoutClientError, match=problem) as caught:
            call()
        assert caught.value.status == 502
    here.replies["cutouts"] = real
    stamps, table = client.batch(ids)
    assert stamps.shape == (1, 3, 63, 63), "the same server's real answer goes through"


def test_importing_the_client_is_cheap():
    """The client's face loads the standard library only: numpy, pyarrow, astropy, pandas and
    aiohttp come with the first call that needs them."""
    code = (
        "import sys; from fink_cutout_jupyter.client import CutoutClient, CutoutClientError; "
        "heavy = ('numpy', 'pyarrow', 'astropy', 'matplotlib', 'pandas', 'aiohttp'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
