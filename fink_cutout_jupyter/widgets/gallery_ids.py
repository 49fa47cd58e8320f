"""What a gallery is given, without a display: the ids to show, from a list (of ids, or of
records naming them), or a DataFrame, and how many pages they make (its vetting labels are
`labels`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Columns a Fink API query, a Spark or a pandas selection names its ids with, most precise first;
# a solar-system alert's diaObjectId is 0 (and its objectId null): its ssObjectId names it.
ID_COLUMNS = (
    ("candid", "candid"),
    ("i:candid", "candid"),
    ("diaSourceId", "diaSourceId"),
    ("objectId", "objectId"),
    ("i:objectId", "objectId"),
    ("ssObjectId", "ssObjectId"),  # Rubin's solar-system objects
    ("diaObjectId", "diaObjectId"),
)
SOLAR_SYSTEM = "ssObjectId"


def gallery_ids(source: Any, by: str = "auto") -> tuple[list[str | int], str]:
    """The ids to show and what they are (``objectId``, ``candid``, ``diaObjectId``,
    ``diaSourceId`` or ``ssObjectId``), from a list of ids, a list of records (mappings, e.g.
    ``{"ssObjectId": ...}``, or `CutoutClient.alerts`) or a table with one of `ID_COLUMNS`: the
    first found, in order, that names something (a column whose values are all null or 0, such
    as a solar-system alert's objectId or diaObjectId, is passed over).

    Raises
    ------
    ValueError
        A table or records without an id column, an empty selection, or ids missing or written
        as floats (which lose the digits of ids past 2**53, so that labels would land on other
        ids).
    """
    columns = getattr(source, "columns", None)
    records = None if columns is not None or isinstance(source, str) else list(source)
    if records and all(isinstance(record, Mapping) for record in records):
        common = set.intersection(*(set(map(str, record)) for record in records))
        column, kind = _id_column(sorted(common), lambda name: [r[name] for r in records])
        ids = _plain_ids([record[column] for record in records], column)
        by = kind if by == "auto" else by
    elif columns is not None:
        column, kind = _id_column([str(name) for name in columns], lambda n: source[n].tolist())
        ids = _plain_ids(source[column].tolist(), column)
        by = kind if by == "auto" else by
    else:
        ids = _plain_ids(source if records is None else records, "ids")
    if not ids:
        raise ValueError("nothing to show: the selection is empty")
    if by == "auto":
        by = "candid" if all(str(i).isdigit() for i in ids) else "objectId"
    return ids, by


def _id_column(names: list[str], values: Callable[[str], list[Any]]) -> tuple[str, str]:
    """The first of `ID_COLUMNS` among `names` whose `values` are not all null or 0, and what
    it names (the first among `names` if none has an id: its missing rows are then refused)."""
    found = [(column, kind) for column, kind in ID_COLUMNS if column in names]
    if not found:
        raise ValueError(
            f"no id column among {names[:12]}; expected one of "
            f"{', '.join(column for column, _ in ID_COLUMNS)}"
        )
    return next((c for c in found if not all(map(_unset, values(c[0])))), found[0])


def _unset(value: Any) -> bool:
    """Whether an id column's value names nothing: null, NaN, blank text or 0."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str):
        return value.strip() in ("", "0")
    return _missing(value) or (isinstance(value, int) and value == 0)


def _plain_ids(values: Iterable[Any], name: str) -> list[str | int]:
    """numpy and pandas scalars as Python ints or strings; missing values and floats refused."""
    ids, bad, floats = [], [], False
    for row, value in enumerate(values, start=1):
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, int) or (isinstance(value, str) and value.strip()):
            ids.append(value)
        elif isinstance(value, float) or _missing(value):
            bad.append(f"row {row} is {value!r}")
            floats = floats or isinstance(value, float)
        else:
            ids.append(str(value))
    if bad:
        more = f", and {len(bad) - 5} more" if bad[5:] else ""
        why = (
            "; a float column (which a missing value makes) has lost the last digits of alert "
            "ids: drop missing rows where the ids are read, or read them as int64 or text"
            if floats
            else ""
        )
        raise ValueError(f"{name}: {', '.join(bad[:5])}{more}: ids are whole numbers or text{why}")
    return ids


def _missing(value: Any) -> bool:
    if value is None or isinstance(value, str):  # text reaching here is blank
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (ImportError, TypeError, ValueError):
        return False


def pages(count: int, page_size: int) -> int:
    """How many pages `count` ids make."""
    return max(1, -(-count // page_size))
