"""A night's entries written as a delta, and deltas merged by size tier.

Each write of nights is one delta and one manifest (`manifests`): few files, as each costs a
fixed time on HDFS. A delta is one file per table (`entries.TABLES`), or above
`buckets.DELTA_BUCKET_ROWS` entries one per table and hash bucket (`layout`): a fresh lookup
reads one bucket's footer, not a Rubin night's (~3 MB for 10^7 entries). The entries come in
an `spills.EntrySpill` (a build's night spilled by bucket as its files are indexed) and every
delta is written one bucket at a time (`buckets.merged_buckets`), merges too. Deltas merge as in a
log-structured merge (the levels and owners are `layout`'s): while the waiting deltas are
small (`SMALL_DELTAS_BYTES`) they are merged whole, otherwise every level holding
`layout.FANOUT` deltas becomes one delta of the next level. Compacting them all into a base
generation is `compaction`'s job.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.index.buckets import (
    BucketSource,
    delta_bucket_count,
    delta_entries,
    file_source,
    merged_buckets,
)
from fink_cutout_jupyter.index.entries import TABLES
from fink_cutout_jupyter.index.files import index_file_bytes
from fink_cutout_jupyter.index.layout import (
    FANOUT,
    add_delta,
    archived,
    check_format,
    delta_bucket_file,
    delta_file,
    delta_files,
    delta_name,
    delta_paths,
    level_to_merge,
    owners,
    superseded,
)
from fink_cutout_jupyter.index.manifests import consolidate_manifests, write_manifest
from fink_cutout_jupyter.index.parts import archive_part, hidden, online_part
from fink_cutout_jupyter.index.spills import EntrySpill
from fink_cutout_jupyter.index.writes import WriteSession, write_new, writing
from fink_cutout_jupyter.surveys import DEFAULT_SURVEY

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.index.lookup import AlertIndex

SMALL_DELTAS_BYTES = 64 * 2**20  # deltas this small together are merged into one


class IndexedNight(NamedTuple):
    """One part to write: an archived night, or with `batch` a live night's files committed up
    to that micro-batch (`parts`); its entries, and its files' identities (`entries_of_file`).

    `entry_count`: how many entries the part has when they are not in `entries` but in the spill
    given to `write_nights`."""

    night: dt.date
    entries: pa.Table
    files: dict[str, dict]
    batch: int | None = None
    entry_count: int | None = None

    @property
    def rows(self) -> int:
        """How many entries the part has."""
        return self.entries.num_rows if self.entry_count is None else self.entry_count

    @property
    def part(self) -> int:
        """The part the entries belong to (their ``night`` column)."""
        if self.batch is None:
            return archive_part(self.night)
        return online_part(self.night, self.batch)


def write_night(
    index: AlertIndex,
    night: dt.date,
    entries: pa.Table,
    files: dict[str, dict],
    survey: str | None,
) -> None:
    """Store one night's entries as a new delta (see `write_nights`).

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
    write_nights(index, [IndexedNight(night, entries, files)], survey)


def write_nights(
    index: AlertIndex,
    nights: list[IndexedNight],
    survey: str | None,
    spill: EntrySpill | None = None,
) -> None:
    """Store nights' entries as one new delta, replacing those parts' earlier entries.

    The entries are the nights' `entries`, or those of `spill` (added as the nights' files
    were indexed, `build.Pending`), which is closed after.

    An archived night written with at least one file hides the live parts of that night, in
    the same write (`parts`); a live night's part records its batch in the layout's
    ``"online"``, from which a follower resumes (`follow`).

    One delta and one manifest for all the nights: on HDFS, each file written costs a fixed
    0-0.4 s (the client of Hadoop 2.7 waits 400 ms when the NameNode has not completed the
    file yet), whatever its size. While the waiting deltas are small (`SMALL_DELTAS_BYTES`),
    the nights are written merged with them into one delta; otherwise as a delta of a tier that
    grows with their number, and deltas merge by tier (`layout`).
    """
    if spill is None:
        spill = EntrySpill()
        for night in nights:
            spill.add(night.entries)
    with spill, writing(index) as session:
        _write_nights(session, nights, survey, spill)


def _write_nights(
    session: WriteSession, nights: list[IndexedNight], survey: str | None, spill: EntrySpill
) -> None:
    index = session.index
    layout = session.working()
    if layout is not None:
        check_format(layout)
    if layout and survey and layout["survey"] != survey:
        raise BadParameter(f"survey: the index holds one survey, {layout['survey']}, not {survey}")
    layout = layout or session.new_layout(survey or DEFAULT_SURVEY.name)
    numbers = [n.part for n in nights]
    level = int(math.log(len(numbers), FANOUT) + 1e-9)
    _record_parts(layout, nights)
    recorded = [(n.part, n.files, n.rows) for n in nights]
    write_manifest(index.store, layout["next"], recorded)  # the order of the delta added next
    waiting = layout["deltas"]
    if waiting and spill.nbytes <= SMALL_DELTAS_BYTES and _size(waiting) <= SMALL_DELTAS_BYTES:
        dropped = _merge(index, layout, list(waiting), level, numbers, spill)
    else:
        name = delta_name(layout, numbers, level)
        buckets = delta_bucket_count(spill.rows)
        sources = {table: [spill.source(table)] for table in TABLES}
        sizes, entries = _write_delta(index, sources, name, buckets)
        add_delta(layout, numbers, sizes, level, buckets, entries)
        dropped = _merge_tiers(index, layout)
    garbage = [path for delta in dropped for path in delta_paths(delta)]
    session.commit(layout, garbage + consolidate_manifests(index.store, layout))


def _record_parts(layout: dict, nights: list[IndexedNight]) -> None:
    """The layout's live nights and archived nights, after writing `nights` (in place)."""
    online = layout.setdefault("online", {})
    archived = set(layout.get("archived", []))
    for night in nights:
        name = f"{night.night:%Y%m%d}"
        if night.batch is not None:
            online[name] = max(online.get(name, -1), night.batch)
        elif night.files:
            archived.add(archive_part(night.night))
            online.pop(name, None)
    layout["archived"] = sorted(archived)


def _size(deltas: list[dict]) -> int:
    """Bytes of the deltas' files."""
    return sum(
        size for delta in deltas for table in TABLES for _, size in delta_files(delta, table)
    )


def _write_delta(
    index: AlertIndex, sources: dict[str, list[BucketSource]], name: str, buckets: int
) -> tuple[dict, int]:
    """Write a delta's files in `buckets` buckets from each table's `sources`, one bucket at a
    time (a bucket without entries has no file: size 0); their sizes and its alerts' count."""
    sizes: dict = {}
    alerts = 0
    for table, key in TABLES.items():
        written = [0] * buckets
        for bucket, rows in merged_buckets(sources[table], key, buckets):
            if buckets > 1 and not rows.num_rows:
                continue
            data = index_file_bytes(rows, key)
            relative = (
                delta_file(table, name) if buckets == 1 else delta_bucket_file(table, name, bucket)
            )
            write_new(index.store, relative, data)
            written[bucket] = len(data)
            alerts += rows.num_rows if table == "alerts" else 0
        sizes[table] = written[0] if buckets == 1 else written
    return sizes, alerts


def _merge_tiers(index: AlertIndex, layout: dict) -> list[dict]:
    """Drop superseded deltas, merge every level holding `FANOUT` deltas, then all deltas into
    one while together they are under `SMALL_DELTAS_BYTES`; returns what was dropped.

    The layout is changed in place (not published).
    """
    dropped = superseded(layout)
    layout["deltas"] = [d for d in layout["deltas"] if d not in dropped]
    while (level := level_to_merge(layout)) is not None:
        group = [d for d in layout["deltas"] if d["level"] == level][:FANOUT]
        dropped += _merge(index, layout, group, level + 1)
    deltas = layout["deltas"]
    if len(deltas) > 1 and _size(deltas) <= SMALL_DELTAS_BYTES:
        dropped += _merge(index, layout, list(deltas), max(d["level"] for d in deltas))
    return dropped


def _merge(
    index: AlertIndex,
    layout: dict,
    group: list[dict],
    level: int,
    new_nights: Sequence[int] = (),
    new_entries: EntrySpill | None = None,
) -> list[dict]:
    """Replace `group` by one delta of (at least) `level` holding the entries they own, with
    `new_entries` of `new_nights` if given (newest); returns `group`.

    Written bucket by bucket (`merged_buckets`): each delta's files are read a bucket at a
    time, and the new delta is bucketed by the entries it may hold (`delta_bucket_count`)."""
    owner, hide = owners(layout), archived(layout)
    sources: dict[str, list[BucketSource]] = {table: [] for table in TABLES}
    rows = 0
    if new_entries is not None:
        for table in TABLES:
            sources[table].append(new_entries.source(table))
        rows += new_entries.rows
    nights = list(new_nights)
    for delta in group:
        own = [
            n
            for n in delta["nights"]
            if owner[n] == delta["order"] and n not in new_nights and not hidden(n, hide)
        ]
        nights += own
        level = max(level, delta["level"])
        if not own:
            continue
        for table in TABLES:
            sources[table].append(file_source(index.store, delta_files(delta, table), keep=own))
        rows += delta_entries(index.store, delta)
    name = delta_name(layout, nights, level)
    buckets = delta_bucket_count(rows)
    sizes, entries = _write_delta(index, sources, name, buckets)
    layout["deltas"] = [d for d in layout["deltas"] if d not in group]
    add_delta(layout, nights, sizes, level, buckets, entries)
    return group
