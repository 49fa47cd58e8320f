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


# history and solar-system objects (issue 24), over both transports

SOLAR_SYSTEM = (21163624394469969, 21165806389311562)


@pytest.fixture(scope="module")
def rubin_both(rubin_lake, tmp_path_factory):
    """The real Rubin alerts in a lake of their own, indexed: (over HTTP, in-process)."""
    import shutil

    from support.servers import free_port, start_service, wait_for_http

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    root = tmp_path_factory.mktemp("rubin-client") / "lake"
    shutil.copytree(rubin_lake.uri, root)
    lake = Lake(root)
    build(AlertIndex(lake), lake.nights(), progress=False)
    port = free_port()
    process = start_service(str(root), port)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(f"{url}api/v1/openapi.json")
        yield CutoutClient(url=url), CutoutClient(lake=str(root))
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_rubin_histories_are_the_same_over_http_and_in_process(rubin_both, rubin_records):
    from support.expected_history import assert_points, rubin_history

    http, local = rubin_both
    objects = sorted({(r["diaObject"] or {}).get("diaObjectId") for r in rubin_records} - {None})
    for object_id in objects:
        _, expected = rubin_history(rubin_records, object_id=object_id)
        body = http.history(object_id)
        assert body == local.history(str(object_id))
        assert body["objectId"] == str(object_id)
        assert_points(body, expected, "tai")
    for ss_object_id in SOLAR_SYSTEM:
        _, expected = rubin_history(rubin_records, ss_object_id=ss_object_id)
        body = http.history(ss_object_id=ss_object_id)
        assert body == local.history(ss_object_id=str(ss_object_id))
        assert body["ssObjectId"] == str(ss_object_id)
        assert_points(body, expected, "tai")

    async def both_async(client):
        return await asyncio.gather(
            client.ahistory(objects[0]), client.ahistory(ss_object_id=SOLAR_SYSTEM[0])
        )

    for client in rubin_both:
        assert asyncio.run(both_async(client)) == [
            http.history(objects[0]),
            http.history(ss_object_id=SOLAR_SYSTEM[0]),
        ]


def test_a_solar_system_objects_alerts_and_stamps_through_both_transports(
    rubin_both, rubin_records
):
    from astropy.io import fits

    for ss_object_id in SOLAR_SYSTEM:
        record = next(
            r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") == ss_object_id
        )
        stored = {kind: record[f"cutout{kind}"] for kind in KINDS}
        with fits.open(io.BytesIO(stored["Science"])) as hdul:
            science = hdul[0].data.astype(float)
        for client in rubin_both:
            [alert] = client.alerts(ss_object_id=ss_object_id)
            assert (alert["alertId"], alert["ssObjectId"]) == (
                record["diaSourceId"],
                str(ss_object_id),
            )
            assert alert["designation"] == record["ssSource"]["designation"]
            assert asyncio.run(client.aalerts(ss_object_id=ss_object_id)) == [alert]
            stamps = client.stamps(ss_object_id=ss_object_id)
            assert {kind: stamp.fits_bytes for kind, stamp in stamps.items()} == stored
            astamps = asyncio.run(client.astamps(ss_object_id=ss_object_id))
            assert {kind: stamp.fits_bytes for kind, stamp in astamps.items()} == stored
            candid = record["diaSourceId"]
            assert client.fits_bytes(candid=candid, ss_object_id=ss_object_id) == stored["Science"]
            np.testing.assert_array_equal(client.array(ss_object_id=ss_object_id), science)
            assert client.png(ss_object_id=ss_object_id).startswith(b"\x89PNG")
            with client.hdulist(ss_object_id=ss_object_id, kind="Difference") as hdul:
                assert len(hdul) == 3


def test_history_refusals_are_client_errors_naming_the_parameter(rubin_both, both):
    for client in (*rubin_both, *both):
        with pytest.raises(CutoutClientError, match="objectId: missing") as caught:
            client.history()
        assert caught.value.status == 400
        with pytest.raises(CutoutClientError, match="objectId, ssObjectId: give one") as caught:
            client.history("170028485706776685", ss_object_id=SOLAR_SYSTEM[0])
        assert caught.value.status == 400
        with pytest.raises(CutoutClientError, match="ssObjectId: no alert of 7") as caught:
            client.history(ss_object_id=7)
        assert caught.value.status == 404
        with pytest.raises(CutoutClientError, match="give object_id, ss_object_id or candid"):
            client.stamps()


def test_the_demo_objects_history_is_the_same_over_http_and_in_process(both, demo):
    from pathlib import Path

    from support.expected_history import assert_points, ztf_history

    http, local = both
    body = http.history(DEMO_OBJECT_ID)
    assert body == local.history(DEMO_OBJECT_ID)
    candid, expected = ztf_history(
        sorted(Path(demo.root, "science").rglob("*.parquet")), DEMO_OBJECT_ID
    )
    assert body["latestAlertId"] == str(candid)
    assert_points(body, expected, "utc")
