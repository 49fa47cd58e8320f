"""LightCurve: an object's detections (and upper limits) drawn in the browser beside its stamps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

STATIC = Path(__file__).parent / "static"


class LightCurve(anywidget.AnyWidget):
    """Magnitude (or flux) against time, a colour and marker per filter (``static/lightcurve.js``).

    Alert ids travel as text: Rubin's exceed the integers a browser holds exactly.
    """

    _esm = STATIC / "lightcurve.js"
    _css = STATIC / "lightcurve.css"

    points = traitlets.List(traitlets.Dict(), help="see `light_curve_points`").tag(sync=True)
    limits = traitlets.List(traitlets.Dict(), help="jd, filter, limit").tag(sync=True)
    unit = traitlets.Unicode("mag").tag(sync=True)
    shown = traitlets.Unicode("", help="the alert shown, ringed").tag(sync=True)
    clicked = traitlets.Unicode("", help="the alert the user clicked").tag(sync=True)


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


def light_curve_rgb(points: list[dict], limits: list[dict], unit: str, width: int) -> np.ndarray:
    """The light curve as an (H, `width`, 3) uint8 image with matplotlib (the static fallback)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / 100, 1.6), dpi=100, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axis = figure.subplots()
    colours = {"g": "#2ca02c", "r": "#d62728", "i": "#ff7f0e"}
    for name in sorted({p["filter"] for p in points}):
        chosen = [p for p in points if p["filter"] == name]
        axis.errorbar(
            [p["jd"] - 2400000.5 for p in chosen],
            [p["magnitude"] for p in chosen],
            [p["error"] for p in chosen],
            fmt="o",
            ms=3,
            color=colours.get(name),
            label=name,
        )
    for limit in limits:
        axis.plot(limit["jd"] - 2400000.5, limit["limit"], "v", mfc="none", color="0.4", ms=4)
    if unit == "mag":
        axis.invert_yaxis()
    axis.set_xlabel("MJD", fontsize=7)
    axis.set_ylabel(unit, fontsize=7)
    axis.tick_params(labelsize=6)
    if points:
        axis.legend(fontsize=6, loc="best")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
