"""Stamps on Spark, for millions of ids: a DataFrame of ids joined to their alerts' stamps.

``cutouts_with_spark(spark, ids_df, lake)`` reads in the executors what the batch door reads in
one process, in two steps of ``mapInArrow``:

1. each id is located through the lake's `AlertIndex` (an object id: its latest alert; an alert
   id: that alert), where the ids are;
2. the located ids are shuffled by file, row group and slab of `SLAB_ROWS` rows (`repartition`
   into `TASKS_PER_CORE` tasks a core: a file's ids stay together, and the ids of one file can
   still keep every core busy), sorted by row within them (`sortWithinPartitions`: the stamps'
   data pages follow the rows), and read a chunk of about `READ_CHUNK` alerts at a time (cut
   where a data page ends) by `CutoutReader.read_many`: a page holding the stamps of forty
   requested alerts is read and decompressed once, and each row is proven to hold its alert
   (the file's identity and the alert id stored in the row, a rewritten file scanned instead)
   as everywhere else. A chunk's stamps are decoded on the worker's threads (`in_threads`).
   Memory is bounded by the chunk, whatever the number of ids.

An id the index does not know, or that is no id, is a row with its status; an index that
cannot be read (503) fails the task, which Spark retries, then the job: millions of rows saying
"unavailable" would be no answer.

Each Python worker keeps one `AlertIndex` and one `CutoutReader` per lake (`_opened`), so the
index's files and the lake's open files serve every task the worker runs.

The answer has one row per input id, **in no particular order** (join it back on ``id``):
``id`` (the id as text), ``status`` (``ok``, or why the id has no stamps: ``not found: ...``,
``bad id: ...``, ``corrupt: ...``, ``unavailable: ...``, as the batch door says it), the alert's
``objectId``, ``alertId``, ``jd``, ``date`` and display fields (those of
`batch_formats.metadata`), ``hdfsPath``, then each kind asked for:

- ``output="array"``: ``<kind>`` is ``array<float>``, the stamp's float32 pixels flattened in
  row-major order, NaN kept, with ``<kind>_height`` and ``<kind>_width``:
  ``np.asarray(row.Science, np.float32).reshape(row.Science_height, row.Science_width)``.
  Flat rather than ``array<array<float>>``: in Arrow and Parquet a flat list is one offsets
  buffer and one contiguous float buffer (a column of stamps of one shape reshapes to
  ``(n, height, width)`` without a copy), where nested lists double the levels every writer and
  reader walks and make Spark build 63 inner arrays per stamp. Each kind has its own shape: no
  stamp is cut or padded (ZTF stamps at a CCD edge are smaller), unlike the batch door's stack.
- ``output="FITS"``: ``<kind>`` is ``binary``, the FITS file as the alert carries it (ZTF's
  gunzipped), byte for byte what the single-alert door serves.

A kind that has no stamp, or whose stamp does not decode, is null (the status says which).

``export_with_spark(spark, ids, lake, out)`` writes that DataFrame as a Parquet dataset (a
directory of part files, readable by pyarrow, pandas and Spark), through Spark into a temporary
directory beside `out`, renamed to `out` once complete (Hadoop's ``FileContext.rename``, which
refuses an existing `out`): no reader ever sees a part-written `out`. Classic Spark (py4j), not
Spark Connect.

From a notebook on Fink's cluster::

    from fink_cutout_jupyter.doors.spark import cutouts_with_spark
    stamps = cutouts_with_spark(spark, spark.read.parquet("my_ids.parquet"), "hdfs://...")
"""

from __future__ import annotations

import contextlib
import pickle
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.contract.batch import ALERT_NAMES, OBJECT_NAMES, BatchItem, failure
from fink_cutout_jupyter.contract.batch_formats import FIELDS, item_status, metadata
from fink_cutout_jupyter.contract.id_files import id_column as id_column_of
from fink_cutout_jupyter.cutouts.stamps import StampKinds
from fink_cutout_jupyter.errors import BadParameter, CutoutError, NotFound, quote
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import KINDS

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.index.lookup import AlertIndex

OUTPUTS = ("array", "FITS")
BY = ("auto", *OBJECT_NAMES, *ALERT_NAMES)
SLAB_ROWS = 1024  # a file's rows shuffled together (a page cut by a slab's end is read twice)
# Reading tasks a core, a fixed number: the located rows shuffled are small, and Spark's adaptive
# execution, merging partitions by bytes, would give every read to one task.
TASKS_PER_CORE = 4
READ_CHUNK = 256  # alerts read at once by a worker, then cut where a data page ends ...
MAX_CHUNK = 2 * READ_CHUNK  # ... or here at most: ~24 MB of float32 pixels for 3 ZTF stamps
_FLOAT_COLUMNS = ("jd", "magnitude", "magnitude_error", "ra", "dec")
_LOCATED = (
    "id string, status string, hdfsPath string, rowGroup int, row long, slab long, page long, "
    "location binary"
)
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


@dataclass
class SparkExport:
    """What `export_with_spark` wrote: the Parquet dataset, its rows by status, its seconds."""

    out: str
    rows: int
    ok: int
    not_found: int
    failed: int
    seconds: float


def cutouts_with_spark(
    spark,
    ids_df,
    lake: Lake | str,
    kinds: Sequence[str] = KINDS,
    id_column: str | None = None,
    by: str = "auto",
    output: str = "array",
    *,
    index: str = "",
):
    """The stamps of the ids of `ids_df`, read on the executors: one row per id, any order.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    ids_df : pyspark.sql.DataFrame
        The ids, in a column of strings or integers (floating-point ids are refused: they lose
        the digits of ZTF and Rubin ids). Null or empty ids get a ``bad id`` status.
    lake : Lake or str
        The lake root (a directory, ``hdfs://`` or ``s3://`` URI), or a `Lake` made from one;
        every executor must reach it (a local directory: only on ``local`` masters or a shared
        mount).
    kinds : sequence of str
        Which stamps, some of ``Science``, ``Template``, ``Difference``.
    id_column : str, optional
        The column of ids; default: the first of `contract.id_files.ID_COLUMNS` present, or the only column.
    by : {"auto", "objectId", "candid", "diaObjectId", "diaSourceId"}
        What the ids are: object ids (each object's latest alert) or alert ids. ``auto``: the
        column's name if it is one of those (``alertId`` meaning alert ids), else alert ids if
        every id is a whole number (integer column, or digits only: one Spark job to check),
        else object ids. Rubin object ids are numbers too: pass ``by="diaObjectId"``.
    output : {"array", "FITS"}
        Each stamp's float32 pixels (flattened, with its height and width), or its FITS bytes.
    index : str
        The index root, where it is not the lake's ``_cutout_index``.

    Returns
    -------
    pyspark.sql.DataFrame
        ``id``, ``status``, ``objectId``, ``alertId``, ``jd``, ``date``, the display fields,
        ``hdfsPath``, then per kind its stamp (see the module's docstring). Lazy, as any
        DataFrame: the lake is read when an action runs.
    """
    kinds = StampKinds.of(kinds)
    if output not in OUTPUTS:
        raise BadParameter(f"output: {quote(output)} is not allowed; allowed: {', '.join(OUTPUTS)}")
    if by not in BY:
        raise BadParameter(f"by: {quote(by)} is not allowed; allowed: {', '.join(BY)}")
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    where = _Where(lake.uri, lake.science_dir, lake.online_dir, index)
    column = _id_column(ids_df, id_column)
    by_object = _by_object(ids_df, column, by)
    ids = ids_df.select(ids_df[column].cast("string").alias("id"))
    grouped = _located_by_file(spark, ids, where, by_object, kinds[0])
    with _without_pandas_warning():
        return grouped.mapInArrow(
            partial(_read, where, kinds, output), _ddl(output_schema(kinds, output))
        )


def _located_by_file(spark, ids, where: _Where, by_object: bool, kind: str):
    """The ids (a column ``id`` of text) located, shuffled by file, row group and slab, and
    sorted by row within each task (`_LOCATED`'s columns)."""
    with _without_pandas_warning():
        located = ids.mapInArrow(partial(_locate, where, by_object, kind), _LOCATED)
    tasks = max(1, spark.sparkContext.defaultParallelism * TASKS_PER_CORE)
    grouped = located.repartition(tasks, "hdfsPath", "rowGroup", "slab")
    return grouped.sortWithinPartitions("hdfsPath", "rowGroup", "row")


def export_with_spark(
    spark,
    ids,
    lake: Lake | str,
    out: str,
    kinds: Sequence[str] = KINDS,
    by: str = "auto",
    column: str | None = None,
    *,
    index: str = "",
) -> SparkExport:
    """Write the stamps of `ids` as a Parquet dataset `out`, with Spark, whole or not at all.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    ids : str, DataFrame or sequence
        A file Spark reads (Parquet: ``.parquet``/``.pq`` or a directory of them; CSV with a
        header: ``.csv``; anything else: text, one id a line, blank lines and ``#`` comments
        skipped), a DataFrame,
        or the ids themselves.
    lake : Lake or str
        The lake (see `cutouts_with_spark`).
    out : str
        Where the dataset goes: a path or URI that Spark's Hadoop filesystem takes (a path
        without a scheme is Spark's default filesystem's: local with a ``local`` master, HDFS
        on a cluster set up so). It must not exist.
    kinds, by : see `cutouts_with_spark`.
    column : str, optional
        The column of ids in a CSV or Parquet file or a DataFrame (see `contract.id_files.ID_COLUMNS`).
    index : str
        The index root, where it is not the lake's ``_cutout_index``.

    Returns
    -------
    SparkExport

    Raises
    ------
    BadParameter
        `out` exists (before the write, or when the complete dataset is renamed to it: then the
        dataset written is deleted and the existing `out` left as it was), or bad parameters.
    """
    started = time.perf_counter()
    frame, column = _ids_frame(spark, ids, column)
    target = _HadoopPath(spark, out)
    if target.exists():
        raise BadParameter(f"out: {out} exists; remove it or choose another name")
    temporary = target.sibling(f".{target.name}.spark-{uuid.uuid4().hex}.tmp")
    try:
        stamps = cutouts_with_spark(spark, frame, lake, kinds, column, by, index=index)
        # dictionaries do not shrink pixels: parquet-mr would try one per page and drop it
        stamps.write.option("parquet.enable.dictionary", "false").parquet(temporary.uri)
        _before_rename(temporary.uri)
        temporary.rename_to(target, out)
    except BaseException:
        with contextlib.suppress(Exception):
            temporary.delete()
        raise
    counts = _status_counts(spark, target.uri)
    return SparkExport(
        out=target.uri,
        rows=sum(counts.values()),
        ok=counts.get("ok", 0),
        not_found=counts.get("not found", 0),
        failed=sum(n for reason, n in counts.items() if reason not in ("ok", "not found")),
        seconds=time.perf_counter() - started,
    )


def output_schema(kinds: Sequence[str], output: str = "array") -> list[tuple[str, str]]:
    """The answer's columns as (name, Spark SQL type), in order."""
    columns = [
        ("id", "string"),
        ("status", "string"),
        ("objectId", "string"),
        ("alertId", "bigint"),
        ("jd", "double"),
        ("date", "string"),
        *((name, "double" if name in _FLOAT_COLUMNS else "string") for name in FIELDS),
        ("hdfsPath", "string"),
    ]
    for kind in kinds:
        if output == "FITS":
            columns.append((kind, "binary"))
        else:
            columns += [(kind, "array<float>"), (f"{kind}_height", "int"), (f"{kind}_width", "int")]
    return columns


def _ddl(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in columns)


@contextlib.contextmanager
def _without_pandas_warning() -> Iterator[None]:
    """pyspark's mapInArrow checks pandas' version and warns of pandas 3; no pandas is used."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _PANDAS_WARNING, FutureWarning)
        yield


def _id_column(ids_df, id_column: str | None) -> str:
    """The frame's column of ids, by `id_files.id_column`'s rule (as the single-process export
    chooses a file's), and not of floating-point numbers."""
    column = id_column_of("ids", list(ids_df.columns), id_column)
    kind = ids_df.schema[column].dataType.typeName()
    if kind in ("float", "double"):
        raise BadParameter(
            f"column: {column} holds {kind} ids, which lose the digits of alert ids; read them "
            "as integers or text"
        )
    return column


def _by_object(ids_df, column: str, by: str) -> bool:
    """Whether the ids are object ids (`by`, decided as `cutouts_with_spark` says)."""
    if by != "auto":
        return by in OBJECT_NAMES
    if column in OBJECT_NAMES:
        return True
    if column in (*ALERT_NAMES, "alertId"):
        return False
    if ids_df.schema[column].dataType.typeName() in ("byte", "short", "integer", "long"):
        return False
    ids = ids_df[column]
    other = ids_df.filter(ids.isNotNull() & ~ids.cast("string").rlike(r"^\s*[0-9]+\s*$"))
    return bool(other.limit(1).count())


def _ids_frame(spark, ids, column: str | None):
    """The ids as a DataFrame, and its column of ids (None: `_id_column` chooses)."""
    if hasattr(ids, "schema") and hasattr(ids, "columns"):
        return ids, column
    if not isinstance(ids, str):
        values = [(None if value is None else str(value),) for value in ids]
        return spark.createDataFrame(values, "id string"), "id"
    given = _HadoopPath(spark, ids)
    if not given.exists():
        raise BadParameter(f"ids: {ids} does not exist")
    lowered = ids.rstrip("/").lower()
    if lowered.endswith((".parquet", ".pq")) or given.is_directory():
        return spark.read.parquet(ids), column
    if lowered.endswith(".csv"):
        return spark.read.option("header", True).csv(ids), column
    if column is not None:
        raise BadParameter(f"column: {ids} is read as text (one id a line): no columns")
    from pyspark.sql import functions

    text = spark.read.text(ids).select(functions.trim("value").alias("value"))
    return text.filter((text["value"] != "") & ~text["value"].startswith("#")), "value"


def _status_counts(spark, uri: str) -> dict[str, int]:
    """Rows of the dataset by the reason of their status (``ok``, ``not found``, ...)."""
    from pyspark.sql import functions

    statuses = spark.read.parquet(uri).select("status")
    reason = functions.split(functions.split("status", ";").getItem(0), ":").getItem(0)
    return {row[0]: row[1] for row in statuses.groupBy(reason).count().collect()}


def _before_rename(uri: str) -> None:
    """Called once the dataset is complete under its temporary name (tests pause here)."""


class _HadoopPath:
    """A path of Spark's Hadoop filesystem, on the driver (py4j): what Spark writes through."""

    def __init__(self, spark, path: str, filesystem=None) -> None:
        self.spark = spark
        jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()
        given = jvm.org.apache.hadoop.fs.Path(path)
        self.filesystem = filesystem or given.getFileSystem(self.conf)
        self.path = self.filesystem.makeQualified(given)

    @property
    def uri(self) -> str:
        return str(self.path.toString())

    @property
    def name(self) -> str:
        return str(self.path.getName())

    def exists(self) -> bool:
        return bool(self.filesystem.exists(self.path))

    def is_directory(self) -> bool:
        return bool(self.filesystem.getFileStatus(self.path).isDirectory())

    def sibling(self, name: str) -> _HadoopPath:
        jvm = self.spark.sparkContext._jvm
        return _HadoopPath(
            self.spark, jvm.org.apache.hadoop.fs.Path(self.path.getParent(), name).toString()
        )

    def delete(self) -> None:
        self.filesystem.delete(self.path, True)

    def rename_to(self, target: _HadoopPath, given: str) -> None:
        """Rename, refusing an existing `target` (`BadParameter` naming `given`): HDFS checks
        and renames in one NameNode call; a local filesystem checks just before renaming."""
        jvm = self.spark.sparkContext._jvm
        context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(
            target.path.toUri(), self.conf
        )
        no_options = self.spark.sparkContext._gateway.new_array(
            getattr(jvm.org.apache.hadoop.fs, "Options$Rename"), 0
        )
        try:
            context.rename(self.path, target.path, no_options)
        except Exception as error:  # py4j's Py4JJavaError, its Java exception attached
            java = getattr(error, "java_exception", None)
            if java is not None and "FileAlreadyExists" in str(java.getClass().getName()):
                raise BadParameter(
                    f"out: {given} exists (made while the export ran); the export was not "
                    "written over it"
                ) from None
            raise


@dataclass(frozen=True)
class _Where:
    """Where the lake and its index are: plain strings, pickled to the executors."""

    lake_uri: str
    science_dir: str
    online_dir: str
    index_root: str


_OPENED: dict[_Where, tuple[AlertIndex, CutoutReader]] = {}
_OPENED_LOCK = threading.Lock()


def _opened(where: _Where) -> tuple[AlertIndex, CutoutReader]:
    """The Python worker's index and reader of a lake, made on first use and kept."""
    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.index.lookup import AlertIndex

    with _OPENED_LOCK:
        if where not in _OPENED:
            lake = Lake(where.lake_uri, where.science_dir, where.online_dir)
            index = AlertIndex(lake, where.index_root or None)
            _OPENED[where] = (index, CutoutReader(lake, None, index))
        return _OPENED[where]


def _locate(where: _Where, by_object: bool, kind: str, batches: Iterable[pa.RecordBatch]):
    """Executor: each id with its location (pickled), where its row is and the data page of its
    `kind` stamp (-1 if not indexed), or its status."""
    import pyarrow as pa

    index, _ = _opened(where)
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


def _read(where: _Where, kinds: StampKinds, output: str, batches: Iterable[pa.RecordBatch]):
    """Executor: the located ids (sorted by file and row) read in chunks cut at page ends."""
    _, reader = _opened(where)
    pending: list[dict[str, Any]] = []
    for batch in batches:
        for row in batch.to_pylist():
            if len(pending) >= MAX_CHUNK or (
                len(pending) >= READ_CHUNK and _page_of(row) != _page_of(pending[-1])
            ):
                yield _answer(reader, pending, kinds, output)
                pending = []
            pending.append(row)
    if pending:
        yield _answer(reader, pending, kinds, output)


def _page_of(row: dict[str, Any]) -> tuple:
    return row["hdfsPath"], row["rowGroup"], row["page"]


def _answer(
    reader: CutoutReader, rows: list[dict[str, Any]], kinds: StampKinds, output: str
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
    return _record_batch(items, kinds, output, stamps)


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
    items: list[BatchItem], kinds: StampKinds, output: str, stamps: dict[str, pa.Array]
) -> pa.RecordBatch:
    import pyarrow as pa

    rows = [metadata(item) for item in items]
    types = {"bigint": pa.int64(), "double": pa.float64(), "string": pa.string()}
    arrays = {}
    for name, kind in output_schema(kinds, output):
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
