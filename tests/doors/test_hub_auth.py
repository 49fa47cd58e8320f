"""Hub token checks of the standalone service, against a stand-in for the hub's /hub/api/user.

The stand-in is a real aiohttp server answering as JupyterHub 6 does (the user model with the
token's scopes, 403 for an unknown token) and counting its calls. The real hub is in
tests/integration/test_jupyterhub.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import urllib.parse

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from support.servers import free_port, start_service
from support.stand_in_hub import (
    ACCESS,
    QUERY,
    StandInHub,
    get,
    hub_and_service,
    service_checking_with,
)

from fink_cutout_jupyter.doors.hub_auth import HUB_ATTEMPTS, HUB_RETRY_SECONDS, HubService


def test_the_hub_environment_names_the_service():
    assert HubService.from_environment({}) is None
    with pytest.raises(ValueError, match="JUPYTERHUB_API_URL"):
        HubService.from_environment({"JUPYTERHUB_SERVICE_NAME": "fink-cutouts"})
    hub = HubService.from_environment(
        {
            "JUPYTERHUB_SERVICE_NAME": "fink-cutouts",
            "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api/",
            "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:10101",
        }
    )
    assert (hub.host, hub.port, hub.prefix) == ("127.0.0.1", 10101, "/services/fink-cutouts/")
    assert hub.api_url == "http://127.0.0.1:8081/hub/api"


@pytest.mark.parametrize(
    ("headers", "params", "status", "reason"),
    [
        ({}, QUERY, 403, "a JupyterHub token is required"),
        ({"Authorization": "token nope"}, QUERY, 403, "not a valid JupyterHub token"),
        ({"Authorization": "token unscoped-token"}, QUERY, 403, f"bob lacks the scope {ACCESS}"),
        ({"Authorization": "Basic alice-token"}, QUERY, 403, "a JupyterHub token is required"),
        ({"Authorization": "token alice-token"}, QUERY, 200, ""),
        ({"Authorization": "Bearer alice-token"}, QUERY, 200, ""),
        ({"Authorization": "token admin-token"}, QUERY, 200, ""),
        ({}, {**QUERY, "token": "alice-token"}, 200, ""),
    ],
)
async def test_only_tokens_with_access_to_the_service_are_served(
    demo, jp_asyncio_loop, headers, params, status, reason
):
    async with hub_and_service(str(demo.root)) as (_, service):
        got, content_type, body = await get(service, headers, params)
    assert got == status
    if status == 403:
        assert content_type.startswith("application/json")
        assert reason in body.decode()
    else:
        assert body.startswith(b"SIMPLE  =")


async def test_a_burst_costs_one_hub_call_and_answers_are_kept_briefly(demo, jp_asyncio_loop):
    async with hub_and_service(str(demo.root)) as (stand_in, service):
        headers = {"Authorization": "token alice-token"}
        answers = await asyncio.gather(*(get(service, headers) for _ in range(50)))
        assert {status for status, _, _ in answers} == {200}
        assert stand_in.calls == 1
        wrong = {"Authorization": "token x"}
        refused = await asyncio.gather(*(get(service, wrong) for _ in range(5)))
        assert {status for status, _, _ in refused} == {403}
        assert stand_in.calls == 2, "a refusal is remembered too"


async def test_an_answer_is_asked_again_once_it_expires(jp_asyncio_loop):
    from fink_cutout_jupyter.doors.hub_auth import HubTokenCheck

    stand_in = StandInHub()
    await stand_in.server.start_server()
    api = str(stand_in.server.make_url("/hub/api"))
    check = HubTokenCheck(HubService("fink-cutouts", api, "http://127.0.0.1:0", "/"), 0.2)
    try:
        assert await check.owner("alice-token") == "alice"
        assert await check.owner("alice-token") == "alice"
        assert stand_in.calls == 1
        await asyncio.sleep(0.3)
        assert await check.owner("alice-token") == "alice"
        assert stand_in.calls == check.hub_calls == 2
    finally:
        await check.close()
        await stand_in.server.close()


async def test_a_hub_that_does_not_answer_is_a_503_and_the_service_goes_on(demo, jp_asyncio_loop):
    async with hub_and_service(str(demo.root)) as (stand_in, service):
        port = stand_in.server.port
        await stand_in.server.close()
        status, _, body = await get(service, {"Authorization": "token alice-token"})
        assert status == 503
        assert b"cannot check the token" in body
        stand_in.server = TestServer(stand_in.app, host="127.0.0.1", port=port)
        await stand_in.server.start_server()  # the hub is back, at the same address
        status, _, _ = await get(service, {"Authorization": "token alice-token"})
        assert status == 200, "a failed check is not remembered"


def test_serve_jupyterhub_outside_a_hub_is_a_clear_error(demo, monkeypatch):
    for name in ("JUPYTERHUB_SERVICE_NAME", "JUPYTERHUB_API_URL", "JUPYTERHUB_SERVICE_URL"):
        monkeypatch.delenv(name, raising=False)
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "serve", "--jupyterhub"]
    done = subprocess.run(
        [*command, "--lake", str(demo.root)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "no JupyterHub service environment" in done.stderr


class ScriptedHub:
    """GET /hub/api/user answering from a script: one (status, JSON, headers) per call, the last
    one repeated; `calls` counts the requests and `times` when they came."""

    def __init__(self, *script: tuple[int, object, dict]) -> None:
        self.script = list(script)
        self.calls = 0
        self.times: list[float] = []
        self.app = web.Application()
        self.app.router.add_get("/hub/api/user", self.user)
        self.server = TestServer(self.app, host="127.0.0.1")

    async def user(self, request: web.Request) -> web.Response:
        status, model, headers = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        self.times.append(asyncio.get_running_loop().time())
        return web.json_response(model, status=status, headers=headers)

    def serving(self, lake: str):
        """The service checking tokens with this hub."""
        return service_checking_with(self, lake)


ALICE = (200, {"kind": "user", "name": "alice", "scopes": [ACCESS]}, {})
ALICE_HEADERS = {"Authorization": "token alice-token"}


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        (["alice", [ACCESS]], "answered an array instead of a user model"),
        ("alice", "answered a string instead of a user model"),
        ({"name": "alice", "scopes": None}, "a user model whose scopes are null"),
        ({"name": "alice", "scopes": ACCESS}, 'whose scopes are "access:services!service='),
        ({"name": "alice", "scopes": [ACCESS, 3]}, 'whose scopes are ["access:services'),
        ({"kind": "user", "scopes": [ACCESS]}, "a user model without a name"),
    ],
)
async def test_a_malformed_hub_answer_is_a_503_and_not_remembered(
    demo, jp_asyncio_loop, model, problem
):
    scripted = ScriptedHub((200, model, {}), ALICE)
    async with scripted.serving(str(demo.root)) as service:
        status, content_type, body = await get(service, ALICE_HEADERS)
        assert (status, content_type) == (503, "application/json"), body
        assert "cannot check the token" in body.decode()
        assert problem in json.loads(body)["text"]
        assert "alice-token" not in body.decode()
        status, _, body = await get(service, ALICE_HEADERS)
        assert status == 200, "the malformed answer was not kept as a verdict"
        assert body.startswith(b"SIMPLE  =")
    assert scripted.calls == 2


@pytest.mark.parametrize(
    ("busy", "pause"),
    [
        ((429, {"status": 429, "message": "Too many requests"}, {"Retry-After": "1"}), 1.0),
        ((503, {"status": 503, "message": "database locked"}, {}), HUB_RETRY_SECONDS),
        ((500, {"status": 500, "message": "Internal Server Error"}, {}), HUB_RETRY_SECONDS),
    ],
)
async def test_a_busy_hub_is_asked_again_after_a_pause(demo, jp_asyncio_loop, busy, pause):
    scripted = ScriptedHub(busy, ALICE)
    async with scripted.serving(str(demo.root)) as service:
        status, _, body = await get(service, ALICE_HEADERS)
        assert status == 200, body
        assert scripted.calls == 2
        assert scripted.times[1] - scripted.times[0] >= pause * 0.9
        assert (await get(service, ALICE_HEADERS))[0] == 200, "a valid user stays valid"
    assert scripted.calls == 2, "the hub's verdict is kept"


async def test_a_hub_busy_every_time_is_a_503_then_asked_again(demo, jp_asyncio_loop):
    busy = (429, {"status": 429, "message": "Too many requests"}, {})
    scripted = ScriptedHub(*[busy] * HUB_ATTEMPTS, ALICE)
    async with scripted.serving(str(demo.root)) as service:
        status, _, body = await get(service, ALICE_HEADERS)
        assert status == 503
        assert f"answered HTTP 429 {HUB_ATTEMPTS} times" in json.loads(body)["text"]
        assert scripted.calls == HUB_ATTEMPTS
        status, _, _ = await get(service, ALICE_HEADERS)
        assert status == 200, "a busy hub's answer is not a refusal"


async def test_a_redirecting_hub_is_not_followed(demo, jp_asyncio_loop):
    """A redirect would carry the token elsewhere: the check is a 503, not a follow."""
    elsewhere = ScriptedHub(ALICE)
    await elsewhere.server.start_server()
    try:
        target = str(elsewhere.server.make_url("/hub/api/user"))
        scripted = ScriptedHub((302, None, {"Location": target}))
        async with scripted.serving(str(demo.root)) as service:
            status, _, body = await get(service, ALICE_HEADERS)
        assert status == 503
        assert "answered HTTP 302" in json.loads(body)["text"]
        assert elsewhere.calls == 0
    finally:
        await elsewhere.server.close()


async def test_no_token_in_the_hub_services_log(demo, tmp_path, jp_asyncio_loop):
    """The access log (and the parser's errors) of a real `fink-cutouts serve --jupyterhub`."""
    stand_in = StandInHub()
    await stand_in.server.start_server()
    port = free_port()
    environment = {
        **os.environ,
        "JUPYTERHUB_SERVICE_NAME": "fink-cutouts",
        "JUPYTERHUB_API_URL": str(stand_in.server.make_url("/hub/api")),
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}",
    }
    log = tmp_path / "service.log"
    with log.open("wb") as output:
        process = start_service(
            str(demo.root), port, "--jupyterhub", env=environment, stderr=output
        )
    base = f"http://127.0.0.1:{port}/services/fink-cutouts/"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{base}api/v1/openapi.json") as reply:
                        if reply.status == 403:
                            break
                await asyncio.sleep(0.1)
            cutout = urllib.parse.urlencode(QUERY)
            referer = f"{base}viewer?token=alice-token"
            for query, status in (
                (f"{cutout}&token=alice-token", 200),
                (f"token=unscoped-token&{cutout}", 403),
                (f"{cutout}&token=typo-token-secret", 403),
            ):
                url = f"{base}api/v1/cutouts?{query}"
                async with session.get(url, headers={"Referer": referer}) as reply:
                    assert reply.status == status
            too_long = f"{base}api/v1/cutouts?token=alice-token&objectId={'Z' * 40_000}"
            async with session.get(too_long) as reply:
                assert reply.status == 400
                assert "alice-token" not in await reply.text()
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)
        await stand_in.server.close()
    logged = log.read_text()
    assert logged.count("/services/fink-cutouts/api/v1/cutouts?") >= 3, logged
    assert "token=[secret]" in logged
    assert "bad request" in logged
    for token in ("alice-token", "unscoped-token", "typo-token-secret"):
        assert token not in logged, logged
