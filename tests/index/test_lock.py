"""The index's writer lock, held by real processes on a real directory (and on a filesystem
without an atomic create, as HDFS and S3 are through pyarrow)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from pyarrow import fs

from fink_cutout_jupyter.errors import IndexBusy
from fink_cutout_jupyter.index.lock import (
    FOLLOWER_LOCK,
    HEARTBEAT_SECONDS,
    LOCK,
    STALE_HEARTBEATS,
    WriterLock,
    abandoned_lock_file,
    holder,
)
from fink_cutout_jupyter.index.writes import sweep
from fink_cutout_jupyter.storage.lake import Lake

HOLD = """
import sys
from fink_cutout_jupyter.index.lock import WriterLock
from fink_cutout_jupyter.storage.lake import Lake

with WriterLock(Lake(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def held(tmp_path):
    """A process holding the lock of the index at `tmp_path` until told to go (a line)."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "index build --night 20241121"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout.readline() == "held\n"
        yield process
        if process.poll() is None:
            process.kill()
        process.wait(30)


def test_a_held_lock_refuses_naming_its_holder(tmp_path, held):
    with pytest.raises(IndexBusy) as refused:
        WriterLock(Lake(tmp_path), "index compact").acquire()
    message = str(refused.value)
    for detail in (
        f"{tmp_path}/{LOCK}",
        "'index build --night 20241121'",
        f"pid {held.pid} on host {socket.gethostname()}",
        "since 20",
        "--wait SECONDS",
        "fink-cutouts index unlock --lake LAKE",
    ):
        assert detail in message, message


def test_the_lock_of_a_killed_holder_is_stale_and_taken(tmp_path, held):
    held.send_signal(signal.SIGKILL)
    held.wait(30)
    assert holder(Lake(tmp_path)).pid == held.pid  # left behind
    with WriterLock(Lake(tmp_path), "index build") as lock:
        assert holder(Lake(tmp_path)) == lock.me
    assert holder(Lake(tmp_path)) is None


def test_a_waiting_writer_gets_the_lock_when_its_holder_is_done(tmp_path, held):
    got = threading.Event()

    def wait_for_it() -> None:
        with WriterLock(Lake(tmp_path), "index compact", wait=60):
            got.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert not got.wait(0.5)
    held.stdin.write("go\n")
    held.stdin.flush()
    waiter.join(60)
    assert got.is_set()


def write_lock(root, host: str, pid: int, age: float, silent: float | None = None) -> None:
    fields = {"token": "t", "host": host, "pid": pid, "started": time.time() - age}
    if silent is not None:
        fields["refreshed"] = time.time() - silent
    (root / LOCK).write_text(json.dumps({**fields, "command": "index build"}))


def test_a_lock_from_another_host_is_stale_when_its_heartbeat_stops(tmp_path):
    stale_after = STALE_HEARTBEATS * HEARTBEAT_SECONDS
    write_lock(tmp_path, "another-host", os.getpid(), age=60)
    with pytest.raises(IndexBusy, match="on host another-host"):
        WriterLock(Lake(tmp_path)).acquire()
    write_lock(tmp_path, "another-host", os.getpid(), age=25 * 3600, silent=1)  # a long build
    with pytest.raises(IndexBusy, match="on host another-host"):
        WriterLock(Lake(tmp_path)).acquire()
    write_lock(tmp_path, "another-host", os.getpid(), age=25 * 3600, silent=stale_after + 5)
    with WriterLock(Lake(tmp_path)) as lock:
        assert holder(Lake(tmp_path)) == lock.me
    write_lock(tmp_path, "another-host", os.getpid(), age=stale_after + 5)  # no heartbeat field
    with WriterLock(Lake(tmp_path)) as lock:
        assert holder(Lake(tmp_path)) == lock.me


def test_the_holder_refreshes_its_lock_while_it_holds_it(tmp_path):
    store = Lake(tmp_path)
    with WriterLock(store, "index build", heartbeat=0.05) as lock:
        deadline = time.monotonic() + 30
        while holder(store).refreshed <= lock.me.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert holder(store).refreshed > lock.me.started
        assert holder(store) == lock.me
        lock.check()
    assert holder(store) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"token": "t", "host": "h", "pid": "12", "started": None, "command": "c"},
        {"token": "t", "host": "h", "pid": True, "started": 1.0, "command": "c"},
        ["not", "an", "object"],
    ],
)
def test_a_lock_with_fields_of_the_wrong_types_is_an_unreadable_stale_lock(
    tmp_path, fields, caplog
):
    (tmp_path / LOCK).write_text(json.dumps(fields))
    assert f"unreadable lock {tmp_path}/{LOCK}" in str(holder(Lake(tmp_path)))
    with WriterLock(Lake(tmp_path), "index build") as lock:
        assert holder(Lake(tmp_path)) == lock.me
    assert f"unreadable lock {tmp_path}/{LOCK}" in caplog.text


def test_of_two_writers_taking_over_one_stale_lock_one_gets_it(tmp_path, monkeypatch):
    """B is paused just before removing the stale lock it read; A then breaks it and takes
    the lock; B, resumed, must not remove A's lock (before: it deleted it and both held it)."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_lock(tmp_path, socket.gethostname(), dead.pid, age=1)
    paused, resume = threading.Event(), threading.Event()

    def pausing(original):
        def call(lake, relative, *rest):
            if relative == LOCK and threading.current_thread().name == "B":
                paused.set()
                resume.wait(30)
            return original(lake, relative, *rest)

        return call

    monkeypatch.setattr(Lake, "delete", pausing(Lake.delete))
    monkeypatch.setattr(Lake, "move_aside", pausing(Lake.move_aside))
    outcome = {}

    def take(name: str) -> None:
        lock = WriterLock(Lake(tmp_path), f"writer {name}")
        try:
            lock.acquire()
            outcome[name] = lock
        except IndexBusy as refused:
            outcome[name] = refused

    b = threading.Thread(target=take, args=("B",), name="B")
    b.start()
    assert paused.wait(30)
    take("A")
    assert isinstance(outcome["A"], WriterLock)
    resume.set()
    b.join(30)
    assert isinstance(outcome["B"], IndexBusy), outcome
    assert "'writer A'" in str(outcome["B"])
    assert holder(Lake(tmp_path)) == outcome["A"].me
    outcome["A"].check()
    outcome["A"].release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_index_unlock_refuses_a_live_holder_of_this_host_unless_forced(tmp_path, held, capsys):
    from fink_cutout_jupyter.cli import main

    assert main(["index", "unlock", "--lake", str(tmp_path), "--index", str(tmp_path)]) == 1
    assert f"(pid {held.pid} on host" in capsys.readouterr().err
    assert holder(Lake(tmp_path)).pid == held.pid
    unlock = ["index", "unlock", "--lake", str(tmp_path), "--index", str(tmp_path), "--force"]
    assert main(unlock) == 0
    assert f"removed the writer lock of 'index build --night 20241121' (pid {held.pid}" in (
        capsys.readouterr().out
    )
    with WriterLock(Lake(tmp_path)):
        pass
    assert main(["index", "unlock", "--lake", str(tmp_path), "--index", str(tmp_path)]) == 0
    assert "the index had no writer lock" in capsys.readouterr().out


def test_without_an_atomic_create_the_lock_is_read_back_and_checked_at_publication(
    tmp_path, monkeypatch
):
    """On a filesystem without an exclusive create (a local one seen through a SubTree
    filesystem, as HDFS and S3 are seen through pyarrow): writer A stopped between looking
    for the lock and writing its own, writer B takes the lock; A then writes over it and
    believes it holds it, but B's check before publishing refuses: one writer publishes."""
    store = Lake.on_filesystem(fs.SubTreeFileSystem(str(tmp_path), fs.LocalFileSystem()), "index")
    assert not store.atomic_create
    between, go = threading.Event(), threading.Event()
    write = Lake.write_atomically

    def paused_write(lake, relative, data):
        if threading.current_thread().name == "A":
            between.set()
            assert go.wait(60)
        write(lake, relative, data)

    monkeypatch.setattr(Lake, "write_atomically", paused_write)
    first, second = WriterLock(store, "A", settle=0.1), WriterLock(store, "B", settle=0.1)
    taker = threading.Thread(target=first.acquire, name="A")
    taker.start()
    assert between.wait(60)
    second.acquire()
    second.check()
    with pytest.raises(IndexBusy):  # A sees B's lock while B holds it
        WriterLock(store, "C", settle=0.1).acquire()
    go.set()
    taker.join(60)
    first.check()
    with pytest.raises(IndexBusy, match="is now held by 'A'"):
        second.check()


def test_a_lock_of_another_name_is_held_beside_the_writer_lock(tmp_path):
    """The follower's lock (`FOLLOWER_LOCK`) is its own file: held with the writer lock, a
    second holder of that name is refused naming the first, and each release removes its own."""
    store = Lake(tmp_path)
    with (
        WriterLock(store, "index follow", name=FOLLOWER_LOCK) as following,
        WriterLock(store, "index build") as writing,
    ):
        assert holder(store, FOLLOWER_LOCK) == following.me
        assert holder(store) == writing.me
        with pytest.raises(IndexBusy) as refused:
            WriterLock(store, "index follow (second)", name=FOLLOWER_LOCK).acquire()
        message = str(refused.value)
        for detail in (f"{tmp_path}/{FOLLOWER_LOCK}", "'index follow'", f"pid {os.getpid()}"):
            assert detail in message, message
        following.check()
    assert holder(store, FOLLOWER_LOCK) is None
    assert holder(store) is None
    assert sorted(os.listdir(tmp_path)) == []


def test_a_named_lock_of_a_killed_holder_is_stale_and_taken(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(gone.stdout)
    fields = {"token": "t", "host": socket.gethostname(), "pid": pid, "started": time.time()}
    (tmp_path / FOLLOWER_LOCK).write_text(json.dumps({**fields, "command": "index follow"}))
    with WriterLock(Lake(tmp_path), "index follow", name=FOLLOWER_LOCK) as lock:
        assert holder(Lake(tmp_path), FOLLOWER_LOCK) == lock.me
        assert holder(Lake(tmp_path)) is None


def test_abandoned_files_of_either_lock_are_garbage_the_locks_are_not(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid, old = int(dead.stdout), time.time() - 120
    garbage = [
        f"{LOCK}.tmp-{pid}-1",
        f"{FOLLOWER_LOCK}.tmp-{pid}-1",
        f"{FOLLOWER_LOCK}.tmp-{os.getpid()}-1",  # a live process's, but a minute old
        f"{LOCK}.broken-0a1b",
        f"{FOLLOWER_LOCK}.broken-0a1b",
    ]
    kept = [LOCK, FOLLOWER_LOCK, "other.lock.tmp-1-1", f"{FOLLOWER_LOCK}.tmp-x-1"]
    for name in garbage + kept:
        (tmp_path / name).write_text("{}")
        os.utime(tmp_path / name, (old, old))
    fresh = f"{FOLLOWER_LOCK}.tmp-{os.getpid()}-2"  # being written by a live process
    (tmp_path / fresh).write_text("{}")
    assert [abandoned_lock_file(n, old) for n in garbage] == [True] * len(garbage)
    assert [abandoned_lock_file(n, old) for n in kept] == [False] * len(kept)
    assert not abandoned_lock_file(fresh, time.time())
    deleted = sweep(Lake(tmp_path), None)
    assert sorted(deleted) == sorted(garbage)
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, fresh])
