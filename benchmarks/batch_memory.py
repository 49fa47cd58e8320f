"""Server memory of the batch door: peak RSS above idle for the largest batch of each format.

A demo lake of ~2,500 alerts (1,000 objects over three nights) is written once under
``$TMPDIR/fink-batch-memory`` and served by a real ``fink-cutouts serve`` process. For each
format (arrow, array, FITS), the largest batch the server accepts for it (all three stamps,
distinct alert ids) is sent once, then four times at once; the server's resident memory is
sampled every 10 ms from /proc. Printed per format: peak RSS above idle (the warmed server's RSS
before the first format) and above the RSS just before, for one request and for four concurrent
ones; the statuses the four got (a 503 is the server refusing to go over its budget); and RSS
above idle 3 s after they all ended.

Run: python benchmarks/batch_memory.py [--port N] [--settle SECONDS]
"""

import argparse
import json
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _results import Figures
from _servers import serving

MB = 1 << 20
ROOT = Path(tempfile.gettempdir()) / "fink-batch-memory"
FORMATS = ("arrow", "array", "FITS")


def the_lake() -> Path:
    from fink_cutout_jupyter.demo.make import make_demo_lake

    if not (ROOT / "done").exists():
        make_demo_lake(ROOT, nights=3, objects=1000, index=True)
        (ROOT / "done").write_text("")
    return ROOT


def alert_ids(root: Path) -> list[int]:
    import pyarrow.parquet as pq

    return [
        candid
        for path in sorted(root.rglob("part-*.parquet"))
        for candid in pq.read_table(path, columns=["candid"])[0].to_pylist()
    ]


def largest_batch(fmt: str) -> int:
    """The most ids of all three kinds the server takes in one request of `fmt`."""
    from fink_cutout_jupyter.contract import batch

    most = getattr(batch, "max_batch_ids", None)
    return most(fmt, 3) if most else batch.MAX_BATCH_IDS


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Sampler:
    """Peak RSS of a process while a block runs, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()

    def __enter__(self):
        self.peak = rss(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss(self.pid))

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss(self.pid))


def post(url: str, body: dict) -> tuple[int, int]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, len(response.read())
    except urllib.error.HTTPError as error:
        return error.code, len(error.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="a free port by default")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before 'after'")
    arguments = parser.parse_args()
    figures = Figures("batch_memory", arguments)
    root = the_lake()
    ids = alert_ids(root)
    results = {}
    with serving(str(root), port=arguments.port) as (url, server):
        base = f"{url}api/v1/"
        for fmt in FORMATS:  # warm: imports and decoders loaded, as on a server in use
            post(f"{base}cutouts", {"candid": ids[:50], "return_type": fmt})
        time.sleep(1)
        idle = rss(server.pid)
        figures.print(
            f"{len(ids)} alerts in the lake; server idle RSS {idle / MB:.0f} MB",
            alerts=len(ids),
            idle_rss_MB=idle / MB,
        )
        for fmt in FORMATS:
            count = min(largest_batch(fmt), len(ids))
            body = {"candid": ids[:count], "return_type": fmt}
            before_one = rss(server.pid)
            with Sampler(server.pid) as one:
                status, size = post(f"{base}cutouts", body)
            time.sleep(arguments.settle)
            before_four = rss(server.pid)
            with Sampler(server.pid) as four, ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(post, [f"{base}cutouts"] * 4, [body] * 4))
            time.sleep(arguments.settle)
            after = rss(server.pid)
            results[fmt] = {
                "ids": count,
                "status": status,
                "body_MB": round(size / MB, 1),
                "one_peak_MB_above_idle": round((one.peak - idle) / MB),
                "one_peak_MB_above_before": round((one.peak - before_one) / MB),
                "four_peak_MB_above_idle": round((four.peak - idle) / MB),
                "four_peak_MB_above_before": round((four.peak - before_four) / MB),
                "four_statuses": [code for code, _ in answers],
                "after_MB_above_idle": round((after - idle) / MB),
            }
            figures.print(f"{fmt} {json.dumps(results[fmt])}", **{fmt: results[fmt]})
    print(json.dumps(results))
    figures.write()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
