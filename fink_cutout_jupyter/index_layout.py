"""The index's layout (``layout.json``): every file a lookup may open, published in one write.

A reader needs nothing but this document to find its files: no directory listing, and every
file's size is in it (or, for the base, in ``base-<G>/sizes.json``, read once per generation),
so that opening an index file on HDFS is one NameNode call. Writers write their files first and
publish the layout last; files it no longer names are deleted after.

Deltas are nightly entries not yet compacted into the base. Each has an ``order`` (later writes
have larger orders): a night's entries come from the delta of largest order that holds the night,
or from the base if no delta does. Deltas merge by size tier, as in a log-structured merge:
when `FANOUT` deltas share a level they become one delta of the next level, so a lookup opens
at most about ``(FANOUT - 1) * log_FANOUT(nights)`` deltas however many nights wait for
compaction, and each entry is rewritten about ``log_FANOUT(nights)`` times before it.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

from .errors import IndexDamaged, IndexOutdated, NotFound

if TYPE_CHECKING:
    from .lake import Lake

INDEX_FORMAT = 5
FANOUT = 4
TABLE_NAMES = ("objects", "alerts")
LAYOUT = "layout.json"
REPAIR_COMMAND = "fink-cutouts index build --lake LAKE --all --rebuild"


def damaged(relative: str, reason: str) -> IndexDamaged:
    """The error for an index file that is missing, truncated or malformed."""
    error = IndexDamaged(
        f"objectId: the alert index file {relative} is damaged ({reason}); "
        f"repair the index: {REPAIR_COMMAND}"
    )
    error.file, error.reason = relative, reason
    return error


def check_format(layout: dict) -> None:
    """Refuse an index written in another format, saying how to rebuild it."""
    if layout.get("format") != INDEX_FORMAT:
        raise IndexOutdated(
            f"objectId: the lake's alert index is in format {layout.get('format')}, this "
            f"version reads format {INDEX_FORMAT}; rebuild it: "
            "fink-cutouts index build --lake LAKE --all --rebuild"
        )


def new_layout(survey: str) -> dict:
    return {
        "format": INDEX_FORMAT,
        "survey": survey,
        "buckets": 1,
        "generation": None,
        "deltas": [],
        "next": 0,
        "first_manifest": 0,  # manifests nights/<order>.json count from this order to "next"
    }


def read_layout(store: Lake, check: bool = True, look_first: bool = True) -> dict | None:
    """The published layout, or None if there is no index.

    With `look_first`, its existence is checked before reading it (two more calls on HDFS,
    whose client logs a Java stack trace for a missing file it is asked to open)."""
    if look_first and not store.exists(LAYOUT):
        return None
    try:
        layout = json.loads(store.read_small(LAYOUT))
    except NotFound:
        return None
    except ValueError as error:
        raise damaged(LAYOUT, f"not JSON: {error}") from error
    if not isinstance(layout, dict):
        raise damaged(LAYOUT, "not a JSON object")
    if check:
        check_format(layout)
        check_fields(layout)
    return layout


def check_fields(layout: dict) -> None:
    """Refuse a layout of this format that lacks what a lookup reads (`IndexDamaged`)."""
    try:
        fields = (layout["survey"], layout["buckets"], layout["generation"], layout["next"])
        well_formed = isinstance(fields[1], int) and fields[1] > 0
        for delta in layout["deltas"]:
            names = (delta["name"], delta["order"], delta["nights"], delta["sizes"])
            well_formed &= all(isinstance(delta["sizes"][table], int) for table in TABLE_NAMES)
            well_formed &= isinstance(names[0], str) and isinstance(names[2], list)
    except (KeyError, TypeError) as error:
        raise damaged(LAYOUT, f"no field {error}") from error
    if not well_formed:
        raise damaged(LAYOUT, "a field of the wrong type")


def layout_bytes(layout: dict) -> bytes:
    """``layout.json`` as published (see `index_writes.WriteSession.publish`)."""
    return json.dumps(layout, indent=1).encode()


def delta_file(table: str, name: str) -> str:
    return f"delta/{table}/{name}.arrow"


def base_file(generation: int, table: str, bucket: int) -> str:
    return f"base-{generation}/{table}/bucket-{bucket:05d}.arrow"


def base_sizes_file(generation: int) -> str:
    return f"base-{generation}/sizes.json"


def owners(layout: dict) -> dict[int, int]:
    """For each night held by a delta, the order of the delta its entries come from."""
    found: dict[int, int] = {}
    for delta in layout["deltas"]:
        for night in delta["nights"]:
            found[night] = max(found.get(night, -1), delta["order"])
    return found


def add_delta(layout: dict, nights: list[int], sizes: dict[str, int], level: int = 0) -> dict:
    """Record a written delta (newest of all); returns its entry. Name it with `delta_name`."""
    delta = {
        "name": delta_name(layout, nights, level),
        "order": layout["next"],
        "level": level,
        "nights": sorted(nights),
        "sizes": sizes,
    }
    layout["next"] += 1
    layout["deltas"].append(delta)
    return delta


def delta_name(layout: dict, nights: list[int], level: int) -> str:
    """The name the next delta gets: unique, so a reader's open file is never replaced."""
    first = min(nights, default=0)
    return f"{first}-L{level}-{layout['next']:06d}"


def superseded(layout: dict) -> list[dict]:
    """Deltas none of whose nights' entries come from them any more (safe to drop)."""
    owner = owners(layout)
    return [d for d in layout["deltas"] if all(owner[n] != d["order"] for n in d["nights"])]


def level_to_merge(layout: dict) -> int | None:
    """The lowest level holding `FANOUT` deltas or more, if any."""
    counts = Counter(delta["level"] for delta in layout["deltas"])
    full = [level for level, count in counts.items() if count >= FANOUT]
    return min(full) if full else None
