"""Celestial WCSs built by hand for the image-display tests (no file needed)."""

from __future__ import annotations

from astropy.wcs import WCS


def tan_wcs(
    crval: tuple[float, float] = (150.0, 30.0),
    crpix: tuple[float, float] = (20.0, 25.0),
    scale: float = 0.001,
) -> WCS:
    """An ICRS gnomonic (RA---TAN, DEC--TAN) WCS, east to the left.

    Parameters
    ----------
    crval : (float, float)
        RA and Dec of the reference pixel, degrees.
    crpix : (float, float)
        The reference pixel, FITS's 1-based convention.
    scale : float
        Degrees per pixel on both axes.

    Returns
    -------
    astropy.wcs.WCS
    """
    wcs = WCS(naxis=2)
    wcs.wcs.crpix = list(crpix)
    wcs.wcs.cdelt = [-scale, scale]
    wcs.wcs.crval = list(crval)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    return wcs
