"""The write session: one writer at a time, files first and the layout last, nothing lost when
writers race, are killed, or run in two threads of one process.

What a lookup must return is computed here from the lake's own files, not by the index.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading

import pytest

from fink_cutout_jupyter.errors import IndexBusy, IndexDamaged, NotFound
from fink_cutout_jupyter.index import deltas as index_deltas
from fink_cutout_jupyter.index.compaction import compact
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.writes import remove
from fink_cutout_jupyter.storage.lake import Lake

# Concurrent writers: writer A paused before each of its writes while writer B runs.


@pytest.fixture(scope="module")
def six_nights(tmp_path_factory) -> Lake:
    """A lake of 6 nights (4 files each), and an index of nights 0-1 compacted, 2 as a delta."""
    from fink_cutout_jupyter.demo.make import make_demo_lake
    from fink_cutout_jupyter.index.build import build

    root = tmp_path_factory.mktemp("six-nights")
    make_demo_lake(root, seed=11, nights=6, objects=200, index=False, files_per_night=4)
    lake = Lake(root)
    index = AlertIndex(lake)
    build(index, lake.nights()[:2], progress=False)
    compact(index, progress=False)
    build(index, lake.nights()[2:3], progress=False)
    return lake


def alerts_of_nights(lake: Lake) -> dict[dt.date, dict[int, str]]:
    """Each night's alert ids and files, read with pyarrow from the lake's Parquet files."""
    import pyarrow.parquet as pq

    return {
        night: {
            candid: path
            for path in lake.night_files(night)
            for candid in pq.read_table(lake.resolve(path), columns=["candid"])[
                "candid"
            ].to_pylist()
        }
        for night in lake.nights()
    }


def assert_index_holds(index_root, lake: Lake, nights: set[dt.date]) -> None:
    """Every alert of `nights` is found, by a new reader, in its file; the index is sound."""
    reader = AlertIndex(lake, str(index_root))
    assert reader.verify() == []
    for night, alerts in alerts_of_nights(lake).items():
        if night in nights:
            for candid, path in alerts.items():
                assert reader.alert(candid).path == path, f"{candid} of {night}"
    reader.close()


WRITES = {
    name: getattr(Lake, name) for name in ("write_atomically", "delete", "create_exclusively")
}


class PausedWriter:
    """Runs a writer in a thread of its own, stopped before its write number `at` (writes,
    deletes and exclusive creates on the index's filesystem) until `resume`."""

    NAME = "writer-A"

    def __init__(self, monkeypatch, at: int | None) -> None:
        self.at = at
        self.points: list[str] = []
        self.reached, self.go = threading.Event(), threading.Event()
        self.result: dict = {}
        for name, method in WRITES.items():
            monkeypatch.setattr(Lake, name, self._paused(name, method))

    def _paused(self, name: str, method):
        def call(lake, relative, *args):
            if threading.current_thread().name == self.NAME:
                self.points.append(f"{name} {relative}")
                if len(self.points) - 1 == self.at:
                    self.reached.set()
                    assert self.go.wait(120)
            return method(lake, relative, *args)

        return call

    def start(self, write) -> bool:
        """Run `write()`; whether it reached its pause point."""

        def run() -> None:
            try:
                self.result["value"] = write()
            except Exception as error:
                self.result["error"] = error
            finally:
                self.reached.set()

        self.thread = threading.Thread(target=run, name=self.NAME)
        self.thread.start()
        assert self.reached.wait(120)
        return "value" not in self.result and "error" not in self.result

    def resume(self) -> None:
        self.go.set()
        self.thread.join(120)
        assert not self.thread.is_alive()


def writers(lake: Lake, root) -> dict:
    from fink_cutout_jupyter.index.build import build

    nights = lake.nights()

    def new() -> AlertIndex:
        return AlertIndex(lake, str(root))

    return {
        "build night 3": (lambda wait=0: build(new(), nights[3:4], progress=False, wait=wait)),
        "build night 4": (lambda wait=0: build(new(), nights[4:5], progress=False, wait=wait)),
        "compact": (lambda wait=0: compact(new(), progress=False, wait=wait)),
        "rebuild": (lambda wait=0: build(new(), nights, progress=False, rebuild=True, wait=wait)),
    }


COMMANDS = {
    "build night 3": "'index build'",
    "compact": "'index compact'",
    "rebuild": "'index build --rebuild'",
}
NIGHTS_OF = {"build night 3": {3}, "build night 4": {4}, "compact": set(), "rebuild": set(range(6))}
RACES = [
    ("build night 3", "build night 4"),  # two builds of different nights at once
    ("build night 3", "compact"),  # compaction during a build
    ("compact", "build night 4"),
    ("rebuild", "build night 4"),
]


def race(six_nights, tmp_path, monkeypatch, first, second, at, wait=0.0, break_lock=False):
    """Writer `first` paused before its write `at` while `second` runs; (paused?, outcomes)."""
    import shutil

    from fink_cutout_jupyter.index.lock import break_lock as unlock

    root = tmp_path / f"index-{at}"
    shutil.copytree(six_nights.resolve("_cutout_index"), root)
    paused = PausedWriter(monkeypatch, at)
    run = writers(six_nights, root)
    if not paused.start(lambda: run[first](wait)):
        return False, paused, {}
    outcome = {}
    if break_lock:
        unlock(AlertIndex(six_nights, str(root)).store, force=True)

    def second_writer() -> None:
        try:
            outcome["value"] = run[second](wait)
        except Exception as error:
            outcome["error"] = error

    other = threading.Thread(target=second_writer)
    other.start()
    if not wait:
        other.join(120)
    paused.resume()
    other.join(120)
    return True, paused, outcome


@pytest.mark.parametrize(("first", "second"), RACES)
def test_a_second_writer_is_refused_naming_the_first_and_nothing_is_lost(
    six_nights, tmp_path, monkeypatch, first, second
):
    """At every write point of the first writer, the second either runs alone (the first had
    not taken the lock yet, and is then refused) or is refused naming the first; the nights of
    whichever wrote are all found, and so are the nights indexed before."""
    at = 0
    while True:
        reached, paused, outcome = race(six_nights, tmp_path, monkeypatch, first, second, at)
        if not reached:
            break
        results = {first: paused.result, second: outcome}
        refused = [name for name, result in results.items() if "error" in result]
        if paused.points[at] == "create_exclusively writer.lock":  # the second ran first, alone
            assert refused == [], results
        else:
            assert refused == [second], f"at {paused.points[at]}: {results}"
            message = str(outcome["error"])
            assert isinstance(outcome["error"], IndexBusy), message
            for detail in (f"pid {os.getpid()}", COMMANDS[first], "index unlock"):
                assert detail in message, message
        written = {0, 1, 2} | {
            n for name in results if name not in refused for n in NIGHTS_OF[name]
        }
        nights = six_nights.nights()
        assert_index_holds(tmp_path / f"index-{at}", six_nights, {nights[n] for n in written})
        at += 1
    assert at >= 4, paused.points


@pytest.mark.parametrize(("first", "second"), RACES)
def test_a_waiting_writer_writes_after_the_first(six_nights, tmp_path, monkeypatch, first, second):
    at = 0
    while True:
        reached, paused, outcome = race(six_nights, tmp_path, monkeypatch, first, second, at, 60)
        if not reached:
            break
        assert "error" not in paused.result, paused.result
        assert "error" not in outcome, outcome
        written = {0, 1, 2} | NIGHTS_OF[first] | NIGHTS_OF[second]
        nights = six_nights.nights()
        assert_index_holds(tmp_path / f"index-{at}", six_nights, {nights[n] for n in written})
        at += 1


@pytest.mark.parametrize(("first", "second"), RACES)
def test_a_writer_whose_lock_was_broken_does_not_publish_over_another(
    six_nights, tmp_path, monkeypatch, first, second
):
    """The lock broken by hand while the first writer is paused: the second writes, and the
    first, on resuming, refuses to publish (its lock is gone, the layout changed) rather than
    lose the second's nights. (Not tested: a pause between the first's last check and its
    write of layout.json, the window of a compare and swap made of a read and a write.)"""
    at = 0
    while True:
        reached, paused, outcome = race(
            six_nights, tmp_path, monkeypatch, first, second, at, break_lock=True
        )
        if not reached:
            break
        if paused.points[at] == "write_atomically layout.json":
            at += 1
            continue
        assert "error" not in outcome, outcome
        written = {0, 1, 2} | NIGHTS_OF[second]
        if "error" in paused.result:
            assert isinstance(paused.result["error"], IndexBusy | NotFound | IndexDamaged)
        else:
            written |= NIGHTS_OF[first]
        nights = six_nights.nights()
        assert_index_holds(tmp_path / f"index-{at}", six_nights, {nights[n] for n in written})
        at += 1


# A writer killed (SIGKILL) before each of its writes, or in the middle of one.

KILLED_AT = """
import os, signal, sys, threading
from fink_cutout_jupyter.cli import main
from fink_cutout_jupyter.storage.lake import Lake

at, middle, count = int(sys.argv[1]), sys.argv[2] == "middle", [0]

def killing(name, method):
    def call(lake, relative, *args):
        if count[0] == at:
            if middle and args:  # half the file written to its temporary name, as writes do
                path = lake.resolve(relative)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(f"{path}.tmp-{os.getpid()}-{threading.get_ident()}", "wb") as half:
                    half.write(args[0][: len(args[0]) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        count[0] += 1
        return method(lake, relative, *args)
    return call

for name in ("write_atomically", "delete", "create_exclusively"):
    setattr(Lake, name, killing(name, getattr(Lake, name)))
status = main(sys.argv[3:])
print(f"writes: {count[0]}", file=sys.stderr)
sys.exit(status)
"""

KILLED_WRITERS = {
    "build a night": ["build", "--night", "20241122"],
    "compact": ["compact"],
    "rebuild": ["build", "--all", "--rebuild"],
}


def killed_writer(lake: Lake, root, at: int, middle: bool, command: list[str]):
    import subprocess
    import sys

    argv = ["index", *command, "--lake", lake.uri, "--index", str(root), "-q"]
    return subprocess.run(
        [sys.executable, "-c", KILLED_AT, str(at), "middle" if middle else "before", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("writer", KILLED_WRITERS)
def test_a_writer_killed_at_any_write_leaves_an_index_that_works(six_nights, tmp_path, writer):
    """Killed before each write (and in the middle of each file written): the alerts indexed
    before are all found, ``index stats --verify`` passes (its temporary files ignored), and
    the next writer breaks the dead writer's lock, cleans what it left and writes."""
    import shutil

    from fink_cutout_jupyter.cli import main

    original = six_nights.resolve("_cutout_index")
    shutil.copytree(original, tmp_path / "whole")
    whole = killed_writer(six_nights, tmp_path / "whole", -1, False, KILLED_WRITERS[writer])
    assert whole.returncode == 0, whole.stderr
    writes = int(whole.stderr.rsplit("writes: ", 1)[1])
    assert writes >= 5
    nights = six_nights.nights()
    kills = 0
    for at in range(writes):
        for middle in (False, True):
            root = tmp_path / f"killed-{at}-{middle}"
            shutil.copytree(original, root)
            killed = killed_writer(six_nights, root, at, middle, KILLED_WRITERS[writer])
            assert killed.returncode == -9, killed.stderr
            kills += 1
            assert_index_holds(root, six_nights, set(nights[:3]))
            lake = ["--lake", six_nights.uri, "--index", str(root)]
            assert main(["index", "stats", *lake, "--verify"]) == 0, f"killed at {at}"
            assert main(["index", "build", "--night", "20241123", *lake, "-q"]) == 0
            assert_index_holds(root, six_nights, {*nights[:3], nights[4]})
            left = [p.name for p in root.rglob("*") if ".tmp-" in p.name or p.name == "writer.lock"]
            assert left == [], f"killed at {at}: left {left}"
            shutil.rmtree(root)
    assert kills == 2 * writes


# A bucketed delta's writer killed between or in the middle of its bucket files.

KILLED_AT_BUCKET = """
import os, signal, sys, threading
from fink_cutout_jupyter.cli import main
from fink_cutout_jupyter.index import buckets
from fink_cutout_jupyter.storage.lake import Lake

buckets.DELTA_BUCKET_ROWS = 8  # the night's delta: several buckets
at, middle, count = int(sys.argv[1]), sys.argv[2] == "middle", [0]
create = Lake.create_exclusively

def killing(lake, relative, data):
    if "/bucket-" in relative and relative.startswith("delta/"):
        if count[0] == at:
            if middle:  # half the bucket written to its temporary name, as writes do
                path = lake.resolve(relative)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(f"{path}.tmp-{os.getpid()}-{threading.get_ident()}", "wb") as half:
                    half.write(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        count[0] += 1
    return create(lake, relative, data)

Lake.create_exclusively = killing
status = main(sys.argv[3:])
print(f"bucket files: {count[0]}", file=sys.stderr)
sys.exit(status)
"""


def killed_at_bucket(lake: Lake, root, at: int, middle: bool):
    import subprocess
    import sys

    argv = ["index", "build", "--night", "20241122", "--lake", lake.uri, "--index", str(root)]
    return subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_AT_BUCKET,
            str(at),
            "middle" if middle else "before",
            *argv,
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_writer_killed_among_its_bucket_files_leaves_the_previous_layout_usable(
    six_nights, tmp_path
):
    """Killed before its first, a middle and its last bucket file (and in the middle of one):
    the published layout still serves every alert indexed before, the directory of the
    unpublished delta is named by no layout and swept by the next writer."""
    import shutil

    from fink_cutout_jupyter.cli import main

    original = six_nights.resolve("_cutout_index")
    shutil.copytree(original, tmp_path / "whole")
    whole = killed_at_bucket(six_nights, tmp_path / "whole", -1, False)
    assert whole.returncode == 0, whole.stderr
    files = int(whole.stderr.rsplit("bucket files: ", 1)[1])
    assert files >= 4, "the night's delta is bucketed"
    layout = json.loads((tmp_path / "whole" / "layout.json").read_text())
    assert max(delta.get("buckets", 1) for delta in layout["deltas"]) > 1
    nights = six_nights.nights()
    for at, middle in [(0, False), (files // 2, True), (files - 1, False)]:
        root = tmp_path / f"killed-{at}-{middle}"
        shutil.copytree(original, root)
        before = (root / "layout.json").read_bytes()
        killed = killed_at_bucket(six_nights, root, at, middle)
        assert killed.returncode == -9, killed.stderr
        assert (root / "layout.json").read_bytes() == before, "nothing published"
        if at or middle:
            assert list((root / "delta").glob("*/*/bucket-*")), "bucket files were left"
        assert_index_holds(root, six_nights, set(nights[:3]))
        lake = ["--lake", six_nights.uri, "--index", str(root)]
        assert main(["index", "stats", *lake, "--verify"]) == 0
        assert main(["index", "build", "--night", "20241123", *lake, "-q"]) == 0
        assert_index_holds(root, six_nights, {*nights[:3], nights[4]})
        named = {d["name"] for d in json.loads((root / "layout.json").read_text())["deltas"]}
        left = {p.name for p in (root / "delta").glob("*/*") if p.is_dir()}
        assert left <= named, f"killed at bucket {at}: the unpublished delta's directory swept"
        shutil.rmtree(root)


# A repaired index never reuses a name: running servers keep index files open by name.


def indexed_names(root) -> set[str]:
    layout = json.loads((root / "layout.json").read_text())
    names = {delta["name"] for delta in layout["deltas"]}
    return names | ({f"base-{layout['generation']}"} if layout["generation"] is not None else set())


@pytest.mark.parametrize("repair", ["rebuild", "rebuild, then compact"])
def test_a_repaired_index_names_no_file_as_before_and_running_servers_follow_it(
    demo, tmp_path, repair
):
    """The layout is damaged, a night leaves the lake, the index is rebuilt (and compacted):
    a server that ran all along answers as a fresh one, from the lake's files (before: the
    rebuild wrote base-0 and delta names again, and the running server kept reading the old
    files it had open under those names: alerts of the removed night, at paths now gone)."""
    import shutil

    import pyarrow.parquet as pq

    from fink_cutout_jupyter.index.build import build

    shutil.copytree(demo.root / "science", tmp_path / "lake" / "science")
    lake = Lake(tmp_path / "lake")
    root = tmp_path / "index"
    build(AlertIndex(lake, str(root)), lake.nights(), progress=False)
    compact(AlertIndex(lake, str(root)), progress=False)
    build(AlertIndex(lake, str(root)), lake.nights()[-1:], progress=False)
    before = indexed_names(root)
    removed = lake.nights()[-2]
    files = [lake.resolve(path) for path in lake.night_files(removed)]
    gone = pq.read_table(files[0], columns=["candid"])["candid"].to_pylist()
    running = AlertIndex(lake, str(root), refresh_seconds=0.0)
    assert running.alert(gone[0]).path == lake.night_files(removed)[0]  # files opened

    (root / "layout.json").write_text('{"format": 5, "surv')
    for path in files:
        os.unlink(path)
    build(AlertIndex(lake, str(root)), lake.nights(), progress=False, rebuild=True)
    if repair == "rebuild, then compact":
        compact(AlertIndex(lake, str(root)), progress=False)

    assert not indexed_names(root) & before
    fresh = AlertIndex(lake, str(root))
    for alert_id in gone:
        with pytest.raises(NotFound):
            running.alert(alert_id)
        with pytest.raises(NotFound):
            fresh.alert(alert_id)
    kept = pq.read_table(lake.resolve(lake.night_files(lake.nights()[0])[0]), columns=["candid"])
    for alert_id in kept["candid"].to_pylist():
        assert running.alert(alert_id) == fresh.alert(alert_id)


def test_an_index_removed_and_built_again_is_read_afresh_by_a_running_server(demo, tmp_path):
    """Names may come back after ``remove`` (nothing left to count from): a running server
    keeps files open by name and size, and reads a generation's sizes again when the layout
    changes, so it follows the new index."""
    import shutil

    from fink_cutout_jupyter.index.build import build

    shutil.copytree(demo.root / "science", tmp_path / "lake" / "science")
    lake = Lake(tmp_path / "lake")
    root = tmp_path / "index"
    nights = lake.nights()
    build(AlertIndex(lake, str(root)), nights, progress=False)
    compact(AlertIndex(lake, str(root)), progress=False)
    running = AlertIndex(lake, str(root), refresh_seconds=0.0)
    first = running.alerts("ZTF24abssjsb")
    remove(AlertIndex(lake, str(root)))
    build(AlertIndex(lake, str(root)), nights[:1], progress=False)
    compact(AlertIndex(lake, str(root)), progress=False)
    fresh = AlertIndex(lake, str(root))
    try:
        expected = fresh.alerts("ZTF24abssjsb")
    except NotFound:
        expected = []
    try:
        found = running.alerts("ZTF24abssjsb")
    except NotFound:
        found = []
    assert found == expected
    assert len(expected) < len(first)


def test_two_threads_writing_through_one_alert_index_do_not_share_a_session(
    demo, tmp_path, monkeypatch
):
    """Thread A is paused in its write; thread B builds another night through the same
    `AlertIndex`: B waits for the lock, or is refused, as another process would be (before: B
    joined A's session, and A published without B's night while B reported success)."""
    import shutil

    from fink_cutout_jupyter.index.build import build

    shutil.copytree(demo.root / "science", tmp_path / "lake" / "science")
    lake = Lake(tmp_path / "lake")
    index = AlertIndex(lake, str(tmp_path / "index"))
    first, second = lake.nights()[:2]
    paused, go = threading.Event(), threading.Event()
    write_manifest = index_deltas.write_manifest

    def pausing(*arguments):
        if threading.current_thread().name == "A":
            paused.set()
            go.wait(60)
        return write_manifest(*arguments)

    monkeypatch.setattr(index_deltas, "write_manifest", pausing)
    outcome = {}

    def run(name: str, night) -> None:
        try:
            outcome[name] = build(index, [night], progress=False)
        except IndexBusy as refused:
            outcome[name] = refused

    a = threading.Thread(target=run, args=("A", first), name="A")
    a.start()
    assert paused.wait(60)
    b = threading.Thread(target=run, args=("B", second), name="B")
    b.start()
    b.join(60)
    go.set()
    a.join(60)
    assert isinstance(outcome["B"], IndexBusy), outcome
    assert not isinstance(outcome["A"], Exception)
    layout = json.loads((tmp_path / "index" / "layout.json").read_text())
    assert [night for delta in layout["deltas"] for night in delta["nights"]] == [
        int(f"{first:%Y%m%d}")
    ]
    build(index, [second], progress=False)  # the lock was released for the next thread
    layout = json.loads((tmp_path / "index" / "layout.json").read_text())
    indexed = sorted(night for delta in layout["deltas"] for night in delta["nights"])
    assert indexed == sorted(int(f"{night:%Y%m%d}") for night in (first, second))


def test_of_two_writers_past_the_lock_one_claims_the_next_base_generation(six_nights, tmp_path):
    """Writer A holds the lock; it is broken by hand and B takes it: both would write the same
    next base generation (Spark writes its buckets by replacing files). The first to claim
    it writes it; the other is refused before writing a bucket."""
    import shutil

    from fink_cutout_jupyter.index.lock import break_lock
    from fink_cutout_jupyter.index.writes import writing

    root = tmp_path / "index"
    shutil.copytree(six_nights.resolve("_cutout_index"), root)
    published = json.loads((root / "layout.json").read_text())["generation"]
    with writing(AlertIndex(six_nights, str(root)), "A") as a:
        break_lock(Lake(root), force=True)
        with writing(AlertIndex(six_nights, str(root)), "B") as b:
            assert a.next_generation == b.next_generation > published
            assert b.claim_generation() == b.next_generation
            with pytest.raises(IndexBusy, match=f"base-{a.next_generation}/writer.json exists"):
                a.claim_generation()
            assert (
                json.loads((root / f"base-{b.next_generation}" / "writer.json").read_text())[
                    "command"
                ]
                == "B"
            )


def test_a_writer_whose_lock_was_taken_before_it_swept_sweeps_nothing(
    six_nights, tmp_path, monkeypatch
):
    """Another writer takes the lock over just after this one got it (a stale-lock takeover):
    this writer is refused before deleting anything, as the files it would sweep may be the
    other's, not yet published."""
    import shutil

    from fink_cutout_jupyter.index.lock import LOCK, Holder, WriterLock
    from fink_cutout_jupyter.index.writes import writing

    root = tmp_path / "index"
    shutil.copytree(six_nights.resolve("_cutout_index"), root)
    unpublished = root / "delta" / "objects" / "20241125-L0-000099.arrow"
    unpublished.write_bytes(b"another writer's delta, not published yet")
    acquire = WriterLock.acquire

    def taken_over(lock) -> None:
        acquire(lock)
        (root / LOCK).write_bytes(Holder.me("the other writer").to_bytes())

    monkeypatch.setattr(WriterLock, "acquire", taken_over)
    with (
        pytest.raises(IndexBusy, match="'the other writer'"),
        writing(AlertIndex(six_nights, str(root))),
    ):
        pass
    assert unpublished.exists()
