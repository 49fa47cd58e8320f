"""An index entry: one alert's columns, the tables that key it, and the alert location it gives.

Every entry is in two tables, each sorted by its key (`TABLES`): ``objects`` by object id and
``alerts`` by alert id, each hash-bucketed by that key in a base generation (`bucket_of_keys`,
`bucket_of`). An alert of a solar-system object (Rubin's ``ssSource.ssObjectId``) is in
``objects`` under that object's key too (`surveys.solar_system_key`: ``ss:<id>``), so that
alerts without a diaObject are found by object (`table_entries`). A lookup turns the entries it
finds back into `AlertLocation` (`location_of`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter.index.files import read_index_table
from fink_cutout_jupyter.index.parts import BATCHES_PER_NIGHT, LARGEST_NIGHT
from fink_cutout_jupyter.locations import ALERT_ID_SPAN, AlertLocation
from fink_cutout_jupyter.parquet.columns import DISPLAY_FIELDS
from fink_cutout_jupyter.parquet.spans import unpack_spans
from fink_cutout_jupyter.surveys import KINDS, SOLAR_SYSTEM_PREFIX, Survey

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.storage.lake import Lake

TABLES = {"objects": "object_id", "alerts": "alert_id"}
SPAN_KINDS = (*KINDS, ALERT_ID_SPAN)
_FNV_OFFSET, _FNV_PRIME = np.uint64(14695981039346656037), np.uint64(1099511628211)


def entry_schema() -> pa.Schema:
    """Columns of an index entry (one per alert)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("object_id", pa.string()),
            ("alert_id", pa.int64()),
            ("time", pa.float64()),
            ("night", pa.int64()),  # the entry's part (`parts`): a night, or a live batch
            ("filter", pa.string()),
            ("magnitude", pa.float64()),
            ("magnitude_error", pa.float64()),
            ("ra", pa.float64()),
            ("dec", pa.float64()),
            ("isdiffpos", pa.string()),
            ("ss_object_id", pa.string()),  # a solar-system object's id (Rubin), as text
            ("designation", pa.string()),  # its designation, e.g. "2004 JQ12"
            ("path", pa.string()),
            ("row_group", pa.int32()),
            ("row", pa.int32()),
            ("file_size", pa.int64()),
            ("file_mtime_ns", pa.int64()),
            # Where the data pages of the cutouts and of the row's alert id are, in SPAN_KINDS
            # order (`spans.pack_spans`); null if the page reader cannot map the file's pages.
            ("page_spans", pa.binary()),
        ]
    )


def sort_entries(entries: pa.Table, key: str) -> pa.Table:
    """Entries in index order: by `key`, then time, then alert id (every build sorts so)."""
    return entries.sort_by([(key, "ascending"), ("time", "ascending"), ("alert_id", "ascending")])


def table_entries(entries: pa.Table, table: str) -> pa.Table:
    """The rows `table` holds of `entries` (one per alert, as ``alerts`` files hold them): those
    with a key; for ``objects``, each alert of a solar-system object once more, keyed
    ``ss:<ssObjectId>``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    key = TABLES[table]
    keyed = entries.filter(pc.is_valid(entries.column(key)))
    if table != "objects" or "ss_object_id" not in entries.column_names:
        return keyed
    solar = entries.filter(pc.is_valid(entries.column("ss_object_id")))
    if not solar.num_rows:
        return keyed
    keys = pc.binary_join_element_wise(SOLAR_SYSTEM_PREFIX, solar.column("ss_object_id"), "")
    solar = solar.set_column(solar.schema.get_field_index(key), key, keys)
    return pa.concat_tables([keyed, solar.cast(keyed.schema)])


def with_entry_columns(entries: pa.Table) -> pa.Table:
    """`entries` with every column of `entry_schema`: those an older index file lacks are null."""
    import pyarrow as pa

    schema = entry_schema()
    for name in schema.names:
        if name not in entries.column_names:
            entries = entries.append_column(
                name, pa.nulls(entries.num_rows, schema.field(name).type)
            )
    return entries.select(schema.names).cast(schema)


def entries_of_index_file(
    store: Lake,
    relative: str,
    keep: list[int] | None = None,
    drop: list[int] | None = None,
    hide: Collection[int] = (),
) -> pa.Table:
    """An index file's entries, only those of the parts in `keep`, or not in `drop`, and not
    the live parts of the archived nights in `hide` (`parts.hidden`)."""
    import pyarrow as pa

    entries = with_entry_columns(read_index_table(store, relative))
    if keep is None and not drop and not hide:
        return entries
    parts = entries.column("night").to_numpy()
    chosen = np.isin(parts, keep) if keep is not None else ~np.isin(parts, drop or [])
    if hide:
        online = parts > LARGEST_NIGHT
        chosen &= ~(online & np.isin(parts // BATCHES_PER_NIGHT, list(hide)))
    return entries.filter(pa.array(chosen))


def bucket_of_keys(keys: pa.Array, buckets: int) -> np.ndarray:
    """Hash bucket of each key (FNV-1a 64 of its text; integers by their decimal text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pc.cast(keys, pa.string()) if not pa.types.is_string(keys.type) else keys
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int32)[
        keys.offset : keys.offset + len(keys) + 1
    ]
    data = (
        np.frombuffer(keys.buffers()[2], dtype=np.uint8)
        if keys.buffers()[2]
        else np.zeros(0, np.uint8)
    )
    starts, lengths = offsets[:-1], np.diff(offsets)
    hashes = np.full(len(keys), _FNV_OFFSET, dtype=np.uint64)
    for position in range(int(lengths.max(initial=0))):
        active = lengths > position
        byte = data[starts[active] + position].astype(np.uint64)
        hashes[active] = (hashes[active] ^ byte) * _FNV_PRIME
    return (hashes % np.uint64(buckets)).astype(np.int64)


def bucket_of(key: str | int, buckets: int) -> int:
    """Hash bucket of one key (the same FNV-1a 64 as `bucket_of_keys`, without numpy)."""
    hashed = int(_FNV_OFFSET)
    for byte in str(key).encode():
        hashed = ((hashed ^ byte) * int(_FNV_PRIME)) & 0xFFFFFFFFFFFFFFFF
    return hashed % buckets


def location_of(row: dict, survey: Survey) -> AlertLocation:
    """The `AlertLocation` an entry (as a dict of its columns) gives."""
    properties = {name: row[name] for name in DISPLAY_FIELDS if row.get(name) is not None}
    properties["magnitude_unit"] = survey.magnitude_unit
    packed = row["page_spans"]
    spans = dict(zip(SPAN_KINDS, unpack_spans(packed), strict=True)) if packed else None
    object_id = row["object_id"]
    if object_id is not None and object_id.startswith(SOLAR_SYSTEM_PREFIX):
        object_id = None  # found by its solar-system object: the alert has no diaObject
    return AlertLocation(
        object_id=object_id,
        alert_id=row["alert_id"],
        time=row["time"],
        path=row["path"],
        row_group=row["row_group"],
        row=row["row"],
        file_size=row["file_size"],
        file_mtime_ns=row["file_mtime_ns"],
        properties=properties,
        time_scale=survey.time_scale,
        page_spans=spans,
        survey=survey.name,
    )
