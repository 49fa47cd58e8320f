"""Where a client without `url` or `lake` gets its cutouts, and which token it sends there.

The order: `url`; `lake`; ``FINK_CUTOUTS_URL`` (set by the hub's admin); JupyterHub's
``JUPYTERHUB_SERVICE_URL`` (this user's server); this kernel's own Jupyter server; the lake in
``FINK_CUTOUTS_LAKE`` read in-process. The hub's token (``JUPYTERHUB_API_TOKEN``) goes only to
the hub's addresses, never to a URL the user passes. A Jupyter server's token (its
``jpserver-<pid>.json``) goes only from a kernel that server runs, to the socket that server's
process listens on (`running_jupyter_server`); a server that does not answer is waited for at
most `DISCOVERY_SECONDS`, then logged and passed over.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import re
import struct
import sys
import time
import urllib.error
import urllib.parse
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

log = logging.getLogger(__name__)

DISCOVERY_SECONDS = 2.0
"""The whole wait on this kernel's Jupyter server (does it run this kernel? does it serve
/api/v1?), in seconds: a server that accepts connections and never answers costs at most this,
then discovery goes on (``FINK_CUTOUTS_LAKE``)."""

MAX_LISTING_BYTES = 64 * 1024  # a kernel's model is a few hundred bytes
_PROC = "/proc"  # Linux: who listens on a port (net/tcp, net/tcp6) and a process's sockets
_LISTEN = "0A"  # a listening socket's state in /proc/net/tcp


def running_jupyter_server(
    timeout: float, max_reply_bytes: int, seconds: float = DISCOVERY_SECONDS
) -> HTTPTransport | None:
    """This kernel's own Jupyter server, if it serves /api/v1 (the extension is enabled).

    The server is the process that started the kernel (``JPY_PARENT_PID``), found by its
    ``jpserver-<pid>.json`` in the runtime directory; another server running on the machine is
    never taken for it. Its token is sent only when all of these hold, else nothing is sent:

    - this process is a kernel (IPython's, its connection file ``kernel-<id>.json`` there): a
      script, a kernel's subprocess or a helper that merely inherited ``JPY_PARENT_PID`` never
      asks (the file may be stale, its address another program's);
    - the file's address is its process's own: on Linux, the socket listening on its port
      belongs to process ``JPY_PARENT_PID`` (``/proc``), and the token goes to that socket's
      address on this machine (the loopback one for a server on all interfaces; a file left by
      a server that died, whose process id is now the kernel's parent, names a port another
      program holds: refused); where ``/proc`` is missing, only a loopback host is asked;
    - the server lists this kernel (``/api/kernels/<id>``).

    The two requests share `seconds` (`DISCOVERY_SECONDS`); a server that does not answer in
    time is logged (a warning, without the token) and left for the next source. The transport
    returned has the caller's `timeout`. (jupyter_server's own listing costs a second of
    imports.)
    """
    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return None
    kernel = this_kernel_id()
    if kernel is None:
        log.debug("JPY_PARENT_PID is set but this process is no Jupyter kernel: no server asked")
        return None
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    info_path = os.path.join(jupyter_runtime_dir(), f"jpserver-{parent}.json")
    try:
        with open(info_path) as info_file:
            info = json.load(info_file)
        url, token = str(info["url"]), info.get("token")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    home, why = home_url(url, int(parent))
    if home is None:
        log.info("%s: not asked (%s); %s", info_path, why, _next_source())
        return None
    end = time.monotonic() + seconds
    try:
        check_kernel_listed(HTTPTransport(home, token, seconds, max_reply_bytes), kernel)
        left = end - time.monotonic()
        if left <= 0:
            raise NotUsed(f"did not answer within {seconds:.3g} s", hung=True)
        check_serves_api(HTTPTransport(home, token, left, max_reply_bytes))
    except NotUsed as reason:
        log.log(
            logging.WARNING if reason.hung else logging.INFO,
            "this kernel's Jupyter server %s %s: not used; %s",
            home,
            reason,
            _next_source(),
        )
        return None
    return HTTPTransport(home, token, timeout, max_reply_bytes)


class NotUsed(Exception):
    """Why this kernel's Jupyter server is not used; `hung`: it did not answer in time."""

    def __init__(self, why: str, hung: bool = False) -> None:
        super().__init__(why)
        self.hung = hung


def _next_source() -> str:
    if os.environ.get(LAKE_ENVIRONMENT):
        return f"reading the lake in {LAKE_ENVIRONMENT}"
    return f"no {LAKE_ENVIRONMENT} to read instead"


def this_kernel_id() -> str | None:
    """The id of the IPython kernel this code runs in, from its connection file
    (``kernel-<id>.json``, which must exist), or None outside one (no kernel application
    started in this process, or no such file)."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")  # never imported here: cheap outside
    if kernelapp is None:
        return None
    try:
        if not kernelapp.IPKernelApp.initialized():
            return None
        app = kernelapp.IPKernelApp.instance()
        path = str(getattr(app, "abs_connection_file", app.connection_file))
    except Exception:  # any failure of another package's state: no kernel
        return None
    found = re.fullmatch(r"kernel-([A-Za-z0-9-]+)\.json", os.path.basename(path))
    return found[1] if found and os.path.isfile(path) else None


def home_url(url: str, parent: int) -> tuple[str | None, str]:
    """`url` (a ``jpserver-<parent>.json``'s) with the host its token may go to, or None and
    why not.

    On Linux the socket listening on the url's port must belong to process `parent`; the host
    is then that socket's address (``127.0.0.1`` or ``::1`` for one on all interfaces), or the
    url's own loopback name when no other process listens on that port there. Without
    ``/proc``, the url's host must be loopback. The url returned has no user, query or
    fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None, "not a URL"
    if parts.scheme not in ("http", "https") or not host:
        return None, f"{parts.scheme}: not an http(s) address"
    port = port or (443 if parts.scheme == "https" else 80)
    listening = listening_sockets(port)
    if listening is None:  # no /proc: who listens cannot be told; this machine's loopback only
        if _is_loopback(host):
            return _at(parts, host, port), ""
        return None, f"its host {host} is not this machine's loopback"
    owned = socket_inodes(parent)
    if owned is None:
        return None, f"the sockets of process {parent} cannot be read"
    mine = [address for inode, address in listening.items() if inode in owned]
    if not mine:
        return None, f"process {parent} does not listen on port {port} (a dead server's file?)"
    others = [address for inode, address in listening.items() if inode not in owned]
    if _is_loopback(host) and not any(a.is_loopback or a.is_unspecified for a in others):
        return _at(parts, host, port), ""
    address = min(mine, key=lambda a: (not (a.is_loopback or a.is_unspecified), a.version))
    if address.is_unspecified:
        address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
    return _at(parts, str(address), port), ""


def _at(parts: urllib.parse.SplitResult, host: str, port: int) -> str:
    """`parts`' scheme and path at `host`:`port`, without user, query or fragment."""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def listening_sockets(port: int) -> dict[int, Address] | None:
    """The TCP sockets listening on `port` on this machine (its network namespace): inode ->
    local address, from ``/proc/net/tcp`` and ``tcp6``; None where neither can be read."""
    found: dict[int, Address] = {}
    tables = 0
    for table in ("tcp", "tcp6"):
        try:
            with open(os.path.join(_PROC, "net", table)) as lines:
                rows = [line.split() for line in lines.readlines()[1:]]
        except OSError:
            continue
        tables += 1
        for row in rows:
            if len(row) < 10 or row[3] != _LISTEN:
                continue
            hex_address, _, hex_port = row[1].partition(":")
            if int(hex_port, 16) != port:
                continue
            # each 32-bit word printed as the host reads it
            words = [int(hex_address[i : i + 8], 16) for i in range(0, len(hex_address), 8)]
            address = ipaddress.ip_address(b"".join(struct.pack("=I", w) for w in words))
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            found[int(row[9])] = address
    return found if tables else None


def socket_inodes(pid: int) -> set[int] | None:
    """The inodes of process `pid`'s sockets (``/proc/<pid>/fd``), or None if unreadable."""
    directory = os.path.join(_PROC, str(pid), "fd")
    try:
        descriptors = os.listdir(directory)
    except OSError:
        return None
    inodes = set()
    for descriptor in descriptors:
        try:
            target = os.readlink(os.path.join(directory, descriptor))
        except OSError:
            continue
        if target.startswith("socket:[") and target.endswith("]"):
            inodes.add(int(target[8:-1]))
    return inodes


def check_kernel_listed(transport: HTTPTransport, kernel: str) -> None:
    """`NotUsed` unless the Jupyter server of `transport` runs the kernel of id `kernel` (it
    lists it), all within `transport.timeout`."""
    url = f"{transport.base_url}api/kernels/{kernel}"
    request = urllib.request.Request(url, headers=transport.headers)
    deadline = Deadline(transport.timeout)
    try:
        with deadline, opener(deadline).open(request, timeout=transport.timeout) as response:
            response.read(MAX_LISTING_BYTES)
            status = response.status
    except urllib.error.HTTPError as error:
        error.close()
        raise NotUsed(f"does not list this kernel ({error.code})") from None
    except (OSError, http.client.HTTPException) as error:
        # the clock, not only the timer's flag: a socket's own timeout may fire first
        if deadline.expired or deadline.remaining() <= 0:
            raise NotUsed(f"did not answer within {transport.timeout:.3g} s", hung=True) from None
        raise NotUsed(f"cannot be reached ({type(error).__name__})") from None
    if deadline.expired:  # a shut socket reads as the end of the reply
        raise NotUsed(f"did not answer within {transport.timeout:.3g} s", hung=True)
    if status != 200:
        raise NotUsed(f"does not list this kernel ({status})")


def check_serves_api(transport: HTTPTransport) -> None:
    """`NotUsed` unless `transport`'s server answers /api/v1 (the extension is enabled)."""
    end = time.monotonic() + transport.timeout
    try:
        status = transport.get("openapi.json", {}).status
    except CutoutClientError as error:
        if error.status == 504 or time.monotonic() >= end:  # a socket's timeout: a 503
            raise NotUsed(f"did not answer within {transport.timeout:.3g} s", hung=True) from None
        raise NotUsed("cannot be reached") from None
    if status != 200:
        raise NotUsed(f"does not serve /api/v1 ({status})")


def discover(
    url: str | None = None,
    token: str | None = None,
    lake: str | Lake | None = None,
    timeout: float = 30,
    max_reply_bytes: int = MAX_REPLY_BYTES,
) -> Transport:
    """Where to get cutouts, in this order: `url`; `lake`; ``FINK_CUTOUTS_URL`` (e.g. the hub
    service ``…/services/fink-cutouts/``); JupyterHub's ``JUPYTERHUB_SERVICE_URL`` (this user's
    server); this kernel's Jupyter server (`running_jupyter_server`: asked only from a kernel it
    runs, for at most `DISCOVERY_SECONDS`); the lake in ``FINK_CUTOUTS_LAKE`` read in-process.

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
    server = running_jupyter_server(timeout, max_reply_bytes, min(timeout, DISCOVERY_SECONDS))
    if server is not None:
        return server
    if os.environ.get(LAKE_ENVIRONMENT):
        return InProcessTransport(os.environ[LAKE_ENVIRONMENT])
    raise CutoutClientError(
        503,
        "no cutout server or lake found: pass url= or lake=, or set FINK_CUTOUTS_URL or "
        "FINK_CUTOUTS_LAKE, or run in a Jupyter server with fink_cutout_jupyter enabled",
    )
