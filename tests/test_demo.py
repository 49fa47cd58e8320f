import datetime as dt
import hashlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.demo import DEMO_OBJECT_ID, make_demo_lake
from fink_cutout_jupyter.errors import NotFound


def digest(root, files) -> str:
    return hashlib.sha256(b"".join((root / f).read_bytes() for f in files)).hexdigest()


def test_demo_lake_has_fink_layout_and_size(demo, demo_lake):
    assert len(demo.nights) >= 3
    assert demo.objects >= 200
    assert demo_lake.nights() == list(demo.nights)
    assert sorted(f for n in demo.nights for f in demo_lake.night_files(n)) == sorted(demo.files)
    for path in demo.files:
        metadata = pq.ParquetFile(demo_lake.resolve(path)).metadata
        assert metadata.num_row_groups == 1
        assert metadata.row_group(0).column(0).compression == "SNAPPY"
    ids = pq.read_table(demo_lake.resolve(demo.files[0]), columns=["objectId"])
    assert ids.num_rows > 50


def test_demo_object_has_five_alerts_over_several_nights_and_latest_is_max_jd(demo, demo_lake):
    table = pq.ParquetDataset([demo_lake.resolve(f) for f in demo.files]).read(
        columns=["objectId", "candid", "candidate"]
    )
    alerts = [r for r in table.to_pylist() if r["objectId"] == DEMO_OBJECT_ID]
    assert len(alerts) >= 5
    nights = {dt.date.fromordinal(int(a["candidate"]["jd"] - 1721424.5)) for a in alerts}
    assert len(nights) >= 3
    reader = CutoutReader(demo_lake)
    last_night_alerts = []
    for path in demo_lake.night_files(demo.nights[-1]):
        try:
            last_night_alerts.append(reader.read(path, DEMO_OBJECT_ID))
        except NotFound:
            continue
    latest = max(last_night_alerts, key=lambda a: a.time)
    assert latest.time == max(a["candidate"]["jd"] for a in alerts)
    assert latest.properties["isdiffpos"] == "t"


def test_demo_stamps_look_like_the_sky(demo, demo_lake):
    path = demo.demo_object_files[0]
    alert = CutoutReader(demo_lake).read(path, DEMO_OBJECT_ID)
    science, template, difference = (alert.stamps[k].data for k in alert.stamps)
    assert science.shape == (63, 63)
    centre = (slice(29, 34), slice(29, 34))
    noise = np.std(difference[:10, :10])
    assert difference[centre].max() > 10 * noise, "the transient shows in the difference"
    assert np.median(science) > 50, "the science image has a sky background"
    assert np.std(template[:10, :10]) < np.std(science[:10, :10]), "the template is deeper"
    assert "BUNIT" in alert.stamps["Science"].header


def test_demo_is_deterministic_for_a_seed(tmp_path):
    first = make_demo_lake(tmp_path / "a", seed=7, index=False)
    second = make_demo_lake(tmp_path / "b", seed=7, index=False)
    other = make_demo_lake(tmp_path / "c", seed=8, index=False)
    assert first.files == second.files
    assert digest(first.root, first.files) == digest(second.root, second.files)
    assert digest(first.root, first.files) != digest(other.root, other.files)


def test_demo_lake_is_indexed(demo, demo_lake):
    from fink_cutout_jupyter.index.lookup import AlertIndex

    index = AlertIndex(demo_lake)
    assert index.stats()["entries"] == demo.alerts
    assert len(index.alerts(DEMO_OBJECT_ID)) == 5
    latest = index.latest(DEMO_OBJECT_ID)
    assert latest.path in demo.demo_object_files
    assert latest.path.startswith(f"science/year=2024/month=11/day={demo.nights[-1]:%d}/")


def test_demo_refuses_a_too_small_lake(tmp_path):
    with pytest.raises(ValueError, match="at least 3 nights and 200 objects"):
        make_demo_lake(tmp_path, nights=2)


def test_remaking_the_demo_replaces_an_index_of_an_older_format(tmp_path):
    import json

    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    make_demo_lake(tmp_path / "lake")
    layout = tmp_path / "lake" / "_cutout_index" / "layout.json"
    layout.write_text(json.dumps({**json.loads(layout.read_text()), "format": 2}))
    make_demo_lake(tmp_path / "lake")
    assert len(AlertIndex(Lake(tmp_path / "lake")).alerts(DEMO_OBJECT_ID)) == 5


def quickstart_of_version(number: int) -> bytes:
    """The package's quickstart as a release `number` would ship it (its title cell changed)."""
    import json

    from fink_cutout_jupyter.cli import bundled_quickstart

    notebook = json.loads(bundled_quickstart())
    notebook["cells"][0]["source"] = [f"# Quickstart, release {number}\n"]
    return json.dumps(notebook, indent=1).encode()


def edit(path) -> bytes:
    """What a user does in JupyterLab: add a cell of their own, save."""
    import json

    notebook = json.loads(path.read_bytes())
    notebook["cells"].append(
        {"cell_type": "code", "id": "mine", "metadata": {}, "outputs": [], "source": ["1 + 1"]}
    )
    path.write_text(json.dumps(notebook, indent=1))
    return path.read_bytes()


def test_the_quickstart_is_written_when_missing_and_kept_once_edited(tmp_path):
    from fink_cutout_jupyter.cli import bundled_quickstart
    from fink_cutout_jupyter.demo import write_quickstart

    packaged = bundled_quickstart()
    path, done = write_quickstart(tmp_path, packaged, "0.1.0")
    assert path == tmp_path / "quickstart.ipynb"
    assert path.read_bytes() == packaged
    assert done == "wrote quickstart.ipynb"
    edited = edit(path)
    again, done = write_quickstart(tmp_path, packaged, "0.1.0")  # `fink-cutouts demo` again
    assert again == path
    assert path.read_bytes() == edited
    assert done == "kept your edited quickstart.ipynb"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".quickstart.ipynb.sha256",
        "quickstart.ipynb",
    ]


def test_an_unedited_quickstart_follows_the_package_and_an_edited_one_gets_a_copy(tmp_path):
    from fink_cutout_jupyter.demo import write_quickstart

    path, _ = write_quickstart(tmp_path, quickstart_of_version(1), "0.1.0")
    _, done = write_quickstart(tmp_path, quickstart_of_version(2), "0.2.0")  # an upgrade
    assert path.read_bytes() == quickstart_of_version(2), "unedited: replaced"
    assert done == "wrote quickstart.ipynb"
    edited = edit(path)
    _, done = write_quickstart(tmp_path, quickstart_of_version(3), "0.3.0")
    assert path.read_bytes() == edited, "edited: kept"
    assert (tmp_path / "quickstart-0.3.0.ipynb").read_bytes() == quickstart_of_version(3)
    assert done.endswith("this version's quickstart: quickstart-0.3.0.ipynb")
    edit(tmp_path / "quickstart-0.3.0.ipynb")
    beside = (tmp_path / "quickstart-0.3.0.ipynb").read_bytes()
    write_quickstart(tmp_path, quickstart_of_version(3), "0.3.0")
    assert path.read_bytes() == edited
    assert (tmp_path / "quickstart-0.3.0.ipynb").read_bytes() == beside, "never overwritten"


def test_a_quickstart_of_unknown_origin_is_kept(tmp_path):
    from fink_cutout_jupyter.demo import write_quickstart

    mine = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    (tmp_path / "quickstart.ipynb").write_bytes(mine)  # written before the demo kept a record
    write_quickstart(tmp_path, quickstart_of_version(1), "0.1.0")
    assert (tmp_path / "quickstart.ipynb").read_bytes() == mine
    assert (tmp_path / "quickstart-0.1.0.ipynb").read_bytes() == quickstart_of_version(1)
