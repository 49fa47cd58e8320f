"""A base's buckets: as many as its entries need, each holding exactly the keys hashed to it.

The end-to-end compaction (every alert kept, deltas overriding the base) is in
tests/index/test_build.py; here the expected bucket of each key is `bucket_of`'s, one key at a time.
"""

import pyarrow as pa
import pytest

from fink_cutout_jupyter.index import compaction
from fink_cutout_jupyter.index.compaction import bucket_count, by_bucket
from fink_cutout_jupyter.index.entries import bucket_of


@pytest.mark.parametrize("at_least", [1, 4])
def test_buckets_double_until_each_holds_at_most_the_target(monkeypatch, at_least):
    monkeypatch.setattr(compaction, "TARGET_BUCKET_ROWS", 100)
    assert bucket_count(0, at_least) == at_least
    assert bucket_count(100 * at_least, at_least) == at_least
    assert bucket_count(100 * at_least + 1, at_least) == 2 * at_least
    assert bucket_count(1000, at_least) == 16


def test_each_bucket_holds_exactly_its_keys_in_their_order():
    keys = [f"ZTF{i % 97:09d}" for i in range(1000)]
    table = pa.table({"object_id": keys, "row": list(range(len(keys)))})
    rows_of = by_bucket(table, "object_id", 8)
    seen = []
    for bucket in range(8):
        rows = rows_of(bucket).to_pylist()
        assert all(bucket_of(row["object_id"], 8) == bucket for row in rows)
        assert [row["row"] for row in rows] == sorted(row["row"] for row in rows)
        seen += [row["row"] for row in rows]
    assert sorted(seen) == list(range(len(keys)))
