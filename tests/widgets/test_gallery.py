"""CutoutGallery without a browser: pages through the batch door, tiles, labels, the viewer."""

import io

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.widgets.gallery import CutoutGallery


@pytest.fixture(autouse=True)
def in_a_notebook_directory(tmp_path, monkeypatch):
    """Galleries autosave their labels in the current directory (a notebook's, in Jupyter)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def client(demo):
    return CutoutClient(lake=str(demo.root))


@pytest.fixture(scope="module")
def candids(demo):
    import pyarrow.parquet as pq

    found = []
    for path in demo.files:
        found += pq.read_table(demo.root / path, columns=["candid"]).column(0).to_pylist()
    return found


def test_a_page_holds_its_ids_thumbnails_and_captions(client, candids):
    gallery = CutoutGallery([*candids[:119], 42], client=client, page_size=60)
    assert gallery.grid.pages == 2
    tiles = gallery.grid.tiles
    assert [tile["id"] for tile in tiles] == [str(c) for c in candids[:60]]
    first = tiles[0]
    expected = client.array(candid=candids[0], kind="Difference").astype(np.float32)
    if first["stamps"]:
        pixels = np.frombuffer(first["stamps"][0], dtype=np.float32).reshape(63, 63)
        np.testing.assert_array_equal(pixels, expected)
    assert len(first["caption"]) == 2
    gallery.next_page()
    tiles = gallery.grid.tiles
    assert [tile["id"] for tile in tiles] == [str(c) for c in [*candids[60:119], 42]]
    assert tiles[-1]["status"] == "not found"
    assert tiles[-1]["stamps"] == []


def test_labels_from_the_browser_live_in_the_kernel_across_pages(client, candids, tmp_path):
    gallery = CutoutGallery(candids[:10], client=client, page_size=4)
    for identifier, label in ((candids[0], "real"), (candids[1], "bogus"), (candids[2], "real")):
        gallery._on_message(None, {"event": "label", "id": str(identifier), "label": label}, [])
    gallery._on_message(None, {"event": "page", "delta": 1}, [])
    assert gallery.page == 1
    frame = gallery.labels
    assert frame[["id", "label"]].values.tolist() == [
        [str(candids[0]), "real"],
        [str(candids[1]), "bogus"],
        [str(candids[2]), "real"],
    ]
    assert gallery.grid.labels[str(candids[1])] == "bogus"
    gallery.save_labels(tmp_path / "labels.csv")
    other = CutoutGallery(candids[:10], client=client, page_size=4)
    assert other.load_labels(tmp_path / "labels.csv") == 3
    assert other.grid.labels == gallery.grid.labels


def test_a_dataframe_of_objects_and_opening_a_viewer(client):
    frame = pd.DataFrame({"objectId": [DEMO_OBJECT_ID, "ZTF99zzzzzzz"], "mag": [17.0, 18.0]})
    gallery = CutoutGallery(frame, client=client, kind="All")
    assert gallery.by == "objectId"
    assert len(gallery.grid.tiles[0]["stamps"]) == 3
    gallery._on_message(None, {"event": "open", "id": DEMO_OBJECT_ID}, [])
    viewer = gallery.viewer_box.children[0]
    assert viewer.alert == client.alerts(DEMO_OBJECT_ID)[-1]["alertId"]
    gallery.open_viewer("ZTF99zzzzzzz")  # not found: nothing to open
    assert gallery.viewer_box.children[0] is viewer


def test_bad_arguments_are_refused(client):
    with pytest.raises(ValueError, match="kind"):
        CutoutGallery(["ZTF24abssjsb"], client=client, kind="Sky")
    with pytest.raises(ValueError, match="page_size"):
        CutoutGallery(["ZTF24abssjsb"], client=client, page_size=0)


def test_a_stamp_cut_at_a_ccd_edge_is_shown_at_its_own_shape(client, candids):
    gallery = CutoutGallery(candids[:120], client=client, page_size=120)
    edge = [tile for tile in gallery.grid.tiles if "other shape" in tile["status"]]
    assert edge, "the demo has edge stamps"
    for tile in edge:
        expected = client.array(candid=int(tile["id"]), kind="Difference")
        assert (tile["height"], tile["width"]) == expected.shape != (63, 63)
        pixels = np.frombuffer(tile["stamps"][0], dtype=np.float32).reshape(expected.shape)
        np.testing.assert_array_equal(pixels, expected.astype(np.float32))


def test_labels_outlive_the_kernel_that_gave_them(demo, client, candids, tmp_path):
    import subprocess
    import sys

    ids = candids[:10]
    # A kernel labels three thumbnails from the browser, then dies (SIGKILL: nothing runs after).
    script = (
        "import os, signal\n"
        "from fink_cutout_jupyter.client import CutoutClient\n"
        "from fink_cutout_jupyter.widgets.gallery import CutoutGallery\n"
        f"gallery = CutoutGallery({ids!r}, client=CutoutClient(lake={str(demo.root)!r}))\n"
        f"for identifier, label in {[(ids[0], 'real'), (ids[1], 'bogus'), (ids[4], 'real')]!r}:\n"
        "    message = {'event': 'label', 'id': str(identifier), 'label': label}\n"
        "    gallery._on_message(None, message, [])\n"
        "print(gallery.labels_path, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    died = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert died.returncode == -9, died.stderr
    path = tmp_path / died.stdout.strip().rsplit("/", 1)[-1]
    assert path.parent == tmp_path
    assert path.name.startswith("fink-labels-")
    saved = pd.read_csv(path, dtype=str)  # an independent reader
    assert saved[["id", "label"]].values.tolist() == [
        [str(ids[0]), "real"],
        [str(ids[1]), "bogus"],
        [str(ids[4]), "real"],
    ]
    # The restarted kernel makes a gallery of the same ids (in another order): labels are back.
    gallery = CutoutGallery(list(reversed(ids)), client=client)
    assert gallery.labels_path == path
    assert gallery.grid.labels == {str(ids[0]): "real", str(ids[1]): "bogus", str(ids[4]): "real"}
    assert "3 loaded" in gallery.labels_note.value
    assert path.name in gallery.labels_note.value
    gallery.label(ids[1], None)
    assert pd.read_csv(path, dtype=str)["id"].tolist() == [str(ids[0]), str(ids[4])]


def test_a_named_labels_file_is_shared_by_galleries(client, candids, tmp_path):
    path = tmp_path / "vetting" / "night.parquet"
    path.parent.mkdir()
    first = CutoutGallery(candids[:4], client=client, labels_path=path)
    first.label(candids[0], "unsure")
    second = CutoutGallery(candids[2:6], client=client, labels_path=path)
    assert second.grid.labels == {str(candids[0]): "unsure"}
    second.label(candids[3], "bogus")
    assert pd.read_parquet(path)["id"].tolist() == [str(candids[0]), str(candids[3])]
    assert sorted(p.name for p in path.parent.iterdir()) == [".night.parquet.lock", "night.parquet"]


def test_without_autosave_nothing_is_written(client, candids, tmp_path):
    gallery = CutoutGallery(candids[:4], client=client, autosave=False)
    gallery.label(candids[0], "real")
    assert gallery.labels_path is None
    assert gallery.labels_note.value == ""
    assert list(tmp_path.iterdir()) == []


def test_a_failed_autosave_is_shown_and_the_label_kept(client, candids, tmp_path):
    gallery = CutoutGallery(candids[:4], client=client)
    gallery.labels_path.mkdir()  # where the file goes, a directory: writes fail
    gallery.label(candids[0], "real")
    assert "labels not saved to" in gallery.labels_note.value
    assert gallery.grid.labels == {str(candids[0]): "real"}
    gallery.labels_path.rmdir()
    gallery.label(candids[1], "bogus")
    assert "not saved" not in gallery.labels_note.value
    assert len(pd.read_csv(gallery.labels_path)) == 2


def test_a_labels_file_that_cannot_be_used_is_refused_and_left_alone(client, candids, tmp_path):
    bad = tmp_path / "vetting.csv"
    bad.write_text("id,label,labelled_at\nZTF1,real,2026-01-01\n,bogus,2026-01-02\n")
    with pytest.raises(ValueError, match=r"row 2: blank id; fix or move the file, or give another"):
        CutoutGallery(candids[:4], client=client, labels_path=bad)
    assert bad.read_text() == "id,label,labelled_at\nZTF1,real,2026-01-01\n,bogus,2026-01-02\n"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CutoutGallery(candids[:4], client=client, labels_path=tmp_path / "missing" / "l.csv")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        CutoutGallery(candids[:4], client=client, labels_path=tmp_path)
    with pytest.raises(ValueError, match=r"\.csv, \.parquet or \.pq"):
        CutoutGallery(candids[:4], client=client, labels_path=tmp_path / "labels.xlsx")


def test_the_browser_colours_thumbnails_as_the_kernel_says(client, candids):
    import matplotlib

    from fink_cutout_jupyter.widgets.assets import STATIC
    from fink_cutout_jupyter.widgets.gallery import THUMBNAIL_COLOURING

    gallery = CutoutGallery(candids[:2], client=client, kind="All", autosave=False)
    state = gallery.grid.get_state()
    assert state["colouring"] == THUMBNAIL_COLOURING
    assert set(THUMBNAIL_COLOURING["colormaps"]) == {"Science", "Template", "Difference"}
    for name in THUMBNAIL_COLOURING["colormaps"].values():
        table = matplotlib.colormaps[name](np.linspace(0, 1, 256), bytes=True)[:, :3]
        assert bytes(state["colormaps"][name]) == table.tobytes()
    script = (STATIC / "gallery.js").read_text()
    for written in ('"gray"', '"RdBu_r"', "99.5", '"Difference"'):
        assert written not in script, f"gallery.js decides {written} itself"


def test_solar_system_objects_show_their_latest_alert_and_open_as_such(rubin_lake, rubin_records):
    """The two real solar-system objects, and an ssObjectId no alert has."""
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    build(AlertIndex(rubin_lake), rubin_lake.nights(), progress=False)
    rubin = CutoutClient(lake=rubin_lake.uri)
    solar = {}
    for record in rubin_records:
        if (record["ssSource"] or {}).get("ssObjectId"):
            solar[record["ssSource"]["ssObjectId"]] = record  # the files' order is time order
    assert len(solar) == 2
    ids = [{"ssObjectId": ss_object_id} for ss_object_id in solar] + [{"ssObjectId": 1}]
    gallery = CutoutGallery(ids, client=rubin, autosave=False)
    assert gallery.by == "ssObjectId"
    tiles = gallery.grid.tiles
    assert [tile["id"] for tile in tiles] == [*(str(i) for i in solar), "1"]
    for tile, record in zip(tiles, solar.values(), strict=False):
        assert tile["status"].startswith("ok")
        assert (
            tile["caption"][0]
            == f"{record['ssSource']['ssObjectId']} ({record['ssSource']['designation']})"
        )
        with fits.open(io.BytesIO(record["cutoutDifference"])) as hdul:
            expected = next(h for h in hdul if h.data is not None).data.astype(np.float32)
        pixels = np.frombuffer(tile["stamps"][0], dtype=np.float32).reshape(expected.shape)
        np.testing.assert_array_equal(pixels, expected)
    assert tiles[-1]["status"] == "not found"
    first = next(iter(solar))
    gallery._on_message(None, {"event": "open", "id": str(first)}, [])
    viewer = gallery.viewer_box.children[0]
    assert str(viewer.ss_object_id) == str(first)
    assert viewer.alert == solar[first]["diaSourceId"]
    assert "Solar-system object 2004 JQ12" in viewer.title.value
