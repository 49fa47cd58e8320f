"""The demo's archived nights: their directories, and an index replaced whatever its format."""

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID


def test_remaking_the_demo_replaces_an_index_of_an_older_format(tmp_path):
    import json

    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    make_demo_lake(tmp_path / "lake")
    layout = tmp_path / "lake" / "_cutout_index" / "layout.json"
    layout.write_text(json.dumps({**json.loads(layout.read_text()), "format": 2}))
    make_demo_lake(tmp_path / "lake")
    assert len(AlertIndex(Lake(tmp_path / "lake")).alerts(DEMO_OBJECT_ID)) == 5


def test_a_night_directory_is_made_without_an_earlier_demos_part_files(tmp_path):
    import datetime as dt

    from fink_cutout_jupyter.demo.archive import night_directory

    night = dt.date(2026, 3, 6)
    first = night_directory(tmp_path, night)
    assert first == tmp_path / "science" / "year=2026" / "month=03" / "day=06"
    (first / "part-00000-old.snappy.parquet").write_bytes(b"an earlier demo's file")
    (first / "notes.txt").write_text("not a part file")
    again = night_directory(tmp_path, night)
    assert again == first
    assert sorted(p.name for p in again.iterdir()) == ["notes.txt"]
