"""LightCurve: an object's detections (and upper limits) drawn in the browser beside its stamps."""

from __future__ import annotations

import dataclasses
from typing import Any

import anywidget
import numpy as np
import traitlets

from fink_cutout_jupyter.locations import JD_OF_UNIX_EPOCH, JD_OF_ZERO
from fink_cutout_jupyter.surveys import MARKERS, Survey
from fink_cutout_jupyter.widgets.assets import STATIC, bundled_module

# What the browser needs to turn a Julian date into a date and an MJD (it has no constants).
TIME_ORIGINS = {"jd_of_mjd_zero": JD_OF_ZERO["mjd"], "jd_of_unix_epoch": JD_OF_UNIX_EPOCH}
# The survey's marker names in matplotlib's spelling (the static fallback).
_MATPLOTLIB_MARKERS = dict(zip(MARKERS, ("o", "s", "D", "^"), strict=True))


class LightCurve(anywidget.AnyWidget):
    """Magnitude (or flux) against time, a colour and marker per filter (``static/lightcurve.js``).

    The browser draws with the survey's data (`styles`, `time_origins`) and hard-codes none.
    Alert ids travel as text: Rubin's exceed the integers a browser holds exactly.
    """

    _esm = bundled_module("lightcurve.js")
    _css = STATIC / "lightcurve.css"

    points = traitlets.List(traitlets.Dict(), help="see `light_curve_points`").tag(sync=True)
    limits = traitlets.List(traitlets.Dict(), help="jd, filter, limit").tag(sync=True)
    unit = traitlets.Unicode("mag").tag(sync=True)
    styles = traitlets.Dict(help="filter -> {colour, marker}: see `filter_styles`").tag(sync=True)
    time_origins = traitlets.Dict(TIME_ORIGINS, help="Julian dates of MJD 0 and 1970").tag(
        sync=True
    )
    shown = traitlets.Unicode("", help="the alert shown, ringed").tag(sync=True)
    clicked = traitlets.Unicode("", help="the alert the user clicked").tag(sync=True)


def filter_styles(survey: Survey) -> dict[str, dict[str, str]]:
    """The survey's `FilterStyle` of each filter, as `LightCurve.styles` takes them."""
    return {name: dataclasses.asdict(style) for name, style in survey.filter_styles.items()}


def light_curve_points(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The detections of `CutoutClient.alerts` as the light curve takes them (no magnitude: left
    out)."""
    points = []
    for alert in alerts:
        magnitude = alert.get("magnitude")
        if magnitude is None or not np.isfinite(magnitude):
            continue
        error = alert.get("magnitude_error")
        points.append(
            {
                "alertId": str(alert["alertId"]),
                "jd": float(alert["jd"]),
                "filter": str(alert.get("filter") or "?"),
                "magnitude": float(magnitude),
                "error": float(error) if error is not None and np.isfinite(error) else 0.0,
            }
        )
    return points


def light_curve_rgb(
    points: list[dict],
    limits: list[dict],
    unit: str,
    width: int,
    styles: dict[str, dict[str, str]] | None = None,
) -> np.ndarray:
    """The light curve as an (H, `width`, 3) uint8 image with matplotlib (the static fallback).

    `styles` are `LightCurve.styles`: a filter without one is drawn in matplotlib's next colour.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    styles = styles or {}
    mjd_zero = TIME_ORIGINS["jd_of_mjd_zero"]
    figure = Figure(figsize=(width / 100, 1.6), dpi=100, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axis = figure.subplots()
    for name in sorted({p["filter"] for p in points}):
        chosen = [p for p in points if p["filter"] == name]
        style = styles.get(name, {})
        axis.errorbar(
            [p["jd"] - mjd_zero for p in chosen],
            [p["magnitude"] for p in chosen],
            [p["error"] for p in chosen],
            fmt=_MATPLOTLIB_MARKERS.get(style.get("marker", ""), "o"),
            ms=3,
            color=style.get("colour"),
            label=name,
        )
    for limit in limits:
        colour = styles.get(limit.get("filter", ""), {}).get("colour", "0.4")
        axis.plot(limit["jd"] - mjd_zero, limit["limit"], "v", mfc="none", color=colour, ms=4)
    if unit == "mag":
        axis.invert_yaxis()
    axis.set_xlabel("MJD", fontsize=7)
    axis.set_ylabel(unit, fontsize=7)
    axis.tick_params(labelsize=6)
    if points:
        axis.legend(fontsize=6, loc="best")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
