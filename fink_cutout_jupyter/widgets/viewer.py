"""CutoutViewer: an alert's Science, Template and Difference stamps side by side, in a notebook."""

from __future__ import annotations

import base64
from typing import Any

import ipywidgets as widgets
import traitlets

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.cutouts.render import (
    coloured,
    encode_png,
    interval_cuts,
    levels,
    side_by_side,
)
from fink_cutout_jupyter.cutouts.stamps import Stamp, to_multi_extension_fits
from fink_cutout_jupyter.errors import CorruptData
from fink_cutout_jupyter.surveys import KINDS, SURVEYS, ZTF, Survey
from fink_cutout_jupyter.widgets.light_curve import (
    LightCurve,
    client_history,
    filter_styles,
    light_curve_rgb,
)
from fink_cutout_jupyter.widgets.stamp_display import (
    object_links,
    orientation_text,
    stamp_payload,
)
from fink_cutout_jupyter.widgets.stamp_panels import StampPanels, display_traits
from fink_cutout_jupyter.widgets.viewer_html import (
    alert_label,
    alert_title,
    download_link,
    error_box,
    links_html,
)

_LINKED = (
    "stretch",
    "difference_stretch",
    "interval",
    "pmin",
    "pmax",
    "colormap",
    "difference_colormap",
    "difference_symmetric",
    "share_cuts",
    "zoom",
    "center",
    "flip",
    "size",
    "reticle",
    "scale_bar",
)


class CutoutViewer(widgets.VBox):
    """Science, Template and Difference stamps of an object's alerts, drawn in the browser.

    Hover a stamp for the pixel's values and sky position; the mouse wheel or the buttons zoom
    (up to 16 times) about the pointer, drag pans, double-click resets: the three stamps always show
    the same region. Blink cycles Science and Template in the first panel (key ``b``).

    Parameters
    ----------
    object_id : str or int, optional
        E.g. ``"ZTF24abssjsb"``; or give `ss_object_id`.
    candid : int, optional
        Open on this alert (default: the latest).
    client : CutoutClient, optional
        Where the cutouts come from (default: `CutoutClient()`, which finds this notebook's
        Jupyter server, or reads ``FINK_CUTOUTS_LAKE`` in-process).
    size : {"small", "medium", "large"}
        Displayed size of each stamp.
    stretch, difference_stretch, interval, pmin, pmax, colormap, flip
        Initial rendering: a stretch of astropy.visualization (``linear``, ``sqrt``, ``log``,
        ``asinh``, ``power``) or Fink's ``sigmoid`` for Science and Template, and one for
        Difference; ``zscale``, ``percentile`` (between `pmin` and `pmax`), ``minmax`` or
        ``manual`` (the `cuts` you set); any matplotlib colormap for Science and Template; `flip`
        puts row 0 at the bottom. Stretches, interval and percentiles left ``None`` are the
        survey's (`Survey.stamp_display`): ZTF linear, linear, zscale; Rubin as Fink's portal
        shows it, asinh Science and Template, linear Difference, percentiles 0.5-99.95.
    ss_object_id : int or str, optional
        A solar-system object (Rubin's ``ssObjectId``) instead of `object_id`: its alerts.
    reticle, scale_bar : bool
        Mark the alert's position; draw a bar of a round number of arcseconds.

    Attributes
    ----------
    stretch, difference_stretch, interval, pmin, pmax, colormap, difference_colormap,
    difference_symmetric, share_cuts, zoom, center, flip, size, reticle, scale_bar : traits
        Set them to change the display, observe them to follow the user's changes
        (``viewer.observe(callback, names="zoom")``).
    cuts : dict
        ``{kind: [low, high]}`` in the stamps' unit, as shown. Setting it (a dict, or one
        ``(low, high)`` for every kind) switches `interval` to ``manual``.
    alert : int
        The alert shown (its ``candid`` / ``diaSourceId``); set it to show another.
    """

    stretch = traitlets.Unicode()
    difference_stretch = traitlets.Unicode()
    interval = traitlets.Unicode()
    pmin = traitlets.Float()
    pmax = traitlets.Float()
    colormap = traitlets.Unicode()
    difference_colormap = traitlets.Unicode()
    difference_symmetric = traitlets.Bool()
    share_cuts = traitlets.Bool()
    zoom = traitlets.Float()
    center: traitlets.List = traitlets.List()
    flip = traitlets.Bool()
    size = traitlets.Unicode()
    reticle = traitlets.Bool()
    scale_bar = traitlets.Bool()
    cuts = traitlets.Any({})
    alert = traitlets.Int(None, allow_none=True)

    def __init__(
        self,
        object_id: str | int | None = None,
        candid: int | None = None,
        client: CutoutClient | None = None,
        size: str = "medium",
        stretch: str | None = None,
        interval: str | None = None,
        pmin: float | None = None,
        pmax: float | None = None,
        colormap: str = "gray",
        flip: bool = False,
        *,
        difference_stretch: str | None = None,
        ss_object_id: int | str | None = None,
        reticle: bool = True,
        scale_bar: bool = True,
    ) -> None:
        if (object_id is None) == (ss_object_id is None):
            raise ValueError("give object_id or ss_object_id (one of them)")
        self.object_id = object_id
        self.ss_object_id = ss_object_id
        given = {
            "stretch": stretch,
            "difference_stretch": difference_stretch,
            "interval": interval,
            "pmin": pmin,
            "pmax": pmax,
        }
        self._display_given = {name: value for name, value in given.items() if value is not None}
        self.alerts: list[dict[str, Any]] = []
        self.stamps: dict[str, Stamp] = {}
        self.broken: dict[str, str] = {}  # kind -> why its stamp cannot be shown
        self._cache: dict[int, dict[str, Stamp | str]] = {}
        self._overlays: dict[str, tuple[list[float], float]] = {}  # kind -> reticle, arcsec/px
        self._cuts_from_browser = False
        self.panels = StampPanels(
            **self._display_given,
            colormap=colormap,
            flip=flip,
            size=size,
            reticle=reticle,
            scale_bar=scale_bar,
        )
        self.light_curve = LightCurve()
        self.message = widgets.HTML()
        self.title = widgets.HTML()
        self.links = widgets.HTML()
        self.downloads = widgets.HTML()
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous alert")
        self.next_button = widgets.Button(description="next ▶", tooltip="next alert")
        self.alert_list = widgets.Dropdown(description="alert", layout=widgets.Layout(width="28em"))
        self.previous_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        self.alert_list.observe(self._on_alert_chosen, names="value")
        super().__init__(
            [
                self.title,
                self.links,
                self.panels,
                widgets.HBox([self.previous_button, self.alert_list, self.next_button]),
                self.light_curve,
                self.downloads,
                self.message,
            ]
        )
        for name in _LINKED:
            traitlets.link((self.panels, name), (self, name))
        self.panels.observe(self._on_browser_cuts, names="cuts")
        self.observe(self._on_cuts, names="cuts")
        self.observe(self._on_alert_set, names="alert")
        self.light_curve.observe(self._on_point_clicked, names="clicked")
        self.add_class("fink-cutout-viewer")
        try:
            self.client = client or CutoutClient()
            if ss_object_id is not None:
                alerts = self.client.alerts(ss_object_id=ss_object_id)
            else:
                alerts = self.client.alerts(object_id)
        except CutoutClientError as error:
            self._show_error(error.text)
            return
        start = candid if candid is not None else alerts[-1]["alertId"]
        if start not in {a["alertId"] for a in alerts}:
            self._show_error(f"alert {candid} is not an alert of {self._name}")
            return
        self.alert_list.options = [(alert_label(a), a["alertId"]) for a in alerts]
        self.alerts = alerts
        for name, value in display_traits(self.survey.stamp_display).items():
            setattr(self.panels, name, self._display_given.get(name, value))  # the survey's
        self.light_curve.styles = filter_styles(self.survey)
        self.light_curve.show_history(
            client_history(self.client, alerts, object_id, ss_object_id=ss_object_id)
        )
        self.show_alert(start)

    @property
    def survey(self) -> Survey:
        """The survey of the object's alerts (ZTF unless the server names one it knows)."""
        name = self.alerts[0].get("survey") if self.alerts else None
        return SURVEYS.get(str(name), ZTF)

    @property
    def _name(self) -> str:
        """The object as named in messages, file names and headers."""
        if self.object_id is not None:
            return str(self.object_id)
        return f"ssObjectId {self.ss_object_id}"

    @property
    def alert_record(self) -> dict[str, Any] | None:
        """The alert shown, as `CutoutClient.alerts` gives it."""
        return next((a for a in self.alerts if a["alertId"] == self.alert_list.value), None)

    def show_alert(self, candid: int) -> None:
        """Show one of the object's alerts (stamps fetched once, then kept)."""
        if self.alert_list.value != candid:
            self.alert_list.value = candid  # the list's observer shows it
        else:
            self._display(candid)

    def next(self) -> None:
        """Show the next alert in time."""
        self._step(+1)

    def previous(self) -> None:
        """Show the previous alert in time."""
        self._step(-1)

    def blink(self, on: bool = True, interval: float | None = None, kinds=None) -> None:
        """Cycle the first panel through `kinds` (default Science, Template) every `interval` s."""
        if interval is not None:
            self.panels.blink_interval = interval
        if kinds is not None:
            self.panels.blink_kinds = list(kinds)
        self.panels.blinking = on

    def cuts_of(self, kind: str) -> list[float]:
        """The cuts of one stamp: as the browser reported them, else computed with astropy."""
        if kind in self.cuts:
            return self.cuts[kind]
        symmetric = kind == "Difference" and self.difference_symmetric
        if self.interval == "manual" or kind not in self.stamps:
            return [0.0, 1.0]
        shared = "Science" if self.share_cuts and kind == "Template" else kind
        return interval_cuts(
            self.stamps[shared].data, self.interval, self.pmin, self.pmax, symmetric
        )

    def stretch_of(self, kind: str) -> str:
        """The stretch one stamp is drawn with (`difference_stretch` for Difference)."""
        return self.difference_stretch if kind == "Difference" else self.stretch

    def rgb(self, kind: str):
        """One stamp coloured as shown: (H, W, 3) uint8, row 0 at the top unless flipped."""
        import numpy as np

        symmetric = kind == "Difference" and self.difference_symmetric
        colormap = self.difference_colormap if kind == "Difference" else self.colormap
        shown = coloured(
            levels(self.stamps[kind].data, self.stretch_of(kind), self.cuts_of(kind), symmetric),
            colormap,
        )
        return np.flipud(shown) if self.flip else shown

    def png(self) -> bytes:
        """The three stamps as shown (cuts, stretch, colormaps), side by side, as one PNG."""
        readable = [kind for kind in self.stamps if kind not in self.broken]
        return encode_png(side_by_side([self.rgb(kind) for kind in readable]))

    def save(self, path, dpi: int = 150) -> None:
        """A labelled figure of the three stamps with their colorbars (PNG, PDF, SVG by suffix)."""
        from fink_cutout_jupyter.widgets.viewer_figure import (
            FigureStamp,
            figure_title,
            stamps_figure,
        )

        shown = [
            FigureStamp(
                kind,
                stamp.data,
                self.cuts_of(kind),
                self.difference_colormap if kind == "Difference" else self.colormap,
                kind == "Difference" and self.difference_symmetric,
                str(stamp.header.get("BUNIT", "")).strip(),
                self.stretch_of(kind),
                *self._overlays.get(kind, (None, None)),
            )
            for kind, stamp in self.stamps.items()
            if kind not in self.broken
        ]
        stretches = (
            self.stretch
            if self.stretch == self.difference_stretch
            else f"{self.stretch} (Difference {self.difference_stretch})"
        )
        title = figure_title(self._name, self.alert_record or {}, stretches, self.interval)
        figure = stamps_figure(
            shown,
            self.stretch,
            title,
            self.panels.orientation,
            self.flip,
            reticle=self.reticle,
            scale_bar=self.scale_bar,
        )
        figure.savefig(path, dpi=dpi, bbox_inches="tight")

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.stamps:
            bundle["image/png"] = base64.b64encode(self.static_png()).decode()
        return bundle

    def static_png(self, scale: int = 3) -> bytes:
        """What a saved notebook shows without the widget: the stamps as shown (enlarged
        `scale` times) above the light curve."""
        import numpy as np

        from fink_cutout_jupyter.widgets.viewer_figure import with_overlays

        readable = [kind for kind in self.stamps if kind not in self.broken]
        enlarged = []
        for kind in readable:
            image = np.repeat(np.repeat(self.rgb(kind), scale, axis=0), scale, axis=1)
            position, arcsec = self._overlays.get(kind, (None, None))
            enlarged.append(
                with_overlays(
                    image,
                    scale,
                    position if self.reticle else None,
                    arcsec if self.scale_bar else None,
                    self.flip,
                )
            )
        stamps = side_by_side(enlarged, gap=2 * scale)
        curve = light_curve_rgb(
            self.light_curve.points,
            self.light_curve.limits,
            self.light_curve.unit,
            stamps.shape[1],
            self.light_curve.styles,
        )
        width = max(stamps.shape[1], curve.shape[1])
        rows = [
            np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0)), constant_values=255)
            for part in (stamps, curve)
        ]
        return encode_png(np.concatenate(rows))

    def _fetch(self, candid: int) -> dict[str, Stamp | str]:
        """Each kind's stamp, or the text of why it is unreadable (a corrupt stamp: HTTP 502)."""
        found: dict[str, Stamp | str] = {}
        for kind in KINDS:
            try:
                data = self.client.fits_bytes(
                    self.object_id, candid, kind, ss_object_id=self.ss_object_id
                )
                found[kind] = Stamp(kind, data)
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
        record = self.alert_record
        if record is None:  # the list shows another alert than `candid`
            raise ValueError(f"candid: {candid} is not the alert selected in the list")
        self.stamps, self.broken, self._overlays, payloads = {}, {}, {}, []
        for kind, got in self._cache[candid].items():
            try:
                if isinstance(got, str):
                    raise CorruptData(got)
                payload = stamp_payload(got, self.survey, (record.get("ra"), record.get("dec")))
                payloads.append(payload)
                self.stamps[kind] = got
                self._overlays[kind] = (payload["alert_position"], payload["arcsec_per_pixel"])
            except CorruptData as error:  # bytes that came whole but do not decode
                self.broken[kind] = str(error)
                payloads.append({"kind": kind, "error": f"{kind}: {error}"})
        position = [a["alertId"] for a in self.alerts].index(candid)
        self.previous_button.disabled = position == 0
        self.next_button.disabled = position == len(self.alerts) - 1
        self.title.value = alert_title(self.object_id, record)
        self.links.value = links_html(
            object_links(self.object_id, self.survey, record.get("ra"), record.get("dec"))
        )
        self._show_downloads(candid, record)
        compass = next((p.get("compass") for p in payloads if p.get("compass")), None)
        self.panels.orientation = orientation_text(self.survey, compass)
        first = next((p for p in payloads if "width" in p), None)
        if first and self.alert is None:
            self.panels.center = [first["width"] / 2, first["height"] / 2]
        self.panels.stamps = payloads
        self.light_curve.shown = str(candid)
        self.alert = candid
        self.message.value = ""

    def _show_downloads(self, candid: int, record: dict[str, Any]) -> None:
        links = [
            download_link(stamp.fits_bytes, self._filename(kind), f"⬇ {kind} FITS")
            for kind, stamp in self.stamps.items()
        ]
        if self.stamps:
            everything = to_multi_extension_fits(
                self.stamps, self._name, candid, record["jd"], "jd"
            )
            links.append(
                download_link(
                    everything, self._filename("All"), "⬇ all three (multi-extension FITS)"
                )
            )
        links += [error_box(f"{kind}: {text}") for kind, text in self.broken.items()]
        self.downloads.value = " · ".join(links)

    def _step(self, offset: int) -> None:
        ids = [a["alertId"] for a in self.alerts]
        if self.alert_list.value in ids:
            position = ids.index(self.alert_list.value) + offset
            if 0 <= position < len(ids):
                self.show_alert(ids[position])

    def _on_alert_chosen(self, change) -> None:
        if change["new"] is not None and self.alerts:
            self._display(change["new"])

    @traitlets.validate("alert")
    def _alert_of_the_object(self, proposal):
        if proposal["value"] not in {a["alertId"] for a in self.alerts}:
            raise traitlets.TraitError(f"{proposal['value']} is not an alert of {self._name}")
        return proposal["value"]

    def _on_alert_set(self, change) -> None:
        if change["new"] != self.alert_list.value:
            self.show_alert(change["new"])

    def _on_point_clicked(self, change) -> None:
        if change["new"]:
            self.alert = int(change["new"])

    def _on_browser_cuts(self, change) -> None:
        self._cuts_from_browser = True
        try:
            self.cuts = change["new"]
        finally:
            self._cuts_from_browser = False

    @traitlets.validate("cuts")
    def _cuts_per_kind(self, proposal):
        value = proposal["value"]
        if isinstance(value, dict):
            return {kind: [float(v) for v in cut] for kind, cut in value.items()}
        low, high = (float(v) for v in value)
        return {kind: [low, high] for kind in KINDS}

    def _on_cuts(self, change) -> None:
        if not self._cuts_from_browser:
            self.panels.interval = "manual"
            self.panels.cuts = change["new"]

    def _filename(self, kind: str) -> str:
        return f"{self._name.replace(' ', '_')}_{self.alert_list.value}_{kind}.fits"

    def _show_error(self, text: str) -> None:
        self.message.value = error_box(text)
