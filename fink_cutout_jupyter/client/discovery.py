"""Where a client without `url` or `lake` gets its cutouts, and which token it sends there.

The order: `url`; `lake`; ``FINK_CUTOUTS_URL`` (set by the hub's admin); JupyterHub's
``JUPYTERHUB_SERVICE_URL`` (this user's server); this kernel's own Jupyter server; the lake in
``FINK_CUTOUTS_LAKE`` read in-process. The hub's token (``JUPYTERHUB_API_TOKEN``) goes only to
the hub's addresses, never to a URL the user passes.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import urllib.request
from typing import TYPE_CHECKING

from fink_cutout_jupyter.client.answers import CutoutClientError
from fink_cutout_jupyter.client.opener import Deadline, opener
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
    never taken for it. In a kernel, the server must also list this kernel (``/api/kernels/<id>``):
    a file left by a server that died, whose process id now belongs to the kernel's parent (Voilà,
    a container's first process), may name the address of another server. (jupyter_server's own
    listing costs a second of imports.)
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
    kernel = this_kernel_id()
    if kernel is not None and not serves_kernel(transport, kernel):
        return None
    try:
        if transport.get("openapi.json", {}).status == 200:
            return transport
    except CutoutClientError:
        pass
    return None


def this_kernel_id() -> str | None:
    """The id of the IPython kernel this code runs in (its connection file is
    ``kernel-<id>.json``), or None outside one."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")  # never imported here: cheap outside
    if kernelapp is None or not kernelapp.IPKernelApp.initialized():
        return None
    name = os.path.basename(kernelapp.IPKernelApp.instance().connection_file)
    found = re.fullmatch(r"kernel-([A-Za-z0-9-]+)\.json", name)
    return found[1] if found else None


def serves_kernel(transport: HTTPTransport, kernel: str) -> bool:
    """Whether the Jupyter server of `transport` runs the kernel of id `kernel`."""
    url = f"{transport.base_url}api/kernels/{kernel}"
    request = urllib.request.Request(url, headers=transport.headers)
    deadline = Deadline(transport.timeout)
    try:
        with deadline, opener(deadline).open(request, timeout=transport.timeout) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


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
