"""CutoutTimeline: an object's alerts played in time order, a flip-book drawn in the browser.

The kernel fetches the object's stamps through the batch door a page at a time
(`client.frames.object_frames`: one request per page, never one per alert) and sends each
page's float32 pixels to the browser once, as the binary buffer of a custom message that the
browser asks for (``{"type": "pages", "have": [first frame of each page it holds]}``, answered
by a ``page`` message per page it lacks, then ``sent``). The cuts are fixed across frames, per
kind (`cutouts.flipbook.fixed_cuts`: astropy's interval over every frame loaded), and sent with
the stretch's curve and the colormap's name as `TimelineFrames.renderings`, as
`StampPanels.renderings` takes them (with its `stamp_panels.CURVE_SAMPLES` samples).

ipywidgets' `Play` and slider are linked to the frame in the browser (`jslink`), and the frame's
alert to the light curve's ring: playing, pausing, the speed, the slider and the ring need no
kernel. The kernel watches the frame only to fetch the next page before the player reaches it,
and answers a click on the light curve by moving to that alert's frame.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.surveys import KINDS, SURVEYS, ZTF, Survey
from fink_cutout_jupyter.widgets.assets import STATIC, bundled_module
from fink_cutout_jupyter.widgets.light_curve import LightCurve, client_history, filter_styles
from fink_cutout_jupyter.widgets.stamp_display import colormap_tables
from fink_cutout_jupyter.widgets.stamp_panels import CURVE_SAMPLES  # the stamps' (one constant)
from fink_cutout_jupyter.widgets.viewer_html import error_box

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fink_cutout_jupyter.client.frames import ObjectFrames

ALL = "All"  # `TimelineFrames.kind` drawing every kind side by side
PANEL_PIXELS = 240  # CSS pixels of a stamp's longer side
SLOWEST_MS, FASTEST_MS = 2000, 20  # the speed slider's range, milliseconds per frame


class TimelineFrames(anywidget.AnyWidget):
    """The frames' canvas (``static/timeline.js``): the frame's stamps, its alert and date.

    The pixels are not a trait: each page reaches the browser once, as a custom message's
    buffer (see the module's docstring).
    """

    _esm = bundled_module("timeline.js")
    _css = STATIC / "timeline.css"

    key = traitlets.Unicode(
        read_only=True, help="this widget's pages' key in the browser (a UUID)"
    ).tag(sync=True)
    frame = traitlets.Int(0, help="the frame shown, 0 the oldest").tag(sync=True)
    alerts = traitlets.List(
        traitlets.Dict(), help="each frame's alertId (text), date (ISO 8601 UTC) and jd"
    ).tag(sync=True)
    loaded = traitlets.Int(0, help="frames the kernel holds: 0 to loaded - 1").tag(sync=True)
    kinds = traitlets.List(traitlets.Unicode(), help="the kinds of each frame's pixels").tag(
        sync=True
    )
    kind = traitlets.Unicode(ALL, help="the kind drawn, or All side by side").tag(sync=True)
    renderings = traitlets.Dict(
        help='kind -> {"cuts": [low, high], "curve": bytes, "colormap": name}'
    ).tag(sync=True)
    colormaps = traitlets.Dict(help="colormap name -> 768 bytes of RGB").tag(sync=True)
    panel_pixels = traitlets.Int(PANEL_PIXELS, help="CSS pixels of a stamp's longer side").tag(
        sync=True
    )
    shown = traitlets.Unicode("", help="the alert id of the frame shown (set by the browser)").tag(
        sync=True
    )

    @traitlets.default("key")
    def _new_key(self) -> str:
        return str(uuid.uuid4())

    @traitlets.validate("frame")
    def _within_the_frames(self, proposal):
        frame = proposal["value"]
        if not 0 <= frame < max(1, len(self.alerts)):
            raise traitlets.TraitError(f"frame: {frame} is not in 0..{len(self.alerts) - 1}")
        return frame

    @traitlets.validate("kind")
    def _a_kind_or_all(self, proposal):
        if proposal["value"] != ALL and proposal["value"] not in self.kinds:
            allowed = ", ".join([ALL, *self.kinds])
            raise traitlets.TraitError(f"kind: {proposal['value']!r}; allowed: {allowed}")
        return proposal["value"]


class CutoutTimeline(widgets.VBox):
    """An object's alerts as a flip-book: its stamps in time order, with fixed cuts per kind.

    Play, pause, speed and the frame slider work in the browser alone; the light curve rings the
    frame's alert, and a click on a detection shows its frame. Stamps come through the batch
    door a page at a time: the next page when the frame nears the end of those loaded.

    Parameters
    ----------
    object_id : str or int, optional
        E.g. ``"ZTF24abssjsb"``; or give `ss_object_id` (a Rubin solar-system object).
    client : CutoutClient, optional
        Where the stamps come from (default: `CutoutClient()`, which finds this notebook's
        Jupyter server or reads ``FINK_CUTOUTS_LAKE`` in-process).
    kinds : sequence of str
        The stamps of each frame, drawn side by side (a menu shows one of them alone).
    page_size : int
        Alerts per batch request.
    stretch : str or astropy BaseStretch
        A `cutouts.render.STRETCHES` name or an astropy stretch (``LogStretch()``...), for
        every kind.
    interval : str, astropy BaseInterval, (low, high) or mapping
        The cuts, fixed across frames: ``zscale``, ``percentile``, ``minmax``, an astropy
        interval over all loaded frames of a kind, cuts given, or a mapping of kind to any of
        these (see `cutouts.flipbook.fixed_cuts`). Recomputed as pages arrive: every frame
        shown at a time shares its kind's cuts, over all frames once all are loaded.
    colormap : str or mapping
        A matplotlib colormap name, or one per kind.
    fps : float
        Frames per second of the player and of the exports.

    Attributes
    ----------
    frames : TimelineFrames
        The canvas (its `frame` is this widget's `frame`).
    play, slider, speed : ipywidgets
        The player, the frame slider and the player's milliseconds per frame.
    light_curve : LightCurve
    """

    frame = traitlets.Int(0, help="the frame shown, 0 the oldest")

    @traitlets.validate("frame")
    def _within_the_frames(self, proposal):
        return self.frames._within_the_frames(proposal)

    def __init__(
        self,
        object_id: str | int | None = None,
        *,
        ss_object_id: str | int | None = None,
        client: CutoutClient | None = None,
        kinds: Sequence[str] = KINDS,
        page_size: int = 100,
        stretch: Any = "linear",
        interval: Any = "zscale",
        colormap: str | Mapping[str, str] = "gray",
        fps: float = 4,
    ) -> None:
        if (object_id is None) == (ss_object_id is None):
            raise ValueError("give object_id or ss_object_id (one of them)")
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 100:
            raise ValueError(f"fps: {fps!r}; expected frames per second in (0, 100]")
        self.object_id, self.ss_object_id = object_id, ss_object_id
        self.kinds, self.page_size = tuple(kinds), page_size
        self.stretch, self.interval, self.colormap, self.fps = stretch, interval, colormap, fps
        self.alerts: list[dict[str, Any]] = []
        self.cuts: dict[str, tuple[float, float]] = {}
        self._pages: list[ObjectFrames] = []
        self._next_pages: Iterator[ObjectFrames] | None = None
        milliseconds = min(SLOWEST_MS, max(FASTEST_MS, round(1000 / fps)))
        self.frames = TimelineFrames(kinds=list(self.kinds), colormaps=self._colormap_tables())
        self.play = widgets.Play(min=0, max=0, step=1, interval=milliseconds)
        self.slider = widgets.IntSlider(min=0, max=0, description="frame", readout=True)
        self.speed = widgets.IntSlider(
            value=milliseconds,
            min=FASTEST_MS,
            max=SLOWEST_MS,
            step=10,
            description="ms / frame",
        )
        self.light_curve = LightCurve()
        self.progress = widgets.IntProgress(
            description="loading", layout=widgets.Layout(display="none")
        )
        self.message = widgets.HTML()
        super().__init__(
            [
                self.frames,
                widgets.HBox([self.play, self.slider, self.speed]),
                self.light_curve,
                self.progress,
                self.message,
            ]
        )
        self.add_class("fink-cutout-timeline")
        for source, target in (
            ((self.play, "value"), (self.frames, "frame")),
            ((self.slider, "value"), (self.frames, "frame")),
            ((self.speed, "value"), (self.play, "interval")),
            ((self.frames, "shown"), (self.light_curve, "shown")),
        ):
            widgets.jslink(source, target)
        traitlets.link((self.frames, "frame"), (self, "frame"))
        self.observe(self._on_frame, names="frame")
        self.light_curve.observe(self._on_point_clicked, names="clicked")
        self.frames.on_msg(self._on_browser_message)
        try:
            self.client = client or CutoutClient()
            self.alerts = self.client.alerts(object_id, ss_object_id=ss_object_id)
        except CutoutClientError as error:
            self.message.value = error_box(error.text)
            return
        self._show_alerts()
        if self._load_page():  # the first page alone: the first frame as soon as it can be
            self._pages_changed()

    @property
    def survey(self) -> Survey:
        """The survey of the object's alerts (ZTF unless the server names one it knows)."""
        name = self.alerts[0].get("survey") if self.alerts else None
        return SURVEYS.get(str(name), ZTF)

    @property
    def alert_ids(self) -> list[int]:
        """Every frame's alert id, oldest first."""
        return [int(alert["alertId"]) for alert in self.alerts]

    @property
    def loaded(self) -> int:
        """How many frames, from the first, the kernel holds."""
        return sum(len(page) for page in self._pages)

    def load_all(self) -> ObjectFrames:
        """Fetch every page not yet loaded (a progress bar shows the frames); all the frames."""
        from fink_cutout_jupyter.client.frames import join_frames

        self.progress.value = self.loaded
        self.progress.layout.display = None if self.loaded < len(self.alerts) else "none"
        try:
            self._load_until(len(self.alerts) - 1)
        finally:
            self.progress.layout.display = "none"
        return join_frames(self._pages, self.kinds)

    def save_gif(self, path: str | os.PathLike, fps: float | None = None) -> Path:
        """Write every frame as an animated GIF (all pages fetched first); the file written."""
        return self._save_animation(path, fps, "gif")

    def save_apng(self, path: str | os.PathLike, fps: float | None = None) -> Path:
        """Write every frame as an animated PNG (all pages fetched first); the file written."""
        return self._save_animation(path, fps, "apng")

    def save_fits(self, path: str | os.PathLike) -> Path:
        """Write every frame's stamps as a FITS cube: a 3-D image per kind and a ``FRAMES``
        table of alert ids and times (`cutouts.flipbook.fits_cube`); the file written."""
        from fink_cutout_jupyter.cutouts.flipbook import write_fits_cube

        frames = self.load_all()
        name = None if self.object_id is None else str(self.object_id)
        return write_fits_cube(path, frames, name)

    def frame_images(self, frames: ObjectFrames | None = None) -> list[np.ndarray]:
        """Frames (default: all loaded) as the browser draws them with `kind` All: RGB uint8,
        kinds side by side, at the timeline's cuts, stretch and colormaps."""
        from fink_cutout_jupyter.client.frames import join_frames
        from fink_cutout_jupyter.cutouts.flipbook import frame_images

        frames = frames or join_frames(self._pages, self.kinds)
        return frame_images(frames, self.cuts, self.stretch, self.colormap)

    def _save_animation(self, path: str | os.PathLike, fps: float | None, format: str) -> Path:
        from fink_cutout_jupyter.cutouts.flipbook import write_animation

        images = self.frame_images(self.load_all())
        return write_animation(path, images, fps or self.fps, format)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self._pages:
            bundle["image/png"] = base64.b64encode(self.static_png()).decode()
        return bundle

    def static_png(self, scale: int = 3) -> bytes:
        """What a saved notebook shows without the widget: the frame shown, enlarged."""
        from fink_cutout_jupyter.cutouts.render import encode_png

        found = self._page_of(self.frame) or self._page_of(0)
        if found is None:
            raise ValueError("no frame loaded yet")
        image = self.frame_images(_one_frame(*found))[0]
        return encode_png(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1))

    def _colormap_tables(self) -> dict[str, bytes]:
        return colormap_tables(sorted(set(self._colormaps().values())))

    def _colormaps(self) -> dict[str, str]:
        if isinstance(self.colormap, str):
            return dict.fromkeys(self.kinds, self.colormap)
        return {kind: self.colormap.get(kind, "gray") for kind in self.kinds}

    def _show_alerts(self) -> None:
        last = max(0, len(self.alerts) - 1)
        with self.frames.hold_sync():
            self.frames.alerts = [
                {
                    "alertId": str(alert["alertId"]),
                    "date": str(alert.get("date") or ""),
                    "jd": _finite(alert.get("jd")),
                }
                for alert in self.alerts
            ]
            if self.alerts:
                self.frames.shown = str(self.alerts[min(self.frame, last)]["alertId"])
        self.play.max = self.slider.max = last
        self.progress.max = max(1, len(self.alerts))
        self.light_curve.styles = filter_styles(self.survey)
        self.light_curve.show_history(
            client_history(self.client, self.alerts, self.object_id, ss_object_id=self.ss_object_id)
        )
        self.light_curve.shown = self.frames.shown

    def _load_until(self, frame: int) -> None:
        """Fetch pages until `frame` is loaded and, once it passes the middle of a page's
        worth of frames before the end of those loaded, the page after."""
        ahead = max(1, self.page_size // 2)
        added = False
        while self.loaded < len(self.alerts) and frame + ahead >= self.loaded:
            if not self._load_page():
                break
            added = True
        if added:
            self._pages_changed()

    def _load_page(self) -> bool:
        """Fetch the next page (`object_frames`: the first is short, for a quick first frame);
        whether one came. A refusal is shown, and ends the loading."""
        from fink_cutout_jupyter.client.frames import object_frames

        if self._next_pages is None:
            self._next_pages = object_frames(
                self.client,
                self.object_id,
                ss_object_id=self.ss_object_id,
                kinds=self.kinds,
                page_size=self.page_size,
                progress=False,
            )
        try:
            page = next(self._next_pages, None)
        except CutoutClientError as error:
            self.message.value = error_box(f"frames from {self.loaded + 1} on: {error.text}")
            self._next_pages = iter(())
            return False
        if page is None:
            return False
        if not self._listed_as(page):
            return False
        self._pages.append(page)
        self.progress.value = self.loaded
        return True

    def _listed_as(self, page: ObjectFrames) -> bool:
        """Whether `page` holds the alerts listed for its frames. The pages list the object's
        alerts again: an alert indexed in between (tonight's) is a frame too, listed afresh.
        Pages that still disagree (the object changed again) end the loading, said."""
        held = [alert for loaded in self._pages for alert in loaded.alert_ids]
        expected = self.alert_ids[len(held) : len(held) + len(page)]
        if page.total == len(self.alerts) and list(page.alert_ids) == expected:
            return True
        try:
            alerts = self.client.alerts(self.object_id, ss_object_id=self.ss_object_id)
        except CutoutClientError as error:
            alerts, reason = [], error.text
        else:
            reason = "the object's alerts changed while its frames were read"
        ids = [int(alert["alertId"]) for alert in alerts]
        if len(ids) == page.total and ids[: len(held) + len(page)] == held + list(page.alert_ids):
            self.alerts = alerts
            self._show_alerts()
            return True
        self.message.value = error_box(f"frames from {len(held) + 1} on: {reason}; open again")
        self._next_pages = iter(())
        return False

    def _pages_changed(self) -> None:
        from fink_cutout_jupyter.client.frames import join_frames
        from fink_cutout_jupyter.cutouts.flipbook import fixed_cuts

        frames = join_frames(self._pages, self.kinds)
        self.cuts = fixed_cuts(frames, self.interval)
        colormaps = self._colormaps()
        renderings = {
            kind: {
                "cuts": list(self.cuts[kind]),
                "curve": _curve(self.stretch, frames.stamps[:, position], self.cuts[kind]),
                "colormap": colormaps[kind],
            }
            for position, kind in enumerate(self.kinds)
        }
        with self.frames.hold_sync():  # the new cuts and the pages to ask for, in one message
            self.frames.renderings = renderings
            self.frames.loaded = self.loaded

    def _page_of(self, frame: int) -> tuple[ObjectFrames, int] | None:
        start = 0
        for page in self._pages:
            if start <= frame < start + len(page):
                return page, frame - start
            start += len(page)
        return None

    def _send_page(self, start: int, page: ObjectFrames) -> None:
        count, _, height, width = page.stamps.shape
        header = {
            "type": "page",
            "start": start,
            "count": count,
            "height": height,
            "width": width,
            "kinds": list(page.kinds),
        }
        self.frames.send(header, [np.ascontiguousarray(page.stamps, dtype="<f4").tobytes()])

    def _on_browser_message(self, _widget, content: dict[str, Any], _buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "pages":
            return
        have = {number for number in content.get("have") or [] if isinstance(number, int)}
        start = 0
        for page in self._pages:
            if start not in have:
                self._send_page(start, page)
            start += len(page)
        self.frames.send({"type": "sent", "loaded": start})

    def _on_frame(self, change) -> None:
        if not self.alerts:
            return
        alert_id = str(self.alerts[change["new"]]["alertId"])
        self.frames.shown = alert_id
        self.light_curve.shown = alert_id
        self._load_until(change["new"])

    def _on_point_clicked(self, change) -> None:
        clicked = change["new"]
        if clicked and clicked.isdigit() and int(clicked) in self.alert_ids:
            self.frame = self.alert_ids.index(int(clicked))


def _curve(stretch: Any, pixels: np.ndarray, cuts: Sequence[float]) -> bytes:
    """A stretch as a rendering's curve, `CURVE_SAMPLES` levels at x = i / (CURVE_SAMPLES - 1):
    an astropy stretch's ``stretch(x, clip=True)``, or a `render.STRETCHES` name's through
    `render.level_scale` over the kind's pixels (``sigmoid`` takes their mean and spread)."""
    from fink_cutout_jupyter.cutouts.render import level_scale

    x = np.linspace(0.0, 1.0, CURVE_SAMPLES)
    if isinstance(stretch, str):
        low, high = (float(cut) for cut in cuts)
        if not high > low:
            low, high = low - 0.5, low + 0.5
        levels = level_scale(pixels, stretch, (low, high))(low + x * (high - low))
    else:
        levels = np.asarray(stretch(x, clip=True), dtype=float)
    return np.clip(levels, 0.0, 1.0).astype("<f4").tobytes()


def _finite(value: object) -> float | None:
    """A number JSON can carry (the browser's JSON has no NaN), or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def _one_frame(page: ObjectFrames, row: int) -> ObjectFrames:
    from dataclasses import replace

    return replace(
        page,
        alert_ids=page.alert_ids[row : row + 1],
        jd=page.jd[row : row + 1],
        stamps=page.stamps[row : row + 1],
        table=page.table.iloc[row : row + 1],
    )
