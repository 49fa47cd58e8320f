"""One cutout and all three from a ~100 MB Spark-like file on the real HDFS and S3 of
ci/services.sh: the seed's method against ours, in one run.

The file is the real ZTF file part-00002 (67 alerts) repeated with fresh ids into one row group
(snappy), like Fink's Spark output. Figures (warm, cold index, fresh index) and bytes read
(counted through the filesystem) are measured as _compare.py says: one reader serves them all, so
the file's identity (kept a second) and its open handle are the server's, as for a night's files
users browse. A last figure gives a new reader per request: the first read of a file (identity
checked, file opened), on other objects again.

Then stamps that carry their own FITS header each (`_own_header_lake`: a ~95 MB file of 2,500
ZTF-like alerts, 39 cards a stamp, WCS values differing stamp by stamp) copied to HDFS: All three
in-process as above, and over HTTP (``fink-cutouts serve`` on the HDFS lake, one keep-alive
connection, ``kind=All`` as arrays, after 20 requests of other objects) against the seed's method
on the same file: p50s and their ratio (issue 25's goal: >= 15x).

Needs the servers: ci/services.sh install, ci/services.sh start, eval "$(ci/services.sh env)".
Run: python benchmarks/remote_lake.py [--copies 35] [--requests 30]
"""

import argparse
import getpass
import http.client
import os
import random
import statistics
import sys
import time
from urllib.parse import urlencode, urlsplit

from _compare import _time, compare, our_method
from _results import Figures
from _servers import serving
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


def own_header_over_http(requests: int, figures: Figures) -> dict:
    """All three on an own-header file on HDFS: the seed's method, ours in-process and over
    HTTP (p50s, ratios)."""
    import pyarrow.parquet as pq
    from _own_header_lake import FIRST_NIGHT, night_files, the_lake

    local = night_files(the_lake(), FIRST_NIGHT)[0]
    user = getpass.getuser()
    lake = Lake(
        f"{os.environ['HDFS_URI']}/user/{user}/bench-own-header-remote?user={user}&replication=1"
    )
    lake.filesystem.delete_dir_contents(lake.base, missing_dir_ok=True)
    path = f"science/year={FIRST_NIGHT:%Y}/month={FIRST_NIGHT:%m}/day={FIRST_NIGHT:%d}/{local.name}"
    lake.filesystem.create_dir(lake.resolve(path).rsplit("/", 1)[0], recursive=True)
    with (
        open(local, "rb") as source,
        lake.filesystem.open_output_stream(lake.resolve(path)) as sink,
    ):
        while chunk := source.read(8 << 20):
            sink.write(chunk)
    build(AlertIndex(lake), [FIRST_NIGHT], progress=False)
    figures.print(
        f"HDFS, stamps with their own header: file {lake.size(path) / 1e6:.0f} MB, "
        f"{pq.ParquetFile(local).metadata.num_rows} alerts, 1 row group",
        own_header_file_mb=lake.size(path) / 1e6,
    )
    objects = sorted(set(pq.read_table(local, columns=["objectId"])[0].to_pylist()))
    chosen = random.Random(9).sample(objects, 40 + 5 * requests)
    sets = {"warm": chosen[:20]}
    for number, key in enumerate(("timed", "cold", "fresh", "http")):
        sets[key] = chosen[20 + number * requests : 20 + (number + 1) * requests]
    in_process = compare(lake, path, sets, KINDS)
    figures.print(in_process.line("  All three", len(KINDS)), own_header_all=in_process.figures())
    seed_ms = in_process.seed.p50_ms
    with serving(lake.uri) as (url, _):
        address = urlsplit(url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)

        def ask(object_id: str) -> float:
            query = urlencode({"objectId": object_id, "kind": "All"})
            started = time.perf_counter()
            connection.request("GET", f"{address.path}api/v1/cutouts?{query}")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {body[:300]!r}")
            return time.perf_counter() - started

        for object_id in chosen[-20:]:
            ask(object_id)
        http_ms = statistics.median(ask(object_id) for object_id in sets["http"]) * 1e3
    figures.print(
        f"  All three over HTTP (fink-cutouts serve on HDFS): p50 {http_ms:.2f} ms, "
        f"{seed_ms / http_ms:.1f}x the seed's method (p50 {seed_ms:.1f} ms; in-process warm "
        f"{seed_ms / in_process.warm.p50_ms:.1f}x); goal >= 15x: "
        f"{'met' if seed_ms / http_ms >= 15 else 'unmet'}",
        own_header_http_p50_ms=http_ms,
    )
    return {
        "hdfs_own_header_all_ratio": seed_ms / in_process.warm.p50_ms,
        "hdfs_own_header_all_http_ratio": seed_ms / http_ms,
    }


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
    ratios |= own_header_over_http(args.requests, figures)
    figures.print(" ".join(f"{name}={ratio:.1f}" for name, ratio in ratios.items()), **ratios)
    figures.write()


if __name__ == "__main__":
    main()
