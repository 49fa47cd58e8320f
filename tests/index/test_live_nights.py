"""Live nights followed (`index.live_nights`): committed batches indexed, restarts, other
writers, a night written again; on what Spark's streaming sink really wrote (`support.following`).
"""

from __future__ import annotations

import logging
import shutil

from support.following import (
    NAME,
    NIGHT,
    ONLINE_NIGHT,
    RUNS,
    assert_found,
    assert_served,
    assert_unknown,
    committed,
    committed_stage_latest,
    lake_of,
    new_parts,
    put_stage,
    recorded_spills,
    written_again,
)
from support.streaming import (
    committed_alerts,
)

from fink_cutout_jupyter.index.follow import Follower
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.writes import WriteSession


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


def test_a_night_caught_up_goes_through_a_spill_never_held_whole(root, streamed, monkeypatch):
    """A follower started late (or after an outage) reads most of a night at once: its files'
    entries go to the spill files as they are read, with the part's batch, and every alert is
    found after the write."""
    from fink_cutout_jupyter.index import live_nights

    made = recorded_spills(monkeypatch, live_nights, spill_rows=10)  # a file holds more entries
    put_stage(root, streamed, len(RUNS) - 1)  # the whole night at first sight
    latest, files = committed(root)
    report = Follower(AlertIndex(lake_of(root))).cycle()
    assert [(r.batch, r.files, r.alerts) for r in report.indexed] == [(latest, len(files), 124)]
    assert [spill.was_spilled for spill in made] == [True]
    assert assert_served(root, files) == 124
    layout = read_layout(lake_of(root).subdirectory("_cutout_index"))
    assert layout["online"] == {NAME: latest}


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


def test_a_night_another_writer_indexed_is_read_again_not_indexed_twice(
    root, streamed, monkeypatch
):
    """Follower B writes the night's batches while A runs: after B's write (A reads what the
    index holds again), and between A's reading of the log and its write (A's check under the
    writer lock sees the index changed, and writes nothing)."""
    from fink_cutout_jupyter.index import live_nights

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
    writing = live_nights.writing

    def b_writes_first(*args, **kwargs):
        monkeypatch.setattr(live_nights, "writing", writing)
        assert [r.files for r in b.cycle().indexed] == [len(new_parts(streamed, 1))]
        return writing(*args, **kwargs)

    monkeypatch.setattr(live_nights, "writing", b_writes_first)
    assert a.cycle().indexed == []
    assert live_nights.writing is writing
    assert a.cycle().indexed == []  # read again: nothing new
    assert_served(root, committed(root)[1])


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
