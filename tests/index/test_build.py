import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.index import compaction
from fink_cutout_jupyter.index.build import build, compact
from fink_cutout_jupyter.index.files import read_index_table
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake


@pytest.fixture
def lake(demo, tmp_path) -> Lake:
    """A private copy of the demo lake that a test may rewrite."""
    shutil.copytree(demo.root / "science", tmp_path / "science")
    return Lake(tmp_path)


def every_alert(index: AlertIndex, lake: Lake) -> dict[int, tuple]:
    table = pq.ParquetDataset(
        [lake.resolve(f) for n in lake.nights() for f in lake.night_files(n)]
    ).read(columns=["objectId", "candid"])
    return {
        candid: (index.alert(candid).object_id, index.alert(candid).path)
        for candid in table.column("candid").to_pylist()
    }


def entries_of_night(index: AlertIndex, night):
    """The night's entries in the newest delta holding it (from the published layout)."""
    import pyarrow.compute as pc

    layout = json.loads(index.store.read_small("layout.json"))
    number = int(f"{night:%Y%m%d}")
    delta = max((d for d in layout["deltas"] if number in d["nights"]), key=lambda d: d["order"])
    table = read_index_table(index.store, f"delta/objects/{delta['name']}.arrow")
    return table.filter(pc.equal(table.column("night"), number))


def test_reindexing_a_night_twice_gives_the_same_index(lake):
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    night = lake.nights()[1]
    first = entries_of_night(index, night)
    before = every_alert(index, lake)
    build(index, [night], progress=False)
    assert entries_of_night(index, night).equals(first)
    assert every_alert(index, lake) == before
    assert index.stats()["entries"] == len(before)


def test_compaction_keeps_every_alert_and_deltas_override_the_base(lake, monkeypatch):
    monkeypatch.setattr(compaction, "TARGET_BUCKET_ROWS", 100)
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    before = every_alert(index, lake)
    result = compact(index, progress=False)
    assert result == {"generation": 0, "buckets": 8, "merged_nights": 3}
    stats = index.stats()
    assert (stats["base_entries"], stats["base_files"], stats["delta_nights"]) == (
        len(before),
        8,
        0,
    )
    assert every_alert(index, lake) == before

    build(index, [lake.nights()[0]], progress=False)
    assert index.stats()["delta_nights"] == 1
    assert len(index.alerts(DEMO_OBJECT_ID)) == 5, "a night in both base and delta counts once"
    assert every_alert(index, lake) == before
    assert compact(index, progress=False)["generation"] == 1
    assert not index.store.list_files("base-0/objects")
    assert every_alert(index, lake) == before


def test_a_night_whose_files_vanished_is_emptied(lake):
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    last = lake.nights()[-1]
    latest = index.latest(DEMO_OBJECT_ID)
    for path in lake.night_files(last):
        Path(lake.resolve(path)).unlink()
    build(index, [last], progress=False)
    assert index.latest(DEMO_OBJECT_ID).time < latest.time


def test_a_rewritten_file_is_detected_and_still_read_correctly(lake, caplog):
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    location = index.latest(DEMO_OBJECT_ID)
    original = CutoutReader(lake).read_location(location)
    path = lake.resolve(location.path)
    table = pq.read_table(path)
    pq.write_table(table.take(list(range(table.num_rows))[::-1]), path, row_group_size=7)

    assert index.stale_files() == [location.path]
    reader = CutoutReader(lake)
    with caplog.at_level("WARNING"):
        again = reader.read_location(location)
    assert reader.stale_reads == 1
    assert "changed since it was indexed" in caplog.text
    assert again.alert_id == original.alert_id
    assert again.stamps["Science"].fits_bytes == original.stamps["Science"].fits_bytes

    build(index, [lake.nights()[-1]], progress=False)
    assert index.stale_files() == []
    reader.read_location(index.latest(DEMO_OBJECT_ID))
    assert reader.stale_reads == 1


def test_other_processes_see_new_nights_after_the_refresh_delay(lake):
    writer = AlertIndex(lake)
    build(writer, lake.nights()[:1], progress=False)
    reader = AlertIndex(lake, refresh_seconds=0)
    assert len(reader.alerts(DEMO_OBJECT_ID)) == 2
    build(writer, lake.nights()[1:], progress=False)
    assert len(reader.alerts(DEMO_OBJECT_ID)) == 5


def test_one_index_holds_one_survey(lake, rubin_lake, tmp_path):
    index = AlertIndex(lake, tmp_path / "shared-index")
    build(index, lake.nights()[:1], progress=False)
    mixed = AlertIndex(rubin_lake, tmp_path / "shared-index")
    with pytest.raises(BadParameter, match="one survey"):
        build(mixed, rubin_lake.nights(), progress=False)


def test_the_index_can_live_outside_the_lake(tmp_path):
    demo = make_demo_lake(tmp_path / "lake", seed=3, index=False)
    index = AlertIndex(Lake(demo.root), (tmp_path / "elsewhere").as_uri())
    build(index, list(demo.nights), workers=2, progress=False)
    assert (tmp_path / "elsewhere" / "layout.json").is_file()
    assert not (tmp_path / "lake" / "_cutout_index").exists()
    assert len(index.alerts(DEMO_OBJECT_ID)) == 5


def test_an_archived_night_does_not_replace_its_live_parts_while_its_merge_is_incomplete(lake):
    """A build of a night followed live: refused while a Spark job writes the archive, or while
    the archive holds fewer alerts than the live parts and the live night is still there."""
    from fink_cutout_jupyter.errors import IndexBusy
    from fink_cutout_jupyter.index.build import entries_of_file
    from fink_cutout_jupyter.index.deltas import IndexedNight, write_nights

    index = AlertIndex(lake, refresh_seconds=0)
    night = lake.nights()[0]
    files = lake.night_files(night)
    live = [entries_of_file(lake, path, night, batch=3) for path in files]
    entries = pa.concat_tables([found.entries for found in live])
    identities = {path: found.identity for path, found in zip(files, live, strict=True)}
    write_nights(index, [IndexedNight(night, entries, identities, batch=3)], "ztf")
    alerts = sorted(entries["alert_id"].to_pylist())
    (Path(lake.uri) / "online" / "science" / f"{night:%Y%m%d}").mkdir(parents=True)
    temporary = Path(lake.uri) / "science" / "_temporary"
    temporary.mkdir()
    with pytest.raises(IndexBusy, match="a Spark job is writing the archive"):
        build(index, [night], progress=False)
    temporary.rmdir()
    kept = Path(lake.uri) / files[0]
    moved = kept.rename(kept.with_suffix(".aside"))  # the merge wrote one file less
    with pytest.raises(BadParameter, match=f"fewer than the {len(alerts)} indexed"):
        build(index, [night], progress=False)
    assert sorted(index.alert(a).alert_id for a in alerts) == alerts, "the live parts stay"
    moved.rename(kept)
    build(index, [night], progress=False)  # complete: it replaces them
    layout = json.loads((Path(lake.uri) / "_cutout_index" / "layout.json").read_text())
    assert (layout["online"], layout["archived"]) == ({}, [int(f"{night:%Y%m%d}")])
    objects = entries["object_id"].to_pylist()
    for object_id in set(objects):  # each alert once: the live parts are hidden
        ids = [a.alert_id for a in index.alerts(object_id)]
        assert len(ids) == len(set(ids))
        assert len(ids) >= objects.count(object_id)


def test_a_night_is_spilled_by_bucket_as_its_files_are_indexed(lake, tmp_path, monkeypatch):
    """Past SPILL_ROWS entries a night's entries are on local disk by bucket before its delta
    is written (never the night whole in memory); the index is the same as one built without
    spilling (every alert of the lake, read by pyarrow, found in its file)."""
    from fink_cutout_jupyter.index import buckets, spills

    seen = []
    source = spills.EntrySpill.source

    def watched(spill, table):
        files = len(list(spill._directory.iterdir())) if spill.spilled else 0
        seen.append((spill.spilled, spill.rows, files))
        return source(spill, table)

    in_memory = AlertIndex(lake, str(tmp_path / "in-memory"))
    build(in_memory, lake.nights(), progress=False)
    monkeypatch.setattr(spills, "SPILL_ROWS", 7)
    monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", 16)
    monkeypatch.setattr(spills.EntrySpill, "source", watched)
    spilled = AlertIndex(lake, str(tmp_path / "spilled"))
    build(spilled, lake.nights(), progress=False)
    assert seen, seen
    assert all(was_spilled and files > 2 for was_spilled, _, files in seen), seen
    assert every_alert(spilled, lake) == every_alert(in_memory, lake)
