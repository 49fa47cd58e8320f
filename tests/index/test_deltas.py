"""Nightly deltas merged by tier: few files however many nights, and the newest night wins.

Nights are made from one real demo file's entries (read by `entries_of_file`), each night with
its own alert ids; what a lookup must return is computed here from those tables, not by the
index.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fink_cutout_jupyter.index import deltas as index_deltas
from fink_cutout_jupyter.index import manifests, parts
from fink_cutout_jupyter.index.build import entries_of_file
from fink_cutout_jupyter.index.compaction import compact
from fink_cutout_jupyter.index.deltas import write_night
from fink_cutout_jupyter.index.files import read_index_table
from fink_cutout_jupyter.index.layout import FANOUT
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.manifests import night_manifests, online_indexed
from fink_cutout_jupyter.index.writes import WriteSession
from fink_cutout_jupyter.storage.lake import Lake

FIRST = dt.date(2025, 1, 1)


@pytest.fixture(scope="module")
def template(demo) -> pa.Table:
    lake = Lake(demo.root)
    night = lake.nights()[0]
    return entries_of_file(lake, lake.night_files(night)[0], night).entries


def night_of(template: pa.Table, number: int, keep_every: int = 1) -> pa.Table:
    """Night `number`: the template's entries (every `keep_every`-th), alert ids made unique."""
    night = FIRST + dt.timedelta(days=number)
    table = template.take(list(range(0, template.num_rows, keep_every)))
    columns = {
        "night": pa.array([int(f"{night:%Y%m%d}")] * table.num_rows, pa.int64()),
        "alert_id": pc.add(table.column("alert_id"), number * 10_000_000),
    }
    for name, column in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def layout_of(index: AlertIndex) -> dict:
    return json.loads(index.store.read_small("layout.json"))


def expected_alert_ids(nights: dict[int, pa.Table], object_id: str) -> list[int]:
    ids = []
    for table in nights.values():
        ids += table.filter(pc.equal(table.column("object_id"), object_id))["alert_id"].to_pylist()
    return sorted(ids)


def looked_up(index: AlertIndex, object_id: str) -> list[int]:
    return sorted(a.alert_id for a in index.alerts(object_id))


@pytest.mark.parametrize("small", ["merged whole", "by tier only"])
def test_many_uncompacted_nights_stay_a_few_delta_files(template, tmp_path, monkeypatch, small):
    if small == "by tier only":  # deltas too large to merge whole: as Rubin's nights are
        monkeypatch.setattr(index_deltas, "SMALL_DELTAS_BYTES", 0)
    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    written = {}
    for number in range(100):
        written[number] = night_of(template, number)
        write_night(index, FIRST + dt.timedelta(days=number), written[number], {}, "ztf")
        deltas = layout_of(index)["deltas"]
        bound = (FANOUT - 1) * (math.floor(math.log(number + 1, FANOUT)) + 1)
        if small == "merged whole":
            bound = 1
        assert len(deltas) <= bound, f"{len(deltas)} deltas after {number + 1} nights"
    files = sorted(p.name for p in (tmp_path / "index" / "delta" / "objects").iterdir())
    assert files == sorted(f"{d['name']}.arrow" for d in deltas), "merged deltas are deleted"
    for object_id in set(template.column("object_id").to_pylist()):
        assert looked_up(index, object_id) == expected_alert_ids(written, object_id)


def test_the_newest_write_of_a_night_wins_even_inside_a_merged_delta(template, tmp_path):
    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    written = {}
    for number in range(2 * FANOUT):
        written[number] = night_of(template, number)
        write_night(index, FIRST + dt.timedelta(days=number), written[number], {}, "ztf")
    assert any(len(d["nights"]) > 1 for d in layout_of(index)["deltas"]), "nights were merged"
    written[1] = night_of(template, 1, keep_every=3)  # night 1 indexed again, with fewer alerts
    write_night(index, FIRST + dt.timedelta(days=1), written[1], {}, "ztf")
    objects = set(template.column("object_id").to_pylist())
    for object_id in objects:
        assert looked_up(index, object_id) == expected_alert_ids(written, object_id)
    compact(index, progress=False)
    assert layout_of(index)["deltas"] == []
    written[2] = night_of(template, 2, keep_every=2)  # and a compacted night again
    write_night(index, FIRST + dt.timedelta(days=2), written[2], {}, "ztf")
    for object_id in objects:
        assert looked_up(index, object_id) == expected_alert_ids(written, object_id)


# Live nights: parts written micro-batch by micro-batch, then replaced by the archived night.

TONIGHT = dt.date(2025, 3, 1)


def live_parts(template: pa.Table) -> dict[int, pa.Table]:
    """Three micro-batches of tonight: the template's rows split in three, as parts."""
    thirds = [template.take(list(range(start, template.num_rows, 3))) for start in (0, 1, 2)]
    return {batch: table for batch, table in zip((0, 4, 9), thirds, strict=True)}


def as_part(table: pa.Table, part: int, prefix: str) -> pa.Table:
    columns = {
        "night": pa.array([part] * table.num_rows, pa.int64()),
        "path": pa.array([f"{prefix}/{p}" for p in table.column("path").to_pylist()]),
    }
    for name, column in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def located(index: AlertIndex, object_ids) -> list[tuple[int, str]]:
    return sorted((a.alert_id, a.path) for o in object_ids for a in index.alerts(o))


def expected(tables, object_ids) -> list[tuple[int, str]]:
    rows = pa.concat_tables(tables).filter(pc.is_in(pc.field("object_id"), pa.array(object_ids)))
    return sorted(zip(rows["alert_id"].to_pylist(), rows["path"].to_pylist(), strict=True))


def test_live_parts_add_up_then_the_archived_night_replaces_them_in_one_write(template, tmp_path):
    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    objects = sorted(set(template.column("object_id").to_pylist()))
    write_night(index, FIRST, night_of(template, 0), {}, "ztf")  # an older night, archived
    older = night_of(template, 0)
    online = {
        batch: as_part(table, parts.online_part(TONIGHT, batch), "online/science/20250301")
        for batch, table in live_parts(template).items()
    }
    for done, (batch, table) in enumerate(online.items(), start=1):
        files = {f"online/science/20250301/part-{batch}.parquet": {"size": 1}}
        index_deltas.write_nights(
            index, [index_deltas.IndexedNight(TONIGHT, table, files, batch=batch)], "ztf"
        )
        assert located(index, objects) == expected([older, *list(online.values())[:done]], objects)
        assert layout_of(index)["online"] == {"20250301": batch}
    again = index_deltas.IndexedNight(TONIGHT, online[4], {"p": {"size": 1}}, batch=4)
    index_deltas.write_nights(index, [again], "ztf")  # a part written again replaces itself
    assert located(index, objects) == expected([older, *online.values()], objects)
    files, entries = online_indexed(index.store, layout_of(index), TONIGHT)
    assert entries == template.num_rows
    assert "p" in files

    archive = as_part(template, parts.archive_part(TONIGHT), "archive")
    seen = []
    publish = WriteSession.publish

    def look_before_publishing(session, layout):
        seen.append(located(index, objects))  # still the live parts, whole
        publish(session, layout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WriteSession, "publish", look_before_publishing)
        write_night(index, TONIGHT, archive, {"archive/f.parquet": {"size": 1}}, "ztf")
    assert seen == [expected([older, *online.values()], objects)]
    assert located(index, objects) == expected([older, archive], objects), "once, archived"
    layout = layout_of(index)
    assert layout["archived"] == [20250301]
    assert layout["online"] == {}
    assert online_indexed(index.store, layout, TONIGHT) == ({}, 0)
    assert all(parts.is_online(n) is False for d in layout["deltas"] for n in d["nights"])
    compact(index, progress=False)
    assert located(index, objects) == expected([older, archive], objects)
    base = tmp_path / "index" / f"base-{layout_of(index)['generation']}" / "alerts"
    stored = pa.concat_tables(
        [
            read_index_table(index.store, str(f.relative_to(base.parent.parent)))
            for f in base.iterdir()
        ]
    )
    assert not any(parts.is_online(n) for n in stored["night"].to_pylist()), "dropped, not kept"


def test_an_archived_night_without_files_hides_nothing(template, tmp_path):
    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    objects = sorted(set(template.column("object_id").to_pylist()))
    live = as_part(template, parts.online_part(TONIGHT, 0), "online")
    index_deltas.write_nights(
        index, [index_deltas.IndexedNight(TONIGHT, live, {"f": {"size": 1}}, batch=0)], "ztf"
    )
    write_night(index, TONIGHT, template.slice(0, 0), {}, "ztf")  # `index build` of no files
    assert located(index, objects) == expected([live], objects)
    assert layout_of(index)["archived"] == []


def test_the_manifests_of_many_micro_batches_are_consolidated(template, tmp_path, monkeypatch):
    monkeypatch.setattr(manifests, "MANIFESTS_KEPT", 6)
    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    one = template.slice(0, 1)
    for batch in range(20):
        files = {f"online/science/20250301/part-{batch}.parquet": {"size": batch}}
        table = as_part(one, parts.online_part(TONIGHT, batch), "online")
        night = index_deltas.IndexedNight(TONIGHT, table, files, batch=batch)
        index_deltas.write_nights(index, [night], "ztf")
        assert len(list((tmp_path / "index" / "nights").iterdir())) <= 6 + 1
    files, entries = online_indexed(index.store, layout_of(index), TONIGHT)
    assert entries == 20
    assert files == {f"online/science/20250301/part-{b}.parquet": {"size": b} for b in range(20)}
    write_night(index, TONIGHT, as_part(one, parts.archive_part(TONIGHT), "a"), {"a/f": {}}, "ztf")
    for batch in range(20):  # hidden parts leave the manifests at the next consolidation
        write_night(index, FIRST + dt.timedelta(days=batch), night_of(one, batch), {}, "ztf")
    names = [record["night"] for record in night_manifests(index.store)]
    assert names == sorted(
        [f"{FIRST + dt.timedelta(days=b):%Y-%m-%d}" for b in range(20)] + ["2025-03-01"]
    )
    records = manifests.current_records(index.store, layout_of(index))
    assert not any(name.startswith("online/") for name in records)


def test_an_index_of_format_5_is_read_and_written_as_format_7(template, tmp_path):
    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    write_night(index, FIRST, night_of(template, 0), {}, "ztf")
    layout = layout_of(index)
    del layout["online"], layout["archived"]
    layout["format"] = 5
    (tmp_path / "index" / "layout.json").write_text(json.dumps(layout))
    index.refresh()
    objects = sorted(set(template.column("object_id").to_pylist()))
    assert located(index, objects) == expected([night_of(template, 0)], objects)
    write_night(index, FIRST + dt.timedelta(days=1), night_of(template, 1), {}, "ztf")
    assert layout_of(index)["format"] == 7
    assert located(index, objects) == expected([night_of(template, n) for n in (0, 1)], objects)


# Bucketed deltas (a Rubin night: 10^7 entries): a delta above DELTA_BUCKET_ROWS entries is one
# file per table and hash bucket, of which a lookup opens one.


@pytest.fixture
def bucket_rows(monkeypatch):
    """Deltas of more than 8 entries bucketed; a night spilled past 5 entries."""
    from fink_cutout_jupyter.index import buckets, spills

    monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", 8)
    monkeypatch.setattr(spills, "SPILL_ROWS", 5)
    return 8


def delta_directories(root, table: str = "objects") -> list[str]:
    return sorted(p.name for p in (root / "delta" / table).iterdir() if p.is_dir())


def test_a_real_rubin_night_bucketed_is_found_by_object_alert_and_solar_system_ids(
    rubin_lake, rubin_records, tmp_path, bucket_rows
):
    from fink_cutout_jupyter.index.build import build

    index = AlertIndex(rubin_lake, str(tmp_path / "index"), refresh_seconds=0)
    build(index, rubin_lake.nights(), progress=False)
    (delta,) = layout_of(index)["deltas"]
    assert delta["buckets"] == 2, "9 real alerts: 2 buckets of at most 8"
    assert delta["entries"] == len(rubin_records)
    assert all(len(sizes) == 2 for sizes in delta["sizes"].values())
    for table in ("objects", "alerts"):
        written = sorted(
            p.name for p in (tmp_path / "index" / "delta" / table / delta["name"]).iterdir()
        )
        wanted = [f"bucket-{b:05d}.arrow" for b in range(2) if delta["sizes"][table][b]]
        assert written == wanted
    fresh = AlertIndex(rubin_lake, str(tmp_path / "index"))
    for record in rubin_records:
        assert fresh.alert(record["diaSourceId"]).path.endswith(".parquet")
        dia_object = (record["diaObject"] or {}).get("diaObjectId")
        if dia_object:
            assert record["diaSourceId"] in [a.alert_id for a in fresh.alerts(dia_object)]
        ss_object = (record["ssSource"] or {}).get("ssObjectId")
        if ss_object:
            (found,) = fresh.solar_system_alerts(ss_object)
            assert found.alert_id == record["diaSourceId"]
            assert found.properties["designation"] == record["ssSource"]["designation"]
    stats = fresh.stats()
    keyed = [r for r in rubin_records if (r["diaObject"] or {}).get("diaObjectId")]
    solar = [r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId")]
    assert len(solar) == 2
    assert stats["delta_entries"] == len(keyed) + len(solar), "objects: diaObjects and ss: keys"
    assert stats["delta_bucket_files"] == sum(
        1 for sizes in delta["sizes"].values() for size in sizes if size
    )
    assert fresh.verify() == []


def test_bucketed_and_single_file_deltas_merge_and_compact(template, tmp_path, monkeypatch):
    from fink_cutout_jupyter.index import buckets

    monkeypatch.setattr(index_deltas, "SMALL_DELTAS_BYTES", 0)  # merged by tier only
    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    objects = sorted(set(template.column("object_id").to_pylist()))
    written = {}
    for number in range(FANOUT):  # single files, then bucketed ones (2, then 4 and 8 buckets)
        if number:
            rows = -(-template.num_rows // (2 * number))  # rounded up
            monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", rows)
        written[number] = night_of(template, number)
        write_night(index, FIRST + dt.timedelta(days=number), written[number], {}, "ztf")
        if number < FANOUT - 1:
            assert layout_of(index)["deltas"][-1].get("buckets", 1) == (1, 2, 4)[number]
        assert located(index, objects) == expected(list(written.values()), objects)
    (merged,) = layout_of(index)["deltas"]  # FANOUT deltas of level 0 became one of level 1
    assert merged["level"] == 1
    assert merged["buckets"] == buckets.delta_bucket_count(FANOUT * template.num_rows)
    assert merged["entries"] == FANOUT * template.num_rows
    assert delta_directories(tmp_path / "index") == [merged["name"]], "merged deltas deleted"
    assert not list((tmp_path / "index" / "delta" / "objects").glob("*.arrow"))
    written[1] = night_of(template, 1, keep_every=3)  # a night written again: the newest wins
    write_night(index, FIRST + dt.timedelta(days=1), written[1], {}, "ztf")
    assert located(index, objects) == expected(list(written.values()), objects)
    assert AlertIndex(index.lake, index.store).verify() == []

    compact(index, progress=False)
    layout = layout_of(index)
    assert layout["deltas"] == []
    assert not (tmp_path / "index" / "delta" / "objects").exists() or not delta_directories(
        tmp_path / "index"
    )
    assert located(index, objects) == expected(list(written.values()), objects)
    for number in (0, 1):  # compacted nights written again, bucketed, over the base
        written[number] = night_of(template, number, keep_every=2)
        write_night(index, FIRST + dt.timedelta(days=number), written[number], {}, "ztf")
    assert located(index, objects) == expected(list(written.values()), objects)
    compact(index, progress=False)
    assert located(index, objects) == expected(list(written.values()), objects)


def test_a_format_6_index_is_read_then_written_with_bucketed_deltas(
    template, tmp_path, monkeypatch
):
    from fink_cutout_jupyter.index import buckets

    index = AlertIndex(Lake(tmp_path / "lake"), str(tmp_path / "index"), refresh_seconds=0)
    objects = sorted(set(template.column("object_id").to_pylist()))
    written = {0: night_of(template, 0)}
    write_night(index, FIRST, written[0], {}, "ztf")
    layout = layout_of(index)
    layout["format"] = 6  # as format 6 wrote it: single-file deltas, no entry counts
    for delta in layout["deltas"]:
        delta.pop("entries")
    (tmp_path / "index" / "layout.json").write_text(json.dumps(layout))
    index.refresh()
    assert located(index, objects) == expected(list(written.values()), objects)

    monkeypatch.setattr(index_deltas, "SMALL_DELTAS_BYTES", 10**9)  # merged with the old delta
    monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", template.num_rows)
    written[1] = night_of(template, 1)
    write_night(index, FIRST + dt.timedelta(days=1), written[1], {}, "ztf")
    (delta,) = layout_of(index)["deltas"]
    assert layout_of(index)["format"] == 7
    assert delta["buckets"] == 2, "two nights' entries (the old one counted from its footer)"
    assert located(index, objects) == expected(list(written.values()), objects)
    compact(index, progress=False)
    assert located(index, objects) == expected(list(written.values()), objects)
