"""A Rubin detection's stamps as Rubin's alert packet holds them, written with astropy.

Raw (not gzipped) three-HDU FITS files: the image (30x30, nJy) with a TAN WCS centred on the
source at 0.2"/pixel, ``UNCERT`` (its variance) and ``PSFIMAGE``; a Gaussian PSF of the visit's
seeing, the host galaxy and stars of the place, noise matching the PSF flux error.
"""

from __future__ import annotations

import io

import numpy as np

STAMP_SIZE = 30
PSF_SIZE = 41
PIXEL_SCALE_ARCSEC = 0.2


def _gaussian(size: int, centre: tuple[float, float], sigma: float) -> np.ndarray:
    """A unit-sum Gaussian profile on a size x size grid (x = column, y = row)."""
    grid = np.arange(size, dtype=float)
    x, y = centre
    profile = np.exp(-((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2) / (2 * sigma**2))
    return profile / (2 * np.pi * sigma**2)


def rubin_cutouts(
    rng: np.random.Generator, place: dict, epoch: dict, flux: float
) -> dict[str, bytes]:
    """Science, Template, Difference of one detection as Rubin sends them (raw FITS, nJy)."""
    from astropy.wcs import WCS

    sigma = epoch["seeing"] / PIXEL_SCALE_ARCSEC / 2.355
    column, row = STAMP_SIZE / 2 - 0.5 + rng.uniform(-0.5, 0.5, 2)
    point = _gaussian(STAMP_SIZE, (column, row), sigma)
    host = place["host"] * _gaussian(
        STAMP_SIZE, tuple(np.array([column, row]) + place["host_offset"]), 2.5
    )
    stars = sum(
        (f * _gaussian(STAMP_SIZE, (x, y), sigma) for x, y, f in place["stars"]),
        np.zeros((STAMP_SIZE, STAMP_SIZE)),
    )
    noise = epoch["error"] / np.sqrt(4 * np.pi * sigma**2)  # per pixel, for that PSF flux error
    template = host + stars + rng.normal(0, noise / 3, point.shape)
    science = host + stars + flux * point + rng.normal(0, noise, point.shape)
    difference = flux * point + rng.normal(0, noise * np.hypot(1, 1 / 3), point.shape)
    psf = _gaussian(PSF_SIZE, (PSF_SIZE // 2, PSF_SIZE // 2), sigma)

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [epoch["ra"], epoch["dec"]]
    wcs.wcs.crpix = [column + 1, row + 1]  # FITS pixels count from 1
    scale, angle = PIXEL_SCALE_ARCSEC / 3600, np.radians(place["rotpa"])
    wcs.wcs.pc = scale * np.array([[-np.cos(angle), np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    cards = {
        "CUTMINX": round(place["x"]) - STAMP_SIZE // 2,
        "CUTMINY": round(place["y"]) - STAMP_SIZE // 2,
        "ROTPA": (place["rotpa"], "Pos angle in deg of focal plane +Y wrt North"),
    }
    stamps = _StampWriter(cards, wcs.to_header(), psf)
    return {
        f"cutout{kind}": stamps.write(image, image_noise**2)
        for kind, image, image_noise in (
            ("Difference", difference, noise * np.hypot(1, 1 / 3)),
            ("Science", science, noise),
            ("Template", template, noise / 3),
        )
    }


class _StampWriter:
    """One detection's stamps as Rubin's alert packet holds them: the image (nJy, with its
    WCS), ``UNCERT`` (its variance) and ``PSFIMAGE``; the headers are built once for the
    three."""

    def __init__(self, cards: dict, wcs_header, psf: np.ndarray) -> None:
        from astropy.io import fits

        self.primary = fits.PrimaryHDU(np.zeros((STAMP_SIZE, STAMP_SIZE), np.float32))
        self.primary.header.update(cards)
        self.primary.header["BUNIT"] = "nJy"
        self.primary.header.update(wcs_header)
        self.uncertainty = fits.ImageHDU(
            np.zeros((STAMP_SIZE, STAMP_SIZE), np.float32), name="UNCERT"
        )
        self.uncertainty.header["UTYPE"] = "VarianceUncertainty"
        self.stamps = fits.HDUList(
            [self.primary, self.uncertainty, fits.ImageHDU(psf, name="PSFIMAGE")]
        )

    def write(self, image: np.ndarray, variance: float) -> bytes:
        """The FITS file of `image` (its variance: `variance` plus the source's own)."""
        self.primary.data = image.astype(np.float32)
        self.uncertainty.data = (variance + np.abs(image)).astype(np.float32)
        buffer = io.BytesIO()
        # the headers are astropy's own, verified once (``output_verify`` costs a third)
        self.stamps.writeto(buffer, output_verify="ignore")
        return buffer.getvalue()
