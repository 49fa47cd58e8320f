"""Load on `fink-cutouts serve`, with this client in its own process, on a fresh demo lake.

1. Two consecutive runs of mixed requests (arrays, All, FITS, PNG, alerts, the OpenAPI document,
   bad parameters, unknown objects) at `--concurrency`: every answer must have the status its
   request expects (errors are counted), and the server's RSS is read after each run.
2. ``kind=All`` as arrays at `--concurrency`: requests per second and p99.
3. ``openapi.json`` p99, sampled one at a time while another process keeps 64 PNG requests
   running at once.
4. The same under the heavy flood of issue 21: 64 clients asking for ``kind=All`` PNGs with
   ``convolution_kernel=gauss`` and ``interval=zscale``, against this server (renders in worker
   processes) and against a second one rendering in threads as before
   (``FINK_CUTOUTS_RENDER_PROCESSES=0``): openapi.json p50 / p99, and the PNGs answered per
   second during the flood (200s; the rest are 503 busy), with the ratios threads / processes
   (latency) and processes / threads (throughput).
5. ``kind=All`` as arrays at `--concurrency` on stamps that carry their own FITS header each
   (`_own_header_lake`: ZTF-like, 39 cards a stamp, WCS values differing stamp by stamp; written
   once under $TMPDIR): a new server, 200 requests of other objects to warm it, then
   ``--requests / 2`` requests by objectId (each object's latest alert over 30 nights).

The last line: ``rps_all_array=… p99_all_array_ms=… openapi_p99_under_png_flood_ms=…
openapi_p50_heavy_flood_ms=… openapi_p99_heavy_flood_ms=… openapi_p99_heavy_flood_threads_ms=…
openapi_p99_ratio=… png_per_s=… png_per_s_threads=… png_throughput_ratio=… rss_growth_pct=…
errors=… rps_all_array_own_header=… p99_all_array_own_header_ms=…``. Goals (issues 11, 21, 25):
openapi p99 <= 20 ms under either flood, RSS growth <= 10 %, >= 300 requests/s for All arrays at
16-way on 2 cores, >= 500 on the own-header stamps (issue 25).

Run: python benchmarks/load.py [--requests 5000] [--concurrency 16] [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _results import Figures
from _servers import serving

KINDS = ("Science", "Template", "Difference")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def mixed_requests(objects: list[str], count: int, seed: int) -> list[tuple[dict, set[int]]]:
    """(query, statuses it may answer) for `count` requests of every sort."""
    rng = random.Random(seed)
    sorts = [
        lambda o: ({"objectId": o, "kind": rng.choice(KINDS)}, {200}),
        lambda o: ({"objectId": o}, {200}),
        lambda o: ({"objectId": o, "kind": "All", "return_type": "FITS"}, {200}),
        lambda o: ({"objectId": o, "kind": "Science", "return_type": "PNG"}, {200}),
        lambda o: ({"route": "alerts", "objectId": o}, {200}),
        lambda o: ({"route": "openapi.json"}, {200}),
        lambda o: ({"objectId": o, "kind": "Sci"}, {400}),
        lambda o: ({"objectId": "ZTF99zzzzzzz"}, {404}),
        lambda o: ({"candid": "99999999999999999999"}, {400}),
        lambda o: ({"objectId": o, "hdfsPath": "../../etc/passwd"}, {403}),
    ]
    return [rng.choice(sorts)(rng.choice(objects)) for _ in range(count)]


async def run(base: str, requests: list[tuple[dict, set[int]]], concurrency: int):
    """Send `requests` with `concurrency` workers: (seconds of each, errors, wall seconds)."""
    queue = list(reversed(requests))
    seconds, errors = [], []

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            query, expected = queue.pop()
            query = dict(query)
            route = query.pop("route", "cutouts")
            start = time.perf_counter()
            try:
                async with session.get(f"{base}api/v1/{route}", params=query) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as error:
                status = repr(error)
            seconds.append(time.perf_counter() - start)
            if status not in expected:
                errors.append((query, status))

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return seconds, errors, wall


HEAVY = {"convolution_kernel": "gauss", "interval": "zscale"}


def _flood(base: str, objects: list[str], stop, render: dict, answered) -> None:
    """64 PNG requests at a time until `stop` is set (runs in its own process); `answered` gets
    (PNGs answered 200, seconds flooded)."""
    query = {"kind": "All", "return_type": "PNG", **render}
    flood = [({"objectId": o, **query}, {200}) for o in objects]

    async def flooding() -> None:
        pngs, start = 0, time.perf_counter()
        while not stop.is_set():
            seconds, refused, _ = await run(base, flood[:256], 64)
            pngs += len(seconds) - len(refused)
        answered.put((pngs, time.perf_counter() - start))

    asyncio.run(flooding())


def openapi_under_png_flood(
    base: str, objects: list[str], samples: int, render: dict | None = None
) -> tuple[list[float], float]:
    """openapi.json latencies, one request at a time, while another process floods with PNGs
    (`render`: their rendering parameters); and the PNGs answered per second meanwhile."""
    import http.client
    import multiprocessing
    from urllib.parse import urlsplit

    stop, answered = multiprocessing.Event(), multiprocessing.Queue()
    flooder = multiprocessing.Process(
        target=_flood, args=(base, objects, stop, render or {}, answered)
    )
    flooder.start()
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    latencies = []
    try:
        time.sleep(1.0)
        for _ in range(samples):
            start = time.perf_counter()
            connection.request("GET", f"{address.path}api/v1/openapi.json")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)
    finally:
        stop.set()
        pngs, seconds = answered.get(timeout=120)
        flooder.join(timeout=60)
    return latencies, pngs / seconds


def p99_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[int(0.99 * (len(ordered) - 1))] * 1e3


def p50_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[(len(ordered) - 1) // 2] * 1e3


def demo_objects(root: Path) -> list[str]:
    import pyarrow.parquet as pq

    files = sorted((root / "science").rglob("*.parquet"))
    return sorted({o for f in files for o in pq.read_table(f, columns=["objectId"])[0].to_pylist()})


async def measure(base: str, pid: int, objects: list[str], args) -> dict:
    results, rss = {"errors": []}, []
    for number in range(2):
        _, errors, _ = await run(
            base, mixed_requests(objects, args.requests, number), args.concurrency
        )
        results["errors"] += errors
        rss.append(rss_bytes(pid))
    all_arrays = [({"objectId": o, "kind": "All"}, {200}) for o in objects]
    all_arrays = (all_arrays * (args.requests // len(all_arrays) + 1))[: args.requests // 2]
    seconds, errors, wall = await run(base, all_arrays, args.concurrency)
    results["errors"] += errors
    results["rps_all_array"] = len(seconds) / wall
    results["p99_all_array_ms"] = p99_ms(seconds)
    light, _ = await asyncio.to_thread(openapi_under_png_flood, base, objects, args.samples)
    results["openapi_p99_under_png_flood_ms"] = p99_ms(light)
    heavy, results["png_per_s"] = await asyncio.to_thread(
        openapi_under_png_flood, base, objects, args.samples, HEAVY
    )
    results["openapi_p50_heavy_flood_ms"] = p50_ms(heavy)
    results["openapi_p99_heavy_flood_ms"] = p99_ms(heavy)
    results["rss_growth_pct"] = 100 * (rss[1] - rss[0]) / rss[0]
    results["rss_mb"] = [r / 1e6 for r in rss]
    return results


def server_environment(render_processes: str | None = None) -> dict[str, str]:
    """The server's environment (renders in threads with `render_processes` "0")."""
    environment = dict(os.environ)
    if render_processes is not None:
        environment["FINK_CUTOUTS_RENDER_PROCESSES"] = render_processes
    return environment


def heavy_flood_in_threads(root: Path, objects: list[str], samples: int) -> dict:
    """The heavy flood against a server rendering in threads (the way before issue 21)."""
    with serving(str(root), env=server_environment(render_processes="0")) as (base, _):
        latencies, pngs = openapi_under_png_flood(base, objects, samples, HEAVY)
    return {
        "openapi_p50_heavy_flood_threads_ms": p50_ms(latencies),
        "openapi_p99_heavy_flood_threads_ms": p99_ms(latencies),
        "png_per_s_threads": pngs,
    }


def own_header_all_arrays(args) -> dict:
    """``kind=All`` arrays at `args.concurrency` on the own-header lake: req/s, p99, errors."""
    import pyarrow.parquet as pq
    from _own_header_lake import night_files, nights, the_lake

    root = the_lake()
    objects = sorted(
        {
            object_id
            for night in nights()[::5]
            for path in night_files(root, night)
            for object_id in pq.read_table(path, columns=["objectId"])[0].to_pylist()
        }
    )
    chosen = random.Random(25).sample(objects, 200 + args.requests // 2)
    requests = [({"objectId": o, "kind": "All"}, {200}) for o in chosen]
    with serving(str(root), env=server_environment()) as (base, _):
        _, warm_errors, _ = asyncio.run(run(base, requests[:200], args.concurrency))
        seconds, errors, wall = asyncio.run(run(base, requests[200:], args.concurrency))
    return {
        "rps_all_array_own_header": len(seconds) / wall,
        "p99_all_array_own_header_ms": p99_ms(seconds),
        "own_header_errors": warm_errors + errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000, help="per mixed run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=300, help="openapi.json under a flood")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "lake"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "fink_cutout_jupyter.cli",
                "demo",
                "--out",
                str(root),
                "--no-lab",
            ],
            check=True,
            capture_output=True,
        )
        objects = demo_objects(root)
        with serving(str(root), env=server_environment()) as (base, server):
            results = asyncio.run(measure(base, server.pid, objects, args))
        results |= heavy_flood_in_threads(root, objects, args.samples)
    results |= own_header_all_arrays(args)
    results["errors"] += results["own_header_errors"]
    figures = Figures("load", args)
    figures.print(
        f"errors: {results['errors'][:5]} ({len(results['errors'])} in all)",
        errors=len(results["errors"]),
    )
    first, second = results["rss_mb"]
    figures.print(
        f"server RSS after each mixed run: {first:.0f} / {second:.0f} MB", rss_mb=[first, second]
    )
    figures.print(
        "heavy PNG flood (64 clients, All, gauss, zscale), openapi.json p50 / p99: "
        f"render processes {results['openapi_p50_heavy_flood_ms']:.1f} / "
        f"{results['openapi_p99_heavy_flood_ms']:.1f} ms, threads "
        f"{results['openapi_p50_heavy_flood_threads_ms']:.1f} / "
        f"{results['openapi_p99_heavy_flood_threads_ms']:.1f} ms; PNGs answered per second: "
        f"{results['png_per_s']:.0f} / {results['png_per_s_threads']:.0f}",
        **{
            name: results[name]
            for name in (
                "openapi_p50_heavy_flood_ms",
                "openapi_p99_heavy_flood_ms",
                "openapi_p50_heavy_flood_threads_ms",
                "openapi_p99_heavy_flood_threads_ms",
                "png_per_s",
                "png_per_s_threads",
            )
        },
    )
    figures.print(
        f"All as arrays at {args.concurrency}-way: demo stamps (one shared header) "
        f"{results['rps_all_array']:.0f} req/s (p99 {results['p99_all_array_ms']:.1f} ms); "
        f"stamps with their own header {results['rps_all_array_own_header']:.0f} req/s "
        f"(p99 {results['p99_all_array_own_header_ms']:.1f} ms; goal >= 500: "
        f"{'met' if results['rps_all_array_own_header'] >= 500 else 'unmet'})",
        rps_all_array_own_header=results["rps_all_array_own_header"],
        p99_all_array_own_header_ms=results["p99_all_array_own_header_ms"],
    )
    threads_p99 = results["openapi_p99_heavy_flood_threads_ms"]
    p99_ratio = threads_p99 / results["openapi_p99_heavy_flood_ms"]
    png_ratio = results["png_per_s"] / results["png_per_s_threads"]
    figures.print(
        f"rps_all_array={results['rps_all_array']:.0f} "
        f"p99_all_array_ms={results['p99_all_array_ms']:.1f} "
        f"openapi_p99_under_png_flood_ms={results['openapi_p99_under_png_flood_ms']:.1f} "
        f"openapi_p50_heavy_flood_ms={results['openapi_p50_heavy_flood_ms']:.1f} "
        f"openapi_p99_heavy_flood_ms={results['openapi_p99_heavy_flood_ms']:.1f} "
        f"openapi_p99_heavy_flood_threads_ms={threads_p99:.1f} "
        f"openapi_p99_ratio={p99_ratio:.1f} "
        f"png_per_s={results['png_per_s']:.0f} "
        f"png_per_s_threads={results['png_per_s_threads']:.0f} "
        f"png_throughput_ratio={png_ratio:.2f} "
        f"rss_growth_pct={results['rss_growth_pct']:.1f} errors={len(results['errors'])} "
        f"rps_all_array_own_header={results['rps_all_array_own_header']:.0f} "
        f"p99_all_array_own_header_ms={results['p99_all_array_own_header_ms']:.1f}",
        rps_all_array=results["rps_all_array"],
        p99_all_array_ms=results["p99_all_array_ms"],
        openapi_p99_under_png_flood_ms=results["openapi_p99_under_png_flood_ms"],
        openapi_p99_ratio=p99_ratio,
        png_throughput_ratio=png_ratio,
        rss_growth_pct=results["rss_growth_pct"],
    )
    figures.write()


if __name__ == "__main__":
    main()
