"""CutoutViewer: an alert's Science, Template and Difference stamps side by side, in a notebook."""

from __future__ import annotations

import base64
import datetime as dt
import html
from functools import lru_cache
from typing import Any

import ipywidgets as widgets

from .client import CutoutClient, CutoutClientError
from .errors import CorruptData
from .render import INTERVALS, STRETCHES, RenderOptions, encode_png, side_by_side, to_rgb
from .stamps import Stamp, to_multi_extension_fits
from .surveys import KINDS

COLORMAPS = ("gray", "Greys", "viridis", "magma", "inferno", "cividis", "plasma", "hot", "coolwarm")
_STYLE = (
    "<style>img.fink-stamp {image-rendering: pixelated; object-fit: contain; "
    "border: 1px solid #888; background: #fff}</style>"
)


def alert_label(alert: dict[str, Any]) -> str:
    """One line naming an alert in the alert list: date, filter, magnitude."""
    date = dt.datetime.fromisoformat(alert["date"]).strftime("%Y-%m-%d %H:%M")
    magnitude = alert.get("magnitude")
    shown = f"{magnitude:.2f}" if isinstance(magnitude, float) else "?"
    unit = alert.get("magnitude_unit", "")
    return f"{date} UTC · {alert.get('filter', '?')} · {shown} {unit}".strip()


def alert_title(object_id: str, alert: dict[str, Any]) -> str:
    """HTML heading of the viewer: object, date, filter, magnitude ± error, position (escaped)."""
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
        f"<b>{html.escape(str(object_id))}</b>",
        f"alert {html.escape(str(alert['alertId']))}",
        f"{date} UTC",
        f"filter {html.escape(str(alert.get('filter', '?')))}",
        html.escape(brightness),
        html.escape(position),
    ]
    return " · ".join(part for part in parts if part)


def download_link(data: bytes, filename: str, label: str) -> str:
    """An ``<a download>`` link carrying `data` as a data URI (works without a server)."""
    encoded = base64.b64encode(data).decode()
    name = html.escape(filename, quote=True)
    return (
        f'<a download="{name}" href="data:application/fits;base64,{encoded}" '
        f'title="{name}" class="fink-download">{html.escape(label)}</a>'
    )


@lru_cache(maxsize=1)
def _error_tile() -> bytes:
    """A grey tile in place of a stamp that cannot be shown (its reason is written under it)."""
    import numpy as np

    return encode_png(np.full((63, 63, 3), 200, dtype=np.uint8))


def error_box(text: str) -> str:
    """A readable error inside the widget."""
    return f'<div class="fink-error" style="color:#b00020">⚠ {html.escape(text)}</div>'


class CutoutViewer(widgets.VBox):
    """Science, Template and Difference stamps of an object's alerts, with controls.

    Parameters
    ----------
    object_id : str or int
        E.g. ``"ZTF24abssjsb"``.
    candid : int, optional
        Open on this alert (default: the latest).
    client : CutoutClient, optional
        Where the cutouts come from (default: `CutoutClient()`, which finds this notebook's
        Jupyter server, or reads ``FINK_CUTOUTS_LAKE`` in-process).
    size : int
        Displayed size of each stamp in pixels (the browser upscales without smoothing).
    stretch, interval, pmin, pmax, colormap, flip
        Initial rendering (see `RenderOptions`).
    """

    def __init__(
        self,
        object_id: str | int,
        candid: int | None = None,
        client: CutoutClient | None = None,
        size: int = 240,
        stretch: str = "asinh",
        interval: str = "percentile",
        pmin: float = 0.5,
        pmax: float = 99.5,
        colormap: str = "gray",
        flip: bool = False,
    ) -> None:
        self.object_id = object_id
        self.alerts: list[dict[str, Any]] = []
        self.stamps: dict[str, Stamp] = {}
        self.broken: dict[str, str] = {}  # kind -> why its stamp cannot be shown
        self._cache: dict[int, dict[str, Stamp]] = {}
        self.message = widgets.HTML()
        self.title = widgets.HTML()
        self.images = {kind: widgets.Image(format="png", width=size, height=size) for kind in KINDS}
        self.downloads = {kind: widgets.HTML() for kind in KINDS}
        self.download_all = widgets.HTML()
        for image in self.images.values():
            image.add_class("fink-stamp")
        columns = [
            widgets.VBox([widgets.HTML(f"<b>{kind}</b>"), self.images[kind], self.downloads[kind]])
            for kind in KINDS
        ]
        self.stretch = widgets.Dropdown(options=STRETCHES, value=stretch, description="stretch")
        self.interval = widgets.Dropdown(options=INTERVALS, value=interval, description="interval")
        self.percentiles = widgets.FloatRangeSlider(
            value=(pmin, pmax), min=0, max=100, step=0.05, description="percentiles"
        )
        names = COLORMAPS if colormap in COLORMAPS else (colormap, *COLORMAPS)
        self.colormap = widgets.Dropdown(options=names, value=colormap, description="colormap")
        self.flip = widgets.Checkbox(value=flip, description="row 0 at bottom")
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous alert")
        self.next_button = widgets.Button(description="next ▶", tooltip="next alert")
        self.alert_list = widgets.Dropdown(description="alert", layout=widgets.Layout(width="28em"))
        for control in (self.stretch, self.interval, self.percentiles, self.colormap, self.flip):
            control.observe(lambda _: self.render(), names="value")
        self.previous_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        self.alert_list.observe(self._on_alert_chosen, names="value")
        super().__init__(
            [
                widgets.HTML(_STYLE),
                self.title,
                widgets.HBox(columns),
                widgets.HBox([self.previous_button, self.alert_list, self.next_button]),
                widgets.HBox([self.stretch, self.interval, self.percentiles]),
                widgets.HBox([self.colormap, self.flip, self.download_all]),
                self.message,
            ]
        )
        self.add_class("fink-cutout-viewer")
        try:
            self.client = client or CutoutClient()
            alerts = self.client.alerts(object_id)
        except CutoutClientError as error:
            self._show_error(error.text)
            return
        start = candid if candid is not None else alerts[-1]["alertId"]
        if start not in {a["alertId"] for a in alerts}:
            self._show_error(f"alert {candid} is not an alert of {object_id}")
            return
        self.alert_list.options = [(alert_label(a), a["alertId"]) for a in alerts]
        self.alerts = alerts
        self.show_alert(start)

    @property
    def options(self) -> RenderOptions:
        """The rendering chosen by the controls."""
        return RenderOptions(
            stretch=self.stretch.value,
            interval=self.interval.value,
            pmin=self.percentiles.value[0],
            pmax=self.percentiles.value[1],
            colormap=self.colormap.value,
            flip=self.flip.value,
        )

    @property
    def alert(self) -> dict[str, Any] | None:
        """The alert shown."""
        return next((a for a in self.alerts if a["alertId"] == self.alert_list.value), None)

    def show_alert(self, candid: int) -> None:
        """Show one of the object's alerts (stamps fetched once, then kept)."""
        if self.alert_list.value != candid:
            self.alert_list.value = candid  # the list's observer shows it
        else:
            self._display(candid)

    def _fetch(self, candid: int) -> dict[str, Stamp | str]:
        """Each kind's stamp, or the text of why it is unreadable (a corrupt stamp: HTTP 502)."""
        found: dict[str, Stamp | str] = {}
        for kind in KINDS:
            try:
                found[kind] = Stamp(kind, self.client.fits_bytes(self.object_id, candid, kind))
            except CutoutClientError as error:
                if error.status != CorruptData.status:
                    raise
                found[kind] = error.text
        return found

    def _display(self, candid: int) -> None:
        try:
            if candid not in self._cache:
                self._cache[candid] = self._fetch(candid)
        except CutoutClientError as error:
            self._show_error(error.text)
            return
        fetched = self._cache[candid]
        self.stamps = {kind: got for kind, got in fetched.items() if isinstance(got, Stamp)}
        self.broken = {kind: got for kind, got in fetched.items() if isinstance(got, str)}
        position = [a["alertId"] for a in self.alerts].index(candid)
        self.previous_button.disabled = position == 0
        self.next_button.disabled = position == len(self.alerts) - 1
        self.title.value = alert_title(str(self.object_id), self.alert)
        for kind, stamp in self.stamps.items():
            self.downloads[kind].value = download_link(
                stamp.fits_bytes, self._filename(kind), "⬇ FITS"
            )
        for kind, text in self.broken.items():
            self.downloads[kind].value = error_box(f"{kind}: {text}")
        everything = to_multi_extension_fits(
            self.stamps, self.object_id, candid, self.alert["jd"], "jd"
        )
        self.download_all.value = download_link(
            everything, self._filename("All"), "⬇ all three (multi-extension FITS)"
        )
        self.message.value = ""
        self.render()

    def next(self) -> None:
        """Show the next alert in time."""
        self._step(+1)

    def previous(self) -> None:
        """Show the previous alert in time."""
        self._step(-1)

    def render(self) -> None:
        """Redraw the stamps from the pixels already in the kernel (no request)."""
        self.percentiles.disabled = self.interval.value != "percentile"
        options = self.options
        for kind, stamp in self.stamps.items():
            try:
                self.images[kind].value = encode_png(to_rgb(stamp.data, options))
            except CorruptData as error:  # bytes that came whole but do not decode
                self.broken[kind] = str(error)
                self.downloads[kind].value = error_box(f"{kind}: {error}")
        for kind in self.broken:
            self.images[kind].value = _error_tile()

    def png(self) -> bytes:
        """The three stamps as shown, side by side, as one PNG."""
        options = self.options
        readable = [s for kind, s in self.stamps.items() if kind not in self.broken]
        return encode_png(side_by_side([to_rgb(s.data, options) for s in readable]))

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.stamps:
            bundle["image/png"] = base64.b64encode(self.png()).decode()
        return bundle

    def _step(self, offset: int) -> None:
        ids = [a["alertId"] for a in self.alerts]
        if self.alert_list.value in ids:
            position = ids.index(self.alert_list.value) + offset
            if 0 <= position < len(ids):
                self.show_alert(ids[position])

    def _on_alert_chosen(self, change) -> None:
        if change["new"] is not None and self.alerts:
            self._display(change["new"])

    def _filename(self, kind: str) -> str:
        return f"{self.object_id}_{self.alert_list.value}_{kind}.fits"

    def _show_error(self, text: str) -> None:
        self.message.value = error_box(text)
