"""The standalone door's aiohttp pieces: the scrubbed access log, on a real aiohttp server."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from fink_cutout_jupyter.doors.connections import ScrubbedAccessLogger

SECRETS = ("header-secret", "cookie-secret", "referer-secret", "query-secret", "xsrf-secret")


async def test_the_access_log_has_no_token_or_credential(jp_asyncio_loop, caplog):
    async def alerts(request: web.Request) -> web.Response:
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/api/v1/alerts", alerts)
    log_format = '%a "%r" %s "%{Referer}i" %{Authorization}i %{Cookie}i'
    runner = web.AppRunner(app, access_log_class=ScrubbedAccessLogger, access_log_format=log_format)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/v1/alerts"
            query = "objectId=ZTF24abssjsb&token=query-secret&_xsrf=xsrf-secret&kind=Science"
            headers = {
                "Authorization": "token header-secret",
                "Cookie": "session=cookie-secret",
                "Referer": "http://127.0.0.1/lab?token=referer-secret",
            }
            async with session.get(f"{url}?{query}", headers=headers) as reply:
                assert reply.status == 200
    finally:
        await runner.cleanup()
    lines = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    assert len(lines) == 1
    line = lines[0]
    assert "GET /api/v1/alerts?objectId=ZTF24abssjsb&token=[secret]&_xsrf=[secret]" in line
    assert "&kind=Science" in line, "other parameters are kept"
    assert "/lab?token=[secret]" in line
    assert line.count("[secret]") == 5, line
    for secret in SECRETS:
        assert secret not in line
