"""What Spark's door runs in the executors: ids located, then read in chunks cut at page ends.

`doors.spark` builds the plan on the driver; the functions it hands to ``mapInArrow`` live here,
module-level (pickled by reference) with their arguments bound by `functools.partial`:

1. `locate`: each id's location through the lake's `AlertIndex` (an object id: its latest
   alert; an alert id: that alert), or its status, with the row, slab (`SLAB_ROWS` rows) and
   data page of its stamps;
2. `located_by_file` (the plan, built on the driver) shuffles the located ids by file, row
   group and slab into `TASKS_PER_CORE` tasks a core and sorts them by row within each task;
3. `read_chunks`: a chunk of about `READ_CHUNK` located ids at a time (cut where a data page
   ends, `MAX_CHUNK` at most) read by `CutoutReader.read_many`, its stamps decoded on the
   worker's threads (`in_threads`), and answered as one Arrow record batch of the answer's
   columns (array or FITS stamps).

Each Python worker keeps one `AlertIndex` and one `CutoutReader` per lake (`opened`), so the
index's files and the lake's open files serve every task the worker runs.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.contract.batch import BatchItem, failure
from fink_cutout_jupyter.contract.batch_formats import item_status, metadata
from fink_cutout_jupyter.cutouts.stamps import StampKinds
from fink_cutout_jupyter.errors import BadParameter, CutoutError, NotFound
from fink_cutout_jupyter.storage.lake import Lake

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.index.lookup import AlertIndex

SLAB_ROWS = 1024  # a file's rows shuffled together (a page cut by a slab's end is read twice)
# Reading tasks a core, a fixed number: the located rows shuffled are small, and Spark's adaptive
# execution, merging partitions by bytes, would give every read to one task.
TASKS_PER_CORE = 4
READ_CHUNK = 256  # alerts read at once by a worker, then cut where a data page ends ...
MAX_CHUNK = 2 * READ_CHUNK  # ... or here at most: ~24 MB of float32 pixels for 3 ZTF stamps
_LOCATED = (
    "id string, status string, hdfsPath string, rowGroup int, row long, slab long, page long, "
    "location binary"
)
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


@dataclass(frozen=True)
class Where:
    """Where the lake and its index are: plain strings, pickled to the executors."""

    lake_uri: str
    science_dir: str
    online_dir: str
    index_root: str


_OPENED: dict[Where, tuple[AlertIndex, CutoutReader]] = {}
_OPENED_LOCK = threading.Lock()


def opened(where: Where) -> tuple[AlertIndex, CutoutReader]:
    """The Python worker's index and reader of a lake, made on first use and kept."""
    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.index.lookup import AlertIndex

    with _OPENED_LOCK:
        if where not in _OPENED:
            lake = Lake(where.lake_uri, where.science_dir, where.online_dir)
            index = AlertIndex(lake, where.index_root or None)
            _OPENED[where] = (index, CutoutReader(lake, None, index))
        return _OPENED[where]


def locate(where: Where, by_object: bool, kind: str, batches: Iterable[pa.RecordBatch]):
    """Executor: each id with its location (pickled), where its row is and the data page of its
    `kind` stamp (-1 if not indexed), or its status."""
    import pyarrow as pa

    index, _ = opened(where)
    for batch in batches:
        columns: dict[str, list] = {name: [] for name in _located_names()}
        for value in batch.column(0).to_pylist():
            status, location = _located(index, value, by_object)
            page = -1
            if location is not None and location.page_spans:
                page = location.page_spans[kind][0].offset
            columns["id"].append(value)
            columns["status"].append(status)
            columns["hdfsPath"].append(location and location.path)
            columns["rowGroup"].append(location and location.row_group)
            columns["row"].append(location and location.row)
            columns["slab"].append(location and location.row // SLAB_ROWS)
            columns["page"].append(page)
            columns["location"].append(location and pickle.dumps(location, protocol=5))
        yield pa.record_batch(
            {
                "id": pa.array(columns["id"], pa.string()),
                "status": pa.array(columns["status"], pa.string()),
                "hdfsPath": pa.array(columns["hdfsPath"], pa.string()),
                "rowGroup": pa.array(columns["rowGroup"], pa.int32()),
                "row": pa.array(columns["row"], pa.int64()),
                "slab": pa.array(columns["slab"], pa.int64()),
                "page": pa.array(columns["page"], pa.int64()),
                "location": pa.array(columns["location"], pa.binary()),
            }
        )


def _located_names() -> list[str]:
    return [part.split()[0] for part in _LOCATED.split(", ")]


def _located(index: AlertIndex, value: str | None, by_object: bool):
    """(status, location): the id's alert as the batch door finds it, or why not."""
    text = (value or "").strip()
    if not text:
        return "bad id: empty", None
    try:
        location = index.latest(text) if by_object else index.alert(text)
    except NotFound as error:
        return f"not found: {error}", None
    except BadParameter as error:
        return f"bad id: {error}", None
    return "ok", location


def located_by_file(spark, ids, where: Where, by_object: bool, kind: str):
    """The ids (a column ``id`` of text) located, shuffled by file, row group and slab, and
    sorted by row within each task (`_LOCATED`'s columns)."""
    with without_pandas_warning():
        located = ids.mapInArrow(partial(locate, where, by_object, kind), _LOCATED)
    tasks = max(1, spark.sparkContext.defaultParallelism * TASKS_PER_CORE)
    grouped = located.repartition(tasks, "hdfsPath", "rowGroup", "slab")
    return grouped.sortWithinPartitions("hdfsPath", "rowGroup", "row")


@contextlib.contextmanager
def without_pandas_warning() -> Iterator[None]:
    """pyspark's mapInArrow checks pandas' version and warns of pandas 3; no pandas is used."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _PANDAS_WARNING, FutureWarning)
        yield


def read_chunks(
    where: Where,
    kinds: StampKinds,
    output: str,
    columns: Sequence[tuple[str, str]],
    batches: Iterable[pa.RecordBatch],
):
    """Executor: the located ids (sorted by file and row) read in chunks cut at page ends, each
    answered as a record batch of `columns` (`doors.spark.output_schema`)."""
    _, reader = opened(where)
    pending: list[dict[str, Any]] = []
    for batch in batches:
        for row in batch.to_pylist():
            if len(pending) >= MAX_CHUNK or (
                len(pending) >= READ_CHUNK and _page_of(row) != _page_of(pending[-1])
            ):
                yield _answer(reader, pending, kinds, output, columns)
                pending = []
            pending.append(row)
    if pending:
        yield _answer(reader, pending, kinds, output, columns)


def _page_of(row: dict[str, Any]) -> tuple:
    return row["hdfsPath"], row["rowGroup"], row["page"]


def _answer(
    reader: CutoutReader,
    rows: list[dict[str, Any]],
    kinds: StampKinds,
    output: str,
    columns: Sequence[tuple[str, str]],
) -> pa.RecordBatch:
    """One chunk of located ids read (`read_many`), as the answer's Arrow batch."""
    items = [
        BatchItem(
            row["id"],
            row["status"],
            pickle.loads(row["location"]) if row["location"] is not None else None,
        )
        for row in rows
    ]
    located = [item for item in items if item.location is not None]
    read = reader.read_many([item.located for item in located], kinds)
    for item, alert in zip(located, read, strict=True):
        if isinstance(alert, CutoutError):
            item.status = failure(alert)
        else:
            item.stamps = alert.stamps
    stamps = _fits_columns(items, kinds) if output == "FITS" else _array_columns(items, kinds)
    return _record_batch(items, columns, stamps)


def _fits_columns(items: list[BatchItem], kinds: StampKinds) -> dict[str, pa.Array]:
    import pyarrow as pa

    return {
        kind: pa.array(
            [s.fits_bytes if (s := item.stamps.get(kind)) else None for item in items],
            pa.binary(),
        )
        for kind in kinds
    }


def _array_columns(items: list[BatchItem], kinds: StampKinds) -> dict[str, pa.Array]:
    """Each kind's pixels (flat float32 lists, null where none) and shapes; a stamp that does
    not decode is null, and its row's status says why.

    As the batch door's stack: the stamps are decoded and copied into each kind's one buffer on
    every core (`in_threads`), straight from their stored bytes where astropy would not scale
    them (`stored_pixels`: one copy a stamp)."""
    import numpy as np
    import pyarrow as pa

    from fink_cutout_jupyter.cutouts.decode_threads import in_threads

    stamps = [item.stamps.get(kind) for item in items for kind in kinds]
    decoded = in_threads(_pixels_or_error, stamps)
    for place, data in enumerate(decoded):
        if isinstance(data, CutoutError):
            items[place // len(kinds)].status = failure(data)
    columns = {}
    for number, kind in enumerate(kinds):
        datas = [d if isinstance(d, np.ndarray) else None for d in decoded[number :: len(kinds)]]
        offsets = np.zeros(len(datas) + 1, dtype=np.int64)
        np.cumsum([0 if d is None else d.size for d in datas], out=offsets[1:])
        values = np.empty(int(offsets[-1]), dtype=np.float32)

        def copied(row: int, datas=datas, offsets=offsets, values=values) -> None:
            if datas[row] is not None:
                values[offsets[row] : offsets[row + 1]] = datas[row].ravel()

        in_threads(copied, range(len(datas)))
        missing = pa.array([d is None for d in datas], pa.bool_())
        columns[kind] = pa.ListArray.from_arrays(
            pa.array(offsets.astype(np.int32)), pa.array(values, pa.float32()), mask=missing
        )
        columns[f"{kind}_height"] = pa.array(
            [None if d is None else d.shape[0] for d in datas], pa.int32()
        )
        columns[f"{kind}_width"] = pa.array(
            [None if d is None else d.shape[-1] for d in datas], pa.int32()
        )
    return columns


def _pixels_or_error(stamp) -> Any:
    """A stamp's pixels (as stored where astropy would give them so: a view), None for no
    stamp, or the `CutoutError` saying why they do not decode."""
    if stamp is None:
        return None
    from fink_cutout_jupyter.cutouts.fits_data import stored_pixels

    try:
        stored = stored_pixels(stamp.fits_bytes)
        return stamp.data if stored is None or stored.ndim != 2 else stored
    except CutoutError as error:
        return error


def _record_batch(
    items: list[BatchItem], columns: Sequence[tuple[str, str]], stamps: dict[str, pa.Array]
) -> pa.RecordBatch:
    import pyarrow as pa

    rows = [metadata(item) for item in items]
    types = {"bigint": pa.int64(), "double": pa.float64(), "string": pa.string()}
    arrays = {}
    for name, kind in columns:
        if name in stamps:
            arrays[name] = stamps[name]
        elif name == "id":
            arrays[name] = pa.array([item.requested for item in items], pa.string())
        elif name == "status":
            arrays[name] = pa.array([item_status(item) for item in items], pa.string())
        else:
            values = [row.get(name) for row in rows]
            if name == "objectId":
                values = [None if v is None else str(v) for v in values]
            arrays[name] = pa.array(values, types[kind])
    return pa.record_batch(arrays)
