"""What a door answers, seen the same way through either door.

``Response`` is the one shape the contract tests read (``tests/doors/test_contract.py``),
whatever the door's HTTP client; ``jupyter_fetch`` and ``standalone_fetch`` make the async
``fetch(path, method="GET", params=None, body=None, headers=None) -> Response`` of each door.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]  # case-insensitive (tornado HTTPHeaders, aiohttp CIMultiDict)
    body: bytes

    def json(self):
        return json.loads(self.body)


def release(fifo: Path) -> None:
    """Let a read waiting on a FIFO go on (it sees end of file); no-op if nobody waits."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def jupyter_fetch(jp_fetch):
    """The fetch of the Jupyter door, through pytest-jupyter's `jp_fetch`."""

    async def fetch(path, method="GET", params=None, body=None, headers=None):
        extra = {"body": body} if body is not None else {}
        response = await jp_fetch(
            *path.split("/"),
            method=method,
            params=params,
            headers=headers,
            raise_error=False,
            **extra,
        )
        return Response(response.code, response.headers, response.body)

    return fetch


def standalone_fetch(server):
    """The fetch of the standalone door, through aiohttp's client to a started `TestServer`."""
    import aiohttp

    async def fetch(path, method="GET", params=None, body=None, headers=None):
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                server.make_url("/" + path),
                params=params,
                data=io.BytesIO(body) if body is not None else None,
                headers=headers,
            ) as response,
        ):
            return Response(response.status, response.headers, await response.read())

    return fetch
