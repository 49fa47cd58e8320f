"""Where a client without `url` or `lake` gets its cutouts, and which token it sends there.

The order: `url`; `lake`; ``FINK_CUTOUTS_URL`` (set by the hub's admin); JupyterHub's
``JUPYTERHUB_SERVICE_URL`` (this user's server); this kernel's own Jupyter server; the lake in
``FINK_CUTOUTS_LAKE`` read in-process. The hub's token (``JUPYTERHUB_API_TOKEN``) goes only to
the hub's addresses, never to a URL the user passes.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from fink_cutout_jupyter.client.answers import CutoutClientError
from fink_cutout_jupyter.client.transport import (
    MAX_REPLY_BYTES,
    HTTPTransport,
    InProcessTransport,
    Transport,
    base_url_and_token,
)
from fink_cutout_jupyter.doors.settings import LAKE_ENVIRONMENT

if TYPE_CHECKING:
    from fink_cutout_jupyter.storage.lake import Lake


def running_jupyter_server(timeout: float, max_reply_bytes: int) -> HTTPTransport | None:
    """This kernel's own Jupyter server, if it serves /api/v1 (the extension is enabled).

    The server is the process that started the kernel (``JPY_PARENT_PID``), found by its
    ``jpserver-<pid>.json`` in the runtime directory; another server running on the machine is
    never taken for it. (jupyter_server's own listing costs a second of imports.)
    """
    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return None
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    try:
        with open(os.path.join(jupyter_runtime_dir(), f"jpserver-{parent}.json")) as info_file:
            info = json.load(info_file)
        transport = HTTPTransport(info["url"], info.get("token"), timeout, max_reply_bytes)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        if transport.get("openapi.json", {}).status == 200:
            return transport
    except CutoutClientError:
        pass
    return None


def discover(
    url: str | None = None,
    token: str | None = None,
    lake: str | Lake | None = None,
    timeout: float = 30,
    max_reply_bytes: int = MAX_REPLY_BYTES,
) -> Transport:
    """Where to get cutouts, in this order: `url`; `lake`; ``FINK_CUTOUTS_URL`` (e.g. the hub
    service ``…/services/fink-cutouts/``); JupyterHub's ``JUPYTERHUB_SERVICE_URL`` (this user's
    server); this kernel's Jupyter server; the lake in ``FINK_CUTOUTS_LAKE`` read in-process.

    The token sent to `url` is `token`, else the ``?token=`` of `url` (the address Jupyter
    prints), else ``FINK_CUTOUTS_TOKEN``. ``FINK_CUTOUTS_URL``, set by
    the hub's admin, gets ``FINK_CUTOUTS_TOKEN``, else (in a JupyterHub user server)
    ``JUPYTERHUB_API_TOKEN``, the server's own hub token; a URL the user passes never gets it."""
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if url:
        url, token = base_url_and_token(url, token)
        token = token or os.environ.get("FINK_CUTOUTS_TOKEN")
        return HTTPTransport(url, token, timeout, max_reply_bytes)
    if lake:
        return InProcessTransport(lake)
    if os.environ.get("FINK_CUTOUTS_URL"):
        token = os.environ.get("FINK_CUTOUTS_TOKEN") or hub_token
        return HTTPTransport(os.environ["FINK_CUTOUTS_URL"], token, timeout, max_reply_bytes)
    if os.environ.get("JUPYTERHUB_SERVICE_URL") and hub_token:
        service_url = os.environ["JUPYTERHUB_SERVICE_URL"]
        return HTTPTransport(service_url, hub_token, timeout, max_reply_bytes)
    server = running_jupyter_server(min(timeout, 5), max_reply_bytes)
    if server is not None:
        return server
    if os.environ.get(LAKE_ENVIRONMENT):
        return InProcessTransport(os.environ[LAKE_ENVIRONMENT])
    raise CutoutClientError(
        503,
        "no cutout server or lake found: pass url= or lake=, or set FINK_CUTOUTS_URL or "
        "FINK_CUTOUTS_LAKE, or run in a Jupyter server with fink_cutout_jupyter enabled",
    )
