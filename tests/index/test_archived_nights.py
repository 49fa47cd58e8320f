"""Archived nights (`index.archived_nights`): settled, covering, ``_temporary``, their cost; on
Fink's merge of what Spark's streaming sink really wrote (`support.following`).
"""

from __future__ import annotations

import logging
import shutil
import time

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from support.following import (
    NAME,
    NIGHT,
    ONLINE_NIGHT,
    RUNS,
    CountingHandler,
    assert_served,
    follow_whole_night,
    lake_of,
    put_archive,
    put_stage,
    recorded_spills,
)
from support.streaming import (
    ARCHIVE,
    committed_alerts,
    delete_online_night,
)

from fink_cutout_jupyter.errors import NotFound
from fink_cutout_jupyter.index.follow import Follower
from fink_cutout_jupyter.index.layout import read_layout
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake


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


def test_an_archived_night_is_written_through_a_spill_never_held_whole(root, streamed, monkeypatch):
    """Its files' entries go to the spill files as they are read (a Rubin night: 10^7 entries),
    and every alert is found from the archive after the write."""
    from fink_cutout_jupyter.index import archived_nights

    made = recorded_spills(monkeypatch, archived_nights, spill_rows=10)  # a file holds more entries
    follower, _ = follow_whole_night(root, streamed, settle_cycles=1)
    archive = put_archive(root, streamed)
    report = follower.cycle()
    assert [(m.files, m.alerts) for m in report.merged] == [(len(archive), 124)]
    assert len(made) == 1
    assert made[0].was_spilled
    assert not made[0].spilled  # closed: its files deleted
    assert assert_served(root, archive) == 124


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
