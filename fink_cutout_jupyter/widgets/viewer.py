"""CutoutViewer: an alert's Science, Template and Difference stamps side by side, in a notebook.

A `StampViewer` (astropy's image-display API) with three images labelled ``Science``,
``Template`` and ``Difference``, plus the alert's header, navigation, downloads and light
curve. Today's display traits stay: they are the rendering of every label the API has not been
told otherwise about. An API call on a label (``set_stretch(LogStretch(),
image_label="Difference")``, `set_cuts`, `set_colormap`) overrides that part of its rendering
(sent to the browser as ``panels.renderings``); changing the trait it overrides afterwards (in
the kernel or the browser's menus) drops the override: the latest choice wins. Without an
override, `get_cuts`, `get_stretch` and `get_colormap` give the astropy objects equivalent to
the traits.
"""

from __future__ import annotations

import base64
import numbers
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.cutouts.render import (
    MANUAL,
    astropy_interval,
    astropy_stretch,
    coloured,
    encode_png,
    interval_cuts,
    level_scale,
    side_by_side,
    stretch_scale,
)
from fink_cutout_jupyter.cutouts.stamps import Stamp, to_multi_extension_fits
from fink_cutout_jupyter.errors import CorruptData
from fink_cutout_jupyter.surveys import KINDS, SURVEYS, ZTF, Survey
from fink_cutout_jupyter.widgets.alert_catalog import alert_catalog
from fink_cutout_jupyter.widgets.image_api import LoadedImage
from fink_cutout_jupyter.widgets.light_curve import (
    LightCurve,
    client_history,
    filter_styles,
    light_curve_rgb,
)
from fink_cutout_jupyter.widgets.stamp_display import (
    celestial_wcs,
    colormap_tables,
    interval_limits,
    object_links,
    orientation_text,
    stamp_payload,
)
from fink_cutout_jupyter.widgets.stamp_panels import (
    display_traits,
    fitted_center,
    stretch_curve,
)
from fink_cutout_jupyter.widgets.stamp_viewer import StampViewer
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
SCIENCE_AND_TEMPLATE = ("Science", "Template")
# What each display trait sets, on which labels: changing it drops the API's overrides there.
_OVERRIDDEN_BY = {
    "stretch": ("stretch", SCIENCE_AND_TEMPLATE),
    "difference_stretch": ("stretch", ("Difference",)),
    "colormap": ("colormap", SCIENCE_AND_TEMPLATE),
    "difference_colormap": ("colormap", ("Difference",)),
    "interval": ("cuts", KINDS),
    "pmin": ("cuts", KINDS),
    "pmax": ("cuts", KINDS),
    "share_cuts": ("cuts", ("Template",)),
    "difference_symmetric": ("cuts", ("Difference",)),
}
ALERT_CATALOG = "alert"
ALERT_CATALOG_STYLE = {"shape": "circle", "color": "#00e5ff", "size": 5.0}


class CutoutViewer(StampViewer):
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
    markers : bool
        Show the alert's catalog as markers (`markers_toggle`). Off by default: a Rubin alert's
        earlier detections, hundreds of them, pile up on the source.

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
    markers_toggle : ipywidgets.Checkbox
        Shows or hides the alert's catalog (`alert_catalog`, catalog label ``"alert"``).

    Notes
    -----
    The image-display API: the labels are ``Science``, ``Template`` and ``Difference``
    (``viewer.set_stretch(LogStretch(), image_label="Difference")``, ``viewer.get_viewport(
    image_label="Science")``: pixels for ZTF, whose stamps carry no WCS, sky for Rubin). Some
    traits are aliases of it: `stretch` and `colormap` of Science's and Template's stretch and
    colormap, `difference_stretch` and `difference_colormap` of Difference's, `interval`,
    `pmin`, `pmax` and `cuts` of the three labels' cuts, `zoom` and `center` of the linked
    viewport. Navigating to another alert keeps each label's cuts, stretch and colormap and the
    view (for stamps of another shape, the zoom, and the centre moved into them:
    `stamp_panels.fitted_center`, as the browser moves it); the alert's catalog is loaded again
    for it. An alert whose stamp of one kind is
    corrupt has no image under that label (the API's calls on it raise a `ValueError` saying
    why; `save` draws it as an empty panel with the reason); the label's cuts, stretch and
    colormap come back with the next alert that has the stamp.
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
        markers: bool = False,
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
        self._overrides: dict[str, set[str]] = {}  # label -> parts the API set: cuts, stretch...
        # A stamp's label while its alert's stamp is broken: its cuts, stretch and colormap kept
        # for the next alert that has it (load_image keeps them from the label's image).
        self._absent: dict[str, LoadedImage] = {}
        self._setting: str | None = None  # the part an API call is setting
        self._sources: dict[str, Any] = {}  # the latest alert's catalog leaves (/history)
        self._markers_from_kernel = False
        self._next_payloads: dict[str, dict[str, Any]] = {}
        self._cuts_from_browser = False
        super().__init__(size=size)
        for name, value in {
            **self._display_given,
            "colormap": colormap,
            "flip": flip,
            "reticle": reticle,
            "scale_bar": scale_bar,
        }.items():
            setattr(self.panels, name, value)
        self.light_curve = LightCurve()
        self.message = widgets.HTML()
        self.title = widgets.HTML()
        self.links = widgets.HTML()
        self.downloads = widgets.HTML()
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous alert")
        self.next_button = widgets.Button(description="next ▶", tooltip="next alert")
        self.alert_list = widgets.Dropdown(description="alert", layout=widgets.Layout(width="28em"))
        self.markers_toggle = widgets.Checkbox(
            value=markers,
            description="markers",
            indent=False,
            tooltip="the alert's position and the sources stored with it",
            layout=widgets.Layout(width="8em"),
        )
        self.previous_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        self.alert_list.observe(self._on_alert_chosen, names="value")
        self.children = [
            self.title,
            self.links,
            self.panels,
            widgets.HBox(
                [self.previous_button, self.alert_list, self.next_button, self.markers_toggle]
            ),
            self.light_curve,
            self.downloads,
            self.message,
        ]
        for name in _LINKED:
            traitlets.link((self.panels, name), (self, name))
        self.panels.observe(self._on_browser_cuts, names="cuts")
        self.panels.observe(self._on_browser_markers, names="markers")
        self.markers_toggle.observe(self._on_markers_toggled, names="value")
        self.observe(self._on_cuts, names="cuts")
        self.observe(self._on_display_trait, names=list(_OVERRIDDEN_BY))
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
        history = client_history(self.client, alerts, object_id, ss_object_id=ss_object_id)
        self._sources = dict(history.get("sources") or {})
        self.light_curve.show_history(history)
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
        """The cuts of one stamp: the API's where it set them, else as the browser reported
        them, else computed with astropy from the traits."""
        if kind in self._images and self._overrides.get(kind):
            return self.rendering(kind)["cuts"]
        if kind in self.cuts:
            return self.cuts[kind]
        return self._trait_cuts(kind)

    def stretch_of(self, kind: str) -> str:
        """The stretch trait one stamp follows (`difference_stretch` for Difference)."""
        return self.difference_stretch if kind == "Difference" else self.stretch

    def colormap_of(self, kind: str) -> str:
        """The colormap one stamp is drawn with: the API's where it set one, else the trait."""
        kept = self._kept(kind)
        if kept is not None and "colormap" in self._overrides.get(kind, ()):
            return kept.colormap
        return self.difference_colormap if kind == "Difference" else self.colormap

    def _kept(self, kind: str) -> LoadedImage | None:
        """The label's image: loaded, or kept while this alert's stamp of `kind` is broken."""
        return self._images.get(kind) or self._absent.get(kind)

    def level_scale_of(self, kind: str):
        """Values of one stamp to levels in [0, 1] as shown: its cuts, then its stretch."""
        cuts = self.cuts_of(kind)
        if "stretch" in self._overrides.get(kind, ()):
            return stretch_scale(cuts, self._images[kind].stretch)
        symmetric = kind == "Difference" and self.difference_symmetric
        return level_scale(self.stamps[kind].data, self.stretch_of(kind), cuts, symmetric)

    def rgb(self, kind: str):
        """One stamp coloured as shown: (H, W, 3) uint8, row 0 at the top unless flipped."""
        data = self.stamps[kind].data
        shown = coloured(self.level_scale_of(kind)(data), self.colormap_of(kind))
        return np.flipud(shown) if self.flip else shown

    def png(self) -> bytes:
        """The three stamps as shown (cuts, stretch, colormaps), side by side, as one PNG."""
        readable = [kind for kind in self.stamps if kind not in self.broken]
        return encode_png(side_by_side([self.rgb(kind) for kind in readable]))

    # astropy's image-display API on the three labels

    def set_cuts(self, cuts, image_label: str | None = None, **kwargs: Any) -> None:
        """Set one label's cuts (an astropy interval or ``(low, high)``); see `StampViewer`.
        Changing `interval`, `pmin`, `pmax` or `cuts` afterwards drops it."""
        self._set_part("cuts", super().set_cuts, cuts, image_label, **kwargs)

    def set_stretch(self, stretch, image_label: str | None = None, **kwargs: Any) -> None:
        """Set one label's stretch (an astropy stretch); changing `stretch` (Science and
        Template) or `difference_stretch` (Difference) afterwards drops it."""
        self._set_part("stretch", super().set_stretch, stretch, image_label, **kwargs)

    def set_colormap(self, map_name: str, image_label: str | None = None, **kwargs: Any) -> None:
        """Set one label's colormap; changing `colormap` (Science and Template) or
        `difference_colormap` (Difference) afterwards drops it."""
        self._set_part("colormap", super().set_colormap, map_name, image_label, **kwargs)

    def get_cuts(self, image_label: str | None = None, **kwargs: Any):
        """One label's cuts: the interval the API set, else the traits' (``zscale``:
        `~astropy.visualization.ZScaleInterval`, ``percentile``:
        `~astropy.visualization.AsymmetricPercentileInterval` of `pmin` and `pmax`,
        ``minmax``: `~astropy.visualization.MinMaxInterval`, ``manual``:
        `~astropy.visualization.ManualInterval` of the label's `cuts`)."""
        from astropy.visualization import ManualInterval

        label, image = self._image(image_label)
        if "cuts" in self._overrides.get(label, ()) or label not in KINDS:
            return image.cuts
        if self.interval == MANUAL:
            return ManualInterval(*self.cuts_of(label))
        return astropy_interval(self.interval, self.pmin, self.pmax)

    def get_stretch(self, image_label: str | None = None, **kwargs: Any):
        """One label's stretch: the one the API set, else the trait's as astropy draws it
        (``log``: `~astropy.visualization.LogStretch` a=1000, ``asinh``: a=0.1, ``power``:
        2, ``sigmoid``: Fink's, a `~astropy.visualization.BaseStretch` made for the stamp)."""
        label, image = self._image(image_label)
        if "stretch" in self._overrides.get(label, ()) or label not in KINDS:
            return image.stretch
        return astropy_stretch(self.stretch_of(label), image.pixels, self.cuts_of(label))

    def get_colormap(self, image_label: str | None = None, **kwargs: Any) -> str:
        """One label's colormap name: the one the API set, else the trait's."""
        label, image = self._image(image_label)
        return self.colormap_of(label) if label in KINDS else image.colormap

    def rendering(self, image_label: str | None = None) -> dict[str, Any]:
        """What the browser draws a label with when the API set part of it: ``cuts``,
        ``curve`` (`stamp_panels.CURVE_SAMPLES` samples of the stretch on [0, 1]) and
        ``colormap``, the parts not set following the traits."""
        label, image = self._image(image_label)
        if label not in KINDS:  # an image the user loaded: the API's rendering alone
            return super().rendering(label)
        parts = self._overrides.get(label, set())
        if "cuts" in parts:
            cuts = interval_limits(image.cuts, image.pixels)
        else:
            cuts = self._trait_cuts(label)
        if "stretch" in parts:
            curve = stretch_curve(image.stretch)
        else:
            low, high = cuts
            symmetric = label == "Difference" and self.difference_symmetric
            scale = level_scale(image.pixels, self.stretch_of(label), cuts, symmetric)
            curve = stretch_curve(lambda x, clip=True: scale(low + x * (high - low)))
        return {
            "cuts": [float(v) for v in cuts],
            "curve": curve,
            "colormap": self.colormap_of(label),
        }

    def _set_part(self, part: str, setter, value, image_label, **kwargs: Any) -> None:
        self._setting = part
        try:
            setter(value, image_label, **kwargs)
        finally:
            self._setting = None

    def _rendering_changed(self, image_label: str) -> None:
        if self._setting is not None:
            self._overrides.setdefault(image_label, set()).add(self._setting)
        self._push_rendering(image_label)

    def _push_rendering(self, image_label: str) -> None:
        """Send the labels the API set part of as ``panels.renderings``; the others are drawn
        from the traits (no entry)."""
        if not self.panels.has_trait("renderings"):
            return
        entries = {
            label: entry
            for label, entry in self.panels.renderings.items()
            if self._has_rendering(label) and label != image_label
        }
        if self._has_rendering(image_label):
            entries[image_label] = self.rendering(image_label)
            colormap = entries[image_label]["colormap"]
            if colormap not in self.panels.colormaps:
                self.panels.colormaps = {**self.panels.colormaps, **colormap_tables([colormap])}
        self.panels.renderings = entries

    def _has_rendering(self, label: str) -> bool:
        """Whether a label is drawn from the kernel's rendering: a stamp the API set part of,
        or an image the user loaded besides the stamps."""
        return label in self._images and (label not in KINDS or bool(self._overrides.get(label)))

    def _on_display_trait(self, change) -> None:
        """A trait changed (here or in the browser): the API's overrides of what it sets go,
        and the labels still overridden are drawn again with it."""
        part, labels = _OVERRIDDEN_BY[change["name"]]
        for label in labels:
            self._overrides.get(label, set()).discard(part)
        self._refresh_renderings()

    def _refresh_renderings(self) -> None:
        for label in [*self._images, ""]:  # "": none left, the entries go
            self._push_rendering(label)

    def _trait_cuts(self, kind: str) -> list[float]:
        """The cuts the traits give a stamp, computed with astropy (share_cuts, symmetric)."""
        if self.interval == MANUAL or kind not in self.stamps:
            return list(self.cuts.get(kind, [0.0, 1.0]))
        symmetric = kind == "Difference" and self.difference_symmetric
        shared = "Science" if self.share_cuts and kind == "Template" else kind
        pixels = self.stamps[shared if shared in self.stamps else kind].data
        return interval_cuts(pixels, self.interval, self.pmin, self.pmax, symmetric)

    # The alert's catalog

    def load_alert_catalog(self) -> None:
        """Load the shown alert's catalog (`alert_catalog`: its position, and the sources
        stored with the object's latest alert) as catalog ``"alert"``, drawn as markers: on
        Rubin stamps through each one's WCS; on ZTF's, which have none, the alert at the
        stamps' centre (where Fink cuts them), the other sources in the table only."""
        record = self.alert_record
        if record is None or not self._images:
            return
        table = alert_catalog(record, self.survey, self._sources)
        with_wcs = any(image.wcs is not None for image in self._images.values())
        if not with_wcs:
            height, width = next(iter(self._images.values())).shape
            own = table["kind"] == "alert"
            table["x"] = np.where(own, (width - 1) / 2, np.nan)
            table["y"] = np.where(own, (height - 1) / 2, np.nan)
        style = None if ALERT_CATALOG in self._catalogs else dict(ALERT_CATALOG_STYLE)
        self.load_catalog(
            table, catalog_label=ALERT_CATALOG, catalog_style=style, use_skycoord=with_wcs
        )
        self._show_markers(self.markers_toggle.value)

    def _show_markers(self, visible: bool) -> None:
        if not self.panels.has_trait("markers"):
            return
        entries = [
            {**entry, "visible": visible} if entry["catalog"] == ALERT_CATALOG else entry
            for entry in self.panels.markers
        ]
        if entries != list(self.panels.markers):
            self.panels.markers = entries

    def _on_markers_toggled(self, change) -> None:
        self._show_markers(bool(change["new"]))

    def _push_markers(self) -> None:
        self._markers_from_kernel = True
        try:
            super()._push_markers()
        finally:
            self._markers_from_kernel = False

    def _on_browser_markers(self, change) -> None:
        if self._markers_from_kernel:  # a catalog (re)loaded: the checkbox decides
            return
        shown = [e["visible"] for e in change["new"] if e["catalog"] == ALERT_CATALOG]
        if shown and shown[0] != self.markers_toggle.value:
            self.markers_toggle.value = shown[0]

    # Saving

    def save(
        self,
        filename: str | os.PathLike,
        overwrite: bool = False,
        dpi: float = 150,
        **kwargs: Any,
    ) -> None:
        """A labelled figure of the three stamps with their cuts, stretches, colormaps and
        colorbars (PNG, PDF, SVG... by the file's suffix); a stamp the alert has corrupt is an
        empty panel with the reason. The whole stamps are drawn: unlike `StampViewer.save`, the
        viewport's zoom and centre are not applied (a known gap).

        Parameters
        ----------
        filename : str or os.PathLike
        overwrite : bool
            Replace an existing file (else `FileExistsError`). A number here is the ``dpi``
            of the older ``save(path, dpi)``, which replaced the file.
        dpi : float
        **kwargs
            Accepted and ignored (the image-display API's).

        Notes
        -----
        Written to a temporary name in the same directory and renamed: a failure leaves no
        partial file.
        """
        from fink_cutout_jupyter.storage.atomic import create_atomically, write_atomically

        if isinstance(overwrite, numbers.Real) and not isinstance(overwrite, bool):
            overwrite, dpi = True, float(overwrite)  # save(path, dpi), as before
        path = Path(filename).expanduser()
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"File {filename} already exists. Use overwrite=True to overwrite it."
            )
        figure = self._labelled_figure()
        file_format = path.suffix[1:].lower() or "png"

        def write(stream) -> None:
            figure.savefig(stream, format=file_format, dpi=dpi, bbox_inches="tight")

        (write_atomically if overwrite else create_atomically)(path, write)

    def _labelled_figure(self):
        from fink_cutout_jupyter.widgets.viewer_figure import (
            FigureStamp,
            figure_title,
            panel_markers,
            stamps_figure,
        )

        entries = self.marker_entries()
        markers = {kind: panel_markers(entries, kind) for kind in KINDS}
        shown = [
            FigureStamp.missing(kind, self.broken[kind])
            if kind in self.broken
            else FigureStamp(
                kind,
                self.stamps[kind].data,
                self.cuts_of(kind),
                self.colormap_of(kind),
                kind == "Difference" and self.difference_symmetric,
                str(self.stamps[kind].header.get("BUNIT", "")).strip(),
                self._stretch_shown(kind),
                *self._overlays.get(kind, (None, None)),
                markers=markers[kind],
            )
            for kind in KINDS
            if kind in self.stamps or kind in self.broken
        ]
        names = {kind: self._stretch_name(kind) for kind in KINDS}
        stretches = (
            names["Science"]
            if names["Science"] == names["Difference"]
            else f"{names['Science']} (Difference {names['Difference']})"
        )
        title = figure_title(self._name, self.alert_record or {}, stretches, self.interval)
        return stamps_figure(
            shown,
            self.stretch,
            title,
            self.panels.orientation,
            self.flip,
            reticle=self.reticle,
            scale_bar=self.scale_bar,
        )

    def _stretch_shown(self, kind: str):
        """The stretch name the traits give, or the astropy stretch the API set (kept while
        this alert's stamp of `kind` is broken)."""
        kept = self._kept(kind)
        if kept is not None and "stretch" in self._overrides.get(kind, ()):
            return kept.stretch
        return self.stretch_of(kind)

    def _stretch_name(self, kind: str) -> str:
        shown = self._stretch_shown(kind)
        return shown if isinstance(shown, str) else type(shown).__name__

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
        view = self._current_view()
        self.stamps, self.broken, self._overlays = {}, {}, {}
        payloads: dict[str, dict[str, Any]] = {}
        for kind, got in self._cache[candid].items():
            try:
                if isinstance(got, str):
                    raise CorruptData(got)
                payload = stamp_payload(got, self.survey, (record.get("ra"), record.get("dec")))
                payloads[kind] = payload
                self.stamps[kind] = got
                self._overlays[kind] = (payload["alert_position"], payload["arcsec_per_pixel"])
            except CorruptData as error:  # bytes that came whole but do not decode
                self.broken[kind] = str(error)
                payloads[kind] = {"kind": kind, "error": f"{kind}: {error}"}
        with self.panels.hold_sync():
            self._load_stamps(payloads)
            if view is not None:
                self._restore_view(*view)
            self.load_alert_catalog()
        position = [a["alertId"] for a in self.alerts].index(candid)
        self.previous_button.disabled = position == 0
        self.next_button.disabled = position == len(self.alerts) - 1
        self.title.value = alert_title(self.object_id, record)
        self.links.value = links_html(
            object_links(self.object_id, self.survey, record.get("ra"), record.get("dec"))
        )
        self._show_downloads(candid, record)
        compass = next((p.get("compass") for p in payloads.values() if p.get("compass")), None)
        self.panels.orientation = orientation_text(self.survey, compass)
        self.light_curve.shown = str(candid)
        self.alert = candid
        self.message.value = ""

    def _load_stamps(self, payloads: dict[str, dict[str, Any]]) -> None:
        """Each readable stamp loaded through the API under its kind (`load_image`: its pixels,
        WCS, unit and header; a label's cuts, stretch and colormap kept), a broken one's label
        removed; the browser sent every kind's panel, a broken one's as an error tile."""
        from astropy.nddata import NDData

        self._next_payloads = payloads
        for kind in KINDS:
            if kind not in self.stamps:
                if kind in self._images:
                    self._absent[kind] = self._images.pop(kind)
                self._payloads.pop(kind, None)
        for kind, stamp in self.stamps.items():
            if kind in self._absent:  # back: load_image keeps its cuts, stretch and colormap
                self._images[kind] = self._absent.pop(kind)
            header = stamp.header
            data = NDData(
                stamp.data,
                wcs=celestial_wcs(header),
                unit=_unit(header.get("BUNIT")),
                meta=header.copy(),
            )
            self.load_image(data, image_label=kind)
        others = [label for label in self._images if label not in KINDS]  # loaded by the user
        self._images = {
            label: self._images[label] for label in [*KINDS, *others] if label in self._images
        }
        self.panels.stamps = [
            *(payloads[kind] for kind in KINDS if kind in payloads),
            *(self._payloads[label] for label in others),
        ]

    def _image(self, image_label: str | None) -> tuple[str, LoadedImage]:
        """The API's image of a label; a stamp this alert lacks (broken) is named with why."""
        if image_label in self.broken:
            raise ValueError(
                f"image_label: alert {self.alert_list.value} has no readable {image_label} "
                f"stamp ({self.broken[image_label]}); its cuts, stretch and colormap are kept "
                "for the alerts that have one"
            )
        return super()._image(image_label)

    def _image_payload(self, image_label: str) -> dict[str, Any]:
        """A stamp's panel as `stamp_payload` makes it (the survey's scale, the reticle); an
        image the user loaded under another label as `StampViewer` makes it."""
        if image_label in KINDS and image_label in self._next_payloads:
            return self._next_payloads[image_label]
        return super()._image_payload(image_label)

    def _current_view(self) -> tuple[dict[str, Any], float, list, tuple[int, int], float] | None:
        """Each label's viewport in pixels, the browser's zoom and centre, the first image's
        shape (the view's grid) and its viewport's zoom, unclamped (None before the first
        stamps)."""
        if not self._images:
            return None
        viewports = {label: self._pixel_viewport(image) for label, image in self._images.items()}
        first = next(iter(self._images))
        zoom = self._view_of(first)[2]
        shape = self._images[first].shape
        return viewports, self.panels.zoom, list(self.panels.center), shape, zoom

    def _restore_view(
        self, viewports, zoom: float, center: list, shape: tuple[int, int], api_zoom: float
    ) -> None:
        """The view as it was before another alert's stamps were loaded; if the first stamp
        has another shape, the zoom kept and the centre fitted to it (`fitted_center`, as the
        browser fits it), every label's viewport that view."""
        if not self._images:
            return
        first = next(iter(self._images.values()))
        if first.shape == shape:
            kept = next(iter(viewports.values()))
            for label in self._images:
                self._store_pixel_viewport(label, *viewports.get(label, kept))
        else:
            height, width = first.shape
            center = fitted_center(center, zoom, width, height)
            for label in self._images:
                self._store_view(label, center[0], center[1], api_zoom)
        self._from_kernel = True
        try:
            self.panels.zoom, self.panels.center = zoom, center
        finally:
            self._from_kernel = False

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
            for kind in change["new"]:
                self._overrides.get(kind, set()).discard("cuts")
            self._refresh_renderings()

    def _filename(self, kind: str) -> str:
        return f"{self._name.replace(' ', '_')}_{self.alert_list.value}_{kind}.fits"

    def _show_error(self, text: str) -> None:
        self.message.value = error_box(text)


def _unit(bunit: object):
    """A stamp's ``BUNIT`` as an astropy unit, None if absent or unknown to astropy."""
    import warnings

    from astropy import units as u

    text = str(bunit or "").strip()
    if not text:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return u.Unit(text)
        except ValueError:
            return None
