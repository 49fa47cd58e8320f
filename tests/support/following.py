"""The follower's test night: what Spark's streaming sink really wrote, and checks on a lake.

A real structured-streaming query (`support.streaming.LiveNight`, local Spark) appends the real
ZTF alerts of 2021-11-21 to ``online/science/20211121`` in three runs (batches 0-1, 2 with the
first ``.compact``, 3-4), and Fink's merge (`merge_night`) writes the night to the archive; each
state is copied once (`stream_the_night`), and a test puts them in its own lake in turn. What a
test expects comes from the sink's log and the part files read with pyarrow
(`support.streaming`), never from the follower. Used by tests/index/test_follow.py,
test_live_nights.py, test_archived_nights.py and test_night_reads.py.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import NotFound
from fink_cutout_jupyter.index.follow import Follower
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import KINDS
from support.lifecycle import REAL_FILES
from support.streaming import (
    ARCHIVE,
    LiveNight,
    chunks,
    committed_alerts,
    merge_night,
)

NIGHT = dt.date(2021, 11, 21)
NAME = "20211121"
ONLINE_NIGHT = f"online/science/{NAME}"
RUNS = ((0, 1), (2,), (3, 4))  # the pieces of the night each run of the query commits


class Streamed(NamedTuple):
    stages: list[Path]  # the live night's directory after each run
    archive: Path  # archive/science after the merge of the whole night


def stream_the_night(spark, base: Path) -> Streamed:
    """The real ZTF night streamed by a real Spark query in `RUNS`, each stage copied, then
    merged into the archive (copied too)."""
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


def new_parts(streamed: Streamed, stage: int) -> set[str]:
    """Names of the part files run `stage` committed."""
    names = [
        {p.name for p in streamed.stages[s].glob("part-*.parquet")} for s in (stage - 1, stage)
    ]
    return names[1] - names[0]


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


def recorded_spills(monkeypatch, module, spill_rows: int) -> list:
    """The `EntrySpill`s `module` makes from now on, each with ``was_spilled`` once closed
    (whether its entries went to spill files), `SPILL_ROWS` set to `spill_rows`."""
    from fink_cutout_jupyter.index import spills

    made: list = []

    class Recorded(spills.EntrySpill):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

        def close(self) -> None:
            self.was_spilled = self.spilled or getattr(self, "was_spilled", False)
            super().close()

    monkeypatch.setattr(spills, "SPILL_ROWS", spill_rows)
    monkeypatch.setattr(module, "EntrySpill", Recorded)
    return made
