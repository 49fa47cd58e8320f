"""The follower on a lake whose live night is what Spark's streaming sink really wrote.

A real structured-streaming query (`support.streaming.LiveNight`, local Spark) appends the real
ZTF alerts of 2021-11-21 to ``online/science/20211121`` in three runs (batches 0-1, 2 with the
first ``.compact``, 3-4), and Fink's merge (`merge_night`) writes the night to the archive; each
state is copied once, and a test puts them in its own lake in turn. What a test expects comes
from the sink's log and the part files read with pyarrow (`support.streaming`), never from the
follower. The whole lifecycle with servers, HDFS and SIGKILL is ``tests/integration``'s.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from support.lifecycle import REAL_FILES
from support.streaming import (
    ARCHIVE,
    LiveNight,
    chunks,
    committed_alerts,
    delete_online_night,
    merge_night,
)

from fink_cutout_jupyter.cli import main
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import IndexBusy, NotFound
from fink_cutout_jupyter.index.follow import CycleReport, Follower
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.lock import FOLLOWER_LOCK, LOCK, WriterLock, holder
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.writes import WriteSession
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import KINDS

NIGHT = dt.date(2021, 11, 21)
NAME = "20211121"
ONLINE_NIGHT = f"online/science/{NAME}"
RUNS = ((0, 1), (2,), (3, 4))  # the pieces of the night each run of the query commits


class Streamed(NamedTuple):
    stages: list[Path]  # the live night's directory after each run
    archive: Path  # archive/science after the merge of the whole night


@pytest.fixture(scope="module")
def streamed(spark, tmp_path_factory) -> Streamed:
    base = tmp_path_factory.mktemp("follow")
    root = base / "lake"
    night = pa.concat_tables([pq.read_table(file) for file in REAL_FILES])
    pieces = chunks(night, 5)
    live = LiveNight(spark, root, NAME, base / "raw")
    stages = []
    for run in RUNS:
        live.step([pieces[number] for number in run])
        stages.append(base / f"stage{len(stages)}")
        shutil.copytree(root / ONLINE_NIGHT, stages[-1])
    merge_night(spark, root, NAME)
    shutil.copytree(root / ARCHIVE, base / "archive")
    return Streamed(stages, base / "archive")


def put_stage(root: Path, streamed: Streamed, stage: int) -> None:
    """The live night as the sink left it after run `stage` (files keep their mtimes)."""
    night = root / ONLINE_NIGHT
    if night.exists():
        shutil.rmtree(night)
    shutil.copytree(streamed.stages[stage], night)


def put_archive(root: Path, streamed: Streamed) -> list[str]:
    """The merged night in the archive; its Parquet files (lake-relative)."""
    shutil.copytree(streamed.archive, root / ARCHIVE, dirs_exist_ok=True)
    return sorted(str(p.relative_to(root)) for p in (root / ARCHIVE).rglob("*.parquet"))


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "lake"


def lake_of(root: Path) -> Lake:
    return Lake(root, science_dir=ARCHIVE)


def committed(root: Path) -> tuple[int, set[str]]:
    """The sink's latest batch and committed part files, from its log read with json (the log
    names the files where Spark wrote them: a file's name is what locates it in the copy)."""
    log = sorted(
        (int(entry.name.removesuffix(".compact")), entry)
        for entry in (root / ONLINE_NIGHT / "_spark_metadata").iterdir()
        if not entry.name.startswith(".")
    )
    files: set[str] = set()
    for _, entry in log:
        version, *lines = entry.read_text().splitlines()
        assert version == "v1"
        for record in map(json.loads, lines):
            path = f"{ONLINE_NIGHT}/{record['path'].rsplit('/', 1)[1]}"
            (files.add if record["action"] == "add" else files.discard)(path)
    return (log[-1][0] if log else -1), files


def assert_served(root: Path, paths: set[str] | list[str]) -> int:
    """Every alert of `paths` found, by a fresh index, by alert id (in its own file, with
    pyarrow's stamps) and by object id exactly once; the number of alerts."""
    lake = lake_of(root)
    index = AlertIndex(lake)
    reader = CutoutReader(lake, index=index)
    expected = committed_alerts(root, sorted(paths))
    objects = defaultdict(list)
    for alert in expected:
        location = index.alert(alert["candid"])
        assert location.path == alert["path"]
        stamps = reader.read_location(location).stamps
        assert {kind: stamps[kind].fits_bytes for kind in KINDS} == alert["fits"]
        objects[alert["objectId"]].append(alert["candid"])
    for object_id, candids in objects.items():
        assert sorted(found.alert_id for found in index.alerts(object_id)) == sorted(candids)
    return len(expected)


def assert_unknown(root: Path, paths: set[str]) -> None:
    index = AlertIndex(lake_of(root))
    for alert in committed_alerts(root, sorted(paths), stamps=False):
        with pytest.raises(NotFound):
            index.alert(alert["candid"])


def test_committed_batches_are_indexed_as_they_come(root, streamed, caplog):
    caplog.set_level(logging.INFO, "fink_cutout_jupyter.index.follow")
    follower = Follower(AlertIndex(lake_of(root)))
    known: set[str] = set()
    previous = -1
    for stage in range(len(RUNS)):
        put_stage(root, streamed, stage)
        latest, files = committed(root)
        new = files - known
        alerts = len(committed_alerts(root, sorted(new), stamps=False))
        report = follower.cycle()
        assert [(r.night, r.first, r.batch, r.files, r.alerts) for r in report.indexed] == [
            (NIGHT, previous + 1, latest, len(new), alerts)
        ]
        assert read_layout(lake_of(root).subdirectory("_cutout_index"))["online"] == {NAME: latest}
        served = assert_served(root, files)
        assert served == len(committed_alerts(root, sorted(files), stamps=False))
        logged = (
            f"{NIGHT}: batches {previous + 1}-{latest} indexed: {len(new)} files, {alerts} alerts"
        )
        assert logged in caplog.text
        assert follower.cycle().indexed == []  # nothing new: nothing written
        known, previous = files, latest
    assert previous == 4
    assert len(committed_alerts(root, sorted(known), stamps=False)) == 124  # both real files


def test_a_part_file_the_log_does_not_name_is_never_indexed(root, streamed):
    put_stage(root, streamed, 0)
    _, first = committed(root)
    later = new_parts(streamed, 1)
    for name in later:  # as the next run's tasks leave them before its commit
        shutil.copy2(streamed.stages[1] / name, root / ONLINE_NIGHT / name)
    uncommitted = {f"{ONLINE_NIGHT}/{name}" for name in later}
    follower = Follower(AlertIndex(lake_of(root)))
    assert follower.cycle().indexed[0].files == len(first)
    assert_served(root, first)
    assert_unknown(root, uncommitted)
    put_stage(root, streamed, 1)  # now committed
    assert follower.cycle().indexed[0].files == len(later)
    assert_served(root, first | uncommitted)


def new_parts(streamed: Streamed, stage: int) -> set[str]:
    """Names of the part files run `stage` committed."""
    names = [
        {p.name for p in streamed.stages[s].glob("part-*.parquet")} for s in (stage - 1, stage)
    ]
    return names[1] - names[0]


def test_a_write_never_published_is_resumed_after_a_restart_without_duplicates(
    root, streamed, monkeypatch
):
    put_stage(root, streamed, 0)
    Follower(AlertIndex(lake_of(root))).cycle()
    put_stage(root, streamed, 1)

    def killed(session, layout):
        raise RuntimeError("killed before publishing")

    with monkeypatch.context() as patched:
        patched.setattr(WriteSession, "publish", killed)
        report = Follower(AlertIndex(lake_of(root))).cycle()  # logged, nothing published
        assert (report.indexed, report.failed) == ([], [NIGHT])
    latest, files = committed(root)
    index = AlertIndex(lake_of(root))
    report = Follower(index).cycle()  # started again
    assert [(r.first, r.batch, r.files) for r in report.indexed] == [
        (committed_stage_latest(streamed, 0) + 1, latest, len(new_parts(streamed, 1)))
    ]
    assert_served(root, files)
    assert index.verify() == []
    assert Follower(AlertIndex(lake_of(root))).cycle().indexed == []  # a third start: nothing


def committed_stage_latest(streamed: Streamed, stage: int) -> int:
    names = [p.name for p in (streamed.stages[stage] / "_spark_metadata").iterdir()]
    return max(int(n.removesuffix(".compact")) for n in names if not n.startswith("."))


def follow_whole_night(root: Path, streamed: Streamed, **options) -> tuple[Follower, set[str]]:
    """A follower that indexed the three runs; the committed part files."""
    follower = Follower(AlertIndex(lake_of(root)), **options)
    for stage in range(len(RUNS)):
        put_stage(root, streamed, stage)
        follower.cycle()
    return follower, committed(root)[1]


def test_the_archive_replaces_the_live_night_once_settled(root, streamed, caplog):
    caplog.set_level(logging.INFO, "fink_cutout_jupyter.index.follow")
    follower, live = follow_whole_night(root, streamed, settle_cycles=2)
    archive = put_archive(root, streamed)
    (root / ARCHIVE / "_temporary" / "0").mkdir(parents=True)  # a Spark job still writing
    for _ in range(2):
        report = follower.cycle()
        assert (report.merged, report.waiting) == ([], [NIGHT])
    assert "(a Spark job is writing the archive)" in caplog.text
    assert_served(root, live)  # the live entries stay meanwhile
    shutil.rmtree(root / ARCHIVE / "_temporary")
    report = follower.cycle()  # seen once without a job: settling
    assert (report.merged, report.waiting) == ([], [NIGHT])
    assert_served(root, live)
    report = follower.cycle()
    alerts = len(committed_alerts(root, archive, stamps=False))
    assert [(m.night, m.files, m.alerts, m.online_alerts) for m in report.merged] == [
        (NIGHT, len(archive), alerts, alerts)
    ]
    assert alerts == 124
    assert assert_served(root, archive) == 124  # each alert once, from the archive's file
    layout = read_layout(lake_of(root).subdirectory("_cutout_index"))
    assert (layout["online"], layout["archived"]) == ({}, [int(NAME)])
    assert "archived night indexed in place of its live parts" in caplog.text
    for _ in range(2):
        report = follower.cycle()  # the live night still there, archived: not followed
        assert (report.indexed, report.merged, report.waiting) == ([], [], [])
    said = f"{NIGHT}: archived: its live directory is no longer followed"
    assert [r.getMessage() for r in caplog.records].count(said) == 1


def test_an_archive_missing_alerts_waits_until_the_live_night_is_gone(root, streamed, caplog):
    follower, live = follow_whole_night(root, streamed, settle_cycles=1)
    archive = put_archive(root, streamed)
    merged = pq.read_table(root / archive[0])
    assert len(archive) == 1
    assert merged.num_rows == 124
    pq.write_table(merged.slice(0, 100), root / archive[0])  # a merge that lost 24 alerts
    for _ in range(2):
        report = follower.cycle()
        assert (report.merged, report.waiting) == ([], [NIGHT])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{NIGHT}: the archived night holds 100 alerts, fewer than the 124 indexed from the live "
        "night: waiting for the merge to complete"
    ]
    assert_served(root, live)
    delete_online_night(root, NAME)
    report = follower.cycle()
    assert [(m.alerts, m.online_alerts) for m in report.merged] == [(100, 124)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[1:] == [
        f"{NIGHT}: the archived night holds 100 alerts, fewer than the 124 indexed from the live "
        "night, whose directory is gone: writing the archive"
    ]
    assert assert_served(root, archive) == 100
    lost = set(merged.slice(100).column("candid").to_pylist())
    index = AlertIndex(lake_of(root))
    for candid in lost:
        with pytest.raises(NotFound):
            index.alert(candid)


def test_a_second_follower_is_refused_naming_the_first(root, streamed):
    put_stage(root, streamed, 0)
    index = AlertIndex(lake_of(root))
    stop = threading.Event()
    first = threading.Thread(target=Follower(index, interval=0.1).run, args=(stop,))
    first.start()
    try:
        deadline = time.monotonic() + 60
        while holder(index.store, FOLLOWER_LOCK) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        running = holder(index.store, FOLLOWER_LOCK)
        assert running is not None
        assert running.pid == os.getpid()
        with pytest.raises(IndexBusy) as refused:
            Follower(AlertIndex(lake_of(root))).run()
        message = str(refused.value)
        for detail in (
            f"{index.store.resolve(FOLLOWER_LOCK)}",
            "'index follow'",
            f"pid {os.getpid()}",
        ):
            assert detail in message, message
    finally:
        stop.set()
        first.join(60)
    assert not first.is_alive()
    assert holder(index.store, FOLLOWER_LOCK) is None


def test_a_busy_writer_lock_puts_the_write_off_to_the_next_cycle(root, streamed, caplog):
    caplog.set_level(logging.INFO, "fink_cutout_jupyter.index.follow")
    put_stage(root, streamed, 0)
    index = AlertIndex(lake_of(root))
    follower = Follower(index)
    with WriterLock(index.store, "index compact"):
        report = follower.cycle()
        assert (report.indexed, report.busy) == ([], [NIGHT])
        assert "write put off to the next cycle" in caplog.text
        assert "'index compact'" in caplog.text
        assert read_layout(index.store) is None
    report = follower.cycle()
    assert [r.files for r in report.indexed] == [len(committed(root)[1])]
    assert_served(root, committed(root)[1])


class CountingHandler(pafs.FileSystemHandler):
    """The local filesystem, each call recorded (name, path)."""

    def __init__(self) -> None:
        self.local = pafs.LocalFileSystem()
        self.calls: list[tuple[str, str]] = []

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    def get_type_name(self) -> str:
        return "counting"

    def normalize_path(self, path):
        return path

    def get_file_info(self, paths):
        self.calls += [("get_file_info", path) for path in paths]
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector):
        self.calls.append(("list", selector.base_dir))
        return self.local.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.calls.append(("create_dir", path))
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.calls.append(("delete_dir", path))
        self.local.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.calls.append(("delete_dir_contents", path))
        self.local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise AssertionError("never asked")

    def delete_file(self, path):
        self.calls.append(("delete_file", path))
        self.local.delete_file(path)

    def move(self, src, dest):
        self.calls.append(("move", src))
        self.local.move(src, dest)

    def copy_file(self, src, dest):
        self.calls.append(("copy_file", src))
        self.local.copy_file(src, dest)

    def open_input_stream(self, path):
        self.calls.append(("open", path))
        return self.local.open_input_stream(path)

    def open_input_file(self, path):
        self.calls.append(("open", path))
        return self.local.open_input_file(path)

    def open_output_stream(self, path, metadata):
        self.calls.append(("create", path))
        return self.local.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path, metadata):
        raise AssertionError("never asked")


def test_an_idle_cycle_makes_four_filesystem_calls(root, streamed):
    """Counted where the lake meets its filesystem (pyarrow calls, one NameNode call each on
    HDFS): the layout read, the live nights listed, the night's log listed, and its archive
    directory looked for (padded, then unpadded: one name on 2021-11-21); 6 while an archive
    settles."""
    put_stage(root, streamed, 2)
    handler = CountingHandler()
    lake = Lake.on_filesystem(pafs.PyFileSystem(handler), str(root), science_dir=ARCHIVE)
    follower = Follower(AlertIndex(lake), settle_cycles=3)
    assert [r.files for r in follower.cycle().indexed] == [5]
    follower.cycle()
    handler.calls.clear()
    assert follower.cycle() == CycleReport()  # nothing done
    day = f"{root}/{ARCHIVE}/year=2021"
    assert handler.calls == [
        ("open", f"{root}/_cutout_index/layout.json"),
        ("list", f"{root}/online/science"),
        ("list", f"{root}/{ONLINE_NIGHT}/_spark_metadata"),
        ("get_file_info", f"{day}/month=11/day=21"),
    ]
    put_archive(root, streamed)
    handler.calls.clear()
    assert follower.cycle().waiting == [NIGHT]
    assert handler.calls == [
        ("open", f"{root}/_cutout_index/layout.json"),
        ("list", f"{root}/online/science"),
        ("list", f"{root}/{ONLINE_NIGHT}/_spark_metadata"),
        ("get_file_info", f"{day}/month=11/day=21"),
        ("list", f"{day}/month=11/day=21"),
        ("get_file_info", f"{root}/{ARCHIVE}/_temporary"),
    ]


def test_index_follow_once_indexes_and_exits(root, streamed, capsys):
    put_stage(root, streamed, 0)
    arguments = ["index", "follow", "--lake", str(root), "--science-dir", ARCHIVE, "--once"]
    assert main(arguments) == 0
    latest, files = committed(root)
    assert_served(root, files)
    assert read_layout(lake_of(root).subdirectory("_cutout_index"))["online"] == {NAME: latest}
    assert not (root / "_cutout_index" / FOLLOWER_LOCK).exists()


def test_sigterm_stops_the_follower_command_which_exits_0_and_releases_its_locks(root, streamed):
    put_stage(root, streamed, 0)
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "index", "follow"]
    command += ["--lake", str(root), "--science-dir", ARCHIVE, "--interval", "0.1"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr])
        reader.start()
        try:
            seen = []
            while not any("batches 0-" in line for line in seen):  # it indexed, and goes on
                seen.append(lines.get(timeout=120))
            assert (root / "_cutout_index" / FOLLOWER_LOCK).exists()
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
            reader.join(60)
    while not lines.empty():
        seen.append(lines.get())
    logged = "".join(seen)
    assert "SIGTERM: stopping after the current write" in logged
    assert "follower stopped" in logged
    assert f"INFO fink_cutout_jupyter.index.follow: {NIGHT}: batches 0-" in logged
    assert not (root / "_cutout_index" / FOLLOWER_LOCK).exists()
    assert not (root / "_cutout_index" / LOCK).exists()
    assert_served(root, committed(root)[1])


def test_a_night_another_writer_indexed_is_read_again_not_indexed_twice(
    root, streamed, monkeypatch
):
    """Follower B writes the night's batches while A runs: after B's write (A reads what the
    index holds again), and between A's reading of the log and its write (A's check under the
    writer lock sees the index changed, and writes nothing)."""
    from fink_cutout_jupyter.index import follow

    put_stage(root, streamed, 0)
    a, b = Follower(AlertIndex(lake_of(root))), Follower(AlertIndex(lake_of(root)))
    a.cycle()
    put_stage(root, streamed, 1)
    assert [r.files for r in b.cycle().indexed] == [len(new_parts(streamed, 1))]
    put_stage(root, streamed, 2)
    assert [r.files for r in a.cycle().indexed] == [len(new_parts(streamed, 2))]
    assert_served(root, committed(root)[1])

    put_stage(root, streamed, 0)  # again, on a new index
    shutil.rmtree(root / "_cutout_index")
    a, b = Follower(AlertIndex(lake_of(root))), Follower(AlertIndex(lake_of(root)))
    a.cycle()
    put_stage(root, streamed, 1)
    writing = follow.writing

    def b_writes_first(*args, **kwargs):
        monkeypatch.setattr(follow, "writing", writing)
        assert [r.files for r in b.cycle().indexed] == [len(new_parts(streamed, 1))]
        return writing(*args, **kwargs)

    monkeypatch.setattr(follow, "writing", b_writes_first)
    assert a.cycle().indexed == []
    assert follow.writing is writing
    assert a.cycle().indexed == []  # read again: nothing new
    assert_served(root, committed(root)[1])


def log_lines(root: Path, directory: str) -> list[dict]:
    """Every entry of a live night's sink log, as Spark wrote them (json)."""
    entries = []
    for entry in sorted((root / directory / "_spark_metadata").iterdir()):
        if not entry.name.startswith("."):
            entries += [json.loads(line) for line in entry.read_text().splitlines()[1:]]
    return entries


def commit(root: Path, directory: str, batch: int, names: list[str], like: dict) -> None:
    """Commit `names` (files of `directory`) in batch `batch` of its log, each line a copy of
    the real line `like` naming that file instead."""
    lines = ["v1"]
    for name in names:
        line = dict(like, path=like["path"].rsplit("/", 1)[0] + "/" + name)
        lines.append(json.dumps(line))
    (root / directory / "_spark_metadata" / str(batch)).write_text("\n".join(lines) + "\n")


def test_a_file_that_cannot_be_indexed_is_skipped_logged_once_and_once_exits_1(
    root, streamed, caplog, capsys
):
    """A committed file that is not Parquet, one the log names but was never written, and a
    directory are skipped with an error naming them; the night's other files are indexed; a
    night whose log is malformed (paths outside its directory) is an error said once an hour,
    and the other night goes on."""
    caplog.set_level(logging.INFO, "fink_cutout_jupyter.index.follow")
    put_stage(root, streamed, 0)
    night_dir = root / ONLINE_NIGHT
    (night_dir / "part-00000-garbage-c000.snappy.parquet").write_bytes(b"not parquet" * 50)
    (night_dir / "part-00001-directory-c000.snappy.parquet").mkdir()
    bad = [
        "part-00000-garbage-c000.snappy.parquet",
        "part-00001-never-written-c000.snappy.parquet",
        "part-00001-directory-c000.snappy.parquet",
    ]
    real = log_lines(root, ONLINE_NIGHT)
    commit(root, ONLINE_NIGHT, 2, [*bad, *new_parts(streamed, 1)], real[0])
    for name in new_parts(streamed, 1):
        shutil.copy2(streamed.stages[1] / name, night_dir / name)
    shutil.copytree(streamed.stages[0], root / "online/science/20211120")  # names 20211121's
    follower = Follower(AlertIndex(lake_of(root)))
    report = follower.cycle()
    good = committed(root)[1] - {f"{ONLINE_NIGHT}/{name}" for name in bad}
    assert [(r.night, r.batch, r.files) for r in report.indexed] == [(NIGHT, 2, len(good))]
    assert sorted(report.skipped) == sorted((NIGHT, f"{ONLINE_NIGHT}/{name}") for name in bad)
    assert report.failed == [dt.date(2021, 11, 20)]
    assert_served(root, good)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3
    for name, why in zip(bad, ("not a Parquet file", "no such file", "no such file"), strict=True):
        assert any(
            e.startswith(f"{NIGHT}: file '{ONLINE_NIGHT}/{name}' skipped") and why in e
            for e in errors
        ), errors
    assert not any("hdfsPath" in e for e in errors)
    malformed = [r for r in caplog.records if r.getMessage().startswith("2021-11-20: ")]
    assert len(malformed) == 1
    assert malformed[0].levelno == logging.WARNING
    assert "outside 'online/science/20211120'" in malformed[0].getMessage()
    caplog.clear()
    report = follower.cycle()  # remembered: not read again; the malformed log not said again
    assert (report.indexed, report.skipped, report.failed) == ([], [], [dt.date(2021, 11, 20)])
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    follower.clock = lambda: time.monotonic() + 3601
    follower.cycle()
    assert [r.getMessage()[:12] for r in caplog.records] == ["2021-11-20: "]

    shutil.rmtree(root / "online/science/20211120")
    arguments = ["index", "follow", "--lake", str(root), "--science-dir", ARCHIVE, "--once"]
    capsys.readouterr()
    caplog.clear()
    assert main(arguments) == 1  # a new follower reads the bad files again, and says so
    stderr = capsys.readouterr().err.splitlines()
    assert stderr[-1].startswith("fink-cutouts: index follow: 3 files skipped (2021-11-21: ")
    assert sum("skipped, it cannot be indexed" in r.getMessage() for r in caplog.records) == 3


def test_a_step_that_raises_is_logged_and_the_other_nights_go_on(root, streamed, caplog):
    from fink_cutout_jupyter.index import follow

    put_stage(root, streamed, 0)
    shutil.copytree(streamed.stages[0], root / "online/science/20211120")
    latest_batch = follow.latest_batch

    def broken_for_one_night(lake, directory):
        if directory.endswith("20211120"):
            raise RuntimeError("a bug")
        return latest_batch(lake, directory)

    follow.latest_batch = broken_for_one_night
    try:
        report = Follower(AlertIndex(lake_of(root))).cycle()
    finally:
        follow.latest_batch = latest_batch
    assert report.failed == [dt.date(2021, 11, 20)]
    assert [r.night for r in report.indexed] == [NIGHT]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith("2021-11-20: ")
    assert record.exc_info is not None
    assert "RuntimeError: a bug" in caplog.text


def test_a_temporary_left_for_an_hour_is_warned_about_once_an_hour(root, streamed, caplog):
    follower, _ = follow_whole_night(root, streamed)
    put_archive(root, streamed)
    (root / ARCHIVE / "_temporary" / "0").mkdir(parents=True)  # a crashed merge's
    now = [time.monotonic()]
    follower.clock = lambda: now[0]

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    start = now[0]
    for seconds in (0, 1800, 3599):  # first seen at `start`
        now[0] = start + seconds
        assert follower.cycle().waiting == [NIGHT]
    assert warnings() == []
    now[0] = start + 3601
    assert follower.cycle().waiting == [NIGHT]
    (warning,) = warnings()
    assert warning.startswith(f"{ARCHIVE}/_temporary has been there since 20")
    assert warning.endswith("if no Spark job writes the archive, remove it")
    now[0] += 1800
    follower.cycle()
    assert len(warnings()) == 1
    now[0] += 1800
    follower.cycle()
    assert len(warnings()) == 2
    shutil.rmtree(root / ARCHIVE / "_temporary")
    for _ in range(2):
        follower.cycle()
    assert [m.night for m in follower.cycle().merged] + [
        m.night for m in follower.cycle().merged
    ] in ([NIGHT], [])
    assert read_layout(lake_of(root).subdirectory("_cutout_index"))["archived"] == [int(NAME)]


def written_again(root: Path, streamed: Streamed, batches: list[set[str]]) -> set[str]:
    """The live night deleted and streamed again from batch 0: `batches` of the real part
    files under new names, each committed by a copy of a real log line; the new paths."""
    like = log_lines(root, ONLINE_NIGHT)[0]
    shutil.rmtree(root / ONLINE_NIGHT)
    (root / ONLINE_NIGHT / "_spark_metadata").mkdir(parents=True)
    paths = set()
    for batch, names in enumerate(batches):
        renamed = [name.replace("part-", "part-again-") for name in sorted(names)]
        for name, new in zip(sorted(names), renamed, strict=True):
            shutil.copy2(streamed.stages[-1] / name, root / ONLINE_NIGHT / new)
        commit(root, ONLINE_NIGHT, batch, renamed, like)
        paths |= {f"{ONLINE_NIGHT}/{name}" for name in renamed}
    return paths


def assert_found(root: Path, paths: set[str]) -> None:
    """Every alert of `paths` found by alert id in its own file (the same alerts' entries in
    the deleted files of the night's first writing stay where their parts were not replaced)."""
    index = AlertIndex(lake_of(root))
    alerts = committed_alerts(root, sorted(paths), stamps=False)
    assert alerts
    for alert in alerts:
        assert index.alert(alert["candid"]).path == alert["path"]


def test_a_live_night_written_again_from_batch_0_is_read_from_the_start(root, streamed, caplog):
    put_stage(root, streamed, 0)
    follower = Follower(AlertIndex(lake_of(root)))
    assert [r.batch for r in follower.cycle().indexed] == [1]
    again = written_again(root, streamed, [new_parts(streamed, 1)])  # batch 0 only: behind 1
    report = follower.cycle()
    assert [(r.first, r.batch, r.files) for r in report.indexed] == [(0, 0, len(again))]
    warning = (
        f"{NIGHT}: the sink's log went back to batch 0, this follower read up to batch 1: the "
        "live night was written again; reading its log from the start"
    )
    assert warning in caplog.text
    assert_found(root, again)
    assert follower.cycle().indexed == []
    assert Follower(AlertIndex(lake_of(root))).cycle().indexed == []  # restarted: nothing twice

    # then its batch 1, as far as the index holds (1): a restarted follower reads the whole log
    # (batch 0's files already indexed); the part of batch 1 replaces the first writing's
    again = written_again(root, streamed, [new_parts(streamed, 1), new_parts(streamed, 2)])
    report = Follower(AlertIndex(lake_of(root))).cycle()
    assert [(r.batch, r.files) for r in report.indexed] == [(1, len(new_parts(streamed, 2)))]
    assert_found(root, again)
    assert read_layout(lake_of(root).subdirectory("_cutout_index"))["online"] == {NAME: 1}
    assert Follower(AlertIndex(lake_of(root))).cycle().indexed == []


def test_a_lake_without_its_directories_is_warned_about(tmp_path, caplog):
    (tmp_path / "lake").mkdir()
    follower = Follower(AlertIndex(lake_of(tmp_path / "lake")))
    now = [time.monotonic()]
    follower.clock = lambda: now[0]
    for seconds in (0, 3599, 2):
        now[0] += seconds
        assert follower.cycle() == CycleReport()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = f"neither online/science nor {ARCHIVE} exists in "
    assert [w[: len(expected)] for w in warnings] == [expected, expected]


def test_an_archive_waiting_for_more_alerts_costs_seven_calls_a_cycle(root, streamed):
    """While the archive holds fewer alerts than the live night, the follower counts the live
    ones from what it knows: no layout read again, no manifest read."""
    handler = CountingHandler()
    lake = Lake.on_filesystem(pafs.PyFileSystem(handler), str(root), science_dir=ARCHIVE)
    follower = Follower(AlertIndex(lake), settle_cycles=1)
    for stage in range(len(RUNS)):
        put_stage(root, streamed, stage)
        follower.cycle()
    archive = put_archive(root, streamed)
    pq.write_table(pq.read_table(root / archive[0]).slice(0, 100), root / archive[0])
    assert follower.cycle().waiting == [NIGHT]  # the archive read, and found short
    handler.calls.clear()
    assert follower.cycle().waiting == [NIGHT]
    day = f"{root}/{ARCHIVE}/year=2021/month=11/day=21"
    assert handler.calls == [
        ("open", f"{root}/_cutout_index/layout.json"),
        ("list", f"{root}/online/science"),
        ("list", f"{root}/{ONLINE_NIGHT}/_spark_metadata"),
        ("get_file_info", day),
        ("list", day),
        ("get_file_info", f"{root}/{ARCHIVE}/_temporary"),
        ("get_file_info", f"{root}/{ONLINE_NIGHT}"),
    ]
