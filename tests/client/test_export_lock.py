"""One exporter of a file at a time: across threads of one process too."""

import os
import threading

from fink_cutout_jupyter.client.export_lock import ExportBusy, ExportLock


def test_two_threads_locking_one_file_one_holds_and_the_other_is_refused(tmp_path, monkeypatch):
    """Thread A pauses inside its os.link (its lock file made, flocked, not yet linked); B
    takes the lock meanwhile; A, resumed, is refused with ExportBusy, and the lock file names
    its holder throughout."""
    lock = tmp_path / "set.parquet.lock"
    inside, release = threading.Event(), threading.Event()
    link = os.link

    def paused_link(source, target, **options):
        if threading.current_thread().name == "A" and not inside.is_set():
            inside.set()
            release.wait(60)
        return link(source, target, **options)

    monkeypatch.setattr(os, "link", paused_link)
    outcome = {}

    def holder_a():
        try:
            with ExportLock(lock):
                outcome["A"] = "held"
        except ExportBusy as error:
            outcome["A"] = str(error)

    def holder_b(held: threading.Event, done: threading.Event):
        with ExportLock(lock):
            outcome["B"] = lock.read_text()
            held.set()
            done.wait(60)

    a = threading.Thread(target=holder_a, name="A")
    a.start()
    held, done = threading.Event(), threading.Event()
    b = threading.Thread(target=holder_b, args=(held, done), name="B")
    try:
        assert inside.wait(60)
        b.start()
        assert held.wait(10), "B waited for A's lock file (a name shared by the threads)"
        release.set()
        a.join(60)
        assert f"another export writes it (process {os.getpid()}, lock {lock})" in outcome["A"]
        assert outcome["B"] == f"{os.getpid()}\n"
        assert lock.read_text() == f"{os.getpid()}\n"
    finally:
        release.set()
        done.set()
        a.join(60)
        if b.ident is not None:
            b.join(60)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
