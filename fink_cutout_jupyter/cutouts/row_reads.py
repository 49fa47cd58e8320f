"""Alerts read with pyarrow, a row group at a time: when the stamps' data pages cannot be.

Three reads of `CutoutReader` go this way: a file scanned for an object or alert id (`scan`: an
``hdfsPath`` request, no index), an indexed row whose pages do not decode here
(`read_row_groups`), and a file rewritten since it was indexed (`rescan`); and where a file holds
some alerts, from its alert ids alone (`rows_of`: an archived night searched, see `moved`).
Each reads only the columns it needs; a row's stamps are served only after its alert id, read
in the same row.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fink_cutout_jupyter.cutouts.alerts import AlertCutouts
from fink_cutout_jupyter.cutouts.decoding import StoredDecoder
from fink_cutout_jupyter.cutouts.stamps import Stamp, StampKinds
from fink_cutout_jupyter.errors import BadParameter, CorruptData, CutoutError, NotFound, quote
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.parquet.columns import (
    display_properties,
    leaf,
    leaf_paths,
    object_id_at,
    object_ids,
    present,
    value,
)
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.paths import LakePath
from fink_cutout_jupyter.surveys import ObjectId, Survey, survey_of_columns

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)


class NotAlertFile(NotFound):
    """A file of the lake that is not a readable Parquet file of alerts (HTTP 404)."""


class RowReads:
    """The row group reads of a `CutoutReader` (same lake, survey and decoder).

    Parameters
    ----------
    lake : Lake
    survey : Survey or None
        The survey of the lake's files; ``None`` recognises it from each file's columns.
    decoder : StoredDecoder
    """

    def __init__(self, lake: Lake, survey: Survey | None, decoder: StoredDecoder) -> None:
        self.lake = lake
        self.survey = survey
        self.decoder = decoder

    def scan(
        self,
        path: LakePath,
        object_id: str | int | None,
        alert_id: int | str | None,
        kinds: StampKinds,
    ) -> AlertCutouts:
        """One alert of the file `path`, found by scanning its id columns (see
        `CutoutReader.read`)."""
        with self.decoder.judging(path), self.lake.open(path) as source:
            parquet = open_parquet(source, path)
            survey = self.survey_of(parquet)
            if object_id is None and alert_id is None:
                raise BadParameter(
                    f"objectId: give an object id (e.g. {survey.example_object_id!r}) "
                    "or an alert id"
                )
            if object_id is not None:
                object_id = ObjectId.of(object_id, survey).stored
            if alert_id is not None:
                alert_id = survey.validate_alert_id(alert_id)
            columns = present(parquet.schema, survey.lookup_columns + survey.display_columns)
            table = parquet.read(columns=columns)
            row = _select_row(table, survey, object_id, alert_id, path)
            group, row_in_group = _row_group_of(parquet, row)
            found_id = value(table, survey.alert_id_column, row)
            stamps = self._stamps_of_row(
                parquet, survey, group, row_in_group, kinds, found_id, path
            )
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

    def read_row_groups(
        self,
        path: str,
        entries: list[tuple[int, AlertLocation]],
        kinds: StampKinds,
        found: list[AlertCutouts | CutoutError | None],
    ) -> list[tuple[int, AlertLocation]]:
        """Fill `found` by reading each row with its row group (pyarrow); return the entries
        whose row holds another alert now."""
        moved = []
        with self.decoder.judging(path), self.lake.open(path) as source:
            parquet = open_parquet(source, path)
            survey = self.survey_of(parquet)
            for position, location in entries:
                try:
                    with self.decoder.judging(path):
                        stamps = self._stamps_of_row(
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
                    found[position] = AlertCutouts.at(location, survey, stamps)
        return moved

    def rescan(self, location: AlertLocation, kinds: StampKinds) -> AlertCutouts:
        """The alert found by scanning its file, which changed since it was indexed."""
        logger.warning(
            "%s changed since it was indexed: scanning it for alert %s (re-index its night)",
            location.path,
            location.alert_id,
        )
        try:
            return self.scan(self.lake.relative(location.path), None, location.alert_id, kinds)
        except NotAlertFile as error:
            raise CorruptData(
                f"hdfsPath: {location.path}, indexed as holding alert {location.alert_id}, "
                f"is no longer a readable alert file ({error})"
            ) from None

    def rows_of(
        self, path: str, alert_ids: set[int], survey: Survey | None = None
    ) -> dict[int, tuple[int, int]]:
        """Where each of `alert_ids` the file holds is (row group, row), reading its alert id
        column only (`survey`: whose column; by default the reader's, else the file's own)."""
        import numpy as np

        found: dict[int, tuple[int, int]] = {}
        with self.decoder.judging(path), self.lake.open(path) as source:
            parquet = open_parquet(source, path)
            survey = survey or self.survey_of(parquet)
            if not present(parquet.schema, [survey.alert_id_column]):
                raise NotAlertFile(
                    f"hdfsPath: {quote(path)} is not a {survey.name} alert file of the lake "
                    f"(no {survey.alert_id_column} column)"
                )
            wanted = np.array(sorted(alert_ids), dtype=np.int64)
            for group in range(parquet.metadata.num_row_groups):
                table = parquet.read_row_group(group, columns=[survey.alert_id_column])
                ids = leaf(table, survey.alert_id_column).to_numpy(zero_copy_only=False)
                for row in np.flatnonzero(np.isin(ids, wanted)):
                    found.setdefault(int(ids[row]), (group, int(row)))
        return found

    def survey_of(self, parquet) -> Survey:
        """The configured survey, or the one whose columns the file has (`NotAlertFile`)."""
        if self.survey is not None:
            return self.survey
        try:
            return survey_of_columns(leaf_paths(parquet.schema))
        except BadParameter as error:
            raise NotAlertFile(f"hdfsPath: {error}") from None

    def _stamps_of_row(
        self,
        parquet,
        survey: Survey,
        group: int,
        row: int,
        kinds: StampKinds,
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
            kind: self.decoder.stamp(
                kind, value(stored, survey.cutout_columns[kind], 0), survey, alert_id, path
            )
            for kind in kinds
        }


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
