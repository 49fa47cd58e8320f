"""StampViewer: astropy's image-display API (`image_api.ImageDisplay`) on the stamps' browser
front-end (`StampPanels`): labelled images side by side, each with its own cuts, stretch and
colormap, catalogs drawn as markers, one linked viewport, `save` through matplotlib.

What the kernel holds is what the browser draws: each image goes to ``panels.stamps``
(`stamp_display.image_payload`, in loading order), its cuts, stretch and colormap to
``panels.renderings`` (the interval's limits on the finite pixels, `stamp_panels.CURVE_SAMPLES`
samples of the stretch, the colormap's name), the catalogs to ``panels.markers``
(`marker_entries`: a catalog placed by its sky positions goes to each panel through that
image's own WCS; a panel without WCS shows its given pixel columns, or none of it if it has
none: no position is invented).

The viewport. The browser shows every panel at one zoom and centre, in the pixel grid of the
first image (``panels.zoom``, ``panels.center``: view coordinates, pixel ``c`` spanning ``c`` to
``c + 1``, so astropy's pixel x is view x - 0.5); an image of another width is scaled to that
grid (its centre at ``center`` times its width over the first's), and zoom 1 shows each image's
larger side whole. Here:

- ``set_viewport`` on one image moves the others to the same view: for images of one shape, the
  same pixel centre and pixel fov (each kept in the kind it holds: a sky centre through its own
  WCS, an angular fov likewise); and the browser with them: zoom = max(height, width) / fov in
  pixels. The browser zooms between 1 and ``panels.max_zoom``: a wider or narrower fov is kept
  by the API (and `get_viewport` returns it) but shown clamped to those limits.
- Loading an image resets its viewport to the whole image, centred (loaded again under its label
  with another shape too: no centre of the old image is kept), and shows it: the other images
  take that view, as the browser shows them (each at the loaded image's centre scaled by width,
  zoom 1: its larger side whole).
- A pan or zoom in the browser sets every image's viewport (centre and fov in pixels, kept in
  the kind each holds).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from fink_cutout_jupyter.widgets.image_api import ImageDisplay, LoadedImage
from fink_cutout_jupyter.widgets.stamp_display import (
    colormap_tables,
    image_payload,
    interval_limits,
    marker_positions,
)
from fink_cutout_jupyter.widgets.stamp_panels import StampPanels


class StampViewer(ImageDisplay, widgets.VBox):
    """Images side by side in the browser, driven by astropy's image-display API.

    ``StampViewer()`` needs no server or lake: load arrays, `~astropy.nddata.NDData` or FITS
    files (`load_image`), set their cuts, stretch and colormap with astropy objects, add
    catalogs from `~astropy.table.Table` (`load_catalog`), move the view (`set_viewport`), save
    what is shown (`save`). See the module docstring for how the viewport maps to the browser.

    Parameters
    ----------
    size : {"small", "medium", "large"}
        Displayed size of each panel.
    **kwargs
        Passed to `ipywidgets.VBox`.

    Attributes
    ----------
    panels : StampPanels
        The browser widget (its traits: flip, reticle, blink...).
    """

    def __init__(self, size: str = "medium", **kwargs: Any) -> None:
        self.panels = StampPanels(size=size, reticle=False)
        self._payloads: dict[str, dict[str, Any]] = {}
        self._from_kernel = False
        super().__init__(children=[self.panels], **kwargs)
        self.panels.observe(self._on_browser_view, names=["zoom", "center"])

    # What the browser is sent

    def _image_payload(self, image_label: str) -> dict[str, Any]:
        """The panel of `image_label` (`stamp_display.image_payload`: no reticle). A subclass
        may add a reticle position or a survey's pixel scale."""
        image = self._images[image_label]
        return image_payload(image_label, image.pixels, image.wcs, image.unit)

    def _image_loaded(self, image_label: str) -> None:
        self._payloads[image_label] = self._image_payload(image_label)
        self._link_views(image_label)
        with self.panels.hold_sync():
            self.panels.stamps = [self._payloads[label] for label in self._images]
            self._push_rendering(image_label)
            self._push_view(image_label)
            self._push_markers()

    def _rendering_changed(self, image_label: str) -> None:
        self._push_rendering(image_label)

    def _viewport_changed(self, image_label: str) -> None:
        self._link_views(image_label)
        self._push_view(image_label)

    def _link_views(self, image_label: str) -> None:
        """Every other image's viewport set to the view `image_label`'s gives the browser (the
        panels share it)."""
        view = self._view_of(image_label)
        for label in self._images:
            if label != image_label:
                self._store_view(label, *view)

    def _catalog_changed(self, catalog_label: str) -> None:
        self._push_markers()

    def _catalog_removed(self, catalog_label: str) -> None:
        self._push_markers()

    def rendering(self, image_label: str | None = None) -> dict[str, Any]:
        """What the browser draws `image_label` with: ``cuts`` (the interval's limits on the
        finite pixels), ``curve`` (the stretch, `stamp_panels.CURVE_SAMPLES` float32 samples on
        [0, 1]) and ``colormap``.

        Parameters
        ----------
        image_label : str, optional
            Needed when several images are loaded.
        """
        from fink_cutout_jupyter.widgets.stamp_panels import stretch_curve

        _, image = self._image(image_label)
        return {
            "cuts": interval_limits(image.cuts, image.pixels),
            "curve": stretch_curve(image.stretch),
            "colormap": image.colormap,
        }

    def _push_rendering(self, image_label: str) -> None:
        if not self.panels.has_trait("renderings"):
            return
        rendering = self.rendering(image_label)
        if rendering["colormap"] not in self.panels.colormaps:
            self.panels.colormaps = {
                **self.panels.colormaps,
                **colormap_tables([rendering["colormap"]]),
            }
        renderings = {k: v for k, v in self.panels.renderings.items() if k in self._images}
        self.panels.renderings = {**renderings, image_label: rendering}

    def marker_entries(self) -> list[dict[str, Any]]:
        """The catalogs as ``panels.markers`` takes them. A catalog placed by its pixel
        columns: one entry, on every panel. A catalog placed by the sky
        (`~image_api.LoadedCatalog`'s ``sky``): one entry per image with a WCS, its positions
        through that image's own WCS, on that panel; the images without WCS get its given
        pixel columns if it has some, else no marker. ``visible`` is kept from the browser's
        checkbox."""
        visible = {entry["catalog"]: entry.get("visible", True) for entry in self._shown_markers()}
        entries = []
        for label, catalog in self._catalogs.items():
            style = catalog.style
            common = {
                "catalog": label,
                "shape": style.get("shape", "circle"),
                "color": style.get("color", "red"),
                "size": float(style.get("size", 5.0)),
                "visible": bool(visible.get(label, True)),
            }
            at_pixels = list(self._images)
            if catalog.sky:
                at_pixels = []
                for image_label, image in self._images.items():
                    projected = _projected(catalog.table, image)
                    if projected is None:
                        at_pixels.append(image_label)
                    else:
                        entries.append(
                            {
                                **common,
                                "x": projected[0],
                                "y": projected[1],
                                "panels": [image_label],
                            }
                        )
            positions = marker_positions(catalog.table) if catalog.pixels else None
            if positions is not None and (at_pixels or not self._images):
                panels = None if at_pixels == list(self._images) else at_pixels
                entries.append({**common, "x": positions[0], "y": positions[1], "panels": panels})
        return entries

    def _shown_markers(self) -> list[dict[str, Any]]:
        return list(self.panels.markers) if self.panels.has_trait("markers") else []

    def _push_markers(self) -> None:
        if self.panels.has_trait("markers"):
            self.panels.markers = self.marker_entries()

    # The viewport, both ways

    def _view_of(self, image_label: str) -> tuple[float, float, float]:
        """`image_label`'s viewport as the browser's view: the centre in the first image's view
        coordinates (pixel edges: astropy's x + 0.5; an image of another width scaled to it,
        as the browser scales it) and the zoom (1: the image's larger side in view), unclamped."""
        image = self._images[image_label]
        (x, y), fov = self._pixel_viewport(image)
        ratio = self._ratio(image)
        zoom = max(image.shape) / fov if fov > 0 else math.inf
        return (x + 0.5) / ratio, (y + 0.5) / ratio, zoom

    def _store_view(self, image_label: str, view_x: float, view_y: float, zoom: float) -> None:
        """Set `image_label`'s viewport to what the browser's view shows of it."""
        image = self._images[image_label]
        ratio = self._ratio(image)
        fov = max(image.shape) / zoom
        self._store_pixel_viewport(image_label, (view_x * ratio - 0.5, view_y * ratio - 0.5), fov)

    def _ratio(self, image: LoadedImage) -> float:
        """How much wider `image` is than the first (whose grid the browser's view is in)."""
        first = next(iter(self._images.values()))
        return image.shape[1] / first.shape[1]

    def _push_view(self, image_label: str) -> None:
        """Show `image_label`'s viewport in the browser (zoom clamped to its limits)."""
        view_x, view_y, zoom = self._view_of(image_label)
        zoom = min(max(zoom, 1.0), self.panels.max_zoom) if not math.isnan(zoom) else 1.0
        self._from_kernel = True
        try:
            with self.panels.hold_sync():
                self.panels.zoom = zoom
                if math.isfinite(view_x) and math.isfinite(view_y):
                    self.panels.center = [view_x, view_y]
        finally:
            self._from_kernel = False

    def _on_browser_view(self, change: dict[str, Any]) -> None:
        if self._from_kernel or not self._images:
            return
        view_x, view_y = self.panels.center
        for label in self._images:
            self._store_view(label, view_x, view_y, self.panels.zoom)

    # Saving

    def save(self, filename: str | os.PathLike, overwrite: bool = False, **kwargs: Any) -> None:
        """Save the images as shown (cuts, stretch, colormap, viewport, markers), side by side
        with a colorbar each, through matplotlib; an empty figure when no image is loaded.

        Parameters
        ----------
        filename : str or os.PathLike
            The format is its extension's (``.png``, ``.pdf``, ``.svg``...; none: PNG).
        overwrite : bool
            Replace an existing file.
        **kwargs
            ``dpi`` (default 150); others are ignored.

        Raises
        ------
        FileExistsError
            The file exists and `overwrite` is False (also if it appears while saving).

        Notes
        -----
        The file is written to a temporary name in the same directory and renamed (or, without
        `overwrite`, hard-linked, which refuses an existing name): a failure or a killed
        kernel leaves no partial file.
        """
        from fink_cutout_jupyter.storage.atomic import create_atomically, write_atomically

        path = Path(filename).expanduser()
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"File {filename} already exists. Use overwrite=True to overwrite it."
            )
        file_format = path.suffix[1:].lower() or "png"
        dpi = kwargs.get("dpi", 150)

        def write(stream) -> None:
            self._figure().savefig(stream, format=file_format, dpi=dpi, bbox_inches="tight")

        (write_atomically if overwrite else create_atomically)(path, write)

    def _figure(self):
        """The matplotlib figure `save` writes (`viewer_figure.images_figure`)."""
        from fink_cutout_jupyter.widgets.viewer_figure import (
            FigureImage,
            images_figure,
            panel_markers,
        )

        entries = self.marker_entries()
        images = []
        for label, image in self._images.items():
            center, fov = self._pixel_viewport(image)
            markers = panel_markers(entries, label)
            images.append(
                FigureImage(
                    label=label,
                    pixels=image.pixels,
                    cuts=interval_limits(image.cuts, image.pixels),
                    stretch=image.stretch,
                    colormap=image.colormap,
                    unit=image.unit,
                    center=center,
                    fov=fov,
                    markers=markers,
                )
            )
        return images_figure(images, flip=self.panels.flip)


def _projected(table, image: LoadedImage) -> tuple[bytes, bytes] | None:
    """A catalog's sky positions on `image` through its WCS (float64 bytes), None without."""
    import numpy as np
    from astropy.coordinates import SkyCoord

    coords = table["coord"]
    if image.wcs is None or not isinstance(coords, SkyCoord):
        return None
    x, y = image.wcs.world_to_pixel(coords)
    return (
        np.asarray(x, dtype="<f8").reshape(-1).tobytes(),
        np.asarray(y, dtype="<f8").reshape(-1).tobytes(),
    )
