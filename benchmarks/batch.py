"""The batch door: 10,000 alerts of one night, in random order, locally and on HDFS.

A synthetic lake (the demo's generator, 12,500 objects: ~10,000 alerts a night in four ~100 MB
files, like Fink's) is written once under ``$TMPDIR/fink-batch-bench`` and reused. The 10,000
alerts of its busiest night are asked for by alert id in random order, 1,091 per request (the
door's maximum for three stamps in Arrow, `max_batch_ids`), all three stamps, Arrow output,
through `CutoutAPI` (what both HTTP doors call) and through `CutoutClient.batch` over HTTP to
`fink-cutouts serve`.

- cold: a new `CutoutAPI` (index, files and decoders unopened); the OS page cache is as the lake's
  writing left it (dropped first when this process may write /proc/sys/vm/drop_caches).
- warm: a new `CutoutAPI` that first answered one request's alerts of another night, then the same
  10,000 (so the OS and DataNode caches hold their pages: said as such).

Pages read per stamp is counted by the reader; the distinct pages holding the 10,000 alerts'
stamps and ids are counted from the index, the floor a batch can reach.

HDFS needs the servers: ``bash ci/services.sh start; eval "$(bash ci/services.sh env)"``.
Run: python benchmarks/batch.py
"""

import os
import random
import tempfile
import time
from pathlib import Path

from _results import Figures
from _servers import serving

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.contract.batch import max_batch_ids
from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.index.build import build
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake

ALERTS = 10_000
PER_REQUEST = max_batch_ids("arrow", 3)  # the door's most for three stamps in Arrow (1,091)
ROOT = Path(tempfile.gettempdir()) / "fink-batch-bench"


def the_lake() -> Lake:
    if not (ROOT / "done").exists():
        make_demo_lake(ROOT, nights=3, objects=12_500, index=True, files_per_night=4)
        (ROOT / "done").write_text("")
    return Lake(ROOT)


def night_ids(lake: Lake) -> dict:
    import pyarrow.parquet as pq

    ids = {}
    for night in lake.nights():
        ids[night] = [
            candid
            for path in lake.night_files(night)
            for candid in pq.read_table(lake.resolve(path), columns=["candid"])[0].to_pylist()
        ]
    return ids


def drop_os_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")
        return True
    except OSError:
        return False


def batch_seconds(api: CutoutAPI, ids: list[int]) -> float:
    started = time.perf_counter()
    for first in range(0, len(ids), PER_REQUEST):
        params = {"candid": ids[first : first + PER_REQUEST], "return_type": "arrow"}
        reply = api.handle("cutouts", params, body=True)
        assert reply.status == 200, reply.body[:300]
    return time.perf_counter() - started


def distinct_pages(index: AlertIndex, ids: list[int]) -> int:
    pages = set()
    for candid in ids:
        location = index.alert(candid)
        for name in ("alertId", "Science", "Template", "Difference"):
            pages.add((location.path, location.page_spans[name][0].offset))
    return len(pages)


def measure(lake: Lake, measured: list[int], warmup: list[int]) -> dict:
    figures = {"os_cache_dropped": drop_os_caches()}
    cold = CutoutAPI(lake)
    figures["cold_s"] = batch_seconds(cold, measured)
    figures["pages_read"] = cold.batches.pages_read
    warm = CutoutAPI(lake)
    batch_seconds(warm, warmup)
    figures["warm_s"] = batch_seconds(warm, measured)
    figures["distinct_pages"] = distinct_pages(cold.index, measured)
    figures["distinct_per_request"] = sum(
        distinct_pages(cold.index, measured[first : first + PER_REQUEST])
        for first in range(0, len(measured), PER_REQUEST)
    )
    return figures


def http_seconds(lake: Lake, measured: list[int], warmup: list[int]) -> float:
    with serving(lake.uri) as (url, _):
        client = CutoutClient(url=url, timeout=300)
        client.batch(warmup, progress=False)
        started = time.perf_counter()
        stamps, table = client.batch(measured, progress=False)
        seconds = time.perf_counter() - started
        assert (table["status"].str.startswith("ok")).all()
        assert stamps.shape[:2] == (len(measured), 3)
        return seconds


def hdfs_lake(local: Lake) -> Lake | None:
    if not os.environ.get("HDFS_URI"):
        return None
    import getpass

    user = getpass.getuser()
    lake = Lake(f"{os.environ['HDFS_URI']}/user/{user}/bench-batch?user={user}&replication=1")
    lake.filesystem.delete_dir_contents(lake.base, missing_dir_ok=True)
    for chosen in local.nights():
        for path in local.night_files(chosen):
            lake.filesystem.create_dir(lake.resolve(path).rsplit("/", 1)[0], recursive=True)
            with (
                local.open(path) as source,
                lake.filesystem.open_output_stream(lake.resolve(path)) as sink,
            ):
                while chunk := source.read(8 << 20):
                    sink.write(chunk)
    build(AlertIndex(lake), lake.nights(), progress=False)
    return lake


def main() -> None:
    lake = the_lake()
    ids = night_ids(lake)
    busiest = max(ids, key=lambda night: len(ids[night]))
    measured = random.Random(11).sample(ids[busiest], min(ALERTS, len(ids[busiest])))
    other = next(night for night in ids if night != busiest)
    warmup = random.Random(12).sample(ids[other], PER_REQUEST)
    stamps = 3 * len(measured)

    local = measure(lake, measured, warmup)
    http = http_seconds(lake, measured, warmup)
    remote = hdfs_lake(lake)
    hdfs = measure(remote, measured, warmup) if remote else None

    figures = Figures("batch")
    figures.print(
        f"{len(measured)} alerts of {busiest} in random order, {stamps} stamps, Arrow",
        alerts=len(measured),
        stamps=stamps,
    )
    figures.print(
        f"local, in-process: cold {stamps / local['cold_s']:.0f} stamps/s "
        f"({local['cold_s']:.2f} s; OS cache dropped: {local['os_cache_dropped']}), "
        f"warm {stamps / local['warm_s']:.0f} stamps/s ({local['warm_s']:.2f} s)",
        local_cold_s=local["cold_s"],
        local_warm_s=local["warm_s"],
        local_stamps_per_s=stamps / local["cold_s"],
        local_warm_stamps_per_s=stamps / local["warm_s"],
        os_cache_dropped=local["os_cache_dropped"],
    )
    figures.print(
        f"local, HTTP (fink-cutouts serve, CutoutClient.batch): {stamps / http:.0f} stamps/s",
        http_s=http,
        http_stamps_per_s=stamps / http,
    )
    figures.print(
        f"pages read {local['pages_read']} for {stamps} stamps "
        f"({local['pages_read'] / stamps:.3f} per stamp); distinct pages holding each "
        f"request's alerts' stamps and ids, summed over the {-(-len(measured) // PER_REQUEST)} "
        f"requests: {local['distinct_per_request']}; over all 10,000: {local['distinct_pages']}",
        pages_read=local["pages_read"],
        pages_read_per_stamp=local["pages_read"] / stamps,
        distinct_pages_per_request=local["distinct_per_request"],
        distinct_pages=local["distinct_pages"],
        distinct_pages_per_stamp_per_request=local["distinct_per_request"] / stamps,
    )
    if hdfs:
        figures.print(
            f"HDFS, in-process: cold {stamps / hdfs['cold_s']:.0f} stamps/s "
            f"({hdfs['cold_s']:.2f} s), warm {stamps / hdfs['warm_s']:.0f} stamps/s "
            f"({hdfs['warm_s']:.2f} s; DataNode cache warm)",
            hdfs_cold_s=hdfs["cold_s"],
            hdfs_warm_s=hdfs["warm_s"],
            hdfs_stamps_per_s=stamps / hdfs["cold_s"],
            hdfs_warm_stamps_per_s=stamps / hdfs["warm_s"],
        )
    else:
        print("HDFS: skipped (no HDFS_URI: start ci/services.sh)")
    hdfs_rate = f"{stamps / hdfs['cold_s']:.0f}" if hdfs else "nan"
    print(
        f"local_stamps_per_s={stamps / local['cold_s']:.0f} "
        f"local_warm_stamps_per_s={stamps / local['warm_s']:.0f} "
        f"http_stamps_per_s={stamps / http:.0f} hdfs_stamps_per_s={hdfs_rate} "
        f"pages_read_per_stamp={local['pages_read'] / stamps:.3f} "
        f"distinct_pages_per_stamp_per_request={local['distinct_per_request'] / stamps:.3f}"
    )
    figures.write()


if __name__ == "__main__":
    main()
