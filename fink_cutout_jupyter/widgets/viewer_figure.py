"""A labelled matplotlib figure of stamps as a viewer shows them (for `CutoutViewer.save`), made
from plain data: each stamp's pixels, cuts and colormap, the stretch, the title, the orientation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fink_cutout_jupyter.cutouts.render import coloured, level_scale
from fink_cutout_jupyter.widgets.stamp_display import detection_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class FigureStamp:
    """One stamp of the figure.

    Parameters
    ----------
    kind : str
        Its title (``Science``, ``Template``, ``Difference``).
    pixels : numpy.ndarray
        2-D, row 0 first, NaN allowed.
    cuts : (low, high)
        In the stamp's unit.
    colormap : str
        A matplotlib colormap name.
    symmetric : bool
        Stretched about the cuts' middle (a Difference stamp about zero).
    unit : str
        The colorbar's label (the stamp's ``BUNIT``).
    """

    kind: str
    pixels: np.ndarray
    cuts: Sequence[float]
    colormap: str
    symmetric: bool = False
    unit: str = ""


def stamps_figure(
    stamps: Sequence[FigureStamp],
    stretch: str,
    title: str,
    orientation: str = "",
    flip: bool = False,
) -> Figure:
    """The stamps side by side, coloured as the viewer shows them (`cutouts.render`'s levels and
    colours), a colorbar under each (ticks in the stamp's unit), `title` above and `orientation`
    below; `flip` puts row 0 at the bottom."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2 * max(len(stamps), 1), 3.9), layout="constrained")
    axes = figure.subplots(1, max(len(stamps), 1), squeeze=False)[0]
    for axis, stamp in zip(axes, stamps, strict=False):
        scale = level_scale(stamp.pixels, stretch, stamp.cuts, stamp.symmetric)
        rgb = coloured(scale(stamp.pixels), stamp.colormap)
        axis.imshow(np.flipud(rgb) if flip else rgb, interpolation="nearest")
        axis.set_title(stamp.kind)
        axis.set_xticks([])
        axis.set_yticks([])
        low, high = stamp.cuts
        ramp = coloured(scale(np.linspace(low, high, 256)), stamp.colormap) / 255.0
        bar = figure.colorbar(
            ScalarMappable(Normalize(low, high), ListedColormap(ramp)),
            ax=axis,
            orientation="horizontal",
        )
        bar.set_label(stamp.unit)
    figure.suptitle(title)
    figure.text(0.5, -0.02, orientation, ha="center", va="top", wrap=True, size=7)
    return figure


def figure_title(object_id: object, record: Mapping[str, Any], stretch: str, interval: str) -> str:
    """The object, the alert and its date, the stretch and cuts, the detection's sign."""
    alert = f"{object_id} · alert {record.get('alertId', '?')} · {record.get('date', '')}"
    detection = detection_text(record.get("isdiffpos"))
    return f"{alert}\n{stretch} stretch, {interval} cuts · {detection}"
