"""Writing the alert index: a night's delta, tier merges of deltas, compaction into a base.

Every write follows the same rule: write the new files, publish the layout that names them
(`index_layout.publish`), then delete the files the layout no longer names. A reader sees the
index before or after a write, never half of it.

One writer at a time per index: every write runs in a `WriteSession` (`writing`), which holds
the index's writer lock (`index_lock`) and, just before publishing, checks that the lock is
still its own and that ``layout.json`` is byte for byte the one it started from (compare and
swap): a writer that got past the lock (best effort on HDFS and S3) refuses to publish rather
than lose another's nights. A session starts by deleting what the published layout does not
name (`sweep`): the files of a writer killed or refused before publishing. ``--rebuild``
(``rebuild=True``) writes a whole new index beside the published one, publishes it in one
write, and only then deletes the old one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fink_cutout_jupyter.errors import BadParameter, IndexBusy, IndexDamaged, NotFound
from fink_cutout_jupyter.index.files import index_file_bytes, index_file_rows, read_index_table
from fink_cutout_jupyter.index.layout import (
    BASE_NAME,
    FANOUT,
    INDEX_FORMAT,
    LAYOUT,
    add_delta,
    base_file,
    base_sizes_file,
    check_format,
    counted_manifest,
    delta_file,
    delta_name,
    free_numbers,
    layout_bytes,
    level_to_merge,
    new_layout,
    owners,
    parse_layout,
    read_layout_bytes,
    superseded,
)
from fink_cutout_jupyter.index.lock import WriterLock, abandoned_lock_file, where
from fink_cutout_jupyter.index.lookup import TABLES, AlertIndex, bucket_of_keys, entry_schema

if TYPE_CHECKING:
    import pyarrow as pa

TARGET_BUCKET_ROWS = 200_000
SMALL_DELTAS_BYTES = 64 * 2**20  # deltas this small together are merged into one


class WriteSession:
    """A writer's hold on the index: its lock, the layout it started from, the one it writes.

    Made by `writing`; every function here that writes to the index runs in one. New base
    generations and orders (of deltas and manifests) come after every one on the filesystem
    (`index_layout.free_numbers`): a name is never given to other contents, so a server that
    keeps an index file open by name never reads another one's bytes through it.
    """

    def __init__(self, index: AlertIndex, lock: WriterLock, rebuild: bool) -> None:
        self.index = index
        self.lock = lock
        self.rebuild = rebuild
        self.published_bytes = read_layout_bytes(index.store)
        published = None
        try:
            if self.published_bytes is not None:
                published = parse_layout(self.published_bytes, check=False)
        except IndexDamaged:
            if not rebuild:
                raise
        ours = published is not None and published.get("format") == INDEX_FORMAT
        self.next_generation, self.start_order = free_numbers(
            index.store, published if ours else None
        )
        lock.check()  # a writer whose lock was broken while it waited sweeps nothing
        if ours or self.published_bytes is None:
            sweep(index.store, published)  # what a killed or refused writer left
        elif rebuild:  # a damaged index, or of another format: it serves nothing anyway
            sweep(index.store, None)
        self.layout = published
        self.replaced = published if rebuild and ours else None
        if rebuild:
            self.layout = None  # a whole new index, published at `finish`

    def claim_generation(self) -> int:
        """The new base generation this writer writes, claimed by creating a file in its
        directory under a name no file has (`write_new`): of two writers past the lock that
        picked the same number, one is refused before writing a bucket (one whose buckets are
        written by replacing files, as Spark's retried tasks do, would otherwise mix them)."""
        generation = self.next_generation
        write_new(self.index.store, claim_file(generation), self.lock.me.to_bytes())
        return generation

    def working(self) -> dict | None:
        """A copy of the layout being written (None: no index yet)."""
        return json.loads(json.dumps(self.layout)) if self.layout is not None else None

    def new_layout(self, survey: str) -> dict:
        """An empty layout whose files and manifests come after every one written before."""
        return new_layout(survey, self.start_order, self.next_generation)

    def commit(self, layout: dict, garbage: list[str]) -> None:
        """Publish `layout` (deferred in a rebuild), then delete `garbage`, files it no longer
        names."""
        self.layout = json.loads(json.dumps(layout))
        if not self.rebuild:
            self.publish(layout)
        for relative in garbage:  # in a rebuild: files never published
            self.index.store.delete(relative)

    def publish(self, layout: dict) -> None:
        """Write `layout` as ``layout.json`` if the index is still as this writer found it."""
        self.lock.check()
        if read_layout_bytes(self.index.store) != self.published_bytes:
            raise IndexBusy(
                f"index: another writer published {where(self.index.store, LAYOUT)} while this "
                "one was writing (without the writer lock, or after breaking it); this "
                "write was not published, so nothing of the other's is lost: run it again"
            )
        data = layout_bytes(layout)
        self.index.store.write_atomically(LAYOUT, data)
        self.published_bytes = data
        self.index.refresh()

    def finish(self) -> None:
        """End a rebuild: publish the new index, then delete the files of the old one (only
        those: another writer may have written since)."""
        if self.rebuild and self.layout is not None:
            self.publish(self.layout)
            old = self.replaced or new_layout("ztf")
            for delta in old["deltas"]:
                for table in TABLES:
                    self.index.store.delete(delta_file(table, delta["name"]))
            for name, *_ in self.index.store.list_files("nights"):
                if counted_manifest(old, name):
                    self.index.store.delete(f"nights/{name}")
            if old["generation"] is not None:
                self.index.store.delete(f"base-{old['generation']}")


def claim_file(generation: int) -> str:
    """The file a writer of base `generation` claims it with (`WriteSession.claim_generation`)."""
    return f"base-{generation}/writer.json"


def write_new(store, relative: str, data: bytes) -> None:
    """Write an index file under a name no file has: a writer never replaces a file another
    one wrote (two writers past the lock would otherwise pick the same next name)."""
    if not store.create_exclusively(relative, data):
        raise IndexBusy(
            f"index: {where(store, relative)} exists already: another writer is writing this "
            "index; this write was not published: run it again"
        )


@contextmanager
def writing(
    index: AlertIndex, command: str = "", wait: float = 0.0, rebuild: bool = False
) -> Iterator[WriteSession]:
    """Hold the index for writing: its writer lock, then a `WriteSession` (the one this
    thread already has open on this `AlertIndex`, if any: another thread's write waits for
    the lock, or is refused, as another process's is).

    Raises
    ------
    IndexBusy
        When another writer holds the lock after `wait` seconds, naming it.
    """
    if (session := index.writer) is not None:
        yield session
        return
    thread = threading.get_ident()
    with WriterLock(index.store, command, wait) as lock:
        index.writers[thread] = session = WriteSession(index, lock, rebuild)
        try:
            yield session
            session.finish()
        finally:
            del index.writers[thread]
            index.refresh()


def sweep(store, layout: dict | None) -> list[str]:
    """Delete what `layout` (the published one) does not name; what was deleted.

    Deltas and base generations of writes never published, other generations, temporary
    files, manifests outside the layout's orders. Only a writer holding the lock may sweep.
    """
    deleted = []

    def drop(relative: str) -> None:
        store.delete(relative)
        deleted.append(relative)

    layout = layout or new_layout("ztf")
    names = {f"{delta['name']}.arrow" for delta in layout["deltas"]}
    for table in TABLES:
        for name, *_ in store.list_files(f"delta/{table}"):
            if name not in names:
                drop(f"delta/{table}/{name}")
    for name, *_ in store.list_files("nights"):
        if not counted_manifest(layout, name):
            drop(f"nights/{name}")
    generation = layout["generation"]
    for directory in store.list_directories(""):
        if BASE_NAME.fullmatch(directory) and directory != f"base-{generation}":
            drop(directory)
    if generation is not None:
        for name, *_ in store.list_files(f"base-{generation}"):
            if f"base-{generation}/{name}" != base_sizes_file(generation):
                drop(f"base-{generation}/{name}")
        for table in TABLES:
            named = {base_file(generation, table, b) for b in range(layout["buckets"])}
            for name, *_ in store.list_files(f"base-{generation}/{table}"):
                if f"base-{generation}/{table}/{name}" not in named:
                    drop(f"base-{generation}/{table}/{name}")
    for name, _, mtime in store.list_files(""):
        if name.startswith(f"{LAYOUT}.tmp-") or abandoned_lock_file(name, mtime):
            drop(name)
    return deleted


def sort_entries(entries: pa.Table, key: str) -> pa.Table:
    """Entries in index order: by `key`, then time, then alert id (every build sorts so)."""
    return entries.sort_by([(key, "ascending"), ("time", "ascending"), ("alert_id", "ascending")])


def night_number(night: dt.date) -> int:
    return int(f"{night:%Y%m%d}")


class IndexedNight(NamedTuple):
    """One night to write: its entries, and its files' identities (see `entries_of_file`)."""

    night: dt.date
    entries: pa.Table
    files: dict[str, dict]


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


def write_nights(index: AlertIndex, nights: list[IndexedNight], survey: str | None) -> None:
    """Store nights' entries as one new delta, replacing those nights' earlier entries.

    One delta and one manifest for all the nights: on HDFS, each file written costs a fixed
    0-0.4 s (the client of Hadoop 2.7 waits 400 ms when the NameNode has not completed the
    file yet), whatever its size. While the waiting deltas are small (`SMALL_DELTAS_BYTES`),
    the nights are written merged with them into one delta; otherwise as a delta of a tier that
    grows with their number, and deltas merge by tier (`index_layout`).
    """
    with writing(index) as session:
        _write_nights(session, nights, survey)


def _write_nights(session: WriteSession, nights: list[IndexedNight], survey: str | None) -> None:
    import pyarrow as pa

    index = session.index
    layout = session.working()
    if layout is not None:
        check_format(layout)
    if layout and survey and layout["survey"] != survey:
        raise BadParameter(f"survey: the index holds one survey, {layout['survey']}, not {survey}")
    layout = layout or session.new_layout(survey or "ztf")
    numbers = [night_number(n.night) for n in nights]
    level = int(math.log(len(numbers), FANOUT) + 1e-9)
    entries = pa.concat_tables([n.entries for n in nights] or [entry_schema().empty_table()])
    write_manifest(index, layout["next"], [(n.night, n.files, n.entries.num_rows) for n in nights])
    waiting = layout["deltas"]
    if waiting and entries.nbytes <= SMALL_DELTAS_BYTES and _size(waiting) <= SMALL_DELTAS_BYTES:
        dropped = _merge(index, layout, list(waiting), level, numbers, entries)
    else:
        name = delta_name(layout, numbers, level)
        add_delta(layout, numbers, _write_delta(index, entries, name), level)
        dropped = _merge_tiers(index, layout)
    session.commit(layout, [delta_file(table, d["name"]) for d in dropped for table in TABLES])


def _size(deltas: list[dict]) -> int:
    return sum(sum(delta["sizes"].values()) for delta in deltas)


def _write_delta(index: AlertIndex, entries: pa.Table, name: str) -> dict[str, int]:
    """Write a delta's files (its entries keyed for each table, sorted); their sizes."""
    import pyarrow.compute as pc

    sizes = {}
    for table, key in TABLES.items():
        ordered = sort_entries(entries.filter(pc.is_valid(entries.column(key))), key)
        data = index_file_bytes(ordered, key)
        write_new(index.store, delta_file(table, name), data)
        sizes[table] = len(data)
    return sizes


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
    new_entries: pa.Table | None = None,
) -> list[dict]:
    """Replace `group` by one delta of (at least) `level` holding the entries they own, with
    `new_entries` of `new_nights` if given (newest); returns `group`."""
    import pyarrow as pa

    owner = owners(layout)
    parts = [new_entries] if new_entries is not None else []
    nights = list(new_nights)
    for delta in group:
        own = [n for n in delta["nights"] if owner[n] == delta["order"] and n not in new_nights]
        nights += own
        parts.append(entries_of_index_file(index, delta_file("alerts", delta["name"]), keep=own))
        level = max(level, delta["level"])
    name = delta_name(layout, nights, level)
    sizes = _write_delta(index, pa.concat_tables(parts), name)
    layout["deltas"] = [d for d in layout["deltas"] if d not in group]
    add_delta(layout, nights, sizes, level)
    return group


def entries_of_index_file(
    index: AlertIndex, relative: str, keep: list[int] | None = None, drop: list[int] | None = None
) -> pa.Table:
    """An index file's entries, only those of the nights in `keep`, or not in `drop`."""
    import pyarrow as pa

    entries = read_index_table(index.store, relative).cast(entry_schema())
    if keep is None and not drop:
        return entries
    nights = entries.column("night").to_numpy()
    chosen = np.isin(nights, keep) if keep is not None else ~np.isin(nights, drop or [])
    return entries.filter(pa.array(chosen))


def write_manifest(
    index: AlertIndex, order: int, nights: list[tuple[dt.date, dict[str, dict], int]]
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
    write_new(index.store, f"nights/{order:08d}.json", json.dumps(manifest).encode())


def bucket_count(entries: int, at_least: int = 1) -> int:
    """Buckets for a base of `entries`: doubled from `at_least` to ≤ `TARGET_BUCKET_ROWS` each."""
    buckets = at_least
    while entries / buckets > TARGET_BUCKET_ROWS:
        buckets *= 2
    return buckets


def by_bucket(table: pa.Table, key: str, buckets: int):
    """A function giving the rows of `table` whose key falls in a bucket (one sort, then slices)."""
    of_rows = bucket_of_keys(table.column(key), buckets)
    order = np.argsort(of_rows, kind="stable")
    grouped = table.take(order)
    bounds = np.searchsorted(of_rows[order], np.arange(buckets + 1))
    return lambda bucket: grouped.slice(bounds[bucket], bounds[bucket + 1] - bounds[bucket])


def to_compact(index: AlertIndex) -> tuple[dict, dict[str, list[int]]]:
    """The layout, and the nights each waiting delta holds entries of (by its alerts file)."""
    with writing(index) as session:
        layout = session.working()
    if layout is None:
        raise NotFound("the index is empty: nothing to compact")
    check_format(layout)
    owner = owners(layout)
    waiting = {}
    for delta in layout["deltas"]:
        own = [n for n in delta["nights"] if owner[n] == delta["order"]]
        if own:
            waiting[delta_file("alerts", delta["name"])] = own
    return layout, waiting


def compact(index: AlertIndex, progress: bool = True, wait: float = 0.0) -> dict:
    """Merge the deltas into a new base generation, bucket by bucket.

    The number of buckets grows (doubling) so that a bucket holds about `TARGET_BUCKET_ROWS`
    entries; an old bucket ``b`` splits into ``b`` and ``b + B``, so only one old bucket and
    the deltas are in memory at a time. It holds the writer lock (waiting up to `wait` seconds
    for a build that holds it).
    """
    with writing(index, "index compact", wait):
        return _compact(index, progress)


def _compact(index: AlertIndex, progress: bool) -> dict:
    import pyarrow as pa
    from tqdm.auto import tqdm

    layout, waiting = to_compact(index)
    old_generation, old_buckets = layout["generation"], layout["buckets"]
    if not waiting:
        return {"generation": old_generation, "buckets": old_buckets, "merged_nights": 0}
    owner = owners(layout)
    fresh_entries = pa.concat_tables(
        [entries_of_index_file(index, path, keep=nights) for path, nights in waiting.items()]
    )
    base_rows = 0
    if old_generation is not None:
        base_rows = sum(
            index_file_rows(index.store, base_file(old_generation, "objects", b))
            for b in range(old_buckets)
        )
    buckets = bucket_count(base_rows + fresh_entries.num_rows, old_buckets)
    generation = index.writer.claim_generation()
    sizes: dict[str, list[int]] = {table: [0] * buckets for table in TABLES}
    with tqdm(total=2 * old_buckets, unit="bucket", desc="compacting", disable=not progress) as bar:
        for table, key in TABLES.items():
            keyed = fresh_entries.filter(fresh_entries.column(key).is_valid())
            fresh = by_bucket(keyed, key, buckets)
            for old in range(old_buckets):
                base = None
                if old_generation is not None:
                    relative = base_file(old_generation, table, old)
                    base = by_bucket(
                        entries_of_index_file(index, relative, drop=list(owner)), key, buckets
                    )
                for new in range(old, buckets, old_buckets):
                    parts = [fresh(new)] + ([base(new)] if base is not None else [])
                    data = index_file_bytes(sort_entries(pa.concat_tables(parts), key), key)
                    write_new(index.store, base_file(generation, table, new), data)
                    sizes[table][new] = len(data)
                bar.update()
    publish_base(index, layout, generation, buckets, sizes)
    return {"generation": generation, "buckets": buckets, "merged_nights": len(owner)}


def publish_base(
    index: AlertIndex, layout: dict, generation: int, buckets: int, sizes: dict[str, list[int]]
) -> None:
    """Publish a written base generation in place of the old one and of every delta."""
    with writing(index) as session:
        write_new(index.store, base_sizes_file(generation), json.dumps(sizes).encode())
        old_generation = layout["generation"]
        garbage = [delta_file(table, d["name"]) for d in layout["deltas"] for table in TABLES]
        if old_generation is not None and old_generation != generation:
            garbage.append(f"base-{old_generation}")
        new = {**layout, "buckets": buckets, "generation": generation, "deltas": []}
        session.commit(new, garbage)


def remove(index: AlertIndex, wait: float = 0.0) -> None:
    """Delete the whole index, whatever its format (holding the writer lock)."""
    with writing(index, "index remove", wait, rebuild=True):
        index.store.delete(LAYOUT)
        sweep(index.store, None)
