import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.time import Time

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.demo import DEMO_OBJECT_ID, make_demo_lake, stream_demo_batch
from fink_cutout_jupyter.errors import NotFound
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.sink_log import SinkFile, read_commits


def digest(root, files) -> str:
    return hashlib.sha256(b"".join((root / f).read_bytes() for f in files)).hexdigest()


def test_demo_lake_has_fink_layout_and_size(demo, demo_lake):
    assert len(demo.nights) >= 3
    assert demo.objects >= 200
    assert demo_lake.nights() == list(demo.nights)
    assert sorted(f for n in demo.nights for f in demo_lake.night_files(n)) == sorted(demo.files)
    for path in demo.files:
        metadata = pq.ParquetFile(demo_lake.resolve(path)).metadata
        assert metadata.num_row_groups == 1
        assert metadata.row_group(0).column(0).compression == "SNAPPY"
    ids = pq.read_table(demo_lake.resolve(demo.files[0]), columns=["objectId"])
    assert ids.num_rows > 50


def test_demo_object_has_five_alerts_over_several_nights_and_latest_is_max_jd(demo, demo_lake):
    table = pq.ParquetDataset([demo_lake.resolve(f) for f in demo.files]).read(
        columns=["objectId", "candid", "candidate"]
    )
    alerts = [r for r in table.to_pylist() if r["objectId"] == DEMO_OBJECT_ID]
    assert len(alerts) >= 5
    nights = {dt.date.fromordinal(int(a["candidate"]["jd"] - 1721424.5)) for a in alerts}
    assert len(nights) >= 3
    reader = CutoutReader(demo_lake)
    last_night_alerts = []
    for path in demo_lake.night_files(demo.nights[-1]):
        try:
            last_night_alerts.append(reader.read(path, DEMO_OBJECT_ID))
        except NotFound:
            continue
    latest = max(last_night_alerts, key=lambda a: a.time)
    assert latest.time == max(a["candidate"]["jd"] for a in alerts)
    assert latest.properties["isdiffpos"] == "t"


def test_demo_stamps_look_like_the_sky(demo, demo_lake):
    path = demo.demo_object_files[0]
    alert = CutoutReader(demo_lake).read(path, DEMO_OBJECT_ID)
    science, template, difference = (alert.stamps[k].data for k in alert.stamps)
    assert science.shape == (63, 63)
    centre = (slice(29, 34), slice(29, 34))
    noise = np.std(difference[:10, :10])
    assert difference[centre].max() > 10 * noise, "the transient shows in the difference"
    assert np.median(science) > 50, "the science image has a sky background"
    assert np.std(template[:10, :10]) < np.std(science[:10, :10]), "the template is deeper"
    assert "BUNIT" in alert.stamps["Science"].header


def test_demo_is_deterministic_for_a_seed(tmp_path):
    first = make_demo_lake(tmp_path / "a", seed=7, index=False)
    second = make_demo_lake(tmp_path / "b", seed=7, index=False)
    other = make_demo_lake(tmp_path / "c", seed=8, index=False)
    assert first.files == second.files
    assert digest(first.root, first.files) == digest(second.root, second.files)
    assert digest(first.root, first.files) != digest(other.root, other.files)


def test_demo_lake_is_indexed(demo, demo_lake):
    from fink_cutout_jupyter.index.lookup import AlertIndex

    index = AlertIndex(demo_lake)
    assert index.stats()["entries"] == demo.alerts
    assert len(index.alerts(DEMO_OBJECT_ID)) == 5
    latest = index.latest(DEMO_OBJECT_ID)
    assert latest.path in demo.demo_object_files
    assert latest.path.startswith(f"science/year=2024/month=11/day={demo.nights[-1]:%d}/")


def test_demo_refuses_a_too_small_lake(tmp_path):
    with pytest.raises(ValueError, match="at least 3 nights and 200 objects"):
        make_demo_lake(tmp_path, nights=2)


def test_remaking_the_demo_replaces_an_index_of_an_older_format(tmp_path):
    import json

    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    make_demo_lake(tmp_path / "lake")
    layout = tmp_path / "lake" / "_cutout_index" / "layout.json"
    layout.write_text(json.dumps({**json.loads(layout.read_text()), "format": 2}))
    make_demo_lake(tmp_path / "lake")
    assert len(AlertIndex(Lake(tmp_path / "lake")).alerts(DEMO_OBJECT_ID)) == 5


def quickstart_of_version(number: int) -> bytes:
    """The package's quickstart as a release `number` would ship it (its title cell changed)."""
    import json

    from fink_cutout_jupyter.cli import bundled_quickstart

    notebook = json.loads(bundled_quickstart())
    notebook["cells"][0]["source"] = [f"# Quickstart, release {number}\n"]
    return json.dumps(notebook, indent=1).encode()


def edit(path) -> bytes:
    """What a user does in JupyterLab: add a cell of their own, save."""
    import json

    notebook = json.loads(path.read_bytes())
    notebook["cells"].append(
        {"cell_type": "code", "id": "mine", "metadata": {}, "outputs": [], "source": ["1 + 1"]}
    )
    path.write_text(json.dumps(notebook, indent=1))
    return path.read_bytes()


def test_the_quickstart_is_written_when_missing_and_kept_once_edited(tmp_path):
    from fink_cutout_jupyter.cli import bundled_quickstart
    from fink_cutout_jupyter.demo import write_quickstart

    packaged = bundled_quickstart()
    path, done = write_quickstart(tmp_path, packaged, "0.1.0")
    assert path == tmp_path / "quickstart.ipynb"
    assert path.read_bytes() == packaged
    assert done == "wrote quickstart.ipynb"
    edited = edit(path)
    again, done = write_quickstart(tmp_path, packaged, "0.1.0")  # `fink-cutouts demo` again
    assert again == path
    assert path.read_bytes() == edited
    assert done == "kept your edited quickstart.ipynb"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".quickstart.ipynb.sha256",
        "quickstart.ipynb",
    ]


def test_an_unedited_quickstart_follows_the_package_and_an_edited_one_gets_a_copy(tmp_path):
    from fink_cutout_jupyter.demo import write_quickstart

    path, _ = write_quickstart(tmp_path, quickstart_of_version(1), "0.1.0")
    _, done = write_quickstart(tmp_path, quickstart_of_version(2), "0.2.0")  # an upgrade
    assert path.read_bytes() == quickstart_of_version(2), "unedited: replaced"
    assert done == "wrote quickstart.ipynb"
    edited = edit(path)
    _, done = write_quickstart(tmp_path, quickstart_of_version(3), "0.3.0")
    assert path.read_bytes() == edited, "edited: kept"
    assert (tmp_path / "quickstart-0.3.0.ipynb").read_bytes() == quickstart_of_version(3)
    assert done.endswith("this version's quickstart: quickstart-0.3.0.ipynb")
    edit(tmp_path / "quickstart-0.3.0.ipynb")
    beside = (tmp_path / "quickstart-0.3.0.ipynb").read_bytes()
    write_quickstart(tmp_path, quickstart_of_version(3), "0.3.0")
    assert path.read_bytes() == edited
    assert (tmp_path / "quickstart-0.3.0.ipynb").read_bytes() == beside, "never overwritten"


def test_a_quickstart_of_unknown_origin_is_kept(tmp_path):
    from fink_cutout_jupyter.demo import write_quickstart

    mine = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    (tmp_path / "quickstart.ipynb").write_bytes(mine)  # written before the demo kept a record
    write_quickstart(tmp_path, quickstart_of_version(1), "0.1.0")
    assert (tmp_path / "quickstart.ipynb").read_bytes() == mine
    assert (tmp_path / "quickstart-0.1.0.ipynb").read_bytes() == quickstart_of_version(1)


# The live night: Spark's file sink as the demo simulates it, read back by the sink log's reader
# and by pyarrow.

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
    from fink_cutout_jupyter.demo import LiveDemoNight
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
