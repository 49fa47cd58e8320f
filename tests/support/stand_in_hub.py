"""A stand-in for JupyterHub's /hub/api/user (a real aiohttp server answering as JupyterHub 6
does, counting its calls) and the standalone service checking tokens with it, on loopback."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from fink_cutout_jupyter.doors.hub_auth import HubService
from fink_cutout_jupyter.doors.settings import DoorSettings
from fink_cutout_jupyter.doors.standalone import create_app

ACCESS = "access:services!service=fink-cutouts"
TOKENS = {
    "alice-token": ("alice", [ACCESS, "read:users:name!user=alice"]),
    "admin-token": ("admin", ["access:services", "admin:users"]),
    "unscoped-token": ("bob", ["read:users:name!user=bob"]),
}
QUERY = {"objectId": "ZTF24abssjsb", "kind": "Science", "return_type": "FITS"}


class StandInHub:
    """GET /hub/api/user as the hub answers it; `calls` counts the requests."""

    def __init__(self) -> None:
        self.calls = 0
        self.app = web.Application()
        self.app.router.add_get("/hub/api/user", self.user)
        self.server = TestServer(self.app, host="127.0.0.1")

    async def user(self, request: web.Request) -> web.Response:
        self.calls += 1
        await asyncio.sleep(0.05)  # a hub round trip: concurrent checks overlap
        token = request.headers.get("Authorization", "").partition(" ")[2]
        if token not in TOKENS:
            return web.json_response({"status": 403, "message": "Forbidden"}, status=403)
        name, scopes = TOKENS[token]
        return web.json_response({"kind": "user", "name": name, "scopes": scopes})


@contextlib.asynccontextmanager
async def hub_and_service(lake: str):
    """The stand-in hub, and the service checking tokens with it (both on loopback)."""
    stand_in = StandInHub()
    async with service_checking_with(stand_in, lake) as service:
        yield stand_in, service


@contextlib.asynccontextmanager
async def service_checking_with(stand_in, lake: str):
    """The service checking tokens with a stand-in hub (both on loopback)."""
    await stand_in.server.start_server()
    hub = HubService(
        "fink-cutouts",
        str(stand_in.server.make_url("/hub/api")),
        "http://127.0.0.1:0",
        "/services/fink-cutouts/",
    )
    service = TestServer(create_app(DoorSettings(lake), hub.prefix, hub), host="127.0.0.1")
    await service.start_server()
    try:
        yield service
    finally:
        await service.close()
        await stand_in.server.close()


async def get(server, headers=None, params=QUERY, path="api/v1/cutouts"):
    url = server.make_url(f"/services/fink-cutouts/{path}")
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params=params, headers=headers or {}) as reply,
    ):
        return reply.status, reply.headers.get("Content-Type", ""), await reply.read()
