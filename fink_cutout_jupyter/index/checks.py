"""The index examined whole, for ``fink-cutouts index stats``: its counts (`stats`), the lake
files rewritten since they were indexed (`stale_files`), every file read back (`verify`).

Lookups never run these: they read one layout and a few batches (`lookup`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.errors import IndexDamaged, NotFound
from fink_cutout_jupyter.index.entries import TABLES, bucket_of_keys
from fink_cutout_jupyter.index.files import index_file_rows, read_error, read_index_table
from fink_cutout_jupyter.index.layout import (
    INDEX_FORMAT,
    LAYOUT,
    base_file,
    check_fields,
    damaged,
    delta_buckets,
    delta_files,
    owners,
    read_base_sizes,
    read_layout,
)
from fink_cutout_jupyter.index.manifests import (
    alert_ids_digest,
    damaged_manifests,
    night_manifests,
)
from fink_cutout_jupyter.index.parts import is_online, night_of, part_of_record
from fink_cutout_jupyter.locations import FileIdentity
from fink_cutout_jupyter.storage.redaction import redacted

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake


def stats(index: AlertIndex) -> dict[str, Any]:
    """Counts and layout: survey, buckets, generation, entries in base and deltas, nights
    (archived or live), the live nights followed (their last micro-batch indexed) and parts."""
    store = index.store
    layout = read_layout(store, check=False) or {}
    if layout.get("format") == INDEX_FORMAT:
        check_fields(layout)
    generation = layout.get("generation")
    base = []
    if generation is not None:
        base = [base_file(generation, "objects", b) for b in range(layout["buckets"])]
        base = [path for path in base if store.exists(path)]
    deltas = layout.get("deltas", [])
    nights = night_manifests(store)
    parts = [part_of_record(night["night"]) for night in nights]

    def rows(path: str) -> int:
        try:
            return index_file_rows(store, path)
        except (OSError, ValueError, KeyError, NotFound) as error:
            raise read_error(store, path, None, error) from error

    return {
        "index": redacted(store.uri),
        "format": layout.get("format"),
        "survey": layout.get("survey"),
        "buckets": layout.get("buckets"),
        "generation": generation,
        "base_entries": sum(rows(path) for path in base),
        "base_files": len(base),
        "delta_files": len(deltas),  # deltas: each one file per table, or per table and bucket
        "delta_bucket_files": sum(
            1 for d in deltas for table in TABLES for _, size in delta_files(d, table) if size
        ),
        "delta_nights": len(owners(layout)) if deltas else 0,
        "delta_entries": sum(
            rows(path) for d in deltas for path, size in delta_files(d, "objects") if size
        ),
        "nights": len({night_of(part) for part in parts if part is not None}),
        "live_nights": {night: batch for night, batch in sorted(layout.get("online", {}).items())},
        "live_parts": sum(1 for part in parts if part is not None and is_online(part)),
        "files": sum(len(night["files"]) for night in nights),
        "entries": sum(night["entries"] for night in nights),
    }


def stale_files(index: AlertIndex, check_contents: bool = False) -> list[str]:
    """Indexed files that were rewritten (or removed) since they were indexed.

    A file is stale when its size or modification time differs from the indexed ones; with
    `check_contents`, also when its alert ids are no longer in the indexed row order (a
    rewrite that kept size and time, e.g. ``cp -p``), which reads each file's id column.
    """
    stale = []
    for night in night_manifests(index.store):
        for path, indexed in night["files"].items():
            try:
                changed = index.lake.identity(path) != FileIdentity(
                    indexed["size"], indexed["mtime_ns"]
                )
                if not changed and check_contents:
                    changed = alert_ids_digest(index.lake, path) != indexed["alert_ids_sha256"]
            except NotFound:
                changed = True
            if changed:
                stale.append(path)
    return stale


def verify(index: AlertIndex) -> list[str]:
    """Read every file the layout names; each damaged one as "file: what is wrong".

    Empty for a sound index (or none). Reads the whole index: its layout, the base's sizes and
    buckets, every delta and every manifest.
    """
    store = index.store
    try:
        layout = read_layout(store)
    except IndexDamaged as error:
        return [f"{error.file}: {error.reason}"]
    if layout is None:
        return []
    found: list[IndexDamaged] = []
    files = [  # (file, its size, its table, its bucket of how many: None if not bucketed)
        (path, size, table, (bucket, delta_buckets(d)) if delta_buckets(d) > 1 else None)
        for d in layout["deltas"]
        for table in TABLES
        for bucket, (path, size) in enumerate(delta_files(d, table))
        if size or delta_buckets(d) == 1
    ]
    generation = layout["generation"]
    if generation is not None:
        try:
            sizes = read_base_sizes(store, generation, layout["buckets"])
            files += [
                (
                    base_file(generation, table, bucket),
                    sizes[table][bucket],
                    table,
                    (bucket, layout["buckets"]),
                )
                for table in TABLES
                for bucket in range(layout["buckets"])
            ]
        except IndexDamaged as error:
            found.append(error)
    counted: dict[str, int] = {}  # a bucketed delta's alerts, as its alerts files hold them
    for relative, size, table, bucket in files:
        try:
            actual = store.size(relative)
            if actual != size:
                found.append(damaged(relative, f"{actual} bytes where layout.json says {size}"))
                continue
            entries = _read_twice(store, relative)
        except IndexDamaged as unreadable:
            found.append(unreadable)
            continue
        except (OSError, ValueError, KeyError, NotFound) as error:
            problem = read_error(store, relative, size, error)
            if not isinstance(problem, IndexDamaged):
                raise problem from error
            found.append(problem)
            continue
        if bucket is not None and table == "alerts" and relative.startswith("delta/"):
            name = relative.split("/")[2]
            counted[name] = counted.get(name, 0) + entries.num_rows
        if bucket is not None:
            number, buckets = bucket
            keys = bucket_of_keys(entries.column(TABLES[table]), buckets)
            if (keys != number).any():
                found.append(
                    damaged(relative, f"holds keys of other buckets than {number} of {buckets}")
                )
    damaged_files = {problem.file for problem in found}
    for delta in layout["deltas"]:
        name = delta["name"]
        read_whole = not any(f.startswith(f"delta/alerts/{name}/") for f in damaged_files)
        if read_whole and name in counted and counted[name] != delta.get("entries", counted[name]):
            found.append(
                damaged(
                    LAYOUT,
                    f"delta {name} holds {delta['entries']} alerts, its "
                    f"{delta_buckets(delta)} alerts buckets {counted[name]}",
                )
            )
    found += damaged_manifests(store, layout)
    return [f"{error.file}: {error.reason}" for error in found]


def _read_twice(store: Lake, relative: str) -> pa.Table:
    """A file's entries; bytes that fail to decode twice while the filesystem answers for the
    file are damage (`IndexDamaged`), not an outage (a lookup cannot tell, and says 503)."""
    try:
        return read_index_table(store, relative)
    except OSError:
        pass
    try:
        return read_index_table(store, relative)
    except OSError as error:
        store.size(relative)  # a failing filesystem raises LakeUnavailable here
        raise damaged(relative, f"unreadable: {store.scrub(str(error))}") from error
