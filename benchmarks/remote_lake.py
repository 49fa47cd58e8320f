"""One cutout and all three from a ~100 MB Spark-like file on the real HDFS and S3 of
ci/services.sh: the seed's method against ours, in one run.

The file is the real ZTF file part-00002 (67 alerts) repeated with fresh ids into one row group
(snappy), like Fink's Spark output. Figures (warm, cold index, fresh index) and bytes read
(counted through the filesystem) are measured as _compare.py says: one reader serves them all, so
the file's identity (kept a second) and its open handle are the server's, as for a night's files
users browse. A last figure gives a new reader per request: the first read of a file (identity
checked, file opened), on other objects again.

Needs the servers: ci/services.sh install, ci/services.sh start, eval "$(ci/services.sh env)".
Run: python benchmarks/remote_lake.py [--copies 35] [--requests 30]
"""

import argparse
import getpass
import os
import random
import statistics
import sys

from _compare import _time, compare, our_method
from _results import Figures
from _spark_like import NIGHT, spark_like_table, write_spark_like

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.index.build import build
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake

KINDS = ("Science", "Template", "Difference")


def measure(label: str, lake: Lake, table, requests: int, figures: Figures) -> dict:
    path = f"{NIGHT}/part-00000-bench-c000.snappy.parquet"
    lake.filesystem.create_dir(lake.resolve(NIGHT), recursive=True)
    with lake.filesystem.open_output_stream(lake.resolve(path)) as sink:
        write_spark_like(table, sink)
    build(AlertIndex(lake), ["20241121"], progress=False)
    lake_key = label.lower()
    figures.print(
        f"{label}: file {lake.size(path) / 1e6:.0f} MB, {table.num_rows} alerts, 1 row group",
        **{f"{lake_key}_file_mb": lake.size(path) / 1e6, f"{lake_key}_alerts": table.num_rows},
    )
    objects = sorted(set(table.column("objectId").to_pylist()))
    results = {}
    for name, kinds, seed in (("one cutout", ("Science",), 7), ("All three", KINDS, 8)):
        chosen = random.Random(seed).sample(objects, 20 + 4 * requests)
        sets = {"warm": chosen[:20]}
        for number, key in enumerate(("timed", "cold", "fresh", "file")):
            sets[key] = chosen[20 + number * requests : 20 + (number + 1) * requests]
        results[name] = compare(lake, path, sets, kinds)
        short = "single" if len(kinds) == 1 else "all"
        figures.print(
            results[name].line(f"  {name}", len(kinds)),
            **{f"{lake_key}_{short}": results[name].figures()},
        )
        index, seconds = AlertIndex(lake), []
        for object_id in sets["file"]:  # a new reader each: no identity kept, no open handle
            reader = CutoutReader(lake)
            seconds.append(
                _time(lambda o=object_id, r=reader, i=index, k=kinds: our_method(i, r, o, k))
            )
            reader.files.close()
        first = statistics.median(seconds) * 1e3
        figures.print(
            f"  {name}, file not read in the last second (identity checked, file opened): "
            f"p50 {first:.2f} ms, {results[name].seed.p50_ms / first:.1f}x",
            **{f"{lake_key}_{short}_first_read_of_file_p50_ms": first},
        )
        results[name].first_file_ms = first
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=35)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    if not os.environ.get("HDFS_URI"):
        sys.exit("start the servers first: see ci/services.sh")
    figures = Figures("remote_lake", args)
    table = spark_like_table(args.copies)
    user = getpass.getuser()
    hdfs = Lake(f"{os.environ['HDFS_URI']}/user/{user}/bench?user={user}&replication=1")
    results = {"hdfs": measure("HDFS", hdfs, table, args.requests, figures)}
    os.environ.setdefault("AWS_ACCESS_KEY_ID", os.environ["S3_ACCESS_KEY"])
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", os.environ["S3_SECRET_KEY"])
    endpoint = os.environ["S3_ENDPOINT"]
    s3 = Lake(
        f"s3://fink-bench/lake?endpoint_override={endpoint}&scheme=http&region=us-east-1&allow_bucket_creation=true"
    )
    s3.filesystem.create_dir("fink-bench")
    results["s3"] = measure("S3", s3, table, args.requests, figures)
    ratios = {}
    for lake, measured in results.items():
        for short, name in (("single", "one cutout"), ("all", "All three")):
            seed, warm, cold = measured[name].seed, measured[name].warm, measured[name].cold
            first = measured[name].first_file_ms
            ratios[f"{lake}_{short}_ratio"] = seed.p50_ms / warm.p50_ms
            ratios[f"{lake}_{short}_cold_index_ratio"] = seed.p50_ms / cold.p50_ms
            ratios[f"{lake}_{short}_first_read_of_file_ratio"] = seed.p50_ms / first
    figures.print(" ".join(f"{name}={ratio:.1f}" for name, ratio in ratios.items()), **ratios)
    figures.write()


if __name__ == "__main__":
    main()
