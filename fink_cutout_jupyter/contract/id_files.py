"""Ids given as a file: a text file (one id a line), a CSV or a Parquet file, and which of its
columns holds the ids (named, else the first of `ID_COLUMNS`, else the only one); `BY_COLUMN`
tells what a column's ids are (object or alert ids) for the batch door.

`fink-cutouts export` reads its IDS argument here; Spark's export reads the same files with
Spark and chooses their column by the same rule (`id_column`).
"""

from __future__ import annotations

from pathlib import Path

from fink_cutout_jupyter.errors import BadParameter

# Column names taken for ids when none is named, in this order
ID_COLUMNS = ("objectId", "candid", "diaObjectId", "diaSourceId", "alertId", "id")
BY_COLUMN = {"alertId": "candid", "objectId": "objectId", "candid": "candid"}
BY_COLUMN |= {"diaObjectId": "diaObjectId", "diaSourceId": "diaSourceId"}
TEXT_SUFFIXES = ("", ".txt", ".ids", ".lst", ".list")


def read_ids(path: str, column: str | None = None) -> tuple[list[str | int], str | None]:
    """The ids of a text (one a line; blank lines and ``#`` comments skipped), CSV (with a
    header) or Parquet file, and the column they come from (None for text).

    Raises
    ------
    BadParameter
        The file's format is unknown, it has no such column (or none of `ID_COLUMNS`), a
        value is empty, or it holds no ids.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if not file.is_file():
        raise BadParameter(f"IDS: {path} is not a file")
    if suffix in TEXT_SUFFIXES:
        if column:
            raise BadParameter(f"column: {path} is a text file (one id a line): no columns")
        try:
            text = file.read_text(encoding="utf-8-sig")  # a BOM (Notepad, Excel) is not an id
        except UnicodeDecodeError as error:
            raise BadParameter(f"IDS: {path} is not UTF-8 text ({error})") from None
        lines = (line.strip() for line in text.splitlines())
        ids: list[str | int] = [line for line in lines if line and not line.startswith("#")]
    elif suffix in (".csv", ".parquet", ".pq"):
        import pyarrow as pa

        table = _id_table(file, suffix)
        column = id_column(path, table.column_names, column)
        values = table.column(column)
        if pa.types.is_floating(values.type):
            raise BadParameter(
                f"column: {column} of {path} holds floating-point numbers ({values.type}), "
                "which round 19-digit ids; write it as integers (int64) or text"
            )
        ids = values.to_pylist()
        if None in ids or "" in ids:
            row = next(n for n, value in enumerate(ids) if value in (None, ""))
            raise BadParameter(f"column: {column} of {path} is empty in row {row + 1}")
    else:
        raise BadParameter(
            f"IDS: {path}: unknown format {suffix!r}; give a text file (.txt, one id a line), "
            ".csv (with a header) or .parquet"
        )
    if not ids:
        raise BadParameter(f"IDS: {path} holds no ids")
    return ids, column


def _id_table(file: Path, suffix: str):
    import pyarrow as pa

    try:
        if suffix == ".csv":
            from pyarrow import csv

            return csv.read_csv(file)
        import pyarrow.parquet as pq

        return pq.read_table(file)
    except (pa.ArrowException, OSError) as error:
        raise BadParameter(f"IDS: {file} cannot be read as {suffix[1:]} ({error})") from None


def id_column(path: str, columns: list[str], column: str | None) -> str:
    """The column of ids of a table named `path` with `columns`: `column` if given (it must be
    one), else the first of `ID_COLUMNS` present, else the only column (`BadParameter`)."""
    if column is not None:
        if column not in columns:
            raise BadParameter(
                f"column: {column!r} is not a column of {path}; its columns: {', '.join(columns)}"
            )
        return column
    found = [name for name in ID_COLUMNS if name in columns]
    if found:
        return found[0]
    if len(columns) == 1:
        return columns[0]
    raise BadParameter(
        f"column: {path} has none of {', '.join(ID_COLUMNS)}; name its column of ids with "
        f"--column (its columns: {', '.join(columns)})"
    )
