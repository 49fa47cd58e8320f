"""Nested Parquet columns of Arrow tables by dotted path, and survey-aware object ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.surveys import Survey

if TYPE_CHECKING:
    import pyarrow as pa


def leaf_paths(parquet_schema) -> list[str]:
    """Dotted leaf paths (``candidate.jd``) of a `pyarrow.parquet.ParquetSchema`."""
    return [parquet_schema.column(i).path for i in range(len(parquet_schema))]


def present(parquet_schema, paths) -> list[str]:
    """The given leaf paths that the file has, in order, without repeats."""
    available = set(leaf_paths(parquet_schema))
    return list(dict.fromkeys(path for path in paths if path and path in available))


def has_leaf(table: pa.Table, path: str) -> bool:
    """Whether a table read with nested columns holds the leaf `path`."""
    node = table.schema
    for name in path.split("."):
        if not hasattr(node, "get_field_index") or (index := node.get_field_index(name)) < 0:
            return False
        node = node.field(index).type
    return True


def leaf(table: pa.Table, path: str) -> pa.ChunkedArray:
    """The column at a dotted leaf path of a table read with nested columns."""
    import pyarrow.compute as pc

    top, *children = path.split(".")
    column = table.column(top)
    for child in children:
        column = pc.struct_field(column, child)
    return column


def value(table: pa.Table, path: str, row: int) -> Any:
    """One value of a leaf column as a Python object."""
    return leaf(table, path)[row].as_py()


def object_ids(table: pa.Table, survey: Survey) -> pa.ChunkedArray:
    """The object id of each row: the first non-null (and, for integer ids, non-zero) column."""
    import pyarrow.compute as pc

    columns = [leaf(table, path) for path in survey.object_id_columns if has_leaf(table, path)]
    if survey.integer_object_ids:
        columns = [pc.if_else(pc.equal(c, 0), None, c) for c in columns]
    return pc.coalesce(*columns) if len(columns) > 1 else columns[0]


def object_id_at(table: pa.Table, survey: Survey, row: int) -> str | int | None:
    """The object id of one row."""
    return object_ids(table, survey)[row].as_py()


DISPLAY_FIELDS = (
    "filter",
    "magnitude",
    "magnitude_error",
    "ra",
    "dec",
    "isdiffpos",
    "ss_object_id",
    "designation",
)


def display_columns(table: pa.Table, survey: Survey) -> dict[str, pa.ChunkedArray]:
    """Filter (by name), magnitude (or flux) and error, ra, dec, isdiffpos, and a solar-system
    object's id (text; 0 is none) and designation: the columns present."""
    import pyarrow as pa
    import pyarrow.compute as pc

    paths = dict(
        zip(
            DISPLAY_FIELDS,
            (
                survey.filter_column,
                survey.magnitude_column,
                survey.magnitude_error_column,
                survey.ra_column,
                survey.dec_column,
                survey.isdiffpos_column,
                survey.solar_system_id_column,
                survey.designation_column,
            ),
            strict=True,
        )
    )
    columns = {
        name: leaf(table, path) for name, path in paths.items() if path and has_leaf(table, path)
    }
    if "filter" in columns:
        codes = pc.cast(columns["filter"], pa.string())
        for code, name in survey.filter_names:
            codes = pc.if_else(pc.equal(codes, str(code)), name, codes)
        columns["filter"] = codes
    if "ss_object_id" in columns:
        ids = columns["ss_object_id"]
        columns["ss_object_id"] = pc.cast(pc.if_else(pc.equal(ids, 0), None, ids), pa.string())
    return columns


def display_properties(table: pa.Table, survey: Survey, row: int) -> dict[str, Any]:
    """The display fields of one row as Python values, with the magnitude unit."""
    properties = {
        name: column[row].as_py() for name, column in display_columns(table, survey).items()
    }
    properties["magnitude_unit"] = survey.magnitude_unit
    return properties
