"""CutoutViewer's state without a browser: images, controls, navigation, downloads, errors."""

import base64
import io
import re

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.demo import DEMO_OBJECT_ID
from fink_cutout_jupyter.surveys import KINDS
from fink_cutout_jupyter.viewer import CutoutViewer, alert_label, alert_title, download_link


@pytest.fixture(scope="module")
def client(demo):
    return CutoutClient(lake=str(demo.root))


@pytest.fixture
def viewer(client):
    return CutoutViewer(DEMO_OBJECT_ID, client=client)


def pixels(image_widget) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image_widget.value)))


def link_bytes(html_value: str) -> tuple[str, bytes]:
    name = re.search(r'download="([^"]+)"', html_value)[1]
    data = re.search(r'href="data:application/fits;base64,([^"]+)"', html_value)[1]
    return name, base64.b64decode(data)


def test_opens_on_the_latest_alert_with_three_stamps(viewer, client):
    alerts = client.alerts(DEMO_OBJECT_ID)
    assert viewer.alert_list.value == alerts[-1]["alertId"]
    assert len(viewer.alert_list.options) == len(alerts) == 5
    for kind in KINDS:
        assert pixels(viewer.images[kind]).shape == (63, 63, 3)
        assert pixels(viewer.images[kind]).std() > 0
    assert "ZTF24abssjsb" in viewer.title.value
    assert viewer.next_button.disabled
    assert not viewer.previous_button.disabled
    assert viewer.message.value == ""


def test_controls_rerender_from_kernel_data(viewer, client):
    before = {kind: pixels(viewer.images[kind]) for kind in KINDS}
    viewer.stretch.value = "linear"
    after = {kind: pixels(viewer.images[kind]) for kind in KINDS}
    assert all(not np.array_equal(before[k], after[k]) for k in KINDS)
    viewer.colormap.value = "viridis"
    coloured = pixels(viewer.images["Science"])
    assert not np.array_equal(coloured[..., 0], coloured[..., 1])
    viewer.flip.value = True
    np.testing.assert_array_equal(pixels(viewer.images["Science"]), coloured[::-1])
    viewer.percentiles.value = (10, 90)
    viewer.interval.value = "zscale"
    assert viewer.percentiles.disabled
    assert viewer.options.interval == "zscale"


def test_navigation_changes_the_alert(viewer, client):
    alerts = client.alerts(DEMO_OBJECT_ID)
    science = viewer.images["Science"].value
    viewer.previous()
    assert viewer.alert_list.value == alerts[-2]["alertId"]
    assert viewer.images["Science"].value != science
    assert str(alerts[-2]["alertId"]) in viewer.title.value
    viewer.alert_list.value = alerts[0]["alertId"]
    assert viewer.previous_button.disabled
    viewer.previous()
    assert viewer.alert_list.value == alerts[0]["alertId"]
    viewer.next()
    assert viewer.alert_list.value == alerts[1]["alertId"]


def test_opens_on_a_given_alert(client):
    first = client.alerts(DEMO_OBJECT_ID)[0]["alertId"]
    assert CutoutViewer(DEMO_OBJECT_ID, candid=first, client=client).alert_list.value == first


def test_download_links_decode_to_the_exact_fits_bytes(viewer, client):
    candid = viewer.alert_list.value
    for kind in KINDS:
        name, data = link_bytes(viewer.downloads[kind].value)
        assert name == f"{DEMO_OBJECT_ID}_{candid}_{kind}.fits"
        assert data == client.fits_bytes(DEMO_OBJECT_ID, candid, kind)
    name, data = link_bytes(viewer.download_all.value)
    assert name == f"{DEMO_OBJECT_ID}_{candid}_All.fits"
    with fits.open(io.BytesIO(data)) as hdul:
        assert [hdu.name for hdu in hdul[1:]] == ["SCIENCE", "TEMPLATE", "DIFFERENCE"]
        assert hdul[1].header["ALERTID"] == candid


def test_the_saved_notebook_shows_a_png_without_widget_state(viewer):
    bundle = viewer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    image = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert image.size == (63 * 3 + 4, 63)


@pytest.mark.parametrize(
    ("object_id", "candid", "message"),
    [
        ("ZTF99zzzzzzz", None, "no alert of ZTF99zzzzzzz"),
        (DEMO_OBJECT_ID, 1, "alert 1 is not an alert"),
    ],
)
def test_errors_show_inside_the_widget(client, object_id, candid, message):
    viewer = CutoutViewer(object_id, candid=candid, client=client)
    assert message in viewer.message.value
    assert "Traceback" not in viewer.message.value
    assert "image/png" not in viewer._repr_mimebundle_()


def test_an_unreachable_server_shows_inside_the_widget():
    from conftest import free_port

    viewer = CutoutViewer(
        DEMO_OBJECT_ID, client=CutoutClient(url=f"http://127.0.0.1:{free_port()}/")
    )
    assert "cannot reach" in viewer.message.value


def test_strings_put_into_html_are_escaped():
    alert = {
        "alertId": "<b>1</b>",
        "date": "2024-11-21T06:04:20+00:00",
        "filter": "<script>alert(1)</script>",
        "magnitude": 17.5,
        "magnitude_error": 0.1,
        "magnitude_unit": "mag",
        "ra": 1.0,
        "dec": -2.0,
    }
    title = alert_title("<img src=x onerror=alert(1)>", alert)
    assert "<script>" not in title
    assert "<img" not in title
    assert "&lt;script&gt;" in title
    assert "2024-11-21 06:04 UTC · <script>" in alert_label(alert)  # plain text for a Dropdown
    link = download_link(b"x", 'a"><script>.fits', "<b>")
    assert "<script>" not in link
    assert 'download="a&quot;&gt;&lt;script&gt;.fits"' in link


def test_a_corrupt_stamp_is_an_error_tile_and_the_others_show(tmp_path):
    """One stored Science stamp is garbage: the viewer shows Template and Difference, and a
    grey tile with the reason for Science."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.demo import make_demo_lake

    demo = make_demo_lake(tmp_path / "lake", index=False)
    for path in demo.files:
        table = pq.read_table(demo.root / path)
        science = table.column("cutoutScience").combine_chunks()
        garbage = pa.array([b"not gzip"] * table.num_rows, pa.binary())
        broken = pa.StructArray.from_arrays(
            [pc.struct_field(science, "fileName"), garbage], ["fileName", "stampData"]
        )
        index = table.schema.get_field_index("cutoutScience")
        pq.write_table(table.set_column(index, "cutoutScience", broken), demo.root / path)
    from fink_cutout_jupyter.index import AlertIndex
    from fink_cutout_jupyter.indexing import build
    from fink_cutout_jupyter.lake import Lake

    build(AlertIndex(Lake(demo.root)), list(demo.nights), progress=False)
    viewer = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(demo.root)))
    assert set(viewer.stamps) == {"Template", "Difference"}
    assert list(viewer.broken) == ["Science"]
    assert "Science: kind: the Science stamp of alert" in viewer.downloads["Science"].value
    assert "fink-error" in viewer.downloads["Science"].value
    assert np.ptp(pixels(viewer.images["Science"])) == 0  # a plain tile
    for kind in ("Template", "Difference"):
        assert np.ptp(pixels(viewer.images[kind])) > 0
        assert "download=" in viewer.downloads[kind].value
    assert viewer.message.value == ""
