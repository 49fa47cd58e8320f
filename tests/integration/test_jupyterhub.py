"""The endpoint and the viewer inside a real JupyterHub 6, configured by the shipped file.

One hub for the module (configurable-http-proxy from npm, DummyAuthenticator with alice and bob,
SimpleLocalProcessSpawner), on loopback, started and stopped by PID. Expectations come from the
demo lake's Parquet files read with pyarrow, never from the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from support.browser import browser_page, canvas_rgb, download, require_chromium, run_notebook
from support.hub import PASSWORD, SERVICE, Hub, missing_pieces, start_hub
from support.rewrites import stored_stamps

OBJECT = "ZTF24abssjsb"
SEED_BODY = {"kind": "Science", "objectId": OBJECT, "return_type": "FITS"}


@pytest.fixture(scope="module")
def hub(demo, tmp_path_factory):
    missing = missing_pieces()
    if missing:
        message = f"a JupyterHub needs {', '.join(missing)}: .ci/run installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    running = start_hub(tmp_path_factory.mktemp("hub"), str(demo.root))
    try:
        running.start_server("alice")
        running.start_server("bob")
        yield running
    finally:
        running.stop()
        left = running.kill_leftovers()
        assert not left, f"processes outlived the hub: {left}"


@pytest.fixture(scope="module")
def latest(demo_lake_case):
    """The object's latest alert (what a request without candid serves) and its stored FITS."""
    alert = demo_lake_case.alerts[-1]
    path = Path(demo_lake_case.lake) / alert["hdfsPath"]
    return alert, stored_stamps(path, alert["alertId"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def test_the_seed_client_call_through_the_proxy_returns_the_stored_fits(hub: Hub, latest):
    alert, stored = latest
    reply = requests.post(
        f"{hub.url}/user/alice/api/v1/cutouts",
        json={"hdfsPath": alert["hdfsPath"], **SEED_BODY},
        headers=auth(hub.token("alice")),
    )
    assert reply.status_code == 200, reply.text
    assert reply.content == stored["Science"]


@pytest.mark.parametrize(
    ("server", "who"),
    [("alice", "bob"), ("alice", "nobody"), ("alice", "wrong"), ("bob", "alice")],
)
def test_a_users_server_refuses_other_tokens(hub: Hub, latest, server, who):
    alert, _ = latest
    if who in ("nobody", "wrong"):
        headers = {"nobody": {}, "wrong": auth("not-a-hub-token")}[who]
    else:
        headers = auth(hub.token(who))
    url = f"{hub.url}/user/{server}/api/v1/cutouts"
    post = requests.post(url, json={"hdfsPath": alert["hdfsPath"], **SEED_BODY}, headers=headers)
    get = requests.get(url, params=SEED_BODY, headers=headers, allow_redirects=False)
    for reply in (post, get):
        assert reply.status_code == 403
        assert reply.json()["status"] == "error"
    owner = requests.get(url, params=SEED_BODY, headers=auth(hub.token(server)))
    assert owner.status_code == 200, "the server's owner is still served"


def test_the_hub_service_serves_the_same_bytes_to_a_token_with_the_scope(hub: Hub, latest):
    alert, stored = latest
    url = f"{hub.url}/services/{SERVICE}/api/v1/cutouts"
    body = {"hdfsPath": alert["hdfsPath"], **SEED_BODY}
    reply = requests.post(url, json=body, headers=auth(hub.token("bob")))
    assert reply.status_code == 200, reply.text
    assert reply.content == stored["Science"]
    direct = f"http://127.0.0.1:{hub.service_port}/services/{SERVICE}/api/v1/cutouts"
    assert (
        requests.post(direct, json=body, headers=auth(hub.token("alice"))).content
        == (stored["Science"])
    )
    query = requests.get(url, params={**SEED_BODY, "token": hub.token("alice")})
    assert query.content == stored["Science"], "?token= is the token, not a parameter"


def test_no_token_in_the_log_of_the_hub_and_its_service(hub: Hub, latest):
    """The hub's log holds the managed service's access log too: ?token= appears scrubbed."""
    alert, stored = latest
    url = f"{hub.url}/services/{SERVICE}/api/v1/cutouts"
    params = {**SEED_BODY, "hdfsPath": alert["hdfsPath"]}
    token = hub.new_token("bob", note="in a query")
    wrong = f"not-a-hub-token-{uuid.uuid4().hex}"
    assert requests.get(url, params={**params, "token": token}).content == stored["Science"]
    assert requests.get(url, params={**params, "token": wrong}).status_code == 403
    deadline = time.monotonic() + 10
    while hub.log.count(f"/services/{SERVICE}/api/v1/cutouts?") < 2:
        assert time.monotonic() < deadline, f"no access log line of the service:\n{hub.log[-3000:]}"
        time.sleep(0.1)
    assert "token=[secret]" in hub.log
    assert token not in hub.log
    assert wrong not in hub.log


def test_the_hub_service_refuses_without_the_scope(hub: Hub, latest):
    alert, _ = latest
    url = f"{hub.url}/services/{SERVICE}/api/v1/cutouts"
    body = {"hdfsPath": alert["hdfsPath"], **SEED_BODY}
    unscoped = hub.new_token("alice", scopes=["read:users:name!user=alice"], note="no access")
    for headers, why in [
        ({}, "a JupyterHub token is required"),
        (auth("not-a-hub-token"), "not a valid JupyterHub token"),
        (auth(unscoped), f"lacks the scope access:services!service={SERVICE}"),
    ]:
        reply = requests.post(url, json=body, headers=headers)
        assert reply.status_code == 403
        assert reply.headers["Content-Type"].startswith("application/json")
        answer = reply.json()
        assert answer["status"] == "error"
        assert why in answer["text"]
    openapi = requests.get(f"{hub.url}/services/{SERVICE}/api/v1/openapi.json")
    assert openapi.status_code == 403, "nothing is served without a token"


def test_a_burst_of_service_requests_costs_one_hub_call_per_token(hub: Hub, latest):
    alert, stored = latest
    url = f"{hub.url}/services/{SERVICE}/api/v1/cutouts"
    token = hub.new_token("bob", note="burst")
    params = {**SEED_BODY, "hdfsPath": alert["hdfsPath"]}

    def fetch(_: int) -> bytes:
        reply = requests.get(url, params=params, headers=auth(token))
        assert reply.status_code == 200, reply.text
        return reply.content

    before = hub.api_calls()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fetch, range(50)))
    time.sleep(0.5)  # the hub writes its access log after answering
    assert set(answers) == {stored["Science"]}
    assert hub.api_calls() - before == 1


def test_the_hub_restarts_its_service_when_it_dies(hub: Hub, latest):
    alert, stored = latest
    (pid,) = hub.service_pids()
    os.kill(pid, signal.SIGKILL)
    url = f"{hub.url}/services/{SERVICE}/api/v1/cutouts"
    params = {**SEED_BODY, "hdfsPath": alert["hdfsPath"]}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            reply = requests.get(url, params=params, headers=auth(hub.token("alice")), timeout=5)
            if reply.status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    else:
        raise AssertionError(f"the service did not come back:\n{hub.log[-3000:]}")
    assert reply.content == stored["Science"]
    assert hub.service_pids() not in ([], [pid])


KERNEL_CODE = """
import hashlib, json, os
from fink_cutout_jupyter import CutoutClient, CutoutViewer
{setup}
client = CutoutClient()
viewer = CutoutViewer("{object_id}")
print(json.dumps({{
    "client": repr(client),
    "alerts": client.alerts("{object_id}"),
    "viewer_client": repr(viewer.client),
    "viewer_broken": viewer.broken,
    "viewer_stamps": {{k: hashlib.sha256(s.fits_bytes).hexdigest()
                      for k, s in viewer.stamps.items()}},
}}))
"""


async def run_in_kernel(hub: Hub, user: str, code: str, seconds: float = 120) -> str:
    """Start a kernel in the user's server (through the proxy), run `code`, return its stdout."""
    import aiohttp

    base = f"{hub.url}/user/{user}/api/kernels"
    headers = auth(hub.token(user))
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(base, json={"name": "python3"}) as reply:
            assert reply.status == 201, await reply.text()
            kernel = (await reply.json())["id"]
        try:
            ws_url = f"{base}/{kernel}/channels".replace("http://", "ws://")
            async with session.ws_connect(ws_url) as channel:
                return await asyncio.wait_for(_execute(channel, code), seconds)
        finally:
            await session.delete(f"{base}/{kernel}")


async def _execute(channel, code: str) -> str:
    import aiohttp

    message_id = uuid.uuid4().hex
    await channel.send_json(
        {
            "header": {
                "msg_id": message_id,
                "msg_type": "execute_request",
                "session": uuid.uuid4().hex,
                "username": "test",
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {"code": code, "silent": False, "store_history": False},
            "channel": "shell",
        }
    )
    output = []
    while True:
        frame = await channel.receive()
        if frame.type != aiohttp.WSMsgType.TEXT:
            continue  # widget messages carrying binary buffers: not ours to read
        message = json.loads(frame.data)
        if message.get("parent_header", {}).get("msg_id") != message_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream" and content["name"] == "stdout":
            output.append(content["text"])
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(output)


@pytest.mark.parametrize("door", ["own server", "hub service"])
def test_a_kernel_in_alices_server_finds_an_endpoint_with_no_arguments(
    hub: Hub, demo_lake_case, door
):
    setup = ""
    if door == "hub service":
        setup = f"os.environ['FINK_CUTOUTS_URL'] = '{hub.url}/services/{SERVICE}/'"
    code = KERNEL_CODE.format(setup=setup, object_id=OBJECT)
    answer = json.loads(asyncio.run(run_in_kernel(hub, "alice", code)))
    where = "/user/alice/" if door == "own server" else f"/services/{SERVICE}/"
    assert where in answer["client"]
    assert where in answer["viewer_client"]
    assert len(answer["alerts"]) == len(demo_lake_case.alerts) >= 2
    for got, expected in zip(answer["alerts"], demo_lake_case.alerts, strict=True):
        assert got == pytest.approx(expected)
    latest = demo_lake_case.alerts[-1]
    stored = stored_stamps(Path(demo_lake_case.lake) / latest["hdfsPath"], latest["alertId"])
    assert answer["viewer_broken"] == {}
    assert answer["viewer_stamps"] == {k: hashlib.sha256(v).hexdigest() for k, v in stored.items()}


async def test_alice_logs_in_runs_the_quickstart_and_downloads_a_fits(hub: Hub, latest):
    require_chromium()
    alert, stored = latest
    assert (hub.home("alice") / "quickstart.ipynb").is_file(), "the hub gave alice the quickstart"
    async with browser_page("hub_alice_quickstart") as page:
        await page.goto(f"{hub.url}/hub/login")
        await page.fill("#username_input", "alice")
        await page.fill("#password_input", PASSWORD)
        await page.click("#login_submit")
        await page.wait_for_url(re.compile(r".*/user/alice/lab.*"), timeout=120_000)
        viewer = await run_notebook(
            page,
            f"{hub.url}/user/alice/lab/tree/quickstart.ipynb",
            f"{hub.url}/user/alice/api/sessions",
            auth(hub.token("alice")),
            ".jp-NotebookPanel",
        )
        stamps = viewer.locator("canvas.fink-stamp-canvas")
        assert await stamps.count() == 3
        for index in range(3):
            assert (await canvas_rgb(stamps.nth(index))).std() > 5, "stamps are not blank"
        link = viewer.locator("a.fink-download[download$='_Science.fits']")
        name, saved = await download(page, link)
    assert name == f"{OBJECT}_{alert['alertId']}_Science.fits"
    assert saved == stored["Science"]


def test_the_hub_stops_every_process_it_started(hub: Hub):
    assert hub.service_pids(), "the service runs before the hub stops"
    users = [pid for pid, command in hub.processes().items() if "singleuser" in command]
    assert len(users) == 2, hub.processes()
    assert hub.stop() == 0
    deadline = time.monotonic() + 15
    while hub.processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert hub.processes() == {}
