"""CutoutViewer's state without a browser: what it sends the front-end, traits, navigation,
downloads, the static fallback, saved figures, errors."""

import base64
import io
import re

import numpy as np
import pytest
import traitlets
from astropy.io import fits
from PIL import Image

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.surveys import KINDS
from fink_cutout_jupyter.widgets.viewer import CutoutViewer


@pytest.fixture(scope="module")
def client(demo):
    return CutoutClient(lake=str(demo.root))


@pytest.fixture
def viewer(client):
    return CutoutViewer(DEMO_OBJECT_ID, client=client)


def link_bytes(html_value: str, kind: str) -> tuple[str, bytes]:
    """The file name and bytes of the download link of one kind."""
    for match in re.finditer(
        r'download="([^"]+)" href="data:application/fits;base64,([^"]+)"', html_value
    ):
        if match[1].endswith(f"_{kind}.fits"):
            return match[1], base64.b64decode(match[2])
    raise AssertionError(f"no {kind} link")


def stored_pixels(client, candid, kind) -> np.ndarray:
    with fits.open(
        io.BytesIO(client.fits_bytes(DEMO_OBJECT_ID, candid, kind)), ignore_missing_simple=True
    ) as hdul:
        return hdul[0].data.astype("<f4")


def test_opens_on_the_latest_alert_and_sends_each_stamps_pixels_once(viewer, client):
    alerts = client.alerts(DEMO_OBJECT_ID)
    assert viewer.alert_list.value == viewer.alert == alerts[-1]["alertId"]
    assert len(viewer.alert_list.options) == len(alerts) == 5
    sent = {stamp["kind"]: stamp for stamp in viewer.panels.stamps}
    assert list(sent) == list(KINDS)
    for kind in KINDS:
        pixels = np.frombuffer(sent[kind]["pixels"], dtype="<f4").reshape(63, 63)
        np.testing.assert_array_equal(pixels, stored_pixels(client, viewer.alert, kind))
        assert sent[kind]["unit"] == "DN"
        assert sent[kind]["sky"] == {"center": [31.5, 31.5], "scale": 1.01}
        assert sent[kind]["compass"] is None
    assert "ZTF24abssjsb" in viewer.title.value
    assert "positive detection" in viewer.title.value
    assert viewer.next_button.disabled
    assert not viewer.previous_button.disabled
    assert viewer.message.value == ""


def test_the_links_out_search_around_the_alert(viewer, client):
    latest = client.alerts(DEMO_OBJECT_ID)[-1]
    assert f'href="https://fink-portal.org/{DEMO_OBJECT_ID}"' in viewer.links.value
    assert f"ra={latest['ra']:.6f}" in viewer.links.value
    assert "simbad.cds.unistra.fr" in viewer.links.value
    assert 'rel="noopener noreferrer"' in viewer.links.value


def test_traits_of_the_viewer_are_the_panels_traits(viewer):
    viewer.stretch = "log"
    viewer.zoom = 4
    viewer.colormap = "magma"
    assert (viewer.panels.stretch, viewer.panels.zoom) == ("log", 4)
    assert "magma" in viewer.panels.colormaps, "a new colormap's table is sent"
    viewer.panels.center = [10.0, 20.0]  # as the browser sets it after a drag
    assert viewer.center == [10.0, 20.0]
    seen = []
    viewer.observe(lambda change: seen.append(change["new"]), names="zoom")
    viewer.panels.zoom = 2  # the mouse wheel
    assert seen == [2]
    with pytest.raises(traitlets.TraitError, match="not a matplotlib colormap"):
        viewer.colormap = "no-such-map"


def test_cuts_set_in_the_kernel_are_manual_and_the_browsers_are_reported(viewer):
    viewer.panels.cuts = {"Science": [1.0, 2.0]}  # what the browser computed
    assert viewer.cuts == {"Science": [1.0, 2.0]}
    assert viewer.interval == "zscale"
    viewer.cuts = (0, 100)
    assert viewer.interval == "manual"
    assert viewer.panels.cuts == {kind: [0.0, 100.0] for kind in KINDS}


def test_blink_cycles_the_chosen_kinds(viewer):
    viewer.blink(interval=0.25, kinds=["Science", "Difference"])
    assert viewer.panels.blinking
    assert (viewer.panels.blink_interval, viewer.panels.blink_kinds) == (
        0.25,
        ["Science", "Difference"],
    )
    viewer.blink(False)
    assert not viewer.panels.blinking


def test_navigation_changes_the_alert(viewer, client):
    alerts = client.alerts(DEMO_OBJECT_ID)
    science = viewer.panels.stamps[0]["pixels"]
    viewer.previous()
    assert viewer.alert == viewer.alert_list.value == alerts[-2]["alertId"]
    assert viewer.panels.stamps[0]["pixels"] != science
    assert str(alerts[-2]["alertId"]) in viewer.title.value
    viewer.alert = alerts[0]["alertId"]
    assert viewer.alert_list.value == alerts[0]["alertId"]
    assert viewer.previous_button.disabled
    viewer.previous()
    assert viewer.alert_list.value == alerts[0]["alertId"]
    viewer.next()
    assert viewer.alert_list.value == alerts[1]["alertId"]
    with pytest.raises(traitlets.TraitError, match="not an alert of"):
        viewer.alert = 1


def test_opens_on_a_given_alert(client):
    first = client.alerts(DEMO_OBJECT_ID)[0]["alertId"]
    assert CutoutViewer(DEMO_OBJECT_ID, candid=first, client=client).alert_list.value == first


def test_download_links_decode_to_the_exact_fits_bytes(viewer, client):
    candid = viewer.alert_list.value
    for kind in KINDS:
        name, data = link_bytes(viewer.downloads.value, kind)
        assert name == f"{DEMO_OBJECT_ID}_{candid}_{kind}.fits"
        assert data == client.fits_bytes(DEMO_OBJECT_ID, candid, kind)
    name, data = link_bytes(viewer.downloads.value, "All")
    assert name == f"{DEMO_OBJECT_ID}_{candid}_All.fits"
    with fits.open(io.BytesIO(data)) as hdul:
        assert [hdu.name for hdu in hdul[1:]] == ["SCIENCE", "TEMPLATE", "DIFFERENCE"]
        assert hdul[1].header["ALERTID"] == candid


def test_the_saved_notebook_shows_the_stamps_as_astropy_draws_them(viewer, client):
    """The static fallback: the stamps enlarged three times with zscale cuts (symmetric for the
    Difference), linear stretch, the colormaps' 256 levels, computed here with astropy and
    matplotlib on the FITS bytes; the light curve under them."""
    import matplotlib
    from astropy.visualization import ZScaleInterval

    viewer.reticle = viewer.scale_bar = False  # the stamps alone (their overlays: below)
    bundle = viewer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))))
    assert image.shape[1] == 3 * (63 * 3 + 4)
    assert image.shape[0] > 3 * 63 + 100, "the light curve is under the stamps"
    stamps = image[: 3 * 63 : 3, ::3]
    pixels = stored_pixels(client, viewer.alert, "Difference").astype(float)
    reach = np.abs(ZScaleInterval().get_limits(pixels)).max()
    level = np.floor(np.clip((pixels + reach) / (2 * reach), 0, 1) * 255 + 0.5).astype(int)
    table = matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256), bytes=True)[:, :3]
    difference = stamps[:, -63:].astype(int)
    assert np.abs(difference - table[level]).max() <= 2
    curve = image[3 * 63 :]
    assert (curve != 255).any(), "something is drawn under the stamps"


def test_the_light_curve_has_every_detection_and_a_click_opens_its_alert(viewer, client):
    alerts = client.alerts(DEMO_OBJECT_ID)
    points = viewer.light_curve.points
    assert [p["alertId"] for p in points] == [str(a["alertId"]) for a in alerts]
    assert [p["magnitude"] for p in points] == [a["magnitude"] for a in alerts]
    assert viewer.light_curve.shown == str(alerts[-1]["alertId"])
    viewer.light_curve.clicked = str(alerts[0]["alertId"])  # as the browser sets it
    assert viewer.alert == alerts[0]["alertId"]
    assert viewer.light_curve.shown == str(alerts[0]["alertId"])


def test_save_writes_a_labelled_figure(viewer, tmp_path):
    viewer.save(tmp_path / "stamps.png")
    with Image.open(tmp_path / "stamps.png") as figure:
        assert figure.width > 3 * 63
        assert figure.height > 63
    viewer.save(tmp_path / "stamps.svg")
    svg = (tmp_path / "stamps.svg").read_text()
    for text in (DEMO_OBJECT_ID, "Science", "Template", "Difference", "DN", "zscale"):
        assert text in svg


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
    from support.servers import free_port

    viewer = CutoutViewer(
        DEMO_OBJECT_ID, client=CutoutClient(url=f"http://127.0.0.1:{free_port()}/")
    )
    assert "cannot reach" in viewer.message.value


def test_a_corrupt_stamp_is_an_error_tile_and_the_others_show(tmp_path):
    """One stored Science stamp is garbage: the viewer shows Template and Difference, and a
    grey tile with the reason for Science."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.demo.make import make_demo_lake

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
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    build(AlertIndex(Lake(demo.root)), list(demo.nights), progress=False)
    viewer = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(demo.root)))
    assert set(viewer.stamps) == {"Template", "Difference"}
    assert list(viewer.broken) == ["Science"]
    assert "Science: kind: the Science stamp of alert" in viewer.downloads.value
    assert "fink-error" in viewer.downloads.value
    sent = {stamp["kind"]: stamp for stamp in viewer.panels.stamps}
    assert "pixels" not in sent["Science"]
    assert "the Science stamp of alert" in sent["Science"]["error"]
    for kind in ("Template", "Difference"):
        assert len(sent[kind]["pixels"]) == 63 * 63 * 4
        assert f'_{kind}.fits"' in viewer.downloads.value
    assert viewer.message.value == ""
    assert Image.open(io.BytesIO(viewer.png())).size == (63 * 2 + 2, 63)


def test_an_alert_streamed_tonight_is_shown_once_a_follower_cycle_indexed_it(demo, tmp_path):
    """Tonight's live night (the demo's Spark sink), one follower cycle, and the viewer opens on
    the alert of the last micro-batch, with the stamps pyarrow and astropy read from its file."""
    import datetime as dt
    import gzip
    import shutil

    import pyarrow.parquet as pq

    from fink_cutout_jupyter.demo.live import stream_demo_batch
    from fink_cutout_jupyter.index.follow import Follower
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    root = tmp_path / "lake"
    shutil.copytree(demo.root, root)
    tonight = demo.nights[-1] + dt.timedelta(days=1)
    batches = [stream_demo_batch(root, tonight) for _ in range(3)]
    assert Follower(AlertIndex(Lake(root))).cycle().indexed
    rows = pq.read_table(root / batches[-1].path).to_pylist()
    row = next(r for r in rows if r["objectId"] == DEMO_OBJECT_ID)

    viewer = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(root)))
    assert viewer.message.value == ""
    assert viewer.alert == row["candid"]
    assert len(viewer.alert_list.options) == 5 + 3, "the archive's and tonight's"
    assert max(viewer.alerts, key=lambda a: a["jd"])["alertId"] == row["candid"]
    assert viewer.alert_record["date"].startswith(f"{tonight:%Y-%m-%d}T")
    sent = {stamp["kind"]: stamp for stamp in viewer.panels.stamps}
    for kind in KINDS:
        stored = gzip.decompress(row[f"cutout{kind}"]["stampData"])
        with fits.open(io.BytesIO(stored)) as hdul:
            expected = hdul[0].data.astype("<f4")
        pixels = np.frombuffer(sent[kind]["pixels"], dtype="<f4").reshape(expected.shape)
        np.testing.assert_array_equal(pixels, expected)


RUBIN_OBJECT = "170028485706776685"
RETICLE, SCALE_BAR = (0, 255, 0), (255, 255, 0)  # stamp_display.OVERLAY_COLOURS


@pytest.fixture(scope="module")
def rubin_client(rubin_lake):
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    build(AlertIndex(rubin_lake), rubin_lake.nights(), progress=False)
    return CutoutClient(lake=rubin_lake.uri)


def rubin_record(rubin_records, alert_id: int) -> dict:
    return next(r for r in rubin_records if r["diaSourceId"] == alert_id)


def astropy_alert_pixel(fits_bytes: bytes, ra: float, dec: float) -> tuple[float, float]:
    """The alert's position on a stored Rubin stamp by astropy (TAN: the header names none), in
    the view's coordinates (pixel c spanning c to c + 1)."""
    from astropy.wcs import WCS

    with fits.open(io.BytesIO(fits_bytes)) as hdul:
        header = next(hdu for hdu in hdul if hdu.data is not None).header.copy()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    column, row = WCS(header).celestial.world_to_pixel_values(ra, dec)
    return float(column) + 0.5, float(row) + 0.5


def static_stamps(viewer, scale: int = 3) -> list[np.ndarray]:
    """The static fallback's stamps, each enlarged `scale` times, cut out of its PNG."""
    image = np.asarray(Image.open(io.BytesIO(viewer.static_png(scale))).convert("RGB"))
    stamps, left = [], 0
    for kind in viewer.stamps:
        height, width = viewer.stamps[kind].data.shape
        stamps.append(image[: height * scale, left : left + width * scale].astype(int))
        left += (width + 2) * scale
    return stamps


def is_colour(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.abs(rgb - np.array(colour)).max(axis=-1) <= 2


def test_ztf_is_shown_with_ztfs_display_and_given_values_are_kept(client):
    from fink_cutout_jupyter.surveys import ZTF

    viewer = CutoutViewer(DEMO_OBJECT_ID, client=client)
    display = ZTF.stamp_display
    assert (viewer.stretch, viewer.difference_stretch, viewer.interval) == (
        display.stretch,
        display.difference_stretch,
        display.interval,
    )
    assert (viewer.pmin, viewer.pmax) == (display.pmin, display.pmax) == (0.5, 99.5)
    assert (viewer.panels.stretch, viewer.panels.interval) == ("linear", "zscale")
    assert viewer.reticle
    assert viewer.scale_bar
    chosen = CutoutViewer(DEMO_OBJECT_ID, client=client, stretch="sqrt", pmax=99.0)
    assert (chosen.stretch, chosen.pmax, chosen.interval) == ("sqrt", 99.0, "zscale")


def test_a_rubin_object_is_shown_as_finks_portal_shows_it(rubin_client, rubin_records):
    """asinh Science and Template, linear Difference, percentiles 0.5-99.95: the static fallback's
    stamps are astropy's AsinhStretch and LinearStretch on AsymmetricPercentileInterval(0.5,
    99.95) of the stored pixels (the Difference symmetric about 0), in the colormaps' levels."""
    import matplotlib
    from astropy.visualization import AsinhStretch, AsymmetricPercentileInterval

    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client, reticle=False, scale_bar=False)
    assert viewer.message.value == ""
    assert (viewer.stretch, viewer.difference_stretch) == ("asinh", "linear")
    assert (viewer.interval, viewer.pmin, viewer.pmax) == ("percentile", 0.5, 99.95)
    assert viewer.panels.difference_stretch == "linear"
    record = rubin_record(rubin_records, viewer.alert)
    shown = dict(zip(viewer.stamps, static_stamps(viewer, scale=1), strict=True))
    for kind, colormap in (("Science", "gray"), ("Template", "gray"), ("Difference", "RdBu_r")):
        with fits.open(io.BytesIO(record[f"cutout{kind}"])) as hdul:
            pixels = next(h for h in hdul if h.data is not None).data.astype(float)
        finite = pixels[np.isfinite(pixels)]
        low, high = AsymmetricPercentileInterval(0.5, 99.95).get_limits(finite)
        if kind == "Difference":
            reach = max(abs(low), abs(high))
            level = 0.5 + np.clip(pixels / reach, -1, 1) / 2
        else:
            level = AsinhStretch()(np.clip((pixels - low) / (high - low), 0, 1))
        table = matplotlib.colormaps[colormap](np.linspace(0, 1, 256), bytes=True)[:, :3]
        expected = table[np.floor(level * 255 + 0.5).astype(int)].astype(int)
        assert np.abs(shown[kind] - expected).max() <= 2, kind
    assert "asinh" in viewer.panels.choices["stretch"]


def test_rubin_values_given_override_the_surveys(rubin_client):
    viewer = CutoutViewer(
        RUBIN_OBJECT, client=rubin_client, stretch="log", difference_stretch="sqrt"
    )
    assert (viewer.stretch, viewer.difference_stretch, viewer.pmax) == ("log", "sqrt", 99.95)


def test_the_reticle_is_sent_where_astropy_puts_the_alert_on_each_rubin_stamp(
    rubin_client, rubin_records
):
    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    record = rubin_record(rubin_records, viewer.alert)
    source = record["diaSource"]
    for payload in viewer.panels.stamps:
        kind = payload["kind"]
        expected = astropy_alert_pixel(record[f"cutout{kind}"], source["ra"], source["dec"])
        assert payload["alert_position"] == pytest.approx(expected, abs=1e-9)
        assert payload["arcsec_per_pixel"] == pytest.approx(0.2, abs=0.002)


@pytest.mark.parametrize("survey", ["ztf", "lsst"])
def test_the_static_fallback_draws_the_reticle_and_scale_bar(
    survey, client, rubin_client, rubin_records
):
    """The reticle's ticks are on the row and column through the alert's position (ZTF: the
    stamp's centre; Rubin: astropy's WCS on the stored bytes), the alert's own pixel left as it
    is; the scale bar's run of colour is a round number of arcsec (ZTF 10″ of 1.01″ pixels,
    Rubin 1″ of 0.2″); each goes with its trait."""
    scale = 3
    if survey == "ztf":
        viewer = CutoutViewer(DEMO_OBJECT_ID, client=client)
        x, y = 31.5, 31.5
        bar_pixels = 10 / 1.01 * scale
    else:
        viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
        record = rubin_record(rubin_records, viewer.alert)
        source = record["diaSource"]
        x, y = astropy_alert_pixel(record["cutoutScience"], source["ra"], source["dec"])
        bar_pixels = 1 / 0.2 * scale
    science = static_stamps(viewer, scale)[0]
    column, row = int(x * scale), int(y * scale)
    reticle = is_colour(science, RETICLE)
    assert reticle[row, column + 5 : column + 14].any()
    assert reticle[row, column - 14 : column - 4].any()
    assert reticle[row + 5 : row + 14, column].any()
    assert reticle[row - 14 : row - 4, column].any()
    assert not reticle[row - 2 : row + 3, column - 2 : column + 3].any(), "the alert stays visible"
    assert reticle.sum() < 0.02 * reticle.size
    bar = is_colour(science, SCALE_BAR)
    longest = max(bar[r].sum() for r in range(bar.shape[0] - 12, bar.shape[0]))
    assert longest == pytest.approx(bar_pixels, abs=2.5)
    viewer.reticle = False
    assert not is_colour(static_stamps(viewer, scale)[0], RETICLE).any()
    viewer.scale_bar = False
    assert not is_colour(static_stamps(viewer, scale)[0], SCALE_BAR).any()


def test_save_draws_the_rubin_stretches_reticle_and_scale_bar(rubin_client, tmp_path):
    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    viewer.save(tmp_path / "stamps.svg")
    svg = (tmp_path / "stamps.svg").read_text()
    assert "asinh (Difference linear)" in svg
    assert svg.lower().count("#00ff00") >= 3 * 4, "four reticle ticks on each stamp"
    assert svg.lower().count("#ffff00") >= 3, "a scale bar on each stamp"
    viewer.reticle = viewer.scale_bar = False
    viewer.save(tmp_path / "plain.svg")
    plain = (tmp_path / "plain.svg").read_text()
    assert "#00ff00" not in plain.lower()
    assert "#ffff00" not in plain.lower()


def test_a_viewer_needs_one_object():
    with pytest.raises(ValueError, match="object_id or ss_object_id"):
        CutoutViewer()
    with pytest.raises(ValueError, match="object_id or ss_object_id"):
        CutoutViewer(DEMO_OBJECT_ID, ss_object_id=21163624394469969)


@pytest.mark.parametrize("as_text", [False, True])
def test_a_solar_system_object_is_shown_with_its_designation(rubin_client, rubin_records, as_text):
    """The real solar-system alerts (diaObject null, ssSource set): the viewer of an ssObjectId
    lists its alerts, heads them with its designation, and shows the stamps fastavro reads."""
    ss_object_id = 21163624394469969
    mine = [r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") == ss_object_id]
    assert mine, "the real files hold this solar-system alert"
    viewer = CutoutViewer(
        ss_object_id=str(ss_object_id) if as_text else ss_object_id, client=rubin_client
    )
    assert viewer.message.value == ""
    assert viewer.object_id is None
    assert [a["alertId"] for a in viewer.alerts] == [r["diaSourceId"] for r in mine]
    designation = mine[-1]["ssSource"]["designation"]
    assert designation == "2004 JQ12"
    assert viewer.title.value.startswith(
        f"<b>Solar-system object {designation}</b> · ssObjectId {ss_object_id} · "
        f"alert {mine[-1]['diaSourceId']}"
    )
    assert (viewer.stretch, viewer.difference_stretch) == ("asinh", "linear")
    for kind in KINDS:
        assert viewer.stamps[kind].fits_bytes == mine[-1][f"cutout{kind}"]
    assert "Fink portal" not in viewer.links.value
    assert "SIMBAD" in viewer.links.value
    name, data = link_bytes(viewer.downloads.value, "Science")
    assert name == f"ssObjectId_{ss_object_id}_{mine[-1]['diaSourceId']}_Science.fits"
    assert data == mine[-1]["cutoutScience"]


def test_an_unknown_solar_system_object_shows_inside_the_widget(rubin_client):
    viewer = CutoutViewer(ss_object_id=1, client=rubin_client)
    assert "ssObjectId" in viewer.message.value
    assert viewer.alerts == []


# astropy's image-display API on the cutout viewer


def curve_of(stretch) -> np.ndarray:
    """4096 samples of an astropy stretch on [0, 1], as the browser's renderings take them."""
    return np.clip(stretch(np.linspace(0.0, 1.0, 4096), clip=True), 0, 1).astype("<f4")


def zscale_reach(pixels) -> float:
    from astropy.visualization import ZScaleInterval

    return float(np.abs(ZScaleInterval().get_limits(pixels[np.isfinite(pixels)])).max())


def test_set_stretch_on_difference_changes_only_its_rendering(viewer, client):
    from astropy.visualization import LinearStretch, LogStretch

    assert viewer.image_labels == KINDS
    assert viewer.panels.renderings == {}, "the traits draw every panel"
    viewer.set_stretch(LogStretch(), image_label="Difference")
    assert list(viewer.panels.renderings) == ["Difference"]
    sent = viewer.panels.renderings["Difference"]
    np.testing.assert_array_equal(np.frombuffer(sent["curve"], "<f4"), curve_of(LogStretch()))
    pixels = stored_pixels(client, viewer.alert, "Difference").astype(float)
    reach = zscale_reach(pixels)  # ZTF's Difference: zscale, symmetric about zero
    assert sent["cuts"] == pytest.approx([-reach, reach])
    assert sent["colormap"] == viewer.difference_colormap
    assert isinstance(viewer.get_stretch(image_label="Difference"), LogStretch)
    assert isinstance(viewer.get_stretch(image_label="Science"), LinearStretch)
    assert viewer.stretch == viewer.difference_stretch == "linear", "the traits stay"


def test_the_static_image_draws_the_stretch_the_api_set(viewer, client):
    """The Difference as astropy draws it: (value - low) / (high - low) clipped, LogStretch,
    the colormap's 256 levels; Science as before (linear zscale)."""
    import matplotlib
    from astropy.visualization import LogStretch, ZScaleInterval

    viewer.reticle = viewer.scale_bar = False
    viewer.set_stretch(LogStretch(), image_label="Difference")
    image = np.asarray(Image.open(io.BytesIO(viewer.static_png(1))).convert("RGB")).astype(int)
    table = matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256), bytes=True)[:, :3]
    pixels = stored_pixels(client, viewer.alert, "Difference").astype(float)
    reach = zscale_reach(pixels)
    level = LogStretch()(np.clip((pixels + reach) / (2 * reach), 0, 1))
    expected = table[np.floor(level * 255 + 0.5).astype(int)]
    assert np.abs(image[:63, -63:] - expected).max() <= 2
    science = stored_pixels(client, viewer.alert, "Science").astype(float)
    low, high = ZScaleInterval().get_limits(science)
    grey = np.floor(np.clip((science - low) / (high - low), 0, 1) * 255 + 0.5)
    assert np.abs(image[:63, :63, 0] - grey).max() <= 2


def test_changing_a_trait_after_the_api_drops_its_override(viewer):
    from astropy.visualization import AsinhStretch, LogStretch, SqrtStretch

    viewer.set_stretch(LogStretch(), image_label="Difference")
    viewer.set_stretch(AsinhStretch(), image_label="Science")
    assert set(viewer.panels.renderings) == {"Difference", "Science"}
    viewer.panels.difference_stretch = "sqrt"  # the browser's menu
    assert viewer.difference_stretch == "sqrt"
    assert set(viewer.panels.renderings) == {"Science"}
    assert isinstance(viewer.get_stretch(image_label="Difference"), SqrtStretch)
    assert isinstance(viewer.get_stretch(image_label="Science"), AsinhStretch)
    viewer.stretch = "log"  # the kernel's trait: Science's override goes too
    assert viewer.panels.renderings == {}
    stretch = viewer.get_stretch(image_label="Template")
    assert isinstance(stretch, LogStretch)
    np.testing.assert_array_equal(curve_of(stretch), curve_of(LogStretch(a=1000)))


def test_cuts_and_colormaps_are_per_label_until_the_traits_change(viewer, client):
    from astropy.visualization import (
        AsymmetricPercentileInterval,
        ManualInterval,
        MinMaxInterval,
        ZScaleInterval,
    )

    assert isinstance(viewer.get_cuts(image_label="Science"), ZScaleInterval)
    viewer.set_cuts((10, 500), image_label="Science")
    viewer.set_colormap("viridis", image_label="Template")
    assert viewer.panels.renderings["Science"]["cuts"] == [10.0, 500.0]
    assert viewer.panels.renderings["Template"]["colormap"] == "viridis"
    assert "viridis" in viewer.panels.colormaps, "its table is sent"
    assert viewer.get_colormap(image_label="Science") == viewer.colormap == "gray"
    assert viewer.get_colormap(image_label="Template") == "viridis"
    cuts = viewer.get_cuts(image_label="Science")
    assert isinstance(cuts, ManualInterval)
    assert (cuts.vmin, cuts.vmax) == (10, 500)
    viewer.interval, viewer.pmin, viewer.pmax = "percentile", 1.0, 99.0
    assert set(viewer.panels.renderings) == {"Template"}, "Science's cuts follow the traits"
    cuts = viewer.get_cuts(image_label="Science")
    assert isinstance(cuts, AsymmetricPercentileInterval)
    assert (cuts.lower_percentile, cuts.upper_percentile) == (1.0, 99.0)
    pixels = stored_pixels(client, viewer.alert, "Template").astype(float)
    expected = AsymmetricPercentileInterval(1.0, 99.0).get_limits(pixels)
    assert viewer.panels.renderings["Template"]["cuts"] == pytest.approx(list(expected))
    viewer.interval = "minmax"
    assert isinstance(viewer.get_cuts(image_label="Difference"), MinMaxInterval)
    viewer.cuts = {"Science": (0, 100)}
    cuts = viewer.get_cuts(image_label="Science")
    assert isinstance(cuts, ManualInterval)
    assert (cuts.vmin, cuts.vmax) == (0, 100)
    viewer.colormap = "magma"
    assert viewer.panels.renderings == {}
    assert viewer.get_colormap(image_label="Template") == "magma"


def test_the_ztf_viewport_is_in_pixels_and_follows_the_browser(viewer):
    assert viewer.get_viewport(image_label="Science") == {
        "center": (31.0, 31.0),
        "fov": 63.0,
        "image_label": "Science",
    }
    viewer.panels.zoom, viewer.panels.center = 3.0, [10.5, 20.5]  # the browser's pan and zoom
    for kind in KINDS:
        got = viewer.get_viewport(image_label=kind)
        assert got["center"] == pytest.approx((10.0, 20.0))
        assert got["fov"] == pytest.approx(21.0)
    viewer.set_viewport(center=(40.0, 30.0), fov=31.5, image_label="Template")
    assert (viewer.zoom, viewer.center) == (2.0, [40.5, 30.5])
    assert viewer.get_viewport(image_label="Difference")["center"] == (40.0, 30.0)
    with pytest.raises(ValueError, match="WCS is not set"):
        viewer.get_viewport("sky", image_label="Science")


def test_the_rubin_viewport_is_on_the_sky_through_each_stamps_wcs(rubin_client, rubin_records):
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    record = rubin_record(rubin_records, viewer.alert)
    with fits.open(io.BytesIO(record["cutoutScience"])) as hdul:
        hdu = next(h for h in hdul if h.data is not None)
        header, (height, width) = hdu.header.copy(), hdu.data.shape
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    wcs = WCS(header).celestial
    got = viewer.get_viewport(image_label="Science")
    assert isinstance(got["center"], SkyCoord)
    expected = wcs.pixel_to_world((width - 1) / 2, (height - 1) / 2)
    assert got["center"].separation(expected) < 1e-6 * u.arcsec
    scale = proj_plane_pixel_scales(wcs)[1 - int(width > height)] * u.deg
    assert got["fov"].to_value(u.arcsec) == pytest.approx(
        (max(height, width) * scale).to_value(u.arcsec)
    )
    viewer.panels.zoom, viewer.panels.center = 2.0, [10.5, 12.5]
    moved = viewer.get_viewport(image_label="Science")
    assert moved["center"].separation(wcs.pixel_to_world(10, 12)) < 1e-6 * u.arcsec
    assert viewer.get_viewport("pixel", image_label="Science")["center"] == pytest.approx((10, 12))


def test_a_catalog_loaded_on_the_viewer_is_sent_as_markers(viewer):
    from astropy.table import Table

    table = Table({"x": [3.0, 40.5], "y": [7.0, 12.0]})
    viewer.load_catalog(
        table, catalog_label="mine", catalog_style={"shape": "square", "color": "yellow", "size": 4}
    )
    entry = next(e for e in viewer.panels.markers if e["catalog"] == "mine")
    assert np.frombuffer(entry["x"], "<f8").tolist() == [3.0, 40.5]
    assert np.frombuffer(entry["y"], "<f8").tolist() == [7.0, 12.0]
    assert (entry["shape"], entry["color"], entry["size"], entry["panels"]) == (
        "square",
        "#ffff00ff",  # yellow, as the browser's CSS takes it
        4.0,
        None,
    )
    assert set(viewer.catalog_labels) == {"alert", "mine"}


def test_the_ztf_alert_catalog_marks_the_alert_at_the_stamps_centre(viewer, client):
    latest = client.alerts(DEMO_OBJECT_ID)[-1]
    catalog = viewer.get_catalog(catalog_label="alert")
    assert list(catalog["kind"]) == ["alert"], "the demo lake stores no reference source"
    assert (catalog["coord"][0].ra.deg, catalog["coord"][0].dec.deg) == (
        latest["ra"],
        latest["dec"],
    )
    entry = next(e for e in viewer.panels.markers if e["catalog"] == "alert")
    assert np.frombuffer(entry["x"], "<f8").tolist() == [31.0]
    assert np.frombuffer(entry["y"], "<f8").tolist() == [31.0]
    assert not entry["visible"], "hidden until the markers checkbox is ticked"
    assert entry["panels"] is None


def test_the_rubin_alert_catalog_is_drawn_through_each_stamps_wcs(rubin_client, rubin_records):
    from astropy.wcs import WCS

    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    record = rubin_record(rubin_records, viewer.alert)
    positions = [
        (record["diaSource"]["ra"], record["diaSource"]["dec"]),
        (record["diaObject"]["ra"], record["diaObject"]["dec"]),
        *((s["ra"], s["dec"]) for s in record["prvDiaSources"]),
    ]
    assert len(positions) > 100, "the object's earlier detections"
    entries = {e["panels"][0]: e for e in viewer.panels.markers if e["catalog"] == "alert"}
    assert set(entries) == set(KINDS)
    for kind in KINDS:
        with fits.open(io.BytesIO(record[f"cutout{kind}"])) as hdul:
            header = next(h for h in hdul if h.data is not None).header.copy()
        header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
        x, y = WCS(header).celestial.world_to_pixel_values(*np.array(positions).T)
        np.testing.assert_allclose(np.frombuffer(entries[kind]["x"], "<f8"), x, atol=1e-6)
        np.testing.assert_allclose(np.frombuffer(entries[kind]["y"], "<f8"), y, atol=1e-6)


def test_the_markers_checkbox_and_the_browsers_toggle_agree(viewer):
    def shown():
        return [e["visible"] for e in viewer.panels.markers if e["catalog"] == "alert"]

    assert shown() == [False]
    assert viewer.markers_toggle.value is False
    viewer.markers_toggle.value = True
    assert shown() == [True]
    viewer.previous()
    assert shown() == [True], "kept on another alert"
    viewer.panels.markers = [{**e, "visible": False} for e in viewer.panels.markers]  # browser
    assert viewer.markers_toggle.value is False
    assert shown() == [False]
    shown_from_the_start = CutoutViewer(DEMO_OBJECT_ID, client=viewer.client, markers=True)
    assert [e["visible"] for e in shown_from_the_start.panels.markers] == [True]


def test_navigation_keeps_each_labels_rendering_and_the_view(viewer, client):
    from astropy.visualization import LogStretch

    alerts = client.alerts(DEMO_OBJECT_ID)
    viewer.set_stretch(LogStretch(), image_label="Difference")
    viewer.set_viewport(center=(20.0, 25.0), fov=15.75, image_label="Science")
    viewer.previous()
    assert viewer.alert == alerts[-2]["alertId"]
    assert list(viewer.panels.renderings) == ["Difference"]
    sent = viewer.panels.renderings["Difference"]
    np.testing.assert_array_equal(np.frombuffer(sent["curve"], "<f4"), curve_of(LogStretch()))
    pixels = stored_pixels(client, viewer.alert, "Difference").astype(float)
    assert sent["cuts"] == pytest.approx([-zscale_reach(pixels), zscale_reach(pixels)])
    assert (viewer.zoom, viewer.center) == (4.0, [20.5, 25.5])
    for kind in KINDS:
        got = viewer.get_viewport(image_label=kind)
        assert (got["center"], got["fov"]) == ((20.0, 25.0), 15.75)
    catalog = viewer.get_catalog(catalog_label="alert")
    assert catalog["coord"][0].ra.deg == alerts[-2]["ra"], "the catalog of the alert shown"


def test_save_takes_the_interfaces_names_and_the_older_dpi(viewer, tmp_path):
    path = tmp_path / "stamps.png"
    viewer.save(path)
    with Image.open(path) as first:
        width = first.width
    with pytest.raises(FileExistsError, match="overwrite=True"):
        viewer.save(path)
    viewer.save(path, overwrite=True, dpi=300)
    with Image.open(path) as again:
        assert again.width == pytest.approx(2 * width, rel=0.05)
    viewer.save(str(path), 75)  # the older save(path, dpi): the file replaced
    with Image.open(path) as older:
        assert older.width == pytest.approx(width / 2, rel=0.05)
    assert [p.name for p in tmp_path.iterdir()] == ["stamps.png"], "no temporary left"


def test_save_names_a_stretch_the_api_set(viewer, tmp_path):
    from astropy.visualization import LogStretch

    viewer.set_stretch(LogStretch(), image_label="Difference")
    viewer.save(tmp_path / "stamps.svg")
    assert "linear (Difference LogStretch)" in (tmp_path / "stamps.svg").read_text()


@pytest.fixture(scope="module")
def real_ztf_client(tmp_path_factory):
    """The real ZTF files, copied with their index beside them, read in-process."""
    import shutil

    from support.real_data import SHARED_DATA

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    root = tmp_path_factory.mktemp("real-ztf") / "lake"
    shutil.copytree(SHARED_DATA / "ztf" / "lake", root)
    lake = Lake(root, science_dir="archive/science")
    build(AlertIndex(lake), lake.nights(), progress=False)
    return CutoutClient(lake=lake)


# A real object whose alerts are split across the two files; the middle one's Difference stamp
# is stored truncated (half its gzip bytes) in a copy of the lake.
SPLIT_OBJECT = "ZTF18abwvktq"
TRUNCATED = 1786150935715015004


@pytest.fixture(scope="module")
def truncated_difference_client(tmp_path_factory):
    """The real ZTF files copied, one alert's Difference stamp cut to half its stored bytes,
    indexed, read in-process."""
    from support.stamp_edits import edited_ztf_lake, truncated

    root = tmp_path_factory.mktemp("truncated-ztf") / "lake"
    return CutoutClient(lake=edited_ztf_lake(root, {TRUNCATED: {"Difference": truncated}}))


def test_save_draws_a_broken_stamp_as_an_empty_panel_with_its_reason(
    truncated_difference_client, tmp_path
):
    """The alert whose Difference is truncated, after set_stretch on Difference: the figure has
    Science and Template drawn, and a Difference panel titled as missing with the reason in it;
    the title names the stretch kept for Difference."""
    from astropy.visualization import LogStretch

    viewer = CutoutViewer(SPLIT_OBJECT, client=truncated_difference_client)
    viewer.set_stretch(LogStretch(), image_label="Difference")
    viewer.previous()
    assert viewer.alert == TRUNCATED
    assert list(viewer.broken) == ["Difference"]
    viewer.save(tmp_path / "stamps.svg")
    drawn = (tmp_path / "stamps.svg").read_text()
    assert drawn.count("<image ") == 2 * 2, "Science and Template, and their colorbars"
    for title in ("Science", "Template", "Difference (not shown)"):
        assert f"<!-- {title} -->" in drawn
    written = "".join(re.findall(r"<!-- (.*?) -->", drawn))  # matplotlib's text, line by line
    assert "".join(viewer.broken["Difference"].split()) in "".join(written.split())
    assert "not gzip" in viewer.broken["Difference"]
    assert "linear (Difference LogStretch)" in drawn
    viewer.save(tmp_path / "stamps.png")
    viewer.next()
    assert viewer.broken == {}
    viewer.save(tmp_path / "whole.png")
    with Image.open(tmp_path / "stamps.png") as image, Image.open(tmp_path / "whole.png") as whole:
        assert image.width == pytest.approx(whole.width, rel=0.05), "three panels, as a whole one"


def test_each_labels_rendering_is_kept_across_an_alert_lacking_one_stamp(
    truncated_difference_client,
):
    """set_stretch on Difference, set_colormap on Science, set_cuts on Template, then the alert
    whose Difference is truncated, then an alert with all three: every label's rendering is the
    API's again, the Difference curve astropy's LogStretch; meanwhile the missing label says
    why."""
    from astropy.visualization import LogStretch

    viewer = CutoutViewer(SPLIT_OBJECT, client=truncated_difference_client)
    viewer.set_stretch(LogStretch(), image_label="Difference")
    viewer.set_colormap("viridis", image_label="Science")
    viewer.set_cuts((100.0, 300.0), image_label="Template")
    viewer.previous()
    assert viewer.alert == TRUNCATED
    assert viewer.image_labels == ("Science", "Template")
    assert set(viewer.panels.renderings) == {"Science", "Template"}
    assert viewer.panels.renderings["Science"]["colormap"] == "viridis"
    assert viewer.panels.renderings["Template"]["cuts"] == [100.0, 300.0]
    with pytest.raises(ValueError, match=r"image_label: alert \d+ has no readable Difference"):
        viewer.get_stretch(image_label="Difference")
    viewer.previous()
    assert viewer.broken == {}
    assert set(viewer.panels.renderings) == set(KINDS)
    sent = viewer.panels.renderings["Difference"]
    np.testing.assert_array_equal(np.frombuffer(sent["curve"], "<f4"), curve_of(LogStretch()))
    assert isinstance(viewer.get_stretch(image_label="Difference"), LogStretch)
    assert viewer.get_colormap(image_label="Science") == "viridis"
    assert viewer.panels.renderings["Template"]["cuts"] == [100.0, 300.0]
    viewer.next()
    viewer.next()
    assert set(viewer.panels.renderings) == set(KINDS), "and back on the latest alert"


# The same object in another copy, its oldest alert's three stamps cut to their first 40
# columns (as a stamp at a CCD's edge is narrower than 63 pixels).
CROPPED, CROPPED_WIDTH = 1786109905715015005, 40


@pytest.fixture(scope="module")
def cropped_alert_client(tmp_path_factory):
    """The real ZTF files copied, the stamps of alert `CROPPED` stored 63 x 40 (their first 40
    columns), indexed, read in-process."""
    from support.stamp_edits import edited_ztf_lake, first_columns

    root = tmp_path_factory.mktemp("cropped-ztf") / "lake"
    crop = first_columns(CROPPED_WIDTH)
    return CutoutClient(lake=edited_ztf_lake(root, {CROPPED: dict.fromkeys(KINDS, crop)}))


def test_the_view_moves_into_an_alerts_narrower_stamps(cropped_alert_client):
    """Zoomed on the right of the 63 x 63 stamps, then the alert whose stamps are 63 x 40: the
    zoom stays and the centre moves to the nearest point of the new stamps (view x = 40, their
    right edge), the kernel's viewport of each label and the browser's centre the same point;
    at zoom 1 each alert's stamps are shown whole, centred."""
    viewer = CutoutViewer(SPLIT_OBJECT, client=cropped_alert_client)
    latest = viewer.alert
    assert viewer.stamps["Science"].data.shape == (63, 63)
    viewer.panels.zoom, viewer.panels.center = 4.0, [55.5, 10.5]  # the browser's zoom and pan
    viewer.show_alert(CROPPED)
    for kind in KINDS:
        stored = stored_bytes_shape(cropped_alert_client, CROPPED, kind)
        assert viewer.stamps[kind].data.shape == stored == (63, CROPPED_WIDTH)
    assert (viewer.panels.zoom, viewer.panels.center) == (4.0, [40.0, 10.5])
    for kind in KINDS:
        got = viewer.get_viewport(image_label=kind)
        assert got["center"] == pytest.approx((39.5, 10.0)), "pixel = view - 0.5, in the image"
        assert got["fov"] == pytest.approx(63 / 4)
    viewer.panels.zoom, viewer.panels.center = 1.0, [20.0, 31.5]  # the browser's reset
    viewer.show_alert(latest)
    assert (viewer.panels.zoom, viewer.panels.center) == (1.0, [31.5, 31.5]), "whole, centred"
    assert viewer.get_viewport(image_label="Science") == {
        "center": (31.0, 31.0),
        "fov": 63.0,
        "image_label": "Science",
    }
    viewer.show_alert(CROPPED)
    assert viewer.panels.center == [20.0, 31.5]
    got = viewer.get_viewport(image_label="Difference")
    assert got["center"] == pytest.approx((19.5, 31.0))


def stored_bytes_shape(client, candid, kind) -> tuple[int, int]:
    """A stamp's shape as astropy reads the FITS bytes the client returns."""
    with fits.open(
        io.BytesIO(client.fits_bytes(SPLIT_OBJECT, candid, kind)), ignore_missing_simple=True
    ) as hdul:
        return hdul[0].data.shape


def test_a_real_ztf_alerts_catalog_holds_its_nearest_reference_source(real_ztf_client):
    """The reference source's position is the latest alert's ``candidate.ranr/decnr`` (pyarrow
    on the stored file); without a WCS it is in the table, not drawn; the alert is drawn at the
    stamps' centre; the Pan-STARRS distances are columns."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from support.real_data import SHARED_DATA

    object_id = "ZTF18aaqfhlj"
    rows = []
    for file in sorted((SHARED_DATA / "ztf" / "lake").rglob("*.parquet")):
        table = pq.read_table(file, columns=["objectId", "candid", "candidate"])
        rows += table.filter(pc.equal(table["objectId"], object_id)).to_pylist()
    latest = max(rows, key=lambda row: row["candidate"]["jd"])["candidate"]
    viewer = CutoutViewer(object_id, client=real_ztf_client)
    assert viewer.message.value == ""
    catalog = viewer.get_catalog(catalog_label="alert")
    assert list(catalog["kind"]) == ["alert", "nearest reference source"]
    reference = catalog["coord"][1]
    assert (reference.ra.deg, reference.dec.deg) == (latest["ranr"], latest["decnr"])
    assert float(catalog["distpsnr1"][0]) == pytest.approx(latest["distpsnr1"])
    entry = next(e for e in viewer.panels.markers if e["catalog"] == "alert")
    x = np.frombuffer(entry["x"], "<f8")
    assert x[0] == (viewer.stamps["Science"].data.shape[1] - 1) / 2
    assert np.isnan(x[1]), "no WCS: the reference source is not placed"


def test_save_draws_the_markers_shown(rubin_client, tmp_path):
    """The alert's catalog in the figure once the checkbox shows it: one marker per source on
    each stamp, in the catalog's colour."""
    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    viewer.save(tmp_path / "hidden.svg")
    assert "#00e5ff" not in (tmp_path / "hidden.svg").read_text().lower()
    viewer.markers_toggle.value = True
    viewer.save(tmp_path / "shown.svg")
    drawn = (tmp_path / "shown.svg").read_text().lower()
    sources = len(viewer.get_catalog(catalog_label="alert"))
    assert sources > 100
    assert drawn.count("stroke: #00e5ff") == 3 * sources, "every source on each stamp"
    viewer.flip = True
    viewer.save(tmp_path / "flipped.svg")
    flipped = (tmp_path / "flipped.svg").read_text().lower()
    assert flipped.count("stroke: #00e5ff") == 3 * sources


def test_an_image_loaded_beside_the_stamps_is_the_apis_alone(viewer):
    """A fourth label: drawn with the API's defaults (zscale, linear, gray), not the traits,
    and kept when another alert is shown."""
    from astropy.visualization import LinearStretch, ZScaleInterval

    pixels = np.arange(100.0).reshape(10, 10)
    viewer.load_image(pixels, image_label="mine")
    assert viewer.image_labels == (*KINDS, "mine")
    assert [p.get("label", p["kind"]) for p in viewer.panels.stamps] == [*KINDS, "mine"]
    assert list(viewer.panels.renderings) == ["mine"]
    assert viewer.panels.renderings["mine"]["cuts"] == pytest.approx(
        list(ZScaleInterval().get_limits(pixels))
    )
    viewer.stretch = "log"
    assert isinstance(viewer.get_stretch(image_label="mine"), LinearStretch)
    viewer.previous()
    assert viewer.image_labels == (*KINDS, "mine")
    assert [p.get("label", p["kind"]) for p in viewer.panels.stamps] == [*KINDS, "mine"]
    np.testing.assert_array_equal(viewer.get_image(image_label="mine"), pixels)
