import pyarrow as pa

from fink_cutout_jupyter.index.entries import bucket_of, bucket_of_keys


def test_buckets_are_stable_and_spread():
    keys = pa.array([f"ZTF{i:09d}" for i in range(20000)])
    buckets = bucket_of_keys(keys, 16)
    assert [bucket_of(k, 16) for k in keys.to_pylist()[:50]] == buckets[:50].tolist()
    counts = [int((buckets == b).sum()) for b in range(16)]
    assert min(counts) > 0.8 * 20000 / 16
    assert bucket_of_keys(pa.array([123, 456]), 8).tolist() == [
        bucket_of("123", 8),
        bucket_of(456, 8),
    ]
    assert bucket_of_keys(pa.chunked_array([["a"], ["b", "c"]]), 4).tolist() == [
        bucket_of(k, 4) for k in "abc"
    ]
