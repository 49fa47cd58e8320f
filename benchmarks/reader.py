"""One cutout from a ~100 MB Spark-like file: the seed's method against ours, in one run.

The file holds real ZTF alerts (part-00002 repeated 35 times with fresh ids): one row group,
snappy, ~1 MB pages, written twice, without and with a page index. The seed (fink-cutout-api) runs
``pq.read_table(path, columns=[objectId, cutoutX], filters=[objectId == X])``, gunzips, opens the
FITS with astropy and serialises ``data.tolist()`` to JSON. Ours looks the alert up in the index,
reads the stamp's data page alone, decodes and serialises it. Bytes read are the process's read
bytes (/proc/self/io rchar) per request. Then ``All`` as arrays through `fink-cutouts serve`.

Run: python benchmarks/reader.py [--requests 200]
"""

import argparse
import gzip
import http.client
import io
import json
import random
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _spark_like import NIGHT, spark_like_table, write_spark_like
from _timing import p50_p95_ms

from fink_cutout_jupyter.formats import arrays_json
from fink_cutout_jupyter.index import AlertIndex
from fink_cutout_jupyter.indexing import build
from fink_cutout_jupyter.lake import Lake
from fink_cutout_jupyter.reader import CutoutReader

KINDS = ("Science", "Template", "Difference")


def read_bytes() -> int:
    with open("/proc/self/io") as stats:
        return int(next(line for line in stats if line.startswith("rchar:")).split()[1])


def seed_method(path: str, object_id: str, kinds) -> bytes:
    from astropy.io import fits

    columns = [f"cutout{kind}" for kind in kinds]
    table = pq.read_table(
        path, columns=["objectId", *columns], filters=[("objectId", "=", object_id)]
    )
    row = table.to_pydict()
    arrays = []
    for column in columns:
        stored = row[column][0]["stampData"]
        with fits.open(io.BytesIO(gzip.decompress(stored)), ignore_missing_simple=True) as hdul:
            arrays.append(hdul[0].data.tolist())
    return json.dumps(arrays).encode()


def our_method(index: AlertIndex, reader: CutoutReader, object_id: str, kinds) -> bytes:
    alert = reader.read_location(index.latest(object_id), kinds)
    return arrays_json([stamp.data for stamp in alert.stamps.values()])


def timed_with_bytes(calls) -> tuple[float, float, float]:
    seconds, volume = [], []
    for call in calls:
        before, start = read_bytes(), time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
        volume.append(read_bytes() - before)
    p50, p95 = p50_p95_ms(seconds)
    return p50, p95, sum(volume) / len(volume)


def compare(
    label: str, lake: Lake, path: str, objects: list[str], kinds, quiet: bool = False
) -> tuple[float, float]:
    index = AlertIndex(lake)
    reader = CutoutReader(lake)
    absolute = lake.resolve(path)
    for object_id in objects[:20]:  # warm both paths: imports, caches, allocator
        seed_method(absolute, object_id, kinds)
    for object_id in objects:
        our_method(index, reader, object_id, kinds)
    seed = timed_with_bytes(lambda o=o: seed_method(absolute, o, kinds) for o in objects)
    ours = timed_with_bytes(lambda o=o: our_method(index, reader, o, kinds) for o in objects)
    stamps = len(kinds)
    seed_mb, our_mb = seed[2] / stamps / 1e6, ours[2] / stamps / 1e6
    if quiet:
        return seed[0] / ours[0], ours[2] / stamps
    print(
        f"{label:34s} seed p50 {seed[0]:6.2f} ms p95 {seed[1]:6.2f} ms {seed_mb:5.1f} MB/stamp"
        f" | ours p50 {ours[0]:5.2f} ms p95 {ours[1]:5.2f} ms {our_mb:5.2f} MB/stamp"
        f" | {seed[0] / ours[0]:5.1f}x (page reads {reader.page_reads}, "
        f"fallbacks {reader.page_fallbacks})"
    )
    return seed[0] / ours[0], ours[2] / stamps


def http_all_p50(root: Path, objects: list[str]) -> float:
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fink_cutout_jupyter.cli",
            "serve",
            "--lake",
            str(root),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        connection = None
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", "/api/v1/openapi.json")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        seconds = []
        for number, object_id in enumerate([objects[0], *objects]):
            query = urllib.parse.urlencode({"objectId": object_id, "kind": "All"})
            start = time.perf_counter()
            connection.request("GET", f"/api/v1/cutouts?{query}")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            if number:
                seconds.append(time.perf_counter() - start)
        return p50_p95_ms(seconds)[0]
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    table = spark_like_table()
    objects = random.Random(11).choices(
        sorted(set(table.column("objectId").to_pylist())), k=args.requests
    )
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for page_index in (False, True):
            root = Path(directory) / f"lake-{page_index}"
            (root / NIGHT).mkdir(parents=True)
            path = f"{NIGHT}/part-00000-spark-like-c000.snappy.parquet"
            write_spark_like(table, root / path, page_index=page_index)
            lake = Lake(root)
            build(AlertIndex(lake), ["20241121"], progress=False)
            size = (root / path).stat().st_size / 1e6
            name = "with page index" if page_index else "no page index"
            print(f"{name}: {size:.0f} MB, {table.num_rows} alerts, 1 row group")
            # One unreported pass first: the process's first ~1 MB reads run slower (allocator
            # warm-up), which would otherwise penalise whichever file is measured first.
            compare("warm-up", lake, path, objects[:100], KINDS, quiet=True)
            single = compare(f"  one cutout ({name})", lake, path, objects, ("Science",))
            everything = compare(f"  All three ({name})", lake, path, objects, KINDS)
            results[page_index] = (single, everything, root)
        (single_ratio, per_stamp), (all_ratio, _), root = results[False]
        http_all = http_all_p50(root, objects)
    print(f"HTTP All as arrays through fink-cutouts serve (no page index): p50 {http_all:.2f} ms")
    print(
        f"single_ratio={single_ratio:.1f} all_ratio={all_ratio:.1f} "
        f"bytes_per_stamp={per_stamp:.0f} http_all_p50_ms={http_all:.2f}"
    )


if __name__ == "__main__":
    main()
