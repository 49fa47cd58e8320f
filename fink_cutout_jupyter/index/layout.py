"""The index's layout (``layout.json``): every file a lookup may open, published in one write.

A reader needs nothing but this document to find its files: no directory listing, and every
file's size is in it (or, for the base, in ``base-<G>/sizes.json``, read once per generation),
so that opening an index file on HDFS is one NameNode call. Writers write their files first and
publish the layout last; files it no longer names are deleted after.

Deltas are entries not yet compacted into the base, by part (`parts`: an archived night, or a
live night's micro-batches). Each has an ``order`` (later writes have larger orders): a part's
entries come from the delta of largest order that holds the part, or from the base if no delta
does; a live night's parts are hidden once the night is in ``"archived"``, and ``"online"``
says up to which micro-batch each live night is indexed. Deltas merge by size tier, as in a
log-structured merge: when `FANOUT` deltas share a level they become one delta of the next
level, so a lookup opens at most about ``(FANOUT - 1) * log_FANOUT(nights)`` deltas however
many nights wait for compaction, and each entry is rewritten about ``log_FANOUT(nights)`` times
before it.

A delta of many entries is hash-bucketed as the base is (``"buckets": B``, a power of two, with
``"sizes": {table: [B sizes]}``; 0 for a bucket without entries, which has no file): its files
are ``delta/<table>/<name>/bucket-<b>.arrow`` and a lookup opens only its key's bucket.
Without ``"buckets"`` a delta is one file per table, ``delta/<table>/<name>.arrow``, as format 6
wrote every delta.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING

from fink_cutout_jupyter.errors import IndexDamaged, IndexOutdated
from fink_cutout_jupyter.index.parts import hidden

if TYPE_CHECKING:
    from fink_cutout_jupyter.storage.lake import Lake

# 7: bucketed deltas ("buckets"); 6: live nights' parts ("online", "archived"); 5 is read as 6
# without them, 6 as 7 without bucketed deltas
INDEX_FORMAT = 7
READABLE_FORMATS = (5, 6, INDEX_FORMAT)
FANOUT = 4
TABLE_NAMES = ("objects", "alerts")
LAYOUT = "layout.json"
REPAIR_COMMAND = "fink-cutouts index build --lake LAKE --all --rebuild"
MANIFEST_NAME = re.compile(r"(\d{8})\.json")
BASE_NAME = re.compile(r"base-(\d+)")
DELTA_NAME = re.compile(r".*-L\d+-(\d+)(?:\.arrow)?")  # a delta's file, or its buckets' directory


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
    if layout.get("format") not in READABLE_FORMATS:
        raise IndexOutdated(
            f"objectId: the lake's alert index is in format {layout.get('format')}, this "
            f"version reads format {INDEX_FORMAT}; rebuild it: "
            "fink-cutouts index build --lake LAKE --all --rebuild"
        )


def new_layout(survey: str, first: int = 0, generation: int = 0) -> dict:
    """A layout naming no file, whose first delta and manifest have order `first`, and whose
    first base will be at least `generation`. Its ``id`` is new: a reader that finds another id
    forgets the files it keeps open (an index removed and written again reuses names)."""
    import uuid

    return {
        "format": INDEX_FORMAT,
        "id": uuid.uuid4().hex,
        "survey": survey,
        "buckets": 1,
        "generation": None,
        "deltas": [],
        "next": first,
        "first_manifest": first,  # manifests nights/<order>.json count from this order to "next"
        "next_generation": generation,  # no base generation below it was ever written
        "online": {},  # each live night indexed ("YYYYMMDD"): the last micro-batch indexed
        "archived": [],  # nights (YYYYMMDD) whose live parts are hidden: archived (`parts`)
    }


def read_layout(store: Lake, check: bool = True, look_first: bool = True) -> dict | None:
    """The published layout, or None if there is no index.

    With `look_first`, its existence is checked before reading it (two more calls on HDFS,
    whose client logs a Java stack trace for a missing file it is asked to open)."""
    data = read_layout_bytes(store, look_first)
    if data is None:
        return None
    return parse_layout(data, check)


def read_layout_bytes(store: Lake, look_first: bool = True) -> bytes | None:
    """``layout.json``'s bytes, or None if there is none (see `read_layout`)."""
    if look_first:
        return store.read_if_exists(LAYOUT)
    from fink_cutout_jupyter.errors import NotFound

    try:
        return store.read_small(LAYOUT)
    except NotFound:
        return None


def parse_layout(data: bytes, check: bool = True) -> dict:
    """A layout from its bytes, checked with `check` (`IndexDamaged`, `IndexOutdated`)."""
    try:
        layout = json.loads(data)
    except ValueError as error:
        raise damaged(LAYOUT, f"not JSON: {error}") from error
    if not isinstance(layout, dict):
        raise damaged(LAYOUT, "not a JSON object")
    if check:
        check_format(layout)
        check_fields(layout)
    return layout


def check_fields(layout: dict) -> None:
    """Refuse a layout of this format that lacks what a lookup reads, or holds it with the
    wrong type (`IndexDamaged` naming the field)."""

    def survey(name) -> bool:
        from fink_cutout_jupyter.errors import BadParameter
        from fink_cutout_jupyter.surveys import survey_named

        try:
            return isinstance(name, str) and survey_named(name) is not None
        except BadParameter:
            return False

    def count(value, least: int = 0) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    done, live = layout.get("archived", []), layout.get("online", {})
    try:
        checks = [
            ("survey", survey(layout["survey"])),
            ("buckets", count(layout["buckets"], 1)),
            ("generation", layout["generation"] is None or count(layout["generation"])),
            ("next", count(layout["next"])),
            ("first_manifest", count(layout.get("first_manifest", 0))),
            ("next_generation", count(layout.get("next_generation", 0))),
            ("id", isinstance(layout.get("id", ""), str)),
            ("deltas", isinstance(layout["deltas"], list)),
            ("archived", isinstance(done, list) and all(map(count, done))),
            ("online", isinstance(live, dict) and all(map(count, live.values()))),
            (
                "online",
                all(isinstance(n, str) and MANIFEST_NAME.fullmatch(f"{n}.json") for n in live),
            ),
        ]
        for delta in layout["deltas"]:
            nights, name, buckets = delta["nights"], delta["name"], delta.get("buckets", 1)
            power = count(buckets, 1) and buckets & (buckets - 1) == 0
            checks += [
                ("a delta's name", isinstance(name, str) and bool(re.fullmatch(r"[\w-]+", name))),
                ("a delta's order", count(delta["order"])),
                ("a delta's level", count(delta.get("level", 0))),
                ("a delta's nights", isinstance(nights, list) and all(map(count, nights))),
                ("a delta's buckets", power),
                ("a delta's entries", count(delta.get("entries", 0))),
                ("a delta's sizes", all(_sizes(delta["sizes"][t], buckets) for t in TABLE_NAMES)),
            ]
    except (KeyError, TypeError) as error:
        raise damaged(LAYOUT, f"no field {error}") from error
    wrong = [field for field, right in checks if not right]
    if wrong:
        raise damaged(LAYOUT, f"{wrong[0]} of the wrong type or out of range")


def _sizes(sizes, buckets) -> bool:
    """Whether `sizes` are a delta's file sizes of one table: a count, or one per bucket."""

    if buckets == 1:
        return type(sizes) is int and sizes >= 0
    # checked on every layout read: each type compared, not isinstance (a bool is not a size)
    return (
        isinstance(sizes, list)
        and len(sizes) == buckets
        and all(type(size) is int for size in sizes)
        and min(sizes) >= 0
    )


def counted_manifest(layout: dict, name: str) -> bool:
    """Whether ``nights/<name>`` is a manifest `layout` counts (from ``first_manifest`` to
    ``next``): not a temporary file, nor a manifest of a write never published."""
    match = MANIFEST_NAME.fullmatch(name)
    orders = range(layout.get("first_manifest", 0), layout.get("next", 0))
    return match is not None and int(match[1]) in orders


def free_numbers(store: Lake, layout: dict | None) -> tuple[int, int]:
    """(next base generation, next order) no file of the index has had: above those `layout`
    names and those on the filesystem (a reader keeps files open by name: a name is never
    given to other contents, even after a damaged index was swept)."""
    generation = order = -1
    if layout is not None:
        numbers = [layout.get("generation"), layout.get("next_generation", 0) - 1]
        generation = max(n for n in numbers if isinstance(n, int))
        order = layout["next"] - 1
    for directory in store.list_directories(""):
        if match := BASE_NAME.fullmatch(directory):
            generation = max(generation, int(match[1]))
    for name, *_ in store.list_files("nights"):
        if match := MANIFEST_NAME.fullmatch(name):
            order = max(order, int(match[1]))
    for table in TABLE_NAMES:
        names = [name for name, *_ in store.list_files(f"delta/{table}")]
        for name in names + store.list_directories(f"delta/{table}"):
            if match := DELTA_NAME.fullmatch(name):
                order = max(order, int(match[1]))
    return generation + 1, order + 1


def layout_bytes(layout: dict) -> bytes:
    """``layout.json`` as published (see `writes.WriteSession.publish`)."""
    return json.dumps(layout, indent=1).encode()


def delta_file(table: str, name: str) -> str:
    """A delta's file of `table` (a delta of one bucket)."""
    return f"delta/{table}/{name}.arrow"


def delta_bucket_file(table: str, name: str, bucket: int) -> str:
    """One bucket's file of `table` in a bucketed delta."""
    return f"delta/{table}/{name}/bucket-{bucket:05d}.arrow"


def delta_buckets(delta: dict) -> int:
    """How many hash buckets a delta's entries are in (1: one file per table)."""
    return delta.get("buckets", 1)


def delta_files(delta: dict, table: str) -> list[tuple[str, int]]:
    """Each bucket's file of `table` in a delta, with its size (0: the bucket has no entries,
    and no file)."""
    buckets, sizes = delta_buckets(delta), delta["sizes"][table]
    if buckets == 1:
        return [(delta_file(table, delta["name"]), sizes)]
    return [
        (delta_bucket_file(table, delta["name"], bucket), size) for bucket, size in enumerate(sizes)
    ]


def delta_paths(delta: dict) -> list[str]:
    """What deleting a delta deletes: its files, or its buckets' directories."""
    if delta_buckets(delta) == 1:
        return [delta_file(table, delta["name"]) for table in TABLE_NAMES]
    return [f"delta/{table}/{delta['name']}" for table in TABLE_NAMES]


def base_file(generation: int, table: str, bucket: int) -> str:
    return f"base-{generation}/{table}/bucket-{bucket:05d}.arrow"


def base_sizes_file(generation: int) -> str:
    return f"base-{generation}/sizes.json"


def read_base_sizes(store: Lake, generation: int, buckets: int) -> dict[str, list[int]]:
    """``base-<G>/sizes.json``: each base file's size, by table and bucket (`IndexDamaged` if
    it is missing or malformed)."""
    from fink_cutout_jupyter.errors import NotFound

    relative = base_sizes_file(generation)
    try:
        sizes = json.loads(store.read_small(relative))
        if not all(
            len(sizes[table]) == buckets and all(isinstance(n, int) for n in sizes[table])
            for table in TABLE_NAMES
        ):
            raise ValueError(f"not {buckets} sizes of each table")
    except NotFound as error:
        raise damaged(relative, "missing, while layout.json names it") from error
    except (ValueError, KeyError, TypeError) as error:
        raise damaged(relative, f"malformed: {error}") from error
    return sizes


def owners(layout: dict) -> dict[int, int]:
    """For each night held by a delta, the order of the delta its entries come from."""
    found: dict[int, int] = {}
    for delta in layout["deltas"]:
        for night in delta["nights"]:
            found[night] = max(found.get(night, -1), delta["order"])
    return found


def add_delta(
    layout: dict,
    nights: list[int],
    sizes: dict,
    level: int = 0,
    buckets: int = 1,
    entries: int | None = None,
) -> dict:
    """Record a written delta (newest of all); returns its entry. Name it with `delta_name`.

    `sizes`: each table's file size, or with `buckets` > 1 each bucket's; `entries`: how many
    alerts it holds (lets a merge size its buckets without reading footers)."""
    delta: dict = {
        "name": delta_name(layout, nights, level),
        "order": layout["next"],
        "level": level,
        "nights": sorted(nights),
        "sizes": sizes,
    }
    if buckets > 1:
        delta["buckets"] = buckets
    if entries is not None:
        delta["entries"] = entries
    layout["next"] += 1
    layout["deltas"].append(delta)
    return delta


def delta_name(layout: dict, nights: list[int], level: int) -> str:
    """The name the next delta gets: unique, so a reader's open file is never replaced."""
    first = min(nights, default=0)
    return f"{first}-L{level}-{layout['next']:06d}"


def archived(layout: dict) -> frozenset[int]:
    """The nights whose live parts are hidden (`parts.hidden`)."""
    return frozenset(layout.get("archived", ()))


def superseded(layout: dict) -> list[dict]:
    """Deltas none of whose parts' entries come from them any more, or are hidden (safe to
    drop)."""
    owner, hide = owners(layout), archived(layout)
    return [
        d
        for d in layout["deltas"]
        if all(owner[n] != d["order"] or hidden(n, hide) for n in d["nights"])
    ]


def level_to_merge(layout: dict) -> int | None:
    """The lowest level holding `FANOUT` deltas or more, if any."""
    counts = Counter(delta["level"] for delta in layout["deltas"])
    full = [level for level, count in counts.items() if count >= FANOUT]
    return min(full) if full else None
