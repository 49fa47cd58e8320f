"""A labelled matplotlib figure of what a `CutoutViewer` shows, for `CutoutViewer.save`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter.widgets.stamp_display import detection_text, levels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fink_cutout_jupyter.widgets.viewer import CutoutViewer


def stamps_figure(viewer: CutoutViewer) -> Figure:
    """Three stamps with the viewer's cuts, stretch and colormaps, a colorbar under each (ticks in
    the stamp's unit), the alert in the title and the orientation below."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.figure import Figure

    kinds = [kind for kind in viewer.stamps if kind not in viewer.broken]
    figure = Figure(figsize=(3.2 * max(len(kinds), 1), 3.9), layout="constrained")
    axes = figure.subplots(1, max(len(kinds), 1), squeeze=False)[0]
    for axis, kind in zip(axes, kinds, strict=False):
        low, high = viewer.cuts_of(kind)
        axis.imshow(viewer.rgb(kind), interpolation="nearest")
        axis.set_title(kind)
        axis.set_xticks([])
        axis.set_yticks([])
        symmetric = kind == "Difference" and viewer.difference_symmetric
        ramp = np.linspace(low, high, 256)
        shown = levels(ramp, viewer.stretch, [low, high], symmetric)
        colormap = viewer.difference_colormap if kind == "Difference" else viewer.colormap
        table = ListedColormap(figure_colours(shown, colormap))
        bar = figure.colorbar(
            ScalarMappable(Normalize(low, high), table), ax=axis, orientation="horizontal"
        )
        unit = str(viewer.stamps[kind].header.get("BUNIT", "")).strip()
        bar.set_label(unit)
    record = viewer.alert_record or {}
    title = f"{viewer.object_id} · alert {record.get('alertId', '?')} · {record.get('date', '')}"
    detection = detection_text(record.get("isdiffpos"))
    figure.suptitle(f"{title}\n{viewer.stretch} stretch, {viewer.interval} cuts · {detection}")
    figure.text(0.5, -0.02, viewer.panels.orientation, ha="center", va="top", wrap=True, size=7)
    return figure


def figure_colours(shown: np.ndarray, colormap: str) -> np.ndarray:
    """The colours of levels in [0, 1] as matplotlib takes them (N, 3) floats."""
    from fink_cutout_jupyter.widgets.stamp_display import coloured

    return coloured(shown[None, :], colormap)[0] / 255.0
