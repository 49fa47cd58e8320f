"""AlertIndex: where every alert of an object is, from index files kept on the lake itself.

Layout under the index root (default ``<lake>/_cutout_index``), readable by every Jupyter server
of a JupyterHub with no database server:

``layout.json``
    format, survey, number of hash buckets, the current base generation, and every delta with
    its nights and file sizes (`index_layout`): a lookup lists no directory.
``base-<G>/objects/bucket-<b>.arrow``, ``base-<G>/alerts/bucket-<b>.arrow``
    compacted entries, hash-bucketed by object id (resp. alert id), sorted by key, in record
    batches of `ROW_GROUP_ROWS` entries: a lookup reads one footer (cached) and one batch,
    whatever the lake's size. ``base-<G>/sizes.json``: their sizes.
``delta/objects/<name>.arrow``, ``delta/alerts/<name>.arrow``
    entries of nights not compacted yet, sorted by key, written by ``index build``; a night's
    entries in a delta replace that night's in the base. Deltas merge by size tier;
    ``index compact`` merges them all into a new base generation.
``nights/<order>.json``
    what was indexed for some nights: each file's identity (size, modification time, and a hash
    of its alert ids in row order) and the entry count; the latest manifest of a night counts.
``writer.lock``
    who is writing the index (`index_lock`).

A file the layout names that is missing, truncated or malformed answers `IndexDamaged` (503),
naming the file and the command that repairs the index; `AlertIndex.verify` reads them all.

The files' format (Arrow IPC batches with their key ranges) is in `index_files`.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter.errors import CutoutError, IndexDamaged, LakeUnavailable, NotFound
from fink_cutout_jupyter.index.files import SortedFile, index_file_rows, read_index_table
from fink_cutout_jupyter.index.layout import (
    INDEX_FORMAT,
    LAYOUT,
    base_file,
    base_sizes_file,
    check_fields,
    counted_manifest,
    damaged,
    delta_file,
    owners,
    read_layout,
)
from fink_cutout_jupyter.locations import ALERT_ID_SPAN, AlertLocation, FileIdentity
from fink_cutout_jupyter.parquet.columns import DISPLAY_FIELDS, leaf, leaf_paths
from fink_cutout_jupyter.parquet.pages import unpack_spans
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import KINDS, Survey, survey_named, survey_of_columns

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_INDEX_DIR = "_cutout_index"
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
            ("night", pa.int32()),
            ("filter", pa.string()),
            ("magnitude", pa.float64()),
            ("magnitude_error", pa.float64()),
            ("ra", pa.float64()),
            ("dec", pa.float64()),
            ("isdiffpos", pa.string()),
            ("path", pa.string()),
            ("row_group", pa.int32()),
            ("row", pa.int32()),
            ("file_size", pa.int64()),
            ("file_mtime_ns", pa.int64()),
            # Where the data pages of the cutouts and of the row's alert id are, in SPAN_KINDS
            # order (`pages.pack_spans`); null if the page reader cannot map the file's pages.
            ("page_spans", pa.binary()),
        ]
    )


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


class AlertIndex:
    """Find alerts by object id or alert id through index files kept on the lake's filesystem.

    Parameters
    ----------
    lake : Lake
        The data lake the entries point into.
    root : str, Lake or None
        Where the index lives: a directory or URI of its own, or by default
        ``_cutout_index`` inside the lake root.
    refresh_seconds : float
        How long the layout and the list of nightly deltas are trusted before being read again
        (so that a night indexed by another process shows up).
    cached_files : int
        How many index files stay open with their footers parsed.
    """

    def __init__(
        self,
        lake: Lake,
        root: str | Lake | None = None,
        refresh_seconds: float = 5.0,
        cached_files: int = 512,
    ) -> None:
        self.lake = lake
        if root is None:
            self.store = lake.subdirectory(DEFAULT_INDEX_DIR)
        else:
            self.store = root if isinstance(root, Lake) else Lake(root)
        self.refresh_seconds = refresh_seconds
        self.cached_files = cached_files
        self._lock = threading.Lock()
        self._files: OrderedDict[tuple[str, int], SortedFile] = OrderedDict()
        self._state: tuple[float, dict, dict[int, int]] | None = None
        self._base_sizes: tuple[int | None, dict] = (None, {})
        self._index_id: str | None = None  # of the layout read last (`index_layout.new_layout`)
        self._missing = False
        # the write session each thread has open on this index (`index_writes.writing`)
        self.writers: dict[int, Any] = {}
        weakref.finalize(self, _close_files, self._files)

    def __repr__(self) -> str:
        return f"AlertIndex({self.lake!r}, root={self.store.uri!r})"

    @property
    def writer(self) -> Any:
        """The write session this thread has open on this index, if any."""
        return self.writers.get(threading.get_ident())

    # Lookups

    def alerts(self, object_id: str | int) -> list[AlertLocation]:
        """All alerts of an object, oldest first (`NotFound` if the index has none)."""
        key, found = self._search(
            "objects", lambda survey: str(survey.validate_object_id(object_id))
        )
        if not found:
            raise NotFound(f"objectId: no alert of {key} in the lake's alert index")
        return sorted(found, key=lambda location: (location.time, location.alert_id))

    def latest(self, object_id: str | int) -> AlertLocation:
        """The object's alert with the largest time."""
        return self.alerts(object_id)[-1]

    def alert(self, alert_id: int | str) -> AlertLocation:
        """An alert by its id alone (ZTF candid, Rubin diaSourceId)."""
        key, found = self._search("alerts", lambda survey: survey.validate_alert_id(alert_id))
        if not found:
            raise NotFound(f"candid: no alert {key} in the lake's alert index")
        return found[0]

    @property
    def survey(self) -> Survey:
        """The survey of the indexed lake (`NotFound` while nothing is indexed)."""
        return survey_named(self._layout()["survey"])

    def refresh(self) -> None:
        """Forget the cached layout and delta list (after this process wrote to the index)."""
        with self._lock:
            self._state = None

    def forget_decoded(self) -> None:
        """Drop every decoded batch, keeping the open files' footers (a cold-index state)."""
        with self._lock:
            files = list(self._files.values())
        for opened in files:
            opened.forget_decoded()

    @property
    def batch_reads(self) -> int:
        """How many index batches the files still cached here have read and decoded."""
        with self._lock:
            return sum(opened.reads for opened in self._files.values())

    def stats(self) -> dict[str, Any]:
        """Counts and layout: survey, buckets, generation, entries in base and deltas, nights."""
        layout = read_layout(self.store, check=False) or {}
        if layout.get("format") == INDEX_FORMAT:
            check_fields(layout)
        generation = layout.get("generation")
        base = []
        if generation is not None:
            base = [base_file(generation, "objects", b) for b in range(layout["buckets"])]
            base = [path for path in base if self.store.exists(path)]
        deltas = layout.get("deltas", [])
        nights = self._night_manifests()

        def rows(path: str) -> int:
            try:
                return index_file_rows(self.store, path)
            except (OSError, ValueError, KeyError, NotFound) as error:
                raise self._file_error(path, None, error) from error

        return {
            "index": self.store.uri,
            "format": layout.get("format"),
            "survey": layout.get("survey"),
            "buckets": layout.get("buckets"),
            "generation": generation,
            "base_entries": sum(rows(path) for path in base),
            "base_files": len(base),
            "delta_files": len(deltas),
            "delta_nights": len(owners(layout)) if deltas else 0,
            "delta_entries": sum(rows(delta_file("objects", d["name"])) for d in deltas),
            "nights": len(nights),
            "files": sum(len(night["files"]) for night in nights),
            "entries": sum(night["entries"] for night in nights),
        }

    def stale_files(self, check_contents: bool = False) -> list[str]:
        """Indexed files that were rewritten (or removed) since they were indexed.

        A file is stale when its size or modification time differs from the indexed ones; with
        `check_contents`, also when its alert ids are no longer in the indexed row order (a
        rewrite that kept size and time, e.g. ``cp -p``), which reads each file's id column.
        """
        stale = []
        for night in self._night_manifests():
            for path, indexed in night["files"].items():
                try:
                    changed = self.lake.identity(path) != FileIdentity(
                        indexed["size"], indexed["mtime_ns"]
                    )
                    if not changed and check_contents:
                        changed = alert_ids_digest(self.lake, path) != indexed["alert_ids_sha256"]
                except NotFound:
                    changed = True
                if changed:
                    stale.append(path)
        return stale

    def verify(self) -> list[str]:
        """Read every file the layout names; each damaged one as "file: what is wrong".

        Empty for a sound index (or none). Reads the whole index: its layout, the base's
        sizes and buckets, every delta and every manifest.
        """
        try:
            layout = read_layout(self.store)
        except IndexDamaged as error:
            return [f"{error.file}: {error.reason}"]
        if layout is None:
            return []
        found: list[IndexDamaged] = []
        files = [
            (delta_file(t, d["name"]), d["sizes"][t]) for d in layout["deltas"] for t in TABLES
        ]
        generation = layout["generation"]
        if generation is not None:
            try:
                sizes = self._read_sizes(generation, layout["buckets"])
                files += [
                    (base_file(generation, table, bucket), sizes[table][bucket])
                    for table in TABLES
                    for bucket in range(layout["buckets"])
                ]
            except IndexDamaged as error:
                found.append(error)
        for relative, size in files:
            try:
                actual = self.store.size(relative)
                if actual != size:
                    found.append(damaged(relative, f"{actual} bytes where layout.json says {size}"))
                    continue
                read_index_table(self.store, relative)
            except (OSError, ValueError, KeyError, NotFound) as error:
                problem = self._file_error(relative, size, error)
                if not isinstance(problem, IndexDamaged):
                    raise problem from error
                found.append(problem)
        found += self._damaged_manifests(layout)
        return [f"{error.file}: {error.reason}" for error in found]

    # Internals

    def _damaged_manifests(self, layout: dict) -> list[IndexDamaged]:
        found = []
        for name, *_ in self.store.list_files("nights"):
            if counted_manifest(layout, name):
                try:
                    self._manifest(f"nights/{name}")
                except IndexDamaged as error:
                    found.append(error)
        return found

    def _night_manifests(self, layout: dict | None = None) -> list[dict]:
        """What `index build` recorded for each night: its files with their sizes, its entries.

        Only the manifests the layout counts (from ``first_manifest`` to ``next``): not a
        temporary file of a killed build, nor a manifest of a write never published.
        """
        layout = layout or read_layout(self.store, check=False) or {}
        current: dict = {}
        for name, *_ in sorted(self.store.list_files("nights")):  # later manifests win
            if counted_manifest(layout, name):
                current |= self._manifest(f"nights/{name}")
        return [{"night": night, **recorded} for night, recorded in sorted(current.items())]

    def _manifest(self, relative: str) -> dict:
        """The nights a manifest records (`IndexDamaged` if it is malformed)."""
        try:
            nights = json.loads(self.store.read_small(relative))["nights"]
            if not all("files" in night and "entries" in night for night in nights.values()):
                raise ValueError("a night without its files or entries")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise damaged(relative, f"malformed: {error}") from error
        return nights

    def close(self) -> None:
        """Close the index files this index keeps open."""
        with self._lock:
            _close_files(self._files)

    def _layout(self) -> dict:
        return self._current()[1]

    def _current(self) -> tuple[float, dict, dict[int, int]]:
        """(read at, layout, owner of each delta night), read again after `refresh_seconds`.

        Reading the layout is one call to the filesystem (one small file, read as a stream).
        """
        with self._lock:
            state = self._state
        if state is None or time.monotonic() - state[0] > self.refresh_seconds:
            # One call when the index exists; once it was found missing, look before reading.
            layout = read_layout(self.store, look_first=self._missing)
            self._missing = layout is None
            if layout is None:
                raise NotFound(
                    "objectId: the lake has no alert index yet; "
                    "run: fink-cutouts index build --lake LAKE --all"
                )
            state = (time.monotonic(), layout, owners(layout))
            metrics.add("index_refreshes")
            with self._lock:
                if layout.get("id") != self._index_id:  # another index, written from scratch:
                    self._index_id = layout.get("id")  # its names may be those of the last
                    self._base_sizes = (None, {})
                    self._files.clear()  # each closed when no lookup uses it any more
                self._state = state
        return state

    def _base_size(self, generation: int, table: str, bucket: int, buckets: int) -> int | None:
        """A base file's size, from its generation's sizes file (read once per generation)."""
        with self._lock:
            known_generation, sizes = self._base_sizes
        if known_generation != generation:
            sizes = self._read_sizes(generation, buckets)
            with self._lock:
                self._base_sizes = (generation, sizes)
        return sizes[table][bucket] or None

    def _read_sizes(self, generation: int, buckets: int) -> dict[str, list[int]]:
        """``base-<G>/sizes.json``, checked (`IndexDamaged` if missing or malformed)."""
        relative = base_sizes_file(generation)
        try:
            sizes = json.loads(self.store.read_small(relative))
            if not all(
                len(sizes[table]) == buckets and all(isinstance(n, int) for n in sizes[table])
                for table in TABLES
            ):
                raise ValueError(f"not {buckets} sizes of each table")
        except NotFound as error:
            raise damaged(relative, "missing, while layout.json names it") from error
        except (ValueError, KeyError, TypeError) as error:
            raise damaged(relative, f"malformed: {error}") from error
        return sizes

    def _search(self, table: str, key_of) -> tuple[str | int, list[AlertLocation]]:
        """The key (`key_of` the index's survey) and its entries in `table`.

        An index file found damaged is looked for again in a fresh layout once: a writer may
        have replaced it (e.g. compaction deleted the old base) since the layout was read.
        """
        state = self._current()  # once per lookup: the survey and the files agree
        key = key_of(survey_named(state[1]["survey"]))
        try:
            return key, self._lookup(state, table, key)
        except IndexDamaged:
            self.refresh()
            fresh = self._current()
            if fresh[1] == state[1]:
                raise
            return key, self._lookup(fresh, table, key)

    def _lookup(self, state: tuple, table: str, key: str | int) -> list[AlertLocation]:
        _, layout, owner = state
        rows = []
        generation = layout["generation"]
        if generation is not None:
            bucket = bucket_of(key, layout["buckets"])
            size = self._base_size(generation, table, bucket, layout["buckets"])
            if size is not None:
                found = self._rows(base_file(generation, table, bucket), table, size, key)
                rows += [row for row in found if row["night"] not in owner]
        for delta in layout["deltas"]:
            relative = delta_file(table, delta["name"])
            found = self._rows(relative, table, delta["sizes"][table], key)
            try:
                rows += [row for row in found if owner[row["night"]] == delta["order"]]
            except KeyError as error:
                raise damaged(
                    relative, f"holds entries of night {error}, not among its nights in {LAYOUT}"
                ) from error
        return [self._location(row, layout) for row in rows]

    def _rows(self, relative: str, table: str, size: int, key: str | int) -> list[dict]:
        """The entries of an index file with `key` (`IndexDamaged` if the file is damaged)."""
        try:
            return self._sorted_file(relative, table, size).rows_with(key)
        except (OSError, ValueError, KeyError, TypeError, NotFound) as error:
            with self._lock:
                self._files.pop((relative, size), None)
            raise self._file_error(relative, size, error) from error

    def _file_error(self, relative: str, size: int | None, error: Exception) -> CutoutError:
        """What a failure to read an index file means: `IndexDamaged` naming it, or an
        outage of the filesystem (`LakeUnavailable`)."""
        if isinstance(error, LakeUnavailable):
            return error
        if isinstance(error, NotFound):
            return damaged(relative, "missing, while layout.json names it")
        if isinstance(error, OSError):  # pyarrow reading an open file: damage or an outage
            try:
                actual = self.store.size(relative)
            except NotFound:
                return damaged(relative, "missing, while layout.json names it")
            except LakeUnavailable as outage:
                return outage
            if size is not None and actual != size:
                return damaged(relative, f"{actual} bytes where layout.json says {size}")
            return LakeUnavailable(
                f"the index's filesystem failed on {relative}: {self.store.scrub(str(error))}"
            )
        return damaged(relative, f"malformed: {self.store.scrub(str(error))}")

    def _sorted_file(self, relative: str, table: str, size: int) -> SortedFile:
        """An index file, kept open by name and size (writers never give a name to other
        contents; the size guards an index removed and written again from scratch)."""
        with self._lock:
            if (relative, size) in self._files:
                self._files.move_to_end((relative, size))
                return self._files[relative, size]
        opened = SortedFile(self.store.open(relative), TABLES[table], size)
        with self._lock:
            self._files[relative, size] = opened
            while len(self._files) > self.cached_files:
                self._files.popitem(last=False)  # closed when no lookup uses it any more
        return opened

    @staticmethod
    def _location(row: dict, layout: dict) -> AlertLocation:
        survey = survey_named(layout["survey"])
        properties = {name: row[name] for name in DISPLAY_FIELDS if row[name] is not None}
        properties["magnitude_unit"] = survey.magnitude_unit
        packed = row["page_spans"]
        spans = dict(zip(SPAN_KINDS, unpack_spans(packed), strict=True)) if packed else None
        return AlertLocation(
            object_id=row["object_id"],
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


def _close_files(files: OrderedDict[tuple[str, int], SortedFile]) -> None:
    """Close and forget open index files: when their index is collected, or at exit at the
    latest, while the filesystem is still open (HDFS logs files closed after it)."""
    while files:
        files.popitem()[1].close()
