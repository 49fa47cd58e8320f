"""Index build throughput: the single-process build against Spark (local mode), same lake.

A generated lake in Fink's layout (the demo's generator: 25 nights x 4 files = 100 files of
~100 alerts and ~4 MB each, stamps included). Both builds index every night into their own
index root, after one untimed build that warms the OS page cache and the imports alike:
- single: `indexing.build` with 4 threads;
- Spark: `build_with_spark` (nightly deltas) on ``local[2]``, the session started beforehand
  (its start is printed apart); then the same as a compacted base (``base=True``).
Bytes read are counted by the builds themselves (every read of every lake file). The two
indexes are checked to give the same lookups.

Run: python benchmarks/index_build.py [--nights 25] [--files-per-night 4]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _compare import lake_objects
from _results import Figures

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.index.build import build
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.spark import build_with_spark, spark_session
from fink_cutout_jupyter.storage.lake import Lake


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nights", type=int, default=25)
    parser.add_argument("--files-per-night", type=int, default=4)
    args = parser.parse_args()
    figures = Figures("index_build", args)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "lake"
        demo = make_demo_lake(
            root,
            nights=args.nights,
            objects=400,
            index=False,
            files_per_night=args.files_per_night,
        )
        lake = Lake(root)
        megabytes = sum(f.stat().st_size for f in root.rglob("*.parquet")) / 1e6
        figures.print(
            f"lake: {len(demo.files)} files, {demo.alerts} alerts, {megabytes:.0f} MB",
            lake_files=len(demo.files),
            lake_alerts=demo.alerts,
            lake_mb=megabytes,
        )
        build(AlertIndex(lake, f"{directory}/warm-up"), lake.nights(), progress=False)

        started = time.perf_counter()
        spark = spark_session("local[2]")
        spark_start = time.perf_counter() - started
        figures.print(
            f"Spark session start: {spark_start:.1f} s (not counted)", spark_start_s=spark_start
        )

        summary = build_with_spark(spark, lake, index=f"{directory}/spark", progress=False)
        spark_seconds = summary.seconds
        base = build_with_spark(spark, lake, index=f"{directory}/base", base=True, progress=False)

        started = time.perf_counter()
        reports = build(AlertIndex(lake, f"{directory}/single"), lake.nights(), progress=False)
        single_seconds = time.perf_counter() - started
        alerts = sum(r.entries for r in reports)
        bytes_read = sum(r.bytes_read for r in reports)
        assert summary.alerts == base.alerts == alerts == demo.alerts

        single = AlertIndex(lake, f"{directory}/single")
        on_spark = AlertIndex(lake, f"{directory}/spark")
        assert all(single.alerts(o) == on_spark.alerts(o) for o in lake_objects(lake))
        spark.stop()
        figures.print(
            f"single process (4 threads): {single_seconds:.2f} s, {alerts / single_seconds:.0f} "
            f"alerts/s\nSpark local[2], deltas: {spark_seconds:.2f} s, "
            f"{alerts / spark_seconds:.0f} alerts/s\nSpark local[2], compacted base: "
            f"{base.seconds:.2f} s, {alerts / base.seconds:.0f} alerts/s\n"
            f"bytes read: {bytes_read / 1e6:.1f} MB of {megabytes:.0f} MB "
            f"({bytes_read / alerts:.0f} per alert; Spark read {summary.bytes_read / 1e6:.1f} MB)",
            single_s=single_seconds,
            spark_s=spark_seconds,
            spark_base_s=base.seconds,
            single_alerts_per_s=alerts / single_seconds,
            spark_alerts_per_s=alerts / spark_seconds,
            spark_base_alerts_per_s=alerts / base.seconds,
            bytes_read_mb=bytes_read / 1e6,
            bytes_read_per_alert=bytes_read / alerts,
            spark_bytes_read_mb=summary.bytes_read / 1e6,
        )
        print(
            f"single_alerts_per_s={alerts / single_seconds:.0f} "
            f"spark_alerts_per_s={alerts / spark_seconds:.0f} "
            f"spark_base_alerts_per_s={alerts / base.seconds:.0f} "
            f"bytes_read_per_alert={bytes_read / alerts:.0f}"
        )
    figures.write()


if __name__ == "__main__":
    sys.exit(main())
