"""A Rubin-sized night (10^7 entries) written by the index's own build path, then looked up.

Synthetic entries shaped like Rubin's (no lake): 18-digit diaObjectIds as text keys, 18-digit
diaSourceIds, ~2 alerts per object in the night, 2 % solar-system alerts (no diaObject, keyed
``ss:<ssObjectId>`` in ``objects``), packed page spans of ~100 MB Spark files (as
`index_lookup.packed_spans`), 300 files of ~33,000 alerts. The night goes through
`build.Pending` file by file, as ``index build`` feeds it: the entries spilled by bucket
(`spills.EntrySpill`), the delta written one bucket at a time (`buckets.merged_buckets`).

Each write runs alone in a subprocess whose peak RSS is measured
(``resource.getrusage(RUSAGE_CHILDREN)`` in the parent after it, and ``RUSAGE_SELF`` in it):
- bucketed: this version (the delta hash-bucketed, ``DELTA_BUCKET_ROWS`` entries a bucket at
  most; the night spilled to local files past ``SPILL_ROWS`` entries);
- single file: the same night written as format 6 wrote it: one file per table, the whole
  night held in memory (``DELTA_BUCKET_ROWS`` and ``SPILL_ROWS`` set above the night's size).

Then, for each index, on random keys of the night: fresh (a new `AlertIndex` per lookup:
layout, footer, one batch), cold (decoded batches dropped, footers kept) and warm lookups, by
object and by alert id, p50/p99. Goal: fresh p50 <= 1 ms for the bucketed night.

On HDFS (``ci/services.sh``'s, if its environment is set: ``eval "$(bash ci/services.sh
env)"``): the NameNode calls of a fresh lookup by object id in the bucketed index, counted in
its audit log. Only the files a lookup of those keys opens are uploaded (layout.json and their
buckets): a lookup opens no other file, so the count is the same as with the whole index.

Run: python benchmarks/rubin_night.py [--entries 1e7] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from _results import Figures
from _timing import p50_p99_ms
from index_lookup import packed_spans

from fink_cutout_jupyter.index import buckets, spills
from fink_cutout_jupyter.index.build import IndexedFile, Pending
from fink_cutout_jupyter.index.entries import bucket_of, entry_schema
from fink_cutout_jupyter.index.layout import delta_bucket_file
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.writes import writing
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import LSST

NIGHT = dt.date(2026, 3, 6)
FILES = 300
SOLAR_SYSTEM = 0.02
FIRST_OBJECT, FIRST_SOURCE = 170_028_485_706_776_685, 170_094_456_272_322_680


def file_entries(rng, number: int, count: int, objects: int) -> pa.Table:
    """The entries of the night's file `number` (`count` alerts)."""
    schema = entry_schema()
    solar = pa.array(rng.random(count) < SOLAR_SYSTEM)
    owners = pa.array(FIRST_OBJECT + rng.integers(0, objects, count) * 7919)
    ss_ids = pa.array(21_163_624_394_469_969 + rng.integers(0, 10**6, count))
    nothing = pa.scalar(None, pa.string())
    first = FIRST_SOURCE + number * count
    path = f"science/year=2026/month=03/day=06/part-{number:05d}-c000.snappy.parquet"
    columns = {
        "object_id": pc.if_else(solar, nothing, pc.cast(owners, pa.string())),
        "alert_id": pa.array(np.arange(first, first + count, dtype=np.int64)),
        "time": pa.array(61105.0 + rng.random(count)),
        "night": pa.array(np.full(count, int(f"{NIGHT:%Y%m%d}")), pa.int64()),
        "filter": pc.take(pa.array(list("ugrizy")), pa.array(rng.integers(0, 6, count))),
        "magnitude": pa.array(rng.uniform(-5000, 50000, count)),
        "magnitude_error": pa.array(rng.uniform(50, 500, count)),
        "ra": pa.array(rng.uniform(0, 360, count)),
        "dec": pa.array(rng.uniform(-90, 30, count)),
        "isdiffpos": pa.nulls(count, pa.string()),
        "ss_object_id": pc.if_else(solar, pc.cast(ss_ids, pa.string()), nothing),
        "designation": pc.if_else(solar, pa.scalar("2004 JQ12"), nothing),
        "path": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(count, np.int32)), pa.array([path])
        ).cast(pa.string()),
        "row_group": pa.array(np.arange(count, dtype=np.int32) // 4096),
        "row": pa.array(np.arange(count, dtype=np.int32) % 4096),
        "file_size": pa.array(np.full(count, 100_000_000, dtype=np.int64)),
        "file_mtime_ns": pa.array(np.full(count, 1_772_000_000 * 10**9, dtype=np.int64)),
        "page_spans": packed_spans(rng, count),
    }
    return pa.table(columns, schema=schema)


def write_night(root: Path, entries: int, single_file: bool, keys: Path) -> dict:
    """Subprocess: the night written through `Pending` (as ``index build`` does); its figures."""
    if single_file:  # as format 6 did: the night in memory, one file per table
        buckets.DELTA_BUCKET_ROWS = spills.SPILL_ROWS = 10 * entries
    rng = np.random.default_rng(entries)
    objects = entries // 2
    per_file = entries // FILES
    index = AlertIndex(Lake(root / "lake"), str(root / "index"))
    sample: dict[str, list] = {"objects": [], "alerts": [], "solar": []}
    started = time.perf_counter()

    def indexed_files():
        for number in range(FILES):
            table = file_entries(rng, number, per_file, objects)
            if number % 10 == 0:
                picked = table.slice(0, 400)
                sample["objects"] += [o for o in picked["object_id"].to_pylist() if o]
                sample["alerts"] += picked["alert_id"].to_pylist()
                sample["solar"] += [s for s in picked["ss_object_id"].to_pylist() if s]
            identity = {"size": 100_000_000, "mtime_ns": 0, "alert_ids_sha256": ""}
            yield IndexedFile(LSST, identity, table, 0)

    with writing(index, "benchmark"):
        pending = Pending(index)
        paths = [f"part-{number:05d}" for number in range(FILES)]
        pending.add(NIGHT, paths, indexed_files())
        pending.write()
    seconds = time.perf_counter() - started
    keys.write_text(json.dumps(sample))
    layout = json.loads((root / "index" / "layout.json").read_text())
    (delta,) = layout["deltas"]
    return {
        "write_s": seconds,
        "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "buckets": delta.get("buckets", 1),
        "files": sum(
            sum(1 for n in s if n) if isinstance(s, list) else 1 for s in delta["sizes"].values()
        ),
        "bytes": sum(p.stat().st_size for p in (root / "index" / "delta").rglob("*.arrow")),
    }


def timed(index: AlertIndex, keys: list, how: str) -> list[float]:
    seconds = []
    for key in keys:
        if how == "cold":
            index.forget_decoded()
        if how == "fresh":
            index.close()
            index = AlertIndex(index.lake, index.store, refresh_seconds=3600)
        begin = time.perf_counter()
        found = index.alerts(key) if isinstance(key, str) else [index.alert(key)]
        seconds.append(time.perf_counter() - begin)
        assert found
        assert found[0].page_spans is not None
    return seconds


def lookups(root: Path, keys: dict, count: int) -> dict:
    index = AlertIndex(Lake(root / "lake"), str(root / "index"), refresh_seconds=3600)
    figures = {}
    rng = np.random.default_rng(0)
    for name, pool in (("object", keys["objects"]), ("alert", keys["alerts"])):
        chosen = [pool[i] for i in rng.choice(len(pool), 3 * count)]
        for key in chosen[:200]:
            index.alerts(key) if isinstance(key, str) else index.alert(key)
        figures[f"{name} fresh"] = p50_p99_ms(timed(index, chosen[:count], "fresh"))
        figures[f"{name} cold"] = p50_p99_ms(timed(index, chosen[count : 2 * count], "cold"))
        figures[f"{name} warm"] = p50_p99_ms(timed(index, chosen[2 * count :], "warm"))
    for ss_id in keys["solar"][:20]:
        assert index.solar_system_alerts(ss_id)
    return figures


def namenode_calls(root: Path, keys: list[str]) -> list[int] | None:
    """NameNode calls of a fresh lookup of each key on HDFS (None: no HDFS)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from support.namenode import audit_mark, namenode_calls

    uri = os.environ.get("HDFS_URI")
    if not uri or not os.environ.get("HDFS_AUDIT_LOG"):
        return None
    remote = Lake(f"{uri}/user/{os.environ.get('USER', 'root')}/rubin-night-benchmark?user=root")
    remote.delete("_cutout_index")
    store = remote.subdirectory("_cutout_index")
    layout = json.loads((root / "index" / "layout.json").read_text())
    (delta,) = layout["deltas"]
    store.write_atomically("layout.json", (root / "index" / "layout.json").read_bytes())
    for key in keys:
        relative = delta_bucket_file("objects", delta["name"], bucket_of(key, delta["buckets"]))
        if not store.exists(relative):
            store.write_atomically(relative, (root / "index" / relative).read_bytes())
    counts = []
    for key in keys:
        since = audit_mark()
        index = AlertIndex(remote, refresh_seconds=3600)
        assert index.alerts(key)
        index.close()
        counts.append(len(namenode_calls(since)))
    remote.delete("_cutout_index")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", default="1e7")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--write", help=argparse.SUPPRESS)  # subprocess: "bucketed,<dir>"
    parser.add_argument(
        "--directory", help="keep the indexes there (a night already written there is reused)"
    )
    args = parser.parse_args()
    entries = int(float(args.entries))
    if args.write:
        kind, directory = args.write.split(",", 1)
        root = Path(directory)
        figures = write_night(root, entries, kind == "single", root / "keys.json")
        print(json.dumps(figures))
        return
    report = Figures("rubin_night", args)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("FINK_BENCHMARK_TMP")) as directory:
        for kind in ("bucketed", "single"):
            root = Path(args.directory or directory) / kind
            written = root / "written.json"
            if not written.exists():
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir(parents=True)
                command = [sys.executable, __file__, "--entries", args.entries]
                done = subprocess.run(
                    [*command, "--write", f"{kind},{root}"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                figures = json.loads(done.stdout.splitlines()[-1])
                figures["children_maxrss_mb"] = (
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
                )
                written.write_text(json.dumps(figures))
            figures = json.loads(written.read_text())
            keys = json.loads((root / "keys.json").read_text())
            figures |= lookups(root, keys, args.lookups)
            results[kind] = figures
            print(
                f"{kind}: {entries:,d} entries, {figures['buckets']} buckets, "
                f"{figures['files']} files, {figures['bytes'] / 2**20:.0f} MiB, "
                f"written in {figures['write_s']:.1f} s, "
                f"peak RSS {figures['self_maxrss_mb']:.0f} MB | "
                + " | ".join(
                    f"{name} p50 {value[0]:.3f} ms p99 {value[1]:.3f}"
                    for name, value in figures.items()
                    if isinstance(value, tuple)
                ),
                flush=True,
            )
            if kind == "bucketed":
                try:  # the figures above are kept whatever HDFS does
                    figures["namenode_calls"] = namenode_calls(root, keys["objects"][:20])
                except Exception as error:
                    print(f"HDFS: {error!r}", flush=True)
                print(f"HDFS NameNode calls: {figures.get('namenode_calls')}", flush=True)
    bucketed, single = results["bucketed"], results["single"]
    calls = bucketed.get("namenode_calls")
    fresh, old = bucketed["object fresh"][0], single["object fresh"][0]
    report.print(
        f"fresh object p50: bucketed {fresh:.3f} ms, single file {old:.3f} ms "
        f"({old / fresh:.1f}x); "
        f"peak RSS of the write: bucketed {bucketed['self_maxrss_mb']:.0f} MB, single file "
        f"{single['self_maxrss_mb']:.0f} MB; HDFS NameNode calls of a fresh lookup: "
        + (f"max {max(calls)} (median {int(np.median(calls))})" if calls else "skipped (no HDFS)")
        + f"; load average {os.getloadavg()[0]:.2f}",
        entries=entries,
        bucketed={k.replace(" ", "_"): _ms(v) for k, v in bucketed.items()},
        single_file={k.replace(" ", "_"): _ms(v) for k, v in single.items()},
        fresh_object_ratio=single["object fresh"][0] / bucketed["object fresh"][0],
        fresh_alert_ratio=single["alert fresh"][0] / bucketed["alert fresh"][0],
        namenode_calls_max=max(calls) if calls else None,
    )
    report.write()


def _ms(value):
    if isinstance(value, tuple):
        return {"p50_ms": value[0], "p99_ms": value[1]}
    return value


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        main()
