"""StampPanels: the widget whose browser code (``static/stamps.js`` and the ``stamp_*.js`` it
imports) draws an alert's stamps.

The kernel sends each stamp's float32 pixels once, as a binary buffer; cuts, stretch, colormap,
zoom, pan, blink and the hover readout are applied in the browser, which reports the cuts it
computed back in `cuts`. The browser's menus, panel sizes and zoom limit come from here too
(the read-only traits `choices`, `size_pixels` and `max_zoom`): the browser code holds no copy.
"""

from __future__ import annotations

import anywidget
import traitlets

from fink_cutout_jupyter.cutouts.render import INTERVALS_WITH_MANUAL, STRETCHES
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.widgets.assets import STATIC, bundled_module
from fink_cutout_jupyter.widgets.stamp_display import DEFAULT_COLORMAPS, colormap_tables

SIZE_PIXELS = {"small": 160, "medium": 240, "large": 360}  # CSS pixels of one panel's square
MAX_ZOOM = 16.0


class StampPanels(anywidget.AnyWidget):
    """Science, Template and Difference drawn side by side from their pixels (see the traits)."""

    _esm = bundled_module("stamps.js")
    _css = STATIC / "stamps.css"

    stamps = traitlets.List(traitlets.Dict(), help="`stamp_display.stamp_payload` of each").tag(
        sync=True
    )
    colormaps = traitlets.Dict(help="colormap name -> 768 bytes of RGB").tag(sync=True)
    stretch = traitlets.Enum(STRETCHES, default_value="linear").tag(sync=True)
    interval = traitlets.Enum(INTERVALS_WITH_MANUAL, default_value="zscale").tag(sync=True)
    choices = traitlets.Dict(
        {"stretch": list(STRETCHES), "interval": list(INTERVALS_WITH_MANUAL)},
        read_only=True,
        help="the browser's menus: the values `stretch` and `interval` accept",
    ).tag(sync=True)
    pmin = traitlets.Float(0.5, min=0.0, max=100.0).tag(sync=True)
    pmax = traitlets.Float(99.5, min=0.0, max=100.0).tag(sync=True)
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
