"""The index's layout document: checked when read, deltas recorded, merged by tier, dropped when
superseded, and numbers never given twice (all values worked out by hand)."""

import json

import pytest

from fink_cutout_jupyter.errors import IndexDamaged, IndexOutdated
from fink_cutout_jupyter.index.layout import (
    FANOUT,
    INDEX_FORMAT,
    add_delta,
    counted_manifest,
    free_numbers,
    layout_bytes,
    level_to_merge,
    new_layout,
    owners,
    parse_layout,
    read_base_sizes,
    superseded,
)
from fink_cutout_jupyter.storage.lake import Lake

SIZES = {"objects": 10, "alerts": 20}


def test_deltas_are_named_and_ordered_as_written_and_the_latest_owns_a_night():
    layout = new_layout("ztf", first=5)
    first = add_delta(layout, [20241121, 20241119], SIZES)
    second = add_delta(layout, [20241121], SIZES)
    assert (first["name"], first["order"], first["nights"]) == (
        "20241119-L0-000005",
        5,
        [20241119, 20241121],
    )
    assert (second["name"], second["order"], layout["next"]) == ("20241121-L0-000006", 6, 7)
    assert owners(layout) == {20241119: 5, 20241121: 6}
    assert superseded(layout) == []
    add_delta(layout, [20241119], SIZES, level=1)
    assert [delta["order"] for delta in superseded(layout)] == [5]  # both its nights taken


def test_the_lowest_level_with_fanout_deltas_merges_first():
    layout = new_layout("ztf")
    for night in range(FANOUT - 1):
        add_delta(layout, [night], SIZES)
        add_delta(layout, [100 + night], SIZES, level=1)
    assert level_to_merge(layout) is None
    add_delta(layout, [1000], SIZES, level=1)
    assert level_to_merge(layout) == 1
    add_delta(layout, [2000], SIZES)
    assert level_to_merge(layout) == 0


def test_a_bucketed_delta_is_recorded_with_its_bucket_sizes_files_and_directories():
    from fink_cutout_jupyter.index.layout import delta_files, delta_paths

    layout = new_layout("ztf")
    sizes = {"objects": [10, 0, 30, 40], "alerts": [5, 6, 7, 8]}
    delta = add_delta(layout, [20260306], sizes, buckets=4, entries=26)
    single = add_delta(layout, [20260307], SIZES)
    assert parse_layout(layout_bytes(layout))["deltas"][0] == {
        "name": "20260306-L0-000000",
        "order": 0,
        "level": 0,
        "nights": [20260306],
        "sizes": sizes,
        "buckets": 4,
        "entries": 26,
    }
    assert "buckets" not in single
    assert delta_files(delta, "objects") == [
        ("delta/objects/20260306-L0-000000/bucket-00000.arrow", 10),
        ("delta/objects/20260306-L0-000000/bucket-00001.arrow", 0),
        ("delta/objects/20260306-L0-000000/bucket-00002.arrow", 30),
        ("delta/objects/20260306-L0-000000/bucket-00003.arrow", 40),
    ]
    assert delta_paths(delta) == [
        "delta/objects/20260306-L0-000000",
        "delta/alerts/20260306-L0-000000",
    ]
    assert delta_files(single, "alerts") == [("delta/alerts/20260307-L0-000001.arrow", 20)]


def test_a_published_layout_reads_back_as_written():
    layout = new_layout("ztf", first=3, generation=2)
    add_delta(layout, [20241120], SIZES)
    assert parse_layout(layout_bytes(layout)) == json.loads(json.dumps(layout))
    assert parse_layout(layout_bytes(layout))["format"] == INDEX_FORMAT


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda layout: layout.pop("buckets"), "no field 'buckets'"),
        (lambda layout: layout.update(buckets=True), "buckets of the wrong type"),
        (lambda layout: layout.update(buckets=0), "buckets of the wrong type"),
        (lambda layout: layout.update(survey="hubble"), "survey of the wrong type"),
        (lambda layout: layout["deltas"][0].update(name="../x"), "a delta's name of the wrong"),
        (lambda layout: layout["deltas"][0].update(nights=[-1]), "a delta's nights of the wrong"),
        (lambda layout: layout["deltas"][0].update(buckets=3), "a delta's buckets of the wrong"),
        (lambda layout: layout["deltas"][0].update(buckets=0), "a delta's buckets of the wrong"),
        (lambda layout: layout["deltas"][0].update(entries=-1), "a delta's entries of the wrong"),
        (  # 2 buckets: a size per bucket
            lambda layout: layout["deltas"][0].update(buckets=2),
            "a delta's sizes of the wrong",
        ),
        (
            lambda layout: layout["deltas"][0].update(buckets=2, sizes={"objects": [1, 2]}),
            "no field 'alerts'",
        ),
        (
            lambda layout: layout["deltas"][0].update(
                buckets=2, sizes={"objects": [1, 2], "alerts": [1, 2, 3]}
            ),
            "a delta's sizes of the wrong",
        ),
    ],
)
def test_a_layout_missing_a_field_or_holding_a_wrong_one_is_damaged_naming_it(change, reason):
    layout = new_layout("ztf")
    add_delta(layout, [20241120], SIZES)
    change(layout)
    with pytest.raises(IndexDamaged, match=r"layout\.json is damaged") as raised:
        parse_layout(layout_bytes(layout))
    assert raised.value.file == "layout.json"
    assert raised.value.reason.startswith(reason)
    assert parse_layout(layout_bytes(layout), check=False) == json.loads(layout_bytes(layout))


@pytest.mark.parametrize(("data", "reason"), [(b"{not json", "not JSON"), (b"[]", "not a JSON")])
def test_bytes_that_are_not_a_json_object_are_damaged(data, reason):
    with pytest.raises(IndexDamaged) as raised:
        parse_layout(data)
    assert raised.value.reason.startswith(reason)


@pytest.mark.parametrize("format_", [4, INDEX_FORMAT + 1])
def test_another_format_is_outdated_saying_how_to_rebuild(format_):
    layout = new_layout("ztf")
    layout["format"] = format_
    with pytest.raises(IndexOutdated, match=f"format {format_}, this version reads"):
        parse_layout(layout_bytes(layout))


def test_format_5_is_read_without_live_nights():
    layout = new_layout("ztf")
    del layout["online"], layout["archived"]
    layout["format"] = 5
    assert parse_layout(layout_bytes(layout))["format"] == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("archived", {}),
        ("archived", [-1]),
        ("online", []),
        ("online", {"20241105": "1"}),
        ("online", {"garbage": 3}),
    ],
)
def test_live_night_fields_of_the_wrong_shape_are_damaged(field, value):
    layout = new_layout("ztf")
    layout[field] = value
    with pytest.raises(IndexDamaged, match=field):
        parse_layout(layout_bytes(layout))


def test_only_the_manifests_from_first_to_next_are_counted():
    layout = new_layout("ztf", first=3)
    layout["next"] = 5
    assert [counted_manifest(layout, f"{n:08d}.json") for n in range(2, 7)] == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert not counted_manifest(layout, "00000003.json.tmp")


def test_free_numbers_are_above_any_the_layout_or_the_filesystem_has_used(tmp_path):
    for directory in ("base-3", "base-x", "nights", "delta/alerts", "delta/objects"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "nights" / "00000007.json").write_text("{}")
    (tmp_path / "delta" / "alerts" / "20241120-L0-000009.arrow").write_bytes(b"")
    (tmp_path / "delta" / "objects" / "stray.tmp").write_bytes(b"")
    store = Lake(tmp_path)
    assert free_numbers(store, None) == (4, 10)
    layout = new_layout("ztf", first=12, generation=6)
    assert free_numbers(store, layout) == (6, 12)
    # a bucketed delta's directory, left by a writer killed before it published
    (tmp_path / "delta" / "objects" / "20260306-L0-000015").mkdir()
    assert free_numbers(store, None) == (4, 16)


def test_base_sizes_are_read_checked_and_damaged_when_missing_or_malformed(tmp_path):
    store = Lake(tmp_path)
    with pytest.raises(IndexDamaged, match=r"missing, while layout\.json names it") as raised:
        read_base_sizes(store, 2, 1)
    assert raised.value.file == "base-2/sizes.json"
    (tmp_path / "base-2").mkdir()
    sizes = {"objects": [10, 11], "alerts": [20, 21]}
    (tmp_path / "base-2" / "sizes.json").write_text(json.dumps(sizes))
    assert read_base_sizes(store, 2, 2) == sizes
    with pytest.raises(IndexDamaged, match="malformed: not 3 sizes of each table"):
        read_base_sizes(store, 2, 3)
