"""Index lookups on the real HDFS of ci/services.sh: NameNode calls and milliseconds.

Needs the servers (``bash ci/services.sh start; eval "$(bash ci/services.sh env)"``). The real
two-night ZTF lake of ../shared/data is uploaded to HDFS and indexed there, then:
- a fresh `AlertIndex` per lookup (a new server's first lookup), compacted, and with 30, 120
  and 365 nights written after the compaction (one night of one alert per build, as nightly
  builds do): milliseconds (p50 of 20 objects' lookups) and NameNode calls (the NameNode's
  audit log, per lookup);
- a refresh of the layout on a running index: calls and milliseconds;
- `index build` of a generated 30-night lake (one file per night) on HDFS, all nights in one
  build, then one night per build: seconds per night;
- a new process's first cutout: `fink-cutouts get` by object id through the index (launch to
  output), and a new `fink-cutouts serve` (launch to the first cutout's reply, the request sent as
  soon as it listens), HDFS client's start included; with the JVM's class-data-sharing archive
  (`jvm_archive`, made by the first process on a machine) and without it
  (``FINK_CUTOUTS_JVM_ARCHIVE=0``: a machine's first process); against the local copy of the lake.

Run: python benchmarks/hdfs_index.py
"""

import datetime as dt
import getpass
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from _results import Figures
from _servers import free_port, start_service

from fink_cutout_jupyter.index.build import build, compact, entries_of_file, write_night
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ztf" / "lake"
SCIENCE = "archive/science"
OBJECT = "ZTF18aaqfhlj"


def audit_mark() -> int:
    return os.path.getsize(os.environ["HDFS_AUDIT_LOG"])


def calls_since(mark: int) -> Counter:
    with open(os.environ["HDFS_AUDIT_LOG"]) as log:
        log.seek(mark)
        return Counter(
            line.split("cmd=")[1].split("\t")[0]
            for line in log.read().splitlines()
            if "cmd=" in line
        )


def fresh_lookups(lake: Lake, objects: list[str]) -> tuple[float, float]:
    """p50 ms of a fresh index's lookup, and NameNode calls per lookup."""
    seconds, mark = [], audit_mark()
    for object_id in objects:
        started = time.perf_counter()
        index = AlertIndex(lake)
        index.alerts(object_id)
        seconds.append(time.perf_counter() - started)
        index.close()
    calls = sum(calls_since(mark).values()) / len(objects)
    return statistics.median(seconds) * 1e3, calls


def first_cutout_seconds(lake_uri: str, index: str = "", archive: bool = True) -> float:
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "get", OBJECT, "--lake", lake_uri]
    command += ["--kind", "Science", "-o", os.devnull]
    command += ["--index", index] if index else []
    environ = {**os.environ, "FINK_CUTOUTS_JVM_ARCHIVE": "1" if archive else "0"}
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=environ)
    return time.perf_counter() - started


def first_served_seconds(lake_uri: str, index: str = "", archive: bool = True) -> float:
    """A new `fink-cutouts serve`: from its launch to the reply of its first cutout."""
    port = free_port()
    options = ["--science-dir", SCIENCE, *(["--index", index] if index else [])]
    environ = {**os.environ, "FINK_CUTOUTS_JVM_ARCHIVE": "1" if archive else "0"}
    url = f"http://127.0.0.1:{port}/api/v1/cutouts?objectId={OBJECT}&kind=Science"
    started = time.perf_counter()
    server = start_service(lake_uri, port, *options, env=environ, stdout=None)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.002)
        with urllib.request.urlopen(url) as reply:
            reply.read()
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    if not os.environ.get("HDFS_AUDIT_LOG"):
        sys.exit('start the servers: bash ci/services.sh start; eval "$(bash ci/services.sh env)"')
    user = getpass.getuser()
    uri = f"{os.environ['HDFS_URI']}/user/{user}/bench-index?user={user}&replication=1"
    lake, local = Lake(uri, SCIENCE), Lake(SHARED, SCIENCE)
    lake.filesystem.delete_dir_contents(lake.base, missing_dir_ok=True)
    for night in local.nights():
        for path in local.night_files(night):
            lake.filesystem.create_dir(lake.resolve(path).rsplit("/", 1)[0], recursive=True)
            with (
                local.open(path) as source,
                lake.filesystem.open_output_stream(lake.resolve(path)) as sink,
            ):
                sink.write(source.read())
    build(AlertIndex(lake), lake.nights(), progress=False)
    compact(AlertIndex(lake), progress=False)
    objects = sorted(
        {a for n in local.nights() for p in local.night_files(n) for a in _ids(local, p)}
    )
    objects = (objects * 20)[:20]
    fresh_lookups(lake, objects[:3])  # the HDFS client's start, imports

    figures = {}
    figures["compacted"] = fresh_lookups(lake, objects)
    night = local.nights()[0]
    one_alert = entries_of_file(local, local.night_files(night)[0], night).entries.slice(0, 1)
    written, started = 0, time.perf_counter()
    for count in (30, 120, 365):
        while written < count:
            day = dt.date(2030, 1, 1) + dt.timedelta(days=written)
            write_night(AlertIndex(lake), day, one_alert, {}, "ztf")
            written += 1
        deltas = AlertIndex(lake).stats()["delta_files"]
        figures[f"{count} nights ({deltas} delta files)"] = fresh_lookups(lake, objects)
    per_night = (time.perf_counter() - started) / written

    running = AlertIndex(lake, refresh_seconds=0)
    running.alerts(OBJECT)
    mark, started = audit_mark(), time.perf_counter()
    for _ in range(20):
        running.alerts(OBJECT)
    refresh_ms = (time.perf_counter() - started) / 20 * 1e3
    refresh_calls = sum(calls_since(mark).values()) / 20

    compact(AlertIndex(lake), progress=False)
    all_at_once, one_by_one = build_seconds_per_night(user)
    first_cutout_seconds(uri)  # the archive, if this machine has none yet
    time.sleep(5)
    firsts = {}
    for archive in (False, True):
        firsts["get", archive] = statistics.median(
            first_cutout_seconds(uri, archive=archive) for _ in range(5)
        )
        firsts["serve", archive] = statistics.median(
            first_served_seconds(uri, archive=archive) for _ in range(5)
        )
    with tempfile.TemporaryDirectory() as local_index:
        build(AlertIndex(local, local_index), local.nights(), progress=False)
        firsts["get", "local"] = statistics.median(
            first_cutout_seconds(str(SHARED), local_index) for _ in range(5)
        )
        firsts["serve", "local"] = statistics.median(
            first_served_seconds(str(SHARED), local_index) for _ in range(5)
        )
    report = Figures("hdfs_index")
    for name, (milliseconds, calls) in figures.items():
        key = "compacted" if name == "compacted" else f"{name.split()[0]}_nights"
        report.print(
            f"fresh lookup, {name}: p50 {milliseconds:.1f} ms, {calls:.1f} NameNode calls",
            **{f"fresh_{key}_ms": milliseconds, f"fresh_{key}_calls": calls},
        )
    report.print(
        f"a night written (one build each): {per_night:.2f} s on average", night_write_s=per_night
    )
    report.print(
        f"index build of a 30-night lake: {all_at_once:.2f} s per night in one build, "
        f"{one_by_one:.2f} s per night built alone",
        build_all_s_per_night=all_at_once,
        build_one_s_per_night=one_by_one,
    )
    report.print(
        f"refresh of a running index (on every lookup here): {refresh_ms:.1f} ms, "
        f"{refresh_calls} calls",
        refresh_ms=refresh_ms,
        refresh_calls=refresh_calls,
    )
    for door, name in (("get", "fink-cutouts get"), ("serve", "a new fink-cutouts serve")):
        key = "first_cutout" if door == "get" else "server_first_cutout"
        report.print(
            f"first cutout of {name} (p50 of 5): {firsts[door, True]:.2f} s on HDFS with the JVM "
            f"archive, {firsts[door, False]:.2f} s without, {firsts[door, 'local']:.2f} s local",
            **{
                f"{key}_s": firsts[door, True],
                f"{key}_no_archive_s": firsts[door, False],
                f"local_{key}_s": firsts[door, "local"],
            },
        )
    print(
        f"fresh_compacted_ms={figures['compacted'][0]:.1f} "
        f"fresh_compacted_calls={figures['compacted'][1]:.1f} "
        + " ".join(
            f"fresh_{name.split()[0]}_nights_ms={ms:.1f} "
            f"fresh_{name.split()[0]}_nights_calls={c:.1f}"
            for name, (ms, c) in figures.items()
            if name != "compacted"
        )
        + f" night_write_s={per_night:.2f} build_all_s_per_night={all_at_once:.2f} "
        f"build_one_s_per_night={one_by_one:.2f} refresh_calls={refresh_calls:.1f} "
        f"first_cutout_s={firsts['get', True]:.2f} "
        f"first_cutout_no_archive_s={firsts['get', False]:.2f} "
        f"server_first_cutout_s={firsts['serve', True]:.2f} "
        f"server_first_cutout_no_archive_s={firsts['serve', False]:.2f} "
        f"local_first_cutout_s={firsts['get', 'local']:.2f} "
        f"local_server_first_cutout_s={firsts['serve', 'local']:.2f}"
    )
    report.write()


def build_seconds_per_night(user: str, nights: int = 30) -> tuple[float, float]:
    """`index build` on HDFS of a generated lake: s per night, all in one build / one by one."""
    from fink_cutout_jupyter.demo.make import make_demo_lake

    uri = f"{os.environ['HDFS_URI']}/user/{user}/bench-build?user={user}&replication=1"
    lake = Lake(uri)
    lake.filesystem.delete_dir_contents(lake.base, missing_dir_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        demo = make_demo_lake(directory, nights=nights, index=False, files_per_night=1)
        for path in demo.files:
            lake.filesystem.create_dir(lake.resolve(path).rsplit("/", 1)[0], recursive=True)
            with (
                open(Path(directory) / path, "rb") as source,
                lake.filesystem.open_output_stream(lake.resolve(path)) as sink,
            ):
                sink.write(source.read())
    started = time.perf_counter()
    build(AlertIndex(lake), lake.nights(), progress=False)
    all_at_once = (time.perf_counter() - started) / nights
    started = time.perf_counter()
    for night in lake.nights():
        build(AlertIndex(lake), [night], progress=False)
    return all_at_once, (time.perf_counter() - started) / nights


def _ids(lake: Lake, path: str) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(lake.resolve(path), columns=["objectId"])[0].to_pylist()


if __name__ == "__main__":
    main()
