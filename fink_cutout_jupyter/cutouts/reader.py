"""From a file of the lake and an object or alert id to the alert's stamps."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter.cutouts.stamps import (
    Stamp,
    StampKinds,
    decode_stamp,
    to_multi_extension_fits,
)
from fink_cutout_jupyter.errors import (
    BadParameter,
    CorruptData,
    CutoutError,
    LakeUnavailable,
    NotFound,
    quote,
)
from fink_cutout_jupyter.locations import ALERT_ID_SPAN, AlertLocation, FileIdentity
from fink_cutout_jupyter.parquet.columns import (
    display_properties,
    leaf,
    leaf_paths,
    object_id_at,
    object_ids,
    present,
    value,
)
from fink_cutout_jupyter.parquet.pages import Unsupported, read_values
from fink_cutout_jupyter.storage.lake import Lake, LakePath
from fink_cutout_jupyter.storage.open_files import FETCH_THREADS, OpenFiles, SharedFile, fetch_pages
from fink_cutout_jupyter.surveys import KINDS, Survey, survey_named, survey_of_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.parquet.spans import PageSpan

logger = logging.getLogger(__name__)

_PROBE_CHUNK = 8 << 20


@dataclass(frozen=True)
class AlertCutouts:
    """One alert's identity, display fields and stamps.

    Attributes
    ----------
    survey : Survey
    path : str
        The file holding the alert, relative to the lake root.
    object_id : str, int or None
        ``None`` for Rubin sources without a diaObject (solar-system objects).
    alert_id : int
    time : float
        In the survey's time scale (ZTF: JD, Rubin: MJD TAI).
    properties : dict
        Filter, magnitude (or flux) and error, ra, dec, and isdiffpos where the survey has it.
    stamps : dict
        Kind to `Stamp`, in the order Science, Template, Difference.
    """

    survey: Survey
    path: str
    object_id: str | int | None
    alert_id: int
    time: float
    properties: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, Stamp] = field(default_factory=dict)

    def multi_extension_fits(self) -> bytes:
        """All stamps of the alert as one FITS file (extensions SCIENCE, TEMPLATE, DIFFERENCE)."""
        return to_multi_extension_fits(
            self.stamps, self.object_id or "", self.alert_id, self.time, self.survey.time_scale
        )


class CutoutReader:
    """Read alert cutouts from Parquet files of a lake, reading only the columns needed.

    Parameters
    ----------
    lake : Lake
    survey : Survey or None
        The survey of the lake's files; ``None`` recognises it from each file's columns.

    Attributes
    ----------
    stale_reads : int
        How many indexed alerts (`read_many`, `read_location`) found their file rewritten since
        it was indexed (another size or modification time, or another alert in the indexed
        row) and scanned it instead.
    page_reads, page_fallbacks : int
        Stamps read from their data page alone, and alerts whose page reads failed a check and
        were read with pyarrow instead.
    pages_read : int
        Data pages read and decompressed (dictionary pages not counted): a page shared by the
        alerts of one `read_many` counts once.
    corrupt_files : set of str
        Files holding a stamp that did not decode (each logged once).
    """

    def __init__(self, lake: Lake, survey: Survey | None = None) -> None:
        self.lake = lake
        self.survey = survey
        self.stale_reads = 0
        self.page_reads = 0
        self.page_fallbacks = 0
        self.pages_read = 0
        self.corrupt_files: set[str] = set()
        self.files = OpenFiles(lake)
        self._lock = threading.Lock()
        self._readable_but_undecodable: dict[str, tuple[FileIdentity, str]] = {}
        self._probe_lock = threading.Lock()

    def read(
        self,
        path: str,
        object_id: str | int | None = None,
        alert_id: int | str | None = None,
        kinds: Sequence[str] = KINDS,
    ) -> AlertCutouts:
        """Return the stamps of one alert in the file `path` (see `Lake.relative`).

        With `alert_id`, that alert (of `object_id`, when both are given). With only `object_id`,
        the object's **latest** alert in the file by the survey's time column.

        Raises
        ------
        BadParameter
            No id given, an id of the wrong form, or an unknown kind.
        NotFound
            No such file, object or alert in the file.
        OutsideLake
            `path` would leave the lake root.
        """

        kinds = StampKinds.of(kinds)
        if not isinstance(path, LakePath):
            path = self.lake.relative(path)
        with self._decoding(path), self.lake.open(path) as source:
            parquet = open_parquet(source, path)
            survey = self._survey_of(parquet)
            if object_id is None and alert_id is None:
                raise BadParameter(
                    f"objectId: give an object id (e.g. {survey.example_object_id!r}) "
                    "or an alert id"
                )
            if object_id is not None:
                object_id = survey.validate_object_id(object_id)
            if alert_id is not None:
                alert_id = survey.validate_alert_id(alert_id)
            columns = present(parquet.schema, survey.lookup_columns + survey.display_columns)
            table = parquet.read(columns=columns)
            row = _select_row(table, survey, object_id, alert_id, path)
            group, row_in_group = _row_group_of(parquet, row)
            found_id = value(table, survey.alert_id_column, row)
            stamps = self._read_stamps(parquet, survey, group, row_in_group, kinds, found_id, path)
        if stamps is None:  # the row just read, not at its place in its row group
            raise CorruptData(f"hdfsPath: {path}: alert {found_id} is not where its row group says")
        return AlertCutouts(
            survey=survey,
            path=path,
            object_id=object_id_at(table, survey, row),
            alert_id=found_id,
            time=value(table, survey.time_column, row),
            properties=display_properties(table, survey, row),
            stamps=stamps,
        )

    def identity(self, path: str) -> FileIdentity:
        """The `FileIdentity` (size, modification time) of a file of the lake, as the reader
        compares it with the indexed one: a stat, kept a second on a remote lake (`OpenFiles`).

        What a reply's ETag names, so that a rewritten file changes it.
        """
        return self.files.identity(path)

    def read_location(self, location: AlertLocation, kinds: Sequence[str] = KINDS) -> AlertCutouts:
        """Return the stamps of an alert at a known place (from the index), reading one row.

        `read_many` of one location: see there what proves the row holds the alert.
        """
        found = self.read_many([location], kinds)[0]
        if isinstance(found, CutoutError):
            raise found
        return found

    def read_many(
        self, locations: Sequence[AlertLocation], kinds: Sequence[str] = KINDS
    ) -> list[AlertCutouts | CutoutError]:
        """The stamps of alerts at known places (from the index), each data page read once.

        Returns, in the order of `locations`, each alert's `AlertCutouts` or the `CutoutError`
        saying why it has none (a file deleted or undecodable fails its own alerts only).

        The stamps are served only once the row is proven to hold the alert: the file's
        `identity` must equal the indexed one, and the alert id stored in the same row (read
        from its own page, or with the row group) must equal the requested one. Otherwise the
        file is scanned for the alert instead (`stale_reads` counts it, a warning says so).
        The alerts are grouped by file and data page: a page holding the stamps of forty of
        them is read and decompressed once; a page that does not decode here is read again by
        pyarrow with its row group (`page_fallbacks`).
        """
        kinds = StampKinds.of(kinds)
        found: list[AlertCutouts | CutoutError | None] = [None] * len(locations)
        by_file: dict[str, list[int]] = defaultdict(list)
        for position, location in enumerate(locations):
            by_file[location.path].append(position)
        for path, positions in by_file.items():
            try:
                self._read_file(path, [(p, locations[p]) for p in positions], kinds, found)
            except CutoutError as error:  # the file is gone, or unreadable: its alerts say so
                _fail(found, [(p, locations[p]) for p in positions], error)
        assert all(result is not None for result in found)
        return found  # type: ignore[return-value]

    def _read_file(
        self,
        path: str,
        entries: list[tuple[int, AlertLocation]],
        kinds: StampKinds,
        found: list[AlertCutouts | CutoutError | None],
    ) -> None:
        """Fill `found` for the alerts of one file: by page, by row group, or by a scan."""
        identity = self.identity(path)
        paged, by_row_group, stale = [], [], []
        for entry in entries:
            location = entry[1]
            if location.file_identity != identity:
                stale.append(entry)
            elif location.page_spans and self._known_survey(location):
                paged.append(entry)
            else:
                by_row_group.append(entry)
        if paged:
            try:
                with self._decoding(path), self.files.reading(path, identity) as source:
                    moved, failed = self._read_pages(source, paged, kinds, found)
            except CutoutError as error:
                _fail(found, paged, error)
                moved, failed = [], []
            stale += moved
            for *_, reason in failed:
                self.page_fallbacks += 1
                metrics.add("page_fallbacks")
                logger.warning("page read of %s failed (%s): reading its row group", path, reason)
            by_row_group += [(position, location) for position, location, _ in failed]
        if by_row_group:
            try:
                stale += self._read_row_groups(path, by_row_group, kinds, found)
            except CutoutError as error:
                _fail(found, by_row_group, error)
        for position, location in stale:
            try:
                found[position] = self._scanned(location, kinds)
            except CutoutError as error:
                found[position] = error

    def _read_pages(
        self,
        source,
        entries: list[tuple[int, AlertLocation]],
        kinds: StampKinds,
        found: list[AlertCutouts | CutoutError | None],
    ) -> tuple[list[tuple[int, AlertLocation]], list[tuple[int, AlertLocation, str]]]:
        """Fill `found` from the data pages alone, after each row's alert id; return the entries
        whose row holds another alert now, and those whose pages do not decode here (and why).

        On a local lake the id pages are read first (no stamp read for nothing); on a remote one
        the id's pages and the stamps' pages are fetched together, concurrently."""
        local = not isinstance(source, SharedFile)
        first = (ALERT_ID_SPAN,) if local else (ALERT_ID_SPAN, *kinds)
        values, failed = self._page_values(source, entries, first)
        checked = [(p, loc) for p, loc in entries if p not in failed]
        proven = [(p, loc) for p, loc in checked if values[p, ALERT_ID_SPAN] == loc.alert_id]
        moved = [(p, loc) for p, loc in checked if values[p, ALERT_ID_SPAN] != loc.alert_id]
        if local:
            stamps, failed_now = self._page_values(source, proven, kinds)
            values.update(stamps)
            failed.update(failed_now)
        for position, location in proven:
            if position in failed:
                continue
            survey = self._known_survey(location)
            assert survey is not None  # only locations of a known survey are read by page
            try:
                found[position] = self._from_location(
                    location,
                    survey,
                    {
                        kind: self._decoded(
                            kind,
                            values.pop((position, kind)),
                            survey,
                            location.alert_id,
                            location.path,
                        )
                        for kind in kinds
                    },
                )
                self.page_reads += len(kinds)
            except CutoutError as error:
                found[position] = error
        return moved, [(p, loc, failed[p]) for p, loc in entries if p in failed]

    def _page_values(
        self, source, entries: list[tuple[int, AlertLocation]], names: Sequence[str]
    ) -> tuple[dict[tuple[int, str], Any], dict[int, str]]:
        """The values under `names` (`ALERT_ID_SPAN`, kinds) of the entries' rows, each page
        read once, by (position, name); and the positions one of whose pages did not decode,
        with the reason."""
        users: dict[tuple, list[tuple[int, str, PageSpan]]] = defaultdict(list)
        for position, location in entries:
            assert location.page_spans is not None  # only located pages are read here
            for name in names:
                span, column = location.page_spans[name]
                page = (span.offset, span.length, span.dictionary_offset, column)
                users[page].append((position, name, span))
        pages = list(users.items())
        values: dict[tuple[int, str], Any] = {}
        failed: dict[int, str] = {}
        for start in range(0, len(pages), FETCH_THREADS):
            chunk = pages[start : start + FETCH_THREADS]
            raws: list[memoryview | None] = [None] * len(chunk)
            if isinstance(source, SharedFile) and len(chunk) > 1:
                try:
                    raws = list(fetch_pages(source, [(page[0], page[1]) for page, _ in chunk]))
                except OSError as error:
                    failed.update((p, str(error)) for _, using in chunk for p, _, _ in using)
                    continue
            for (page, using), raw in zip(chunk, raws, strict=True):
                span, column = using[0][2], page[3]
                rows = [entry_span.index_in_page for _, _, entry_span in using]
                try:
                    read = read_values(source, span, column, rows, raw)
                except (Unsupported, KeyError, ValueError, IndexError, OSError) as error:
                    failed.update((p, str(error)) for p, _, _ in using)
                    continue
                self.pages_read += 1
                for position, name, entry_span in using:
                    values[position, name] = read[entry_span.index_in_page]
        return values, failed

    def _read_row_groups(
        self,
        path: str,
        entries: list[tuple[int, AlertLocation]],
        kinds: StampKinds,
        found: list[AlertCutouts | CutoutError | None],
    ) -> list[tuple[int, AlertLocation]]:
        """Fill `found` by reading each row with its row group (pyarrow); return the entries
        whose row holds another alert now."""
        moved = []
        with self._decoding(path), self.lake.open(path) as source:
            parquet = open_parquet(source, path)
            survey = self._survey_of(parquet)
            for position, location in entries:
                try:
                    with self._decoding(path):
                        stamps = self._read_stamps(
                            parquet,
                            survey,
                            location.row_group,
                            location.row,
                            kinds,
                            location.alert_id,
                            path,
                        )
                except CutoutError as error:
                    found[position] = error
                    continue
                if stamps is None:
                    moved.append((position, location))
                else:
                    found[position] = self._from_location(location, survey, stamps)
        return moved

    def _scanned(self, location: AlertLocation, kinds: StampKinds) -> AlertCutouts:
        """The alert found by scanning its file, which changed since it was indexed."""
        self.stale_reads += 1
        metrics.add("stale_reads")
        logger.warning(
            "%s changed since it was indexed: scanning it for alert %s (re-index its night)",
            location.path,
            location.alert_id,
        )
        try:
            return self.read(location.path, alert_id=location.alert_id, kinds=kinds)
        except NotAlertFile as error:
            raise CorruptData(
                f"hdfsPath: {location.path}, indexed as holding alert {location.alert_id}, "
                f"is no longer a readable alert file ({error})"
            ) from None

    def _known_survey(self, location: AlertLocation) -> Survey | None:
        """The survey of a location's file if known without opening it (reader's or index's)."""
        return self.survey or (survey_named(location.survey) if location.survey else None)

    @staticmethod
    def _from_location(
        location: AlertLocation, survey: Survey, stamps: dict[str, Stamp]
    ) -> AlertCutouts:
        object_id: str | int | None = location.object_id
        if object_id is not None and survey.integer_object_ids:
            object_id = int(object_id)
        return AlertCutouts(
            survey=survey,
            path=location.path,
            object_id=object_id,
            alert_id=location.alert_id,
            time=location.time,
            properties=dict(location.properties),
            stamps=stamps,
        )

    def _read_stamps(
        self,
        parquet,
        survey: Survey,
        group: int,
        row: int,
        kinds: Sequence[str],
        alert_id: int,
        path: str,
    ) -> dict[str, Stamp] | None:
        """Stamps of one row of a row group, or None if that row is not the alert `alert_id`."""
        if (
            group >= parquet.metadata.num_row_groups
            or row >= parquet.metadata.row_group(group).num_rows
        ):
            return None
        columns = [survey.alert_id_column, *(survey.cutout_columns[kind] for kind in kinds)]
        stored = parquet.read_row_group(group, columns=columns).slice(row, 1)
        if value(stored, survey.alert_id_column, 0) != alert_id:
            return None
        return {
            kind: self._decoded(
                kind, value(stored, survey.cutout_columns[kind], 0), survey, alert_id, path
            )
            for kind in kinds
        }

    def _decoded(
        self, kind: str, stored: bytes | None, survey: Survey, alert_id: int, path: str
    ) -> Stamp:
        """The stamp; `NotFound` if the row has none, `CorruptData` naming the alert, the kind
        and the file if it does not decode (logged once per file)."""
        if stored is None:
            raise NotFound(f"alert {alert_id} has no {kind} stamp")
        try:
            return decode_stamp(kind, stored, survey.gzipped)
        except CorruptData as error:
            with self._lock:
                first = path not in self.corrupt_files
                self.corrupt_files.add(path)
            if first:
                logger.error("corrupt stamp in %s (alert %s, %s): %s", path, alert_id, kind, error)
            raise CorruptData(
                f"kind: the {kind} stamp of alert {alert_id} in {path} is corrupt ({error}); "
                "ask for the other kinds one by one"
            ) from None

    @contextlib.contextmanager
    def _decoding(self, path: str):
        """Tell stored bytes that do not decode (`CorruptData`, 502) from a filesystem that
        fails to serve them (`LakeUnavailable`, 503: worth retrying), both naming the file.

        pyarrow raises OSError for both: Parquet's own decoding errors (a garbage page header)
        carry no errno, while a failed read does on a local lake and on HDFS (a missing block, a
        DataNode down: the NameNode still answers a stat). An S3 error carries none either, so
        an OSError without errno is judged by reading the whole file through the filesystem
        once and decoding it from memory: the bytes are what is wrong only if every byte reads
        and does not decode. Errors other than OSError (pyarrow's ArrowInvalid and kin) are
        decoding failures.
        """
        import pyarrow as pa

        from fink_cutout_jupyter.errors import CutoutError

        try:
            yield
        except CutoutError:
            raise
        except (OSError, pa.ArrowException) as error:
            text = self.lake.scrub(str(error)).strip().replace("\n", " ")
            if isinstance(error, OSError) and (error.errno or not self._reads_whole(path, text)):
                raise LakeUnavailable(
                    f"the lake's filesystem failed reading hdfsPath: {path} ({text})"
                ) from None
            try:
                self.lake.identity(path)
            except (OSError, CutoutError):
                raise error from None
            raise CorruptData(f"hdfsPath: {path} does not decode as Parquet ({text})") from None

    def _reads_whole(self, path: str, failure: str) -> bool:
        """Whether every byte of `path` reads and those bytes do not decode (in memory, where a
        failure can only be the bytes'): remembered per file identity and failure text."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from fink_cutout_jupyter.errors import CutoutError

        with self._probe_lock:  # one file in memory at a time
            try:
                identity = self.lake.identity(path)
                if self._readable_but_undecodable.get(path) == (identity, failure):
                    return True
                with self.lake.open(path) as source:
                    data = b"".join(iter(lambda: source.read(_PROBE_CHUNK), b""))
            except (OSError, CutoutError):
                return False
            try:
                for _ in pq.ParquetFile(pa.BufferReader(data)).iter_batches(batch_size=64):
                    pass
            except (OSError, pa.ArrowException):
                self._readable_but_undecodable[path] = (identity, failure)
                return True
            return False  # the stored bytes decode: the failure was the filesystem's

    def _survey_of(self, parquet) -> Survey:
        if self.survey is not None:
            return self.survey
        try:
            return survey_of_columns(leaf_paths(parquet.schema))
        except BadParameter as error:
            raise NotAlertFile(f"hdfsPath: {error}") from None


class NotAlertFile(NotFound):
    """A file of the lake that is not a readable Parquet file of alerts (HTTP 404)."""


class _RowMoved(Exception):
    """The indexed row of a file holds another alert now."""


def open_parquet(source, path: str):
    """A `pyarrow.parquet.ParquetFile`; `NotAlertFile` (404) if `path` is not a Parquet file.

    Not 400: a file of the lake that is not readable Parquet answers as a missing one does.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(source)
    except pa.ArrowInvalid as error:
        raise NotAlertFile(
            f"hdfsPath: {quote(path)} is not an alert file of the lake (not readable Parquet: "
            f"{error})"
        ) from None


def _select_row(
    table: pa.Table, survey: Survey, object_id: str | int | None, alert_id: int | None, path: str
) -> int:
    import numpy as np
    import pyarrow.compute as pc

    if alert_id is not None:
        rows = _true_rows(pc.equal(leaf(table, survey.alert_id_column), alert_id))
        if rows.size == 0:
            raise NotFound(f"candid: no alert {alert_id} in {path}")
        row = int(rows[0])
        if object_id is not None and object_id_at(table, survey, row) != object_id:
            raise NotFound(f"candid: alert {alert_id} is not an alert of {object_id}")
        return row
    rows = _true_rows(pc.equal(object_ids(table, survey), object_id))
    if rows.size == 0:
        raise NotFound(f"objectId: no alert of {object_id} in {path}")
    times = leaf(table, survey.time_column).to_numpy(zero_copy_only=False)[rows]
    return int(rows[np.nanargmax(times)]) if not np.isnan(times).all() else int(rows[0])


def _true_rows(mask: pa.ChunkedArray):
    import numpy as np
    import pyarrow.compute as pc

    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _row_group_of(parquet, row: int) -> tuple[int, int]:
    start = 0
    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if row < start + rows:
            return group, row - start
        start += rows
    raise NotFound(f"row {row} is past the end of the file")


def _fail(
    found: list[AlertCutouts | CutoutError | None],
    entries: Iterable[tuple[int, AlertLocation]],
    error: CutoutError,
) -> None:
    """`error` for each of the entries not answered yet."""
    for position, _ in entries:
        if found[position] is None:
            found[position] = error
