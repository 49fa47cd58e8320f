"""AlertIndex: where every alert of an object is, from index files kept on the lake itself.

Layout under the index root (default ``<lake>/_cutout_index``), readable by every Jupyter server
of a JupyterHub with no database server:

``layout.json``
    format, survey, number of hash buckets, the current base generation, and every delta with
    its nights and file sizes (`layout`): a lookup lists no directory.
``base-<G>/objects/bucket-<b>.arrow``, ``base-<G>/alerts/bucket-<b>.arrow``
    compacted entries, hash-bucketed by object id (resp. alert id), sorted by key, in record
    batches of `ROW_GROUP_ROWS` entries: a lookup reads one footer (cached) and one batch,
    whatever the lake's size. ``base-<G>/sizes.json``: their sizes.
``delta/objects/<name>.arrow``, ``delta/alerts/<name>.arrow``
    entries of nights not compacted yet, sorted by key, written by ``index build``; a night's
    entries in a delta replace that night's in the base. Deltas merge by size tier;
    ``index compact`` merges them all into a new base generation. A large delta (a Rubin
    night) is hash-bucketed as the base: ``delta/<table>/<name>/bucket-<b>.arrow``, of which a
    lookup opens its key's only.
``nights/<order>.json``
    what was indexed for some parts (archived nights, live nights' micro-batches: `parts`):
    each file's identity (size, modification time, and a hash of its alert ids in row order)
    and the entry count; the latest manifest of a part counts.
``writer.lock``
    who is writing the index (`lock`).

A file the layout names that is missing, truncated or malformed answers `IndexDamaged` (503),
naming the file and the command that repairs the index; `AlertIndex.verify` reads them all.

Here: the lookup path (layout, then the files it names, kept open). Elsewhere in `index`: an
entry's columns, buckets and location (`entries`), the files' format (`files`), the layout
(`layout`), the manifests (`manifests`), whole-index checks (`checks`), writes (`writes`,
`deltas`, `compaction`) and builds (`build`, `spark`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, NamedTuple

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter.errors import IndexDamaged, NotFound
from fink_cutout_jupyter.index.entries import (
    TABLES,
    bucket_of,
    location_of,
)
from fink_cutout_jupyter.index.files import SortedFile, read_error
from fink_cutout_jupyter.index.layout import (
    LAYOUT,
    archived,
    base_file,
    damaged,
    delta_bucket_file,
    delta_buckets,
    delta_file,
    owners,
    read_base_sizes,
    read_layout,
)
from fink_cutout_jupyter.index.parts import hidden
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.redaction import redacted
from fink_cutout_jupyter.surveys import (
    ObjectId,
    Survey,
    as_integer,
    solar_system_key,
    survey_named,
)

DEFAULT_INDEX_DIR = "_cutout_index"


class _State(NamedTuple):
    """The layout a lookup reads, and what follows from it."""

    read_at: float  # time.monotonic()
    layout: dict
    owner: dict[int, int]  # each part in a delta: the order of the delta its entries come from
    archived: frozenset[int]  # nights whose live parts are hidden


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
        self._state: _State | None = None
        self._base_sizes: tuple[int | None, dict] = (None, {})
        self._index_id: str | None = None  # of the layout read last (`layout.new_layout`)
        self._missing = False
        # the write session each thread has open on this index (`writes.writing`)
        self.writers: dict[int, Any] = {}
        weakref.finalize(self, _close_files, self._files)

    def __repr__(self) -> str:
        return f"AlertIndex({self.lake!r}, root={redacted(self.store.uri)!r})"

    @property
    def writer(self) -> Any:
        """The write session this thread has open on this index, if any."""
        return self.writers.get(threading.get_ident())

    # Lookups

    def alerts(self, object_id: str | int) -> list[AlertLocation]:
        """All alerts of an object, oldest first (`NotFound` if the index has none).

        `object_id` is checked for the index's survey (`BadParameter`), unless it is an
        `ObjectId` of that survey: checked where it came in.
        """
        key, found = self._search("objects", lambda survey: str(ObjectId.of(object_id, survey)))
        if not found:
            raise NotFound(f"objectId: no alert of {key} in the lake's alert index")
        return sorted(found, key=lambda location: (location.time, location.alert_id))

    def latest(self, object_id: str | int) -> AlertLocation:
        """The object's alert with the largest time."""
        return self.alerts(object_id)[-1]

    def solar_system_alerts(self, ss_object_id: int | str) -> list[AlertLocation]:
        """All alerts of a solar-system object (Rubin's ``ssObjectId``), oldest first
        (`NotFound` if the index has none; `BadParameter` naming ``ssObjectId`` for a bad id).

        Their `AlertLocation.object_id` is None unless found by a diaObject too; the id and
        designation are in their properties (``ss_object_id``, ``designation``).
        """
        number = as_integer("ssObjectId", ss_object_id, "21163624394469969")
        _, found = self._search("objects", lambda survey: solar_system_key(number))
        if not found:
            raise NotFound(f"ssObjectId: no alert of {number} in the lake's alert index")
        return sorted(found, key=lambda location: (location.time, location.alert_id))

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
        """Counts and layout: survey, buckets, generation, entries in base and deltas, nights
        (`checks.stats`)."""
        from fink_cutout_jupyter.index import checks

        return checks.stats(self)

    def stale_files(self, check_contents: bool = False) -> list[str]:
        """Indexed files that were rewritten (or removed) since they were indexed
        (`checks.stale_files`)."""
        from fink_cutout_jupyter.index import checks

        return checks.stale_files(self, check_contents)

    def verify(self) -> list[str]:
        """Read every file the layout names; each damaged one as "file: what is wrong"
        (`checks.verify`)."""
        from fink_cutout_jupyter.index import checks

        return checks.verify(self)

    def close(self) -> None:
        """Close the index files this index keeps open."""
        with self._lock:
            _close_files(self._files)

    # Internals

    def _layout(self) -> dict:
        return self._current().layout

    def _current(self) -> _State:
        """The layout and what follows from it, read again after `refresh_seconds`.

        Reading the layout is one call to the filesystem (one small file, read as a stream).
        """
        with self._lock:
            state = self._state
        if state is None or time.monotonic() - state.read_at > self.refresh_seconds:
            # One call when the index exists; once it was found missing, look before reading.
            layout = read_layout(self.store, look_first=self._missing)
            self._missing = layout is None
            if layout is None:
                raise NotFound(
                    "objectId: the lake has no alert index yet; "
                    "run: fink-cutouts index build --lake LAKE --all"
                )
            state = _State(time.monotonic(), layout, owners(layout), archived(layout))
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
            sizes = read_base_sizes(self.store, generation, buckets)
            with self._lock:
                self._base_sizes = (generation, sizes)
        return sizes[table][bucket] or None

    def _search(self, table: str, key_of) -> tuple[str | int, list[AlertLocation]]:
        """The key (`key_of` the index's survey) and its entries in `table`.

        An index file found damaged is looked for again in a fresh layout once: a writer may
        have replaced it (e.g. compaction deleted the old base) since the layout was read.
        """
        state = self._current()  # once per lookup: the survey and the files agree
        key = key_of(survey_named(state.layout["survey"]))
        try:
            return key, self._lookup(state, table, key)
        except IndexDamaged:
            self.refresh()
            fresh = self._current()
            if fresh.layout == state.layout:
                raise
            return key, self._lookup(fresh, table, key)

    def _lookup(self, state: _State, table: str, key: str | int) -> list[AlertLocation]:
        layout, owner = state.layout, state.owner
        rows = []
        generation = layout["generation"]
        if generation is not None:
            bucket = bucket_of(key, layout["buckets"])
            size = self._base_size(generation, table, bucket, layout["buckets"])
            if size is not None:
                found = self._rows(base_file(generation, table, bucket), table, size, key)
                rows += [row for row in found if row["night"] not in owner]
        for delta in layout["deltas"]:
            buckets, size = delta_buckets(delta), delta["sizes"][table]
            if buckets == 1:
                relative = delta_file(table, delta["name"])
            else:
                bucket = bucket_of(key, buckets)
                relative, size = delta_bucket_file(table, delta["name"], bucket), size[bucket]
                if not size:
                    continue  # no entry of the delta in the key's bucket
            found = self._rows(relative, table, size, key)
            try:
                rows += [row for row in found if owner[row["night"]] == delta["order"]]
            except KeyError as error:
                raise damaged(
                    relative, f"holds entries of night {error}, not among its nights in {LAYOUT}"
                ) from error
        if state.archived:
            rows = [row for row in rows if not hidden(row["night"], state.archived)]
        survey = survey_named(layout["survey"])
        return [location_of(row, survey) for row in rows]

    def _rows(self, relative: str, table: str, size: int, key: str | int) -> list[dict]:
        """The entries of an index file with `key` (`IndexDamaged` if the file is damaged)."""
        try:
            return self._sorted_file(relative, table, size).rows_with(key)
        except (OSError, ValueError, KeyError, TypeError, NotFound) as error:
            with self._lock:
                self._files.pop((relative, size), None)
            raise read_error(self.store, relative, size, error) from error

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


def _close_files(files: OrderedDict[tuple[str, int], SortedFile]) -> None:
    """Close and forget open index files: when their index is collected, or at exit at the
    latest, while the filesystem is still open (HDFS logs files closed after it)."""
    while files:
        files.popitem()[1].close()
