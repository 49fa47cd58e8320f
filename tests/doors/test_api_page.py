"""The interactive API page, /api/v1/docs, on both doors and the hub service: the page and its
files, the allow-list, authentication, base URLs.

Each door is a real server on the demo lake: the Jupyter server extension under /user/astro/
(pytest-jupyter), the standalone aiohttp app under a base URL, and the standalone app as a hub
service checking tokens with a stand-in hub. Requests go out as raw HTTP (`raw_get`), so that a
path like ``docs/../x`` reaches the server as written (HTTP clients would normalize it). The
files are expected to be those of the installed Swagger UI package, read from it here.
"""

from __future__ import annotations

import asyncio
import html.parser
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from aiohttp.test_utils import TestServer
from traitlets.config import Config

from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

REPOSITORY = Path(__file__).resolve().parents[2]
OWN_STATIC = REPOSITORY / "fink_cutout_jupyter" / "doors" / "static"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
HUB_TOKEN = "alice-token"  # support.stand_in_hub's token with access to the service


@dataclass
class Door:
    """A served door: its base URL (ending in /) and the headers that authenticate."""

    name: str
    base: str
    headers: dict[str, str]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


async def raw_get(url: str, path: str, headers: dict[str, str] | None = None) -> Answer:
    """GET `path` (as written: no normalization, no quoting) under the base `url`, over a raw
    HTTP/1.1 connection."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"GET {parts.path}{path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        value = value.strip()
        answer_headers[key] = f"{answer_headers[key]}, {value}" if key in answer_headers else value
    assert "chunked" not in answer_headers.get("transfer-encoding", ""), "a Content-Length reply"
    return Answer(int(status_line.split()[1]), answer_headers, body)


class _Links(html.parser.HTMLParser):
    """The script, stylesheet and icon URLs of a page, and its data-swagger-ui-version."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.version = ""

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"])
        if tag == "link" and values.get("rel") in ("stylesheet", "icon"):
            self.urls.append(values["href"])
        if tag == "body":
            self.version = values.get("data-swagger-ui-version", "")


def links(page: bytes) -> _Links:
    parser = _Links()
    parser.feed(page.decode())
    return parser


def swagger_ui_directory() -> Path:
    """The installed Swagger UI's files, as its package tells (independently of the door)."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


# -- the doors --------------------------------------------------------------------------------


@pytest.fixture
def jp_base_url():
    return "/user/astro/"


@pytest.fixture
def jp_server_config(demo):
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"fink_cutout_jupyter": True}},
            "FinkCutoutsApp": {"lake": str(demo.root), "workers": 2},
        }
    )


@pytest.fixture
def jupyter_door(http_server_client, jp_http_port, jp_base_url, jp_auth_header) -> Door:
    return Door("jupyter", f"http://127.0.0.1:{jp_http_port}{jp_base_url}", dict(jp_auth_header))


@pytest.fixture
def standalone_door(demo, jp_asyncio_loop):
    from fink_cutout_jupyter.doors.settings import DoorSettings
    from fink_cutout_jupyter.doors.standalone import create_app

    server = TestServer(create_app(DoorSettings(str(demo.root)), "fink/cutouts"), host="127.0.0.1")
    jp_asyncio_loop.run_until_complete(server.start_server())
    yield Door("standalone", str(server.make_url("/fink/cutouts/")), {})
    jp_asyncio_loop.run_until_complete(server.close())


@pytest.fixture
def hub_door(demo, jp_asyncio_loop):
    from support.stand_in_hub import StandInHub, service_checking_with

    serving = service_checking_with(StandInHub(), str(demo.root))
    service = jp_asyncio_loop.run_until_complete(serving.__aenter__())
    base = str(service.make_url("/services/fink-cutouts/"))
    yield Door("hub", base, {"Authorization": f"token {HUB_TOKEN}"})
    jp_asyncio_loop.run_until_complete(serving.__aexit__(None, None, None))


@pytest.fixture(params=["jupyter", "standalone", "hub"])
def door(request) -> Door:
    """Each door in turn, on the demo lake; only the one asked for is started."""
    return request.getfixturevalue(f"{request.param}_door")


# -- the page and its files -------------------------------------------------------------------


async def test_the_page_loads_swagger_ui_and_the_document_relative_to_itself(door):
    page = await raw_get(door.base, "api/v1/docs", door.headers)
    assert page.status == 200, page.body
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
        assert directive in policy
    found = links(page.body)
    directory = swagger_ui_directory()
    assert found.version == directory.name.removeprefix("swagger-ui-")
    assert int(found.version.split(".")[0]) >= 5, "Swagger UI 5+ reads OpenAPI 3.1"
    names = {urlsplit(url).path for url in found.urls}
    assert names == {
        "docs/swagger-ui-bundle.js",
        "docs/swagger-ui.css",
        "docs/api_page.js",
        "docs/favicon-32x32.png",
        "docs/favicon-16x16.png",
    }, "every URL relative to the page, under docs/"
    for url in found.urls:
        # Resolved as a browser does, against the page's own URL under the door's base.
        absolute = urljoin(f"{door.base}api/v1/docs", url)
        assert absolute.startswith(f"{door.base}api/v1/docs/")
        name = urlsplit(url).path.removeprefix("docs/")
        # Swagger UI's files are not behind the hub's token (a browser loads them without it).
        asset = await raw_get(door.base, absolute.removeprefix(door.base), door.headers)
        assert asset.status == 200, (url, asset.body[:200])
        assert asset.headers["content-type"].split(";")[0] == MEDIA_TYPES[Path(name).suffix]
        source = OWN_STATIC if name == "api_page.js" else directory
        assert asset.body == (source / name).read_bytes()
        assert "max-age=31536000" in asset.headers["cache-control"]
        assert urlsplit(url).query == f"v={asset.headers['etag'].strip(chr(34))}", "cache-busting"
        revalidate = {**door.headers, "If-None-Match": asset.headers["etag"]}
        again = await raw_get(door.base, f"api/v1/docs/{name}", revalidate)
        assert again.status == 304
        assert again.body == b""


async def test_swagger_ui_is_started_on_the_document_with_credentials_for_this_origin_only():
    script = (OWN_STATIC / "api_page.js").read_text()
    assert 'new URL("openapi.json", document.baseURI)' in script
    assert "validatorUrl: null" in script  # no badge fetched from swagger.io
    assert "requestInterceptor: withCredentials" in script
    assert '"X-XSRFToken"' in script
    assert "target.origin !== window.location.origin" in script


@pytest.mark.parametrize(
    "path",
    [
        "api/v1/docs/../api_page.py",
        "api/v1/docs/..%2fapi_page.py",
        "api/v1/docs/%2e%2e/api_page.py",
        "api/v1/docs/%2E%2E%2Fapi_page.py",
        "api/v1/docs/%2e%2e%2f%2e%2e%2f_version.py",
        "api/v1/docs/static/api_page.js",
        "api/v1/docs//etc/passwd",
        "api/v1/docs/%2Fetc%2Fpasswd",
        "api/v1/docs/api_page.html",  # our template: only served filled in, as the page
        "api/v1/docs/swagger-initializer.js",  # in Swagger UI's package: loads the Petstore
        "api/v1/docs/index.html",
        "api/v1/docs/",
        "api/v1/docs/swagger-ui-bundle.js%00.png",
    ],
)
async def test_only_the_pages_own_files_are_served(door, path):
    answer = await raw_get(door.base, path, door.headers)
    assert answer.status == 404, (path, answer.status, answer.body[:300])
    assert answer.json()["status"] == "error"
    assert b"root:" not in answer.body
    assert b"__version__" not in answer.body
    assert b"SwaggerUIBundle" not in answer.body


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["api/v1/docs", "api/v1/docs/swagger-ui-bundle.js"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "token wrong-token"}])
async def test_the_jupyter_page_needs_the_users_login(jupyter_door, path, headers):
    answer = await raw_get(jupyter_door.base, path, headers)
    assert answer.status in (302, 403), answer.status
    if answer.status == 302:  # a page: to the login page, and back
        assert "/user/astro/login?next=" in answer.headers["location"]
    assert b"SwaggerUIBundle" not in answer.body
    assert b"swagger-ui" not in answer.body


async def test_the_jupyter_page_sets_the_xsrf_cookie_and_never_shows_the_token(
    jupyter_door, caplog
):
    token = jupyter_door.headers["Authorization"].split()[-1]
    caplog.set_level(logging.DEBUG)
    page = await raw_get(jupyter_door.base, f"api/v1/docs?token={token}")
    assert page.status == 200
    assert "_xsrf=" in page.headers["set-cookie"]  # sent back by the page as X-XSRFToken
    assert token.encode() not in page.body
    for record in caplog.records:
        assert token not in record.getMessage()


async def test_the_hub_services_page_needs_a_token_but_swagger_uis_files_do_not(hub_door):
    refused = await raw_get(hub_door.base, "api/v1/docs")
    assert refused.status == 403
    assert "token is required" in refused.json()["text"]
    unscoped = await raw_get(hub_door.base, "api/v1/docs?token=unscoped-token")
    assert unscoped.status == 403
    page = await raw_get(hub_door.base, f"api/v1/docs?token={HUB_TOKEN}")
    assert page.status == 200
    assert HUB_TOKEN.encode() not in page.body
    assert (await raw_get(hub_door.base, "api/v1/openapi.json")).status == 403
    for url in links(page.body).urls:
        assert (await raw_get(hub_door.base, f"api/v1/{url}")).status == 200, url


async def test_the_document_and_the_api_answer_where_the_page_points(door):
    """What the page fetches: the document beside it, whose server is the door's base."""
    document = await raw_get(door.base, "api/v1/openapi.json", door.headers)
    assert document.status == 200
    server = document.json()["servers"][0]["url"]
    assert urljoin(door.base, server).rstrip("/") + "/" == door.base
    query = f"objectId={DEMO_OBJECT_ID}&kind=Science&return_type=array"
    stamp = await raw_get(door.base, f"api/v1/cutouts?{query}", door.headers)
    assert stamp.status == 200
    assert len(stamp.json()) == 1


# -- Swagger UI's package ---------------------------------------------------------------------


def test_the_version_is_read_from_the_directory():
    from fink_cutout_jupyter.doors.api_page import SwaggerUIMissing, swagger_ui_version

    assert swagger_ui_version("swagger-ui-5.31.0") == "5.31.0"
    with pytest.raises(SwaggerUIMissing, match="no Swagger UI version"):
        swagger_ui_version("dist")


async def test_swagger_ui_4_is_refused_naming_the_package_to_install(tmp_path, monkeypatch):
    """The ``swagger-ui-bundle`` package (Swagger UI 4.15.5) installs the same module as
    ``swagger-ui-bundle-v2``: the page says what to install instead of a page that fails."""
    from fink_cutout_jupyter.doors.api_page import APIPage

    package = tmp_path / "swagger_ui_bundle"
    (package / "vendor" / "swagger-ui-4.15.5").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pathlib import Path\n"
        "swagger_ui_path = Path(__file__).parent / 'vendor' / 'swagger-ui-4.15.5'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "swagger_ui_bundle", raising=False)
    page = APIPage()
    for reply in (await page.page(), await page.asset("swagger-ui.css")):
        assert reply.status == 503
        text = json.loads(reply.body)["text"]
        assert "Swagger UI 4.15.5 cannot show an OpenAPI 3.1 document" in text
        assert "pip install swagger-ui-bundle-v2" in text
