"""A followed night's files read (`index.night_reads`): a file that cannot be indexed is skipped,
logged once, and makes ``index follow --once`` exit 1 (`support.following`).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time

import pytest
from support.following import (
    NIGHT,
    ONLINE_NIGHT,
    assert_served,
    commit,
    committed,
    lake_of,
    log_lines,
    new_parts,
    put_stage,
)
from support.streaming import (
    ARCHIVE,
)

from fink_cutout_jupyter.cli import main
from fink_cutout_jupyter.index.follow import CycleReport, Follower
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake


def test_a_file_that_cannot_be_indexed_is_skipped_logged_once_and_once_exits_1(
    root, streamed, caplog, capsys
):
    """A committed file that is not Parquet, one the log names but was never written, and a
    directory are skipped with an error naming them; the night's other files are indexed; a
    night whose log is malformed (paths outside its directory) is an error said once an hour,
    and the other night goes on."""
    caplog.set_level(logging.INFO, "fink_cutout_jupyter.index.follow")
    put_stage(root, streamed, 0)
    night_dir = root / ONLINE_NIGHT
    (night_dir / "part-00000-garbage-c000.snappy.parquet").write_bytes(b"not parquet" * 50)
    (night_dir / "part-00001-directory-c000.snappy.parquet").mkdir()
    bad = [
        "part-00000-garbage-c000.snappy.parquet",
        "part-00001-never-written-c000.snappy.parquet",
        "part-00001-directory-c000.snappy.parquet",
    ]
    real = log_lines(root, ONLINE_NIGHT)
    commit(root, ONLINE_NIGHT, 2, [*bad, *new_parts(streamed, 1)], real[0])
    for name in new_parts(streamed, 1):
        shutil.copy2(streamed.stages[1] / name, night_dir / name)
    shutil.copytree(streamed.stages[0], root / "online/science/20211120")  # names 20211121's
    follower = Follower(AlertIndex(lake_of(root)))
    report = follower.cycle()
    good = committed(root)[1] - {f"{ONLINE_NIGHT}/{name}" for name in bad}
    assert [(r.night, r.batch, r.files) for r in report.indexed] == [(NIGHT, 2, len(good))]
    assert sorted(report.skipped) == sorted((NIGHT, f"{ONLINE_NIGHT}/{name}") for name in bad)
    assert report.failed == [dt.date(2021, 11, 20)]
    assert_served(root, good)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3
    for name, why in zip(bad, ("not a Parquet file", "no such file", "no such file"), strict=True):
        assert any(
            e.startswith(f"{NIGHT}: file '{ONLINE_NIGHT}/{name}' skipped") and why in e
            for e in errors
        ), errors
    assert not any("hdfsPath" in e for e in errors)
    malformed = [r for r in caplog.records if r.getMessage().startswith("2021-11-20: ")]
    assert len(malformed) == 1
    assert malformed[0].levelno == logging.WARNING
    assert "outside 'online/science/20211120'" in malformed[0].getMessage()
    caplog.clear()
    report = follower.cycle()  # remembered: not read again; the malformed log not said again
    assert (report.indexed, report.skipped, report.failed) == ([], [], [dt.date(2021, 11, 20)])
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    follower.clock = lambda: time.monotonic() + 3601
    follower.cycle()
    assert [r.getMessage()[:12] for r in caplog.records] == ["2021-11-20: "]

    shutil.rmtree(root / "online/science/20211120")
    arguments = ["index", "follow", "--lake", str(root), "--science-dir", ARCHIVE, "--once"]
    capsys.readouterr()
    caplog.clear()
    assert main(arguments) == 1  # a new follower reads the bad files again, and says so
    stderr = capsys.readouterr().err.splitlines()
    assert stderr[-1].startswith("fink-cutouts: index follow: 3 files skipped (2021-11-21: ")
    assert sum("skipped, it cannot be indexed" in r.getMessage() for r in caplog.records) == 3


def test_a_corrupt_parquet_file_is_skipped_and_the_nights_other_files_are_read(tmp_path):
    """Bytes pyarrow cannot decode (an OSError, as a failing lake's) are the file's own fault
    when the lake still answers for it: that file is skipped, the others indexed."""
    import pyarrow.parquet as pq
    from support.real_data import SHARED_DATA

    from fink_cutout_jupyter.index.night_reads import NightReader

    source = SHARED_DATA / "ztf" / "lake" / "archive" / "science" / "year=1988/month=11/day=03"
    night = tmp_path / "archive/science/year=1988/month=11/day=03"
    night.mkdir(parents=True)
    for file in sorted(source.glob("*.parquet")):
        shutil.copy(file, night / file.name)
    bad, good = sorted(night.glob("*.parquet"))
    chunk = next(
        column
        for group in [pq.ParquetFile(bad).metadata.row_group(0)]
        for column in (group.column(i) for i in range(group.num_columns))
        if column.path_in_schema == "candid"
    )
    data = bytearray(bad.read_bytes())  # the candid chunk's page garbled, its header kept
    end = chunk.data_page_offset + chunk.total_compressed_size
    data[chunk.data_page_offset + 30 : end - 5] = b"\xff" * (chunk.total_compressed_size - 35)
    bad.write_bytes(bytes(data))
    with pytest.raises(OSError, match="page header"):  # as a failing lake's errors are
        pq.read_table(bad)
    lake = Lake(tmp_path, science_dir=ARCHIVE)
    paths = [str(p.relative_to(tmp_path)) for p in (bad, good)]
    report = CycleReport()
    found = NightReader(lake, 2).read(dt.date(1988, 11, 3), paths, None, None, report)
    assert list(found) == [paths[1]]
    assert found[paths[1]].entries.num_rows == pq.read_metadata(good).num_rows
    assert report.skipped == [(dt.date(1988, 11, 3), paths[0])]
