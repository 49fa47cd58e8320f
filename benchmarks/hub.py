"""A real JupyterHub with the shipped config: start time, and latency through its proxy vs direct.

Starts the hub exactly as tests/integration/test_jupyterhub.py does (tests/support/hub.py) on a
fresh demo lake, then measures:

- the hub's start (launch until its API and the managed service answer) and a user server's
  spawn (API call until ready);
- per-request latency of ``/api/v1/cutouts`` (one FITS stamp, latest alert of an object) through
  configurable-http-proxy and straight to the server, for alice's server (its extension) and
  for the hub service (token checked with the hub); both paths get the same objects, in
  alternating order, after the same warm-up on other objects;
- the hub API calls the service makes for 50 requests with a new token (the hub's access log).

The seed's method on the same lake (in-process, no HTTP) is printed for scale.

Run: python benchmarks/hub.py [--requests 200]
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

import requests
from _compare import lake_objects, seed_method
from _results import Figures
from _servers import jupyterhub
from _timing import p50_p95_ms

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake


def latency(session: requests.Session, bases: dict[str, str], objects: list[str]) -> dict:
    """p50/p95 ms per base URL; each object once per base, the first base alternating."""
    seconds = {name: [] for name in bases}
    names = list(bases)
    for number, object_id in enumerate(objects):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            params = {"objectId": object_id, "kind": "Science", "return_type": "FITS"}
            start = time.perf_counter()
            reply = session.get(f"{bases[name]}api/v1/cutouts", params=params)
            elapsed = time.perf_counter() - start
            if reply.status_code != 200:
                raise RuntimeError(f"{name}: HTTP {reply.status_code} {reply.text[:200]}")
            seconds[name].append(elapsed)
    return {name: p50_p95_ms(values) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        demo = make_demo_lake(Path(directory) / "lake")
        lake = Lake(demo.root)
        objects = lake_objects(lake)
        random.Random(7).shuffle(objects)
        warm, timed = objects[:20], objects[20 : 20 + args.requests]

        index = AlertIndex(lake)
        calls = [(index.latest(o).path, o) for o in timed]
        seed_method(lake, index.latest(warm[0]).path, warm[0], ("Science",))
        seed_seconds = []
        for path, object_id in calls:
            start = time.perf_counter()
            seed_method(lake, path, object_id, ("Science",))
            seed_seconds.append(time.perf_counter() - start)
        seed50, _ = p50_p95_ms(seed_seconds)

        report = Figures("hub", args)
        with jupyterhub(Path(directory) / "hub", str(demo.root)) as hub:
            report.print(
                f"hub start (launch -> hub API and service answer): {hub.started_seconds:.2f} s",
                hub_start_s=hub.started_seconds,
            )
            hub.token("alice")  # logging in and asking for a token is not the spawn
            start = time.perf_counter()
            hub.start_server("alice")
            spawn = time.perf_counter() - start
            report.print(
                f"alice's server spawn (API call -> ready): {spawn:.2f} s", user_spawn_s=spawn
            )

            session = requests.Session()
            session.headers["Authorization"] = f"token {hub.token('alice')}"
            service = hub.service
            bases = {
                "user server via proxy": f"{hub.url}/user/alice/",
                "user server direct": f"{hub.direct_url('/user/alice')}/user/alice/",
                "hub service via proxy": f"{hub.url}/services/{service}/",
                "hub service direct": f"http://127.0.0.1:{hub.service_port}/services/{service}/",
            }
            latency(session, bases, warm)
            figures = latency(session, bases, timed)
            for name, (p50, p95) in figures.items():
                key = name.replace(" ", "_")
                report.print(
                    f"{name:22s}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ({len(timed)} requests)",
                    **{f"{key}_p50_ms": p50, f"{key}_p95_ms": p95},
                )
            report.print(
                f"seed method (in-process, no HTTP): p50 {seed50:.2f} ms", seed_p50_ms=seed50
            )

            token = hub.new_token("bob", note="benchmark")
            before = hub.api_calls()
            bob = requests.Session()
            bob.headers["Authorization"] = f"token {token}"
            for object_id in timed[:50]:
                params = {"objectId": object_id, "kind": "Science", "return_type": "FITS"}
                bob.get(f"{bases['hub service via proxy']}api/v1/cutouts", params=params)
            time.sleep(0.5)
            hub_calls = hub.api_calls() - before
            report.print(
                f"hub API calls for 50 service requests with a new token: {hub_calls}",
                hub_calls_per_50=hub_calls,
            )
            proxy_cost = figures["user server via proxy"][0] - figures["user server direct"][0]
            report.print(
                f"hub_start_s={hub.started_seconds:.2f} "
                f"user_proxy_p50_ms={figures['user server via proxy'][0]:.2f} "
                f"user_direct_p50_ms={figures['user server direct'][0]:.2f} "
                f"service_proxy_p50_ms={figures['hub service via proxy'][0]:.2f} "
                f"service_direct_p50_ms={figures['hub service direct'][0]:.2f} "
                f"proxy_cost_ms={proxy_cost:.2f} hub_calls_per_50={hub_calls} "
                f"seed_p50_ms={seed50:.2f}",
                proxy_cost_ms=proxy_cost,
            )
        report.write()


if __name__ == "__main__":
    main()
