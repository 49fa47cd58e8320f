"""Stamps to PNG: interval, stretch and colormap via astropy.visualization and a lookup table."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from fink_cutout_jupyter.errors import BadParameter, quote

STRETCHES = ("linear", "sqrt", "log", "asinh", "power", "sigmoid")
INTERVALS = ("percentile", "zscale", "minmax")
KERNELS = ("gauss", "box")


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
        _colormap_table(self.colormap)
        _rgb(self.nan_color)


def _require_choice(parameter: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise BadParameter(
            f"{parameter}: {quote(value)} is not allowed; allowed: {', '.join(allowed)}"
        )


@lru_cache(maxsize=64)
def _colormap_table(name: str) -> np.ndarray:
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


def _interval(options: RenderOptions):
    from astropy import visualization

    if options.interval == "zscale":
        return visualization.ZScaleInterval()
    if options.interval == "minmax":
        return visualization.MinMaxInterval()
    return visualization.AsymmetricPercentileInterval(options.pmin, options.pmax)


def _sigmoid_stretch(center: float, scale: float):
    """Fink's sigmoid in interval units, rescaled so that 0 -> 0 and 1 -> 1."""
    return _sigmoid_stretch_class()(center, scale)


@lru_cache(maxsize=1)
def _sigmoid_stretch_class():
    """The stretch class, made once (astropy loads on first use)."""
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
            result = (self._sigmoid(values) - self.low) / (self.high - self.low)
            if clip:
                np.clip(result, 0.0, 1.0, out=result)
            if out is None:
                return result
            out[...] = result
            return out

    return SigmoidStretch


def _stretch(options: RenderOptions, finite: np.ndarray, vmin: float, vmax: float):
    from astropy import visualization

    if options.stretch == "sigmoid":
        span = vmax - vmin
        std = float(np.std(finite)) if finite.size else 0.0
        center = (float(np.mean(finite)) - vmin) / span if finite.size else 0.5
        return _sigmoid_stretch(center, std / span if std > 0 else 1.0)
    return {
        "linear": visualization.LinearStretch,
        "sqrt": visualization.SqrtStretch,
        "log": visualization.LogStretch,
        "asinh": visualization.AsinhStretch,
        "power": lambda: visualization.PowerStretch(2.0),
    }[options.stretch]()


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
    """Map pixels to [0, 1] through the interval and stretch; NaN stays NaN.

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
    from astropy.visualization import ImageNormalize

    pixels = np.asarray(pixels, dtype=float)
    if options.convolution_kernel:
        pixels = _smooth(pixels, options.convolution_kernel)
    finite_mask = np.isfinite(pixels)
    finite = pixels[finite_mask]
    if finite.size == 0:
        return np.full(pixels.shape, np.nan)
    vmin, vmax = (float(v) for v in _interval(options).get_limits(finite))
    if not vmax > vmin:
        scaled = np.where(finite_mask, 0.5, np.nan)
        return scaled
    norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=_stretch(options, finite, vmin, vmax))
    scaled = np.full(pixels.shape, np.nan)
    scaled[finite_mask] = norm(finite, clip=True)
    return scaled


def to_rgb(pixels: np.ndarray, options: RenderOptions | None = None) -> np.ndarray:
    """Colour a stamp: (H, W) pixels to (H, W, 3) uint8, row 0 at the top unless flipped."""
    options = options or RenderOptions()
    scaled = normalize(pixels, options)
    nan = np.isnan(scaled)
    levels = np.rint(np.where(nan, 0.0, scaled) * 255).astype(np.uint8)
    rgb = _colormap_table(options.colormap)[levels]
    rgb[nan] = _rgb(options.nan_color)
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
