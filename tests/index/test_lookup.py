import json
from collections import defaultdict

import pytest
from support.real_data import displayed

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import BadParameter, NotFound
from fink_cutout_jupyter.index.build import build
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.surveys import KINDS, LSST, ZTF, ObjectId, Survey


@pytest.fixture(scope="module")
def real_index(ztf_lake, tmp_path_factory) -> AlertIndex:
    """Index of the real (read-only) ZTF lake, kept outside it."""
    index = AlertIndex(ztf_lake, tmp_path_factory.mktemp("real-index"))
    build(index, ztf_lake.nights(), progress=False)
    return index


@pytest.fixture(scope="module")
def real_rows(ztf_rows, ztf_lake):
    return [row for row in ztf_rows if row["lake"].uri == ztf_lake.uri]


def test_every_real_alert_is_found_by_its_id(real_index, real_rows):
    assert len(real_rows) == 124
    for row in real_rows:
        location = real_index.alert(row["candid"])
        assert (location.object_id, location.path, location.time) == (
            row["objectId"],
            row["path"],
            row["jd"],
        )
        assert location.properties == displayed(row)


def test_every_object_gets_all_its_alerts_across_files_sorted_by_time(real_index, real_rows):
    by_object = defaultdict(list)
    for row in real_rows:
        by_object[row["objectId"]].append(row)
    split_across_files = 0
    for object_id, rows in by_object.items():
        found = real_index.alerts(object_id)
        assert [a.alert_id for a in found] == [
            r["candid"] for r in sorted(rows, key=lambda r: (r["jd"], r["candid"]))
        ]
        assert real_index.latest(object_id).time == max(r["jd"] for r in rows)
        split_across_files += len({r["path"] for r in rows}) > 1
    assert split_across_files >= 3


def test_index_locations_read_the_right_stamps(real_index, real_rows, ztf_lake):
    reader = CutoutReader(ztf_lake)
    for row in real_rows[::5]:
        alert = reader.read_location(real_index.alert(row["candid"]))
        assert {kind: alert.stamps[kind].fits_bytes for kind in KINDS} == row["fits"]
        assert alert.properties["magnitude_unit"] == "mag"
    assert reader.stale_reads == 0


def test_locations_carry_dates(real_index, real_rows):
    import datetime as dt

    from astropy.time import Time

    location = real_index.latest("ZTF18aaqfhlj")
    assert location.jd == location.time
    jd = next(row["jd"] for row in real_rows if row["candid"] == location.alert_id)
    expected = Time(jd, format="jd", scale="utc").to_datetime(timezone=dt.UTC)
    assert abs(location.date - expected) < dt.timedelta(milliseconds=1)


def test_unknown_and_bad_ids(real_index):
    with pytest.raises(NotFound, match="objectId: no alert of ZTF24abssjsb"):
        real_index.alerts("ZTF24abssjsb")
    with pytest.raises(NotFound, match="candid: no alert 42"):
        real_index.alert(42)
    with pytest.raises(BadParameter, match="objectId"):
        real_index.latest("not-an-id")


def test_an_object_id_checked_for_the_index_survey_is_not_checked_again(real_index, real_rows):
    """An `ObjectId` of the index's survey is taken as checked; a plain value, or an id checked
    for another survey, is checked with the same error as ever."""
    object_id = real_rows[0]["objectId"]
    expected = max((row["jd"], row["candid"]) for row in real_rows if row["objectId"] == object_id)[
        1
    ]
    checks = []
    original = Survey.validate_object_id

    def counting(survey, value, *parameter):
        checks.append(value)
        return original(survey, value, *parameter)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Survey, "validate_object_id", counting)
        assert real_index.latest(object_id).alert_id == expected
        assert checks == [object_id]
        checked = ObjectId.of(object_id, ZTF)
        assert real_index.latest(checked).alert_id == expected
        assert checks == [object_id, object_id], "made once, then taken as checked"
        rubin = ObjectId.of("170028485706776685", LSST)
        with pytest.raises(BadParameter) as plain:
            real_index.latest("170028485706776685")
        with pytest.raises(BadParameter) as other_survey:
            real_index.latest(rubin)
    assert (
        str(other_survey.value)
        == str(plain.value)
        == (
            "objectId: '170028485706776685' is not a ZTF object id; expected something like "
            "'ZTF24abssjsb'"
        )
    )


def test_an_empty_index_says_how_to_build_it(demo_lake, tmp_path):
    with pytest.raises(NotFound, match="run: fink-cutouts index build"):
        AlertIndex(demo_lake, tmp_path).latest("ZTF24abssjsb")


def test_rubin_lookups_by_dia_source_id(rubin_lake, rubin_records):
    index = AlertIndex(rubin_lake)
    build(index, rubin_lake.nights(), progress=False)
    reader = CutoutReader(rubin_lake)
    for record in rubin_records:
        location = index.alert(record["diaSourceId"])
        assert location.time == record["diaSource"]["midpointMjdTai"]
        assert location.time_scale == "mjd"
        assert location.date.year == 2025 or location.date.year == 2026
        assert (
            reader.read_location(location).stamps["Science"].fits_bytes == record["cutoutScience"]
        )
    object_id = next(
        r["diaObject"]["diaObjectId"]
        for r in rubin_records
        if (r["diaObject"] or {}).get("diaObjectId")
    )
    assert index.latest(object_id).object_id == str(object_id)
    assert index.survey.name == "lsst"


def test_solar_system_alerts_are_found_by_their_ss_object_id(tmp_path, rubin_lake, rubin_records):
    index = AlertIndex(rubin_lake, str(tmp_path / "index"))
    build(index, rubin_lake.nights(), progress=False)
    solar = [r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId")]
    assert len(solar) == 2
    assert all((r["diaObject"] or {}).get("diaObjectId") is None for r in solar)
    for record in solar:
        source = record["ssSource"]
        (found,) = index.solar_system_alerts(source["ssObjectId"])
        assert found.alert_id == record["diaSourceId"]
        assert found.object_id is None  # no diaObject: found by its solar-system object only
        assert found.properties["ss_object_id"] == str(source["ssObjectId"])
        assert found.properties["designation"] == source["designation"]
        assert index.alert(record["diaSourceId"]).properties["designation"] == source["designation"]
    others = [r for r in rubin_records if (r["diaObject"] or {}).get("diaObjectId")]
    for record in others:  # not solar-system objects: their alerts carry no such fields
        assert "ss_object_id" not in index.alert(record["diaSourceId"]).properties
    with pytest.raises(NotFound, match="ssObjectId: no alert of 1 "):
        index.solar_system_alerts(1)
    with pytest.raises(BadParameter, match=r"^ssObjectId: 'ss:1'"):
        index.solar_system_alerts("ss:1")
    dia_object = others[0]["diaObject"]["diaObjectId"]
    with pytest.raises(NotFound):  # a diaObjectId is not a solar-system object's key
        index.solar_system_alerts(dia_object)


def test_stray_files_in_the_index_are_ignored(real_index, real_rows):
    """A write interrupted by a crash leaves a temporary file beside the deltas."""
    from pathlib import Path

    delta = Path(real_index.store.resolve("delta/objects"))
    stray = delta / (next(delta.glob("*.arrow")).name + ".tmp-123-456")
    stray.write_bytes(b"half a file")
    nights = Path(real_index.store.resolve("nights"))
    manifest = nights / (next(nights.glob("*.json")).name + ".tmp-123-456")
    manifest.write_text('{"nights": {"2024-')  # a manifest's write killed half way
    try:
        fresh = AlertIndex(real_index.lake, real_index.store)
        assert len(fresh.alerts(real_rows[0]["objectId"])) >= 1
        stats = fresh.stats()
        assert (stats["delta_nights"], stats["nights"], stats["entries"]) == (1, 1, len(real_rows))
        assert fresh.verify() == []
    finally:
        stray.unlink()
        manifest.unlink()


# Damaged index files: 503 naming the file and the repair, and ``index stats --verify``.


@pytest.fixture
def sound_index(demo, tmp_path):
    """A copy of the demo lake, indexed into a base and a delta (nights compacted, then the
    last night again)."""
    import shutil

    from fink_cutout_jupyter.index.build import compact
    from fink_cutout_jupyter.storage.lake import Lake

    shutil.copytree(demo.root / "science", tmp_path / "lake" / "science")
    lake = Lake(tmp_path / "lake")
    index = AlertIndex(lake, str(tmp_path / "index"))
    build(index, lake.nights(), progress=False)
    compact(index, progress=False)
    build(index, lake.nights()[-1:], progress=False)
    layout = json.loads((tmp_path / "index" / "layout.json").read_text())
    (delta,) = layout["deltas"]
    return lake, tmp_path / "index", f"delta/objects/{delta['name']}.arrow"


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def without_deltas(data: bytes) -> bytes:
    return json.dumps({k: v for k, v in json.loads(data).items() if k != "deltas"}).encode()


def scrambled(data: bytes) -> bytes:  # same size, not an Arrow file
    return bytes(reversed(data))


DAMAGES = {
    "layout.json truncated": ("layout.json", half),
    "layout.json without its deltas": ("layout.json", without_deltas),
    "sizes.json truncated": ("base-0/sizes.json", half),
    "sizes.json missing": ("base-0/sizes.json", None),
    "base bucket truncated": ("base-0/objects/bucket-00000.arrow", half),
    "base bucket scrambled": ("base-0/objects/bucket-00000.arrow", scrambled),
    "delta truncated": ("DELTA", half),
    "delta scrambled": ("DELTA", scrambled),
    "delta missing": ("DELTA", None),
}


def damage(root, relative: str, how) -> None:
    path = root / relative
    if how is None:
        path.unlink()
    else:
        path.write_bytes(how(path.read_bytes()))


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_index_file_answers_503_naming_it_and_the_repair(sound_index, kind):
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

    lake, root, delta = sound_index
    relative, how = DAMAGES[kind]
    relative = delta if relative == "DELTA" else relative
    assert CutoutAPI(lake, str(root)).handle("cutouts", {"objectId": DEMO_OBJECT_ID}).status == 200
    damage(root, relative, how)

    reply = CutoutAPI(lake, str(root)).handle("cutouts", {"objectId": DEMO_OBJECT_ID})
    text = json.loads(reply.body)["text"]
    assert reply.status == 503, text
    assert f"index file {relative} is damaged" in text
    assert "fink-cutouts index build --lake LAKE --all --rebuild" in text
    assert str(root) not in text


def test_stats_verify_names_every_damaged_file_and_a_rebuild_repairs_them(sound_index, capsys):
    from fink_cutout_jupyter.cli import main
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

    lake, root, delta = sound_index
    arguments = ["--lake", lake.uri, "--index", str(root)]
    assert main(["index", "stats", *arguments, "--verify"]) == 0
    damaged = [delta, "base-0/objects/bucket-00000.arrow", "base-0/alerts/bucket-00000.arrow"]
    for relative, how in zip(damaged, [None, half, scrambled], strict=True):
        damage(root, relative, how)
    (root / "nights" / "00000000.json").write_text("{")
    capsys.readouterr()
    assert main(["index", "stats", *arguments, "--verify"]) == 1
    errors = capsys.readouterr().err
    for relative in [*damaged, "nights/00000000.json"]:
        assert f"damaged: {relative}:" in errors, errors
    assert "repair: fink-cutouts index build --lake LAKE --all --rebuild" in errors

    assert main(["index", "build", *arguments, "--all", "--rebuild", "-q"]) == 0
    assert main(["index", "stats", *arguments, "--verify"]) == 0
    reply = CutoutAPI(lake, str(root)).handle("cutouts", {"objectId": DEMO_OBJECT_ID})
    assert reply.status == 200


def test_a_damaged_layout_is_repaired_by_a_rebuild(sound_index):
    from fink_cutout_jupyter.cli import main

    lake, root, _ = sound_index
    damage(root, "layout.json", half)
    arguments = ["--lake", lake.uri, "--index", str(root)]
    assert main(["index", "stats", *arguments, "--verify"]) == 1
    assert main(["index", "build", *arguments, "--night", "20241121", "-q"]) == 1
    assert main(["index", "build", *arguments, "--all", "--rebuild", "-q"]) == 0
    assert main(["index", "stats", *arguments, "--verify"]) == 0
    assert len(AlertIndex(lake, str(root)).alerts("ZTF24abssjsb")) == 5


def _set(**fields):
    return lambda layout: layout.update(fields)


def _set_delta(**fields):
    return lambda layout: layout["deltas"][0].update(fields)


LAYOUT_SHAPES = {
    "survey unknown": _set(survey="nope"),
    "survey null": _set(survey=None),
    "next a string": _set(next="x"),
    "first_manifest null": _set(first_manifest=None),
    "generation a string": _set(generation="x"),
    "buckets zero": _set(buckets=0),
    "deltas an object": _set(deltas={}),
    "a delta's order null": _set_delta(order=None),
    "a delta's order a string": _set_delta(order="0"),
    "a delta's level a string": _set_delta(level="x"),
    "a delta's nights as text": lambda layout: layout["deltas"][0].update(
        nights=[str(night) for night in layout["deltas"][0]["nights"]]
    ),
    "a delta's name a path": _set_delta(name="../../../x"),
    "a delta's size negative": lambda layout: layout["deltas"][0]["sizes"].update(alerts=-5),
}


def _reshape(root, how) -> None:
    layout = json.loads((root / "layout.json").read_text())
    how(layout)
    (root / "layout.json").write_text(json.dumps(layout))


@pytest.mark.parametrize("shape", LAYOUT_SHAPES)
def test_a_layout_with_a_field_of_the_wrong_shape_answers_503_naming_it(sound_index, shape):
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

    lake, root, _ = sound_index
    _reshape(root, LAYOUT_SHAPES[shape])
    api = CutoutAPI(lake, str(root))
    for route, params in (("alerts", {"objectId": DEMO_OBJECT_ID}), ("health", {})):
        reply = api.handle(route, params)
        text = json.loads(reply.body)["text"]
        assert reply.status == 503, (route, text)
        assert "index file layout.json is damaged" in text, text
        assert "fink-cutouts index build --lake LAKE --all --rebuild" in text


def test_a_delta_holding_nights_its_layout_entry_does_not_name_answers_503(sound_index):
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

    lake, root, delta = sound_index
    _reshape(root, _set_delta(nights=[]))
    reply = CutoutAPI(lake, str(root)).handle("alerts", {"objectId": DEMO_OBJECT_ID})
    text = json.loads(reply.body)["text"]
    assert reply.status == 503, text
    assert f"index file {delta} is damaged" in text
    assert "not among its nights in layout.json" in text


@pytest.fixture
def bucketed_index(demo, tmp_path, monkeypatch):
    """A copy of the demo lake indexed into a base and a bucketed delta (its last night)."""
    import shutil

    from fink_cutout_jupyter.index import buckets
    from fink_cutout_jupyter.index.build import compact
    from fink_cutout_jupyter.storage.lake import Lake

    shutil.copytree(demo.root / "science", tmp_path / "lake" / "science")
    lake = Lake(tmp_path / "lake")
    index = AlertIndex(lake, str(tmp_path / "index"))
    build(index, lake.nights(), progress=False)
    compact(index, progress=False)
    monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", 4)
    build(index, lake.nights()[-1:], progress=False)
    layout = json.loads((tmp_path / "index" / "layout.json").read_text())
    (delta,) = layout["deltas"]
    assert delta["buckets"] > 1
    return lake, tmp_path / "index", delta


@pytest.mark.parametrize("how", ["truncated", "scrambled", "missing"])
def test_a_damaged_delta_bucket_answers_503_naming_it_and_verify_names_it(bucketed_index, how):
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
    from fink_cutout_jupyter.index.entries import bucket_of

    lake, root, delta = bucketed_index
    bucket = bucket_of(DEMO_OBJECT_ID, delta["buckets"])
    assert delta["sizes"]["objects"][bucket], "the demo object has alerts in the last night"
    relative = f"delta/objects/{delta['name']}/bucket-{bucket:05d}.arrow"
    api = CutoutAPI(lake, str(root))
    assert api.handle("cutouts", {"objectId": DEMO_OBJECT_ID}).status == 200
    assert AlertIndex(lake, str(root)).verify() == []
    damage(root, relative, {"truncated": half, "scrambled": scrambled, "missing": None}[how])

    reply = CutoutAPI(lake, str(root)).handle("cutouts", {"objectId": DEMO_OBJECT_ID})
    text = json.loads(reply.body)["text"]
    assert reply.status == 503, text
    assert f"index file {relative} is damaged" in text
    assert str(root) not in text
    (problem,) = AlertIndex(lake, str(root)).verify()
    assert problem.startswith(f"{relative}: ")
