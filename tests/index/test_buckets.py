"""Bucketed inputs merged bucket by bucket: every row once, in its bucket, each input's bucket
read once. Expected buckets come from `bucket_of`, the pure-Python hash lookups use."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fink_cutout_jupyter.index import buckets
from fink_cutout_jupyter.index.buckets import (
    BucketSource,
    delta_bucket_count,
    merged_buckets,
    table_source,
)
from fink_cutout_jupyter.index.entries import bucket_of, entry_schema


def rows(keys: list[str], first_alert: int) -> pa.Table:
    schema = entry_schema()
    table = schema.empty_table().to_pydict()
    table = {name: [None] * len(keys) for name in table}
    table["object_id"] = keys
    table["alert_id"] = list(range(first_alert, first_alert + len(keys)))
    table["time"] = [float(i % 7) for i in range(len(keys))]
    return pa.table(table, schema=schema)


def bucketed(table: pa.Table, count: int, reads: list) -> BucketSource:
    """`table` split into `count` buckets by `bucket_of`, counting each bucket read."""
    of_rows = [bucket_of(key, count) for key in table["object_id"].to_pylist()]

    def read(bucket: int) -> pa.Table:
        reads.append((count, bucket))
        return table.filter(pa.array([b == bucket for b in of_rows]))

    return BucketSource(count, read)


@pytest.mark.parametrize("out", [1, 2, 4, 16])
def test_inputs_of_any_bucket_counts_merge_into_each_output_bucket_once(out):
    keys = [str(170028485706776685 + 7919 * n) for n in range(600)]
    tables = [rows(keys[0:300], 0), rows(keys[200:500], 1000), rows(keys[100:600:2], 2000)]
    reads: list = []
    sources = [
        bucketed(tables[0], 8, reads),
        table_source(tables[1]),
        bucketed(tables[2], 2, reads),
    ]
    seen = []
    for bucket, merged in merged_buckets(sources, "object_id", out):
        seen.append(bucket)
        merged_keys = merged["object_id"].to_pylist()
        assert all(bucket_of(key, out) == bucket for key in merged_keys)
        whole = pa.concat_tables(tables)
        wanted = whole.filter(
            pa.array([bucket_of(k, out) == bucket for k in whole["object_id"].to_pylist()])
        )
        assert sorted(merged["alert_id"].to_pylist()) == sorted(wanted["alert_id"].to_pylist())
        assert merged_keys == sorted(merged_keys), "sorted by key"
    assert sorted(seen) == list(range(out)), "each output bucket once"
    assert sorted(reads) == sorted({*reads}), "each input bucket read once"
    assert {r for r in reads if r[0] == 8} == {(8, b) for b in range(8)}


def test_an_output_bucket_is_sorted_by_key_then_time_then_alert_id():
    table = rows(["b", "a", "b", "a"], 10)
    table = table.set_column(2, "time", pa.array([2.0, 1.0, 1.0, 1.0]))
    ((_, merged),) = list(merged_buckets([table_source(table)], "object_id", 1))
    assert merged["alert_id"].to_pylist() == [11, 13, 12, 10]
    assert pc.all(pc.equal(merged["object_id"], pa.array(["a", "a", "b", "b"]))).as_py()


def test_delta_buckets_double_until_each_holds_at_most_the_bucket_rows(monkeypatch):
    monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", 100)
    assert [delta_bucket_count(n) for n in (0, 100, 101, 400, 401)] == [1, 1, 2, 4, 8]
    monkeypatch.undo()
    assert delta_bucket_count(10**7) == 128, "a Rubin night: 128 buckets of ~78,000 entries"
