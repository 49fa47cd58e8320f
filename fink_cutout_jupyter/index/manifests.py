"""What indexing read, night by night: ``nights/<order>.json``, written with each delta.

A manifest records, for each night it indexed, each file's identity (size, modification time,
and `ids_digest` of its alert ids in row order) and the entry count. For a night in several
manifests, the one of highest order counts; only the orders the layout counts are read
(`layout.counted_manifest`): not a manifest of a write never published.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from fink_cutout_jupyter.errors import IndexDamaged
from fink_cutout_jupyter.index.layout import counted_manifest, damaged, read_layout
from fink_cutout_jupyter.index.writes import write_new
from fink_cutout_jupyter.parquet.columns import leaf, leaf_paths
from fink_cutout_jupyter.surveys import survey_of_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.storage.lake import Lake


def write_manifest(
    store: Lake, order: int, nights: list[tuple[dt.date, dict[str, dict], int]]
) -> None:
    """Record what indexing nights read: (night, its files' identities, its entry count).

    ``nights/<order>.json``; for a night in several manifests, the highest order's is current.
    """
    manifest = {
        "nights": {
            f"{night:%Y-%m-%d}": {"files": files, "entries": entries}
            for night, files, entries in nights
        },
        "indexed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_new(store, f"nights/{order:08d}.json", json.dumps(manifest).encode())


def night_manifests(store: Lake, layout: dict | None = None) -> list[dict]:
    """What `index build` recorded for each night: its files with their sizes, its entries.

    Only the manifests the layout (by default the published one) counts (from
    ``first_manifest`` to ``next``): not a temporary file of a killed build, nor a manifest of
    a write never published.
    """
    layout = layout or read_layout(store, check=False) or {}
    current: dict = {}
    for name, *_ in sorted(store.list_files("nights")):  # later manifests win
        if counted_manifest(layout, name):
            current |= read_manifest(store, f"nights/{name}")
    return [{"night": night, **recorded} for night, recorded in sorted(current.items())]


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
