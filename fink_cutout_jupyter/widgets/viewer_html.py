"""The HTML pieces of CutoutViewer: alert labels and titles, download links, links out, errors."""

from __future__ import annotations

import base64
import datetime as dt
import html
from typing import Any

from fink_cutout_jupyter.widgets.stamp_display import detection_text

_LINK_STYLE = "color: var(--jp-content-link-color, #1a73e8); text-decoration: underline"


def alert_label(alert: dict[str, Any]) -> str:
    """One line naming an alert in the alert list: date, filter, magnitude."""
    date = dt.datetime.fromisoformat(alert["date"]).strftime("%Y-%m-%d %H:%M")
    magnitude = alert.get("magnitude")
    shown = f"{magnitude:.2f}" if isinstance(magnitude, float) else "?"
    unit = alert.get("magnitude_unit", "")
    return f"{date} UTC · {alert.get('filter', '?')} · {shown} {unit}".strip()


def solar_system_id(alert: dict[str, Any]) -> str | None:
    """The alert's solar-system object id (``ssObjectId`` in /alerts, ``ss_object_id`` in an
    index's properties), or None."""
    value = alert.get("ssObjectId", alert.get("ss_object_id"))
    return None if value in (None, "", "0", 0) else str(value)


def object_name(object_id: str | int | None, alert: dict[str, Any]) -> str:
    """The object as the heading names it (HTML): its id, or "Solar-system object <designation>
    · ssObjectId <id>" for an alert of a solar-system object (its diaObjectId, if any, after)."""
    ss_object_id = solar_system_id(alert)
    if ss_object_id is None:
        return f"<b>{html.escape(str(object_id))}</b>"
    designation = alert.get("designation")
    named = f" {html.escape(str(designation))}" if designation else ""
    parts = [f"<b>Solar-system object{named}</b>", f"ssObjectId {html.escape(ss_object_id)}"]
    if object_id not in (None, "", "0", 0):
        parts.append(f"diaObjectId {html.escape(str(object_id))}")
    return " · ".join(parts)


def alert_title(object_id: str | int | None, alert: dict[str, Any]) -> str:
    """HTML heading of the viewer: object (`object_name`), date, filter, magnitude ± error,
    position, detection sign (escaped)."""
    error = alert.get("magnitude_error")
    magnitude = alert.get("magnitude")
    brightness = (
        f"{magnitude:.2f} ± {error:.2f} {alert.get('magnitude_unit', '')}"
        if isinstance(magnitude, float) and isinstance(error, float)
        else "?"
    )
    date = dt.datetime.fromisoformat(alert["date"]).strftime("%Y-%m-%d %H:%M:%S")
    position = f"ra {alert['ra']:.6f}°, dec {alert['dec']:+.6f}°" if "ra" in alert else ""
    parts = [
        object_name(object_id, alert),
        f"alert {html.escape(str(alert['alertId']))}",
        f"{date} UTC",
        f"filter {html.escape(str(alert.get('filter', '?')))}",
        html.escape(brightness),
        html.escape(position),
        html.escape(detection_text(alert.get("isdiffpos"))),
    ]
    return " · ".join(part for part in parts if part)


def download_link(data: bytes, filename: str, label: str) -> str:
    """An ``<a download>`` link carrying `data` as a data URI (works without a server)."""
    encoded = base64.b64encode(data).decode()
    name = html.escape(filename, quote=True)
    return (
        f'<a download="{name}" href="data:application/fits;base64,{encoded}" '
        f'title="{name}" class="fink-download" style="{_LINK_STYLE}">{html.escape(label)}</a>'
    )


def links_html(links: dict[str, str]) -> str:
    """Plain links out, opening in a new tab (nothing is fetched)."""
    return " · ".join(
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer" '
        f'class="fink-link" style="{_LINK_STYLE}">{html.escape(name)} ↗</a>'
        for name, url in links.items()
    )


def error_box(text: str) -> str:
    """A readable error inside the widget."""
    return f'<div class="fink-error" style="color:#b00020">⚠ {html.escape(text)}</div>'
