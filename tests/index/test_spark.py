"""The Spark build (local[2]) against the single-process build: the same index, entry for entry.

On the demo lake, the two real ZTF lakes and the real Rubin alerts of ../shared/data, and a
generated lake of 6 nights with 4 files each. Every index file's entries (page spans included),
every `alerts(objectId)` and every `alert(alertId)` are compared; the number of alerts indexed
is checked against the Parquet footers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA, ZTF_LAKES

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.index.build import build, compact
from fink_cutout_jupyter.index.entries import TABLES
from fink_cutout_jupyter.index.files import read_index_table
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import SOLAR_SYSTEM_PREFIX


@pytest.fixture(scope="module")
def multi_night_lake(tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("multi-night")
    make_demo_lake(root, seed=7, nights=6, objects=200, index=False, files_per_night=4)
    return Lake(root)


@pytest.fixture(params=["demo", "ztf/lake", "ztf/lake-spark3", "rubin", "multi-night"])
def lake(request, demo, rubin_lake, multi_night_lake) -> Lake:
    if request.param in ZTF_LAKES:
        return Lake(SHARED_DATA / request.param, science_dir=ZTF_LAKES[request.param])
    return {"demo": Lake(demo.root), "rubin": rubin_lake, "multi-night": multi_night_lake}[
        request.param
    ]


def lake_files(lake: Lake) -> list[str]:
    return [path for night in lake.nights() for path in lake.night_files(night)]


def contents(index: AlertIndex) -> dict:
    """Every index file's entries, the layout, and the manifests (without their build time)."""
    root = Path(index.store.uri)
    found = {}
    for file in sorted(root.rglob("*")):
        name = file.relative_to(root).as_posix()
        if file.suffix == ".arrow":
            found[name] = read_index_table(index.store, name).to_pylist()
        elif file.name == "writer.json":  # the claim of a base generation: who wrote it
            found[name] = sorted(json.loads(file.read_text()))
        elif file.suffix == ".json":
            found[name] = json.loads(file.read_text())
            found[name].pop("indexed_at", None)  # a manifest's build time
            found[name].pop("next", None)  # the layout's count of deltas ever written
            found[name].pop("id", None)  # the layout's random id
    return found


def lookups(index: AlertIndex) -> tuple[dict, dict]:
    """Every object's `alerts` and every alert's `alert`, keyed as found in the index files."""
    keys = {table: set() for table in TABLES}
    for name, rows in contents(index).items():
        table = name.split("/")[-2] if name.endswith(".arrow") else None
        if table in TABLES:
            keys[table] |= {row[TABLES[table]] for row in rows}
    return (
        {
            key: (
                index.solar_system_alerts(key.removeprefix(SOLAR_SYSTEM_PREFIX))
                if key.startswith(SOLAR_SYSTEM_PREFIX)
                else index.alerts(key)
            )
            for key in keys["objects"]
        },
        {key: index.alert(key) for key in keys["alerts"]},
    )


def test_spark_nightly_deltas_are_the_single_process_build(spark, lake, tmp_path):
    from fink_cutout_jupyter.index.spark import build_with_spark

    single = AlertIndex(lake, str(tmp_path / "single"))
    reports = build(single, lake.nights(), progress=False)
    summary = build_with_spark(spark, lake, index=str(tmp_path / "spark"), progress=False)
    spark_index = AlertIndex(lake, str(tmp_path / "spark"))

    assert contents(spark_index) == contents(single)
    by_object, by_alert = lookups(spark_index)
    assert (by_object, by_alert) == lookups(single)
    lake_rows = sum(pq.ParquetFile(lake.resolve(p)).metadata.num_rows for p in lake_files(lake))
    assert len(by_alert) == summary.alerts == lake_rows
    # Rubin alerts of solar-system sources have no diaObjectId: in the alerts table only
    assert 0 < sum(len(alerts) for alerts in by_object.values()) <= lake_rows
    assert [(r.night, r.files, r.entries, r.bytes_read) for r in summary.nights] == [
        (r.night, r.files, r.entries, r.bytes_read) for r in reports
    ]
    assert_no_cutout_bytes_read(lake, summary.bytes_read)


def assert_no_cutout_bytes_read(lake: Lake, bytes_read: int) -> None:
    """What indexing read, against the footers' sizes of the cutout and other column chunks."""
    cutouts = others = 0
    for path in lake_files(lake):
        metadata = pq.ParquetFile(lake.resolve(path)).metadata
        for group in range(metadata.num_row_groups):
            for number in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(number)
                if "cutout" in chunk.path_in_schema.lower():
                    cutouts += chunk.total_compressed_size
                else:
                    others += chunk.total_compressed_size
    assert cutouts > 0
    # at most: every small column, pyarrow's 64 KB read of each file's end for its footer, and
    # the page headers (a few % of the cutouts)
    footer_reads = 64 * 1024 * len(lake_files(lake))
    assert 0 < bytes_read < others + footer_reads + 0.05 * cutouts


def test_a_spark_base_is_the_single_process_build_then_compaction(spark, lake, tmp_path):
    from fink_cutout_jupyter.index.spark import build_with_spark

    single = AlertIndex(lake, str(tmp_path / "single"))
    build(single, lake.nights(), progress=False)
    compact(single, progress=False)
    build_with_spark(spark, lake, index=str(tmp_path / "spark"), base=True, progress=False)
    spark_index = AlertIndex(lake, str(tmp_path / "spark"))
    assert contents(spark_index) == contents(single)
    assert lookups(spark_index) == lookups(single)


@pytest.mark.parametrize("deltas", ["single files", "bucketed"])
def test_spark_compaction_is_compaction(spark, multi_night_lake, tmp_path, monkeypatch, deltas):
    from fink_cutout_jupyter.index import buckets
    from fink_cutout_jupyter.index.spark import build_with_spark, compact_with_spark

    if deltas == "bucketed":
        monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", 16)
    lake = multi_night_lake
    single = AlertIndex(lake, str(tmp_path / "single"))
    on_spark = AlertIndex(lake, str(tmp_path / "spark"))
    nights = lake.nights()
    for index in (single, on_spark):  # a base of the first nights, then deltas of the others
        build(index, nights[:4], progress=False)
        compact(index, progress=False)
        build(index, nights[2:], progress=False)
    if deltas == "bucketed":
        (delta,) = json.loads((tmp_path / "spark" / "layout.json").read_text())["deltas"]
        assert delta["buckets"] > 1
    compact(single, progress=False)
    from fink_cutout_jupyter.index.spark import compact_with_spark as spark_compact

    assert spark_compact(spark, lake, str(tmp_path / "spark"))["merged_nights"] == 4
    assert contents(on_spark) == contents(single)
    assert lookups(on_spark) == lookups(single)
    build_with_spark(spark, lake, nights[-1:], index=str(tmp_path / "spark"), progress=False)
    assert compact_with_spark(spark, lake, str(tmp_path / "spark"))["generation"] == 2


def test_readers_never_see_half_an_index_while_spark_rebuilds(
    spark, multi_night_lake, tmp_path, monkeypatch
):
    """After every write or delete of the driver, a new reader and a running one (its files
    kept open) still find every alert of every object: writes are published all at once."""
    from fink_cutout_jupyter.index.spark import build_with_spark, compact_with_spark

    lake = multi_night_lake
    root = str(tmp_path / "index")
    build_with_spark(spark, lake, index=root, base=True, progress=False)
    everything = sorted(lookups(AlertIndex(lake, root))[0].items())
    expected = {key: [a.alert_id for a in alerts] for key, alerts in everything[::8]}
    running = AlertIndex(lake, root, refresh_seconds=0)
    steps = []

    def every_alert_is_found(what: str) -> None:
        for reader in (running, AlertIndex(lake, root)):
            for object_id, alert_ids in expected.items():
                got = [a.alert_id for a in reader.alerts(object_id)]
                assert got == alert_ids, f"after {what}: {object_id} gave {got}"
        steps.append(what)

    def checked(method):
        def call(self, relative, *args):
            result = method(self, relative, *args)
            every_alert_is_found(f"{method.__name__} {relative}")
            return result

        return call

    for name in ("write_atomically", "create_exclusively", "delete"):
        monkeypatch.setattr(Lake, name, checked(getattr(Lake, name)))
    build_with_spark(spark, lake, index=root, progress=False)  # every night again, as deltas
    build_with_spark(spark, lake, lake.nights()[:2], index=root, progress=False)
    compact_with_spark(spark, lake, root)
    build_with_spark(spark, lake, index=root, progress=False)
    build_with_spark(spark, lake, index=root, base=True, progress=False)
    assert any(step.startswith("delete delta") for step in steps)
    assert any(step.startswith("write_atomically layout.json") for step in steps)
    assert any(step.startswith("create_exclusively delta/") for step in steps)
    assert any(step.startswith("create_exclusively writer.lock") for step in steps)


def test_the_command_line_builds_and_compacts_on_spark(demo, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(demo.root / "science", lake / "science")
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "index"]
    spark = ["--spark", "--master", "local[2]", "--lake", str(lake)]
    built = subprocess.run(
        [*command, "build", "--all", *spark], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr
    assert f"indexed 6 files, {demo.alerts} alerts" in built.stdout
    assert "(Spark, as a new base generation)" in built.stdout
    night = subprocess.run(
        [*command, "build", "--night", "20241121", *spark], capture_output=True, text=True
    )
    assert night.returncode == 0, night.stderr
    compacted = subprocess.run([*command, "compact", *spark], capture_output=True, text=True)
    assert compacted.returncode == 0, compacted.stderr
    assert "merged 1 nights into generation 1" in compacted.stdout
    assert "Traceback" not in built.stderr + night.stderr + compacted.stderr
    index = AlertIndex(Lake(lake))
    assert len(index.alerts("ZTF24abssjsb")) == 5
    rebuilt = subprocess.run(
        [*command, "build", "--all", "--rebuild", *spark], capture_output=True, text=True
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    index = AlertIndex(Lake(lake))
    assert index.verify() == []
    assert len(index.alerts("ZTF24abssjsb")) == 5
    assert index.stats()["generation"] == 2
    files = [p for p in (lake / "_cutout_index").rglob("*") if p.is_file()]
    tops = sorted({p.relative_to(lake / "_cutout_index").parts[0] for p in files})
    assert tops == ["base-2", "layout.json", "nights"], "the old index deleted after publishing"
    assert len(list((lake / "_cutout_index" / "nights").iterdir())) == 1


def test_a_local_session_runs_its_workers_in_this_interpreter(tmp_path):
    """`fink-cutouts ... --spark` from a virtual environment that is not activated: the local
    workers must not start the `python3` found first on PATH (which lacks this package)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("pyspark")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python3").symlink_to("/bin/false")
    env = {**os.environ, "PATH": f"{fake_bin}:/usr/bin:/bin"}
    env.pop("PYSPARK_PYTHON", None)
    code = (
        "from fink_cutout_jupyter.index.spark import spark_session\n"
        "spark = spark_session('local[1]')\n"
        "print(spark.sparkContext.parallelize([1, 2]).map(lambda x: x * 2).sum())\n"
        "spark.stop()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "6"
