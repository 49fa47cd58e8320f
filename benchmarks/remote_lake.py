"""One cutout from a ~100 MB Spark-like file on the real HDFS and S3 of ci/services.sh.

The file is the real ZTF file part-00002 (67 alerts) repeated with fresh ids into one row group
(snappy), like Fink's Spark output. In one run, for random objects, it times the seed's method
(pq.read_table with an objectId filter + astropy + json) against ours (index lookup + one ranged
read of the stamp's data page + json), and reports the bytes each reads (the seed: its column
chunks, from the footer; ours: the page).

Needs the servers: ci/services.sh install, ci/services.sh start, eval "$(ci/services.sh env)".
Run: python benchmarks/remote_lake.py [--copies 35] [--requests 30]
"""

import argparse
import getpass
import os
import random
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _spark_like import NIGHT, spark_like_table, write_spark_like
from _timing import p50_p95_ms

from fink_cutout_jupyter.index import AlertIndex
from fink_cutout_jupyter.indexing import build
from fink_cutout_jupyter.lake import Lake
from fink_cutout_jupyter.reader import CutoutReader


def seed_method(lake: Lake, path: str, object_id: str) -> str:
    import gzip
    import io
    import json

    from astropy.io import fits

    table = pq.read_table(
        lake.resolve(path),
        columns=["objectId", "cutoutScience"],
        filters=[("objectId", "=", object_id)],
        filesystem=lake.filesystem,
    )
    stored = table.to_pydict()["cutoutScience"][0]["stampData"]
    with fits.open(io.BytesIO(gzip.decompress(stored)), ignore_missing_simple=True) as hdul:
        return json.dumps([hdul[0].data.tolist()])


def chunk_bytes(metadata, paths: set[str]) -> int:
    group = metadata.row_group(0)
    return sum(
        group.column(i).total_compressed_size
        for i in range(group.num_columns)
        if any(
            group.column(i).path_in_schema == p
            or group.column(i).path_in_schema.startswith(p + ".")
            for p in paths
        )
    )


def measure(label: str, lake: Lake, table: pa.Table, requests: int) -> None:
    path = f"{NIGHT}/part-00000-bench-c000.snappy.parquet"
    lake.filesystem.create_dir(lake.resolve(NIGHT), recursive=True)
    with lake.filesystem.open_output_stream(lake.resolve(path)) as sink:
        write_spark_like(table, sink)
    index = AlertIndex(lake)
    build(index, ["20241121"], progress=False)
    size = lake.size(path)
    metadata = pq.ParquetFile(lake.open(path)).metadata
    reader = CutoutReader(lake)
    objects = random.Random(7).sample(sorted(set(table.column("objectId").to_pylist())), requests)
    seed, ours, our_bytes = [], [], []
    for object_id in objects:
        start = time.perf_counter()
        seed_method(lake, path, object_id)
        seed.append(time.perf_counter() - start)
        start = time.perf_counter()
        location = index.latest(object_id)
        our_method_location(reader, location)
        ours.append(time.perf_counter() - start)
        span, _ = location.page_spans["Science"]
        our_bytes.append(span.length + span.dictionary_length)
    seed50, seed95 = p50_p95_ms(seed)
    our50, our95 = p50_p95_ms(ours)
    seed_bytes = chunk_bytes(metadata, {"objectId", "cutoutScience"})
    our_bytes = sum(our_bytes) / len(our_bytes)
    print(
        f"{label}: file {size / 1e6:.0f} MB, {metadata.num_rows} alerts, 1 row group | "
        f"seed p50 {seed50:.0f} ms p95 {seed95:.0f} ms, reads {seed_bytes / 1e6:.1f} MB | "
        f"ours p50 {our50:.1f} ms p95 {our95:.1f} ms, reads {our_bytes / 1e6:.2f} MB "
        f"({reader.page_reads} page reads, {reader.page_fallbacks} fallbacks) | "
        f"ratio {seed50 / our50:.2f}x"
    )


def our_method_location(reader: CutoutReader, location) -> str:
    import json

    from fink_cutout_jupyter.formats import arrays_json

    alert = reader.read_location(location, ["Science"])
    return json.dumps(len(arrays_json([alert.stamps["Science"].data])))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=35)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    if not os.environ.get("HDFS_URI"):
        sys.exit("start the servers first: see ci/services.sh")
    table = spark_like_table(args.copies)
    user = getpass.getuser()
    hdfs = Lake(f"{os.environ['HDFS_URI']}/user/{user}/bench?user={user}&replication=1")
    measure("HDFS", hdfs, table, args.requests)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", os.environ["S3_ACCESS_KEY"])
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", os.environ["S3_SECRET_KEY"])
    endpoint = os.environ["S3_ENDPOINT"]
    s3 = Lake(
        f"s3://fink-bench/lake?endpoint_override={endpoint}&scheme=http&region=us-east-1&allow_bucket_creation=true"
    )
    s3.filesystem.create_dir("fink-bench")
    measure("S3", s3, table, args.requests)


if __name__ == "__main__":
    main()
