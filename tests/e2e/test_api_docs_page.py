"""The interactive API page, /api/v1/docs, in Debian's Chromium driven by Playwright, on real
servers of the demo lake: a Jupyter server with the extension under /user/astro/ (logged in with
its login form: the cookie, then the page's X-XSRFToken on a POST), ``fink-cutouts serve`` under
a base URL, and the standalone app as a hub service (a stand-in hub checks the tokens; the page
is opened with ?token=).

On each: Swagger UI shows the served document; "Try it out" on GET /api/v1/cutouts (the demo
object, Science, as JSON arrays, then as PNG) and on POST /api/v1/cutouts (as FITS) answers 200,
and what the page received is what the door's own request returns, and is the stored stamp
(pyarrow reads the lake, astropy the stamp's bytes). Every request the browser makes stays on
the server's origin, the page reports no error (no Content-Security-Policy refusal), and no URL
the page requests carries the token.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from PIL import Image
from support.browser import browser_page, require_chromium
from support.exports import lake_files
from support.servers import free_port, start_jupyter_server, start_service, wait_for_http

from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

TOKEN = "docs-e2e-token"
HUB_TOKEN = "alice-token"  # support.stand_in_hub's token with access to the service
QUERY = {"objectId": DEMO_OBJECT_ID, "kind": "Science"}


@dataclass
class Door:
    """A served door: its base URL (ending in /), how the browser logs in, the API's headers."""

    name: str
    base: str
    headers: dict[str, str] = field(default_factory=dict)
    login_token: str = ""  # typed into Jupyter's login form
    page_query: str = ""  # the page opened with this query (a hub service's ?token=)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="module")
def stored(demo) -> dict:
    """The demo object's latest alert's Science stamp as the lake stores it: its FITS bytes
    (gunzipped) and astropy's pixels of them."""
    rows = []
    for path in lake_files(demo.root):
        table = pq.read_table(path, columns=["objectId", "candidate", "cutoutScience"])
        rows += table.filter(pc.equal(table.column("objectId"), DEMO_OBJECT_ID)).to_pylist()
    latest = max(rows, key=lambda row: row["candidate"]["jd"])
    data = gzip.decompress(latest["cutoutScience"]["stampData"])
    with fits.open(io.BytesIO(data)) as hdus:
        pixels = next(hdu.data for hdu in hdus if hdu.data is not None).astype(np.float32)
    return {"fits": data, "pixels": pixels}


@pytest.fixture(scope="module")
def jupyter_door(demo, tmp_path_factory):
    require_chromium()
    port = free_port()
    root = tmp_path_factory.mktemp("jupyter-docs")
    server = start_jupyter_server(str(demo.root), port, root, "/user/astro/", TOKEN)
    base = f"http://127.0.0.1:{port}/user/astro/"
    headers = {"Authorization": f"token {TOKEN}"}
    try:
        wait_for_http(f"{base}api/v1/health", headers)
        yield Door("jupyter", base, headers, login_token=TOKEN)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def standalone_door(demo):
    require_chromium()
    port = free_port()
    process = start_service(str(demo.root), port, "--base-url", "/fink/cutouts/")
    base = f"http://127.0.0.1:{port}/fink/cutouts/"
    try:
        wait_for_http(f"{base}api/v1/health")
        yield Door("standalone", base)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def hub_door(demo, jp_asyncio_loop):
    """The standalone app as the hub service /services/fink-cutouts/, in this process."""
    from support.stand_in_hub import StandInHub, service_checking_with

    require_chromium()
    serving = service_checking_with(StandInHub(), str(demo.root))
    service = jp_asyncio_loop.run_until_complete(serving.__aenter__())
    base = str(service.make_url("/services/fink-cutouts/"))
    headers = {"Authorization": f"token {HUB_TOKEN}"}
    yield Door("hub", base, headers, page_query=f"?token={HUB_TOKEN}")
    jp_asyncio_loop.run_until_complete(serving.__aexit__(None, None, None))


@pytest.fixture(params=["jupyter", "standalone", "hub"])
def door(request) -> Door:
    return request.getfixturevalue(f"{request.param}_door")


async def door_answer(door: Door, method: str, parameters: dict) -> tuple[int, bytes]:
    """What the door answers to its own request (not through the page)."""
    url = f"{door.base}api/v1/cutouts"
    async with aiohttp.ClientSession(headers=door.headers) as session:
        if method == "get":
            request = session.get(url, params=parameters)
        else:
            request = session.post(url, data=json.dumps(parameters).encode())
        async with request as response:
            return response.status, await response.read()


def pixels_of_json(body: bytes) -> np.ndarray:
    (stamp,) = json.loads(body)
    return np.array([[np.nan if v is None else v for v in row] for row in stamp], np.float32)


async def try_it_out(page, method: str, parameters: dict):
    """Open METHOD /api/v1/cutouts, "Try it out" with `parameters`, Execute: the response the
    browser received, and the operation's block (where the page shows it)."""
    summary = page.locator(".opblock-summary-path", has_text="/api/v1/cutouts")
    block = page.locator(f".opblock-{method}", has=summary).first
    if not await block.locator(".opblock-body").count():
        await block.locator(".opblock-summary").click()
    toggle = block.locator("button.try-out__btn")  # "Try it out", then "Cancel"
    await toggle.wait_for()
    if "Try it out" in await toggle.inner_text():
        await toggle.click()
    box = (
        block.locator("tr[data-param-name=parameters] textarea")
        if method == "get"
        else block.locator(".body-param textarea")
    )
    await box.fill(json.dumps(parameters))
    async with page.expect_response(
        lambda r: urlsplit(r.url).path.endswith("/api/v1/cutouts")
    ) as info:
        await block.locator("button.execute").click()
    response = await info.value
    await response.finished()
    shown = block.locator(".live-responses-table tbody .response-col_status").first
    await shown.wait_for(timeout=60_000)
    assert (await shown.inner_text()).strip() == "200"
    return response, block


async def test_try_it_out_shows_the_stored_stamp_and_stays_on_the_origin(door, stored):
    requests: list = []
    problems: list[str] = []
    async with browser_page(f"api-docs-{door.name}") as page:
        if door.login_token:  # Jupyter's login form: the login cookie, no token in any URL
            await page.goto(f"{door.base}login")
            await page.locator("#password_input").fill(door.login_token)
            await page.locator("#login_submit").click()
            await page.wait_for_url(lambda url: "/login" not in url)
        page.on("request", lambda request: requests.append(request))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        await page.goto(f"{door.base}api/v1/docs{door.page_query}")
        await page.locator(".info .title", has_text="Fink cutouts").wait_for(timeout=60_000)

        # GET as JSON arrays: the body the browser got is the door's answer, the stored pixels.
        array = QUERY | {"return_type": "array"}
        response, _ = await try_it_out(page, "get", array)
        body = await response.body()
        assert (response.status, body) == await door_answer(door, "get", array)
        np.testing.assert_array_equal(pixels_of_json(body), stored["pixels"])

        # GET as PNG: the image the page shows (from a blob: URL) is the door's PNG.
        png = QUERY | {"return_type": "PNG"}
        _, block = await try_it_out(page, "get", png)
        image = block.locator(".live-responses-table tbody img").first
        await image.wait_for()
        shown = await image.evaluate(
            """async img => {
                await img.decode();
                const canvas = document.createElement("canvas");
                canvas.width = img.naturalWidth;
                canvas.height = img.naturalHeight;
                const context = canvas.getContext("2d");
                context.drawImage(img, 0, 0);
                const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
                return {width: canvas.width, height: canvas.height, rgba: Array.from(rgba)};
            }"""
        )
        status, door_png = await door_answer(door, "get", png)
        assert status == 200
        expected = np.asarray(Image.open(io.BytesIO(door_png)).convert("RGBA"))
        drawn = np.array(shown["rgba"], np.uint8).reshape(shown["height"], shown["width"], 4)
        np.testing.assert_array_equal(drawn, expected)

        # POST as FITS (a Jupyter server checks XSRF here): the file the page offers is the
        # door's answer, the stored FITS file itself.
        fits_query = QUERY | {"return_type": "FITS"}
        _, block = await try_it_out(page, "post", fits_query)
        link = block.locator(".live-responses-table tbody a[download]", has_text="Download")
        async with page.expect_download() as download_info:
            await link.click()
        received = Path(await (await download_info.value).path()).read_bytes()
        assert received == stored["fits"]
        assert (200, received) == await door_answer(door, "post", fits_query)

    page_url = f"{door.base}api/v1/docs{door.page_query}"
    seen = [(request.method, request.url) for request in requests]
    assert ("GET", page_url) in seen
    assert any(url.startswith(f"{door.base}api/v1/openapi.json") for _, url in seen)
    for request in requests:
        url = request.url.removeprefix("blob:")  # a blob: URL names the origin that made it
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == door.origin, f"left the origin: {url}"
        if request.url != page_url:
            assert "token" not in request.url, f"a token in a URL the page built: {request.url}"
            assert "token=" not in (request.headers.get("referer") or "")
    assert problems == [], problems  # no script error, no Content-Security-Policy refusal
    posts = [request for request in requests if request.method == "POST"]
    assert len(posts) == 1
    if door.name == "jupyter":  # logged in by cookie: the page sent the XSRF header
        assert posts[0].headers.get("x-xsrftoken")
        assert "authorization" not in posts[0].headers
    if door.name == "hub":  # the page's ?token=, as a header
        assert posts[0].headers.get("authorization") == f"token {HUB_TOKEN}"
