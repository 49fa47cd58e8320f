"""Stamps: stored cutout bytes to pixels and header, and back out as FITS or JSON-able arrays."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter.cutouts.fits_data import image_pixels
from fink_cutout_jupyter.errors import BadParameter, CorruptData, quote
from fink_cutout_jupyter.surveys import KINDS

if TYPE_CHECKING:
    from astropy.io import fits

try:
    from isal.igzip import decompress as _gunzip_members
    from isal.isal_zlib import decompressobj as _inflater
except ImportError:  # pragma: no cover - isal is optional, zlib gives the same bytes
    from zlib import decompressobj as _inflater  # type: ignore[assignment]

    _gunzip_members = gzip.decompress


def _gunzip(stored: bytes) -> bytes:
    """`stored` gunzipped, as `gzip.decompress` does, releasing the GIL (isal's inflate does,
    its gzip reader does not: a batch's stamps then gunzip on every core).

    An inflater reads the first gzip member only: when bytes are left after it (another
    member, or anything else), the whole is read as `gzip.decompress` reads it.
    """
    inflater = _inflater(wbits=31)
    fits_bytes = inflater.decompress(stored)
    if inflater.unused_data or not inflater.eof:
        return _gunzip_members(stored)
    return fits_bytes


class StampKinds(tuple[str, ...]):
    """Stamp kinds, some of `KINDS` in the order asked: checked once, where they come in.

    `of` checks what a caller gives; the request's edge (`contract.parameters`) builds one
    straight from the ``kind`` parameter it has checked. The layers below take a `StampKinds`
    as checked and do not look again.
    """

    __slots__ = ()

    @classmethod
    def of(cls, kinds: Iterable[str]) -> StampKinds:
        """`kinds` checked: one or more of `KINDS` (`BadParameter` naming ``kind`` otherwise)."""
        if isinstance(kinds, StampKinds):
            return kinds
        given = tuple(kinds)
        unknown = [kind for kind in given if kind not in KINDS]
        if unknown or not given:
            raise BadParameter(
                f"kind: {quote(unknown or given)} not allowed; allowed: {', '.join(KINDS)}"
            )
        return cls(given)


@dataclass(frozen=True)
class Stamp:
    """One cutout image of an alert.

    Parameters
    ----------
    kind : str
        ``Science``, ``Template`` or ``Difference``.
    fits_bytes : bytes
        The FITS file exactly as the alert carries it (after gunzip for ZTF).
    """

    kind: str
    fits_bytes: bytes

    @cached_property
    def hdulist(self) -> fits.HDUList:
        """The FITS file opened by astropy (ZTF's SIMPLE card is non-standard)."""
        from astropy.io import fits

        return fits.open(io.BytesIO(self.fits_bytes), ignore_missing_simple=True)

    @cached_property
    def image_hdu(self) -> fits.PrimaryHDU | fits.ImageHDU:
        """The first HDU holding an image (ZTF: the only one; Rubin: the flux image)."""
        for hdu in self.hdulist:
            if hdu.data is not None:
                return hdu
        raise CorruptData(f"the {self.kind} stamp holds no image")

    @property
    def header(self) -> fits.Header:
        """Header of the image HDU."""
        return self.image_hdu.header

    @cached_property
    def data(self) -> np.ndarray:
        """Pixels in native byte order (NaN where the survey has no value).

        Raises
        ------
        CorruptData
            The FITS file does not decode.
        """
        try:
            pixels = image_pixels(self.fits_bytes)
            if pixels is None:
                pixels = self.image_hdu.data
        except (OSError, ValueError, TypeError, IndexError, KeyError) as error:
            raise CorruptData(f"the {self.kind} stamp's FITS does not decode ({error})") from None
        if pixels is None:
            raise CorruptData(f"the {self.kind} stamp holds no image")
        return pixels.astype(pixels.dtype.newbyteorder("="), copy=False)


_BLOCK = 2880


def stamp_from_stored(kind: str, stored: bytes, gzipped: bool) -> Stamp:
    """Build a `Stamp` from the bytes stored in the lake (gzipped FITS for ZTF).

    Raises
    ------
    BadParameter
        `kind` is none of `KINDS`.
    CorruptData
        Not gzip (where the survey gzips), or not a whole FITS file: one starts with ``SIMPLE``
        and is made of 2880-byte blocks.
    """
    if kind not in KINDS:
        raise BadParameter(f"kind: {quote(kind)} is not allowed; allowed: {', '.join(KINDS)}")
    return decode_stamp(kind, stored, gzipped)


def decode_stamp(kind: str, stored: bytes, gzipped: bool) -> Stamp:
    """`stamp_from_stored` of a kind already checked (one of a `StampKinds`)."""
    if gzipped:
        try:
            stored = _gunzip(stored)
        except Exception as error:  # OSError, EOFError, zlib.error, isal's IsalError
            raise CorruptData(f"the stored {kind} stamp is not gzip ({error})") from None
    fits_bytes = bytes(stored)
    if not fits_bytes.startswith(b"SIMPLE") or len(fits_bytes) % _BLOCK:
        raise CorruptData(
            f"the stored {kind} stamp is not a whole FITS file ({len(fits_bytes)} bytes, "
            f"starting {quote(fits_bytes[:16])})"
        )
    return Stamp(kind, fits_bytes)


def to_fits(stamp: Stamp) -> bytes:
    """The original FITS file of the stamp, byte for byte."""
    return stamp.fits_bytes


def to_multi_extension_fits(
    stamps: Mapping[str, Stamp],
    object_id: str | int,
    alert_id: int,
    time: float,
    time_scale: str = "jd",
) -> bytes:
    """Pack stamps into one FITS file, one image extension per kind.

    Parameters
    ----------
    stamps : mapping of kind to Stamp
        Written in the order Science, Template, Difference; absent kinds are skipped.
    object_id, alert_id, time : identity of the alert, written in every header.
    time_scale : str
        ``"jd"`` or ``"mjd"``: the keyword the time is written under.

    Returns
    -------
    bytes
        A FITS file whose extensions are named ``SCIENCE``, ``TEMPLATE``, ``DIFFERENCE``.
    """
    from astropy.io import fits

    identity = [
        ("OBJECT", str(object_id), "Fink object id"),
        ("ALERTID", int(alert_id), "alert id (ZTF candid, Rubin diaSourceId)"),
        # NaN or infinity is not a FITS value: a time the lake does not hold is left undefined
        (
            time_scale.upper(),
            float(time) if np.isfinite(time) else None,
            f"alert time ({time_scale.upper()})",
        ),
    ]
    primary = fits.PrimaryHDU()
    primary.header.extend(identity)
    extensions = []
    for kind in KINDS:
        if kind not in stamps:
            continue
        source = stamps[kind].image_hdu
        extension = fits.ImageHDU(data=source.data, header=source.header.copy(), name=kind.upper())
        extension.header.extend(identity, update=True)
        extensions.append(extension)
    buffer = io.BytesIO()
    fits.HDUList([primary, *extensions]).writeto(buffer)
    return buffer.getvalue()


def to_array(stamp: Stamp) -> list[list[float | None]]:
    """Pixels as nested lists, rows first, NaN replaced by ``None`` (JSON ``null``)."""
    pixels = stamp.data
    nan = np.isnan(pixels)
    if not nan.any():
        return pixels.tolist()
    values = pixels.astype(object)
    values[nan] = None
    return values.tolist()
