"""The live night: Spark's file sink as the demo simulates it, read back by the sink log's reader
and by pyarrow; the live demo streaming and following until stopped."""

import datetime as dt
import gzip
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.time import Time

from fink_cutout_jupyter.demo.live import stream_demo_batch
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.sink_log import SinkFile, read_commits

LIVE_NIGHT = dt.date(2024, 11, 22)
LIVE_DIRECTORY = "online/science/20241122"
PART_NAME = re.compile(
    r"part-00000-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-c000\.snappy\.parquet"
)
SINK_FIELDS = {"path", "size", "isDir", "modificationTime", "blockReplication", "blockSize"}


def log_entries(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    assert lines[0] == "v1"
    return [json.loads(line) for line in lines[1:]]


def test_streamed_batches_are_committed_as_sparks_file_sink_commits_them(tmp_path):
    batches = [stream_demo_batch(tmp_path, LIVE_NIGHT, alerts=3) for _ in range(11)]
    directory = tmp_path / LIVE_DIRECTORY
    log = directory / "_spark_metadata"
    assert [b.batch for b in batches] == list(range(11))
    assert sorted(os.listdir(log)) == sorted([*map(str, range(9)), "9.compact", "10"])
    assert sorted(os.listdir(directory)) == sorted(
        ["_spark_metadata", *(Path(b.path).name for b in batches)]
    ), "no temporary file left, and nothing else"
    for batch in batches:
        part = tmp_path / batch.path
        assert PART_NAME.fullmatch(part.name)
        entries = log_entries(tmp_path / batch.log)
        if batch.batch == 9:
            assert [e["path"] for e in entries] == [
                (tmp_path / b.path).as_uri() for b in batches[:10]
            ], "a compact lists every file committed so far"
        else:
            assert len(entries) == 1
        entry = entries[-1]
        assert entry["path"] == part.as_uri()
        assert set(entry) == {*SINK_FIELDS, "action"}
        assert entry["action"] == "add"
        assert (entry["size"], entry["isDir"]) == (part.stat().st_size, False)
        assert entry["modificationTime"] == part.stat().st_mtime_ns // 1_000_000
    lake = Lake(tmp_path)
    assert lake.online_nights() == [LIVE_NIGHT]
    commits = read_commits(lake, LIVE_DIRECTORY)
    assert (commits.latest, commits.whole) == (10, True)
    assert [f.path for f in commits.files] == [b.path for b in batches]
    last = (tmp_path / batches[10].path).stat()
    assert read_commits(lake, LIVE_DIRECTORY, after=9).files == [
        SinkFile(batches[10].path, last.st_size, last.st_mtime_ns // 1_000_000)
    ]


def test_a_batchs_alerts_are_what_pyarrow_reads_from_its_part_file(demo, tmp_path):
    batch = stream_demo_batch(tmp_path, LIVE_NIGHT, 0, alerts=6, new_objects=2)
    table = pq.read_table(tmp_path / batch.path).to_pylist()
    assert [row["objectId"] for row in table] == list(batch.object_ids)
    assert [row["candid"] for row in table] == list(batch.candids)
    assert len(set(batch.candids)) == len(table) == 8
    assert len(batch.new_objects) == 2
    assert DEMO_OBJECT_ID in batch.object_ids
    start = Time(dt.datetime.combine(LIVE_NIGHT, dt.time(4), tzinfo=dt.UTC)).jd
    for row in table:
        assert row["candidate"]["candid"] == row["candid"]
        assert start - 21 / 86400 <= row["candidate"]["jd"] <= start + 1e-6, "before the batch"
        for kind in ("Science", "Template", "Difference"):
            with fits.open(io.BytesIO(gzip.decompress(row[f"cutout{kind}"]["stampData"]))) as stamp:
                assert stamp[0].data.shape[0] == 63
    archived = pq.ParquetDataset([demo.root / f for f in demo.files]).read(
        columns=["objectId", "candidate"]
    )
    positions = {
        row["objectId"]: (row["candidate"]["ra"], row["candidate"]["dec"])
        for row in archived.to_pylist()
    }
    known = [row for row in table if row["objectId"] not in batch.new_objects]
    assert not set(batch.new_objects) & set(positions), "new objects are new"
    assert sum(row["objectId"] in positions for row in known) >= len(known) // 2
    for row in known:  # the demo lake's objects, where they were
        if row["objectId"] in positions:
            ra, dec = positions[row["objectId"]]
            assert abs(row["candidate"]["dec"] - dec) < 1 / 3600
            assert abs((row["candidate"]["ra"] - ra + 180) % 360 - 180) < 1 / 3600


def test_a_batch_out_of_sequence_is_refused(tmp_path):
    with pytest.raises(ValueError, match="the next batch of the live night 20241122 is 0"):
        stream_demo_batch(tmp_path, LIVE_NIGHT, 1)
    with pytest.raises(ValueError, match="at: a timezone-aware datetime"):
        stream_demo_batch(tmp_path, LIVE_NIGHT, at=dt.datetime(2024, 11, 22, 4))
    stream_demo_batch(tmp_path, LIVE_NIGHT, 0, alerts=1, new_objects=0)
    with pytest.raises(ValueError, match="is 1"):
        stream_demo_batch(tmp_path, LIVE_NIGHT, 0)
    assert len(list((tmp_path / LIVE_DIRECTORY).glob("part-*"))) == 1, "nothing written"


def test_a_part_file_written_but_not_committed_stays_out_of_the_log(tmp_path, monkeypatch):
    """Stopped between its part file and its commit (the commit's write fails), a batch leaves a
    file the log does not name; the next batch takes the same id, as Spark's retry does."""
    from fink_cutout_jupyter.storage import atomic

    stream_demo_batch(tmp_path, LIVE_NIGHT, alerts=1, new_objects=0)

    def killed(path, data):
        raise OSError("killed before the commit")

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "write_bytes_atomically", killed)
        with pytest.raises(OSError, match="killed before the commit"):
            stream_demo_batch(tmp_path, LIVE_NIGHT, alerts=1, new_objects=0)
    assert len(list((tmp_path / LIVE_DIRECTORY).glob("part-*"))) == 2
    retried = stream_demo_batch(tmp_path, LIVE_NIGHT, alerts=1, new_objects=0)
    assert retried.batch == 1
    committed = read_commits(Lake(tmp_path), LIVE_DIRECTORY)
    assert len(committed.files) == 2
    assert retried.path in [f.path for f in committed.files]


def test_the_live_demo_streams_and_follows_until_stopped(demo, tmp_path):
    from fink_cutout_jupyter.client import CutoutClient
    from fink_cutout_jupyter.demo.live import LiveDemoNight
    from fink_cutout_jupyter.index.follow import Follower
    from fink_cutout_jupyter.index.layout import read_layout
    from fink_cutout_jupyter.index.lookup import AlertIndex

    root = tmp_path / "lake"
    shutil.copytree(demo.root, root)
    index = AlertIndex(Lake(root))
    deadline = time.monotonic() + 120
    with LiveDemoNight(root, batch_seconds=0.5, interval=0.2) as live:
        name = f"{live.night:%Y%m%d}"
        while (read_layout(index.store) or {}).get("online", {}).get(name, -1) < 1:
            assert time.monotonic() < deadline, "the follower indexed no 2 batches in 2 min"
            time.sleep(0.1)
    assert not any(t.is_alive() for t in live._threads), "both threads stopped"
    assert live.directory == f"online/science/{name}"
    Follower(index).run(once=True)  # the follower lock was released; catches up
    streamed = live.batches
    assert len(streamed) >= 2
    alerts = CutoutClient(lake=str(root)).alerts(DEMO_OBJECT_ID)
    tonight = [b.candids[b.object_ids.index(DEMO_OBJECT_ID)] for b in streamed]
    assert [a["alertId"] for a in alerts][-len(tonight) :] == sorted(tonight)
    assert len(alerts) == 5 + len(tonight)
