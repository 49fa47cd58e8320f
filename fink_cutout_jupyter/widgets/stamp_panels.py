"""StampPanels: the widget whose browser code (``static/stamps.js`` and the ``stamp_*.js`` it
imports) draws an alert's stamps.

The kernel sends each stamp's float32 pixels once, as a binary buffer; cuts, stretch, colormap,
zoom, pan, blink and the hover readout are applied in the browser, which reports the cuts it
computed back in `cuts`. The browser's menus, panel sizes, zoom limit and scale bar lengths come
from here too (the read-only traits `choices`, `size_pixels`, `max_zoom` and `scale_bar_lengths`):
the browser code holds no copy. The display's defaults are a survey's `StampDisplay`
(`display_traits`): ZTF's unless told.
"""

from __future__ import annotations

import anywidget
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
DISPLAY_TRAITS = ("stretch", "difference_stretch", "interval", "pmin", "pmax")
_DEFAULT = DEFAULT_SURVEY.stamp_display


def display_traits(display: StampDisplay) -> dict[str, str | float]:
    """A survey's `StampDisplay` as the panels' traits (`DISPLAY_TRAITS`)."""
    return {name: getattr(display, name) for name in DISPLAY_TRAITS}


class StampPanels(anywidget.AnyWidget):
    """Science, Template and Difference drawn side by side from their pixels (see the traits)."""

    _esm = bundled_module("stamps.js")
    _css = STATIC / "stamps.css"

    stamps = traitlets.List(traitlets.Dict(), help="`stamp_display.stamp_payload` of each").tag(
        sync=True
    )
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

    def _add_colormap(self, name: str) -> None:
        if name not in self.colormaps:
            self.colormaps = {**self.colormaps, **colormap_tables([name])}
