"""Many alerts' stamps through the batch door: requests of at most `max_batch_ids` ids, asked
again while a busy server says when to (503 + ``Retry-After``), read as Arrow tensors.

The replies are checked against the contract (a complete Arrow stream, one row per id, the
stamp columns as fixed-shape tensors) before they are stacked into one float32 array beside a
table of what each id is; an answer not as agreed is a `CutoutClientError` (502).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.client.answers import Answer, checked, not_as_agreed
from fink_cutout_jupyter.surveys import KINDS

Shape = tuple[int, int]

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from fink_cutout_jupyter.client.transport import Transport

BUSY_RETRIES = 5  # a batch request answered 503 + Retry-After (the server's memory budget)
MAX_RETRY_AFTER_SECONDS = 10.0


def fetch_batch(
    transport: Transport,
    ids: Sequence[str | int],
    kinds: Sequence[str],
    by: str,
    progress: bool | None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """The stamps and table of `CutoutClient.batch` (which documents the parameters)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from tqdm.auto import tqdm

    from fink_cutout_jupyter.contract.batch import max_batch_ids

    kinds = list(kinds)
    if not kinds or not set(kinds) <= set(KINDS):
        raise ValueError(f"kinds: {kinds!r}; allowed: some of {', '.join(KINDS)}")
    if by == "auto":
        numbers = all(isinstance(i, int) or str(i).isdigit() for i in ids)
        by = "candid" if numbers else "objectId"
    kind = kinds[0] if len(kinds) == 1 else "All"
    most = max_batch_ids("arrow", 1 if kind != "All" else len(KINDS))
    chunks = [list(ids[i : i + most]) for i in range(0, len(ids), most)]
    show = len(chunks) > 1 if progress is None else progress
    stamps: np.ndarray | None = None
    tables, other_shapes, not_copied, row = [], [], [], 0
    for chunk in tqdm(chunks, desc="batches", unit="batch", disable=not show):
        params = {by: chunk, "kind": kind, "return_type": "arrow"}
        body = checked(post_when_not_busy(transport, "cutouts", params)).body
        table = reply_table(body, kinds, len(chunk))
        shape = reply_shape(table, kinds)
        if stamps is None and shape is not None:  # each row is written once: copied or NaN
            stamps = np.empty((len(ids), len(kinds), *shape), np.float32)
        if stamps is not None and shape == stamps.shape[2:]:
            for position, name in enumerate(kinds):
                _copy_tensor(table.column(name), stamps[row : row + len(chunk), position])
        else:
            not_copied.append((row, len(chunk)))
            if shape is not None:
                other_shapes.append((row, len(chunk), shape))
        tables.append(table.drop_columns([name for name in KINDS if name in table.column_names]))
        row += len(chunk)
    if not tables:
        return np.empty((0, len(kinds), 0, 0), np.float32), pd.DataFrame()
    if stamps is None:  # no id had stamps: no shape to give them
        stamps = np.full((len(ids), len(kinds), 0, 0), np.nan, np.float32)
    for first, count in not_copied:
        stamps[first : first + count] = np.nan
    metadata = pa.concat_tables(tables).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for first, count, shape in other_shapes:  # a request whose stamps' shape was not the first's
        rows = metadata.index[first : first + count]
        found = metadata.loc[rows, "status"].str.startswith("ok")
        metadata.loc[rows[found], "status"] += f"; other shape: all {shape[0]}x{shape[1]}"
    return stamps, metadata


def post_when_not_busy(transport: Transport, route: str, params: Mapping[str, Any]) -> Answer:
    """POST, asking again after ``Retry-After`` while the server says it is busy (503), at
    most `BUSY_RETRIES` times and within the transport's `timeout` from the first request: a
    pause that would end past it is not taken, the busy answer is the result."""
    deadline = time.monotonic() + getattr(transport, "timeout", math.inf)
    for _ in range(BUSY_RETRIES):
        answer = transport.post(route, params)
        wait = _retry_after(answer)
        if wait is None or time.monotonic() + wait >= deadline:
            return answer
        time.sleep(wait)
    return transport.post(route, params)


def _retry_after(answer: Answer) -> float | None:
    """Seconds a busy server (503 with ``Retry-After``) asks to wait, or None."""
    from fink_cutout_jupyter.contract.retry_after import retry_after_seconds

    if answer.status != 503:
        return None
    return retry_after_seconds(answer.headers.get("Retry-After"), MAX_RETRY_AFTER_SECONDS)


def reply_table(body: bytes, kinds: Sequence[str], rows: int) -> pa.Table:
    """The batch door's Arrow stream checked: `rows` rows, ``id``, ``status``, ``alertId`` and
    the stamp columns as tensors (or all null: no id of the request had a stamp)."""
    import pyarrow as pa

    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowException, OSError) as error:  # pyarrow: OSError for a cut stream
        raise not_as_agreed(f"not a complete Arrow stream ({error})") from error
    if table.num_rows != rows:
        raise not_as_agreed(f"an Arrow table of {table.num_rows} rows for {rows} ids")
    missing = [
        name for name in ("id", "status", "alertId", *kinds) if name not in table.column_names
    ]
    if missing:
        raise not_as_agreed(f"an Arrow table without the columns {', '.join(missing)}")
    for kind in kinds:
        column = table.column(kind)
        tensors = isinstance(column.type, pa.FixedShapeTensorType)
        if not tensors and column.null_count != len(column):
            raise not_as_agreed(f"an Arrow table whose {kind} is {column.type}")
    return table


def reply_shape(table: pa.Table, kinds: Sequence[str]) -> Shape | None:
    """The shape of a reply's stamp tensors (None when it has none: no id had a stamp)."""
    import pyarrow as pa

    kind_type = table.schema.field(kinds[0]).type
    if not isinstance(kind_type, pa.FixedShapeTensorType):
        return None
    height, width = kind_type.shape
    return (int(height), int(width))


def _copy_tensor(column: pa.ChunkedArray, into: np.ndarray) -> None:
    """A fixed-shape tensor column's values copied into `into` (rows, height, width)."""
    row = 0
    for chunk in column.chunks:
        if len(chunk):
            into[row : row + len(chunk)] = chunk.to_numpy_ndarray()
            row += len(chunk)
