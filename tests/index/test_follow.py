"""The follower's loop (`index.follow`): locks, signals, the command, a cycle's cost and errors.

On a lake whose live night is what Spark's streaming sink really wrote (`support.following`).
The whole lifecycle with servers, HDFS and SIGKILL is ``tests/integration``'s.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pyarrow.fs as pafs
import pytest
from support.following import (
    NAME,
    NIGHT,
    ONLINE_NIGHT,
    CountingHandler,
    assert_served,
    committed,
    lake_of,
    put_archive,
    put_stage,
)
from support.streaming import (
    ARCHIVE,
)

from fink_cutout_jupyter.cli import main
from fink_cutout_jupyter.errors import IndexBusy
from fink_cutout_jupyter.index.follow import CycleReport, Follower
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.lock import FOLLOWER_LOCK, LOCK, WriterLock, holder
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake


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


def test_index_follow_once_writes_a_merged_night_in_place_of_its_live_parts(root, streamed):
    """From cron, each --once run is a new process: the settling count could never reach 2
    (a night merged was never archived by --once). With --once it is 1: an archive no Spark job
    is writing (no _temporary) is written at the first poll that sees it."""
    put_stage(root, streamed, len(streamed.stages) - 1)
    arguments = ["index", "follow", "--lake", str(root), "--science-dir", ARCHIVE, "--once"]
    assert main(arguments) == 0
    put_archive(root, streamed)
    (root / ARCHIVE / "_temporary").mkdir()  # the merge still running: not yet
    assert main(arguments) == 0
    layout = lake_of(root).subdirectory("_cutout_index")
    assert int(NAME) not in read_layout(layout)["archived"]
    (root / ARCHIVE / "_temporary").rmdir()
    assert main(arguments) == 0
    assert int(NAME) in read_layout(layout)["archived"]
    assert main([*arguments, "--settle-cycles", "0"]) == 1


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


def test_a_step_that_raises_is_logged_and_the_other_nights_go_on(root, streamed, caplog):
    from fink_cutout_jupyter.index import live_nights

    put_stage(root, streamed, 0)
    shutil.copytree(streamed.stages[0], root / "online/science/20211120")
    latest_batch = live_nights.latest_batch

    def broken_for_one_night(lake, directory):
        if directory.endswith("20211120"):
            raise RuntimeError("a bug")
        return latest_batch(lake, directory)

    live_nights.latest_batch = broken_for_one_night
    try:
        report = Follower(AlertIndex(lake_of(root))).cycle()
    finally:
        live_nights.latest_batch = latest_batch
    assert report.failed == [dt.date(2021, 11, 20)]
    assert [r.night for r in report.indexed] == [NIGHT]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith("2021-11-20: ")
    assert record.exc_info is not None
    assert "RuntimeError: a bug" in caplog.text


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
