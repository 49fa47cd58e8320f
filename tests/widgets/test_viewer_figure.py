"""The saved figure from plain data: real ZTF stamps coloured as astropy and matplotlib colour
them, colorbars through each stamp's own scale, the title and orientation given."""

import matplotlib
import numpy as np
import pytest
from astropy import visualization
from matplotlib.collections import QuadMesh

from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.surveys import KINDS
from fink_cutout_jupyter.widgets.viewer_figure import FigureStamp, figure_title, stamps_figure


@pytest.fixture(scope="module")
def real_stamps(ztf_rows) -> dict[str, np.ndarray]:
    row = next(r for r in ztf_rows if np.isnan(Stamp("Science", r["fits"]["Science"]).data).any())
    return {kind: Stamp(kind, row["fits"][kind]).data for kind in KINDS}


def table(name: str) -> np.ndarray:
    return matplotlib.colormaps[name](np.linspace(0, 1, 256), bytes=True)[:, :3]


def test_the_stamps_are_drawn_as_astropy_colours_them_and_flipped_on_request(real_stamps):
    science = real_stamps["Science"]
    finite = science[np.isfinite(science)].astype(float)
    low, high = visualization.ZScaleInterval().get_limits(finite)
    shown = [FigureStamp("Science", science, [low, high], "viridis", unit="DN")]
    figure = stamps_figure(shown, "log", "a title", "an orientation", flip=True)
    drawn = np.asarray(figure.axes[0].images[0].get_array())
    unit = np.clip((np.nan_to_num(science, nan=low) - low) / (high - low), 0, 1)
    index = np.floor(visualization.LogStretch()(unit) * 255 + 0.5).astype(int)
    expected = table("viridis")[index]
    expected[np.isnan(science)] = (255, 0, 255)
    np.testing.assert_array_equal(drawn, expected[::-1])
    assert figure.get_suptitle() == "a title"
    assert "an orientation" in [text.get_text() for text in figure.texts]


def test_each_colorbar_is_its_stamps_scale_and_unit(real_stamps):
    """Sigmoid: the bar's colours follow the stamp's mean and deviation, symmetric about zero
    for the Difference."""
    shown = []
    for kind, pixels in real_stamps.items():
        finite = pixels[np.isfinite(pixels)].astype(float)
        low, high = np.percentile(finite, [0.5, 99.5])
        symmetric = kind == "Difference"
        if symmetric:
            low, high = -max(abs(low), abs(high)), max(abs(low), abs(high))
        colormap = "RdBu_r" if symmetric else "gray"
        shown.append(FigureStamp(kind, pixels, [low, high], colormap, symmetric, "DN"))
    figure = stamps_figure(shown, "sigmoid", "title")
    bars = figure.axes[len(shown) :]
    assert [axis.get_title() for axis in figure.axes[: len(shown)]] == list(KINDS)
    for stamp, bar in zip(shown, bars, strict=True):
        finite = stamp.pixels[np.isfinite(stamp.pixels)].astype(float)
        low, high = stamp.cuts
        ramp = np.linspace(0, 1, 256)
        center = (finite.mean() - low) / (high - low)
        scale = finite.std() / (high - low)

        def sigmoid(x, center=center, scale=scale):
            return 1 / (1 + np.exp(-(x - center) / scale))

        def stretch(x, sigmoid=sigmoid):
            return (sigmoid(x) - sigmoid(0)) / (sigmoid(1) - sigmoid(0))

        if stamp.symmetric:
            signed = 2 * ramp - 1
            level = 0.5 + 0.5 * np.sign(signed) * stretch(np.abs(signed))
        else:
            level = stretch(ramp)
        expected = table(stamp.colormap)[np.floor(level * 255 + 0.5).astype(int)] / 255
        (mesh,) = (c for c in bar.collections if isinstance(c, QuadMesh))
        colours = mesh.get_cmap().colors
        np.testing.assert_allclose(colours, expected)
        assert bar.get_xlabel() == "DN"
        assert bar.get_xlim() == pytest.approx((low, high))


def test_the_title_names_the_alert_the_scale_and_the_detection():
    record = {"alertId": 12, "date": "2024-11-05 01:02:03", "isdiffpos": "f"}
    title = figure_title("ZTF24abssjsb", record, "asinh", "zscale")
    assert title.startswith("ZTF24abssjsb · alert 12 · 2024-11-05 01:02:03\n")
    assert "asinh stretch, zscale cuts · negative detection" in title
    assert figure_title("ZTF1", {}, "linear", "manual").startswith("ZTF1 · alert ? · \n")


def test_each_stamp_has_its_own_stretch_reticle_and_scale_bar(real_stamps):
    """A Difference drawn linear while the figure's stretch is asinh; the reticle's four ticks
    point at the alert's position (image coordinates: pixel centres whole); the scale bar is
    matplotlib's AnchoredSizeBar of a round number of arcsec (10″ of ZTF's 1.01″ pixels)."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    difference = real_stamps["Difference"]
    finite = difference[np.isfinite(difference)].astype(float)
    low, high = np.percentile(finite, [0.5, 99.5])
    shown = [
        FigureStamp(
            "Difference", difference, [low, high], "gray", False, "DN", "linear", [31.5, 20.5], 1.01
        )
    ]
    figure = stamps_figure(shown, "asinh", "title")
    axis = figure.axes[0]
    drawn = np.asarray(axis.images[0].get_array())
    unit = np.clip((np.nan_to_num(difference, nan=low) - low) / (high - low), 0, 1)
    expected = table("gray")[np.floor(unit * 255 + 0.5).astype(int)]
    expected[np.isnan(difference)] = (255, 0, 255)
    np.testing.assert_array_equal(drawn, expected)
    ticks = [line.get_xydata() for line in axis.lines]
    assert len(ticks) == 4
    for tick in ticks:
        direction = tick[1] - tick[0]
        towards = np.array([31.0, 20.0]) - tick[0]
        cross = direction[0] * towards[1] - direction[1] * towards[0]
        assert cross == pytest.approx(0, abs=1e-9), "aimed at the alert"
        assert np.dot(direction, towards) < 0, "pointing away from it: the alert stays in view"
    bars = [artist for artist in axis.artists if isinstance(artist, AnchoredSizeBar)]
    assert len(bars) == 1
    assert bars[0].txt_label.get_text() == "10″"
    assert bars[0].size_bar.get_children()[0].get_width() == pytest.approx(10 / 1.01)
    plain = stamps_figure(shown, "asinh", "title", reticle=False, scale_bar=False)
    assert not plain.axes[0].lines
    assert not plain.axes[0].artists


def test_the_reticle_follows_a_flip(real_stamps):
    science = real_stamps["Science"]
    shown = [FigureStamp("Science", science, [0, 1], "gray", alert_position=[31.5, 20.5])]
    flipped = stamps_figure(shown, "linear", "title", flip=True).axes[0]
    centres = {tuple(np.round(line.get_xydata().mean(axis=0), 6)) for line in flipped.lines}
    rows = sorted(y for _, y in centres)
    assert np.mean(rows) == pytest.approx(63 - 20.5 - 0.5), "row 0 at the bottom"


@pytest.mark.parametrize("flip", [False, True])
def test_the_static_images_reticle_and_scale_bar_on_a_real_stamp(real_stamps, flip):
    """`with_overlays` on a real ZTF stamp enlarged 3 times: the ticks on the row and column of
    the alert's position (row 0 at the bottom when flipped), the scale bar 10″ of 1.01″ pixels."""
    from fink_cutout_jupyter.cutouts.render import coloured, levels
    from fink_cutout_jupyter.widgets.viewer_figure import with_overlays

    science = real_stamps["Science"]
    rgb = coloured(levels(science, "linear", [0.0, 1.0]), "gray")
    rgb = np.flipud(rgb) if flip else rgb
    scale = 3
    image = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    drawn = with_overlays(image, scale, [40.5, 20.5], 1.01, flip).astype(int)
    green = np.abs(drawn - (0, 255, 0)).max(axis=-1) == 0
    row = int((63 - 20.5 if flip else 20.5) * scale)
    column = int(40.5 * scale)
    assert green[row, column + 6 : column + 12].all()
    assert green[row, column - 12 : column - 6].all()
    assert green[row + 6 : row + 12, column].all()
    assert not green[row - 3 : row + 4, column - 3 : column + 4].any()
    yellow = np.abs(drawn - (255, 255, 0)).max(axis=-1) == 0
    assert yellow[-10:].sum(axis=1).max() == pytest.approx(10 / 1.01 * scale, abs=1.5)
    untouched = with_overlays(image, scale, None, None, flip)
    np.testing.assert_array_equal(untouched, image)


def test_a_missing_stamp_is_an_empty_panel_titled_with_its_reason(real_stamps):
    """A stamp that cannot be shown keeps its place: no image, no colorbar, its kind as the
    title and the reason written in the panel; the others are drawn as usual."""
    science = real_stamps["Science"]
    finite = science[np.isfinite(science)].astype(float)
    low, high = visualization.ZScaleInterval().get_limits(finite)
    reason = "the stored Template stamp is not gzip " + "x" * 80  # a long word wraps too
    shown = [
        FigureStamp("Science", science, [low, high], "gray"),
        FigureStamp.missing("Template", reason),
    ]
    figure = stamps_figure(shown, "linear", "title")
    drawn, missing = figure.axes[:2]
    assert len(drawn.images) == 1
    assert len(missing.images) == 0
    assert missing.get_title() == "Template (not shown)"
    (text,) = missing.texts
    assert "".join(text.get_text().split()) == "".join(reason.split())
    assert len(figure.axes) == 3, "one colorbar: the drawn stamp's"
