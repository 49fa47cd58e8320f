"""Latency of /api/v1/cutouts through both doors, beside the seed's method, in one run.

Starts `fink-cutouts serve` and a `jupyter server` with the extension on a fresh demo lake,
then times sequential keep-alive requests (latest alert of random objects, through the index):
a single-kind array, All as arrays, a FITS file and a PNG. The seed's method (pq.read_table with
an objectId filter + astropy + json, in-process, no HTTP) is timed on the same lake.

Run: python benchmarks/http_doors.py [--requests 200]
"""

import argparse
import http.client
import random
import tempfile
import time
import urllib.parse
from pathlib import Path

from _compare import lake_objects, seed_method
from _results import Figures
from _servers import jupyter_server, serving
from _timing import p50_p95_ms

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake

CASES = {
    "single_array": {"kind": "Science"},
    "all_array": {"kind": "All"},
    "fits": {"kind": "Science", "return_type": "FITS"},
    "png": {"kind": "All", "return_type": "PNG", "stretch": "asinh"},
}


def time_requests(port: int, prefix: str, headers: dict, objects: list[str], count: int) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rng = random.Random(3)
    results = {}
    for name, params in CASES.items():
        seconds = []
        for number in range(count + 5):
            query = urllib.parse.urlencode({"objectId": rng.choice(objects), **params})
            start = time.perf_counter()
            connection.request("GET", f"{prefix}api/v1/cutouts?{query}", headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{name}: HTTP {response.status}")
            if number >= 5:
                seconds.append(time.perf_counter() - start)
        results[name] = p50_p95_ms(seconds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    report = Figures("http_doors", args)
    with tempfile.TemporaryDirectory() as directory:
        demo = make_demo_lake(Path(directory) / "lake")
        lake = Lake(demo.root)
        index = AlertIndex(lake)
        objects = lake_objects(lake)
        rng = random.Random(5)
        seed_calls = []
        for _ in range(args.requests):
            location = index.latest(rng.choice(objects))
            seed_calls.append((location.path, location.object_id))
        seed_method(lake, *seed_calls[0], ("Science",))
        seed_seconds = []
        for path, object_id in seed_calls:
            start = time.perf_counter()
            seed_method(lake, path, object_id, ("Science",))
            seed_seconds.append(time.perf_counter() - start)
        seed50, seed95 = p50_p95_ms(seed_seconds)
        report.print(
            f"seed method (in-process, no HTTP): p50 {seed50:.2f} ms p95 {seed95:.2f} ms",
            seed_p50_ms=seed50,
            seed_p95_ms=seed95,
        )

        token = "benchmark-token"
        doors = {
            "standalone": (lambda: serving(str(demo.root)), {}),
            "jupyter": (
                lambda: jupyter_server(
                    str(demo.root), Path(directory), token=token, base_url="/user/bench/"
                ),
                {"Authorization": f"token {token}"},
            ),
        }
        figures = {}
        for door, (start, headers) in doors.items():
            with start() as (url, _):
                address = urllib.parse.urlsplit(url)
                figures[door] = time_requests(
                    address.port, address.path, headers, objects, args.requests
                )
            for name, (p50, p95) in figures[door].items():
                report.print(
                    f"{door:10s} {name:12s}: p50 {p50:6.2f} ms p95 {p95:6.2f} ms "
                    f"({seed50 / p50:.1f}x the seed's single cutout)",
                    **{f"{door}_{name}_p50_ms": p50, f"{door}_{name}_p95_ms": p95},
                )
    standalone = figures["standalone"]
    print(
        f"seed_p50_ms={seed50:.2f} "
        + " ".join(f"{name}_p50_ms={standalone[name][0]:.2f}" for name in CASES)
    )
    report.write()


if __name__ == "__main__":
    main()
