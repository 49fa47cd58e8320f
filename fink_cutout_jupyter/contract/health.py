"""/api/v1/health: whether this server can answer, for a hub or a load balancer to probe.

Cheap by design: one metadata call for the lake's science directory (a second for its live
nights' directory when there is none), one for the index's layout, one small read of that
layout (its fields checked as a lookup reads them) and one metadata call for its base's sizes
file (no index file is opened, nothing is cached). The doors run it in a thread of its own with
a short timeout, never on the event loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter._version import __version__
from fink_cutout_jupyter.contract.replies import Reply, json_reply
from fink_cutout_jupyter.errors import CutoutError
from fink_cutout_jupyter.index.layout import LAYOUT, base_sizes_file, damaged, read_layout

if TYPE_CHECKING:
    from fink_cutout_jupyter.contract.api import CutoutAPI


def health_reply(api: CutoutAPI) -> Reply:
    """200 with what was checked, or 503 with the same facts and the reasons in ``text``."""
    facts, reasons = check(api)
    metrics.observe_health(not reasons, facts["index_age_seconds"])
    if reasons:
        return json_reply(
            {"status": "error", "text": "; ".join(reasons), **facts},
            {"Cache-Control": "no-store"},
            status=503,
        )
    return json_reply({"status": "ok", **facts}, {"Cache-Control": "no-store"})


def check(api: CutoutAPI) -> tuple[dict[str, Any], list[str]]:
    """(facts, reasons the server cannot answer): lake reachable, index readable, index age.

    ``index_age_seconds`` is the time since the index's layout was last published (a build or
    a nightly update): it grows while nightly indexing is not running.
    """
    facts: dict[str, Any] = {
        "version": __version__,
        "lake": False,
        "index": False,
        "index_age_seconds": None,
        "survey": None,
    }
    reasons = []
    lake = api.lake
    try:
        # a new lake may hold live nights only: their directory is asked after the archive's
        facts["lake"] = lake.exists(lake.science_dir) or lake.exists(lake.online_dir)
        if not facts["lake"]:
            reasons.append(
                f"lake: no directory {lake.science_dir!r} (archived nights) nor "
                f"{lake.online_dir!r} (live nights) under the lake root"
            )
    except CutoutError as error:
        reasons.append(f"lake: {error}")
    store = api.index.store
    try:
        layout = read_layout(store)
        if layout is None:
            reasons.append(
                "index: the lake has no alert index yet; run: fink-cutouts index build "
                "--lake LAKE --all"
            )
        elif layout["generation"] is not None and not store.exists(
            sizes := base_sizes_file(layout["generation"])
        ):
            raise damaged(sizes, "missing, while layout.json names it")
        else:
            facts["index"] = True
            facts["survey"] = layout.get("survey")
            published = store.identity(LAYOUT).mtime_ns
            if published >= 0:
                facts["index_age_seconds"] = round(max(0.0, time.time() - published / 1e9), 3)
    except CutoutError as error:
        reasons.append(f"index: {error}")
    return facts, reasons


HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "version", "lake", "index", "index_age_seconds", "survey"],
    "additionalProperties": False,
    "properties": {
        "status": {"type": "string", "enum": ["ok", "error"]},
        "text": {"type": "string", "description": "Why the server cannot answer (503 only)"},
        "version": {"type": "string"},
        "lake": {
            "type": "boolean",
            "description": "The lake's science directory (or its live nights') answers",
        },
        "index": {"type": "boolean", "description": "The alert index's layout is readable"},
        "index_age_seconds": {
            "type": ["number", "null"],
            "minimum": 0,
            "description": "Seconds since the index was last published (a build or update)",
        },
        "survey": {"type": ["string", "null"], "description": "The indexed survey"},
    },
}


def health_path() -> dict[str, Any]:
    """The OpenAPI path item of /api/v1/health."""
    health = {"$ref": "#/components/schemas/Health"}
    either = {"anyOf": [health, {"$ref": "#/components/schemas/Error"}]}
    return {
        "get": {
            "summary": "Whether the lake is reachable and the alert index readable, for probes",
            "responses": {
                "200": {
                    "description": "The server can answer",
                    "content": {"application/json": {"schema": health}},
                },
                "503": {
                    "description": "The lake or the index is not usable (text says why), or the "
                    "server is busy",
                    "content": {"application/json": {"schema": either}},
                },
                "500": {
                    "description": "Internal error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    }
