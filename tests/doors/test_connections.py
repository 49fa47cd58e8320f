"""The standalone door's aiohttp pieces: the scrubbed access log, on a real aiohttp server."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from fink_cutout_jupyter.doors.connections import ScrubbedAccessLogger, scrub_secrets

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


def test_scrubbing_keeps_what_is_not_secret():
    text = "GET /x?objectId=ZTF1&token=abc&kind=All HTTP/1.1 and a token of alice"
    assert scrub_secrets(text) == (
        "GET /x?objectId=ZTF1&token=[secret]&kind=All HTTP/1.1 and a token of alice"
    )
    assert scrub_secrets("b'GET /?auth_token=abcdef...'") == "b'GET /?auth_token=[secret]'"


def test_the_scrubbing_both_doors_share_needs_only_the_standard_library():
    """The Jupyter door scrubs with it (no private jupyter_server function, whose arguments
    change between versions) without importing aiohttp; extra parameter names are honoured as
    jupyter_server's ``extra_log_scrub_param_keys``."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fink_cutout_jupyter.doors.scrubbing import scrub_secrets\n"
        "print(scrub_secrets('GET /x?session_id=s1&token=t1&kind=All', keys=['session']))\n"
        "print(sorted({'aiohttp', 'tornado', 'jupyter_server'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    scrubbed, imported = done.stdout.splitlines()
    assert scrubbed == "GET /x?session_id=[secret]&token=[secret]&kind=All"
    assert imported == "[]"
