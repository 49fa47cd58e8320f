"""What a gallery is given, and what it keeps, without a display: ids from a list or a DataFrame,
and the vetting labels (to and from CSV or Parquet)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Columns a Fink API query, a Spark or a pandas selection names its ids with, most precise first.
ID_COLUMNS = (
    ("candid", "candid"),
    ("i:candid", "candid"),
    ("diaSourceId", "diaSourceId"),
    ("objectId", "objectId"),
    ("i:objectId", "objectId"),
    ("diaObjectId", "diaObjectId"),
)
LABEL_COLUMNS = ("id", "label", "labelled_at")


def gallery_ids(source: Any, by: str = "auto") -> tuple[list[str | int], str]:
    """The ids to show and what they are (``objectId``, ``candid``, ``diaObjectId`` or
    ``diaSourceId``), from a list of ids or a table with one of `ID_COLUMNS`.

    Raises
    ------
    ValueError
        A table without an id column, or an empty selection.
    """
    columns = getattr(source, "columns", None)
    if columns is not None:
        names = [str(name) for name in columns]
        found = next(((column, kind) for column, kind in ID_COLUMNS if column in names), None)
        if found is None:
            raise ValueError(
                f"no id column among {names[:12]}; expected one of "
                f"{', '.join(column for column, _ in ID_COLUMNS)}"
            )
        column, kind = found
        ids = [_plain(value) for value in source[column].tolist()]
        by = kind if by == "auto" else by
    else:
        ids = [_plain(value) for value in source]
    if not ids:
        raise ValueError("nothing to show: the selection is empty")
    if by == "auto":
        by = "candid" if all(str(i).isdigit() for i in ids) else "objectId"
    return ids, by


def _plain(value: Any) -> str | int:
    """numpy and pandas scalars as Python ints or strings."""
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, int) else str(value)


def pages(count: int, page_size: int) -> int:
    """How many pages `count` ids make."""
    return max(1, -(-count // page_size))


class Labels:
    """Vetting labels by id, in the order given, with the time each was given (UTC)."""

    def __init__(self, names: Sequence[str]) -> None:
        if not names or len(set(names)) != len(names):
            raise ValueError(f"labels: expected distinct names, got {list(names)!r}")
        self.names = tuple(names)
        self._given: dict[str, tuple[str, dt.datetime]] = {}

    def set(self, identifier: str | int, label: str | None) -> None:
        """Label an id (``None`` removes its label)."""
        if label is None:
            self._given.pop(str(identifier), None)
            return
        if label not in self.names:
            raise ValueError(f"label: {label!r} is not one of {', '.join(self.names)}")
        self._given[str(identifier)] = (label, dt.datetime.now(dt.UTC))

    def of(self, identifier: str | int) -> str | None:
        given = self._given.get(str(identifier))
        return given[0] if given else None

    def as_dict(self) -> dict[str, str]:
        return {identifier: label for identifier, (label, _) in self._given.items()}

    def frame(self):
        """A pandas DataFrame: id, label, labelled_at."""
        import pandas as pd

        rows = [(i, label, when) for i, (label, when) in self._given.items()]
        frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
        frame["labelled_at"] = pd.to_datetime(frame["labelled_at"], utc=True)
        return frame

    def save(self, path: str | Path) -> None:
        """Write the labels to CSV or Parquet (by the file's suffix)."""
        path = Path(path)
        frame = self.frame()
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)

    def load(self, path: str | Path) -> int:
        """Read labels saved by `save` (names outside `names` are refused); how many."""
        import pandas as pd

        path = Path(path)
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}")
        unknown = sorted(set(frame["label"]) - set(self.names))
        if unknown:
            raise ValueError(f"{path}: labels {unknown} are not among {', '.join(self.names)}")
        for identifier, label, when in frame[list(LABEL_COLUMNS)].itertuples(index=False):
            when = pd.Timestamp(when)
            when = when.tz_localize("UTC") if when.tzinfo is None else when
            self._given[str(identifier)] = (label, when.to_pydatetime())
        return len(frame)
