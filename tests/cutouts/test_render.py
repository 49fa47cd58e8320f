import io
import itertools

import matplotlib
import numpy as np
import pytest
from PIL import Image

from fink_cutout_jupyter.cutouts.render import (
    INTERVALS,
    STRETCHES,
    RenderOptions,
    coloured,
    interval_cuts,
    level_scale,
    levels,
    normalize,
    side_by_side,
    stretch_scale,
    to_png,
    to_rgb,
)
from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.surveys import KINDS

COLORMAPS = ("gray", "Greys", "viridis")


@pytest.fixture(scope="module")
def real_pixels(ztf_rows) -> list[np.ndarray]:
    return [Stamp(kind, row["fits"][kind]).data for row in ztf_rows for kind in KINDS]


@pytest.mark.parametrize(
    ("stretch", "interval", "colormap"), list(itertools.product(STRETCHES, INTERVALS, COLORMAPS))
)
def test_every_combination_renders_every_real_stamp(real_pixels, stretch, interval, colormap):
    options = RenderOptions(stretch=stretch, interval=interval, colormap=colormap)
    for pixels in real_pixels:
        rgb = to_rgb(pixels, options)
        assert rgb.shape == (*pixels.shape, 3)
        assert rgb.dtype == np.uint8
        assert np.ptp(rgb[np.isfinite(pixels)]) > 0


def test_png_decodes_to_the_stamp_size(real_pixels):
    image = Image.open(io.BytesIO(to_png(real_pixels[0])))
    assert image.size == (real_pixels[0].shape[1], real_pixels[0].shape[0])
    assert image.mode == "RGB"


def test_percentiles_really_apply(real_pixels):
    pixels = real_pixels[0]
    wide = to_rgb(pixels, RenderOptions(stretch="linear", pmin=0.5, pmax=99.95))
    narrow = to_rgb(pixels, RenderOptions(stretch="linear", pmin=10, pmax=90))
    assert not np.array_equal(wide, narrow)
    assert (narrow == 255).sum() > (wide == 255).sum()


def test_nan_pixels_get_the_nan_colour(real_pixels):
    pixels = next(p for p in real_pixels if np.isnan(p).any())
    rgb = to_rgb(pixels, RenderOptions(nan_color="red"))
    assert (rgb[np.isnan(pixels)] == [255, 0, 0]).all()
    assert np.isnan(normalize(pixels, RenderOptions())).sum() == np.isnan(pixels).sum()


def test_all_nan_and_constant_stamps_do_not_break_normalisation():
    assert np.isnan(normalize(np.full((4, 4), np.nan), RenderOptions())).all()
    assert (normalize(np.ones((4, 4)), RenderOptions()) == 0.5).all()


def test_flip_puts_row_zero_at_the_bottom(real_pixels):
    pixels = real_pixels[1]
    np.testing.assert_array_equal(
        to_rgb(pixels, RenderOptions(flip=True)), to_rgb(pixels, RenderOptions())[::-1]
    )


@pytest.mark.parametrize("kernel", ["gauss", "box"])
def test_convolution_smooths(real_pixels, kernel):
    pixels = real_pixels[2]
    plain = normalize(pixels, RenderOptions(stretch="linear"))
    smooth = normalize(pixels, RenderOptions(stretch="linear", convolution_kernel=kernel))
    assert np.nanstd(np.diff(smooth, axis=1)) < np.nanstd(np.diff(plain, axis=1))


def test_sigmoid_is_finks_sigmoid_of_the_pixel_values():
    pixels = np.linspace(-3.0, 3.0, 49).reshape(7, 7)
    scaled = normalize(pixels, RenderOptions(stretch="sigmoid", interval="minmax"))
    fink = 1 / (1 + np.exp(-(pixels - pixels.mean()) / pixels.std()))
    expected = (fink - fink.min()) / (fink.max() - fink.min())
    np.testing.assert_allclose(scaled, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("stretch", "cubic", "stretch: 'cubic' is not allowed; allowed: linear, sqrt"),
        ("interval", "auto", "interval: 'auto' is not allowed; allowed: percentile, zscale"),
        ("colormap", "nope", "colormap: 'nope' is not a matplotlib colormap"),
        ("convolution_kernel", "median", "allowed: gauss, box"),
        ("pmin", 99.99, "0 <= pmin < pmax <= 100"),
        ("nan_color", "notacolour", "nan_color"),
    ],
)
def test_bad_options_name_the_parameter(field, value, message):
    with pytest.raises(BadParameter, match=message):
        RenderOptions(**{field: value})


def test_side_by_side_keeps_each_image():
    left, right = np.zeros((3, 2, 3), np.uint8), np.full((2, 4, 3), 7, np.uint8)
    canvas = side_by_side([left, right], gap=1)
    assert canvas.shape == (3, 7, 3)
    assert (canvas[:2, 3:] == 7).all()
    assert (canvas[:, 2] == 255).all()


def test_cuts_are_astropys_intervals(real_pixels):
    from astropy import visualization

    pixels = real_pixels[0].astype(float)
    finite = pixels[np.isfinite(pixels)]
    low, high = visualization.AsymmetricPercentileInterval(1, 99).get_limits(finite)
    assert interval_cuts(pixels, "percentile", 1, 99) == pytest.approx([low, high])
    assert interval_cuts(pixels, "minmax") == pytest.approx([finite.min(), finite.max()])
    zscale = visualization.ZScaleInterval().get_limits(finite)
    assert interval_cuts(pixels.astype(np.float32), "zscale") == list(zscale), "in float64"
    reach = max(abs(low), abs(high))
    assert interval_cuts(pixels, "percentile", 1, 99, True) == pytest.approx([-reach, reach])
    assert interval_cuts(np.full((3, 3), np.nan), "zscale") == [0.0, 1.0]
    with pytest.raises(BadParameter, match="interval: 'manual' is not allowed"):
        interval_cuts(pixels, "manual")


def test_levels_use_astropys_stretches_and_keep_nan():
    from astropy import visualization

    values = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0, np.nan, np.inf])
    linear = levels(values, "linear", [-1.0, 1.0], symmetric=True)
    np.testing.assert_allclose(linear[:6], [0, 0, 0.5, 0.75, 1, 1])
    assert np.isnan(linear[6:]).all(), "NaN and infinities are drawn in the NaN colour"
    asinh = levels(values, "asinh", [0.0, 1.0], symmetric=False)
    expected = visualization.AsinhStretch()(np.clip(values[:6], 0, 1))
    np.testing.assert_allclose(asinh[:6], expected)
    symmetric = levels(values, "sqrt", [-1.0, 1.0], symmetric=True)
    assert symmetric[3] == pytest.approx(0.5 + 0.5 * np.sqrt(0.5))
    assert symmetric[1] + symmetric[4] == pytest.approx(1.0), "symmetric about zero"


def test_cuts_that_do_not_increase_are_widened_by_half_a_unit_each_way():
    """As the browser does: a constant stamp (or equal cuts set by hand) is the middle level,
    through the stretch."""
    pixels = np.full((4, 4), 7.0)
    assert (levels(pixels, "linear", [7.0, 7.0]) == 0.5).all()
    np.testing.assert_allclose(levels(pixels, "sqrt", [7.0, 7.0]), np.sqrt(0.5))
    np.testing.assert_allclose(levels(pixels, "linear", [8.0, 6.0]), 0.0)


def test_an_astropy_stretch_scale_is_astropys_image_normalize(real_pixels):
    """`stretch_scale` (an astropy stretch object, as the image-display API sets it) against
    astropy's own `ImageNormalize` with the same cuts and stretch, ``clip=True``."""
    from astropy import visualization

    pixels = real_pixels[0]
    low, high = visualization.ZScaleInterval().get_limits(pixels[np.isfinite(pixels)])
    stretch = visualization.AsinhStretch(a=0.05)
    norm = visualization.ImageNormalize(vmin=low, vmax=high, stretch=stretch, clip=True)
    finite = np.isfinite(pixels)
    shown = stretch_scale((low, high), stretch)(pixels)
    np.testing.assert_allclose(shown[finite], np.ma.getdata(norm(pixels[finite])), atol=1e-12)
    assert np.isnan(stretch_scale((0, 1), stretch)(np.array([np.nan, np.inf, -np.inf]))).all()
    steep = stretch_scale((0.0, 1.0), visualization.LinearStretch(slope=2))
    np.testing.assert_allclose(steep(np.array([-1.0, 0.25, 0.75, 3.0])), [0, 0.5, 1, 1])
    np.testing.assert_allclose(
        stretch_scale((7.0, 7.0), stretch)(np.array([7.0])), stretch(np.array([0.5]))
    )


def test_the_sigmoid_of_a_scale_is_its_stamps_for_any_values(real_pixels):
    """A colorbar's ramp goes through the stamp's sigmoid (its mean and deviation), not one of
    the ramp's own."""
    pixels = _finite_stamp(real_pixels)
    low, high = np.percentile(pixels, [1, 99])
    ramp = np.linspace(low, high, 256)
    got = level_scale(pixels, "sigmoid", [low, high])(ramp)

    def fink(x):
        return 1 / (1 + np.exp(-(x - pixels.mean()) / pixels.std()))

    expected = (fink(ramp) - fink(low)) / (fink(high) - fink(low))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_a_level_half_way_between_two_colours_takes_the_upper_as_in_the_browser():
    """JavaScript's Math.round rounds halves up; numpy's rint would round 2.5 down to 2."""
    level = 2.5 / 255
    assert level * 255 == 2.5
    table = matplotlib.colormaps["viridis"](np.linspace(0, 1, 256), bytes=True)[:, :3]
    rgb = coloured(np.array([level, np.nan]), "viridis", nan_rgb=(1, 2, 3))
    np.testing.assert_array_equal(rgb, [table[3], [1, 2, 3]])


def _finite_stamp(real_pixels) -> np.ndarray:
    """A real Difference stamp without NaN, of ZTF's full size."""
    return next(
        p for p in real_pixels[2::3] if np.isfinite(p).all() and p.shape == (63, 63) and p.std()
    ).astype(float)


def _expected_limits(pixels: np.ndarray, interval: str, pmin=0.5, pmax=99.95):
    from astropy.visualization import ZScaleInterval

    if interval == "percentile":
        return np.percentile(pixels, [pmin, pmax])
    if interval == "minmax":
        return pixels.min(), pixels.max()
    return ZScaleInterval().get_limits(pixels)


def _fink_sigmoid(pixels: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Fink's sigmoid on pixel values, rescaled so that vmin -> 0 and vmax -> 1."""

    def sigmoid(x):
        return 1 / (1 + np.exp(-(x - pixels.mean()) / pixels.std()))

    clipped = np.clip(pixels, vmin, vmax)
    return (sigmoid(clipped) - sigmoid(vmin)) / (sigmoid(vmax) - sigmoid(vmin))


@pytest.mark.parametrize("interval", INTERVALS)
@pytest.mark.parametrize("stretch", STRETCHES)
def test_each_stretch_and_interval_does_what_it_says(real_pixels, stretch, interval):
    from astropy import visualization

    pixels = _finite_stamp(real_pixels)
    vmin, vmax = _expected_limits(pixels, interval)
    unit = np.clip((pixels - vmin) / (vmax - vmin), 0, 1)
    expected = {
        "linear": lambda: unit,
        "sqrt": lambda: np.sqrt(unit),
        "log": lambda: visualization.LogStretch()(unit),
        "asinh": lambda: visualization.AsinhStretch()(unit),
        "power": lambda: unit**2,
        "sigmoid": lambda: _fink_sigmoid(pixels, vmin, vmax),
    }[stretch]()
    got = normalize(pixels, RenderOptions(stretch=stretch, interval=interval))
    np.testing.assert_allclose(got, expected, atol=1e-9)
    if stretch != "linear":
        assert np.abs(got - unit).max() > 0.02, "the stretch changes nothing"


def test_percentile_limits_are_the_requested_percentiles(real_pixels):
    pixels = _finite_stamp(real_pixels)
    got = normalize(pixels, RenderOptions(stretch="linear", pmin=5, pmax=80))
    low, high = np.percentile(pixels, [5, 80])
    assert got[pixels <= low].max() == 0
    assert got[pixels >= high].min() == 1
    inside = (pixels > low) & (pixels < high)
    np.testing.assert_allclose(got[inside], (pixels[inside] - low) / (high - low))


def _numpy_smooth(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolution with edge extension, written out with numpy."""
    half = kernel.shape[0] // 2
    padded = np.pad(pixels, half, mode="edge")
    out = np.zeros_like(pixels, dtype=float)
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            out += kernel[dy, dx] * padded[dy : dy + pixels.shape[0], dx : dx + pixels.shape[1]]
    return out


@pytest.mark.parametrize("name", ["gauss", "box"])
def test_each_kernel_is_the_smoothing_it_names(real_pixels, name):
    pixels = _finite_stamp(real_pixels)
    if name == "box":
        kernel = np.full((3, 3), 1 / 9)
    else:  # a Gaussian of sigma 1 px sampled at pixel centres over +-4 sigma, normalised
        y, x = np.mgrid[-4:5, -4:5]
        kernel = np.exp(-(x**2 + y**2) / 2)
        kernel /= kernel.sum()
    smooth = _numpy_smooth(pixels, kernel)
    expected = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    got = normalize(
        pixels, RenderOptions(stretch="linear", interval="minmax", convolution_kernel=name)
    )
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_the_astropy_objects_of_named_intervals_and_stretches():
    """What `CutoutViewer.get_cuts` / `get_stretch` give for its traits: astropy's own classes
    with the browser's parameters; Fink's sigmoid as the BaseStretch `level_scale` draws with."""
    from astropy import visualization as vis

    from fink_cutout_jupyter.cutouts.render import astropy_interval, astropy_stretch, level_scale

    assert isinstance(astropy_interval("zscale"), vis.ZScaleInterval)
    assert isinstance(astropy_interval("minmax"), vis.MinMaxInterval)
    percentile = astropy_interval("percentile", 1.0, 98.0)
    assert (percentile.lower_percentile, percentile.upper_percentile) == (1.0, 98.0)
    x = np.linspace(0, 1, 101)
    pixels = np.random.default_rng(3).normal(100, 10, (20, 20))
    pixels[0, 0] = np.nan
    for name, expected in {
        "linear": vis.LinearStretch(),
        "sqrt": vis.SqrtStretch(),
        "log": vis.LogStretch(a=1000),
        "asinh": vis.AsinhStretch(a=0.1),
        "power": vis.PowerStretch(2),
    }.items():
        np.testing.assert_array_equal(astropy_stretch(name, pixels, (80, 120))(x), expected(x))
    sigmoid = astropy_stretch("sigmoid", pixels, (80, 120))
    assert isinstance(sigmoid, vis.BaseStretch)
    values = 80 + 40 * x
    np.testing.assert_allclose(sigmoid(x), level_scale(pixels, "sigmoid", (80, 120))(values))
    with pytest.raises(BadParameter, match="stretch"):
        astropy_stretch("cubic", pixels, (0, 1))
