"""A labelled matplotlib figure of stamps as a viewer shows them (for `CutoutViewer.save`), made
from plain data: each stamp's pixels, cuts, colormap and stretch, the alert's position (reticle)
and pixel scale (scale bar), the title, the orientation; and the reticle and scale bar drawn on
an image of a stamp (`with_overlays`, for the static fallback).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from fink_cutout_jupyter.cutouts.render import coloured, level_scale, stretch_scale
from fink_cutout_jupyter.widgets.stamp_display import (
    OVERLAY_COLOURS,
    arcsec_label,
    detection_text,
    scale_bar_arcsec,
)

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
    stretch : str or astropy stretch, optional
        Its stretch (default: the figure's): a `cutouts.render.STRETCHES` name, or an astropy
        `~astropy.visualization.BaseStretch` applied after the cuts.
    alert_position : [column, row], optional
        Where the reticle goes, pixel ``c`` spanning ``c`` to ``c + 1`` (`alert_pixel`).
    arcsec_per_pixel : float, optional
        The scale bar's scale.
    markers : sequence of FigureMarkers
        Catalogs drawn on the stamp (0-based pixel centres, as `images_figure` takes them).
    error : str
        Why the stamp cannot be shown (`missing`): its panel is left empty but for this text.
    """

    kind: str
    pixels: np.ndarray
    cuts: Sequence[float]
    colormap: str
    symmetric: bool = False
    unit: str = ""
    stretch: Any = None
    alert_position: Sequence[float] | None = None
    arcsec_per_pixel: float | None = None
    markers: Sequence[FigureMarkers] = ()
    error: str = ""

    @classmethod
    def missing(cls, kind: str, error: str) -> FigureStamp:
        """A stamp that cannot be shown (a corrupt one): an empty panel titled `kind`, `error`
        written in it."""
        return cls(kind, np.empty((0, 0)), (0.0, 1.0), "gray", error=error or "not readable")


def stamps_figure(
    stamps: Sequence[FigureStamp],
    stretch: str,
    title: str,
    orientation: str = "",
    flip: bool = False,
    reticle: bool = True,
    scale_bar: bool = True,
) -> Figure:
    """The stamps side by side, coloured as the viewer shows them (`cutouts.render`'s levels and
    colours), a colorbar under each (ticks in the stamp's unit), `title` above and `orientation`
    below; `flip` puts row 0 at the bottom; the reticle on the alert's position and a scale bar
    in arcsec where the stamps give them."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2 * max(len(stamps), 1), 3.9), layout="constrained")
    axes = figure.subplots(1, max(len(stamps), 1), squeeze=False)[0]
    for axis, stamp in zip(axes, stamps, strict=False):
        if stamp.error:
            _missing_panel(axis, stamp)
            continue
        chosen = stamp.stretch or stretch
        if isinstance(chosen, str):
            scale = level_scale(stamp.pixels, chosen, stamp.cuts, stamp.symmetric)
        else:  # an astropy stretch the image-display API set (CutoutViewer.set_stretch)
            scale = stretch_scale(stamp.cuts, chosen)
        rgb = coloured(scale(stamp.pixels), stamp.colormap)
        axis.imshow(np.flipud(rgb) if flip else rgb, interpolation="nearest")
        height, width = stamp.pixels.shape
        if reticle and stamp.alert_position is not None:
            _reticle(axis, stamp.alert_position, width, height, flip)
        if scale_bar and stamp.arcsec_per_pixel:
            _scale_bar(axis, stamp.arcsec_per_pixel, width)
        for markers in stamp.markers:
            if flip:  # the rows were flipped, not the axis
                markers = replace(markers, y=height - 1 - np.asarray(markers.y))
            _draw_markers(axis, markers)
        if stamp.markers:
            axis.set_xlim(-0.5, width - 0.5)
            axis.set_ylim(height - 0.5, -0.5)
        _titled_with_colorbar(
            figure, axis, stamp.kind, scale, stamp.cuts, stamp.colormap, stamp.unit
        )
    figure.suptitle(title)
    figure.text(0.5, -0.02, orientation, ha="center", va="top", wrap=True, size=7)
    return figure


def _titled_with_colorbar(
    figure, axis, title: str, scale, cuts: Sequence[float], colormap: str, unit: str
) -> None:
    """A panel's title, no ticks, and a horizontal colorbar below it: the cuts' range through
    the panel's `scale` and colormap, labelled with the pixels' `unit`."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    low, high = cuts
    ramp = coloured(scale(np.linspace(low, high, 256)), colormap) / 255.0
    bar = figure.colorbar(
        ScalarMappable(Normalize(low, high), ListedColormap(ramp)),
        ax=axis,
        orientation="horizontal",
    )
    bar.set_label(unit)


def _missing_panel(axis, stamp: FigureStamp) -> None:
    """An empty square titled with the stamp's kind, the reason it is missing written in it."""
    import textwrap

    axis.set_title(f"{stamp.kind} (not shown)")
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_aspect("equal")
    axis.text(
        0.5,
        0.5,
        textwrap.fill(stamp.error, 34),
        ha="center",
        va="center",
        size=6,
        color="#a00000",
        transform=axis.transAxes,
    )


def _reticle(axis, position: Sequence[float], width: int, height: int, flip: bool) -> None:
    """Four ticks around the alert's position, in image coordinates (pixel centres whole)."""
    x = position[0] - 0.5
    y = (height - position[1] if flip else position[1]) - 0.5
    gap, reach = 0.06 * max(width, height), 0.18 * max(width, height)
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        axis.plot(
            [x + gap * dx, x + reach * dx],
            [y + gap * dy, y + reach * dy],
            color=OVERLAY_COLOURS["reticle"],
            linewidth=1.5,
            solid_capstyle="butt",
            path_effects=_outlined(3),
        )


def _scale_bar(axis, arcsec_per_pixel: float, width: int) -> None:
    """A bar of a round number of arcsec in the lower left (matplotlib's AnchoredSizeBar)."""
    from mpl_toolkits.axes_grid1.anchored_artists import (  # type: ignore[import-untyped]
        AnchoredSizeBar,
    )

    length = scale_bar_arcsec(width * arcsec_per_pixel)
    bar = AnchoredSizeBar(
        axis.transData,
        length / arcsec_per_pixel,
        arcsec_label(length),
        "lower left",
        color=OVERLAY_COLOURS["scale_bar"],
        frameon=False,
        size_vertical=width / 120,
        pad=0.3,
        sep=2,
    )
    bar.txt_label._text.set_path_effects(_outlined(2))
    axis.add_artist(bar)


def _outlined(width: float):
    from matplotlib import patheffects

    return [
        patheffects.Stroke(linewidth=width, foreground=OVERLAY_COLOURS["outline"]),
        patheffects.Normal(),
    ]


def with_overlays(
    image: np.ndarray,
    scale: int,
    alert_position: Sequence[float] | None,
    arcsec_per_pixel: float | None,
    flip: bool = False,
) -> np.ndarray:
    """A stamp's image (enlarged `scale` times, (H, W, 3) uint8) with the reticle on
    `alert_position` and a scale bar of `arcsec_per_pixel` (each left out when None), as the
    browser draws them (Pillow)."""
    from PIL import Image, ImageDraw

    if alert_position is None and not arcsec_per_pixel:
        return image
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    height, width = image.shape[0] / scale, image.shape[1] / scale
    outline = OVERLAY_COLOURS["outline"]
    if alert_position is not None:
        x = alert_position[0] * scale
        y = (height - alert_position[1] if flip else alert_position[1]) * scale
        gap, reach = round(max(4.0, 1.5 * scale)), round(max(10.0, 4.5 * scale))
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            line = [(x + gap * dx, y + gap * dy), (x + reach * dx, y + reach * dy)]
            draw.line(line, fill=outline, width=3)
            draw.line(line, fill=OVERLAY_COLOURS["reticle"], width=1)
    if arcsec_per_pixel:
        length = scale_bar_arcsec(width * arcsec_per_pixel)
        left, bottom = 4, image.shape[0] - 5
        right = left + length / arcsec_per_pixel * scale
        draw.rectangle([left - 1, bottom - 2, right + 1, bottom + 2], fill=outline)
        draw.rectangle([left, bottom - 1, right, bottom + 1], fill=OVERLAY_COLOURS["scale_bar"])
        label = arcsec_label(length).replace("″", '"')  # Pillow's default font has no ″
        draw.text(
            (left, bottom - 4),
            label,
            fill=OVERLAY_COLOURS["scale_bar"],
            anchor="ld",
            stroke_width=1,
            stroke_fill=outline,
        )
    return np.asarray(picture)


def figure_title(object_id: object, record: Mapping[str, Any], stretch: str, interval: str) -> str:
    """The object, the alert and its date, the stretch and cuts, the detection's sign."""
    alert = f"{object_id} · alert {record.get('alertId', '?')} · {record.get('date', '')}"
    detection = detection_text(record.get("isdiffpos"))
    return f"{alert}\n{stretch} stretch, {interval} cuts · {detection}"


# Matplotlib's markers for the image-display API's shapes; a crosshair is four ticks leaving the
# centre open, as the browser draws it (static/stamp_markers.js).
_CROSSHAIR_GAP = 1 / 3


@dataclass(frozen=True)
class FigureMarkers:
    """One catalog's markers on an image of `images_figure`.

    Parameters
    ----------
    x, y : numpy.ndarray
        0-based pixel centres of the image (astropy's convention); NaN is left out.
    shape : str
        ``circle``, ``square``, ``crosshair``, ``plus`` or ``diamond``.
    color : str
        A matplotlib (CSS) colour.
    size : float
        The half-width in screen pixels (the browser's CSS pixels, 1/96 inch).
    """

    x: np.ndarray
    y: np.ndarray
    shape: str
    color: str
    size: float


def panel_markers(entries: Sequence[Mapping[str, Any]], panel: str) -> list[FigureMarkers]:
    """The visible catalogs' markers on one panel, from a viewer's ``marker_entries()``.

    Parameters
    ----------
    entries : sequence of dict
        Entries as ``StampPanels.markers`` takes them: ``x``, ``y`` (little-endian float64
        bytes), ``shape``, ``color``, ``size``, ``visible`` and ``panels`` (None: every panel).
    panel : str
        The panel's label.

    Returns
    -------
    list of FigureMarkers
        One per visible entry shown on `panel`, in order.
    """
    return [
        FigureMarkers(
            np.frombuffer(entry["x"], dtype="<f8"),
            np.frombuffer(entry["y"], dtype="<f8"),
            entry["shape"],
            entry["color"],
            entry["size"],
        )
        for entry in entries
        if entry["visible"] and (entry["panels"] is None or panel in entry["panels"])
    ]


@dataclass(frozen=True)
class FigureImage:
    """One image of `images_figure`, as the image-display API holds it.

    Parameters
    ----------
    label : str
        Its title.
    pixels : numpy.ndarray
        2-D, row 0 first, NaN allowed.
    cuts : (low, high)
        The values mapped to 0 and 1 (clipped outside).
    stretch : callable
        An astropy stretch: ``stretch(values, clip=True)`` on [0, 1].
    colormap : str
        A matplotlib colormap name.
    unit : str
        The colorbar's label.
    center : (x, y), optional
        The viewport's centre in pixels (default: the image's).
    fov : float, optional
        The side of the square in view, in pixels (default: the whole image).
    markers : sequence of FigureMarkers
        Drawn over the image.
    """

    label: str
    pixels: np.ndarray
    cuts: Sequence[float]
    stretch: Any
    colormap: str
    unit: str = ""
    center: Sequence[float] | None = None
    fov: float | None = None
    markers: Sequence[FigureMarkers] = ()


def images_figure(images: Sequence[FigureImage], flip: bool = False) -> Figure:
    """Images side by side as `StampViewer` shows them: each at its cuts, stretch and colormap
    (`cutouts.render.coloured`'s 256 levels, NaN in magenta), its viewport, its catalogs'
    markers, a colorbar under each; `flip` puts row 0 at the bottom. No image: an empty
    figure."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2 * max(len(images), 1), 3.9), layout="constrained")
    axes = figure.subplots(1, max(len(images), 1), squeeze=False)[0]
    if not images:
        axes[0].set_axis_off()
        return figure
    for axis, image in zip(axes, images, strict=False):
        scale = stretch_scale(image.cuts, image.stretch)
        axis.imshow(
            coloured(scale(image.pixels), image.colormap),
            origin="lower" if flip else "upper",
            interpolation="nearest",
        )
        for markers in image.markers:
            _draw_markers(axis, markers)
        height, width = image.pixels.shape
        x, y = image.center if image.center is not None else ((width - 1) / 2, (height - 1) / 2)
        half = (image.fov if image.fov is not None else max(height, width)) / 2
        axis.set_xlim(x - half, x + half)
        axis.set_ylim((y - half, y + half) if flip else (y + half, y - half))
        _titled_with_colorbar(
            figure, axis, image.label, scale, image.cuts, image.colormap, image.unit
        )
    return figure


def _draw_markers(axis, markers: FigureMarkers) -> None:
    from matplotlib.path import Path

    shapes: dict[str, Any] = {"circle": "o", "square": "s", "diamond": "D", "plus": "+"}
    gap = _CROSSHAIR_GAP
    shapes["crosshair"] = Path(
        [(gap, 0), (1, 0), (-gap, 0), (-1, 0), (0, gap), (0, 1), (0, -gap), (0, -1)],
        [Path.MOVETO, Path.LINETO] * 4,
    )
    points = 2 * markers.size * 72 / 96  # the full width, CSS pixels to points
    axis.plot(
        markers.x,
        markers.y,
        linestyle="none",
        marker=shapes.get(markers.shape, "o"),
        markersize=points * (0.7 if markers.shape == "diamond" else 1.0),
        markerfacecolor="none",
        markeredgecolor=markers.color,
        markeredgewidth=1.5,
        path_effects=_outlined(3.5),
    )
