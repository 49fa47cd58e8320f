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
from fink_cutout_jupyter.index_lock import LOCK, WriterLock, holder
from fink_cutout_jupyter.lake import Lake

HOLD = """
import sys
from fink_cutout_jupyter.index_lock import WriterLock
from fink_cutout_jupyter.lake import Lake

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


def write_lock(root, host: str, pid: int, age: float) -> None:
    fields = {"token": "t", "host": host, "pid": pid, "started": time.time() - age}
    (root / LOCK).write_text(json.dumps({**fields, "command": "index build"}))


def test_a_lock_from_another_host_is_stale_after_the_age_limit(tmp_path):
    write_lock(tmp_path, "another-host", os.getpid(), age=60)
    with pytest.raises(IndexBusy, match="on host another-host"):
        WriterLock(Lake(tmp_path)).acquire()
    write_lock(tmp_path, "another-host", os.getpid(), age=25 * 3600)
    with WriterLock(Lake(tmp_path)) as lock:
        assert holder(Lake(tmp_path)) == lock.me


def test_index_unlock_breaks_the_lock_saying_whose_it_was(tmp_path, held, capsys):
    from fink_cutout_jupyter.cli import main

    assert main(["index", "unlock", "--lake", str(tmp_path), "--index", str(tmp_path)]) == 0
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
