"""Fink's night for real: Spark streams it, the follower indexes it, the doors serve it.

A real structured-streaming query (``support.streaming``: parquet file sink, a checkpoint, its
commit log compacted every 3 batches) commits micro-batches of real ZTF alerts (the two files of
``../shared/data``) and of demo alerts into ``online/science/<night>/`` of a lake root whose
archive (``archive/science``) holds the demo's two earlier nights, indexed. Then a Spark merge
as ``merge.py`` writes the night into the archive, and the online night is deleted. Between
each step every alert written so far is looked up by object id and by alert id, on a running
``fink-cutouts serve`` and on a fresh in-process `CutoutAPI`, and its stamps compared with
pyarrow's reading of its row in the file Spark committed (never the inputs: Spark rewrote them).

Faults: the follower killed (SIGKILL) before and after it publishes a batch, then restarted;
a part file in the night's directory that the sink never committed; a batch committed while
``index compact`` holds the writer lock; SIGTERM.

The HDFS test runs on the servers of ci/services.sh (``eval "$(ci/services.sh env)"``); it skips
without them, except in CI, where it fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA
from support.servers import free_port, start_service, wait_for_http
from support.streaming import (
    ARCHIVE,
    ONLINE,
    LiveNight,
    archive_files,
    as_schema,
    chunks,
    committed_alerts,
    copy_file,
    delete_online_night,
    lake_filesystem,
    merge_night,
    upload,
)

from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake

NIGHT = "20241121"  # the demo's third night: its two earlier nights are archived
ARCHIVED = ("20241119", "20241120")
REAL_FILES = sorted((SHARED_DATA / "ztf" / "lake" / "archive" / "science").rglob("*.parquet"))
HDFS_NEEDED = ("HDFS_URI", "ARROW_LIBHDFS_DIR", "CLASSPATH")
SETTLE = 1  # cycles an archived night's files must stay the same before the follower indexes it
REFRESH = 30.0  # seconds a running server may take to see a new layout (it reads it every 5 s)


# The night's inputs and lakes


@pytest.fixture(scope="module")
def inputs(demo) -> list:
    """Seven micro-batches: the two real ZTF files as they are, then the demo's third night (its
    first file) in the real files' schema, in five slices."""
    schema = pq.read_schema(REAL_FILES[0])
    demo_night = Path(demo.root) / "science" / "year=2024" / "month=11" / "day=21"
    demo_alerts = pq.read_table(sorted(demo_night.glob("*.parquet"))[0])
    return [*REAL_FILES, *chunks(as_schema(demo_alerts, schema), 5)]


def local_root(tmp_path: Path) -> str:
    return str(tmp_path / "lake")


@pytest.fixture
def hdfs_root():
    missing = [name for name in HDFS_NEEDED if not os.environ.get(name)]
    if missing:
        message = f"HDFS not configured ({', '.join(missing)}): see ci/services.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    user = getpass.getuser()
    base = f"{os.environ['HDFS_URI']}/user/{user}/live-night-{uuid.uuid4().hex[:8]}"
    root = f"{base}?user={user}&replication=1"
    yield root
    filesystem, path = lake_filesystem(root)
    filesystem.delete_dir(path)


def lake_of(root: str) -> Lake:
    return Lake(root, science_dir=ARCHIVE, online_dir=ONLINE)


def archived_lake(root: str, demo) -> Lake:
    """The lake root with the demo's first two nights archived and indexed (``index build``)."""
    from fink_cutout_jupyter.index.build import build

    for name in demo.files:
        if any(f"day={night[6:]}" in name for night in ARCHIVED):
            upload(root, Path(demo.root) / name, name.replace("science/", f"{ARCHIVE}/", 1))
    lake = lake_of(root)
    build(AlertIndex(lake), lake.nights(), progress=False)
    return lake


# What must be found, read with pyarrow


class Expected:
    """The alerts a lookup must find: the archive's earlier nights and tonight's committed
    alerts, each with the file it must be served from (pyarrow's reading of that file)."""

    def __init__(self, root: str) -> None:
        self.root = root
        files = [f for night in ARCHIVED for f in archive_files(root, night)]
        self.archived = {a["candid"]: a for a in committed_alerts(root, files)}
        self.tonight: dict[int, dict] = {}

    def commit(self, batches: dict[int, tuple[str, ...]]) -> None:
        paths = [path for batch in sorted(batches) for path in batches[batch]]
        for alert in committed_alerts(self.root, paths):
            assert alert["candid"] not in self.tonight, "an alert streamed twice"
            self.tonight[alert["candid"]] = alert

    def move_to_archive(self, files: list[str]) -> None:
        """Tonight's alerts are now served from the merged files (same alerts, new files)."""
        merged = {a["candid"]: a for a in committed_alerts(self.root, files)}
        assert set(merged) == set(self.tonight)
        self.tonight = merged

    def alerts_of(self, object_id: str) -> list[dict]:
        alerts = [a for a in (*self.archived.values(), *self.tonight.values())]
        found = [a for a in alerts if a["objectId"] == object_id]
        return sorted(found, key=lambda a: (a["jd"], a["candid"]))


class Served:
    """A running ``fink-cutouts serve``: GET requests on one kept-alive connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def __call__(self, route: str, params: dict) -> tuple[int, bytes]:
        try:
            return self._get(route, params)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the connection, idle while Spark worked (--idle-timeout).
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return self._get(route, params)

    def _get(self, route: str, params: dict) -> tuple[int, bytes]:
        self.connection.request("GET", f"/api/v1/{route}?{urlencode(params)}")
        response = self.connection.getresponse()
        return response.status, response.read()


@contextlib.contextmanager
def serving(root: str):
    port = free_port()
    process = start_service(root, port, "--science-dir", ARCHIVE, "--online-dir", ONLINE)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/openapi.json")
        served = Served(port)
        yield served
        served.connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def in_process(root: str):
    api = CutoutAPI(lake_of(root))

    def call(route: str, params: dict) -> tuple[int, bytes]:
        reply = api.handle(route, params)
        return reply.status, reply.body

    return api, call


def wrong_answers(call, expected: Expected, paths: bool = True) -> list[str]:
    """What `call` (a door: route, params -> status, body) answers wrong for tonight's alerts:
    by alert id (the Science stamp), by object id (every alert listed once, oldest first, with
    its file when `paths`; the latest's Difference stamp)."""
    wrong = []
    objects = sorted({a["objectId"] for a in expected.tonight.values()})
    for object_id in objects:
        alerts = expected.alerts_of(object_id)
        status, body = call("alerts", {"objectId": object_id})
        if status != 200:
            wrong.append(f"alerts of {object_id}: {status} {body[:200]!r}")
            continue
        listed = json.loads(body)
        if [row["alertId"] for row in listed] != [a["candid"] for a in alerts]:
            ids = [row["alertId"] for row in listed]
            wrong.append(f"alerts of {object_id}: {ids}, not {[a['candid'] for a in alerts]}")
        elif paths and [row["hdfsPath"] for row in listed] != [a["path"] for a in alerts]:
            wrong.append(f"alerts of {object_id}: files {[row['hdfsPath'] for row in listed]}")
        latest = {"objectId": object_id, "kind": "Difference", "return_type": "FITS"}
        status, body = call("cutouts", latest)
        if (status, body) != (200, alerts[-1]["fits"]["Difference"]):
            wrong.append(f"latest of {object_id}: {status}, not alert {alerts[-1]['candid']}")
    for candid, alert in sorted(expected.tonight.items()):
        status, body = call("cutouts", {"candid": candid, "kind": "Science", "return_type": "FITS"})
        if (status, body) != (200, alert["fits"]["Science"]):
            wrong.append(f"alert {candid}: {status} {body[:200]!r}")
    return wrong


def check_lookups(served: Served, expected: Expected, paths: bool = True) -> None:
    """Every alert of tonight found right by the running server (once it has read the new
    layout) and by a fresh in-process API."""
    api, call = in_process(expected.root)
    try:
        assert wrong_answers(call, expected, paths) == []
    finally:
        api.close()
    deadline = time.monotonic() + REFRESH
    while (wrong := wrong_answers(served, expected, paths)) and time.monotonic() < deadline:
        time.sleep(1.0)
    assert wrong == []


def tonight_is_latest(expected: Expected) -> int:
    """How many objects have alerts both archived and tonight (whose latest must be tonight's)."""
    both = 0
    for object_id in {a["objectId"] for a in expected.tonight.values()}:
        alerts = expected.alerts_of(object_id)
        if any(a["candid"] in expected.archived for a in alerts):
            assert alerts[-1]["candid"] in expected.tonight
            both += 1
    return both


def follower_of(root: str):
    from fink_cutout_jupyter.index.follow import Follower

    return Follower(AlertIndex(lake_of(root)), interval=0.1, workers=2, settle_cycles=SETTLE)


def catch_up(follower) -> None:
    """Cycles enough for everything committed to be indexed (an archived night must be seen
    unchanged for `SETTLE` cycles first)."""
    for _ in range(SETTLE + 1):
        follower.cycle()


def uncommitted_copy(root: str, committed: str) -> str:
    """A committed part file copied under a new part name into the night's directory, as a
    task that wrote its file but whose batch never committed leaves it."""
    directory = committed.rpartition("/")[0]
    target = f"{directory}/part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    assert target != committed
    copy_file(root, committed, target)
    return target


def listed_paths(root: str, object_ids) -> set[str]:
    api, call = in_process(root)
    try:
        paths = set()
        for object_id in object_ids:
            status, body = call("alerts", {"objectId": object_id})
            assert status == 200, body
            paths |= {row["hdfsPath"] for row in json.loads(body)}
        return paths
    finally:
        api.close()


# The lifecycle


def play_the_night(spark, root: str, demo, inputs, source: Path, on_hdfs: bool):
    """The night from its first micro-batch to its archive indexed (and compacted), every alert
    checked between the steps. Locally, the live files are deleted before the follower indexes
    the archive (the entries name deleted files for a while); on HDFS, after, and the night is
    shorter (no batches 4 to 6, no compaction: the local lake tests those)."""
    from fink_cutout_jupyter.index.compaction import compact

    archived_lake(root, demo)
    expected = Expected(root)
    night = LiveNight(spark, root, NIGHT, source)
    follower = follower_of(root)
    with serving(root) as served:
        # 1. The first micro-batch (batch 0).
        expected.commit(night.step(inputs[:1]))
        catch_up(follower)
        check_lookups(served, expected)

        # 2. Batches 1 to 3 (2 is a compaction; at 3 Spark deletes the log files of 0 and 1, so
        # the follower, at 0, needs 2.compact), and a part file written but never committed.
        batches = night.step(inputs[1:4])
        assert sorted(batches) == [1, 2, 3]
        expected.commit(batches)
        stray = uncommitted_copy(root, night.committed[0][0])
        catch_up(follower)
        check_lookups(served, expected)
        stray_objects = {a["objectId"] for a in committed_alerts(root, [stray], stamps=False)}
        assert stray not in listed_paths(root, stray_objects)

        # 3. Batches 4 to 6 (5 is a compaction; at 6 the log files of 2 to 4 are deleted).
        if not on_hdfs:
            expected.commit(night.step(inputs[4:]))
            catch_up(follower)
            check_lookups(served, expected)
        streamed = inputs[: len(night.committed)]
        assert len(expected.tonight) == sum(pq.read_metadata(f).num_rows for f in REAL_FILES) + (
            sum(table.num_rows for table in streamed[2:])
        )
        assert tonight_is_latest(expected) >= 10

        # 4. The merge written (the live files still there): served as before until indexed.
        merged = merge_night(spark, root, NIGHT)
        assert merged
        assert all(f.startswith(f"{ARCHIVE}/year=2024/month=11/day=21/part-") for f in merged)
        check_lookups(served, expected)
        if on_hdfs:
            catch_up(follower)
            expected.move_to_archive(merged)
            check_lookups(served, expected)

        # 5. The live night deleted.
        delete_online_night(root, NIGHT)
        if not on_hdfs:
            # Entries still name the deleted files: the alerts are served from the archive.
            moved = Expected(root)
            moved.tonight = expected.tonight
            moved.move_to_archive(merged)
            check_lookups(served, moved, paths=False)
            # 6. The archive indexed.
            catch_up(follower)
            expected.move_to_archive(merged)
        check_lookups(served, expected)

        # 7. The index compacted: the night's live parts are gone from it.
        if not on_hdfs:
            compact(AlertIndex(lake_of(root)), progress=False)
            check_lookups(served, expected)
            assert stray not in listed_paths(root, stray_objects)


def test_a_night_on_a_local_lake(spark, demo, inputs, tmp_path):
    play_the_night(spark, local_root(tmp_path), demo, inputs, tmp_path / "raw", on_hdfs=False)


def test_a_night_on_hdfs(hdfs_root, spark, demo, inputs, tmp_path):
    play_the_night(spark, hdfs_root, demo, inputs, tmp_path / "raw", on_hdfs=True)


def test_an_idle_follower_cycle_on_hdfs_costs_eight_namenode_calls(hdfs_root, tmp_path):
    """Counted in the NameNode's audit log: the layout read (one call), the live nights listed
    and the night's commit log listed (three calls each: pyarrow's listing of a directory asks
    for its status twice, then lists it), its archive directory looked for (one call, one name
    on 2024-11-21)."""
    from support.namenode import audit_mark, namenode_calls

    from fink_cutout_jupyter.demo.live import stream_demo_batch
    from fink_cutout_jupyter.index.follow import Follower

    local = tmp_path / "local"
    stream_demo_batch(local, dt.date(2024, 11, 21), 0)
    for file in sorted((local / ONLINE).rglob("*")):
        if file.is_file():
            upload(hdfs_root, file, file.relative_to(local).as_posix())
    follower = Follower(AlertIndex(lake_of(hdfs_root)))
    assert [report.batch for report in follower.cycle().indexed] == [0]
    follower.cycle()
    since = audit_mark()
    assert follower.cycle().indexed == []
    path = urlsplit(hdfs_root).path
    calls = [call for call in namenode_calls(since) if path in call]
    night = f"{path}/{ARCHIVE}/year=2024/month=11/day=21"
    log = f"{path}/{ONLINE}/{NIGHT}/_spark_metadata"
    assert calls == [
        f"open {path}/_cutout_index/layout.json",
        *[f"getfileinfo {path}/{ONLINE}"] * 2,
        f"listStatus {path}/{ONLINE}",
        *[f"getfileinfo {log}"] * 2,
        f"listStatus {log}",
        f"getfileinfo {night}",
    ], calls


# Faults

KILLED_FOLLOWER = textwrap.dedent(
    """
    import os, signal, sys

    from fink_cutout_jupyter.index import writes

    calls, publish = 0, writes.WriteSession.publish
    kill_at, when = int(sys.argv[1]), sys.argv[2]


    def publish_then_die(self, layout):
        global calls
        calls += 1
        if calls == kill_at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        publish(self, layout)
        if calls == kill_at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)


    writes.WriteSession.publish = publish_then_die
    from fink_cutout_jupyter.cli import main

    sys.exit(main(sys.argv[3:]))
    """
)


def follow_command(root: str) -> list[str]:
    return [
        "index",
        "follow",
        "--lake",
        root,
        "--science-dir",
        ARCHIVE,
        "--online-dir",
        ONLINE,
        "--interval",
        "0.1",
    ]


def run_killed_follower(root: str, tmp_path: Path, kill_at: int, when: str) -> None:
    script = tmp_path / "killed_follower.py"
    script.write_text(KILLED_FOLLOWER)
    process = subprocess.run(
        [sys.executable, str(script), str(kill_at), when, *follow_command(root)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]


def found_once(root: str, expected: Expected) -> list[str]:
    api, call = in_process(root)
    try:
        return wrong_answers(call, expected)
    finally:
        api.close()


def test_a_follower_killed_mid_batch_then_restarted_loses_and_duplicates_nothing(
    spark, demo, inputs, tmp_path
):
    """SIGKILL just before the layout naming a batch is published (its files written, not
    published), then just after (published, the follower's own state lost): restarted, the
    follower indexes every committed alert exactly once, goes on with the batches committed
    meanwhile (behind a log cleanup), and SIGTERM stops it cleanly (its lock released)."""
    root = local_root(tmp_path)
    archived_lake(root, demo)
    expected = Expected(root)
    night = LiveNight(spark, root, NIGHT, tmp_path / "raw")
    expected.commit(night.step(inputs[:2]))
    run_killed_follower(root, tmp_path, 1, "before")
    api, call = in_process(root)
    assert {call("cutouts", {"candid": candid})[0] for candid in expected.tonight} == {404}
    api.close()

    expected.commit(night.step(inputs[2:4]))
    run_killed_follower(root, tmp_path, 1, "after")
    assert found_once(root, expected) == []

    # Batches 4 to 6 committed while no follower runs: at 6, Spark deletes the log files of 2
    # to 4, so the restarted follower reads 5.compact whole, and subtracts what it indexed.
    expected.commit(night.step(inputs[4:]))
    sink_log = Path(root) / night.output_dir / "_spark_metadata"
    assert sorted(p.name for p in sink_log.iterdir() if not p.name.startswith(".")) == [
        "5.compact",
        "6",
    ]
    log = tmp_path / "follower.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "fink_cutout_jupyter.cli", *follow_command(root)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while (wrong := found_once(root, expected)) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert wrong == []
        finally:
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=30)
    assert returncode == 0, log.read_text()[-2000:]
    assert "batches 4-6 indexed: 3 files" in log.read_text()
    assert not (Path(root) / "_cutout_index" / "follower.lock").exists()
    assert found_once(root, expected) == []


def test_a_batch_committed_while_the_index_is_compacted_is_indexed_after(
    spark, demo, inputs, tmp_path, monkeypatch
):
    """``index compact`` holds the writer lock, its new base written but not published, while
    Spark commits a batch: the follower's cycle then writes nothing (busy, retried), and
    indexes the batch on its first cycle after the compaction published."""
    from fink_cutout_jupyter.index import compaction

    root = local_root(tmp_path)
    archived_lake(root, demo)
    expected = Expected(root)
    night = LiveNight(spark, root, NIGHT, tmp_path / "raw")
    follower = follower_of(root)
    expected.commit(night.step(inputs[:2]))
    catch_up(follower)
    assert found_once(root, expected) == []

    reached, release = threading.Event(), threading.Event()
    publish_base = compaction.publish_base

    def held_publish_base(*args, **kwargs):
        reached.set()
        assert release.wait(timeout=120)
        publish_base(*args, **kwargs)

    monkeypatch.setattr(compaction, "publish_base", held_publish_base)
    failures: list[BaseException] = []

    def run_compaction():
        try:
            compaction.compact(AlertIndex(lake_of(root)), progress=False)
        except BaseException as error:  # reported by the test's thread
            failures.append(error)

    compacting = threading.Thread(target=run_compaction)
    compacting.start()
    try:
        assert reached.wait(timeout=60)
        before = dict(expected.tonight)
        expected.commit(night.step(inputs[2:3]))
        report = follower.cycle()
        assert report.busy == [dt.date(2024, 11, 21)]
        assert report.indexed == []
        new = set(expected.tonight) - set(before)
        api, call = in_process(root)
        assert {call("cutouts", {"candid": c})[0] for c in new} == {404}
        api.close()
    finally:
        release.set()
        compacting.join(timeout=120)
    assert failures == []
    catch_up(follower)
    assert found_once(root, expected) == []
