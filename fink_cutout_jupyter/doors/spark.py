"""Stamps on Spark, for millions of ids: a DataFrame of ids joined to their alerts' stamps.

``cutouts_with_spark(spark, ids_df, lake)`` reads in the executors what the batch door reads in
one process, in two steps of ``mapInArrow`` (their functions: `doors.spark_tasks`):

1. each id is located through the lake's `AlertIndex` (an object id: its latest alert; an alert
   id: that alert), where the ids are;
2. the located ids are shuffled by file, row group and slab of `spark_tasks.SLAB_ROWS` rows
   (`repartition` into `spark_tasks.TASKS_PER_CORE` tasks a core: a file's ids stay together,
   and the ids of one file can still keep every core busy), sorted by row within them
   (`sortWithinPartitions`: the stamps' data pages follow the rows), and read a chunk of about
   `spark_tasks.READ_CHUNK` alerts at a time (cut where a data page ends) by
   `CutoutReader.read_many`: a page holding the stamps of forty requested alerts is read and
   decompressed once, and each row is proven to hold its alert (the file's identity and the
   alert id stored in the row, a rewritten file scanned instead) as everywhere else. A chunk's
   stamps are decoded on the worker's threads (`in_threads`).
   Memory is bounded by the chunk, whatever the number of ids.

An id the index does not know, or that is no id, is a row with its status; an index that
cannot be read (503) fails the task, which Spark retries, then the job: millions of rows saying
"unavailable" would be no answer.

Each Python worker keeps one `AlertIndex` and one `CutoutReader` per lake, so the index's files
and the lake's open files serve every task the worker runs.

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
directory beside `out`, renamed to `out` once complete (`doors.spark_files`: Hadoop's
``FileContext.rename``, which refuses an existing `out`): no reader ever sees a part-written
`out`. Classic Spark (py4j), not Spark Connect.

From a notebook on Fink's cluster::

    from fink_cutout_jupyter.doors.spark import cutouts_with_spark
    stamps = cutouts_with_spark(spark, spark.read.parquet("my_ids.parquet"), "hdfs://...")
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from fink_cutout_jupyter.contract.batch import ALERT_NAMES, OBJECT_NAMES
from fink_cutout_jupyter.contract.batch_formats import FIELDS
from fink_cutout_jupyter.contract.id_files import id_column as id_column_of
from fink_cutout_jupyter.cutouts.stamps import StampKinds
from fink_cutout_jupyter.doors.spark_files import HadoopPath
from fink_cutout_jupyter.doors.spark_tasks import (
    Where,
    located_by_file,
    read_chunks,
    without_pandas_warning,
)
from fink_cutout_jupyter.errors import BadParameter, quote
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import KINDS

OUTPUTS = ("array", "FITS")
BY = ("auto", *OBJECT_NAMES, *ALERT_NAMES)
_FLOAT_COLUMNS = ("jd", "magnitude", "magnitude_error", "ra", "dec")


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
        The column of ids; default: the first of `contract.id_files.ID_COLUMNS` present, or the
        only column.
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
    where = Where(lake.uri, lake.science_dir, lake.online_dir, index)
    column = _id_column(ids_df, id_column)
    by_object = _by_object(ids_df, column, by)
    ids = ids_df.select(ids_df[column].cast("string").alias("id"))
    grouped = located_by_file(spark, ids, where, by_object, kinds[0])
    columns = output_schema(kinds, output)
    with without_pandas_warning():
        return grouped.mapInArrow(
            partial(read_chunks, where, kinds, output, columns), _ddl(columns)
        )


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
        The column of ids in a CSV or Parquet file or a DataFrame (see
        `contract.id_files.ID_COLUMNS`).
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
    target = HadoopPath(spark, out)
    if target.exists():
        raise BadParameter(f"out: {out} exists; remove it or choose another name")
    temporary = target.sibling(f".{target.name}.spark-{uuid.uuid4().hex}.tmp")
    try:
        stamps = cutouts_with_spark(spark, frame, lake, kinds, column, by, index=index)
        # dictionaries do not shrink pixels: parquet-mr would try one per page and drop it
        stamps.write.option("parquet.enable.dictionary", "false").parquet(temporary.uri)
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
    given = HadoopPath(spark, ids)
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
