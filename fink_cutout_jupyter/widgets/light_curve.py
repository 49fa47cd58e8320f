"""LightCurve: an object's history (detections, forced photometry, upper limits) drawn in the
browser beside its stamps, from the /api/v1/history body (`CutoutClient.history`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from typing import Any

import anywidget
import numpy as np
import traitlets

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.contract.replies import no_route_reply
from fink_cutout_jupyter.locations import JD_OF_UNIX_EPOCH, JD_OF_ZERO
from fink_cutout_jupyter.surveys import MARKERS, SURVEYS, ZTF, Survey
from fink_cutout_jupyter.widgets.assets import STATIC, bundled_module

# What the browser needs to turn a Julian date into a date and an MJD (it has no constants).
TIME_ORIGINS = {"jd_of_mjd_zero": JD_OF_ZERO["mjd"], "jd_of_unix_epoch": JD_OF_UNIX_EPOCH}
# The survey's marker names in matplotlib's spelling (the static fallback).
_MATPLOTLIB_MARKERS = dict(zip(MARKERS, ("o", "s", "D", "^"), strict=True))
# The kinds of a history point (DESIGN of /api/v1/history): `points` holds the first two.
DETECTION, FORCED, UPPER_LIMIT = "detection", "forced", "upper_limit"


class LightCurve(anywidget.AnyWidget):
    """Magnitude or flux against time, a colour and marker per filter (``static/lightcurve.js``).

    Detections are filled markers (a click on one whose alert is in the index opens it), forced
    photometry hollow ones (Rubin), upper limits open triangles (ZTF); fluxes are drawn with
    their zero line, magnitudes on an inverted axis. The browser draws with the survey's data
    (`styles`, `time_origins`) and hard-codes none. Alert ids travel as text: Rubin's exceed the
    integers a browser holds exactly.
    """

    _esm = bundled_module("lightcurve.js")
    _css = STATIC / "lightcurve.css"

    points = traitlets.List(traitlets.Dict(), help="see `history_points`").tag(sync=True)
    limits = traitlets.List(traitlets.Dict(), help="jd, time, filter, limit").tag(sync=True)
    unit = traitlets.Unicode("mag").tag(sync=True)
    styles = traitlets.Dict(help="filter -> {colour, marker}: see `filter_styles`").tag(sync=True)
    time_origins = traitlets.Dict(TIME_ORIGINS, help="Julian dates of MJD 0 and 1970").tag(
        sync=True
    )
    note = traitlets.Unicode("", help="what the curve lacks and why, shown under it").tag(sync=True)
    shown = traitlets.Unicode("", help="the alert shown, ringed").tag(sync=True)
    clicked = traitlets.Unicode("", help="the alert the user clicked").tag(sync=True)

    @traitlets.observe("shown")
    def _forget_an_older_click(self, change) -> None:
        # Another alert shown: a click on the one clicked before must be a change again.
        if change["new"] != self.clicked:
            self.clicked = ""

    def show_history(self, history: dict[str, Any]) -> None:
        """Draw an object's history: a /api/v1/history body (`CutoutClient.history`), or one
        `alerts_history` made."""
        points, limits = history_points(history)
        with self.hold_sync():  # one message, one drawing
            self.unit = str(history.get("unit") or "mag")
            self.points = points
            self.limits = limits
            self.note = history_note(history)


def filter_styles(survey: Survey) -> dict[str, dict[str, str]]:
    """The survey's `FilterStyle` of each filter, as `LightCurve.styles` takes them."""
    return {name: dataclasses.asdict(style) for name, style in survey.filter_styles.items()}


def history_points(history: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The points of a /api/v1/history body as `LightCurve.points` and `LightCurve.limits`.

    Parameters
    ----------
    history
        The body: ``unit`` and ``points`` (each with ``kind``, ``mjd``, ``time``, ``band``,
        ``value``, ``error``, ``alertId``, ``indexed``), oldest first.

    Returns
    -------
    points : list of dict
        The detections and forced photometry with a finite value: ``kind`` (``detection`` or
        ``forced``), ``alertId`` (text; empty for forced photometry), ``indexed`` (its stamps
        can be opened), ``jd``, ``time`` (ISO 8601 UTC), ``filter``, ``magnitude`` (the value
        in the body's unit: a magnitude or a flux) and ``error`` (0 when unknown).
    limits : list of dict
        The upper limits: ``jd``, ``time``, ``filter``, ``limit``.

    A point without a finite time or value is drawn nowhere, so left out.
    """
    mjd_zero = JD_OF_ZERO["mjd"]
    points: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    for point in history.get("points") or []:
        mjd, value = _finite(point.get("mjd")), _finite(point.get("value"))
        if mjd is None or value is None:
            continue
        jd, time, band = mjd + mjd_zero, str(point.get("time") or ""), str(point.get("band"))
        if point.get("kind") == UPPER_LIMIT:
            limits.append({"jd": jd, "time": time, "filter": band, "limit": value})
            continue
        forced = point.get("kind") == FORCED
        alert_id = point.get("alertId")
        points.append(
            {
                "kind": FORCED if forced else DETECTION,
                "alertId": "" if forced or alert_id is None else str(alert_id),
                "indexed": bool(point.get("indexed")) and not forced,
                "jd": jd,
                "time": time,
                "filter": band,
                "magnitude": value,
                "error": _finite(point.get("error")) or 0.0,
            }
        )
    return points, limits


def history_note(history: dict[str, Any]) -> str:
    """What a history body lacks, for people: its ``note``, or that the latest alert's row could
    not be read (``historyRead`` false: the index's detections only)."""
    if history.get("note"):
        return str(history["note"])
    if history.get("historyRead") is False:
        return "the latest alert's history could not be read: the index's detections only"
    return ""


def alerts_history(
    alerts: list[dict[str, Any]], limits: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A history body from the index's alerts (`CutoutClient.alerts`) and upper limits
    (`CutoutClient.upper_limits`), for a server without /api/v1/history.

    An alert or a limit without a finite time (``jd`` null: /alerts lists such an alert last)
    is left out, as the history leaves out a point without a finite time.
    """
    mjd_zero = JD_OF_ZERO["mjd"]
    points = [
        {
            "kind": DETECTION,
            "mjd": jd - mjd_zero,
            "time": alert.get("date"),
            "band": str(alert.get("filter") or "?"),
            "value": alert.get("magnitude"),
            "error": alert.get("magnitude_error"),
            "alertId": str(alert["alertId"]),
            "indexed": True,
        }
        for alert in alerts
        if (jd := _finite(alert.get("jd"))) is not None
    ]
    points += [
        {
            "kind": UPPER_LIMIT,
            "mjd": jd - mjd_zero,
            "time": limit.get("date"),
            "band": str(limit.get("filter") or "?"),
            "value": limit.get("limit"),
            "error": None,
            "alertId": None,
            "indexed": False,
        }
        for limit in limits or []
        if (jd := _finite(limit.get("jd"))) is not None
    ]
    latest = alerts[-1] if alerts else {}
    survey = SURVEYS.get(str(latest.get("survey")), ZTF)
    unit = latest.get("magnitude_unit") or survey.magnitude_unit
    return {"unit": unit, "points": sorted(points, key=lambda p: p["mjd"])}


def client_history(
    client: CutoutClient,
    alerts: list[dict[str, Any]],
    object_id: str | int | None = None,
    *,
    ss_object_id: str | int | None = None,
) -> dict[str, Any]:
    """The object's history as the server gives it (`CutoutClient.history`), else from its
    `alerts` (`alerts_history`), with a ``note`` saying why.

    A server without the route (an older one: the contract's no-route 404, `no_route_reply`)
    gives the alerts and its upper limits (the /api/v1/limits route) as before; any other
    refusal (e.g. a 404 of an unknown object or a missing file, a 503) the alerts alone, its
    reason in the note, since the stamps may still be shown.
    """
    try:
        return client.history(object_id, ss_object_id=ss_object_id)
    except CutoutClientError as error:
        if not no_such_route(error, "history"):
            return {**alerts_history(alerts), "note": f"no history ({error.text})"}
    limits: list[dict[str, Any]] = []
    if object_id is not None:
        with contextlib.suppress(CutoutClientError):  # no /limits either
            limits = client.upper_limits(object_id)
    note = "the server has no /api/v1/history: the index's detections (and upper limits) only"
    return {**alerts_history(alerts, limits), "note": note}


def no_such_route(error: CutoutClientError, route: str) -> bool:
    """Whether `error` is a server's answer that it has no `route` (`no_route_reply`: 404,
    ``no route 'history'; routes: ...``), and not a 404 of something the route did not find."""
    text = json.loads(no_route_reply(route).body)["text"]
    return error.status == 404 and error.text.split(";")[0] == text.split(";")[0]


def light_curve_points(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The detections of `CutoutClient.alerts` as `LightCurve.points` takes them (no magnitude:
    left out)."""
    return history_points(alerts_history(alerts))[0]


def _finite(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def light_curve_rgb(
    points: list[dict],
    limits: list[dict],
    unit: str,
    width: int,
    styles: dict[str, dict[str, str]] | None = None,
) -> np.ndarray:
    """The light curve as an (H, `width`, 3) uint8 image with matplotlib (the static fallback).

    Drawn as the browser draws it: `LightCurve.points` (detections filled, forced photometry
    hollow), `limits` (open triangles), the zero line of a flux, magnitudes
    inverted. `styles` are `LightCurve.styles`: a filter without one is drawn in matplotlib's
    next colour.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    styles = styles or {}
    mjd_zero = TIME_ORIGINS["jd_of_mjd_zero"]
    figure = Figure(figsize=(width / 100, 1.6), dpi=100, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axis = figure.subplots()
    if unit != "mag":
        axis.axhline(0.0, color="0.55", lw=0.8, ls="--", zorder=0)
    for number, name in enumerate(sorted({p["filter"] for p in points})):
        style = styles.get(name, {})
        colour = style.get("colour") or f"C{number}"
        shape = _MATPLOTLIB_MARKERS.get(style.get("marker", ""), "o")
        labelled = False
        for kind in (DETECTION, FORCED):
            chosen = [p for p in points if p["filter"] == name and p.get("kind", DETECTION) == kind]
            if not chosen:
                continue
            forced = kind == FORCED
            axis.errorbar(
                [p["jd"] - mjd_zero for p in chosen],
                [p["magnitude"] for p in chosen],
                [p["error"] for p in chosen],
                fmt=shape,
                ms=3.5,
                mfc="none" if forced else colour,
                mew=1.0,
                elinewidth=0.6 if forced else 1.0,
                color=colour,
                label=None if labelled else name,
                zorder=1 if forced else 2,
            )
            labelled = True
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
