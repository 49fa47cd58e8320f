"""StampPanels: the widget whose browser code (``static/stamps.js`` and the ``stamp_*.js`` it
imports) draws an alert's stamps.

The kernel sends each stamp's float32 pixels once, as a binary buffer; cuts, stretch, colormap,
zoom, pan, blink and the hover readout are applied in the browser, which reports the cuts it
computed back in `cuts`. The browser's menus, panel sizes, zoom limit and scale bar lengths come
from here too (the read-only traits `choices`, `size_pixels`, `max_zoom` and `scale_bar_lengths`):
the browser code holds no copy. The display's defaults are a survey's `StampDisplay`
(`display_traits`): ZTF's unless told.

A panel is keyed by its stamp's ``label`` (its title; the stamp's ``kind`` without one). Two
traits let the kernel take over (`StampViewer` uses them; see their help):

- `renderings`: label -> the kernel's cuts, stretch curve (`CURVE_SAMPLES` samples,
  `stretch_curve`) and colormap. Such a panel is drawn with them (value -> ``(v - low) / (high -
  low)`` clipped to [0, 1] -> the curve, linearly interpolated -> the colormap's table), colorbar
  included, and its cuts are not sent back in `cuts`; a panel without an entry is drawn from the
  traits as before.
- `markers`: catalogs drawn over the panels at their images' pixel centres (astropy's 0-based
  convention), each a shape, CSS colour and half-width in CSS pixels; a checkbox per catalog in
  the browser sets its ``visible``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import anywidget
import numpy as np
import traitlets

from fink_cutout_jupyter.cutouts.render import INTERVALS_WITH_MANUAL, STRETCHES
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.surveys import DEFAULT_SURVEY, StampDisplay
from fink_cutout_jupyter.widgets.assets import STATIC, bundled_module
from fink_cutout_jupyter.widgets.stamp_display import (
    DEFAULT_COLORMAPS,
    OVERLAY_COLOURS,
    SCALE_BAR_ARCSEC,
    colormap_tables,
)

SIZE_PIXELS = {"small": 160, "medium": 240, "large": 360}  # CSS pixels of one panel's square
MAX_ZOOM = 16.0
# A rendering's curve: the stretch at x = i / (CURVE_SAMPLES - 1), float32 little-endian, which
# the browser interpolates linearly (colours.js's curveLevel: the stamps and the flip-book).
# Between 1024 samples, astropy's LogStretch (a=1000) is up to 3 of the 256 colormap levels off
# just above the low cut and SqrtStretch 2; between 4096, each of LogStretch, SqrtStretch,
# AsinhStretch(0.1) and PowerStretch(2) is within one level on real stamps
# (tests/widgets/test_colours_js.py). 16 KiB per rendering, sent once per change.
CURVE_SAMPLES = 4096
MARKER_SHAPES = ("circle", "square", "crosshair", "plus", "diamond")
DISPLAY_TRAITS = ("stretch", "difference_stretch", "interval", "pmin", "pmax")
_DEFAULT = DEFAULT_SURVEY.stamp_display


def display_traits(display: StampDisplay) -> dict[str, str | float]:
    """A survey's `StampDisplay` as the panels' traits (`DISPLAY_TRAITS`)."""
    return {name: getattr(display, name) for name in DISPLAY_TRAITS}


class StampPanels(anywidget.AnyWidget):
    """Science, Template and Difference drawn side by side from their pixels (see the traits)."""

    _esm = bundled_module("stamps.js")
    _css = STATIC / "stamps.css"

    stamps = traitlets.List(
        traitlets.Dict(),
        help="`stamp_display.stamp_payload` of each; an optional `label` is its panel's title and "
        "key (default `kind`), an `alert_position` of None draws no reticle",
    ).tag(sync=True)
    colormaps = traitlets.Dict(help="colormap name -> 768 bytes of RGB").tag(sync=True)
    stretch = traitlets.Enum(
        STRETCHES, default_value=_DEFAULT.stretch, help="of Science and Template"
    ).tag(sync=True)
    difference_stretch = traitlets.Enum(STRETCHES, default_value=_DEFAULT.difference_stretch).tag(
        sync=True
    )
    interval = traitlets.Enum(INTERVALS_WITH_MANUAL, default_value=_DEFAULT.interval).tag(sync=True)
    choices = traitlets.Dict(
        {"stretch": list(STRETCHES), "interval": list(INTERVALS_WITH_MANUAL)},
        read_only=True,
        help="the browser's menus: the values `stretch` and `interval` accept",
    ).tag(sync=True)
    pmin = traitlets.Float(_DEFAULT.pmin, min=0.0, max=100.0).tag(sync=True)
    pmax = traitlets.Float(_DEFAULT.pmax, min=0.0, max=100.0).tag(sync=True)
    colormap = traitlets.Unicode("gray").tag(sync=True)
    difference_colormap = traitlets.Unicode("RdBu_r").tag(sync=True)
    difference_symmetric = traitlets.Bool(True).tag(sync=True)
    share_cuts = traitlets.Bool(False).tag(sync=True)
    cuts = traitlets.Dict(help="kind -> [low, high] in the stamp's unit").tag(sync=True)
    zoom = traitlets.Float(1.0, min=1.0, max=MAX_ZOOM).tag(sync=True)
    max_zoom = traitlets.Float(MAX_ZOOM, read_only=True).tag(sync=True)
    center = traitlets.List(traitlets.Float(), [31.5, 31.5], minlen=2, maxlen=2).tag(sync=True)
    flip = traitlets.Bool(False, help="row 0 at the bottom").tag(sync=True)
    size = traitlets.Enum(tuple(SIZE_PIXELS), default_value="medium").tag(sync=True)
    size_pixels = traitlets.Dict(SIZE_PIXELS, read_only=True, help="size -> CSS pixels").tag(
        sync=True
    )
    blinking = traitlets.Bool(False).tag(sync=True)
    blink_interval = traitlets.Float(0.5, min=0.05, help="seconds per stamp").tag(sync=True)
    blink_kinds = traitlets.List(traitlets.Unicode(), ["Science", "Template"], minlen=1).tag(
        sync=True
    )
    orientation = traitlets.Unicode("").tag(sync=True)
    reticle = traitlets.Bool(True, help="marks the alert's position").tag(sync=True)
    scale_bar = traitlets.Bool(True, help="a bar of a round number of arcsec").tag(sync=True)
    scale_bar_lengths = traitlets.List(
        traitlets.Float(),
        list(SCALE_BAR_ARCSEC),
        read_only=True,
        help="arcsec: the longest within a quarter of the view is drawn",
    ).tag(sync=True)
    overlay_colours = traitlets.Dict(
        OVERLAY_COLOURS, read_only=True, help="CSS colours of the reticle and scale bar"
    ).tag(sync=True)
    renderings = traitlets.Dict(
        help='label -> {"cuts": [low, high], "curve": `stretch_curve` bytes, "colormap": name}: '
        "the panel is drawn with the kernel's cuts, stretch and colormap"
    ).tag(sync=True)
    markers = traitlets.List(
        traitlets.Dict(),
        help='{"catalog", "x", "y" (float64 little-endian bytes, 0-based pixel centres), '
        '"panels" (labels, or None: all), "shape" (MARKER_SHAPES), "color", "size" (CSS px, '
        'the half-width), "visible"} each; the colour is kept as "#rrggbbaa"',
    ).tag(sync=True)

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("colormaps", colormap_tables(DEFAULT_COLORMAPS))
        super().__init__(**kwargs)
        self._add_colormap(self.colormap)
        self._add_colormap(self.difference_colormap)

    @traitlets.validate("colormap", "difference_colormap")
    def _known_colormap(self, proposal):
        try:
            self._add_colormap(proposal["value"])
        except BadParameter as error:
            raise traitlets.TraitError(str(error)) from None
        return proposal["value"]

    @traitlets.validate("renderings")
    def _valid_renderings(self, proposal):
        renderings = {}
        for label, rendering in proposal["value"].items():
            renderings[label] = _valid_rendering(f"renderings[{label!r}]", rendering)
            try:
                self._add_colormap(rendering["colormap"])
            except BadParameter as error:
                raise traitlets.TraitError(f"renderings[{label!r}].{error}") from None
        return renderings

    @traitlets.validate("markers")
    def _valid_markers(self, proposal):
        return [_valid_markers(f"markers[{i}]", item) for i, item in enumerate(proposal["value"])]

    def _add_colormap(self, name: str) -> None:
        if name not in self.colormaps:
            self.colormaps = {**self.colormaps, **colormap_tables([name])}


def fitted_center(center: Sequence[float], zoom: float, width: int, height: int) -> list[float]:
    """The view's centre kept in a first stamp of `width` x `height` pixels when the stamps
    change shape (another alert's): the stamp's centre at zoom 1 (it is shown whole), else the
    nearest point of the stamp. View coordinates: pixel ``c`` spans ``c`` to ``c + 1``. The
    browser applies the same rule (``static/stamp_state.js``'s ``fittedCenter``).

    Parameters
    ----------
    center : (x, y)
        The centre before, in view coordinates.
    zoom : float
        The browser's zoom (1: the stamp's larger side fills the panel).
    width, height : int
        The new first stamp's shape.
    """
    if zoom <= 1:
        return [width / 2, height / 2]
    x, y = (float(v) for v in center)
    return [min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))]


def stretch_curve(stretch) -> bytes:
    """An astropy stretch as a rendering's ``curve``: `CURVE_SAMPLES` float32 (little-endian)
    samples of ``stretch(x, clip=True)`` at x = i / (CURVE_SAMPLES - 1).

    Parameters
    ----------
    stretch : astropy.visualization.BaseStretch
        Any stretch (or a callable taking an array and ``clip``).
    """
    x = np.linspace(0.0, 1.0, CURVE_SAMPLES)
    return np.clip(np.asarray(stretch(x, clip=True), dtype=float), 0.0, 1.0).astype("<f4").tobytes()


def _fail(field: str, message: str):
    return traitlets.TraitError(f"{field}: {message}")


def _valid_rendering(field: str, rendering: Any) -> dict[str, Any]:
    if not isinstance(rendering, dict):
        raise _fail(field, f"a dict of cuts, curve and colormap, not {type(rendering).__name__}")
    missing = {"cuts", "curve", "colormap"} - set(rendering)
    if missing:
        raise _fail(field, f"missing {', '.join(sorted(missing))}")
    cuts = rendering["cuts"]
    if (
        not isinstance(cuts, list | tuple)
        or len(cuts) != 2
        or not all(_is_number(v) and math.isfinite(v) for v in cuts)
    ):
        raise _fail(f"{field}.cuts", f"two finite numbers [low, high], not {cuts!r}")
    curve = _bytes(f"{field}.curve", rendering["curve"])
    if len(curve) != 4 * CURVE_SAMPLES:
        raise _fail(
            f"{field}.curve",
            f"{len(curve)} bytes, expected {4 * CURVE_SAMPLES} ({CURVE_SAMPLES} float32 samples)",
        )
    samples = np.frombuffer(curve, dtype="<f4")
    if not np.all((samples >= 0) & (samples <= 1)):
        raise _fail(f"{field}.curve", "samples must be finite and within [0, 1]")
    if not isinstance(rendering["colormap"], str):
        raise _fail(f"{field}.colormap", f"a colormap name, not {rendering['colormap']!r}")
    return {**rendering, "cuts": [float(v) for v in cuts]}


def _valid_markers(field: str, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _fail(field, f"a dict, not {type(item).__name__}")
    missing = {"catalog", "x", "y", "shape", "color", "size"} - set(item)
    if missing:
        raise _fail(field, f"missing {', '.join(sorted(missing))}")
    if not isinstance(item["catalog"], str):
        raise _fail(f"{field}.catalog", f"a label, not {item['catalog']!r}")
    x, y = _bytes(f"{field}.x", item["x"]), _bytes(f"{field}.y", item["y"])
    for name, values in (("x", x), ("y", y)):
        if len(values) % 8:
            raise _fail(f"{field}.{name}", f"{len(values)} bytes: not float64 values")
    if len(x) != len(y):
        raise _fail(f"{field}.y", f"{len(y) // 8} values for {len(x) // 8} of x")
    panels = item.get("panels")
    if panels is not None and (
        not isinstance(panels, list | tuple) or not all(isinstance(p, str) for p in panels)
    ):
        raise _fail(f"{field}.panels", f"a list of panel labels or None, not {panels!r}")
    if item["shape"] not in MARKER_SHAPES:
        raise _fail(f"{field}.shape", f"{item['shape']!r} is not one of {', '.join(MARKER_SHAPES)}")
    size = item["size"]
    if not _is_number(size) or not math.isfinite(size) or size < 0:
        raise _fail(f"{field}.size", f"a half-width in CSS pixels (>= 0), not {size!r}")
    visible = item.get("visible", True)
    if not isinstance(visible, bool):
        raise _fail(f"{field}.visible", f"True or False, not {visible!r}")
    return {
        **item,
        "panels": None if panels is None else list(panels),
        "color": _css_colour(f"{field}.color", item["color"]),
        "size": float(size),
        "visible": visible,
    }


def _css_colour(field: str, colour: Any) -> str:
    from matplotlib.colors import to_hex, to_rgba

    try:
        return to_hex(to_rgba(colour), keep_alpha=True)
    except (ValueError, TypeError):
        raise _fail(field, f"{colour!r} is not a matplotlib colour") from None


def _bytes(field: str, value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise _fail(field, f"bytes (little-endian binary values), not {type(value).__name__}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)
