"""A gallery's vetting labels, without a display: given by id with their time, written to and read
from CSV or Parquet, autosaved at every change and merged with another writer's."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from fink_cutout_jupyter.storage.atomic import (
    exclusive_lock,
    writable_target,
    write_bytes_atomically,
)

LABEL_COLUMNS = ("id", "label", "labelled_at")
LABEL_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def labels_format(path: str | Path) -> str:
    """``csv`` or ``parquet``, from a labels file's suffix (in any case).

    Raises
    ------
    ValueError
        Another suffix.
    """
    found = LABEL_FORMATS.get(Path(path).suffix.lower())
    if found is None:
        raise ValueError(f"{path}: name a labels file .csv, .parquet or .pq")
    return found


def default_labels_path(ids: Iterable[str | int], directory: str | Path | None = None) -> Path:
    """Where a gallery of these ids autosaves its labels: ``fink-labels-<hash>.csv`` in
    `directory` (default: the current directory, a notebook's own in Jupyter). The hash is of
    the set of ids, so that a gallery of the same ids, in any order, finds the file again."""
    text = "\n".join(sorted({str(identifier) for identifier in ids}))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Path(directory if directory is not None else Path.cwd()) / f"fink-labels-{digest}.csv"


class Label(NamedTuple):
    """One id's label, when it was given (UTC), and its CSV line (kept: autosaves stay cheap)."""

    name: str
    when: dt.datetime
    line: str


class Labels:
    """Vetting labels by id, in the order given, with the time each was given (UTC).

    Parameters
    ----------
    names : sequence of str
        The label names allowed.
    autosave : path, optional
        A CSV or Parquet file rewritten (atomically) at every change. If it exists, its labels
        are loaded first, all or nothing (see `read_labels`). Several `Labels` may autosave to
        the same file: each autosave, under a lock (``.<name>.lock`` beside the file), first
        takes in what the others wrote since (see `merge_labels`), so that none is lost.
    """

    def __init__(self, names: Sequence[str], autosave: str | Path | None = None) -> None:
        if not names or len(set(names)) != len(names):
            raise ValueError(f"labels: expected distinct names, got {list(names)!r}")
        self.names = tuple(names)
        self._given: dict[str, Label] = {}
        self.autosave: Path | None = None
        self.loaded = 0  # how many labels the autosave file held when opened
        self.unsaved: Exception | None = None  # why the last autosave failed, until one works
        self._base: dict[str, Label] = {}  # the autosave file's labels when last read or written
        self._digest = ""  # of its bytes then
        if autosave is not None:
            path = writable_target(autosave)
            labels_format(path)
            if path.exists():
                data = path.read_bytes()
                self._given = read_labels(path, self.names, data)
                self._base, self._digest = dict(self._given), _digest(data)
                self.loaded = len(self._given)
            self.autosave = path

    def set(self, identifier: str | int, label: str | None) -> None:
        """Label an id (``None`` removes its label), then autosave (a failure is kept in
        `unsaved`: the label is kept here, the file is as it was until the next change).

        Raises
        ------
        ValueError
            A label not among `names` (nothing changes).
        """
        if label is None:
            if self._given.pop(str(identifier), None) is not None:
                self._save_automatically()
            return
        if label not in self.names:
            raise ValueError(f"label: {label!r} is not one of {', '.join(self.names)}")
        self._given[str(identifier)] = _label(str(identifier), label, dt.datetime.now(dt.UTC))
        self._save_automatically()

    def of(self, identifier: str | int) -> str | None:
        given = self._given.get(str(identifier))
        return given.name if given else None

    def as_dict(self) -> dict[str, str]:
        return {identifier: given.name for identifier, given in self._given.items()}

    def frame(self):
        """A pandas DataFrame: id, label, labelled_at."""
        import pandas as pd

        rows = [(i, given.name, given.when) for i, given in self._given.items()]
        frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
        frame["labelled_at"] = pd.to_datetime(frame["labelled_at"], utc=True)
        return frame

    def save(self, path: str | Path) -> Path:
        """Write the labels to CSV or Parquet (by the file's suffix), whole or not at all."""
        path = writable_target(path)
        return write_bytes_atomically(path, self._encoded(labels_format(path)))

    def load(self, path: str | Path) -> int:
        """Add the labels of a file written by `save`, all or nothing (see `read_labels`), then
        autosave; how many were read."""
        read = read_labels(path, self.names)
        self._given.update(read)
        if read:
            self._save_automatically()
        return len(read)

    def _save_automatically(self) -> None:
        if self.autosave is None:
            return
        path = self.autosave
        try:
            with exclusive_lock(path.with_name(f".{path.name}.lock")):
                try:
                    found = path.read_bytes()
                except FileNotFoundError:  # removed: written again
                    found = None
                if found is not None and _digest(found) != self._digest:  # another writer's
                    theirs = read_labels(path, self.names, found)
                    self._given = merge_labels(self._base, self._given, theirs)
                    # What we now hold is merged with this file: the next merge starts from it,
                    # even if the write below fails (else the file's removals since would not
                    # be seen as removals, and its labels we took in would come back).
                    self._base, self._digest = theirs, _digest(found)
                data = self._encoded(labels_format(path))
                write_bytes_atomically(path, data)
        except (OSError, ValueError) as error:
            self.unsaved = error
        else:
            self.unsaved = None
            self._base, self._digest = dict(self._given), _digest(data)

    def _encoded(self, kind: str) -> bytes:
        if kind == "parquet":
            return self._parquet()
        header = ",".join(LABEL_COLUMNS) + "\n"
        return (header + "".join(given.line for given in self._given.values())).encode()

    def _parquet(self) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "id": pa.array(list(self._given), pa.string()),
                "label": pa.array([given.name for given in self._given.values()], pa.string()),
                "labelled_at": pa.array(
                    [given.when for given in self._given.values()], pa.timestamp("us", "UTC")
                ),
            }
        )
        stream = io.BytesIO()
        pq.write_table(table, stream)
        return stream.getvalue()


def merge_labels(
    base: dict[str, Label], ours: dict[str, Label], theirs: dict[str, Label]
) -> dict[str, Label]:
    """Our labels and another writer's, both changed from `base`: for each id, the side that
    changed it (a new label, a relabel or a removal) wins; if both did, the later label, or the
    label over a removal. In our order, then theirs."""

    def same(first: Label | None, second: Label | None) -> bool:
        if first is None or second is None:
            return first is second
        return (first.name, first.when) == (second.name, second.when)

    merged = {}
    for identifier in {**ours, **theirs}:
        old, mine, other = base.get(identifier), ours.get(identifier), theirs.get(identifier)
        if same(mine, old):
            chosen = other
        elif same(other, old) or other is None:
            chosen = mine
        elif mine is None:
            chosen = other
        else:
            chosen = max(mine, other, key=lambda label: label.when)
        if chosen is not None:
            merged[identifier] = chosen
    return merged


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _label(identifier: str, name: str, when: dt.datetime) -> Label:
    line = io.StringIO()
    moment = when.astimezone(dt.UTC).isoformat(timespec="microseconds")
    csv.writer(line, lineterminator="\n").writerow((identifier, name, moment))
    return Label(name, when, line.getvalue())


def read_labels(
    path: str | Path, names: Sequence[str], data: bytes | None = None
) -> dict[str, Label]:
    """The labels of a CSV or Parquet file with columns id, label, labelled_at, by id (from
    `data`, its bytes, if given).

    Ids are read as written (text; integer Parquet columns as their digits). The whole file is
    checked before anything is returned: blank ids, labels not among `names` and times that are
    not dates are all refused, naming their rows. A later row of the same id wins.

    Raises
    ------
    ValueError
        An unknown suffix, a missing column, an id column of floats, or bad rows.
    """
    import pandas as pd

    path = Path(path)
    source = path if data is None else io.BytesIO(data)
    if labels_format(path) == "parquet":
        frame = _parquet_labels(path, source)
    else:
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise ValueError(
                f"{path}: empty; expected columns {', '.join(LABEL_COLUMNS)}"
            ) from None
    missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(missing)}")
    ids = frame["id"].tolist()
    labels = frame["label"].tolist()
    if pd.api.types.is_datetime64_any_dtype(frame["labelled_at"]):
        times = pd.to_datetime(frame["labelled_at"], utc=True)
    else:
        times = pd.to_datetime(frame["labelled_at"], utc=True, format="ISO8601", errors="coerce")
    problems = []
    for row, (identifier, label, when, written) in enumerate(
        zip(ids, labels, times, frame["labelled_at"].tolist(), strict=True), start=1
    ):
        if identifier is None or not str(identifier).strip():
            problems.append(f"row {row}: blank id")
        if label not in names:
            problems.append(f"row {row}: label {label!r} is not one of {', '.join(names)}")
        if pd.isna(when):
            problems.append(f"row {row}: labelled_at {written!r} is not a date")
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if problems[5:] else ""
        )
        raise ValueError(f"{path}: nothing loaded: {shown}")
    return {
        str(identifier): _label(str(identifier), label, when.to_pydatetime())
        for identifier, label, when in zip(ids, labels, times, strict=True)
    }


def _parquet_labels(path: Path, source):
    """A Parquet file's labels as a DataFrame whose ids are text (``None`` where null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    if "id" in table.column_names:
        kind = table.schema.field("id").type
        if pa.types.is_integer(kind):
            table = table.set_column(
                table.column_names.index("id"), "id", table.column("id").cast(pa.string())
            )
        elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ValueError(f"{path}: the id column is {kind}; expected text or integers")
    return table.to_pandas()
