"""The urllib opener of one HTTP request: a deadline for all of it, credentials kept on the origin.

A socket timeout bounds one read only, so a server that drips its answer a byte at a time would
never time out: `Deadline` shuts the request's sockets when its time is up, which ends any read
blocked on them. `SameOriginCredentials` follows redirects as urllib does but drops
``Authorization`` (and cookies) when the redirect leads to another origin, as aiohttp and browsers
do: the token never goes to another host. Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
import urllib.request


class Deadline:
    """A request's end: at `seconds`, the sockets of its connections are shut, which ends any
    read blocked on a server that sends too slowly (a socket timeout bounds one read only)."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once it has passed)."""
        return self._end - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` at the deadline (at once if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def connection_class(
        self, base: type[http.client.HTTPConnection]
    ) -> type[http.client.HTTPConnection]:
        """`base`, its connections watched by this deadline."""
        deadline = self

        class Watched(base):  # type: ignore[valid-type,misc]  # a base given at run time
            def connect(self) -> None:
                self.timeout = deadline.remaining()  # connecting counts too
                if self.timeout <= 0:
                    raise TimeoutError("the deadline passed before connecting")
                super().connect()
                # The socket itself: urllib lets go of the connection's once the headers are in.
                deadline.watch(self.sock)

        return Watched


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown: safe while another thread reads (also under TLS); a socket
    # closed since (the reply read in time) has no file descriptor left to shut.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(self.deadline.connection_class(http.client.HTTPConnection), req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        connection = self.deadline.connection_class(http.client.HTTPSConnection)
        return self.do_open(connection, req, context=self._context)


class SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """Redirects followed as urllib does, with ``Authorization`` kept only on the same origin
    (scheme, host and port), as aiohttp and browsers do."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(new.full_url) != _origin(req.full_url):
            for name in list(new.headers):
                if name.lower() in ("authorization", "cookie"):
                    del new.headers[name]
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def opener(deadline: Deadline) -> urllib.request.OpenerDirector:
    """An opener whose connections `deadline` watches and whose redirects keep the token home."""
    return urllib.request.build_opener(
        _DeadlineHTTPHandler(deadline), _DeadlineHTTPSHandler(deadline), SameOriginCredentials()
    )
