"""Building the alert index: nightly deltas from the lake's small columns, and compaction."""

from __future__ import annotations

import datetime as dt
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .columns import display_columns, leaf, leaf_paths, object_ids, present
from .errors import BadParameter, NotFound
from .index import (
    INDEX_FORMAT,
    SPAN_KINDS,
    TABLES,
    AlertIndex,
    bucket_of_keys,
    check_format,
    entry_schema,
    ids_digest,
)
from .index_files import (
    INDEX_SUFFIX,
    index_file_bytes,
    index_file_rows,
    index_files,
    read_index_table,
)
from .lake import Lake, parse_night
from .locations import ALERT_ID_SPAN
from .surveys import Survey, survey_of_columns

if TYPE_CHECKING:
    import pyarrow as pa

TARGET_BUCKET_ROWS = 200_000
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NightReport:
    """What indexing one night found, and the bytes of the lake it read."""

    night: dt.date
    files: int
    entries: int
    bytes_read: int = 0


class IndexedFile(NamedTuple):
    """The index entries of one lake file, with what the night's manifest records of it."""

    survey: Survey
    identity: dict
    entries: pa.Table
    bytes_read: int


def entries_of_file(lake: Lake, path: str, night: dt.date) -> IndexedFile:
    """Survey, identity and index entries of one lake file, reading only small columns.

    The identity is what the night's manifest records of the file: ``size``, ``mtime_ns`` and
    ``alert_ids_sha256`` (its alert ids in row order). No cutout byte is read: their pages are
    found from the page headers.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = entry_schema()
    size, mtime_ns = lake.identity(path)
    with _CountingFile(lake.open(path)) as source:
        parquet = pq.ParquetFile(source)
        survey = survey_of_columns(leaf_paths(parquet.schema))
        columns = present(parquet.schema, survey.lookup_columns + survey.display_columns)
        groups = [
            _entries_of_group(parquet.read_row_group(g, columns=columns), survey, g)
            for g in range(parquet.metadata.num_row_groups)
        ]
        spans = _page_spans(source, parquet, survey, path)
    table = pa.concat_tables(groups) if groups else schema.empty_table()
    identity = {
        "size": size,
        "mtime_ns": mtime_ns,
        "alert_ids_sha256": ids_digest(table.column("alert_id")),
    }
    constants = {
        "night": pa.array(np.full(table.num_rows, int(f"{night:%Y%m%d}")), pa.int32()),
        "path": pa.array([path] * table.num_rows, pa.string()),
        "file_size": pa.array(np.full(table.num_rows, size), pa.int64()),
        "file_mtime_ns": pa.array(np.full(table.num_rows, mtime_ns), pa.int64()),
        "page_spans": pa.array(spans, schema.field("page_spans").type)
        if spans is not None
        else pa.nulls(table.num_rows, schema.field("page_spans").type),
    }
    for name, column in constants.items():
        table = table.append_column(name, column)
    return IndexedFile(survey, identity, table.select(schema.names).cast(schema), source.bytes_read)


class _CountingFile:
    """A lake file that counts the bytes read from it (pyarrow reads it as a Python file)."""

    def __init__(self, native: pa.NativeFile) -> None:
        self.native = native
        self.bytes_read = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self.native.read(size)
        self.bytes_read += len(data)
        return data

    def read_at(self, size: int, offset: int) -> bytes:
        data = self.native.read_at(size, offset)
        self.bytes_read += len(data)
        return data

    def seek(self, position: int, whence: int = 0) -> int:
        return self.native.seek(position, whence)

    def tell(self) -> int:
        return self.native.tell()

    def size(self) -> int:
        return self.native.size()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self.native.close()

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def sort_entries(entries: pa.Table, key: str) -> pa.Table:
    """Entries in index order: by `key`, then time, then alert id (every build sorts so)."""
    return entries.sort_by([(key, "ascending"), ("time", "ascending"), ("alert_id", "ascending")])


def _page_spans(source, parquet, survey: Survey, path: str) -> list[bytes] | None:
    """For every row of the file, the data pages of its cutouts and alert id (`pack_spans`).

    None if the page reader does not support the file's pages.
    """
    from .pages import PHYSICAL_TYPES, ColumnInfo, Unsupported, pack_spans, page_map, spans_of_rows

    metadata = parquet.metadata
    paths = [metadata.row_group(0).column(i).path_in_schema for i in range(metadata.num_columns)]
    mapped = {**survey.cutout_columns, ALERT_ID_SPAN: survey.alert_id_column}
    rows: list[bytes] = []
    try:
        for group in range(metadata.num_row_groups):
            per_kind = []
            for kind in SPAN_KINDS:
                number = paths.index(mapped[kind])
                chunk = metadata.row_group(group).column(number)
                expected = PHYSICAL_TYPES[1:] if kind == ALERT_ID_SPAN else ("BYTE_ARRAY",)
                if chunk.physical_type not in expected:
                    raise Unsupported(f"{mapped[kind]} is {chunk.physical_type}")
                if parquet.schema.column(number).max_repetition_level:
                    raise Unsupported(f"{mapped[kind]} is repeated")
                column = ColumnInfo(
                    chunk.compression,
                    parquet.schema.column(number).max_definition_level,
                    chunk.physical_type,
                )
                pages, dictionary = page_map(source, chunk)
                spans = spans_of_rows(pages, dictionary, chunk.num_values)
                per_kind.append([(span, column) for span in spans])
            rows += [pack_spans(list(spans)) for spans in zip(*per_kind, strict=True)]
    except (Unsupported, ValueError, OSError) as error:
        logger.warning("%s: pages not mapped (%s); its cutouts are read with pyarrow", path, error)
        return None
    return rows


def _entries_of_group(group: pa.Table, survey: Survey, number: int) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    display = display_columns(group, survey)
    columns = {
        "object_id": pc.cast(object_ids(group, survey), pa.string()),
        "alert_id": pc.cast(leaf(group, survey.alert_id_column), pa.int64()),
        "time": pc.cast(leaf(group, survey.time_column), pa.float64()),
        "filter": pc.cast(display["filter"], pa.string()),
        "magnitude": pc.cast(display["magnitude"], pa.float64()),
        "magnitude_error": pc.cast(display["magnitude_error"], pa.float64()),
        "ra": pc.cast(display["ra"], pa.float64()),
        "dec": pc.cast(display["dec"], pa.float64()),
        "isdiffpos": display.get("isdiffpos", pa.nulls(group.num_rows, pa.string())),
        "row_group": pa.array(np.full(group.num_rows, number), pa.int32()),
        "row": pa.array(np.arange(group.num_rows), pa.int32()),
    }
    return pa.table(columns)


def build(
    index: AlertIndex,
    nights: list[dt.date | str],
    workers: int = 4,
    progress: bool = True,
) -> list[NightReport]:
    """Index whole nights of the lake; re-indexing a night replaces its entries.

    Files run in parallel on `workers` threads behind a progress bar. Each night becomes one
    delta per table (objects, alerts) and a ``nights/YYYYMMDD.json`` manifest.
    """
    from tqdm.auto import tqdm

    nights = sorted({parse_night(night) for night in nights})
    jobs = {night: index.lake.night_files(night) for night in nights}
    reports = []
    with (
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        tqdm(total=sum(map(len, jobs.values())), unit="file", disable=not progress) as bar,
    ):
        for night, files in jobs.items():
            bar.set_description(f"indexing {night:%Y-%m-%d}")
            results = []
            for result in pool.map(
                lambda path, n=night: entries_of_file(index.lake, path, n), files
            ):
                results.append(result)
                bar.update()
            reports.append(write_indexed_night(index, night, files, results))
    index.refresh()
    return reports


def write_indexed_night(
    index: AlertIndex, night: dt.date, files: list[str], results: list[IndexedFile]
) -> NightReport:
    """Write one night (`write_night`) from its files' `IndexedFile`, in the order of `files`."""
    import pyarrow as pa

    surveys = {result.survey.name for result in results}
    if len(surveys) > 1:
        raise BadParameter(f"survey: the index holds one survey, found {sorted(surveys)}")
    entries = (
        pa.concat_tables([r.entries for r in results]) if results else entry_schema().empty_table()
    )
    identities = {path: r.identity for path, r in zip(files, results, strict=True)}
    write_night(index, night, entries, identities, surveys.pop() if surveys else None)
    return NightReport(night, len(files), entries.num_rows, sum(r.bytes_read for r in results))


def write_night(
    index: AlertIndex,
    night: dt.date,
    entries: pa.Table,
    files: dict[str, dict],
    survey: str | None,
) -> None:
    """Store one night's entries as its delta (replacing an earlier one) and its manifest.

    Parameters
    ----------
    index : AlertIndex
    night : date
    entries : pyarrow.Table
        Rows of `entry_schema`, in any order.
    files : dict
        The night's files (relative to the lake root) and their identities: ``size``,
        ``mtime_ns``, ``alert_ids_sha256`` (see `entries_of_file`).
    survey : str or None
        Survey of the entries; ``None`` for a night without files.
    """
    import pyarrow.compute as pc

    layout = read_layout(index)
    if layout and survey and layout["survey"] != survey:
        raise BadParameter(f"survey: the index holds one survey, {layout['survey']}, not {survey}")
    if layout is None:
        write_layout(index, survey or "ztf", buckets=1, generation=None)
    for table, key in TABLES.items():
        ordered = sort_entries(entries.filter(pc.is_valid(entries.column(key))), key)
        index.store.write_atomically(
            f"delta/{table}/night={night:%Y%m%d}{INDEX_SUFFIX}", index_file_bytes(ordered, key)
        )
    write_manifest(index, night, files, entries.num_rows)


def write_manifest(index: AlertIndex, night: dt.date, files: dict[str, dict], entries: int) -> None:
    """Record what indexing a night read: its files' identities and its number of entries."""
    manifest = {
        "night": f"{night:%Y-%m-%d}",
        "files": files,
        "entries": entries,
        "indexed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    index.store.write_atomically(
        f"nights/{night:%Y%m%d}.json", json.dumps(manifest, indent=1).encode()
    )


def write_layout(index: AlertIndex, survey: str, buckets: int, generation: int | None) -> None:
    """Publish the index's layout: from then on, readers use base `generation`."""
    layout = {
        "format": INDEX_FORMAT,
        "survey": survey,
        "buckets": buckets,
        "generation": generation,
    }
    index.store.write_atomically("layout.json", json.dumps(layout, indent=1).encode())


def bucket_count(entries: int, at_least: int = 1) -> int:
    """Buckets for a base of `entries`: doubled from `at_least` to ≤ `TARGET_BUCKET_ROWS` each."""
    buckets = at_least
    while entries / buckets > TARGET_BUCKET_ROWS:
        buckets *= 2
    return buckets


def compact(index: AlertIndex, progress: bool = True) -> dict:
    """Merge the nightly deltas into a new base generation, bucket by bucket.

    The number of buckets grows (doubling) so that a bucket holds about `TARGET_BUCKET_ROWS`
    entries; an old bucket ``b`` splits into ``b`` and ``b + B``, so only one old bucket and
    the deltas are in memory at a time. Do not run it while a build writes to the same index.
    """
    import pyarrow as pa
    from tqdm.auto import tqdm

    layout = read_layout(index)
    if layout is None:
        raise NotFound("the index is empty: nothing to compact")
    old_generation, old_buckets = layout["generation"], layout["buckets"]
    deltas = {table: index_files(index.store, f"delta/{table}") for table in TABLES}
    if not deltas["objects"]:
        return {"generation": old_generation, "buckets": old_buckets, "merged_nights": 0}
    delta_tables = {
        table: pa.concat_tables([_read_table(index, f"delta/{table}/{name}") for name, *_ in files])
        for table, files in deltas.items()
    }
    replaced = set(delta_tables["objects"].column("night").unique().to_pylist())
    base_rows = 0
    if old_generation is not None:
        for name, *_ in index_files(index.store, f"base-{old_generation}/objects"):
            base_rows += index_file_rows(index.store, f"base-{old_generation}/objects/{name}")
    buckets = bucket_count(base_rows + delta_tables["objects"].num_rows, old_buckets)
    generation = 0 if old_generation is None else old_generation + 1
    with tqdm(total=2 * old_buckets, unit="bucket", desc="compacting", disable=not progress) as bar:
        for table, key in TABLES.items():
            fresh = by_bucket(delta_tables[table], key, buckets)
            for old in range(old_buckets):
                base = _old_bucket(index, old_generation, table, old)
                if base is not None and replaced:
                    kept = ~np.isin(base.column("night").to_numpy(), list(replaced))
                    base = base.filter(pa.array(kept))
                base = by_bucket(base, key, buckets) if base is not None else None
                for new in range(old, buckets, old_buckets):
                    parts = [fresh(new)] + ([base(new)] if base is not None else [])
                    merged = sort_entries(pa.concat_tables(parts), key)
                    index.store.write_atomically(
                        f"base-{generation}/{table}/bucket-{new:05d}{INDEX_SUFFIX}",
                        index_file_bytes(merged, key),
                    )
                bar.update()
    write_layout(index, layout["survey"], buckets, generation)
    for table, files in deltas.items():
        for name, *_ in files:
            index.store.delete(f"delta/{table}/{name}")
    if old_generation is not None:
        index.store.delete(f"base-{old_generation}")
    index.refresh()
    return {"generation": generation, "buckets": buckets, "merged_nights": len(deltas["objects"])}


def by_bucket(table: pa.Table, key: str, buckets: int):
    """A function giving the rows of `table` whose key falls in a bucket (one sort, then slices)."""
    of_rows = bucket_of_keys(table.column(key), buckets)
    order = np.argsort(of_rows, kind="stable")
    grouped = table.take(order)
    bounds = np.searchsorted(of_rows[order], np.arange(buckets + 1))
    return lambda bucket: grouped.slice(bounds[bucket], bounds[bucket + 1] - bounds[bucket])


def _old_bucket(
    index: AlertIndex, generation: int | None, table: str, bucket: int
) -> pa.Table | None:
    if generation is None:
        return None
    try:
        return _read_table(index, f"base-{generation}/{table}/bucket-{bucket:05d}{INDEX_SUFFIX}")
    except NotFound:
        return None


def _read_table(index: AlertIndex, relative: str) -> pa.Table:
    return read_index_table(index.store, relative).cast(entry_schema())


def read_layout(index: AlertIndex, check: bool = True) -> dict | None:
    """The index's layout (format, survey, buckets, base generation); None for no index."""
    try:
        with index.store.open("layout.json") as source:
            layout = json.loads(source.read())
    except NotFound:
        return None
    if check:
        check_format(layout)
    return layout


def remove(index: AlertIndex) -> None:
    """Delete the whole index, whatever its format (before rebuilding it)."""
    layout = read_layout(index, check=False) or {}
    if layout.get("generation") is not None:
        index.store.delete(f"base-{layout['generation']}")
    for entry in ("delta", "nights", "layout.json"):
        index.store.delete(entry)
    index.refresh()
