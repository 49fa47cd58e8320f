import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
from aiohttp import web
from astropy.io import fits
from support.servers import free_port, start_jupyter_server, wait_for_http

from fink_cutout_jupyter.client import (
    MAX_ALERT_REPLY_BYTES,
    CutoutClient,
    CutoutClientError,
    discover,
)
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
    import fink_cutout_jupyter.contract.batch as batch

    monkeypatch.setattr(batch, "MAX_BATCH_IDS", 7)
    _, local = both
    ids = [local.alerts(DEMO_OBJECT_ID)[0]["alertId"]] * 20
    stamps, table = local.batch(ids, kinds=["Template"], progress=False)
    assert stamps.shape == (20, 1, 63, 63)
    assert (table["status"] == "ok").all()
    with pytest.raises(ValueError, match="allowed: some of Science"):
        local.batch(ids, kinds=["Sky"])


def test_batch_asks_again_when_the_server_says_it_is_busy(demo):
    """A batch refused 503 + Retry-After (other batches hold the server's memory budget) is
    asked again after the pause the server names, and answered once the budget is free."""
    from fink_cutout_jupyter.contract.batch import MemoryBudget

    client = CutoutClient(lake=str(demo.root))
    api = client.transport.api
    api.batches.budget = budget = MemoryBudget(wait=0.01)
    ids = [client.alerts(DEMO_OBJECT_ID)[0]["alertId"]] * 3
    refused = []
    held = threading.Event()

    def hold_the_budget_for_a_while():
        with budget.reserve(budget.limit):
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold_the_budget_for_a_while)
    holder.start()
    held.wait(5)
    post = client.transport.post

    def counted_post(route, params):
        answer = post(route, params)
        refused.append(answer.status == 503)
        return answer

    client.transport.post = counted_post
    stamps, table = client.batch(ids, kinds=["Science"], progress=False)
    holder.join()
    assert refused[0], refused
    assert refused[-1] is False, refused
    assert (table["status"] == "ok").all()
    assert stamps.shape == (3, 1, 63, 63)


class Misbehaving:
    """A real aiohttp server in a thread of its own (its own event loop), answering as a broken,
    slow, huge or redirecting server would; `seen` records each request's Authorization."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.seen: list[tuple[str, str | None]] = []
        self.replies: dict[str, bytes] = {}
        self.elsewhere = ""  # where "away" redirects to
        self.retry_after = "1"  # what "busy" answers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        app = web.Application()
        app.router.add_route("*", "/{base}/api/v1/{route}", self.answer)
        self.runner = web.AppRunner(app, access_log=None)
        self.thread.start()
        self._call(self._start())
        self.drip_port = self._call(self._start_header_drip())

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.url = f"http://{self.host}:{site._server.sockets[0].getsockname()[1]}/"

    async def _start_header_drip(self) -> int:
        """A raw server sending a whole (valid) HTTP answer, status line too, a byte at a time."""

        async def drip(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]":
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.5)
            writer.close()

        self.drip_server = await asyncio.start_server(drip, self.host, 0)
        return self.drip_server.sockets[0].getsockname()[1]

    def close(self) -> None:
        self.drip_server.close()
        self._call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    async def answer(self, request: web.Request) -> web.StreamResponse:
        base, route = request.match_info["base"], request.match_info["route"]
        self.seen.append((base, request.headers.get("Authorization")))
        if base == "away":  # to the same path on another origin
            raise web.HTTPFound(f"{self.elsewhere}same/api/v1/{route}?{request.query_string}")
        if base == "here":
            raise web.HTTPFound(f"/same/api/v1/{route}?{request.query_string}")
        if base == "same":
            return web.json_response([])
        if base == "busy":  # the batch memory budget held: 503 and a pause
            return web.json_response(
                {"status": "error", "text": "busy: try again"},
                status=503,
                headers={"Retry-After": self.retry_after},
            )
        if base == "reply":  # the body set for this route
            return web.Response(body=self.replies[route], content_type="application/octet-stream")
        if base == "drip":  # headers at once, then the body a byte at a time
            response = web.StreamResponse(headers={"Content-Length": "40"})
            await response.prepare(request)
            for _ in range(40):
                await response.write(b" ")
                await asyncio.sleep(0.5)
            return response
        if base in ("huge", "endless"):
            size = HUGE_REPLY_BYTES if base == "huge" else None
            headers = {"Content-Length": str(size)} if size else {}
            response = web.StreamResponse(headers=headers)
            await response.prepare(request)
            block = bytes(1024**2)
            with contextlib.suppress(ConnectionError):
                for _ in range(HUGE_REPLY_BYTES // len(block)):
                    await response.write(block)
            return response
        raise web.HTTPNotFound()


HUGE_REPLY_BYTES = 300 * 1024**2


@pytest.fixture(scope="module")
def misbehaving():
    here, elsewhere = Misbehaving("127.0.0.1"), Misbehaving("127.0.0.2")
    here.elsewhere = elsewhere.url
    try:
        yield here, elsewhere
    finally:
        here.close()
        elsewhere.close()


def test_a_redirect_to_another_origin_does_not_carry_the_token(misbehaving):
    here, elsewhere = misbehaving
    assert urllib.parse.urlsplit(here.url).hostname != urllib.parse.urlsplit(elsewhere.url).hostname
    for base in ("away", "here"):
        client = CutoutClient(url=f"{here.url}{base}/", token="secret-token")
        here.seen.clear(), elsewhere.seen.clear()
        assert client.alerts(DEMO_OBJECT_ID) == []
        assert asyncio.run(client.aalerts(DEMO_OBJECT_ID)) == []
        if base == "away":
            assert here.seen == [("away", "token secret-token")] * 2
            assert elsewhere.seen == [("same", None)] * 2, "the token went to another host"
        else:
            assert here.seen == [("here", "token secret-token"), ("same", "token secret-token")] * 2


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


@pytest.mark.parametrize("retry_after", ["nan", "-5", "inf", "soon"])
def test_a_busy_servers_odd_retry_after_is_a_clear_503(misbehaving, retry_after):
    """``Retry-After: nan`` or ``-5`` made time.sleep raise ValueError: now no pause (nan, not
    a number) or none below 0, and the server's 503 in the end."""
    here, _ = misbehaving
    here.retry_after = retry_after
    client = CutoutClient(url=f"{here.url}busy/", timeout=5)
    start = time.monotonic()
    with pytest.raises(CutoutClientError, match="busy: try again") as caught:
        client.batch([1, 2], progress=False)
    assert caught.value.status == 503
    assert time.monotonic() - start < 8


def test_busy_retries_never_pause_past_the_timeout(misbehaving):
    """Retry-After 10 s with timeout=3: the old client slept 5 x 10 s; now one pause of 1 s
    fits, the next would not (the deadline counts from the first request)."""
    here, _ = misbehaving
    here.retry_after = "10"
    client = CutoutClient(url=f"{here.url}busy/", timeout=3)
    start = time.monotonic()
    with pytest.raises(CutoutClientError, match="busy: try again"):
        client.batch([1, 2], progress=False)
    assert time.monotonic() - start < 2.5, "no pause of 10 s within a 3 s timeout"
    here.retry_after = "1"
    asked = len(here.seen)
    start = time.monotonic()
    with pytest.raises(CutoutClientError, match="busy: try again"):
        client.batch([1, 2], progress=False)
    elapsed = time.monotonic() - start
    assert 2 <= len(here.seen) - asked <= 3, "pauses of 1 s while within 3 s, not 5 of them"
    assert 1 <= elapsed < 8


@pytest.mark.parametrize("where", ["drip", "header drip", "async drip"])
def test_the_timeout_is_a_deadline_for_the_whole_request(misbehaving, where):
    here, _ = misbehaving
    url = f"http://127.0.0.1:{here.drip_port}/" if where == "header drip" else f"{here.url}drip/"
    client = CutoutClient(url=url, timeout=2)
    start = time.monotonic()
    call = client.alerts if where != "async drip" else lambda i: asyncio.run(client.aalerts(i))
    with pytest.raises(CutoutClientError, match=r"within timeout=2 s") as caught:
        call(DEMO_OBJECT_ID)
    elapsed = time.monotonic() - start
    assert caught.value.status == 504
    # The drips take 20 s in all: a margin for a loaded machine, still far below them.
    assert 1.9 < elapsed < 8, f"{where}: {elapsed:.1f} s for timeout=2"


_RSS_PROBE = """
import json, re, sys
import pyarrow, pandas, tqdm.auto  # the batch's imports, before measuring
from fink_cutout_jupyter.client import CutoutClient, CutoutClientError

def kilobytes(name):
    return int(re.search(name + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))

url, cap, call = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = CutoutClient(url=url, **({"max_reply_bytes": cap} if cap else {}))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the resident size now
before = kilobytes("VmRSS")
try:
    client.fits_bytes("ZTF1") if call == "fits" else client.batch(["ZTF1"])
    error = None
except CutoutClientError as caught:
    error = str(caught)
print(json.dumps({"growth": (kilobytes("VmHWM") - before) * 1024, "error": error}))
"""


@pytest.mark.parametrize(
    ("base", "cap", "call", "named", "growth"),
    [
        ("huge", 0, "fits", f"cap of {MAX_ALERT_REPLY_BYTES} bytes", 8 * 1024**2),
        ("endless", 16 * 1024**2, "batch", f"cap of {16 * 1024**2} bytes", 48 * 1024**2),
    ],
)
def test_a_reply_beyond_the_cap_is_refused_without_growing(
    misbehaving, base, cap, call, named, growth
):
    """Measured in a process of its own: its peak resident memory while the reply comes."""
    here, _ = misbehaving
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, f"{here.url}{base}/", str(cap), call],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    print(
        f"{base} reply, cap {cap or 'default'}: peak RSS grew {measured['growth'] / 1024**2:.1f} MB"
    )
    assert measured["error"] is not None, measured
    assert named in measured["error"]
    assert measured["growth"] < growth, measured
