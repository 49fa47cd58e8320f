"""What indexing read, part by part: ``nights/<order>.json``, written with each delta.

A manifest records, for each part it indexed (an archived night ``YYYY-MM-DD``, or a live
night's ``online/YYYY-MM-DD/<batch>``: `parts.record_name`), each file's identity (size,
modification time, and `ids_digest` of its alert ids in row order) and the entry count. For a
part in several manifests, the one of highest order counts; only the orders the layout counts
are read (`layout.counted_manifest`): not a manifest of a write never published.

A live night writes a manifest per micro-batch indexed: once the layout counts more than
`MANIFESTS_KEPT` orders, the manifests are consolidated into one (`consolidate_manifests`),
without the parts hidden since (`parts.hidden`), so that their number stays bounded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fink_cutout_jupyter.errors import IndexDamaged
from fink_cutout_jupyter.index.layout import counted_manifest, damaged, read_layout
from fink_cutout_jupyter.index.parts import (
    archive_part,
    as_date,
    hidden,
    is_online,
    night_of,
    part_of_record,
    record_name,
)
from fink_cutout_jupyter.index.writes import write_new
from fink_cutout_jupyter.parquet.columns import leaf, leaf_paths
from fink_cutout_jupyter.surveys import survey_of_columns

MANIFESTS_KEPT = 64  # orders of manifests counted before they are consolidated into one

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.storage.lake import Lake


def write_manifest(
    store: Lake, order: int, parts: Sequence[tuple[dt.date | int, dict[str, dict], int]]
) -> None:
    """Record what indexing parts read: (part or archived night, its files' identities, its
    entry count).

    ``nights/<order>.json``; for a part in several manifests, the highest order's is current.
    """
    records = {
        record_name(part if isinstance(part, int) else archive_part(part)): {
            "files": files,
            "entries": entries,
        }
        for part, files, entries in parts
    }
    _write(store, order, records)


def _write(store: Lake, order: int, records: dict) -> None:
    manifest = {
        "nights": records,
        "indexed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_new(store, manifest_file(order), json.dumps(manifest).encode())


def manifest_file(order: int) -> str:
    return f"nights/{order:08d}.json"


def current_records(store: Lake, layout: dict) -> dict[str, dict]:
    """Every part's current record (the highest order's), parts hidden since included."""
    current: dict = {}
    for name, *_ in sorted(store.list_files("nights")):  # later manifests win
        if counted_manifest(layout, name):
            current |= read_manifest(store, f"nights/{name}")
    return current


def online_indexed(store: Lake, layout: dict, night: dt.date) -> tuple[dict[str, dict], int]:
    """What the index holds of a live night: its files' identities and its entry count, over
    every part of the night `layout` counts (nothing once the night is archived)."""
    if archive_part(night) in layout.get("archived", ()):
        return {}, 0
    files: dict[str, dict] = {}
    entries = 0
    for name, record in current_records(store, layout).items():
        part = part_of_record(name)
        if part is not None and is_online(part) and as_date(night_of(part)) == night:
            files |= record["files"]
            entries += record["entries"]
    return files, entries


def consolidate_manifests(store: Lake, layout: dict) -> list[str]:
    """Once the layout counts more than `MANIFESTS_KEPT` orders of manifests, write their
    current records (without hidden parts) as one manifest under a new order, counted from
    there on (in place: the layout is not published); the manifests it replaces."""
    if layout["next"] - layout.get("first_manifest", 0) <= MANIFESTS_KEPT:
        return []
    names = [name for name, *_ in store.list_files("nights") if counted_manifest(layout, name)]
    hide = frozenset(layout.get("archived", ()))
    records = {
        name: record
        for name, record in current_records(store, layout).items()
        if (part := part_of_record(name)) is None or not hidden(part, hide)
    }
    order = layout["next"]
    _write(store, order, records)
    layout["next"], layout["first_manifest"] = order + 1, order
    return [f"nights/{name}" for name in names]


def night_manifests(store: Lake, layout: dict | None = None) -> list[dict]:
    """What indexing recorded for each part not hidden: its files with their sizes, its
    entries (``night``: the part's name, `parts.record_name`).

    Only the manifests the layout (by default the published one) counts (from
    ``first_manifest`` to ``next``): not a temporary file of a killed build, nor a manifest of
    a write never published.
    """
    layout = layout or read_layout(store, check=False) or {}
    hide = frozenset(layout.get("archived", ()))
    return [
        {"night": name, **recorded}
        for name, recorded in sorted(current_records(store, layout).items())
        if (part := part_of_record(name)) is None or not hidden(part, hide)
    ]


def damaged_manifests(store: Lake, layout: dict) -> list[IndexDamaged]:
    """Each manifest `layout` counts that cannot be read, as the error reading it raises."""
    found = []
    for name, *_ in store.list_files("nights"):
        if counted_manifest(layout, name):
            try:
                read_manifest(store, f"nights/{name}")
            except IndexDamaged as error:
                found.append(error)
    return found


def read_manifest(store: Lake, relative: str) -> dict:
    """The nights a manifest records (`IndexDamaged` if it is malformed)."""
    try:
        nights = json.loads(store.read_small(relative))["nights"]
        if not all("files" in night and "entries" in night for night in nights.values()):
            raise ValueError("a night without its files or entries")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise damaged(relative, f"malformed: {error}") from error
    return nights


def alert_ids_digest(lake: Lake, path: str) -> str:
    """SHA-256 of a lake file's alert ids in row order (as int64): what the index relies on."""
    import pyarrow.parquet as pq

    with lake.open(path) as source:
        parquet = pq.ParquetFile(source)
        survey = survey_of_columns(leaf_paths(parquet.schema))
        ids = leaf(parquet.read(columns=[survey.alert_id_column]), survey.alert_id_column)
    return ids_digest(ids)


def ids_digest(ids: pa.ChunkedArray | pa.Array) -> str:
    """SHA-256 of alert ids as little-endian int64 (nulls as 0)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.fill_null(pc.cast(ids, pa.int64()), 0).to_numpy(zero_copy_only=False)
    return hashlib.sha256(values.astype("<i8").tobytes()).hexdigest()
