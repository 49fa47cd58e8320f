"""From a file of the lake and an object or alert id to the alert's stamps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import BadParameter, NotFound
from .lake import Lake
from .stamps import Stamp, stamp_from_stored, to_multi_extension_fits
from .surveys import KINDS, Survey, survey_of_columns

if TYPE_CHECKING:
    import pyarrow as pa


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
    """

    def __init__(self, lake: Lake, survey: Survey | None = None) -> None:
        self.lake = lake
        self.survey = survey

    def read(
        self,
        path: str,
        object_id: str | int | None = None,
        alert_id: int | str | None = None,
        kinds: Sequence[str] = KINDS,
    ) -> AlertCutouts:
        """Return the stamps of one alert in the file `path` (relative to the lake root).

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
        import pyarrow.parquet as pq

        kinds = _checked_kinds(kinds)
        with self.lake.open(path) as source:
            parquet = pq.ParquetFile(source)
            survey = self.survey or survey_of_columns(
                parquet.schema.column(i).path for i in range(len(parquet.schema))
            )
            if object_id is None and alert_id is None:
                raise BadParameter(
                    f"objectId: give an object id (e.g. {survey.example_object_id!r}) "
                    "or an alert id"
                )
            if object_id is not None:
                object_id = survey.validate_object_id(object_id)
            if alert_id is not None:
                alert_id = survey.validate_alert_id(alert_id)
            table = parquet.read(
                columns=_present(parquet, survey.lookup_columns + survey.display_columns)
            )
            row = _select_row(table, survey, object_id, alert_id, path)
            group, row_in_group = _row_group_of(parquet, row)
            stored = parquet.read_row_group(
                group, columns=[survey.cutout_columns[kind] for kind in kinds]
            ).slice(row_in_group, 1)
        stamps = {}
        for kind in kinds:
            value = leaf(stored, survey.cutout_columns[kind])[0].as_py()
            if value is None:
                raise NotFound(
                    f"alert {table_value(table, survey.alert_id_column, row)} has no {kind} stamp"
                )
            stamps[kind] = stamp_from_stored(kind, value, survey.gzipped)
        return AlertCutouts(
            survey=survey,
            path=path,
            object_id=object_id_at(table, survey, row),
            alert_id=table_value(table, survey.alert_id_column, row),
            time=table_value(table, survey.time_column, row),
            properties=display_properties(table, survey, row),
            stamps=stamps,
        )


def leaf(table: pa.Table, path: str) -> pa.ChunkedArray:
    """The column at a dotted leaf path (``candidate.jd``) of a table read with nested columns."""
    import pyarrow.compute as pc

    top, *children = path.split(".")
    column = table.column(top)
    for child in children:
        column = pc.struct_field(column, child)
    return column


def table_value(table: pa.Table, path: str, row: int) -> Any:
    """One value of a leaf column as a Python object."""
    return leaf(table, path)[row].as_py()


def object_ids(table: pa.Table, survey: Survey) -> pa.ChunkedArray:
    """The object id of each row: the first non-null, non-zero of the survey's id columns."""
    import pyarrow.compute as pc

    columns = [leaf(table, path) for path in survey.object_id_columns if _has_leaf(table, path)]
    if survey.integer_object_ids:
        columns = [pc.if_else(pc.equal(c, 0), None, c) for c in columns]
    return pc.coalesce(*columns) if len(columns) > 1 else columns[0]


def object_id_at(table: pa.Table, survey: Survey, row: int) -> str | int | None:
    """The object id of one row."""
    return object_ids(table, survey)[row].as_py()


def display_properties(table: pa.Table, survey: Survey, row: int) -> dict[str, Any]:
    """Filter, magnitude and error, ra, dec (and isdiffpos) of one row, for people."""
    names = {
        "filter": survey.filter_column,
        "magnitude": survey.magnitude_column,
        "magnitude_error": survey.magnitude_error_column,
        "ra": survey.ra_column,
        "dec": survey.dec_column,
        "isdiffpos": survey.isdiffpos_column,
    }
    properties = {
        name: table_value(table, path, row)
        for name, path in names.items()
        if path and _has_leaf(table, path)
    }
    if "filter" in properties:
        properties["filter"] = survey.filter_name(properties["filter"])
    properties["magnitude_unit"] = survey.magnitude_unit
    return properties


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


def _checked_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise BadParameter(f"kind: {unknown or kinds!r} not allowed; allowed: {', '.join(KINDS)}")
    return kinds


def _present(parquet, paths: Iterable[str]) -> list[str]:
    available = {parquet.schema.column(i).path for i in range(len(parquet.schema))}
    return list(dict.fromkeys(path for path in paths if path in available))


def _has_leaf(table: pa.Table, path: str) -> bool:
    node = table.schema
    for name in path.split("."):
        if not hasattr(node, "get_field_index") or (index := node.get_field_index(name)) < 0:
            return False
        node = node.field(index).type
    return True
