"""Training-set batches: the user's pyarrow scan against `CutoutClient.batch`, in-process and
over HTTP, on stamps that carry their own FITS header each (issue 25), in one run.

The lake (`_own_header_lake`: 30 nights, 5,000 alerts a night in two ~95 MB files, each stamp
63x63 float32 gzipped with its own 39-card header) is written once under $TMPDIR and reused.
Cases, all three stamps, asked for by alert id (``candid``) in random order:

- 100 and 1,000 ids of one night, the whole night (5,000), and 1,000 ids spread over the 30
  nights (~33 a night).

Sides, each measured in a fresh process (``python batch.py --child JOB``) whose imports are done
before the timing, and which first answers, untimed, one alert no set asks for (of the first
night): the scan reads it from its night's files, the clients ask for it (so the server's lazy
imports, done on its first request, stay out of the timing as the child's do):

- scan: the code a user writes with pyarrow alone: ``pq.read_table(the night's files (all 30
  nights' for the spread case), columns=[candid, objectId, the 3 cutout columns],
  filters=[("candid", "in", ids)])``, then per stamp ``fits.open(gzip.decompress(...))[0].data``
  into a float32 stack in the ids' order;
- in-process: ``CutoutClient(lake=root).batch(ids)``;
- HTTP: ``CutoutClient(url=...).batch(ids)`` against ``fink-cutouts serve`` on the lake, a new
  server per case (started, and answering, before the timing).

cold: the process's first call on the case's ids (the index's batches holding them not decoded,
their pages not read; files other than the warm-up's unopened). warm: its second call, on a
disjoint set of the same size (another night; other ids of the 30 nights), its pages never read
by that process. The OS page cache is warm for every side alike: every lake file is read once
before the measurements.

Every side's stamps are compared (``np.array_equal(..., equal_nan=True)``, every case, cold and
warm sets): a mismatch stops the benchmark. Then, with the servers of ``ci/services.sh``
(``eval "$(bash ci/services.sh env)"``), the whole-night case's two nights (and the warm-up's)
are copied to HDFS and the whole-night batch is measured in-process there too (cold; warm on
the other night), its stamps compared alike.

The last line: key=value figures and the goals of issue 25, each ``met`` or ``unmet``: whole
night >= 15,000 stamps/s and >= 5x the scan; >= 3x the scan at 100 and 1,000 ids; >= 10x for
1,000 ids over 30 nights; HTTP time <= 1.5x in-process in every case (cold figures).

Run: python benchmarks/batch.py [--no-hdfs]
Profile of the in-process whole-night batch (cProfile, top 15 by tottime, fresh process):
     python benchmarks/batch.py --profile
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _own_header_lake import KINDS, night_files, nights, the_lake
from _results import Figures
from _servers import serving

SIDES = ("scan", "in-process", "HTTP")
CASES = ("100", "1000", "night", "30 nights")
GOALS = {
    "night_stamps_per_s": 15_000,
    "night_ratio": 5,
    "ratio_100": 3,
    "ratio_1000": 3,
    "ratio_30_nights": 10,
}
MAX_HTTP_OVER_IN_PROCESS = 1.5
WARM_MODULES = (
    "fink_cutout_jupyter.client",
    "fink_cutout_jupyter.contract",
    "fink_cutout_jupyter.cutouts",
    "fink_cutout_jupyter.index",
    "fink_cutout_jupyter.parquet",
    "fink_cutout_jupyter.storage",
)


# ---------------------------------------------------------------- the child: one side measured


def scan(files: list[str], ids: list[int]) -> np.ndarray:
    """The user's code: pyarrow with a filter, astropy per stamp, a float32 stack."""
    import gzip
    import io

    import pyarrow.parquet as pq
    from astropy.io import fits

    columns = ["candid", "objectId", *(f"cutout{kind}" for kind in KINDS)]
    table = pq.read_table(files, columns=columns, filters=[("candid", "in", ids)])
    row_of = {candid: row for row, candid in enumerate(table["candid"].to_pylist())}
    stamps = np.full((len(ids), len(KINDS), 63, 63), np.nan, np.float32)
    for plane, kind in enumerate(KINDS):
        stored = table[f"cutout{kind}"].combine_chunks().field("stampData").to_pylist()
        for number, candid in enumerate(ids):
            data = gzip.decompress(stored[row_of[candid]])
            with fits.open(io.BytesIO(data), ignore_missing_simple=True) as hdus:
                stamps[number, plane] = hdus[0].data
    return stamps


def _import_everything() -> None:
    """What either side imports on its first call, imported before the timing."""
    import importlib
    import io
    import pkgutil

    import pandas  # noqa: F401
    import pyarrow.dataset
    import pyarrow.parquet  # noqa: F401
    import tqdm.auto  # noqa: F401
    from astropy.io import fits

    for name in WARM_MODULES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.zeros((2, 2), np.float32)).writeto(buffer)
    with fits.open(io.BytesIO(buffer.getvalue())) as hdus:
        hdus[0].data.sum()


def child(job_file: str) -> None:
    """Measure one side on the job's sets (the first cold, the others warm); print JSON."""
    job = json.loads(Path(job_file).read_text())
    _import_everything()
    from fink_cutout_jupyter.client import CutoutClient

    seconds, pages_read = [], []
    where = {"url": job["url"], "timeout": 600} if job["url"] else {"lake": job["lake"]}
    client = CutoutClient(**where)
    warm_up = job["warm-up"]
    if job["side"] == "scan":
        scan(warm_up["files"], warm_up["ids"])
    else:
        client.batch(warm_up["ids"], progress=False)
    api = getattr(client.transport, "api", None)  # in-process: count the pages read
    for one in job["sets"]:
        ids = one["ids"]
        pages_before = api.batches.pages_read if api else 0
        started = time.perf_counter()
        if job["side"] == "scan":
            stamps = scan(one["files"], ids)
        else:
            stamps, table = client.batch(ids, progress=False)
        seconds.append(time.perf_counter() - started)
        if job["side"] != "scan":
            statuses = set(table["status"])
            if statuses != {"ok"} or list(table["id"].astype(int)) != ids:
                raise SystemExit(f"{job['side']}: statuses {statuses} or ids not as asked")
            pages_read.append(api.batches.pages_read - pages_before if api else None)
        np.save(one["out"], stamps)
    print(json.dumps({"seconds": seconds, "pages_read": pages_read}))


def profile(root: Path) -> None:
    """cProfile of the in-process whole-night batch in this (fresh) process, imports before."""
    import cProfile
    import pstats

    _import_everything()
    from fink_cutout_jupyter.client import CutoutClient

    cases = _cases(root)
    ids = cases["night"][0]["ids"]
    client = CutoutClient(lake=str(root))
    client.batch(cases["warm-up"][0]["ids"], progress=False)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    stamps, _ = client.batch(ids, progress=False)
    profiler.disable()
    seconds = time.perf_counter() - started
    print(f"in-process whole night under cProfile: {stamps.shape[0] * 3 / seconds:.0f} stamps/s")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


# ---------------------------------------------------------------- the parent: cases and figures


def _night_ids(root: Path) -> dict:
    import pyarrow.parquet as pq

    return {
        night: [
            candid
            for path in night_files(root, night)
            for candid in pq.read_table(path, columns=["candid"])[0].to_pylist()
        ]
        for night in nights()
    }


def _cases(root: Path) -> dict[str, list[dict]]:
    """Each case's two sets (cold, warm): ids in random order and the files the scan reads."""
    rng = random.Random(25)
    by_night = _night_ids(root)
    every_night = nights()
    first, second = every_night[9], every_night[19]
    files = {night: [str(path) for path in night_files(root, night)] for night in every_night}
    every_file = [path for night in every_night for path in files[night]]
    cases = {}
    for name, size in (("100", 100), ("1000", 1000), ("night", None)):
        cases[name] = [
            {
                "ids": rng.sample(by_night[night], size or len(by_night[night])),
                "files": files[night],
            }
            for night in (first, second)
        ]
    spread: list[list[int]] = [[], []]
    for number, night in enumerate(every_night):
        share = 1000 // len(every_night) + (number < 1000 % len(every_night))
        chosen = rng.sample(by_night[night], 2 * share)
        spread[0] += chosen[:share]
        spread[1] += chosen[share:]
    cases["30 nights"] = [{"ids": rng.sample(ids, len(ids)), "files": every_file} for ids in spread]
    used = {candid for sets in cases.values() for one in sets for candid in one["ids"]}
    spare = next(candid for candid in by_night[every_night[0]] if candid not in used)
    cases["warm-up"] = [{"ids": [spare], "files": files[every_night[0]]}]
    return cases


def _run_child(
    side: str, sets: list[dict], warm_up: dict, directory: Path, lake: str, url: str = ""
) -> dict:
    job = directory / f"{side}.json"
    document = {"side": side, "sets": sets, "warm-up": warm_up, "lake": lake, "url": url}
    job.write_text(json.dumps(document))
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(job)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _outputs(sets: list[dict], directory: Path, side: str) -> list[dict]:
    tag = side.replace(" ", "-")
    return [dict(one, out=str(directory / f"{tag}-{n}.npy")) for n, one in enumerate(sets)]


def _same(directory: Path, side: str, other: str, sets: int) -> bool:
    """Whether two sides' stamps are identical for every set, NaN where NaN."""
    for number in range(sets):
        mine = np.load(directory / f"{side.replace(' ', '-')}-{number}.npy", mmap_mode="r")
        theirs = np.load(directory / f"{other.replace(' ', '-')}-{number}.npy", mmap_mode="r")
        if mine.shape != theirs.shape or not np.array_equal(mine, theirs, equal_nan=True):
            return False
    return True


def _warm_os_cache(root: Path) -> float:
    started, total = time.perf_counter(), 0
    for path in sorted((root / "science").rglob("*.parquet")):
        with open(path, "rb") as stream:
            while chunk := stream.read(16 << 20):
                total += len(chunk)
    print(
        f"OS page cache warmed: {total / 1e9:.1f} GB read in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return total


def measure_case(root: Path, name: str, sets: list[dict], warm_up: dict, directory: Path) -> dict:
    """The three sides on one case: seconds (cold, warm) per side; stamps compared."""
    results = {}
    for side in SIDES:
        outputs = _outputs(sets, directory, side)
        if side == "HTTP":
            with serving(str(root)) as (url, _):
                results[side] = _run_child("http", outputs, warm_up, directory, str(root), url)
        else:
            results[side] = _run_child(side, outputs, warm_up, directory, str(root))
    for side in SIDES[1:]:
        if not _same(directory, side, "scan", len(sets)):
            raise SystemExit(f"{name}: {side}'s stamps differ from the scan's: figures void")
    return results


def hdfs_case(root: Path, sets: list[dict], warm_up: dict, directory: Path) -> dict | None:
    """The whole-night batch in-process on HDFS (its nights copied): seconds, compared."""
    if not os.environ.get("HDFS_URI"):
        return None
    import getpass

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    user = getpass.getuser()
    uri = f"{os.environ['HDFS_URI']}/user/{user}/bench-own-header?user={user}&replication=1"
    lake = Lake(uri)
    lake.filesystem.delete_dir_contents(lake.base, missing_dir_ok=True)
    started = time.perf_counter()
    copied = {Path(path) for one in [*sets, warm_up] for path in one["files"]}
    for path in sorted(copied):
        target = lake.resolve(path.relative_to(root).as_posix())
        lake.filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
        with open(path, "rb") as source, lake.filesystem.open_output_stream(target) as sink:
            while chunk := source.read(8 << 20):
                sink.write(chunk)
    build(AlertIndex(lake), lake.nights(), progress=False)
    print(f"HDFS: 3 nights copied and indexed in {time.perf_counter() - started:.0f} s")
    outputs = _outputs(sets, directory, "hdfs")
    result = _run_child("in-process", outputs, warm_up, directory, uri)
    if not _same(directory, "hdfs", "in-process", len(sets)):
        raise SystemExit("HDFS: the stamps differ from the local lake's: figures void")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="profile the whole-night batch")
    parser.add_argument("--no-hdfs", action="store_true", help="skip the HDFS figures")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    root = the_lake()
    if args.profile:
        profile(root)
        return
    figures = Figures("batch", args)
    cases = _cases(root)
    _warm_os_cache(root)
    results, hdfs = {}, None
    with tempfile.TemporaryDirectory(prefix="fink-batch-bench-") as temporary:
        for name in CASES:
            directory = Path(temporary) / name.replace(" ", "-")
            directory.mkdir()
            warm_up = cases["warm-up"][0]
            results[name] = measure_case(root, name, cases[name], warm_up, directory)
            _print_case(figures, name, cases[name], results[name])
            if name == "night" and not args.no_hdfs:
                hdfs = hdfs_case(root, cases[name], warm_up, directory)
            for stale in directory.glob("*.npy"):
                stale.unlink()
    print("every side's stamps equal the scan's (np.array_equal, NaN equal), every case")
    if hdfs:
        stamps = 3 * len(cases["night"][0]["ids"])
        cold, warm = hdfs["seconds"]
        figures.print(
            f"HDFS, in-process, whole night: cold {stamps / cold:.0f} stamps/s ({cold:.2f} s), "
            f"warm {stamps / warm:.0f} stamps/s ({warm:.2f} s; another night, DataNode cache "
            "warm as the copy left it)",
            hdfs_cold_s=cold,
            hdfs_warm_s=warm,
            hdfs_stamps_per_s=stamps / cold,
            hdfs_warm_stamps_per_s=stamps / warm,
        )
    elif args.no_hdfs:
        print("HDFS: skipped (--no-hdfs)")
    else:
        print("HDFS: skipped (no HDFS_URI: start ci/services.sh)")
    _print_goals(figures, cases, results, hdfs)
    figures.write()


def _key(name: str) -> str:
    return name.replace(" ", "_")


def _print_case(figures: Figures, name: str, sets: list[dict], result: dict) -> None:
    stamps = 3 * len(sets[0]["ids"])
    label = {"night": "the whole night", "30 nights": "over 30 nights"}.get(name, "one night")
    for number, state in enumerate(("cold", "warm")):
        scan_s = result["scan"]["seconds"][number]
        local_s = result["in-process"]["seconds"][number]
        http_s = result["HTTP"]["seconds"][number]
        key = f"{_key(name)}_{state}"
        figures.print(
            f"{len(sets[0]['ids']):5d} ids ({label}), {state}: scan {scan_s:6.2f} s "
            f"({stamps / scan_s:6.0f} stamps/s) | in-process {local_s:6.2f} s "
            f"({stamps / local_s:6.0f} stamps/s, {scan_s / local_s:5.2f}x the scan) | HTTP "
            f"{http_s:6.2f} s ({stamps / http_s:6.0f} stamps/s, {scan_s / http_s:5.2f}x the scan,"
            f" {http_s / local_s:4.2f}x in-process time)",
            **{
                f"{key}_scan_s": scan_s,
                f"{key}_in_process_s": local_s,
                f"{key}_http_s": http_s,
                f"{key}_in_process_stamps_per_s": stamps / local_s,
                f"{key}_ratio": scan_s / local_s,
                f"{key}_http_ratio": scan_s / http_s,
                f"{key}_http_over_in_process": http_s / local_s,
            },
        )
    pages = result["in-process"]["pages_read"][0]
    if pages:
        figures.print(
            f"      in-process, cold: {pages} pages read for {stamps} stamps "
            f"({pages / stamps:.3f} a stamp)",
            **{f"{_key(name)}_pages_read_per_stamp": pages / stamps},
        )


def _print_goals(figures: Figures, cases: dict, results: dict, hdfs: dict | None) -> None:
    cold = {name: {side: results[name][side]["seconds"][0] for side in SIDES} for name in results}
    night_stamps = 3 * len(cases["night"][0]["ids"])
    values = {
        "night_stamps_per_s": night_stamps / cold["night"]["in-process"],
        "night_ratio": cold["night"]["scan"] / cold["night"]["in-process"],
        "ratio_100": cold["100"]["scan"] / cold["100"]["in-process"],
        "ratio_1000": cold["1000"]["scan"] / cold["1000"]["in-process"],
        "ratio_30_nights": cold["30 nights"]["scan"] / cold["30 nights"]["in-process"],
    }
    http = {
        f"http_over_in_process_{_key(name)}": cold[name]["HTTP"] / cold[name]["in-process"]
        for name in CASES
    }
    verdicts = {f"goal_{name}": values[name] >= goal for name, goal in GOALS.items()}
    verdicts["goal_http_within_1_5x"] = max(http.values()) <= MAX_HTTP_OVER_IN_PROCESS
    figures.add(**values, **http, **{name: bool(met) for name, met in verdicts.items()})
    shown = {**values, **http}
    if hdfs:
        shown["hdfs_stamps_per_s"] = night_stamps / hdfs["seconds"][0]
    line = " ".join(
        f"{name}={value:.0f}" if value >= 100 else f"{name}={value:.2f}"
        for name, value in shown.items()
    )
    met = sum(verdicts.values())
    print(
        f"{line} "
        + " ".join(f"{name}={'met' if ok else 'unmet'}" for name, ok in verdicts.items())
        + f" goals_met={met}/{len(verdicts)}"
    )


if __name__ == "__main__":
    main()
