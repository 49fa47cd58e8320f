"""ImageDisplay: the state and rules of astropy's image-display API (``ImageViewerInterface`` of
``astro-image-display-api``), without a display: labelled images with their cuts, stretch,
colormap and viewport, labelled catalogs with their marker styles.

A widget inherits it and overrides the hooks (`ImageDisplay._image_loaded`,
`_rendering_changed`, `_viewport_changed`, `_catalog_changed`, `_catalog_removed`, no-ops here)
to show the state; `StampViewer` does, in the browser. The package never imports
``astro_image_display_api`` (it needs Python 3.12; we support 3.11): the methods follow its
interface by name, parameter order and error text, and its test suite checks them
(``tests/test_image_display_api.py``).

Conventions (astropy's): pixel coordinates are 0-based with whole numbers at pixel centres; a
viewport's ``fov`` is the side of the square shown, in pixels (a float) or as an angle (a
`~astropy.units.Quantity`, through the image's WCS along its larger dimension); an image with a
WCS keeps a sky centre (`~astropy.coordinates.SkyCoord`) unless given pixels.

Every value is checked before anything is stored (one ``_checked_*`` / ``_check_*`` helper per
kind of value): a refused call raises an error naming the parameter and changes nothing, so no
later call meets a value it cannot use.
"""

from __future__ import annotations

import gzip
import math
import numbers
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from astropy.coordinates import SkyCoord
    from astropy.table import Table
    from astropy.units import Quantity
    from astropy.visualization import BaseInterval, BaseStretch
    from astropy.wcs import WCS

#: The label of an image loaded without one: loading again without a label replaces it.
DEFAULT_IMAGE_LABEL = "image"
#: The label of a catalog loaded without one.
DEFAULT_CATALOG_LABEL = "catalog"
#: The marker shapes a catalog style may name (the interface's list).
MARKER_SHAPES = ("circle", "square", "crosshair", "plus", "diamond")
DEFAULT_COLORMAP = "gray"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class LoadedImage:
    """One labelled image and how it is shown.

    Parameters
    ----------
    data : array-like or `~astropy.nddata.NDData`
        As given to `ImageDisplay.load_image` (a FITS file gives an `~astropy.nddata.NDData`
        with the header as ``meta``), returned by `ImageDisplay.get_image`.
    pixels : numpy.ndarray
        Its 2-D float64 values (row 0 first, NaN allowed).
    wcs : `~astropy.wcs.WCS` or None
        Celestial WCS, if the image has one.
    unit : str
        The pixel values' unit (``BUNIT``, the NDData's unit), ``""`` if unknown.
    cuts, stretch, colormap
        An astropy interval, an astropy stretch, a matplotlib colormap name.
    center : `~astropy.coordinates.SkyCoord` or (x, y)
        The viewport's centre as last set.
    fov : `~astropy.units.Quantity` or float
        The viewport's field of view as last set.
    largest_dimension : int
        0 if the image is at least as tall as wide (rows), 1 if wider (columns): numpy's axis
        along which a pixel fov is measured.
    """

    data: Any
    pixels: np.ndarray
    wcs: WCS | None
    unit: str
    cuts: BaseInterval
    stretch: BaseStretch
    colormap: str
    center: SkyCoord | tuple[float, float]
    fov: Quantity | float
    largest_dimension: int

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        height, width = self.pixels.shape
        return height, width


@dataclass
class LoadedCatalog:
    """One labelled catalog: its table, positions under the canonical names ``x``, ``y``,
    ``coord`` (a column of None where a position is unknown), and its marker style.

    ``sky``: its markers are placed by the sky column, through each image's own WCS (it was
    given sky positions, and ``use_skycoord`` or no pixel columns); ``pixels``: it was given
    pixel columns (not computed from a WCS), drawn where it is not placed by the sky.
    """

    table: Table
    style: dict[str, Any] = field(default_factory=dict)
    sky: bool = False
    pixels: bool = True


def default_catalog_style() -> dict[str, Any]:
    """The style of a catalog loaded without one: red circles of half-width 5."""
    return {"shape": "circle", "color": "red", "size": 5}


class ImageDisplay:
    """The astropy image-display API's state, as a mixin (see the module docstring).

    Images and catalogs are kept by label, in loading order. A new image is shown with
    `~astropy.visualization.ZScaleInterval` cuts, a `~astropy.visualization.LinearStretch` and
    the ``gray`` colormap, its whole extent in view; loading under an existing label keeps that
    label's cuts, stretch and colormap and resets its viewport.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._images: dict[str, LoadedImage] = {}
        self._catalogs: dict[str, LoadedCatalog] = {}
        super().__init__(*args, **kwargs)

    # Hooks: the widget shows the state (no-ops here). Each gets a resolved label.

    def _image_loaded(self, image_label: str) -> None:
        """An image was loaded (or replaced) under `image_label`, with its rendering and
        viewport."""

    def _rendering_changed(self, image_label: str) -> None:
        """The cuts, stretch or colormap of `image_label` changed."""

    def _viewport_changed(self, image_label: str) -> None:
        """`set_viewport` changed the viewport of `image_label`."""

    def _catalog_changed(self, catalog_label: str) -> None:
        """A catalog was loaded under `catalog_label`, or its style changed."""

    def _catalog_removed(self, catalog_label: str) -> None:
        """The catalog `catalog_label` was removed."""

    # Labels

    def _resolve_label(self, label: str | None, kind: str, allow_new: bool = False) -> str:
        registry: dict[str, Any]
        registry, article = (
            (self._images, "an image") if kind == "image" else (self._catalogs, "a catalog")
        )
        if label is not None:
            if not isinstance(label, str):
                raise TypeError(f"{kind}_label: a label is a string, not {label!r}")
            if not allow_new and label not in registry:
                raise ValueError(
                    f"{kind.capitalize()} label '{label}' not found. Please load {article} first."
                )
            return label
        if allow_new:
            return DEFAULT_IMAGE_LABEL if kind == "image" else DEFAULT_CATALOG_LABEL
        if not registry:
            raise ValueError(f"No {kind} is loaded. Please load {article} first.")
        if len(registry) > 1:
            raise ValueError(
                f"Multiple {kind} labels defined. Please specify a {kind}_label to select one."
            )
        return next(iter(registry))

    def _image(self, image_label: str | None) -> tuple[str, LoadedImage]:
        label = self._resolve_label(image_label, "image")
        return label, self._images[label]

    @property
    def image_labels(self) -> tuple[str, ...]:
        """Labels of the loaded images, in loading order.

        Returns
        -------
        tuple of str
            The labels of the loaded images.
        """
        return tuple(self._images)

    @property
    def catalog_labels(self) -> tuple[str, ...]:
        """Labels of the loaded catalogs, in loading order.

        Returns
        -------
        tuple of str
            The names of the loaded catalogs.
        """
        return tuple(self._catalogs)

    # Images

    def load_image(self, data: Any, image_label: str | None = None, **kwargs: Any) -> None:
        """Load an image: a FITS file (path; gzipped too), an `~astropy.nddata.NDData` (or
        `~astropy.nddata.CCDData`) or a 2-D array (a numpy masked array too).

        Parameters
        ----------
        data : str, os.PathLike, `~astropy.nddata.NDData` or array-like
            A FITS file's first image HDU (tables before it skipped) is read with its header's
            celestial WCS and ``BUNIT``; an NDData's ``wcs``, ``unit`` and ``mask`` are used.
            Masked pixels (an NDData's ``mask``, a masked array's) are invalid: NaN in the
            pixels shown, left out of the cuts, as NaN pixels are. Leading axes of length 1
            are dropped (a cube of one plane, shape (1, ny, nx), is that plane; of a WCS with
            more axes, its celestial part).
        image_label : str, optional
            Its label. Without one, the single default label (``"image"``): loading again
            without a label replaces that image. An existing label's image is replaced, its
            cuts, stretch and colormap kept.
        **kwargs
            Accepted and ignored.

        Raises
        ------
        ValueError
            Naming ``data``: not 2-D (once leading axes of length 1 are dropped), no pixels
            (0 x N), values that are not numbers, a mask of another shape; a file that is not
            a FITS file or holds no image HDU (naming the file), an HDU that is not an image.
        TypeError
            `image_label` is not a string.
        FileNotFoundError
            No such file.

        Notes
        -----
        The image's viewport is reset to show it whole, centred (whatever the shape of the
        image it replaces); other images' viewports do not change here (a widget showing one
        view for all, as `StampViewer`, gives them that view). An astropy HDU (or HDU list:
        its first image) is taken as a FITS file is. Nothing changes if the image is refused.
        """
        from astropy.visualization import LinearStretch, ZScaleInterval

        label = self._resolve_label(image_label, "image", allow_new=True)
        given, pixels, wcs, unit = _read_image(data)
        previous = self._images.get(label)
        height, width = pixels.shape
        largest = int(width > height)
        image = LoadedImage(
            data=given,
            pixels=pixels,
            wcs=wcs,
            unit=unit,
            cuts=previous.cuts if previous else ZScaleInterval(),
            stretch=previous.stretch if previous else LinearStretch(),
            colormap=previous.colormap if previous else DEFAULT_COLORMAP,
            center=((width - 1) / 2, (height - 1) / 2),
            fov=float(max(height, width)),
            largest_dimension=largest,
        )
        if wcs is not None:
            image.center = wcs.pixel_to_world(*image.center)
            image.fov = image.fov * _pixel_scale(wcs, largest)
        self._images[label] = image
        self._image_loaded(label)

    def get_image(self, image_label: str | None = None, **kwargs: Any) -> Any:
        """The data of a loaded image, as it was given (a FITS file: an
        `~astropy.nddata.NDData` with its WCS, unit and header); it loads again as it is.

        Parameters
        ----------
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Returns
        -------
        array-like or `~astropy.nddata.NDData`

        Raises
        ------
        ValueError
            No image is loaded, the label is unknown, or several images are loaded and no
            label is given.
        """
        return self._image(image_label)[1].data

    # Rendering

    def set_cuts(
        self,
        cuts: tuple[numbers.Real, numbers.Real] | BaseInterval,
        image_label: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Set an image's cuts.

        Parameters
        ----------
        cuts : astropy interval or (low, high)
            Any `astropy.visualization` interval (computed on the image's finite pixels); a
            pair is a `~astropy.visualization.ManualInterval`.
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Raises
        ------
        TypeError
            `cuts` is neither an interval nor a pair of numbers.
        ValueError
            The cuts it gives on the image are not finite with low < high (low <= high for an
            interval computed from the pixels: a flat image); no image is loaded, the label is
            unknown, or several images and no label.
        """
        label, image = self._image(image_label)
        image.cuts = _checked_cuts(cuts, image.pixels)
        self._rendering_changed(label)

    def get_cuts(self, image_label: str | None = None, **kwargs: Any) -> BaseInterval:
        """An image's cuts, as an astropy interval.

        Parameters
        ----------
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Returns
        -------
        `astropy.visualization.BaseInterval`

        Raises
        ------
        ValueError
            No image is loaded, the label is unknown, or several images and no label.
        """
        return self._image(image_label)[1].cuts

    def set_stretch(
        self, stretch: BaseStretch, image_label: str | None = None, **kwargs: Any
    ) -> None:
        """Set an image's stretch (applied after the cuts, on values scaled to [0, 1]).

        Parameters
        ----------
        stretch : astropy stretch
            Any `~astropy.visualization.BaseStretch`.
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Raises
        ------
        TypeError
            `stretch` is not an astropy stretch.
        ValueError
            It gives values that are not finite on [0, 1] (e.g. a `HistEqStretch` of a flat
            image), naming ``stretch``; no image is loaded, the label is unknown, or several
            images and no label.
        """
        label, image = self._image(image_label)
        image.stretch = _checked_stretch(stretch)
        self._rendering_changed(label)

    def get_stretch(self, image_label: str | None = None, **kwargs: Any) -> BaseStretch:
        """An image's stretch.

        Parameters
        ----------
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Returns
        -------
        `~astropy.visualization.BaseStretch`

        Raises
        ------
        ValueError
            No image is loaded, the label is unknown, or several images and no label.
        """
        return self._image(image_label)[1].stretch

    def set_colormap(self, map_name: str, image_label: str | None = None, **kwargs: Any) -> None:
        """Set an image's colormap.

        Parameters
        ----------
        map_name : str
            A matplotlib colormap name (``matplotlib.colormaps``).
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Raises
        ------
        ValueError
            Not a matplotlib colormap; no image is loaded, the label is unknown, or several
            images and no label.
        """
        from matplotlib import colormaps

        if map_name not in colormaps:
            raise ValueError(f"Colormap '{map_name}' is not a valid colormap name.")
        label, image = self._image(image_label)
        image.colormap = map_name
        self._rendering_changed(label)

    def get_colormap(self, image_label: str | None = None, **kwargs: Any) -> str | None:
        """An image's colormap name.

        Parameters
        ----------
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Returns
        -------
        str

        Raises
        ------
        ValueError
            No image is loaded, the label is unknown, or several images and no label.
        """
        return self._image(image_label)[1].colormap

    # Viewport

    def set_viewport(
        self,
        center: SkyCoord | tuple[float, float] | None = None,
        fov: Quantity | float | None = None,
        image_label: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Set the region of an image in view.

        Parameters
        ----------
        center : `~astropy.coordinates.SkyCoord` or (x, y), optional
            The centre (pixels: 0-based, whole numbers at pixel centres). Default: unchanged.
        fov : `~astropy.units.Quantity` or float, optional
            The side of the square in view: an angle, or pixels. Default: unchanged.
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Raises
        ------
        TypeError
            ``Invalid value for center`` (not one SkyCoord position nor two numbers) /
            ``Invalid value for fov`` (not one angle nor a number); or, for an image without
            WCS, a sky value (``Center must be a tuple``, ``FOV must be a float``).
        ValueError
            ``center``: not finite, or a sky position the image's WCS puts at no pixel;
            ``fov``: not positive and finite. No image is loaded, the label is unknown, or
            several images and no label. Nothing changes then.
        astropy.units.UnitTypeError
            `fov` is a Quantity but not an angle (``Incorrect unit for fov``).
        """
        label, image = self._image(image_label)
        center = image.center if center is None else _checked_center(center, image)
        fov = image.fov if fov is None else _checked_fov(fov, image)
        image.center, image.fov = center, fov
        self._viewport_changed(label)

    def get_viewport(
        self, sky_or_pixel: str | None = None, image_label: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The region of an image in view.

        Parameters
        ----------
        sky_or_pixel : {"sky", "pixel"}, optional
            The centre as a `~astropy.coordinates.SkyCoord` and the fov as an angle, or as
            pixels. Default: sky if the image has a WCS.
        image_label : str, optional
            Needed when several images are loaded.
        **kwargs
            Accepted and ignored.

        Returns
        -------
        dict
            ``center``, ``fov`` and ``image_label``.

        Raises
        ------
        ValueError
            `sky_or_pixel` is none of the three; a conversion needs a WCS the image lacks
            (``WCS is not set``); no image is loaded, the label is unknown, or several images
            and no label.
        """
        if sky_or_pixel not in (None, "sky", "pixel"):
            raise ValueError("sky_or_pixel must be 'sky', 'pixel', or None.")
        label, image = self._image(image_label)
        if sky_or_pixel is None:
            sky_or_pixel = "pixel" if image.wcs is None else "sky"
        if sky_or_pixel == "sky":
            center, fov = self._sky_viewport(image)
        else:
            center, fov = self._pixel_viewport(image)
        return {"center": center, "fov": fov, "image_label": label}

    @staticmethod
    def _sky_viewport(image: LoadedImage) -> tuple[SkyCoord, Quantity]:
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        center, fov = image.center, image.fov
        if not (isinstance(center, SkyCoord) and isinstance(fov, u.Quantity)):
            if image.wcs is None:
                raise ValueError("WCS is not set. Cannot convert pixel coordinates to sky.")
            if not isinstance(center, SkyCoord):
                center = image.wcs.pixel_to_world(*center)
            if not isinstance(fov, u.Quantity):
                fov = fov * _pixel_scale(image.wcs, image.largest_dimension)
        return center, fov

    @staticmethod
    def _pixel_viewport(image: LoadedImage) -> tuple[tuple[float, float], float]:
        """The viewport of `image` in its pixels: centre (x, y) and fov."""
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        center, fov = image.center, image.fov
        if isinstance(center, SkyCoord):
            if image.wcs is None:
                raise ValueError("WCS is not set. Cannot convert sky coordinates to pixels.")
            x, y = image.wcs.world_to_pixel(center)
            center = (float(x), float(y))
        if isinstance(fov, u.Quantity):
            if image.wcs is None:
                raise ValueError("WCS is not set. Cannot convert FOV to pixel coordinates.")
            fov = float((fov / _pixel_scale(image.wcs, image.largest_dimension)).to_value(""))
        return center, fov

    def _store_pixel_viewport(
        self, image_label: str, center: tuple[float, float], fov: float
    ) -> None:
        """Set `image_label`'s viewport from pixels, kept in the kind it holds (a sky centre
        stays a `SkyCoord`, an angular fov a `Quantity`, through the image's WCS); no hook."""
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        image = self._images[image_label]
        sky = None
        if isinstance(image.center, SkyCoord) and image.wcs is not None:
            sky = image.wcs.pixel_to_world(*center)
        if sky is not None and _has_pixel(sky, image.wcs):
            image.center = sky
        else:  # no WCS, or a pixel its projection puts nowhere on the sky
            image.center = (float(center[0]), float(center[1]))
        if isinstance(image.fov, u.Quantity) and image.wcs is not None:
            image.fov = (fov * _pixel_scale(image.wcs, image.largest_dimension)).to(image.fov.unit)
        else:
            image.fov = float(fov)

    # Catalogs

    def load_catalog(
        self,
        table: Table,
        x_colname: str = "x",
        y_colname: str = "y",
        skycoord_colname: str = "coord",
        use_skycoord: bool = False,
        catalog_label: str | None = None,
        catalog_style: dict | None = None,
        **kwargs: Any,
    ) -> None:
        """Load a catalog: markers at its rows' positions.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Kept whole (a copy), every column.
        x_colname, y_colname : str
            Its pixel position columns (0-based, whole numbers at pixel centres).
        skycoord_colname : str
            Its `~astropy.coordinates.SkyCoord` column.
        use_skycoord : bool
            Positions from the sky column (or from the pixel columns through the image's WCS
            if it has none); else from the pixel columns (or from the sky column through the
            WCS). The WCS is the loaded image's; with several images loaded, a needed
            conversion is an error, an optional one is not made. A catalog placed by its sky
            column (`use_skycoord`, or no pixel columns) is drawn on each image with a WCS
            through that image's own (the pixel columns `get_catalog` gives are the
            conversion at loading, if any); on an image without WCS at its given pixel
            columns, and not at all without them.
        catalog_label : str, optional
            Its label. Without one, the single default label (``"catalog"``).
        catalog_style : dict, optional
            Its style (see `set_catalog_style`). Default: the label's current style, else
            `default_catalog_style`.
        **kwargs
            Accepted and ignored.

        Raises
        ------
        TypeError
            `table` is not a Table, its sky column not a SkyCoord, `catalog_style` not a dict.
        ValueError
            ``Cannot use pixel coordinates without pixel columns ...``, ``Cannot use sky
            coordinates without ...``, or a conversion needs one WCS of several images; pixel
            columns holding other things than numbers (None and masked values are unknown
            positions); a style the markers cannot draw. Nothing changes then.
        """
        label = self._resolve_label(catalog_label, "catalog", allow_new=True)
        _check_catalog(table, x_colname, y_colname, skycoord_colname)
        previous = self._catalogs.get(label)
        if catalog_style is None:
            catalog_style = dict(previous.style) if previous else default_catalog_style()
        _check_style(catalog_style)
        coords = table[skycoord_colname] if skycoord_colname in table.colnames else None
        has_xy = x_colname in table.colnames and y_colname in table.colnames
        pixels_given, by_sky = has_xy, coords is not None and (use_skycoord or not has_xy)
        wcs = self._catalog_wcs(
            required=(not has_xy and coords is not None and not use_skycoord)
            or (coords is None and use_skycoord)
        )
        kept = table.copy()
        if not has_xy:
            if wcs is not None and coords is not None:
                kept[x_colname], kept[y_colname] = wcs.world_to_pixel(coords)
                has_xy = True
            elif not use_skycoord:
                raise ValueError(
                    "Cannot use pixel coordinates without pixel columns or both coordinates "
                    "and a WCS."
                )
            else:
                kept[x_colname] = kept[y_colname] = None
        if coords is None:
            if use_skycoord and wcs is None:
                raise ValueError("Cannot use sky coordinates without a SkyCoord column or WCS.")
            if wcs is not None:
                kept[skycoord_colname] = wcs.pixel_to_world(kept[x_colname], kept[y_colname])
            else:
                kept[skycoord_colname] = None
        kept.rename_columns([x_colname, y_colname, skycoord_colname], ["x", "y", "coord"])
        self._catalogs[label] = LoadedCatalog(kept, dict(catalog_style), by_sky, pixels_given)
        self._catalog_changed(label)

    def _catalog_wcs(self, required: bool) -> WCS | None:
        """The WCS converting a catalog's positions: the one image's; with several images,
        none (an error if `required`)."""
        if not self._images:
            return None
        if len(self._images) == 1:
            return next(iter(self._images.values())).wcs
        if required:
            raise ValueError(
                "Multiple image labels defined. Cannot determine which image's WCS to use to "
                "convert catalog coordinates."
            )
        return None

    def get_catalog(
        self,
        x_colname: str = "x",
        y_colname: str = "y",
        skycoord_colname: str = "coord",
        catalog_label: str | None = None,
        **kwargs: Any,
    ) -> Table:
        """A catalog's table (a copy), its position columns under the names asked for.

        Parameters
        ----------
        x_colname, y_colname, skycoord_colname : str
            The names the position columns get.
        catalog_label : str, optional
            Needed when several catalogs are loaded.
        **kwargs
            Accepted and ignored.

        Returns
        -------
        `~astropy.table.Table`
            Empty (with the three columns) when no catalog is loaded and no label given.

        Raises
        ------
        ValueError
            The label is unknown, or several catalogs are loaded and no label is given.
        """
        from astropy.table import Table

        if catalog_label is None and not self._catalogs:
            return Table(names=[x_colname, y_colname, skycoord_colname])
        label = self._resolve_label(catalog_label, "catalog")
        result = self._catalogs[label].table.copy()
        result.rename_columns(["x", "y", "coord"], [x_colname, y_colname, skycoord_colname])
        return result

    def remove_catalog(self, catalog_label: str | None = None, **kwargs: Any) -> None:
        """Remove a catalog and its markers.

        Parameters
        ----------
        catalog_label : str, optional
            ``"*"`` removes every catalog. Needed when several catalogs are loaded.
        **kwargs
            Accepted and ignored.

        Raises
        ------
        TypeError
            `catalog_label` is a list.
        ValueError
            No catalog is loaded, the label is unknown, or several catalogs and no label.
        """
        if isinstance(catalog_label, list):
            raise TypeError(
                "Cannot remove multiple catalogs from a list. Please specify a single catalog "
                "label or use '*' to remove all catalogs."
            )
        if catalog_label == "*":
            removed = tuple(self._catalogs)
            self._catalogs = {}
            for label in removed:
                self._catalog_removed(label)
            return
        label = self._resolve_label(catalog_label, "catalog")
        del self._catalogs[label]
        self._catalog_removed(label)

    def set_catalog_style(
        self,
        catalog_label: str | None = None,
        shape: str = "circle",
        color: str = "red",
        size: float = 5.0,
        **kwargs: Any,
    ) -> None:
        """Set how a catalog's markers are drawn.

        Parameters
        ----------
        catalog_label : str, optional
            Needed when several catalogs are loaded.
        shape : {"circle", "square", "crosshair", "plus", "diamond"}
        color : str
            A CSS colour (a CSS4 name, ``#rrggbb``, ``#rrggbbaa``).
        size : float
            The marker's half-width, in screen pixels.
        **kwargs
            Kept in the style (returned by `get_catalog_style`).

        Raises
        ------
        ValueError
            No catalog is loaded (``Must load a catalog before setting a catalog style``), the
            label is unknown, several catalogs and no label, or an unknown shape.
        """
        if not self._catalogs:
            raise ValueError("Must load a catalog before setting a catalog style.")
        label = self._resolve_label(catalog_label, "catalog")
        style = {"shape": shape, "color": color, "size": size, **kwargs}
        _check_style(style)
        self._catalogs[label].style = style
        self._catalog_changed(label)

    def get_catalog_style(self, catalog_label: str | None = None, **kwargs: Any) -> dict:
        """A catalog's style: ``shape``, ``color``, ``size``, any other key it was given, and
        ``catalog_label``.

        Parameters
        ----------
        catalog_label : str, optional
            Needed when several catalogs are loaded. With none loaded and no label, the
            default style (``catalog_label`` None).
        **kwargs
            Accepted and ignored.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            The label is unknown, or several catalogs are loaded and no label is given.
        """
        if catalog_label is None and not self._catalogs:
            return {**default_catalog_style(), "catalog_label": None}
        label = self._resolve_label(catalog_label, "catalog")
        return {**self._catalogs[label].style, "catalog_label": label}


def _check_catalog(table: Any, x_colname: str, y_colname: str, skycoord_colname: str) -> None:
    """A catalog's table is an astropy Table whose position columns, where present, hold
    what markers need: numbers (None or masked: unknown) in the pixel columns, a SkyCoord in
    the sky column.

    Raises
    ------
    TypeError
        Not a Table, or a sky column that is not a SkyCoord (naming ``skycoord_colname``).
    ValueError
        A pixel column holding something else, naming ``x_colname`` or ``y_colname``.
    """
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    from fink_cutout_jupyter.widgets.stamp_display import pixel_values

    if not isinstance(table, Table):
        raise TypeError(f"table: an astropy Table, not {type(table).__name__}")
    for parameter, name in (("x_colname", x_colname), ("y_colname", y_colname)):
        if name in table.colnames:
            try:
                pixel_values(table[name])
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"{parameter}: column {name!r} holds {error}, not pixel positions"
                ) from None
    if skycoord_colname in table.colnames and not isinstance(table[skycoord_colname], SkyCoord):
        kind = type(table[skycoord_colname]).__name__
        raise TypeError(
            f"skycoord_colname: column {skycoord_colname!r} is a {kind}, not a SkyCoord"
        )


def _check_style(style: Any) -> None:
    """A catalog style is a dict whose shape, colour and size, where given, are ones the
    markers can draw.

    Raises
    ------
    TypeError
        Not a dict (naming ``catalog_style``).
    ValueError
        Naming the key and what it accepts.
    """
    from matplotlib.colors import is_color_like

    if not isinstance(style, dict):
        raise TypeError(f"catalog_style: a dict of shape, color and size, not {style!r}")

    if "shape" in style and style["shape"] not in MARKER_SHAPES:
        raise ValueError(
            f"shape: {style['shape']!r} is not a marker shape; one of {', '.join(MARKER_SHAPES)}"
        )
    if "color" in style and not is_color_like(style["color"]):
        raise ValueError(f"color: {style['color']!r} is not a CSS colour (a name, #rrggbb)")
    size = style.get("size", 0.0)
    if (
        isinstance(size, bool)
        or not isinstance(size, numbers.Real)
        or not 0 <= float(size) < math.inf
    ):
        raise ValueError(f"size: {size!r} is not a half-width in pixels (a number >= 0)")


def _is_number(value: Any) -> bool:
    """A real number (numpy's too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _checked_center(center: Any, image: LoadedImage) -> SkyCoord | tuple[float, float]:
    """A viewport centre `set_viewport` may keep for `image`: one sky position its WCS puts on
    a pixel, or two finite numbers (as floats).

    Raises
    ------
    TypeError
        Neither (the interface's ``Invalid value for center``), or a sky position for an
        image without WCS.
    ValueError
        Not finite, or off the WCS's projection; naming ``center``.
    """
    from astropy.coordinates import SkyCoord

    if isinstance(center, SkyCoord):
        if not center.isscalar:
            raise TypeError(
                f"Invalid value for center. A SkyCoord center must be one position, not "
                f"{center.shape}."
            )
        if image.wcs is None:
            raise TypeError("Center must be a tuple for this image when WCS is not set.")
        if not _has_pixel(center, image.wcs):
            raise ValueError(
                f"center: {center.to_string('decimal')} ({center.frame.name}) has no pixel "
                "position through this image's WCS"
            )
        return center
    if not (isinstance(center, tuple) and len(center) == 2 and all(map(_is_number, center))):
        raise TypeError("Invalid value for center. Center must be a SkyCoord or tuple of (X, Y).")
    x, y = (float(v) for v in center)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"center: {(x, y)!r} is not a finite pixel position (x, y)")
    return x, y


def _has_pixel(center: SkyCoord, wcs: WCS) -> bool:
    """Whether `wcs` puts the sky position `center` at a finite pixel."""
    return bool(np.all(np.isfinite(wcs.world_to_pixel(center))))


def _checked_fov(fov: Any, image: LoadedImage) -> Quantity | float:
    """A viewport's field of view `set_viewport` may keep for `image`: one positive finite
    angle (an image with a WCS) or number.

    Raises
    ------
    astropy.units.UnitTypeError
        A Quantity that is not an angle (the interface's ``Incorrect unit for fov``).
    TypeError
        Neither one angle nor a number (``Invalid value for fov``), or an angle for an image
        without WCS.
    ValueError
        Not positive and finite, naming ``fov``.
    """
    from astropy import units as u

    if isinstance(fov, u.Quantity):
        if not fov.unit.is_equivalent(u.deg):
            raise u.UnitTypeError(
                "Incorrect unit for fov. fov must be an angular Quantity or float."
            )
        if not fov.isscalar:
            raise TypeError(f"Invalid value for fov. fov must be one angle, not {fov}.")
        if image.wcs is None:
            raise TypeError("FOV must be a float for this image when WCS is not set.")
        value = float(fov.to_value(u.deg))
    elif _is_number(fov):
        value = float(fov)
    else:
        raise TypeError("Invalid value for fov. fov must be an angular Quantity or float.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"fov: {fov} is not a positive finite field of view")
    return fov


def _checked_cuts(cuts: Any, pixels: np.ndarray) -> BaseInterval:
    """Cuts `set_cuts` may keep for an image of `pixels`: an astropy interval (a pair of
    numbers: a `~astropy.visualization.ManualInterval`) whose limits on the finite pixels
    (`stamp_display.interval_limits`, what the browser is sent) are finite with low < high;
    equal limits only where the pixels give them (a flat image).

    Raises
    ------
    TypeError
        Neither an interval nor a pair (the interface's text), or a pair of non-numbers.
    ValueError
        Limits that are not finite, reversed, or equal as given; naming ``cuts``.
    """
    from astropy.visualization import BaseInterval, ManualInterval

    from fink_cutout_jupyter.widgets.stamp_display import interval_limits

    if isinstance(cuts, tuple) and len(cuts) == 2:
        if not all(map(_is_number, cuts)):
            raise TypeError(f"cuts: (low, high) must be numbers, not {cuts!r}")
        cuts = ManualInterval(cuts[0], cuts[1])
    elif not isinstance(cuts, BaseInterval):
        raise TypeError(
            "Cuts must be an Astropy.visualization Interval object or a tuple of two values."
        )
    try:
        low, high = interval_limits(cuts, pixels)
    except (ArithmeticError, TypeError, ValueError) as error:
        raise ValueError(f"cuts: {cuts!r} gives no limits on this image ({error})") from None
    given = all(getattr(cuts, name, None) is not None for name in ("vmin", "vmax"))
    if not (math.isfinite(low) and math.isfinite(high)) or low > high or (given and low == high):
        raise ValueError(f"cuts: [{low!r}, {high!r}] are not finite cuts with low < high")
    return cuts


def _checked_stretch(stretch: Any) -> BaseStretch:
    """A stretch `set_stretch` may keep: an astropy stretch whose curve, as the browser is sent
    it (`stamp_panels.stretch_curve`), is finite.

    Raises
    ------
    TypeError
        Not an astropy stretch (the interface's text).
    ValueError
        A curve with values that are not finite, or a stretch that fails; naming ``stretch``.
    """
    from astropy.visualization import BaseStretch

    from fink_cutout_jupyter.widgets.stamp_panels import stretch_curve

    if not isinstance(stretch, BaseStretch):
        raise TypeError(
            f"Stretch option {stretch} is not valid. Must be an `astropy.visualization` "
            "Stretch object."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the check below says
            curve = np.frombuffer(stretch_curve(stretch), dtype="<f4")
    except (ArithmeticError, TypeError, ValueError) as error:
        raise ValueError(f"stretch: {stretch!r} fails on [0, 1] ({error})") from None
    if not np.isfinite(curve).all():
        raise ValueError(f"stretch: {stretch!r} gives values that are not finite on [0, 1]")
    return stretch


def _pixel_scale(wcs: WCS, largest_dimension: int) -> Quantity:
    """The angle of one pixel along numpy axis `largest_dimension` (0 rows, 1 columns), in
    degrees: `proj_plane_pixel_scales` is ordered by WCS axis (x first), hence ``1 - axis``."""
    from astropy import units as u
    from astropy.wcs.utils import proj_plane_pixel_scales

    return float(proj_plane_pixel_scales(wcs)[1 - largest_dimension]) * u.deg


def _read_image(data: Any) -> tuple[Any, np.ndarray, WCS | None, str]:
    """What `load_image` keeps of `data`: the object returned by `get_image`, float pixels
    (`_image_pixels`), celestial WCS, unit."""
    from astropy.io import fits
    from astropy.nddata import NDData

    if isinstance(data, str | os.PathLike):
        data = _read_fits(Path(data))
    elif isinstance(data, fits.HDUList):
        hdu = _first_image_hdu(data)
        if hdu is None:
            raise ValueError("data: the HDU list holds no image HDU (only tables or no data)")
        data = hdu
    if isinstance(data, fits.hdu.base._BaseHDU):
        if _first_image_hdu([data]) is None:
            raise ValueError(f"data: a {type(data).__name__} is not an image HDU with data")
        data = _fits_nddata(data.data, data.header)
    if isinstance(data, NDData):
        pixels = _image_pixels(data.data, data.mask)
        wcs = _image_wcs(data.wcs)
        unit = "" if data.unit is None else data.unit.to_string()
    else:
        pixels = _image_pixels(data, np.ma.getmask(data))
        wcs, unit = None, ""
    return data, pixels, wcs, unit


def _image_pixels(values: Any, mask: Any) -> np.ndarray:
    """An image's 2-D float64 pixels, NaN where `mask` is true: leading axes of length 1 are
    dropped (a FITS cube of one plane is that plane, as ``data[0]``).

    Raises
    ------
    ValueError
        Not 2-D once those axes are dropped, no pixels (a 0 x N image), values that are not
        numbers, or a mask of another shape; each naming ``data``.
    """
    try:
        pixels = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"data: an image's values must be numbers ({error})") from None
    given = pixels.shape
    while pixels.ndim > 2 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 2:
        raise ValueError(
            f"data: an image must be 2-D (leading axes of length 1 are dropped); this one has "
            f"shape {given}"
        )
    if pixels.size == 0:
        raise ValueError(f"data: an image needs pixels; this one has shape {given}")
    if mask is None or mask is np.ma.nomask or not np.any(mask):
        return pixels
    try:
        masked = np.broadcast_to(np.asarray(mask, dtype=bool), given).reshape(pixels.shape)
    except ValueError:
        raise ValueError(
            f"data: its mask of shape {np.shape(mask)} does not fit the image's {given}"
        ) from None
    return np.where(masked, np.nan, pixels)


def _image_wcs(wcs: Any) -> Any:
    """An NDData's WCS as the image's: its low-level WCS; of a WCS with more than two pixel
    axes (an image whose leading axes of length 1 `_image_pixels` drops), the celestial part
    on its first two axes (astropy's `~astropy.wcs.WCS.celestial`).

    Raises
    ------
    ValueError
        A WCS of more than two pixel axes without such a part.
    """
    from astropy.wcs import WCS

    if wcs is None:
        return None
    wcs = getattr(wcs, "low_level_wcs", wcs)
    if wcs.pixel_n_dim <= 2:
        return wcs
    if isinstance(wcs, WCS) and wcs.has_celestial and {wcs.wcs.lng, wcs.wcs.lat} == {0, 1}:
        return wcs.celestial
    raise ValueError(
        f"data: its WCS has {wcs.pixel_n_dim} pixel axes and no celestial part on the first two"
    )


def _first_image_hdu(hdus):
    """The first HDU of `hdus` holding image pixels (primary, image or compressed image;
    not a table or random groups), None if there is none."""
    from astropy.io import fits

    for hdu in hdus:
        is_image = isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU)
        if is_image and not isinstance(hdu, fits.GroupsHDU) and hdu.data is not None:
            return hdu
    return None


def _read_fits(path: Path):
    """A FITS file's first image HDU (`_first_image_hdu`; gzipped or not) as `_fits_nddata`
    gives it. Read whole by astropy (a missing SIMPLE card allowed, as ZTF's stamps have).

    Raises
    ------
    ValueError
        The file is not a FITS file, or holds no image HDU; naming the file.
    """
    import io

    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    stored = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)  # a damaged file: the error says
            contents = gzip.decompress(stored) if stored[:2] == _GZIP_MAGIC else stored
            with fits.open(io.BytesIO(contents), ignore_missing_simple=True) as hdus:
                hdu = _first_image_hdu(hdus)
                found = None if hdu is None else (np.array(hdu.data), hdu.header.copy())
    except (OSError, EOFError, ValueError, TypeError, IndexError, KeyError) as error:
        raise ValueError(f"data: {path} is not a FITS file holding an image ({error})") from None
    if found is None:
        raise ValueError(f"data: {path} holds no image HDU (only tables or no data)")
    return _fits_nddata(*found)


def _fits_nddata(pixels, header):
    """A FITS image as an NDData: its pixels, the header's celestial WCS (`celestial_wcs`),
    ``BUNIT`` as unit (when astropy knows it) and the header as ``meta``."""
    from astropy import units as u
    from astropy.nddata import NDData

    from fink_cutout_jupyter.widgets.stamp_display import celestial_wcs

    unit = None
    bunit = str(header.get("BUNIT", "")).strip()
    if bunit:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                unit = u.Unit(bunit)
            except ValueError:
                unit = None
    return NDData(pixels, wcs=celestial_wcs(header), unit=unit, meta=header.copy())


__all__ = [
    "DEFAULT_CATALOG_LABEL",
    "DEFAULT_IMAGE_LABEL",
    "MARKER_SHAPES",
    "ImageDisplay",
    "LoadedCatalog",
    "LoadedImage",
    "default_catalog_style",
]
