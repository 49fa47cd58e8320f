"""`CutoutReader`: from a file of the lake and an object or alert id, or from the index's
location of an alert, to the alert's stamps.

Here: the reader's face (`read`, `read_location`, `read_many`, `identity`) and the page path,
one for one alert or many: the alerts grouped by file and data page, each page read once, each
row proven to hold its alert. Elsewhere in `cutouts`: what a read gives (`alerts`), pyarrow's
row group reads for a scan, a fallback or a stale file (`row_reads`), decoding failures told
apart (`decoding`), and the alerts of a removed live night's file found again (`moved`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter import metrics
from fink_cutout_jupyter.cutouts.alerts import AlertCutouts
from fink_cutout_jupyter.cutouts.decode_threads import in_threads
from fink_cutout_jupyter.cutouts.decoding import StoredDecoder
from fink_cutout_jupyter.cutouts.moved import MovedAlerts
from fink_cutout_jupyter.cutouts.row_reads import RowReads
from fink_cutout_jupyter.cutouts.stamps import StampKinds
from fink_cutout_jupyter.errors import CutoutError
from fink_cutout_jupyter.locations import ALERT_ID_SPAN, AlertLocation, FileIdentity
from fink_cutout_jupyter.parquet.pages import Unsupported, read_values
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.open_files import FETCH_THREADS, OpenFiles, SharedFile, fetch_pages
from fink_cutout_jupyter.storage.paths import LakePath
from fink_cutout_jupyter.surveys import KINDS, Survey, survey_named

if TYPE_CHECKING:
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.parquet.spans import PageSpan


logger = logging.getLogger(__name__)

PAGES_A_THREAD = 2  # a ~1 MB page decompresses in ~0.5 ms: two make a thread's task


class CutoutReader:
    """Read alert cutouts from Parquet files of a lake, reading only the columns needed.

    Parameters
    ----------
    lake : Lake
    survey : Survey or None
        The survey of the lake's files; ``None`` recognises it from each file's columns.
    index : AlertIndex or None
        The index the locations come from: with it, an alert whose live night's file was
        removed is looked for again there and in the archived night (`moved`).

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
    rows : RowReads
        The reads by row group, with pyarrow (`row_reads`).
    """

    def __init__(
        self, lake: Lake, survey: Survey | None = None, index: AlertIndex | None = None
    ) -> None:
        self.lake = lake
        self.survey = survey
        self.stale_reads = 0
        self.page_reads = 0
        self.page_fallbacks = 0
        self.pages_read = 0
        self.files = OpenFiles(lake)
        self.decoder = StoredDecoder(lake)
        self.rows = RowReads(lake, survey, decoder=self.decoder)
        self.moved = MovedAlerts(lake, index, self.rows, survey) if index is not None else None

    @property
    def corrupt_files(self) -> set[str]:
        """Files holding a stamp that did not decode (each logged once)."""
        return self.decoder.corrupt_files

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
        return self.rows.scan(path, object_id, alert_id, kinds)

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
        saying why it has none (a file deleted or undecodable fails its own alerts only; the
        alerts of a removed live night's file are looked for again, see `moved`).

        The stamps are served only once the row is proven to hold the alert: the file's
        `identity` must equal the indexed one, and the alert id stored in the same row (read
        from its own page, or with the row group) must equal the requested one. Otherwise the
        file is scanned for the alert instead (`stale_reads` counts it, a warning says so).
        The alerts are grouped by file and data page: a page holding the stamps of forty of
        them is read and decompressed once; a page that does not decode here is read again by
        pyarrow with its row group (`page_fallbacks`).
        """
        return self._read_many(locations, StampKinds.of(kinds), find_moved=True)

    def _read_many(
        self, locations: Sequence[AlertLocation], kinds: StampKinds, find_moved: bool
    ) -> list[AlertCutouts | CutoutError]:
        """`read_many`; with `find_moved`, the alerts of a removed live file looked for again
        (`moved`: those it reads are not looked for again)."""
        found: list[AlertCutouts | CutoutError | None] = [None] * len(locations)
        by_file: dict[str, list[int]] = defaultdict(list)
        for position, location in enumerate(locations):
            by_file[location.path].append(position)
        for path, positions in by_file.items():
            entries = [(p, locations[p]) for p in positions]
            try:
                self._read_file(path, entries, kinds, found)
            except CutoutError as error:  # the file is gone, or unreadable: its alerts say so
                _fail(found, entries, error)
            if find_moved and self.moved is not None:
                self.moved.answer(
                    path, entries, found, lambda moved: self._read_many(moved, kinds, False)
                )
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
                with self.decoder.judging(path), self.files.reading(path, identity) as source:
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
                stale += self.rows.read_row_groups(path, by_row_group, kinds, found)
            except CutoutError as error:
                _fail(found, by_row_group, error)
        for position, location in stale:
            self.stale_reads += 1
            metrics.add("stale_reads")
            try:
                found[position] = self.rows.rescan(location, kinds)
            except CutoutError as error:
                found[position] = error
        for position, _ in entries:
            alert = found[position]
            if isinstance(alert, AlertCutouts):
                found[position] = replace(alert, file_identity=identity)

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
        readable = [(p, loc, self._known_survey(loc)) for p, loc in proven if p not in failed]
        stored = [
            (kind, values.pop((position, kind)), survey, location.alert_id, location.path)
            for position, location, survey in readable
            for kind in kinds
        ]
        decoded = iter(self.decoder.stamps(stored))  # type: ignore[arg-type]  # surveys known
        for position, location, survey in readable:
            alert_stamps = {kind: next(decoded) for kind in kinds}
            error = next((s for s in alert_stamps.values() if isinstance(s, CutoutError)), None)
            if error is not None:
                found[position] = error
                continue
            assert survey is not None  # only locations of a known survey are read by page
            found[position] = AlertCutouts.at(location, survey, alert_stamps)  # type: ignore[arg-type]
            self.page_reads += len(kinds)
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
        shared = isinstance(source, SharedFile)

        def decoded(item: tuple[tuple, list, memoryview | None]) -> dict | Exception:
            page, using, raw = item
            span, column = using[0][2], page[3]
            rows = [entry_span.index_in_page for _, _, entry_span in using]
            try:
                return read_values(source, span, column, rows, raw)
            except (Unsupported, KeyError, ValueError, IndexError, OSError) as error:
                return error

        step = FETCH_THREADS if shared else max(1, len(pages))  # remote: fetched 8 at a time
        for start in range(0, len(pages), step):
            chunk = pages[start : start + step]
            raws: list[memoryview | None] = [None] * len(chunk)
            if shared and len(chunk) > 1:
                try:
                    raws = list(fetch_pages(source, [(page[0], page[1]) for page, _ in chunk]))
                except OSError as error:
                    failed.update((p, str(error)) for _, using in chunk for p, _, _ in using)
                    continue
            items = [(page, using, raw) for (page, using), raw in zip(chunk, raws, strict=True)]
            for (_, using, _), read in zip(
                items, in_threads(decoded, items, chunk=PAGES_A_THREAD), strict=True
            ):
                if isinstance(read, Exception):
                    failed.update((p, str(read)) for p, _, _ in using)
                    continue
                self.pages_read += 1
                for position, name, entry_span in using:
                    values[position, name] = read[entry_span.index_in_page]
        return values, failed

    def _known_survey(self, location: AlertLocation) -> Survey | None:
        """The survey of a location's file if known without opening it (reader's or index's)."""
        return self.survey or (survey_named(location.survey) if location.survey else None)


def _fail(
    found: list[AlertCutouts | CutoutError | None],
    entries: Iterable[tuple[int, AlertLocation]],
    error: CutoutError,
) -> None:
    """`error` for each of the entries not answered yet."""
    for position, _ in entries:
        if found[position] is None:
            found[position] = error
