"""The contract's replies as plain data: `Reply`, its JSON and error shapes, and the routes.

Standard library only, so that the doors import it at start-up without loading pyarrow, numpy or
the API (which load in a worker thread on the first request).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fink_cutout_jupyter.errors import quote

ROUTES = ("cutouts", "alerts", "history", "limits", "openapi.json", "health")


@dataclass(frozen=True)
class Reply:
    """An HTTP response as plain data."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(payload: Any, headers: Mapping[str, str] | None = None, status: int = 200) -> Reply:
    """A JSON reply; a float that is not finite (NaN, infinity: not JSON) is written null."""
    body = json.dumps(_finite_floats(payload), allow_nan=False).encode()
    return Reply(status, body, {"Content-Type": "application/json", **(headers or {})})


def _finite_floats(payload: Any) -> Any:
    """`payload` with every float that is not finite, at any depth, replaced by None."""
    if isinstance(payload, dict):
        return {key: _finite_floats(value) for key, value in payload.items()}
    if isinstance(payload, list | tuple):
        return [_finite_floats(value) for value in payload]
    return None if isinstance(payload, float) and not math.isfinite(payload) else payload


def no_route_reply(route: str) -> Reply:
    """The 404 of a path under /api/v1 that is none of `ROUTES` (both doors answer it)."""
    return error_reply(404, f"no route {quote(route)}; routes: {', '.join(ROUTES)}")


def error_reply(status: int, text: str) -> Reply:
    """The seed's error shape: ``{"status": "error", "text": ...}``."""
    return json_reply({"status": "error", "text": text}, status=status)
