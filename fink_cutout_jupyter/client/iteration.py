"""Many alerts' stamps a batch at a time, every batch of one shape: for training loops.

`iter_batches` asks the batch door for `batch_size` ids at a time and yields each batch's
stamps (float32, NaN kept) beside its table, in the order of the ids. The batch door gives each
reply its own most common shape; here the shape is fixed for the whole run (the first batch's
most common one, or the one given), so that every batch stacks: a stamp of another shape is NaN
and its row's status names it (``ok; other shape: Science 63x62``), and a stamp of the run's
shape that the door sent as NaN because its reply's shape differed is asked for again.
Framework-free: numpy and pandas out, no deep-learning library needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from fink_cutout_jupyter.client.answers import checked
from fink_cutout_jupyter.client.batching import Shape, post_when_not_busy, reply_shape, reply_table
from fink_cutout_jupyter.surveys import KINDS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from fink_cutout_jupyter.client.cutout_client import CutoutClient
    from fink_cutout_jupyter.storage.lake import Lake

OTHER_SHAPE = "; other shape: "


def iter_batches(
    client_or_lake: CutoutClient | str | Lake,
    ids: Iterable[str | int],
    batch_size: int = 256,
    kinds: Sequence[str] = KINDS,
    by: str = "auto",
    shape: Shape | None = None,
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """The stamps of `ids`, `batch_size` at a time, in order (the last batch may be shorter).

    Parameters
    ----------
    client_or_lake : CutoutClient, str or Lake
        A client (a server or the lake in-process), or a lake to read in-process.
    ids : sequence
        Object ids (each object's latest alert) or alert ids (a list, a numpy array, a pandas
        Series...); unknown ids are rows whose status says so, with NaN stamps.
    batch_size : int
        Ids per batch yielded (split into several requests past the batch door's limit).
    kinds : sequence of str
        Which stamps, in the order of the array's second axis.
    by : {"auto", "objectId", "candid", "diaObjectId", "diaSourceId"}
        What the ids are (``auto``: alert ids if all are whole numbers, else object ids).
    shape : (int, int), optional
        The stamps' shape (default: the first batch's most common shape; batches before one
        with any stamp have height and width 0).

    Yields
    ------
    stamps : numpy.ndarray
        float32, shape (batch, len(kinds), height, width), NaN where a row has no stamp of the
        shape.
    table : pandas.DataFrame
        One row per id: ``id``, ``status``, ``objectId``, ``alertId``, ``jd``, ``date``,
        display fields, ``hdfsPath`` (as `CutoutClient.batch`).
    """
    import pandas as pd
    import pyarrow as pa

    client = as_client(client_or_lake)
    kinds = checked_kinds(kinds)
    ids = as_ids(ids)
    by = resolved_by(ids, by)
    fetcher = BatchFetcher(client, kinds, by, shape)
    for start in range(0, len(ids), checked_batch_size(batch_size)):
        table = fetcher.table(ids[start : start + batch_size])
        stamps = stamps_of(table, kinds, fetcher.shape)
        metadata = table.drop_columns([kind for kind in kinds if kind in table.column_names])
        yield stamps, metadata.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def as_client(client_or_lake: CutoutClient | str | Lake) -> CutoutClient:
    """A `CutoutClient` as given, or one reading the lake given in-process."""
    from fink_cutout_jupyter.client.cutout_client import CutoutClient

    if isinstance(client_or_lake, CutoutClient):
        return client_or_lake
    return CutoutClient(lake=client_or_lake)


def as_ids(ids: Iterable) -> list[str | int]:
    """The ids as a list of Python strings and ints: a list, a numpy array, a pandas Series or a
    pyarrow array alike (numpy's integers are not JSON, nor ids to the contract)."""
    values = ids.to_pylist() if hasattr(ids, "to_pylist") else list(ids)
    return [value.item() if hasattr(value, "item") else value for value in values]


def checked_kinds(kinds: Sequence[str]) -> list[str]:
    """`kinds` as a list, or `ValueError` naming the allowed ones."""
    kinds = list(kinds)
    if not kinds or not set(kinds) <= set(KINDS) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds: {kinds!r}; allowed: some of {', '.join(KINDS)}, each once")
    return kinds


def checked_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: {batch_size!r}; expected a whole number ≥ 1")
    return batch_size


def resolved_by(ids: Sequence[str | int], by: str) -> str:
    """What the ids are: `by`, or for ``auto`` alert ids (``candid``) if all are whole numbers,
    else object ids (as `CutoutClient.batch` decides, once for the whole list)."""
    from fink_cutout_jupyter.contract.batch import ALERT_NAMES, OBJECT_NAMES

    if by == "auto":
        numbers = all(isinstance(i, int) or str(i).isdigit() for i in ids)
        return "candid" if numbers else "objectId"
    if by not in (*OBJECT_NAMES, *ALERT_NAMES):
        raise ValueError(f"by: {by!r}; allowed: auto, {', '.join((*OBJECT_NAMES, *ALERT_NAMES))}")
    return by


class BatchFetcher:
    """Batches of ids to Arrow tables whose stamp columns are tensors of one shape.

    Attributes
    ----------
    shape : (int, int) or None
        The run's shape: given, or the first reply's with stamps (None until then).
    """

    def __init__(
        self, client: CutoutClient, kinds: Sequence[str], by: str, shape: Shape | None = None
    ) -> None:
        from fink_cutout_jupyter.contract.batch import max_batch_ids

        self.client = client
        self.kinds = list(kinds)
        self.by = by
        self.shape = None if shape is None else (int(shape[0]), int(shape[1]))
        self.kind = self.kinds[0] if len(self.kinds) == 1 else "All"
        self.most = max_batch_ids("arrow", 1 if self.kind != "All" else len(KINDS))

    def table(self, ids: Sequence[str | int]) -> pa.Table:
        """The table of `ids`, one row each in order; its stamps (if the shape is known yet)
        tensors of `shape`, else no stamp columns at all (no row of it has a stamp)."""
        import pyarrow as pa

        tables = []
        for start in range(0, len(ids), self.most):
            reply = self._request(self.by, list(ids[start : start + self.most]))
            if self.shape is None:
                self.shape = reply_shape(reply, self.kinds)
            tables.append(self._conformed(reply))
        if self.shape is not None:
            tables = [with_nan_stamps(t, self.kinds, self.shape) for t in tables]
        return pa.concat_tables(tables)

    def _request(self, by: str, ids: list) -> pa.Table:
        params = {by: ids, "kind": self.kind, "return_type": "arrow"}
        body = checked(post_when_not_busy(self.client.transport, "cutouts", params)).body
        return reply_table(body, self.kinds, len(ids))

    def _conformed(self, reply: pa.Table) -> pa.Table:
        """`reply` with its stamps in `shape` (or no stamp columns while no shape is known)."""
        import numpy as np
        import pyarrow as pa

        if self.shape is None:
            return reply.drop_columns(self.kinds)
        got = reply_shape(reply, self.kinds)
        planes = {
            kind: (
                reply.column(kind).combine_chunks().to_numpy_ndarray().copy()
                if got == self.shape
                else np.full((reply.num_rows, *self.shape), np.nan, np.float32)
            )
            for kind in self.kinds
        }
        statuses = []
        wanted: dict[int, list[str]] = {}  # row -> kinds of the shape the reply sent as NaN
        for row, status in enumerate(reply.column("status").to_pylist()):
            base, others = split_status(status)
            if base.startswith("ok") and got is not None and got != self.shape:
                others = {kind: others.get(kind, got) for kind in self.kinds}
            for kind, shape in others.items():
                if shape == self.shape:
                    wanted.setdefault(row, []).append(kind)
            statuses.append((base, others))
        if wanted:
            self._ask_again(reply, wanted, planes, statuses)
        table = reply.drop_columns(self.kinds)
        table = table.set_column(
            table.schema.get_field_index("status"),
            "status",
            pa.array([joined_status(b, o) for b, o in statuses], pa.string()),
        )
        for kind in self.kinds:
            table = table.append_column(
                kind, pa.FixedShapeTensorArray.from_numpy_ndarray(planes[kind])
            )
        return table

    def _ask_again(self, reply, wanted, planes, statuses) -> None:
        """The stamps of the run's shape sent as NaN (their reply's shape differed), asked for
        by alert id in one more request; those still not of the shape stay NaN and named."""
        rows = sorted(wanted)
        alert_ids = reply.column("alertId").to_pylist()
        again = self._request("candid", [alert_ids[row] for row in rows])
        if reply_shape(again, self.kinds) != self.shape:
            return
        stamps = {
            kind: again.column(kind).combine_chunks().to_numpy_ndarray() for kind in self.kinds
        }
        for position, row in enumerate(rows):
            base, others = split_status(again.column("status")[position].as_py())
            if not base.startswith("ok"):
                continue
            for kind in wanted[row]:
                if kind not in others:
                    planes[kind][row] = stamps[kind][position]
                    del statuses[row][1][kind]


def split_status(status: str) -> tuple[str, dict[str, tuple[int, ...]]]:
    """A row's status without its other-shape part, and the kinds it names with their shape."""
    base, _, named = status.partition(OTHER_SHAPE)
    others = {}
    for item in filter(None, named.split(", ")):
        kind, _, size = item.partition(" ")
        others[kind] = tuple(int(length) for length in size.split("x"))  # 2-D or not
    return base, others


def joined_status(base: str, others: dict[str, tuple[int, ...]]) -> str:
    """`split_status` undone."""
    if not others:
        return base
    named = ", ".join(f"{kind} {'x'.join(map(str, shape))}" for kind, shape in others.items())
    return f"{base}{OTHER_SHAPE}{named}"


def with_nan_stamps(table: pa.Table, kinds: Sequence[str], shape: Shape) -> pa.Table:
    """`table` with NaN tensors of `shape` for the stamp columns it lacks."""
    import numpy as np
    import pyarrow as pa

    for kind in kinds:
        if kind not in table.column_names:
            nan = np.full((table.num_rows, *shape), np.nan, np.float32)
            table = table.append_column(kind, pa.FixedShapeTensorArray.from_numpy_ndarray(nan))
    return table


def stamps_of(table: pa.Table, kinds: Sequence[str], shape: Shape | None) -> np.ndarray:
    """A table's stamp tensors as one float32 array (rows, kinds, height, width)."""
    import numpy as np

    if shape is None:
        return np.full((table.num_rows, len(kinds), 0, 0), np.nan, np.float32)
    planes = [
        np.concatenate([c.to_numpy_ndarray() for c in table.column(kind).chunks if len(c)])
        if table.num_rows
        else np.empty((0, *shape), np.float32)
        for kind in kinds
    ]
    return np.stack(planes, axis=1)
