"""What the stamps' front-end needs, computed without a display: pixels as float32 buffers, zscale
cuts, sky positions from a WCS, compass and orientation, the alert's position (the reticle) and
the pixel scale (the scale bar), detection sign, links, colormap tables.

The browser (``static/stamps.js``) applies cuts, stretch and colormap itself; these functions give
it what only astropy, matplotlib or the survey know. The same colours in Python (saved figures,
the static fallback) are `cutouts.render`'s.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import numpy as np

from fink_cutout_jupyter.cutouts.render import colormap_table, interval_cuts
from fink_cutout_jupyter.surveys import Survey

if TYPE_CHECKING:
    from fink_cutout_jupyter.cutouts.stamps import Stamp

DEFAULT_COLORMAPS = (
    "gray",
    "Greys",
    "viridis",
    "magma",
    "inferno",
    "cividis",
    "RdBu_r",
    "coolwarm",
    "PiYG",
)
SEARCH_RADIUS_ARCSEC = 5.0
# Lengths a scale bar may have (arcsec): the longest that fits a quarter of the view is drawn.
SCALE_BAR_ARCSEC = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
# Drawn over the stamps, outlined in black: colours no colormap of DEFAULT_COLORMAPS' greys and
# diverging maps has, so that they stand out on Science, Template and Difference alike.
OVERLAY_COLOURS = {"reticle": "#00ff00", "scale_bar": "#ffff00", "outline": "#000000"}


def stamp_payload(
    stamp: Stamp, survey: Survey, position: tuple[float | None, float | None] | None = None
) -> dict[str, Any]:
    """One stamp as the front-end takes it: shape, float32 pixels (row 0 first), unit, zscale
    cuts, sky positions (or offsets), compass, the alert's position and the pixel scale
    (`image_payload` with the stamp's WCS and unit, the survey's pixel scale).

    Parameters
    ----------
    position : (ra, dec) in degrees, optional
        The alert's position, placed on the stamp through its WCS (`alert_pixel`).

    Raises
    ------
    CorruptData
        The stamp's FITS does not decode.
    """
    return image_payload(
        stamp.kind,
        stamp.data,
        celestial_wcs(stamp.header),
        str(stamp.header.get("BUNIT", "")).strip(),
        position or (None, None),
        kind=stamp.kind,
        survey=survey,
    )


def image_payload(
    label: str,
    data,
    wcs,
    unit: str,
    position: tuple[float | None, float | None] | None = None,
    *,
    kind: str | None = None,
    survey: Survey | None = None,
) -> dict[str, Any]:
    """Any 2-D image as the front-end takes it (`StampPanels.stamps`): its `label` (the
    panel's title and key), shape, float32 pixels (row 0 first), unit, zscale cuts, sky
    positions through `wcs`, compass, a reticle position and the pixel scale.

    Parameters
    ----------
    label : str
        The panel's title.
    data : array-like
        2-D pixels, NaN allowed.
    wcs : astropy.wcs.WCS or None
        Celestial WCS: each pixel's sky position, the compass and the pixel scale.
    unit : str
        The pixels' unit (the colorbar's label).
    position : (ra, dec) in degrees, optional
        Where the reticle goes (through `wcs`, else the image's centre: `alert_pixel`); None:
        no reticle.
    kind : str, optional
        ``Science``, ``Template`` or ``Difference`` (how the browser's trait-driven rendering
        treats it); default `label`.
    survey : Survey, optional
        Without a WCS, the survey's pixel scale gives offsets from the centre and the scale
        bar; without either, the readout gives no sky position and no scale bar is drawn.
    """
    pixels = np.ascontiguousarray(data, dtype="<f4")
    height, width = pixels.shape
    if wcs is not None:
        sky = sky_positions(wcs, width, height)
    elif survey is not None:
        sky = offsets(survey, width, height)
    else:
        sky = None
    scale = arcsec_per_pixel(wcs, survey) if survey is not None else wcs_arcsec_per_pixel(wcs)
    return {
        "label": label,
        "kind": kind or label,
        "width": width,
        "height": height,
        "pixels": pixels.tobytes(),
        "unit": unit,
        "zscale": interval_cuts(pixels, "zscale"),
        "sky": sky,
        "compass": compass(wcs, width, height) if wcs else None,
        "alert_position": None if position is None else alert_pixel(wcs, width, height, *position),
        "arcsec_per_pixel": scale,
    }


def interval_limits(interval, pixels) -> list[float]:
    """The cuts ``[low, high]`` an astropy interval gives on the finite pixels (a
    `~astropy.visualization.ManualInterval`'s own values whatever the pixels); ``[0.0, 1.0]``
    when no pixel is finite and the interval needs them."""
    finite = np.asarray(pixels, dtype=float)
    finite = finite[np.isfinite(finite)]
    vmin, vmax = getattr(interval, "vmin", None), getattr(interval, "vmax", None)
    if finite.size == 0 and (vmin is None or vmax is None):
        return [0.0, 1.0]
    return [float(v) for v in interval.get_limits(finite)]


def pixel_values(column) -> np.ndarray:
    """A catalog's pixel position column as float64 values, NaN where unknown (None, masked).

    Raises
    ------
    ValueError
        A value that is not a number (the message names it), or not one value per row.
    """
    values: np.ndarray
    if column.dtype.kind in "fiu":
        values = np.ma.filled(np.ma.asarray(column, dtype="<f8"), np.nan)
    else:
        for value in column:
            if value is not None and not (
                isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
            ):
                raise ValueError(f"{value!r}")
        values = np.asarray([np.nan if v is None else v for v in column], dtype="<f8")
    if values.ndim != 1:
        raise ValueError(f"{values.shape[1:]} values per row")
    return np.ascontiguousarray(values, dtype="<f8")


def marker_positions(table) -> tuple[bytes, bytes] | None:
    """A catalog's canonical ``x`` and ``y`` columns as float64 little-endian bytes (NaN where
    unknown, `pixel_values`), or None when it has no pixel positions at all."""
    x, y = (pixel_values(table[name]) for name in ("x", "y"))
    if len(x) and not (np.isfinite(x) & np.isfinite(y)).any():
        return None
    return x.tobytes(), y.tobytes()


def alert_pixel(
    wcs, width: int, height: int, ra: float | None = None, dec: float | None = None
) -> list[float]:
    """Where the alert is on the stamp, as [column, row] with pixel ``c`` spanning ``c`` to
    ``c + 1`` (the view's coordinates): the alert's (ra, dec), ICRS, through the stamp's WCS
    (in its frame), else the stamp's centre (where Fink cuts the stamp around the alert)."""
    if wcs is not None and ra is not None and dec is not None:
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        position = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")  # into the WCS's frame
        column, row = (float(v) for v in _high_level(wcs).world_to_pixel(position))
        if math.isfinite(column) and math.isfinite(row):
            return [column + 0.5, row + 0.5]  # astropy's pixel centres are whole numbers
    return [width / 2, height / 2]


def arcsec_per_pixel(wcs, survey: Survey) -> float:
    """The stamp's pixel scale: the mean of the WCS's two axes (astropy), else the survey's."""
    if wcs is None:
        return survey.pixel_scale_arcsec
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600
    return scale if math.isfinite(scale) and scale > 0 else survey.pixel_scale_arcsec


def wcs_arcsec_per_pixel(wcs) -> float | None:
    """The pixel scale of a celestial WCS (the mean of its two axes, astropy), None without a
    WCS or where it gives no positive scale."""
    if wcs is None:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600
    return scale if math.isfinite(scale) and scale > 0 else None


def scale_bar_arcsec(visible_arcsec: float) -> float:
    """The scale bar's length: the longest of `SCALE_BAR_ARCSEC` within a quarter of the view's
    width (the shortest if none is); ``static/stamp_drawing.js`` chooses the same way."""
    fitting = [length for length in SCALE_BAR_ARCSEC if length <= visible_arcsec / 4]
    return fitting[-1] if fitting else SCALE_BAR_ARCSEC[0]


def arcsec_label(length: float) -> str:
    """A scale bar's label: ``10″``, ``0.5″``."""
    return f"{length:g}″"


def celestial_wcs(header):
    """The header's celestial WCS, or None (ZTF stamps in Fink's lake carry none).

    Rubin's stamps (alert schema v9 and v10) carry CRVAL, CRPIX, PC and LATPOLE but no CTYPE;
    they are read as the gnomonic (TAN) projection the LSST pipelines write, and the WCS's
    `assumed` attribute says so.
    """
    has_types = "CTYPE1" in header and "CTYPE2" in header
    has_celestial_cards = all(f"CRVAL{axis}" in header for axis in (1, 2)) and (
        "PC1_1" in header or "CD1_1" in header
    )
    if not has_types and not has_celestial_cards:
        return None
    from astropy.wcs import WCS, FITSFixedWarning

    if not has_types:
        header = header.copy()
        header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2)
    if not wcs.has_celestial:
        return None
    celestial = wcs.celestial
    celestial.assumed = "" if has_types else "TAN assumed: the stamp's WCS has no CTYPE"
    return celestial


# A celestial WCS's world axes by their physical type (APE 14's, astropy's
# ``world_axis_physical_types``): the name the readout gives each.
SKY_AXIS_NAMES = {
    "pos.eq.ra": "RA",
    "pos.eq.dec": "Dec",
    "pos.galactic.lon": "GLON",
    "pos.galactic.lat": "GLAT",
    "pos.ecliptic.lon": "ELON",
    "pos.ecliptic.lat": "ELAT",
    "pos.supergalactic.lon": "SLON",
    "pos.supergalactic.lat": "SLAT",
}


def sky_axes(wcs) -> tuple[list[str], tuple[int, int]]:
    """A celestial WCS's axis names, longitude first (RA, Dec; GLON, GLAT; ELON, ELAT...: from
    its ``world_axis_physical_types``), and their world axes' indices (CTYPE1 may be DEC)."""
    types = [str(kind) for kind in wcs.world_axis_physical_types]
    longitude = next((i for i, kind in enumerate(types) if kind.endswith((".ra", ".lon"))), 0)
    latitude = next((i for i, kind in enumerate(types) if kind.endswith((".dec", ".lat"))), 1)
    names = [SKY_AXIS_NAMES.get(types[i], f"world {i + 1}") for i in (longitude, latitude)]
    return names, (longitude, latitude)


def sky_frame(wcs) -> str:
    """A celestial WCS's frame as the readout names it: RADESYS for RA and Dec (ICRS when it
    names none), else astropy's frame (``Galactic``...); what was assumed reading it after."""
    from astropy.wcs.utils import wcs_to_celestial_frame

    names, _ = sky_axes(wcs)
    equatorial = names == ["RA", "Dec"]
    radesys = str(getattr(getattr(wcs, "wcs", None), "radesys", "") or "").strip()
    if equatorial:
        frame = radesys or "ICRS"
    else:
        try:
            frame = type(wcs_to_celestial_frame(wcs)).__name__
        except (ValueError, TypeError, AttributeError):
            frame = "unknown frame"
    assumed = getattr(wcs, "assumed", "")
    return f"{frame}, {assumed}" if assumed else frame


def sky_positions(wcs, width: int, height: int) -> dict[str, Any]:
    """Every pixel's centre on the sky (degrees, float64, row 0 first), from the WCS: ``ra``
    holds the longitude and ``dec`` the latitude of its frame, whose axes ``axes`` names (RA,
    Dec; GLON, GLAT...) and ``frame`` (`sky_frame`)."""
    columns, rows = np.meshgrid(np.arange(width), np.arange(height))
    world = wcs.pixel_to_world_values(columns.ravel(), rows.ravel())
    names, (longitude, latitude) = sky_axes(wcs)
    return {
        "frame": sky_frame(wcs),
        "axes": names,
        "ra": np.asarray(world[longitude], dtype="<f8").tobytes(),
        "dec": np.asarray(world[latitude], dtype="<f8").tobytes(),
    }


def offsets(survey: Survey, width: int, height: int) -> dict[str, Any]:
    """Without a WCS: the alert is at the stamp's centre, one pixel is the survey's scale."""
    return {"center": [width / 2, height / 2], "scale": survey.pixel_scale_arcsec}


def compass(wcs, width: int, height: int) -> dict[str, list[float]] | None:
    """Unit vectors (column, row) towards north and east at the stamp's centre, equatorial
    (ICRS) whatever the WCS's frame (a Galactic image's too), through astropy's SkyCoord; None
    if the WCS gives no sky position there."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    high = _high_level(wcs)
    x, y = (width - 1) / 2, (height - 1) / 2
    center = high.pixel_to_world(x, y)
    if not isinstance(center, SkyCoord):
        return None
    center = center.icrs
    step = 1.0 * u.arcsec
    directions = {}
    for name, (east, north) in {"north": (0.0, 1.0), "east": (1.0, 0.0)}.items():
        moved = center.spherical_offsets_by(east * step, north * step)
        px, py = (float(v) for v in high.world_to_pixel(moved))
        length = math.hypot(px - x, py - y)
        if not (math.isfinite(length) and length > 0):
            return None
        directions[name] = [(px - x) / length, (py - y) / length]
    return directions


def _high_level(wcs):
    """`wcs` with astropy's high-level API (pixel_to_world: SkyCoord)."""
    from astropy.wcs.wcsapi import HighLevelWCSWrapper

    return wcs if hasattr(wcs, "pixel_to_world") else HighLevelWCSWrapper(wcs)


def orientation_text(survey: Survey, stamp_compass: dict | None) -> str:
    """The orientation of the stamps as drawn (row 0 at the top unless flipped)."""
    if stamp_compass is None:
        return (
            f"Orientation: the {survey.name.upper()} science image's pixel grid, column 0 at the "
            "left and row 0 at the top ('flip vertically' puts row 0 at the bottom, as DS9 "
            "shows FITS). The stamps carry no WCS: no compass is drawn, and the readout gives "
            "offsets from the alert's position along the pixel axes."
        )
    north_x, north_y = stamp_compass["north"]
    east_x, east_y = stamp_compass["east"]
    angle = math.degrees(math.atan2(north_x, -north_y))  # of north from up, clockwise
    handed = "left" if north_x * east_y - north_y * east_x < 0 else "right"  # y points down
    return (
        f"Orientation from the stamps' WCS (row 0 at the top): north is {abs(angle):.0f}° "
        f"{'clockwise' if angle >= 0 else 'anticlockwise'} from up and east is to its {handed}; "
        "the N and E arrows on each stamp show them."
    )


def detection_text(isdiffpos: object) -> str:
    """'positive' or 'negative' detection from the alert's ``isdiffpos`` ('' when unknown)."""
    value = str(isdiffpos).strip().lower() if isdiffpos is not None else ""
    if value in ("t", "1", "true"):
        return "positive detection (science brighter than template)"
    if value in ("f", "0", "false"):
        return "negative detection (science fainter than template)"
    return ""


def object_links(
    object_id: str | int | None, survey: Survey, ra: float | None, dec: float | None
) -> dict:
    """The object's Fink portal page (none for a solar-system object, `object_id` None), and
    TNS and SIMBAD searches around its position."""
    links = {}
    if object_id is not None:
        links["Fink portal"] = f"{survey.portal_url}/{quote(str(object_id))}"
    if ra is not None and dec is not None:
        radius = SEARCH_RADIUS_ARCSEC
        tns = {"ra": f"{ra:.6f}", "decl": f"{dec:.6f}", "radius": radius, "coords_unit": "arcsec"}
        links["TNS"] = "https://www.wis-tns.org/search?" + urlencode(tns)
        simbad = {"Coord": f"{ra:.6f} {dec:+.6f}", "Radius": radius, "Radius.unit": "arcsec"}
        links["SIMBAD"] = "https://simbad.cds.unistra.fr/simbad/sim-coo?" + urlencode(simbad)
    return links


def colormap_tables(names) -> dict[str, bytes]:
    """Each matplotlib colormap sampled at 256 levels: 768 bytes of RGB."""
    return {name: colormap_table(name).tobytes() for name in names}
