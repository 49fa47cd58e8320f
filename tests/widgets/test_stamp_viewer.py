"""StampViewer without a browser: what the API holds is what its StampPanels is sent (stamps,
renderings, markers, zoom and centre), the browser's pan and zoom come back as viewports, and
`save` writes what is shown, whole or not at all. Expected values from astropy, matplotlib and
Pillow, computed here."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from functools import partial

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.nddata import NDData
from astropy.table import Table
from astropy.visualization import (
    HistEqStretch,
    LinearStretch,
    LogStretch,
    ManualInterval,
    PercentileInterval,
    SinhStretch,
    SqrtStretch,
    ZScaleInterval,
)
from PIL import Image

from fink_cutout_jupyter.widgets.stamp_panels import CURVE_SAMPLES
from fink_cutout_jupyter.widgets.stamp_viewer import StampViewer
from tests.support import wcs as support_wcs

#: The test WCS at 0.72 arcsec per pixel, about a stamp's scale.
tan_wcs = partial(support_wcs.tan_wcs, scale=0.0002)


@pytest.fixture
def data() -> np.ndarray:
    pixels = np.random.default_rng(3).normal(100.0, 5.0, (40, 64))
    pixels[3, 4] = np.nan
    return pixels


def curve_of(stretch) -> np.ndarray:
    x = np.linspace(0.0, 1.0, CURVE_SAMPLES)
    return np.clip(stretch(x, clip=True), 0.0, 1.0).astype("<f4")


def test_a_viewer_needs_no_server_and_starts_empty():
    viewer = StampViewer()
    assert viewer.children == (viewer.panels,)
    assert viewer.panels.stamps == []
    assert viewer.image_labels == ()
    assert viewer.panels.renderings == {}
    assert viewer.panels.markers == []


def test_each_image_is_a_panel_with_its_float32_pixels_in_loading_order(data):
    viewer = StampViewer()
    viewer.load_image(data, image_label="b")
    viewer.load_image(NDData(data[:20, :30] * 2, wcs=tan_wcs(), unit="nJy"), image_label="a")
    viewer.load_image(data + 1, image_label="b")
    stamps = viewer.panels.stamps
    assert [stamp["label"] for stamp in stamps] == ["b", "a"]
    b, a = stamps
    np.testing.assert_array_equal(
        np.frombuffer(b["pixels"], dtype="<f4").reshape(40, 64), (data + 1).astype("<f4")
    )
    assert (a["width"], a["height"], a["unit"]) == (30, 20, "nJy")
    assert b["sky"] is None
    assert b["alert_position"] is None
    ra = np.frombuffer(a["sky"]["ra"], dtype="<f8").reshape(20, 30)
    expected = tan_wcs().pixel_to_world(7, 11)
    assert ra[11, 7] == pytest.approx(expected.ra.deg, abs=1e-9)


def test_renderings_are_astropys_cuts_and_stretch_on_the_finite_pixels(data):
    viewer = StampViewer()
    viewer.load_image(data, image_label="a")
    viewer.load_image(data * 3, image_label="b")
    finite = data[np.isfinite(data)]
    first = viewer.panels.renderings["a"]
    assert first["cuts"] == pytest.approx(ZScaleInterval().get_limits(finite))
    np.testing.assert_array_equal(np.frombuffer(first["curve"], "<f4"), curve_of(LinearStretch()))
    assert first["colormap"] == "gray"

    viewer.set_cuts(PercentileInterval(90), image_label="b")
    viewer.set_stretch(LogStretch(), image_label="b")
    viewer.set_colormap("cividis", image_label="b")
    second = viewer.panels.renderings["b"]
    assert second["cuts"] == pytest.approx(PercentileInterval(90).get_limits(3 * finite))
    np.testing.assert_allclose(
        np.frombuffer(second["curve"], "<f4"), curve_of(LogStretch()), rtol=0, atol=0
    )
    assert second["colormap"] == "cividis"
    assert "cividis" in viewer.panels.colormaps
    assert viewer.panels.renderings["a"] == first, "one image's change leaves the other alone"

    viewer.set_cuts((10, 20), image_label="a")
    assert viewer.panels.renderings["a"]["cuts"] == [10.0, 20.0]


def test_set_viewport_moves_every_image_and_the_browser_and_loading_shows_the_new_one(data):
    wcs = tan_wcs()
    viewer = StampViewer()
    viewer.load_image(data, image_label="plain")
    viewer.load_image(NDData(data, wcs=wcs), image_label="sky")

    viewer.set_viewport(center=(10.0, 12.0), fov=16, image_label="plain")

    sky = viewer.get_viewport(image_label="sky")
    assert sky["center"].separation(wcs.pixel_to_world(10.0, 12.0)) < 1e-6 * u.arcsec
    assert sky["fov"].to_value(u.deg) == pytest.approx(16 * 0.0002)
    assert viewer.panels.zoom == pytest.approx(64 / 16)
    assert viewer.panels.center == pytest.approx([10.5, 12.5])

    target = SkyCoord(150.0, 30.0, unit="deg")
    viewer.set_viewport(center=target, fov=8 * 0.72 * u.arcsec, image_label="sky")
    x, y = wcs.world_to_pixel(target)
    plain = viewer.get_viewport(image_label="plain")
    assert plain["center"] == pytest.approx((float(x), float(y)))
    assert plain["fov"] == pytest.approx(8)
    assert viewer.panels.center == pytest.approx([float(x) + 0.5, float(y) + 0.5])

    viewer.load_image(data[:10, :10], image_label="third")
    # the browser shows the third whole, at its centre; the others at that view (scaled by
    # width: 64 / 10), whole too
    assert viewer.get_viewport(image_label="plain") == {
        "center": pytest.approx((5 * 6.4 - 0.5, 5 * 6.4 - 0.5)),
        "fov": pytest.approx(64),
        "image_label": "plain",
    }
    assert viewer.get_viewport(image_label="third") == {
        "center": (4.5, 4.5),
        "fov": 10.0,
        "image_label": "third",
    }


def test_an_image_of_another_size_is_linked_as_the_browser_scales_it(data):
    """static/stamp_geometry.js draws an image of width w at the first image's view centre times
    w / w0, its larger side whole at zoom 1: the API's viewports say the same."""
    viewer = StampViewer()
    viewer.load_image(data, image_label="first")  # 40 x 64
    viewer.load_image(data[::2, ::2], image_label="half")  # 20 x 32
    viewer.set_viewport(center=(10.0, 12.0), fov=16, image_label="first")
    assert viewer.panels.zoom == pytest.approx(64 / 16)
    assert viewer.panels.center == pytest.approx([10.5, 12.5])
    half = viewer.get_viewport(image_label="half")
    assert half["center"] == pytest.approx((10.5 / 2 - 0.5, 12.5 / 2 - 0.5))
    assert half["fov"] == pytest.approx(32 / 4)

    viewer.set_viewport(center=(3.5, 4.5), fov=4, image_label="half")
    assert viewer.panels.center == pytest.approx([8.0, 10.0])
    assert viewer.panels.zoom == pytest.approx(32 / 4)
    assert viewer.get_viewport(image_label="first")["center"] == pytest.approx((7.5, 9.5))

    viewer.panels.zoom, viewer.panels.center = 2.0, [32.0, 20.0]  # the browser's reset-like view
    assert viewer.get_viewport(image_label="half")["center"] == pytest.approx((15.5, 9.5))
    assert viewer.get_viewport(image_label="half")["fov"] == pytest.approx(16)


def test_a_zoom_beyond_the_browsers_limits_is_kept_by_the_api_and_shown_clamped(data):
    viewer = StampViewer()
    viewer.load_image(data)
    viewer.set_viewport(fov=1)
    assert viewer.panels.zoom == viewer.panels.max_zoom
    assert viewer.get_viewport()["fov"] == 1
    viewer.set_viewport(fov=1000)
    assert viewer.panels.zoom == 1.0
    assert viewer.get_viewport()["fov"] == 1000


def test_the_browsers_pan_and_zoom_become_every_images_viewport(data):
    wcs = tan_wcs()
    viewer = StampViewer()
    viewer.load_image(data, image_label="plain")
    viewer.load_image(NDData(data, wcs=wcs), image_label="sky")
    # as the browser's messages set them (the kernel's own pushes are not read back)
    viewer.panels.zoom = 4.0
    viewer.panels.center = [20.5, 30.5]
    assert viewer.get_viewport(image_label="plain") == {
        "center": (20.0, 30.0),
        "fov": 16.0,
        "image_label": "plain",
    }
    sky = viewer.get_viewport(image_label="sky")
    assert isinstance(sky["center"], SkyCoord)
    assert sky["center"].separation(wcs.pixel_to_world(20.0, 30.0)) < 1e-6 * u.arcsec
    assert sky["fov"].to_value(u.deg) == pytest.approx(16 * 0.0002)


def test_catalogs_are_markers_at_their_pixel_positions_with_their_style(data):
    viewer = StampViewer()
    viewer.load_image(data)
    table = Table({"x": [1.0, 2.5, 60.0], "y": [3.0, 4.0, 39.0], "name": ["a", "b", "c"]})
    viewer.load_catalog(table, catalog_label="sources")
    viewer.set_catalog_style("sources", shape="diamond", color="orange", size=7)
    (entry,) = viewer.panels.markers
    assert entry["catalog"] == "sources"
    np.testing.assert_array_equal(np.frombuffer(entry["x"], "<f8"), table["x"])
    np.testing.assert_array_equal(np.frombuffer(entry["y"], "<f8"), table["y"])
    assert entry["panels"] is None
    assert (entry["shape"], entry["size"], entry["visible"]) == ("diamond", 7.0, True)
    assert entry["color"].startswith("#ffa500")

    # the browser's checkbox hides it; a new style keeps it hidden
    viewer.panels.markers = [{**entry, "visible": False}]
    viewer.set_catalog_style("sources", color="cyan")
    assert viewer.panels.markers[0]["visible"] is False
    viewer.set_catalog_style("sources", color=(0.0, 0.5, 1.0))  # any matplotlib colour
    assert viewer.panels.markers[0]["color"] == "#0080ffff"
    viewer.remove_catalog("sources")
    assert viewer.panels.markers == []


def test_a_sky_catalog_is_drawn_on_each_image_through_its_own_wcs(data):
    first, second = tan_wcs(), tan_wcs(crpix=(30.0, 15.0))
    coords = first.pixel_to_world([5.0, 12.0], [6.0, 20.0])
    viewer = StampViewer()
    viewer.load_catalog(Table({"coord": coords}), use_skycoord=True, catalog_label="sky")
    assert viewer.panels.markers == [], "no image: nowhere to draw it"
    viewer.load_image(NDData(data, wcs=first), image_label="one")
    viewer.load_image(NDData(data, wcs=second), image_label="two")
    viewer.load_image(data, image_label="no wcs")
    entries = {tuple(entry["panels"]): entry for entry in viewer.panels.markers}
    assert set(entries) == {("one",), ("two",)}
    for label, wcs in (("one", first), ("two", second)):
        x, y = wcs.world_to_pixel(coords)
        np.testing.assert_allclose(np.frombuffer(entries[(label,)]["x"], "<f8"), x, atol=1e-9)
        np.testing.assert_allclose(np.frombuffer(entries[(label,)]["y"], "<f8"), y, atol=1e-9)


def image_format(path) -> str:
    with Image.open(path) as opened:
        opened.load()
        return opened.format


def test_save_without_an_image_writes_a_png(tmp_path):
    path = tmp_path / "empty.png"
    StampViewer().save(path)
    assert image_format(path) == "PNG"


def main_colour(path) -> tuple[int, int, int]:
    """The commonest colour of a saved figure but the white around: the image's (each colour of
    the colorbar covers a sliver)."""
    with Image.open(path) as opened:
        pixels = np.asarray(opened.convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    counts[(colours == 255).all(axis=1)] = 0
    return tuple(int(v) for v in colours[np.argmax(counts)])


def test_save_draws_the_images_at_their_cuts_stretch_and_colormap(tmp_path):
    import matplotlib

    table = matplotlib.colormaps["viridis"](np.linspace(0, 1, 256), bytes=True)[:, :3]
    viewer = StampViewer()
    viewer.load_image(np.ones((20, 20)), image_label="flat")
    viewer.set_cuts((0, 2))
    viewer.set_colormap("viridis")
    linear = tmp_path / "linear.png"
    viewer.save(linear)
    level = 0.5  # 1 between the cuts 0 and 2
    assert main_colour(linear) == tuple(int(v) for v in table[int(np.floor(level * 255 + 0.5))])

    viewer.set_stretch(SqrtStretch())
    stretched = tmp_path / "sqrt.png"
    viewer.save(stretched)
    level = float(SqrtStretch()(np.array([0.5]))[0])
    assert main_colour(stretched) == tuple(int(v) for v in table[int(np.floor(level * 255 + 0.5))])


def test_save_formats_follow_the_extension(tmp_path, data):
    viewer = StampViewer()
    viewer.load_image(data)
    viewer.save(tmp_path / "view.pdf")
    assert (tmp_path / "view.pdf").read_bytes().startswith(b"%PDF")
    viewer.save(tmp_path / "view.svg")
    assert b"<svg" in (tmp_path / "view.svg").read_bytes()


def test_save_refuses_an_existing_file_unless_told_and_leaves_no_temporary(tmp_path, data):
    path = tmp_path / "view.png"
    path.write_bytes(b"someone else's")
    viewer = StampViewer()
    viewer.load_image(data)
    with pytest.raises(FileExistsError):
        viewer.save(path)
    assert path.read_bytes() == b"someone else's"
    viewer.save(path, overwrite=True)
    assert image_format(path) == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.png"]


class Paused(StampViewer):
    """Stops while its figure is drawn (the file being written) until told to go on."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.drawing, self.go_on = threading.Event(), threading.Event()

    def _figure(self):
        self.drawing.set()
        assert self.go_on.wait(30)
        return super()._figure()


def test_a_file_appearing_while_saving_is_not_overwritten(tmp_path, data):
    path = tmp_path / "view.png"
    viewer = Paused()
    viewer.load_image(data)
    errors: list[BaseException] = []

    def save() -> None:
        try:
            viewer.save(path)
        except BaseException as error:
            errors.append(error)

    saving = threading.Thread(target=save)
    saving.start()
    assert viewer.drawing.wait(30)
    path.write_bytes(b"written meanwhile")  # past the existence check, before publishing
    viewer.go_on.set()
    saving.join(30)
    assert len(errors) == 1
    assert isinstance(errors[0], FileExistsError)
    assert path.read_bytes() == b"written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.png"]


KILLED_WHILE_SAVING = """
import os, signal, sys
import numpy as np
from fink_cutout_jupyter.widgets.stamp_viewer import StampViewer

class Killed(StampViewer):
    def _figure(self):
        figure = super()._figure()
        original = figure.savefig
        def savefig(stream, **kwargs):
            stream.write(b"half a png")
            stream.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        figure.savefig = savefig
        return figure

viewer = Killed()
viewer.load_image(np.ones((5, 5)))
viewer.save(sys.argv[1], overwrite=True)
"""


def test_a_kernel_killed_while_saving_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "view.png"
    viewer = StampViewer()
    viewer.load_image(np.arange(25.0).reshape(5, 5))
    viewer.save(path)
    before = path.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_SAVING, str(path)],
        capture_output=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == -9, done.stderr.decode()
    assert path.read_bytes() == before
    assert image_format(io.BytesIO(path.read_bytes())) == "PNG"


def test_manual_cuts_outside_the_data_are_sent_as_given(data):
    viewer = StampViewer()
    viewer.load_image(data)
    viewer.set_cuts(ManualInterval(-5, 500))
    assert viewer.panels.renderings["image"]["cuts"] == [-5.0, 500.0]


def masked_cases(data):
    """The same image as a numpy masked array, an NDData and a CCDData, its masked pixels
    outliers (1e6) that would dominate the cuts if they counted."""
    from astropy.nddata import CCDData

    values = np.nan_to_num(data, nan=100.0)
    mask = np.zeros(values.shape, dtype=bool)
    mask[10:14, 20:30] = True
    mask[0, :] = True
    values[mask] = 1e6
    return (
        values,
        mask,
        {
            "masked array": np.ma.MaskedArray(values, mask),
            "nddata": NDData(values, mask=mask),
            "ccddata": CCDData(values, mask=mask, unit="adu"),
        },
    )


@pytest.mark.parametrize("case", ["masked array", "nddata", "ccddata"])
def test_masked_pixels_are_sent_as_nan_and_left_out_of_the_cuts(data, case):
    values, mask, cases = masked_cases(data)
    viewer = StampViewer()
    viewer.load_image(cases[case], image_label="masked")
    (stamp,) = viewer.panels.stamps
    sent = np.frombuffer(stamp["pixels"], dtype="<f4").reshape(values.shape)
    assert np.isnan(sent[mask]).all()
    np.testing.assert_array_equal(sent[~mask], values[~mask].astype("<f4"))
    unmasked = values[~mask]  # astropy's intervals on the unmasked values only
    assert viewer.panels.renderings["masked"]["cuts"] == pytest.approx(
        ZScaleInterval().get_limits(unmasked)
    )
    assert stamp["zscale"] == pytest.approx(ZScaleInterval().get_limits(unmasked.astype("<f4")))
    viewer.set_cuts(PercentileInterval(95))
    assert viewer.panels.renderings["masked"]["cuts"] == pytest.approx(
        PercentileInterval(95).get_limits(unmasked)
    )
    assert viewer.get_image() is cases[case], "get_image gives the data as given, mask and all"


def viewer_state(viewer: StampViewer) -> str:
    """Everything a call could change, as text: each image's viewport (pixel and, with a WCS,
    sky), cuts on its pixels, stretch, colormap; each catalog and its style; the traits the
    browser is sent."""
    state: list[object] = []
    for label in viewer.image_labels:
        image = viewer.get_image(label)
        pixels = np.asarray(getattr(image, "data", image), dtype=float)
        state.append(viewer.get_viewport("pixel", image_label=label))
        if getattr(image, "wcs", None) is not None:
            state.append(viewer.get_viewport("sky", image_label=label))
        state.append(viewer.get_cuts(label).get_limits(pixels[np.isfinite(pixels)]))
        state += [type(viewer.get_stretch(label)), viewer.get_colormap(label)]
    for label in viewer.catalog_labels:
        table = viewer.get_catalog(catalog_label=label)
        state += [list(table.colnames), [list(map(str, row)) for row in table]]
        state.append(viewer.get_catalog_style(label))
    panels = viewer.panels
    state += [panels.stamps, panels.renderings, panels.markers, panels.zoom, panels.center]
    return repr(state)


@pytest.fixture
def busy_viewer(data) -> StampViewer:
    """Two images (one with a WCS), a zoomed view, a pixel catalog and a sky catalog."""
    wcs = tan_wcs()
    viewer = StampViewer()
    viewer.load_image(NDData(data, wcs=wcs), image_label="sky")
    viewer.load_image(data * 2, image_label="plain")
    viewer.set_cuts((90, 110), image_label="plain")
    viewer.set_viewport(center=(20.0, 15.0), fov=16, image_label="plain")
    viewer.load_catalog(Table({"x": [1.0, 5.0], "y": [2.0, 6.0]}), catalog_label="pixels")
    coords = wcs.pixel_to_world([3.0, 8.0], [4.0, 9.0])
    viewer.load_catalog(Table({"coord": coords}), use_skycoord=True, catalog_label="sky")
    return viewer


NAN = float("nan")


def flat_histogram_stretch() -> HistEqStretch:
    """astropy's histogram equalisation of a flat image: NaN everywhere."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return HistEqStretch(np.ones(5))


BAD_CALLS = {
    "centre NaN": (
        lambda v: v.set_viewport(center=(NAN, 1.0), image_label="plain"),
        ValueError,
        r"center: \(nan, 1\.0\) is not a finite pixel position",
    ),
    "centre infinite": (
        lambda v: v.set_viewport(center=(1.0, float("inf")), image_label="plain"),
        ValueError,
        "center: .* is not a finite pixel position",
    ),
    "centre of strings": (
        lambda v: v.set_viewport(center=("a", "b"), image_label="plain"),
        TypeError,
        "Invalid value for center",
    ),
    "centre of three": (
        lambda v: v.set_viewport(center=(1, 2, 3), image_label="plain"),
        TypeError,
        "Invalid value for center",
    ),
    "centre of booleans": (
        lambda v: v.set_viewport(center=(True, False), image_label="plain"),
        TypeError,
        "Invalid value for center",
    ),
    "sky centre without WCS": (
        lambda v: v.set_viewport(center=SkyCoord(150, 30, unit="deg"), image_label="plain"),
        TypeError,
        "Center must be a tuple",
    ),
    "sky centre off the projection": (
        lambda v: v.set_viewport(center=SkyCoord(330, -30, unit="deg"), image_label="sky"),
        ValueError,
        "center: .* has no pixel position through this image's WCS",
    ),
    "several sky centres": (
        lambda v: v.set_viewport(
            center=SkyCoord([150, 150], [30, 30], unit="deg"), image_label="sky"
        ),
        TypeError,
        "Invalid value for center.*one position",
    ),
    "fov NaN": (
        lambda v: v.set_viewport(fov=NAN, image_label="plain"),
        ValueError,
        "fov: nan is not a positive finite field of view",
    ),
    "fov negative": (
        lambda v: v.set_viewport(fov=-3, image_label="plain"),
        ValueError,
        "fov: -3 is not a positive finite field of view",
    ),
    "fov zero": (
        lambda v: v.set_viewport(fov=0, image_label="plain"),
        ValueError,
        "fov: 0 is not a positive",
    ),
    "fov infinite": (
        lambda v: v.set_viewport(fov=float("inf"), image_label="plain"),
        ValueError,
        "fov: inf is not a positive",
    ),
    "fov negative angle": (
        lambda v: v.set_viewport(fov=-1 * u.arcsec, image_label="sky"),
        ValueError,
        "fov: -1.0 arcsec is not a positive",
    ),
    "fov of several angles": (
        lambda v: v.set_viewport(fov=[1, 2] * u.arcsec, image_label="sky"),
        TypeError,
        "Invalid value for fov.*one angle",
    ),
    "fov angle without WCS": (
        lambda v: v.set_viewport(fov=1 * u.arcsec, image_label="plain"),
        TypeError,
        "FOV must be a float",
    ),
    "fov boolean": (
        lambda v: v.set_viewport(fov=True, image_label="plain"),
        TypeError,
        "Invalid value for fov",
    ),
    "cuts NaN": (
        lambda v: v.set_cuts((NAN, 1), image_label="plain"),
        ValueError,
        r"cuts: \[nan, 1\.0\] are not finite cuts with low < high",
    ),
    "cuts reversed": (
        lambda v: v.set_cuts((2, 1), image_label="plain"),
        ValueError,
        r"cuts: \[2\.0, 1\.0\] are not finite cuts with low < high",
    ),
    "cuts equal": (
        lambda v: v.set_cuts((1, 1), image_label="plain"),
        ValueError,
        "cuts: .* not finite cuts with low < high",
    ),
    "cuts of strings": (
        lambda v: v.set_cuts(("a", 1), image_label="plain"),
        TypeError,
        "cuts: .*must be numbers",
    ),
    "manual interval reversed": (
        lambda v: v.set_cuts(ManualInterval(5, 1), image_label="plain"),
        ValueError,
        "cuts: .* not finite cuts with low < high",
    ),
    "manual low above the data": (
        lambda v: v.set_cuts(ManualInterval(vmin=1e9), image_label="plain"),
        ValueError,
        "cuts: .* not finite cuts with low < high",
    ),
    "image without pixels": (
        lambda v: v.load_image(np.zeros((0, 5)), image_label="plain"),
        ValueError,
        "data: an image needs pixels",
    ),
    "image of planes": (
        lambda v: v.load_image(np.zeros((2, 5, 5)), image_label="new"),
        ValueError,
        "data: an image must be 2-D",
    ),
    "stretch not finite": (
        lambda v: v.set_stretch(SinhStretch(a=1e-12), image_label="plain"),
        ValueError,
        "stretch: .* gives values that are not finite on",
    ),
    "stretch of a flat histogram": (
        lambda v: v.set_stretch(flat_histogram_stretch(), image_label="plain"),
        ValueError,
        "stretch: .* not finite",
    ),
    "catalog not a table": (
        lambda v: v.load_catalog({"x": [1.0], "y": [2.0]}, catalog_label="pixels"),
        TypeError,
        "table: an astropy Table, not dict",
    ),
    "catalog without positions": (
        lambda v: v.load_catalog(Table({"a": [1.0]}), catalog_label="pixels"),
        ValueError,
        "Cannot use pixel coordinates without pixel columns",
    ),
    "catalog of text positions": (
        lambda v: v.load_catalog(Table({"x": ["a"], "y": ["b"]}), catalog_label="pixels"),
        ValueError,
        "x_colname: column 'x' holds .*'a'.*, not pixel positions",
    ),
    "catalog sky column of numbers": (
        lambda v: v.load_catalog(
            Table({"coord": [1.0], "x": [1.0], "y": [1.0]}), catalog_label="pixels"
        ),
        TypeError,
        "skycoord_colname: column 'coord' is a Column, not a SkyCoord",
    ),
    "catalog style not a dict": (
        lambda v: v.load_catalog(Table({"x": [1.0], "y": [2.0]}), catalog_style="red"),
        TypeError,
        "catalog_style: a dict of shape, color and size, not 'red'",
    ),
    "catalog style shape": (
        lambda v: v.load_catalog(
            Table({"x": [1.0], "y": [2.0]}), catalog_label="pixels", catalog_style={"shape": "star"}
        ),
        ValueError,
        "shape: 'star' is not a marker shape",
    ),
    "style shape": (
        lambda v: v.set_catalog_style("sky", shape="star"),
        ValueError,
        "shape: 'star'",
    ),
    "style size": (
        lambda v: v.set_catalog_style("sky", size=NAN),
        ValueError,
        "size: nan is not a half-width",
    ),
    "style colour": (
        lambda v: v.set_catalog_style("sky", color="nope"),
        ValueError,
        "color: 'nope' is not a CSS colour",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_a_bad_value_is_refused_naming_it_and_changes_nothing(busy_viewer, tmp_path, case):
    call, error, message = BAD_CALLS[case]
    before = viewer_state(busy_viewer)
    with pytest.raises(error, match=message):
        call(busy_viewer)
    assert viewer_state(busy_viewer) == before
    # and the viewer goes on working
    busy_viewer.set_stretch(LogStretch(), image_label="plain")
    busy_viewer.set_viewport(center=(10.0, 11.0), fov=8, image_label="plain")
    assert busy_viewer.get_viewport(image_label="plain")["center"] == (10.0, 11.0)
    busy_viewer.save(tmp_path / "after.png")
    assert image_format(tmp_path / "after.png") == "PNG"


def markers_by_panel(viewer: StampViewer, catalog: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each panel's marker positions of `catalog`, as the browser draws them (an entry's
    ``panels``: None is every panel)."""
    shown = {}
    for entry in viewer.panels.markers:
        if entry["catalog"] != catalog:
            continue
        x, y = np.frombuffer(entry["x"], "<f8"), np.frombuffer(entry["y"], "<f8")
        for label in viewer.image_labels if entry["panels"] is None else entry["panels"]:
            assert label not in shown, f"{label} gets {catalog} twice"
            shown[label] = (x, y)
    return shown


def test_a_sky_catalog_converted_through_the_first_wcs_is_drawn_through_each_panels_own(data):
    """A catalog of sky positions loaded beside one image gets its pixel columns from that
    image's WCS (get_catalog keeps them, as the interface's suite asks); the markers of an
    image loaded later, of another WCS, go through that image's WCS, and an image without a
    WCS shows none of them."""
    first, second = tan_wcs(), tan_wcs(crval=(150.01, 30.02), crpix=(35.0, 12.0))
    coords = first.pixel_to_world([5.0, 12.0, 40.0], [6.0, 20.0, 33.0])
    viewer = StampViewer()
    viewer.load_image(NDData(data, wcs=first), image_label="one")
    viewer.load_catalog(Table({"coord": coords, "name": ["a", "b", "c"]}), catalog_label="sky")
    viewer.load_image(NDData(data, wcs=second), image_label="two")
    viewer.load_image(data, image_label="no wcs")

    kept = viewer.get_catalog(catalog_label="sky")
    np.testing.assert_allclose(kept["x"], [5.0, 12.0, 40.0], atol=1e-6)
    shown = markers_by_panel(viewer, "sky")
    assert set(shown) == {"one", "two"}
    for label, wcs in (("one", first), ("two", second)):
        x, y = wcs.world_to_pixel(coords)
        np.testing.assert_allclose(shown[label][0], x, atol=1e-9)
        np.testing.assert_allclose(shown[label][1], y, atol=1e-9)
    assert not np.allclose(shown["one"][0], shown["two"][0]), "the two WCSs differ"


def test_a_catalog_placed_by_the_sky_keeps_its_given_pixels_on_panels_without_wcs(data):
    first, second = tan_wcs(), tan_wcs(crpix=(30.0, 15.0))
    pixels = ([1.0, 2.0], [3.0, 4.0])
    coords = first.pixel_to_world([10.0, 20.0], [11.0, 21.0])
    viewer = StampViewer()
    for label, wcs in (("one", first), ("two", second), ("no wcs", None)):
        viewer.load_image(NDData(data, wcs=wcs), image_label=label)
    table = Table({"x": pixels[0], "y": pixels[1], "coord": coords})
    viewer.load_catalog(table, use_skycoord=True, catalog_label="by sky")
    viewer.load_catalog(table, use_skycoord=False, catalog_label="by pixels")

    by_sky = markers_by_panel(viewer, "by sky")
    assert set(by_sky) == {"one", "two", "no wcs"}
    for label, wcs in (("one", first), ("two", second)):
        np.testing.assert_allclose(by_sky[label], wcs.world_to_pixel(coords), atol=1e-9)
    np.testing.assert_array_equal(by_sky["no wcs"], pixels)
    by_pixels = markers_by_panel(viewer, "by pixels")
    for label in viewer.image_labels:
        np.testing.assert_array_equal(by_pixels[label], pixels)


def browser_viewport(viewer: StampViewer, label: str) -> tuple[tuple[float, float], float]:
    """What static/stamp_geometry.js shows of image `label` (its viewTransform): the view centre
    (the first image's pixel edges) times the image's width over the first's, minus half a
    pixel for astropy's pixel centres; its larger side over the zoom."""
    first = viewer.get_image(viewer.image_labels[0])
    width = np.shape(getattr(first, "data", first))[1]
    image = viewer.get_image(label)
    own_height, own_width = np.shape(getattr(image, "data", image))
    ratio = own_width / width
    view_x, view_y = viewer.panels.center
    fov = max(own_height, own_width) / viewer.panels.zoom
    return (view_x * ratio - 0.5, view_y * ratio - 0.5), fov


def assert_shown_as_the_api_says(viewer: StampViewer) -> None:
    for label in viewer.image_labels:
        (x, y), fov = browser_viewport(viewer, label)
        kept = viewer.get_viewport("pixel", image_label=label)
        assert kept["center"] == pytest.approx((x, y), abs=1e-9), label
        assert kept["fov"] == pytest.approx(fov, rel=1e-12), label


def test_a_non_square_image_round_trips_its_viewport_exactly_beside_another_shape(data):
    wide = np.random.default_rng(5).normal(size=(40, 70))
    viewer = StampViewer()
    viewer.load_image(wide, image_label="wide")  # 40 x 70
    viewer.set_viewport(center=(10.25, 12.75), fov=16.5)
    assert viewer.get_viewport() == {"center": (10.25, 12.75), "fov": 16.5, "image_label": "wide"}
    assert viewer.panels.zoom == 70 / 16.5
    assert viewer.panels.center == [10.75, 13.25]

    viewer.load_image(wide.T, image_label="tall")  # 70 x 40
    for label, center, fov in (("tall", (20.0, 50.5), 10.0), ("wide", (60.5, 3.0), 35.0)):
        viewer.set_viewport(center=center, fov=fov, image_label=label)
        assert viewer.get_viewport(image_label=label) == {
            "center": center,
            "fov": fov,
            "image_label": label,
        }
        assert_shown_as_the_api_says(viewer)


def test_loading_an_image_shows_it_whole_and_every_viewport_says_what_the_browser_shows(data):
    """The browser shows the panels at one view: loading an image shows it whole (zoom 1, its
    centre), so the other images' viewports are that view too; an image loaded again under
    its label with another shape is centred on itself, not on where the old one was."""
    wcs = tan_wcs()
    viewer = StampViewer()
    viewer.load_image(NDData(data, wcs=wcs), image_label="sky")  # 40 x 64
    viewer.load_image(data[:, :50], image_label="plain")  # 40 x 50
    viewer.set_viewport(center=(55.0, 35.0), fov=6, image_label="sky")
    assert_shown_as_the_api_says(viewer)

    viewer.load_image(data[:12, :20], image_label="sky")  # the first image, now 12 x 20
    assert viewer.get_viewport("pixel", image_label="sky") == {
        "center": (9.5, 5.5),
        "fov": 20.0,
        "image_label": "sky",
    }
    assert (viewer.panels.zoom, viewer.panels.center) == (1.0, [10.0, 6.0])
    assert_shown_as_the_api_says(viewer)
    plain = viewer.get_viewport(image_label="plain")
    assert plain["fov"] == pytest.approx(50.0), "the browser shows it whole too"

    viewer.load_image(data[:30, :30], image_label="third")
    assert viewer.get_viewport(image_label="third")["center"] == (14.5, 14.5)
    assert_shown_as_the_api_says(viewer)
