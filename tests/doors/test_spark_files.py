"""Spark's Hadoop paths on the driver (local[2], the local filesystem through Hadoop): a dataset
renamed whole to its name, and a name another writer made first kept as it was."""

from __future__ import annotations

import threading

import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.doors import spark_files
from fink_cutout_jupyter.doors.spark import export_with_spark
from fink_cutout_jupyter.doors.spark_files import HadoopPath
from fink_cutout_jupyter.errors import BadParameter


def test_a_rename_moves_the_directory_and_refuses_a_name_that_exists(spark, tmp_path):
    source = tmp_path / "dataset"
    source.mkdir()
    (source / "part-0").write_bytes(b"rows")
    path = HadoopPath(spark, str(source))
    assert (path.uri, path.name, path.exists(), path.is_directory()) == (
        f"file:{source}",
        "dataset",
        True,
        True,
    )
    moved = path.sibling("moved")
    assert (moved.uri, moved.exists()) == (f"file:{tmp_path / 'moved'}", False)
    path.rename_to(moved, "moved")
    assert not source.exists()
    assert (tmp_path / "moved" / "part-0").read_bytes() == b"rows"

    other = tmp_path / "other"
    other.mkdir()
    (other / "part-0").write_bytes(b"other rows")
    with pytest.raises(BadParameter, match=r"^out: the-given-name exists \(made while"):
        HadoopPath(spark, str(other)).rename_to(moved, "the-given-name")
    assert (other / "part-0").read_bytes() == b"other rows"
    assert [p.name for p in (tmp_path / "moved").iterdir()] == ["part-0"]
    assert (tmp_path / "moved" / "part-0").read_bytes() == b"rows"
    moved.delete()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


def test_an_out_made_while_the_export_ran_is_kept_and_the_export_removed(
    spark, demo, demo_stored, tmp_path, monkeypatch
):
    """Another writer creates `out` once this export's dataset is complete, before its rename:
    the rename refuses, the other's `out` is left as it was, the temporary dataset deleted."""
    out = tmp_path / "stamps.parquet"
    complete = threading.Event()

    def other_writer_first(uri: str) -> None:
        assert pq.read_table(uri.removeprefix("file:")).num_rows == 10  # complete, not renamed
        out.mkdir()
        (out / "theirs").write_text("another export")
        complete.set()

    monkeypatch.setattr(spark_files, "_before_rename", other_writer_first)
    with pytest.raises(BadParameter, match="exists"):
        export_with_spark(spark, list(demo_stored)[:10], demo.root, str(out))
    assert complete.is_set()
    assert [p.name for p in out.iterdir()] == ["theirs"]
    assert [p.name for p in tmp_path.iterdir()] == ["stamps.parquet"]
