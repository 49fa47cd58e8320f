"""Prometheus metrics: counted where they happen, served by both doors.

The registry is the process's default one (shared by every test of a session), so each test
reads a counter before and after what it does. Expositions are read with prometheus_client's
own text parser.
"""

import asyncio
import os
import time

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from support.doors import release

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.doors.runner import QUEUED_PER_THREAD, APIRunner
from fink_cutout_jupyter.doors.settings import DoorSettings
from fink_cutout_jupyter.doors.standalone import create_app
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.locations import ALERT_ID_SPAN
from fink_cutout_jupyter.storage.lake import Lake

OBJECT = "ZTF24abssjsb"


def value(name: str, **labels: str) -> float:
    """A sample of the default registry (0 before its first count)."""
    return REGISTRY.get_sample_value(name, labels or None) or 0.0


def samples(exposition: str) -> dict[tuple[str, tuple], float]:
    parsed = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            parsed[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return parsed


@pytest.fixture
def enabled():
    metrics.enable()


async def test_the_standalone_door_serves_requests_by_route_and_status_and_latency(demo):
    server = TestServer(create_app(DoorSettings(str(demo.root), workers=2)), host="127.0.0.1")
    await server.start_server()
    key = ("fink_cutouts_requests_total", (("route", "cutouts"), ("status", "200")))
    bad = ("fink_cutouts_requests_total", (("route", "cutouts"), ("status", "400")))
    latency = ("fink_cutouts_request_seconds_count", (("route", "alerts"),))
    try:
        async with ClientSession() as session:

            async def scrape() -> dict:
                async with session.get(server.make_url("/metrics")) as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain")
                    return samples(await response.text())

            before = await scrape()
            for params in [
                {"objectId": OBJECT, "kind": "Science"},
                {"objectId": OBJECT},
                {"objectId": OBJECT, "kind": "Sci"},
            ]:
                async with session.get(server.make_url("/api/v1/cutouts"), params=params) as r:
                    await r.read()
            async with session.get(
                server.make_url("/api/v1/alerts"), params={"objectId": OBJECT}
            ) as r:
                assert r.status == 200
            after = await scrape()
    finally:
        await server.close()
    assert after[key] - before.get(key, 0) == 2
    assert after[bad] - before.get(bad, 0) == 1
    assert after[latency] - before.get(latency, 0) == 1
    bytes_read = "fink_cutouts_lake_bytes_read_total", ()
    assert after[bytes_read] > before.get(bytes_read, 0)


def test_bytes_read_are_the_pages_read(demo, enabled):
    """A stamp read by its page costs the page's bytes (the id's page and the stamp's page, as
    the index records them); an answer from memory reads nothing."""
    api = CutoutAPI(str(demo.root))
    try:
        location = api.index.latest(OBJECT)
        start = value("fink_cutouts_lake_bytes_read_total")
        api.handle("cutouts", {"objectId": OBJECT, "kind": "Science"})
        read = value("fink_cutouts_lake_bytes_read_total") - start
        spans = [location.page_spans[name][0] for name in (ALERT_ID_SPAN, "Science")]
        assert read == sum(span.length + span.dictionary_length for span in spans)
        assert 0 < read <= os.path.getsize(demo.root / location.path)
        start = value("fink_cutouts_lake_bytes_read_total")
        api.handle("cutouts", {})
        assert value("fink_cutouts_lake_bytes_read_total") == start
    finally:
        api.close()


def test_stale_reads_are_counted(rewritable_lake, enabled):
    """A file rewritten since it was indexed (other bytes, new mtime): the read scans the file,
    and the counter says so."""
    import pyarrow as pa

    table = rewritable_lake.table
    reversed_rows = table.take(pa.array(range(table.num_rows - 1, -1, -1)))
    rewritable_lake.rewrite(reversed_rows, keep_mtime=False)
    location = rewritable_lake.index.alerts(table.column("objectId")[0].as_py())[0]
    reader = CutoutReader(rewritable_lake.lake)
    start = value("fink_cutouts_stale_reads_total")
    alert = reader.read_location(location, ("Science",))
    assert alert.alert_id == location.alert_id
    assert value("fink_cutouts_stale_reads_total") - start == reader.stale_reads == 1


def test_index_refreshes_are_counted(demo, enabled):
    index = AlertIndex(Lake(demo.root), refresh_seconds=0.0)
    start = value("fink_cutouts_index_refreshes_total")
    for _ in range(3):
        index.latest(OBJECT)
        time.sleep(0.001)
    assert value("fink_cutouts_index_refreshes_total") - start == 3
    index.refresh_seconds = 3600.0
    index.latest(OBJECT)
    assert value("fink_cutouts_index_refreshes_total") - start == 3
    index.close()


async def test_queue_rejections_and_held_requests_are_counted(demo):
    """Reads held by a FIFO nobody writes fill the read pool; the next one is refused."""
    fifo = demo.root / "held-metrics.parquet"
    os.mkfifo(fifo)
    runner = APIRunner(DoorSettings(str(demo.root), workers=1, timeout=30))
    rejected = value("fink_cutouts_queue_rejections_total", pool="read")
    held_before = held_by_this_runner(runner)
    held = [
        asyncio.ensure_future(runner.answer("cutouts", {"objectId": OBJECT, "hdfsPath": fifo.name}))
        for _ in range(QUEUED_PER_THREAD)
    ]
    try:
        await asyncio.sleep(0.5)
        assert held_by_this_runner(runner) - held_before == QUEUED_PER_THREAD
        busy = await runner.answer("cutouts", {"objectId": OBJECT, "kind": "Science"})
        assert busy.status == 503
        assert value("fink_cutouts_queue_rejections_total", pool="read") - rejected == 1
        unavailable = value("fink_cutouts_requests_total", route="cutouts", status="503")
        assert unavailable >= 1
    finally:
        while not all(request.done() for request in held):
            release(fifo)
            await asyncio.sleep(0.05)
        await asyncio.gather(*held)
        fifo.unlink()
        runner.close()
    await asyncio.sleep(0.1)  # the release callbacks run on the loop
    assert held_by_this_runner(runner) == held_before


def held_by_this_runner(runner: APIRunner) -> float:
    """The process-wide gauge of held reads, less what every other runner of this process
    holds (runners of earlier tests may still release reads that outlived them): what moves
    with `runner` alone. No await here, so no release runs between the two reads."""
    import gc

    others = sum(
        other.pools["read"].held
        for other in gc.get_objects()
        if isinstance(other, APIRunner) and other is not runner
    )
    return value("fink_cutouts_queue_held", pool="read") - others


def test_nothing_is_counted_or_imported_until_a_door_enables_metrics():
    import subprocess
    import sys

    code = (
        "import sys; from fink_cutout_jupyter import metrics; metrics.add('stale_reads'); "
        "print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_exposition_is_prometheus_text(enabled):
    body, media_type = metrics.exposition()
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {
        "fink_cutouts_requests",
        "fink_cutouts_request_seconds",
        "fink_cutouts_lake_bytes_read",
        "fink_cutouts_page_fallbacks",
        "fink_cutouts_stale_reads",
        "fink_cutouts_index_refreshes",
        "fink_cutouts_queue_rejections",
    } <= names
    assert media_type.startswith("text/plain")


async def test_a_hub_services_metrics_and_health_need_a_hub_token(demo):
    """As a hub service, /metrics and /api/v1/health are behind the hub token like the rest
    (Prometheus scrapes with a token that has access to the service)."""
    from support.stand_in_hub import get, hub_and_service

    async with hub_and_service(str(demo.root)) as (_, service):
        for path in ("metrics", "api/v1/health"):
            status, _, body = await get(service, params={}, path=path)
            assert status == 403, path
            assert b"a JupyterHub token is required" in body
        headers = {"Authorization": "token alice-token"}
        status, media_type, body = await get(service, headers, params={}, path="metrics")
        assert status == 200
        assert media_type.startswith("text/plain")
        assert "fink_cutouts_requests" in {
            family.name for family in text_string_to_metric_families(body.decode())
        }
        status, _, body = await get(service, headers, params={}, path="api/v1/health")
        assert status == 200
