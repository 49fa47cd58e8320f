"""The sink commit log read on logs written by a real Spark structured-streaming query."""

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.errors import CorruptData
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.sink_log import SinkCommits, latest_batch, read_commits

DIRECTORY = "online/science/20241105"
RUNS = (2, 1, 2, 1, 2)  # input files per run; one batch per file (maxFilesPerTrigger=1)
COMPACT_INTERVAL = 3  # batches 2, 5 are N.compact


class Stage(NamedTuple):
    root: Path  # a lake root holding a copy of the sink as this run left it
    latest: int  # the query's last batch id, from Spark's progress
    new_parts: set[str]  # part files this run added to the directory (lake-relative)
    all_parts: set[str]


@pytest.fixture(scope="module")
def stages(spark, tmp_path_factory) -> list[Stage]:
    """Five runs of one streaming query (one checkpoint), the sink copied after each."""
    base = tmp_path_factory.mktemp("sink_log")
    inputs, checkpoint = base / "input", base / "checkpoint"
    sink = base / "lake" / DIRECTORY
    inputs.mkdir()
    spark.conf.set("spark.sql.streaming.fileSink.log.compactInterval", str(COMPACT_INTERVAL))
    # Spark's defaults, whatever another test of the session set: no batch file cleaned up here
    spark.conf.set("spark.sql.streaming.fileSink.log.cleanupDelay", "10m")
    spark.conf.set("spark.sql.streaming.minBatchesToRetain", "100")
    stages, seen, number = [], set(), 0
    try:
        for run, files in enumerate(RUNS):
            for _ in range(files):
                table = pa.table({"objectId": [f"ZTF24{number:07d}"], "candid": [number]})
                pq.write_table(table, inputs / f"alerts-{number:03d}.parquet")
                number += 1
            query = (
                spark.readStream.schema("objectId string, candid long")
                .option("maxFilesPerTrigger", 1)
                .parquet(str(inputs))
                .writeStream.format("parquet")
                .option("checkpointLocation", str(checkpoint))
                .trigger(availableNow=True)
                .start(str(sink))
            )
            query.awaitTermination()
            latest = query.lastProgress["batchId"]
            parts = {f"{DIRECTORY}/{p.name}" for p in sink.glob("part-*.parquet")}
            root = base / f"stage{run}"
            shutil.copytree(base / "lake", root)
            stages.append(Stage(root, latest, parts - seen, parts))
            seen = parts
    finally:
        for name in ("fileSink.log.compactInterval", "fileSink.log.cleanupDelay"):
            spark.conf.unset(f"spark.sql.streaming.{name}")
        spark.conf.unset("spark.sql.streaming.minBatchesToRetain")
    return stages


@pytest.fixture
def final_copy(stages, tmp_path) -> Path:
    """A copy of the sink after the last run, to damage."""
    root = tmp_path / "lake"
    shutil.copytree(stages[-1].root, root)
    return root


def log_dir(root: Path) -> Path:
    return root / DIRECTORY / "_spark_metadata"


def paths(commits: SinkCommits) -> set[str]:
    return {file.path for file in commits.files}


def test_spark_wrote_the_log_this_reader_expects(stages):
    """The facts the reader relies on, as Spark 4 writes them."""
    names = sorted(os.listdir(log_dir(stages[-1].root)))
    assert [s.latest for s in stages] == [1, 2, 4, 5, 7]
    assert {"2.compact", "5.compact", "0", "7"} <= set(names)
    assert ".0.crc" in names  # hidden checksums beside each file
    lines = (log_dir(stages[-1].root) / "7").read_text().splitlines()
    assert lines[0] == "v1"
    entry = json.loads(lines[1])
    assert entry["path"].startswith("file:///")
    assert entry["action"] == "add"


def test_latest_batch_after_each_run(stages):
    for stage in stages:
        assert latest_batch(Lake(stage.root), DIRECTORY) == stage.latest


def test_successive_batches_read_incrementally(stages):
    """Each run's batches read after the previous run's latest: its new part files, or every
    part file when its batches include a compact (whole)."""
    after = -1
    for stage in stages:
        commits = read_commits(Lake(stage.root), DIRECTORY, after=after)
        compacted = any((b + 1) % COMPACT_INTERVAL == 0 for b in range(after + 1, stage.latest + 1))
        assert commits.latest == stage.latest
        assert commits.whole is compacted
        assert paths(commits) == (stage.all_parts if compacted else stage.new_parts)
        assert len(commits.files) == len(paths(commits))
        after = stage.latest


def test_a_range_of_an_older_log_read_from_the_final_log(stages):
    """`latest` bounds the read: batches 3..4 from the final log are run 3's files."""
    commits = read_commits(Lake(stages[-1].root), DIRECTORY, after=2, latest=4)
    assert commits == (4, commits.files, False)
    assert paths(commits) == stages[2].new_parts
    assert read_commits(Lake(stages[-1].root), DIRECTORY, after=7) == (7, [], False)


def test_committed_files_are_what_spark_reads_back(spark, stages):
    """Independent source: Spark's batch read of the sink directory (it reads the log)."""
    from pyspark.sql.functions import input_file_name

    root = stages[-1].root
    sink = root.parent / "lake" / DIRECTORY  # the query's own (the log names its files)
    frame = spark.read.parquet(str(sink)).select(input_file_name().alias("file"))
    spark_files = {row.file.rsplit("/", 1)[1] for row in frame.distinct().collect()}
    commits = read_commits(Lake(root), DIRECTORY)
    assert commits.whole
    assert commits.latest == 7
    assert {path.rsplit("/", 1)[1] for path in paths(commits)} == spark_files
    for file in commits.files:
        stat = (root / file.path).stat()
        assert file.size == stat.st_size
        assert abs(file.mtime_ms - stat.st_mtime * 1000) < 1000


def test_compact_read_alone_when_earlier_batch_files_were_cleaned_up(stages, final_copy):
    """Spark's cleanup deletes the batch files before a retained compact: the compact holds
    every file committed up to it."""
    everything = stages[-1].all_parts
    with_logs = read_commits(Lake(final_copy), DIRECTORY, after=3)
    for name in ("0", "1", "2.compact", "3", "4"):
        (log_dir(final_copy) / name).unlink()
    lake = Lake(final_copy)
    assert latest_batch(lake, DIRECTORY) == 7
    commits = read_commits(lake, DIRECTORY, after=3)
    assert commits == with_logs
    assert commits.whole
    assert paths(commits) == everything
    # batches 3..4 asked for, their files gone: read up to the next compact instead
    commits = read_commits(lake, DIRECTORY, after=2, latest=4)
    assert commits.latest == 5
    assert commits.whole
    assert paths(commits) == stages[3].all_parts
    # after the compact the batch files are still there: incremental
    commits = read_commits(lake, DIRECTORY, after=5)
    assert paths(commits) == stages[4].new_parts
    assert not commits.whole


def test_batch_files_deleted_between_listing_and_reading(stages, final_copy):
    """Spark's cleanup runs while the log is read (paused at the first read): the reader lists
    again and reads the compact that covers the deleted batches."""

    class CleanedUpMidRead(Lake):
        cleaned = False

        def read_small(self, relative):
            if not self.cleaned:
                self.cleaned = True
                for name in ("0", "1", "2.compact", "3", "4"):
                    (log_dir(final_copy) / name).unlink()
            return super().read_small(relative)

    lake = CleanedUpMidRead(final_copy)
    commits = read_commits(lake, DIRECTORY, after=2, latest=4)
    assert lake.cleaned
    assert commits.latest == 5
    assert commits.whole
    assert paths(commits) == stages[3].all_parts


def test_a_part_file_not_in_the_log_is_never_listed(stages, final_copy):
    committed = sorted((final_copy / DIRECTORY).glob("part-*.parquet"))[0]
    stray = committed.with_name(f"part-00000-{uuid.uuid4()}-c000.snappy.parquet")
    shutil.copy(committed, stray)
    for after in (-1, 6):
        assert f"{DIRECTORY}/{stray.name}" not in paths(
            read_commits(Lake(final_copy), DIRECTORY, after=after)
        )
    assert paths(read_commits(Lake(final_copy), DIRECTORY)) == stages[-1].all_parts


def test_no_log_or_an_empty_one_is_batch_minus_one(tmp_path):
    lake = Lake(tmp_path)
    assert latest_batch(lake, DIRECTORY) == -1
    assert read_commits(lake, DIRECTORY) == (-1, [], False)
    (tmp_path / DIRECTORY / "_spark_metadata").mkdir(parents=True)
    assert latest_batch(lake, DIRECTORY) == -1
    assert read_commits(lake, DIRECTORY) == (-1, [], False)


def test_temporary_and_hidden_names_in_the_log_are_ignored(stages, final_copy):
    """Spark writes `.<name>.<uuid>.tmp`, then renames it; a half-written batch 8 is not one."""
    forged = (log_dir(final_copy) / "7").read_text().replace(DIRECTORY, "x/y")
    (log_dir(final_copy) / f".8.{uuid.uuid4()}.tmp").write_text(forged)
    (log_dir(final_copy) / "9.tmp").write_text("v1")
    lake = Lake(final_copy)
    assert latest_batch(lake, DIRECTORY) == 7
    assert paths(read_commits(lake, DIRECTORY)) == stages[-1].all_parts


def test_delete_actions_are_honoured(stages, final_copy):
    batch_7 = log_dir(final_copy) / "7"
    first, *_ = batch_7.read_text().splitlines()[1:]
    deleted = json.loads(first) | {"action": "delete"}
    batch_7.write_text(batch_7.read_text() + "\n" + json.dumps(deleted))
    commits = read_commits(Lake(final_copy), DIRECTORY, after=5)
    deleted_path = f"{DIRECTORY}/{deleted['path'].rsplit('/', 1)[1]}"
    assert deleted_path in stages[4].new_parts
    assert paths(commits) == stages[4].new_parts - {deleted_path}


def test_hdfs_and_s3a_uris_map_to_the_same_lake_paths(stages, final_copy):
    """Spark writes the URI of the sink's filesystem; only what follows the directory counts."""
    for name, scheme in (("6", "hdfs://namenode.example:8020/user/fink"), ("7", "s3a://fink")):
        text = (log_dir(final_copy) / name).read_text()
        (log_dir(final_copy) / name).write_text(
            text.replace(f"file://{log_path_root(text)}", scheme)
        )
        assert scheme in (log_dir(final_copy) / name).read_text()
    commits = read_commits(Lake(final_copy), DIRECTORY, after=5)
    assert paths(commits) == stages[4].new_parts
    assert not commits.whole


def log_path_root(text):
    """The absolute root in front of DIRECTORY in a log file's first path."""
    path = json.loads(text.splitlines()[1])["path"].removeprefix("file://")
    return path[: path.index(f"/{DIRECTORY}/")]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: "v2" + text[2:], r"is version v2, written by another Spark"),
        (lambda text: text[3:], r"does not begin with a version line"),
        (lambda text: "", r"is empty"),
        (lambda text: text[:-5], r"line 2 is not a sink entry"),
        (lambda text: text.replace('"size":', '"bytes":'), r"line 2 is not a sink entry"),
        (lambda text: text.replace('"action":"add"', '"action":"move"'), r"action 'move'"),
        (lambda text: text.replace("/20241105/", "/20241106/"), r"outside 'online/science/2024"),
        (lambda text: text.replace("/20241105/", "/20241105/../../"), r"outside"),
    ],
)
def test_a_malformed_log_file_is_corrupt_data_naming_it(final_copy, damage, message):
    batch_7 = log_dir(final_copy) / "7"
    batch_7.write_text(damage(batch_7.read_text()))
    with pytest.raises(CorruptData, match=message) as caught:
        read_commits(Lake(final_copy), DIRECTORY, after=5)
    assert f"'{DIRECTORY}/_spark_metadata/7'" in str(caught.value)
    assert caught.value.status == 502


def test_a_missing_batch_no_compact_covers_is_corrupt_data(final_copy):
    (log_dir(final_copy) / "6").unlink()
    with pytest.raises(CorruptData, match=r"no file for batch 6 and no compact file covering it"):
        read_commits(Lake(final_copy), DIRECTORY, after=5)
