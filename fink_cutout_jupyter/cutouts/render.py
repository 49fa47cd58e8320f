"""Pixels to colours, the one pipeline, and stamps to PNG.

Cuts come from astropy's intervals (`interval_cuts`), levels in [0, 1] from astropy's stretches
and Fink's sigmoid (`level_scale`, `levels`; `stretch_scale` for an astropy stretch object),
colours from a matplotlib colormap's 256-level table (`coloured`). The PNG route
(`stamps_png`), the viewer's ``save()`` figure and its static fallback colour with these
functions; the browser's copy, ``widgets/static/colours.js``, is checked against astropy on
real stamps (``tests/widgets/test_colours_js.py``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from fink_cutout_jupyter.errors import BadParameter, quote

STRETCHES = ("linear", "sqrt", "log", "asinh", "power", "sigmoid")
INTERVALS = ("percentile", "zscale", "minmax")
MANUAL = "manual"
"""Not an interval: cuts given by the user (the viewer's ``cuts``)."""
INTERVALS_WITH_MANUAL = (*INTERVALS, MANUAL)
"""What the viewer offers: the intervals, then cuts given by hand."""
KERNELS = ("gauss", "box")
NAN_RGB = (255, 0, 255)
"""The widgets' colour of NaN pixels (magenta), as ``NAN_RGB`` in ``widgets/static/colours.js``."""


@dataclass(frozen=True)
class RenderOptions:
    """How to turn pixels into colours.

    Defaults follow Fink's cutout API (sigmoid stretch, 0.5-99.95 percentiles).

    Parameters
    ----------
    stretch : str
        One of ``linear, sqrt, log, asinh, power, sigmoid``. ``sigmoid`` is Fink's
        ``1 / (1 + exp(-(x - mean) / std))`` on the pixel values, rescaled to span the colormap.
    interval : str
        ``percentile`` (uses `pmin`/`pmax`), ``zscale`` or ``minmax``.
    pmin, pmax : float
        Lower and upper percentiles of the finite pixels mapped to the ends of the colormap.
    colormap : str
        Any matplotlib colormap name.
    convolution_kernel : str or None
        ``gauss`` (sigma 1 px) or ``box`` (3x3) smoothing before the stretch; NaN pixels stay NaN.
    flip : bool
        ``False``: row 0 at the top (as Fink's API and ALeRCE show stamps); ``True``: at the bottom.
    nan_color : str
        Matplotlib colour of NaN pixels.
    """

    stretch: str = "sigmoid"
    interval: str = "percentile"
    pmin: float = 0.5
    pmax: float = 99.95
    colormap: str = "gray"
    convolution_kernel: str | None = None
    flip: bool = False
    nan_color: str = "red"

    def __post_init__(self) -> None:
        _require_choice("stretch", self.stretch, STRETCHES)
        _require_choice("interval", self.interval, INTERVALS)
        if self.convolution_kernel is not None:
            _require_choice("convolution_kernel", self.convolution_kernel, KERNELS)
        if not 0 <= self.pmin < self.pmax <= 100:
            raise BadParameter(
                f"pmin/pmax: {self.pmin}/{self.pmax} are not percentiles with "
                "0 <= pmin < pmax <= 100"
            )
        colormap_table(self.colormap)
        _rgb(self.nan_color)


def _require_choice(parameter: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise BadParameter(
            f"{parameter}: {quote(value)} is not allowed; allowed: {', '.join(allowed)}"
        )


@lru_cache(maxsize=64)
def colormap_table(name: str) -> np.ndarray:
    """The colormap sampled at 256 levels as an (256, 3) uint8 lookup table."""
    import matplotlib

    if name not in matplotlib.colormaps:
        raise BadParameter(
            f"colormap: {quote(name)} is not a matplotlib colormap; allowed e.g. gray, Greys, "
            "viridis, magma, inferno, cividis (any name in matplotlib.colormaps)"
        )
    return matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256), bytes=True)[:, :3]


@lru_cache(maxsize=16)
def _rgb(color: str) -> tuple[int, int, int]:
    from matplotlib.colors import to_rgb

    try:
        red, green, blue = to_rgb(color)
        return round(255 * red), round(255 * green), round(255 * blue)
    except ValueError:
        raise BadParameter(f"nan_color: {quote(color)} is not a matplotlib colour") from None


def interval_cuts(
    pixels: np.ndarray,
    interval: str = "percentile",
    pmin: float = 0.5,
    pmax: float = 99.95,
    symmetric: bool = False,
) -> list[float]:
    """The cuts ``[low, high]`` of an astropy interval on the finite pixels.

    Parameters
    ----------
    pixels : array
        Stamp pixels (any float dtype, NaN allowed); computed in float64.
    interval : str
        One of `INTERVALS`: ``percentile`` (astropy's `AsymmetricPercentileInterval` between
        `pmin` and `pmax`), ``zscale`` (`ZScaleInterval`) or ``minmax`` (`MinMaxInterval`).
    pmin, pmax : float
        Percentiles of ``percentile``.
    symmetric : bool
        Widen the cuts to ``[-reach, reach]``, `reach` the larger of their magnitudes.

    Returns
    -------
    list of float
        ``[0.0, 1.0]`` when no pixel is finite.
    """
    finite = np.asarray(pixels, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return [0.0, 1.0]
    low, high = (float(v) for v in _interval(interval, pmin, pmax).get_limits(finite))
    if symmetric:
        reach = max(abs(low), abs(high))
        low, high = -reach, reach
    return [low, high]


def _interval(name: str, pmin: float, pmax: float):
    from astropy import visualization

    _require_choice("interval", name, INTERVALS)
    if name == "zscale":
        return visualization.ZScaleInterval()
    if name == "minmax":
        return visualization.MinMaxInterval()
    return visualization.AsymmetricPercentileInterval(pmin, pmax)


def astropy_interval(name: str, pmin: float = 0.5, pmax: float = 99.95):
    """The astropy interval `interval_cuts` computes a named interval with (one of
    `INTERVALS`)."""
    return _interval(name, pmin, pmax)


def astropy_stretch(name: str, pixels: np.ndarray, cuts: Sequence[float]):
    """The astropy stretch `level_scale` draws a named stretch with: astropy's (``log``
    a=1000, ``asinh`` a=0.1, ``power`` 2), or Fink's ``sigmoid`` made for the finite `pixels`
    between `cuts` (a `~astropy.visualization.BaseStretch`)."""
    _require_choice("stretch", name, STRETCHES)
    low, high = (float(cut) for cut in cuts)
    if not high > low:
        low, high = low - 0.5, low + 0.5
    finite = np.asarray(pixels, dtype=float)
    return _stretch(name, finite[np.isfinite(finite)], low, high)


def level_scale(
    pixels: np.ndarray, stretch: str, cuts: Sequence[float], symmetric: bool = False
) -> Callable[[np.ndarray], np.ndarray]:
    """Values to levels in [0, 1] as a stamp is shown: the cuts, then the stretch; NaN (and
    any non-finite value) is NaN.

    The values between the cuts go to [0, 1] (clipped outside, as astropy's `ImageNormalize`
    with ``clip=True``), then through the stretch; with `symmetric`, the stretch applies to the
    distance from the cuts' middle, each side of it (a Difference stamp about zero). Cuts that
    do not increase are widened to ``low ± 0.5``. ``sigmoid`` takes the mean and standard
    deviation of `pixels`' finite values, so the scale of a stamp also colours its colorbar.

    Parameters
    ----------
    pixels : array
        The stamp's pixels (for ``sigmoid``'s statistics).
    stretch : str
        One of `STRETCHES`.
    cuts : (low, high)
        In the pixels' unit.
    symmetric : bool
        Stretch about the cuts' middle.

    Returns
    -------
    callable
        ``scale(values) -> float64 array``, values of any shape.
    """
    _require_choice("stretch", stretch, STRETCHES)
    low, high = (float(cut) for cut in cuts)
    if not high > low:
        low, high = low - 0.5, low + 0.5
    finite = np.asarray(pixels, dtype=float)
    finite = finite[np.isfinite(finite)]
    stretched = _stretch(stretch, finite, low, high)

    def scale(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        nan = ~np.isfinite(values)
        unit = np.clip((np.where(nan, low, values) - low) / (high - low), 0.0, 1.0)
        if symmetric:
            signed = 2 * unit - 1
            unit = 0.5 + 0.5 * np.sign(signed) * stretched(np.abs(signed), clip=True)
        else:
            unit = stretched(unit, clip=True)
        unit[nan] = np.nan
        return unit

    return scale


def stretch_scale(cuts: Sequence[float], stretch: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """Values to levels in [0, 1] through the cuts (clipped), then an astropy stretch object
    (the image-display API's ``set_stretch``); NaN (and any non-finite value) is NaN.

    Cuts that do not increase are widened to ``low ± 0.5``, as in `level_scale`.

    Parameters
    ----------
    cuts : (low, high)
        In the pixels' unit.
    stretch : `~astropy.visualization.BaseStretch`
        Called as ``stretch(values, clip=True)`` on values in [0, 1].

    Returns
    -------
    callable
        ``scale(values) -> float64 array``, values of any shape, levels clipped to [0, 1].
    """
    low, high = (float(cut) for cut in cuts)
    if not high > low:
        low, high = low - 0.5, low + 0.5

    def scale(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        nan = ~np.isfinite(values)
        unit = np.clip((np.where(nan, low, values) - low) / (high - low), 0.0, 1.0)
        shown = np.clip(np.asarray(stretch(unit, clip=True), dtype=float), 0.0, 1.0)
        shown[nan] = np.nan
        return shown

    return scale


def levels(
    pixels: np.ndarray, stretch: str, cuts: Sequence[float], symmetric: bool = False
) -> np.ndarray:
    """A stamp's pixels to levels in [0, 1] (see `level_scale`); NaN stays NaN."""
    return level_scale(pixels, stretch, cuts, symmetric)(pixels)


@lru_cache(maxsize=1)
def _sigmoid_stretch_class():
    """Fink's sigmoid in interval units, rescaled so that 0 -> 0 and 1 -> 1: the class, made
    once (astropy loads on first use)."""
    from astropy.visualization import BaseStretch

    class SigmoidStretch(BaseStretch):
        def __init__(self, center: float, scale: float) -> None:
            super().__init__()
            self.center, self.scale = center, scale
            self.low, self.high = self._sigmoid(0.0), self._sigmoid(1.0)

        def _sigmoid(self, x):
            return 1.0 / (1.0 + np.exp(-np.clip((x - self.center) / self.scale, -50.0, 50.0)))

        def __call__(self, values, clip=True, out=None):
            values = np.asarray(values, dtype=float)
            if clip:
                values = np.clip(values, 0.0, 1.0)
            result = (self._sigmoid(values) - self.low) / (self.high - self.low)
            if out is None:
                return result
            out[...] = result
            return out

    return SigmoidStretch


def _stretch(name: str, finite: np.ndarray, low: float, high: float):
    if name == "sigmoid":
        span = high - low
        std = float(np.std(finite)) if finite.size else 0.0
        center = (float(np.mean(finite)) - low) / span if finite.size else 0.5
        return _sigmoid_stretch_class()(center, std / span if std > 0 else 1.0)
    return _astropy_stretch(name)


@lru_cache(maxsize=len(STRETCHES))
def _astropy_stretch(name: str):
    """astropy's stretch with its default parameters (``power``: 2)."""
    from astropy import visualization

    return {
        "linear": visualization.LinearStretch,
        "sqrt": visualization.SqrtStretch,
        "log": visualization.LogStretch,
        "asinh": visualization.AsinhStretch,
        "power": lambda: visualization.PowerStretch(2.0),
    }[name]()


def coloured(
    levels_: np.ndarray, colormap: str, nan_rgb: tuple[int, int, int] = NAN_RGB
) -> np.ndarray:
    """Levels in [0, 1] to (..., 3) uint8 through the colormap's 256-level table; NaN in
    `nan_rgb`. A level goes to the nearest of the 256, halves up (as ``Math.round`` in the
    browser)."""
    nan = np.isnan(levels_)
    index = np.floor(np.clip(np.where(nan, 0.0, levels_), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    rgb = colormap_table(colormap)[index]
    rgb[nan] = nan_rgb
    return rgb


def _smooth(pixels: np.ndarray, kernel_name: str) -> np.ndarray:
    from astropy.convolution import convolve

    if not np.isfinite(pixels).any():
        return pixels
    return convolve(
        pixels,
        _kernel(kernel_name),
        boundary="extend",
        nan_treatment="interpolate",
        preserve_nan=True,
    )


@lru_cache(maxsize=len(KERNELS))
def _kernel(name: str):
    """The smoothing kernel, made once: making a Gaussian kernel costs more than using it."""
    from astropy.convolution import Box2DKernel, Gaussian2DKernel

    return Gaussian2DKernel(x_stddev=1.0) if name == "gauss" else Box2DKernel(3)


def normalize(pixels: np.ndarray, options: RenderOptions) -> np.ndarray:
    """Map pixels to [0, 1]: smoothing, `interval_cuts`, then `levels`; NaN stays NaN.

    Parameters
    ----------
    pixels : 2-D array
        Stamp pixels (any float dtype, NaN allowed).
    options : RenderOptions

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape, values in [0, 1] or NaN.
    """
    pixels = np.asarray(pixels, dtype=float)
    if options.convolution_kernel:
        pixels = _smooth(pixels, options.convolution_kernel)
    cuts = interval_cuts(pixels, options.interval, options.pmin, options.pmax)
    return levels(pixels, options.stretch, cuts)


def to_rgb(pixels: np.ndarray, options: RenderOptions | None = None) -> np.ndarray:
    """Colour a stamp: (H, W) pixels to (H, W, 3) uint8, row 0 at the top unless flipped."""
    options = options or RenderOptions()
    rgb = coloured(normalize(pixels, options), options.colormap, _rgb(options.nan_color))
    return np.flipud(rgb) if options.flip else rgb


def side_by_side(images: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """Place RGB images left to right, top-aligned, on white, `gap` pixels apart."""
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images) + gap * (len(images) - 1)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    left = 0
    for image in images:
        canvas[: image.shape[0], left : left + image.shape[1]] = image
        left += image.shape[1] + gap
    return canvas


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 image as PNG (Pillow, fast compression)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def stamps_png(stamps: Sequence[np.ndarray], options: RenderOptions | None = None) -> bytes:
    """Render stamps side by side as one PNG image.

    In a thread serving a door's PNG requests (see `render_processes`), the work is done in
    one of the door's render processes, so that it never holds the server's GIL.
    """
    from fink_cutout_jupyter.cutouts.render_processes import current

    options = options or RenderOptions()
    processes = current()
    if processes is not None:
        return processes.render(render_stamps_png, [np.asarray(s) for s in stamps], options)
    return render_stamps_png(stamps, options)


def render_stamps_png(stamps: Sequence[np.ndarray], options: RenderOptions) -> bytes:
    """`stamps_png` in this thread."""
    return encode_png(side_by_side([to_rgb(pixels, options) for pixels in stamps]))


def to_png(pixels: np.ndarray, options: RenderOptions | None = None) -> bytes:
    """Render one stamp's pixels as PNG bytes."""
    return encode_png(to_rgb(pixels, options))
