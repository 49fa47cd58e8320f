"""A ~100 MB Spark-like Fink file for the benchmarks: real ZTF rows, one row group, 1 MB pages."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NIGHT = "science/year=2024/month=11/day=21"


def spark_like_table(copies: int = 35) -> pa.Table:
    """The real file part-00002 (67 alerts) `copies` times, each copy with its own ids."""
    source = pq.read_table(next(SHARED.glob("ztf/lake/**/part-00002-*.parquet")))
    parts = []
    for copy in range(copies):
        suffix = chr(ord("a") + copy // 26) + chr(ord("a") + copy % 26)
        stem = pc.utf8_slice_codeunits(source.column("objectId"), 0, 10)
        ids = pc.binary_join_element_wise(stem, pa.scalar(suffix), "")
        part = source.set_column(source.schema.get_field_index("objectId"), "objectId", ids)
        candid = pc.add(part.column("candid"), copy * 10**12)
        parts.append(part.set_column(part.schema.get_field_index("candid"), "candid", candid))
    return pa.concat_tables(parts)


def write_spark_like(table: pa.Table, sink, page_index: bool = False) -> None:
    """One row group, snappy, ~1 MB data pages, stamps not dictionary-encoded (as Spark does)."""
    pq.write_table(
        table,
        sink,
        compression="snappy",
        row_group_size=table.num_rows,
        data_page_size=1 << 20,
        write_batch_size=16,
        use_dictionary=["objectId", "candidate.isdiffpos"],
        write_page_index=page_index,
    )
