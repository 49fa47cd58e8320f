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
from fink_cutout_jupyter.index.build import entries_of_file
from fink_cutout_jupyter.index.compaction import compact
from fink_cutout_jupyter.index.deltas import write_night
from fink_cutout_jupyter.index.layout import FANOUT
from fink_cutout_jupyter.index.lookup import AlertIndex
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
        "night": pa.array([int(f"{night:%Y%m%d}")] * table.num_rows, pa.int32()),
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
