"""The interactive API page: ``/api/v1/docs``, Swagger UI over the served OpenAPI document.

Both doors serve the same `APIPage`: the page itself (``{base}api/v1/docs``, our own small
template, ``static/api_page.html``) and the files it loads (``{base}api/v1/docs/<asset>``): Swagger
UI's bundle, its CSS and icons from the installed ``swagger-ui-bundle-v2`` package (no CDN: a hub
may be offline), and ``static/api_page.js``, which starts Swagger UI. Only the files of `ASSETS`
are served (an allow-list: any other name, ``..`` or an absolute path is a 404).

Every URL of the page is relative to the page (``docs/swagger-ui.css``, ``openapi.json``), so it
works under any base URL (a Jupyter server's ``/user/<name>/``, a hub service's prefix) and the
HTML holds no address, token or user. The page's `CONTENT_SECURITY_POLICY` lets it load and
fetch from its own origin only.

Swagger UI 5 or later is needed: Swagger UI 4 (the ``swagger-ui-bundle`` package, 4.15.5) does
not read OpenAPI 3.1 documents; both packages install the same ``swagger_ui_bundle`` module.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import importlib
import re
import string
from dataclasses import dataclass
from pathlib import Path

from fink_cutout_jupyter._version import __version__
from fink_cutout_jupyter.contract.replies import Reply, error_reply
from fink_cutout_jupyter.errors import quote

PAGE_ROUTE = "docs"
STATIC = Path(__file__).parent / "static"
_JS, _CSS, _PNG = "text/javascript; charset=utf-8", "text/css; charset=utf-8", "image/png"
# The files the page loads: name -> media type. Swagger UI's files come from its package.
SWAGGER_UI_ASSETS = {
    "swagger-ui-bundle.js": _JS,
    "swagger-ui.css": _CSS,
    "favicon-32x32.png": _PNG,
    "favicon-16x16.png": _PNG,
}
OWN_ASSETS = {"api_page.js": _JS}
ASSETS = SWAGGER_UI_ASSETS | OWN_ASSETS
# Each asset's URL carries a hash of its content (?v=), so a long cache is safe.
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CACHE_CONTROL = "no-cache"
# Scripts, styles, images and requests of the page's own origin only (Swagger UI sets inline
# styles; its CSS draws icons from data: URLs; a PNG answer is shown from a blob: URL).
SOURCES_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; base-uri 'none'"
)
CONTENT_SECURITY_POLICY = f"{SOURCES_POLICY}; frame-ancestors 'self'"
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": PAGE_CACHE_CONTROL,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "strict-origin",
    "X-Content-Type-Options": "nosniff",
}
MIN_SWAGGER_UI = 5  # the first major version that reads OpenAPI 3.1
SWAGGER_UI_PACKAGE = "swagger-ui-bundle-v2"


class SwaggerUIMissing(Exception):
    """Swagger UI is not installed, or too old to read the OpenAPI 3.1 document."""


@dataclass(frozen=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


def swagger_ui_files() -> tuple[Path, str]:
    """Where the installed Swagger UI's files are, and its version.

    Returns
    -------
    tuple of (Path, str)
        The directory of Swagger UI's distribution files (``swagger_ui_bundle.swagger_ui_path``)
        and Swagger UI's version, read from that directory's name (``swagger-ui-5.31.0``).

    Raises
    ------
    SwaggerUIMissing
        The ``swagger_ui_bundle`` module is missing, or its Swagger UI is older than 5.
    """
    try:
        module = importlib.import_module("swagger_ui_bundle")
    except ImportError as error:
        raise SwaggerUIMissing(
            f"the API page needs Swagger UI: pip install {SWAGGER_UI_PACKAGE}"
        ) from error
    directory = Path(module.swagger_ui_path)
    version = swagger_ui_version(directory.name)
    if int(version.split(".")[0]) < MIN_SWAGGER_UI:
        raise SwaggerUIMissing(
            f"Swagger UI {version} cannot show an OpenAPI 3.1 document (version "
            f"{MIN_SWAGGER_UI} or later can): pip install {SWAGGER_UI_PACKAGE}"
        )
    return directory, version


def swagger_ui_version(directory_name: str) -> str:
    """Swagger UI's version from its directory's name in the package (``swagger-ui-5.31.0``)."""
    match = re.fullmatch(r"swagger-ui-(\d+\.\d+\.\d+)", directory_name)
    if match is None:
        raise SwaggerUIMissing(
            f"no Swagger UI version in the directory name {quote(directory_name)}"
        )
    return match[1]


class APIPage:
    """The API page and its assets, read once from the packages (off the event loop) and kept.

    Parameters
    ----------
    title : str
        The page's title.
    """

    def __init__(self, title: str = f"Fink cutouts {__version__}: the /api/v1 API") -> None:
        self.title = title
        self._page: Reply | None = None
        self._assets: dict[str, _Asset] = {}
        self._loading: asyncio.Lock | None = None

    async def page(self) -> Reply:
        """The page's HTML (503 naming the package to install if Swagger UI is missing)."""
        try:
            await self._load()
        except SwaggerUIMissing as error:
            return error_reply(503, str(error))
        assert self._page is not None
        return self._page

    async def asset(self, name: str, if_none_match: str | None = None) -> Reply:
        """One file of `ASSETS` (304 if `if_none_match` holds its ETag); any other name is 404.

        Parameters
        ----------
        name : str
            The path after ``api/v1/docs/``, as the door decoded it.
        if_none_match : str or None
            The request's ``If-None-Match`` header.
        """
        if name not in ASSETS:
            allowed = ", ".join(sorted(ASSETS))
            return error_reply(404, f"no file {quote(name)} of the API page; files: {allowed}")
        try:
            await self._load()
        except SwaggerUIMissing as error:
            return error_reply(503, str(error))
        asset = self._assets[name]
        headers = {"ETag": asset.etag, "Cache-Control": ASSET_CACHE_CONTROL}
        if if_none_match and asset.etag in (tag.strip() for tag in if_none_match.split(",")):
            return Reply(304, b"", headers)
        return Reply(200, asset.body, {"Content-Type": asset.media_type, **headers})

    async def _load(self) -> None:
        if self._page is not None:
            return
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self._page is None:
                self._assets, self._page = await asyncio.to_thread(self._read)

    def _read(self) -> tuple[dict[str, _Asset], Reply]:
        """Every asset's bytes and the page that names them (in a worker thread)."""
        directory, version = swagger_ui_files()
        assets = {}
        for name, media_type in ASSETS.items():
            body = ((STATIC if name in OWN_ASSETS else directory) / name).read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            assets[name] = _Asset(body, media_type, f'"{digest}"')
        template = string.Template((STATIC / "api_page.html").read_text(encoding="utf-8"))
        urls = {
            re.sub(r"\W", "_", name): f"docs/{name}?v={asset.etag.strip(chr(34))}"
            for name, asset in assets.items()
        }
        text = template.substitute(
            title=html.escape(self.title),
            swagger_ui_version=html.escape(version),
            **{key: html.escape(url) for key, url in urls.items()},
        )
        return assets, Reply(200, text.encode(), dict(PAGE_HEADERS))
