"""Building the alert index from the lake: each file's entries from its small columns and page
headers, a night at a time (written by `deltas`).

A night's entries are not held in memory: each file's go to an `spills.EntrySpill` as the file
is indexed (held up to `spills.SPILL_ROWS` entries, then in local temporary files by bucket),
from which the delta is written one bucket at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fink_cutout_jupyter.errors import BadParameter, IndexBusy
from fink_cutout_jupyter.index.compaction import compact
from fink_cutout_jupyter.index.deltas import IndexedNight, write_night, write_nights
from fink_cutout_jupyter.index.entries import SPAN_KINDS, entry_schema
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.manifests import ids_digest, online_indexed
from fink_cutout_jupyter.index.parts import archive_part, online_part
from fink_cutout_jupyter.index.spills import EntrySpill
from fink_cutout_jupyter.index.writes import remove, writing
from fink_cutout_jupyter.locations import ALERT_ID_SPAN
from fink_cutout_jupyter.parquet.columns import (
    display_columns,
    leaf,
    leaf_paths,
    object_ids,
    present,
)
from fink_cutout_jupyter.storage.lake import Lake, parse_night
from fink_cutout_jupyter.surveys import Survey, survey_of_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.index.lookup import AlertIndex

__all__ = ["Pending", "build", "compact", "entries_of_file", "remove", "write_night"]
CHUNK_ENTRIES = 1_000_000  # entries held before writing the nights indexed so far

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


def entries_of_file(lake: Lake, path: str, night: dt.date, batch: int | None = None) -> IndexedFile:
    """Survey, identity and index entries of one lake file, reading only small columns.

    The entries belong to the archived `night`, or with `batch` to that live night's part
    (`parts.online_part`).

    The identity is what the night's manifest records of the file: ``size``, ``mtime_ns`` and
    ``alert_ids_sha256`` (its alert ids in row order). No cutout byte is read: their pages are
    found from the page headers.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = entry_schema()
    part = archive_part(night) if batch is None else online_part(night, batch)
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
        "night": pa.array(np.full(table.num_rows, part), pa.int64()),
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


def _page_spans(source, parquet, survey: Survey, path: str) -> list[bytes] | None:
    """For every row of the file, the data pages of its cutouts and alert id (`pack_spans`).

    None if the page reader does not support the file's pages.
    """
    from fink_cutout_jupyter.parquet.pages import Unsupported, page_map, spans_of_rows
    from fink_cutout_jupyter.parquet.spans import PHYSICAL_TYPES, ColumnInfo, pack_spans

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
        "ss_object_id": display.get("ss_object_id", pa.nulls(group.num_rows, pa.string())),
        "designation": pc.cast(
            display.get("designation", pa.nulls(group.num_rows, pa.string())), pa.string()
        ),
        "row_group": pa.array(np.full(group.num_rows, number), pa.int32()),
        "row": pa.array(np.arange(group.num_rows), pa.int32()),
    }
    return pa.table(columns)


def build(
    index: AlertIndex,
    nights: list[dt.date | str],
    workers: int = 4,
    progress: bool = True,
    rebuild: bool = False,
    wait: float = 0.0,
) -> list[NightReport]:
    """Index whole nights of the lake; re-indexing a night replaces its entries.

    Files run in parallel on `workers` threads behind a progress bar. Nights are written
    together as one delta (`write_nights`) once they hold `CHUNK_ENTRIES` entries, and at the
    end: a build of many small nights writes few files. Memory stays bounded: entries go to a
    spill (`Pending`) as files are indexed, whatever a night's size.

    The build holds the index's writer lock (waiting up to `wait` seconds for another writer).
    With `rebuild`, the nights make a whole new index, published at the end in place of the
    old one, which is deleted only then.
    """
    command = "index build" + (" --rebuild" if rebuild else "")
    with writing(index, command, wait, rebuild):
        return _build(index, nights, workers, progress)


def _build(index: AlertIndex, nights, workers: int, progress: bool) -> list[NightReport]:
    from tqdm.auto import tqdm

    nights = sorted({parse_night(night) for night in nights})
    jobs = {night: index.lake.night_files(night) for night in nights}
    reports, pending = [], Pending(index)
    with (
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        tqdm(total=sum(map(len, jobs.values())), unit="file", disable=not progress) as bar,
    ):
        for night, files in jobs.items():
            bar.set_description(f"indexing {night:%Y-%m-%d}")
            results = pool.map(entries_of_file, repeat(index.lake), files, repeat(night))
            reports.append(pending.add(night, files, _counted(results, bar)))
    pending.write()
    return reports


def _counted(results: Iterable[IndexedFile], bar) -> Iterator[IndexedFile]:
    for result in results:
        yield result
        bar.update()


def refuse_incomplete_archive(index: AlertIndex, night: dt.date, alerts: int) -> None:
    """Refuse to write an archived night in place of its live parts while its merge may be
    incomplete: a Spark job still writing the archive (``<science_dir>/_temporary``), or fewer
    alerts than the live parts hold while the live night is still in the lake. Written, the
    archived night hides its live parts (`parts`): their alerts would not be found any more.

    Raises
    ------
    IndexBusy
        While a Spark job writes the archive.
    BadParameter
        While the archived night holds fewer alerts than its live parts (naming both counts).
    """
    session = index.writer
    layout = session.working() if session is not None else read_layout(index.store)
    if not layout or f"{night:%Y%m%d}" not in layout.get("online", {}):
        return
    lake = index.lake
    if lake.exists(f"{lake.science_dir}/_temporary"):
        raise IndexBusy(
            f"night: {night:%Y-%m-%d} is followed live and a Spark job is writing the archive "
            f"({lake.science_dir}/_temporary): its live alerts stay indexed; the follower "
            "writes the archived night once the job is done"
        )
    _, live = online_indexed(index.store, layout, night)
    if alerts < live and lake.exists(lake.online_night_dir(night)):
        raise BadParameter(
            f"night: the archived night {night:%Y-%m-%d} holds {alerts} alerts, fewer than the "
            f"{live} indexed from its live night, still in the lake: its merge is incomplete; "
            "written, it would hide the others (the follower writes it once it is complete, "
            "or once the live night is deleted)"
        )


class Pending:
    """Indexed nights waiting to be written together (one survey), written by `CHUNK_ENTRIES`.

    Their entries go to an `EntrySpill` as each file's come (a night is never held whole)."""

    def __init__(self, index: AlertIndex) -> None:
        self.index = index
        self.nights: list[IndexedNight] = []
        self.surveys: set[str] = set()
        self.spill = EntrySpill()

    def add(self, night: dt.date, files: list[str], results: Iterable[IndexedFile]) -> NightReport:
        """Add a night from its files' `IndexedFile` (in the order of `files`); its report."""
        identities, rows, bytes_read = {}, 0, 0
        try:
            for path, result in zip(files, results, strict=True):
                self.surveys.add(result.survey.name)
                if len(self.surveys) > 1:
                    raise BadParameter(
                        f"survey: the index holds one survey, found {sorted(self.surveys)}"
                    )
                self.spill.add(result.entries)
                identities[path] = result.identity
                rows += result.entries.num_rows
                bytes_read += result.bytes_read
            if files:
                refuse_incomplete_archive(self.index, night, rows)
        except BaseException:
            self.spill.close()
            raise
        schema = entry_schema()
        self.nights.append(IndexedNight(night, schema.empty_table(), identities, entry_count=rows))
        report = NightReport(night, len(files), rows, bytes_read)
        if self.spill.rows >= CHUNK_ENTRIES:
            self.write()
        return report

    def write(self) -> None:
        """Write the nights added (one delta), then start a new spill."""
        if self.nights:
            survey = next(iter(self.surveys), None)
            write_nights(self.index, self.nights, survey, self.spill)
            self.nights = []
        self.spill.close()
        self.spill = EntrySpill()
