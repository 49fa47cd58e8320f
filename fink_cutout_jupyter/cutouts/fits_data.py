"""A FITS file's image pixels read from the few cards the data needs, astropy's answer or None.

`image_pixels` gives what ``fits.open(..., ignore_missing_simple=True)`` gives as the ``data``
of the first HDU holding some (the primary or an ``IMAGE`` extension), scaled as astropy scales
it, without parsing every card: the header is searched (``bytes.find``, C speed) for the
keywords the pixels depend on, at card boundaries, before the HDU's ``END`` card. Whatever it
does not fully understand (random groups, tables or compressed images before the image,
duplicated or non-standard cards, truncated data...) gives None, and the caller asks astropy.
"""

from __future__ import annotations

import re

import numpy as np

_CARD = 80
_BLOCK = 2880
_KEY = 8  # a card's keyword field; the value indicator "= " follows it
_RECORD = _KEY + 2
_END_CARD = b"END" + b" " * 77
_KEYWORD_CHARACTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_BIG_ENDIAN = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_INTEGER = re.compile(rb"[+-]?[0-9]+")
_REAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EeDd][+-]?[0-9]+)?")
_IMAGE_EXTENSION = re.compile(rb"'IMAGE *'")
_MAX_AXES = 3
_ABSENT = object()


def image_pixels(fits_bytes: bytes | memoryview) -> np.ndarray | None:
    """The pixels of the first HDU holding an image, as astropy gives them, in native byte order.

    Parameters
    ----------
    fits_bytes : bytes or memoryview
        A whole FITS file.

    Returns
    -------
    numpy.ndarray or None
        The same dtype (astropy's BZERO/BSCALE/BLANK rules: float32 for scaled 8 and 16-bit
        integers, float64 for 32 and 64-bit, unsigned integers for BZERO = 2**(bits-1), int8
        for 8-bit and BZERO = -128, NaN where BLANK), shape and values as astropy's ``data``;
        None for anything not read here (ask astropy then).
    """
    buffer = fits_bytes if isinstance(fits_bytes, bytes) else bytes(fits_bytes)
    start = 0
    while start < len(buffer):
        layout = _hdu_layout(buffer, start)
        if layout is None:
            return None
        data_start, shape, cards = layout
        if shape:
            return _pixels(buffer, data_start, shape, cards)
        start = data_start
    return None


def _hdu_layout(
    buffer: bytes, start: int
) -> tuple[int, tuple[int, ...], dict[bytes, int | float | None]] | None:
    """Where the HDU at `start` keeps its data, its shape (empty: no data) and scaling cards."""
    end = _end_card(buffer, start)
    if end is None:
        return None
    data_start = start + -(-(end + _CARD - start) // _BLOCK) * _BLOCK
    if data_start > len(buffer) or not buffer[start:data_start].isascii():
        return None
    header = buffer[start : end + _CARD]
    records = np.frombuffer(header, np.uint8).reshape(-1, _CARD)[:, :_RECORD].tobytes().upper()
    first = header[:_RECORD].upper()
    if first == b"SIMPLE  = " and start == 0:
        if _value_text(header, 0) != b"T":
            return None
    elif first == b"XTENSION= " and start > 0:
        if not _IMAGE_EXTENSION.fullmatch(_value_text(header, 0)):
            return None
    else:
        return None
    cards: dict[bytes, int | float | None] = {}
    for keyword in (b"BITPIX", b"NAXIS", b"BZERO", b"BSCALE", b"BLANK", b"PCOUNT", b"GCOUNT"):
        value = _number(header, records, keyword)
        if value is _ABSENT:
            cards[keyword] = None
        elif isinstance(value, (int, float)):
            cards[keyword] = value
        else:
            return None
    if _number(header, records, b"GROUPS") is not _ABSENT:
        return None
    bitpix, naxis = cards[b"BITPIX"], cards[b"NAXIS"]
    if (
        type(bitpix) is not int
        or bitpix not in _BIG_ENDIAN
        or type(naxis) is not int
        or not 0 <= naxis <= _MAX_AXES
        or cards[b"PCOUNT"] not in (None, 0)
        or cards[b"GCOUNT"] not in (None, 1)
    ):
        return None
    axes = []
    for axis in range(1, naxis + 1):
        length = _number(header, records, b"NAXIS%d" % axis)
        if type(length) is not int or length < 1:
            return None
        axes.append(length)
    return data_start, tuple(reversed(axes)), cards


def _end_card(buffer: bytes, start: int) -> int | None:
    """Offset of the HDU's END card: the first card starting ``END`` as astropy finds it."""
    found = buffer.find(b"END", start)
    while found != -1:
        if (found - start) % _CARD == 0:
            card = buffer[found : found + _CARD]
            if card == _END_CARD:
                return found
            trailing = card[3:].lstrip(b" ")
            if not trailing or trailing[0] not in _KEYWORD_CHARACTERS:
                return None  # astropy's "invalid END card": let it say so
        found = buffer.find(b"END", found + 1)
    return None


def _number(header: bytes, records: bytes, keyword: bytes) -> object:
    """The number a keyword's only card holds; `_ABSENT` when no card has it; None when its
    card is anything but one standard ``KEYWORD = number`` card (astropy reads the rest).

    `records` holds each card's first ten bytes in upper case: astropy's fast header parser
    takes a card's keyword in any case, after leading spaces, or before a "= " in its first
    eight bytes; such a card is refused here unless it is the standard one.
    """
    standard = keyword.ljust(_KEY) + b"= "
    found, place = records.find(keyword), None
    while found != -1:
        offset = found % _RECORD
        record = records[found - offset : found - offset + _RECORD]
        if offset + len(keyword) <= _KEY and not record[:offset].strip(b" "):
            if record == standard:
                if place is not None:
                    return None  # a duplicated keyword
                place = found // _RECORD * _CARD
            elif record[offset + len(keyword)] not in _KEYWORD_CHARACTERS:
                return None  # e.g. "BZERO= 1", " BZERO  = 1" or "BZERO    1"
        found = records.find(keyword, found + 1)
    if place is None:
        return _ABSENT
    text = _value_text(header, place)
    if _INTEGER.fullmatch(text):
        return int(text)
    if _REAL.fullmatch(text):
        return float(text.replace(b"D", b"E").replace(b"d", b"e"))
    return None


def _value_text(header: bytes, place: int) -> bytes:
    """A card's value field without its comment (the value of a number or a logical)."""
    return header[place + _RECORD : place + _CARD].split(b"/", 1)[0].strip(b" ")


def _pixels(
    buffer: bytes,
    data_start: int,
    shape: tuple[int, ...],
    cards: dict[bytes, int | float | None],
) -> np.ndarray | None:
    """The image's pixels scaled as astropy's ``_ImageBaseHDU._scale_data`` does."""
    bitpix = cards[b"BITPIX"]
    assert isinstance(bitpix, int)
    stored = np.dtype(_BIG_ENDIAN[bitpix])
    count = int(np.prod(shape))
    if data_start + -(-count * stored.itemsize // _BLOCK) * _BLOCK > len(buffer):
        return None
    raw = np.frombuffer(buffer, stored, count, data_start).reshape(shape)
    bzero = 0 if cards[b"BZERO"] is None else cards[b"BZERO"]
    bscale = 1 if cards[b"BSCALE"] is None else cards[b"BSCALE"]
    blank = cards[b"BLANK"]
    if blank is not None and (bitpix < 0 or type(blank) is not int):
        return None  # astropy warns and ignores it
    if bzero == 0 and bscale == 1 and blank is None:
        return raw.astype(stored.newbyteorder("="))
    if bscale == 1 and bitpix > 8 and bzero == 1 << (bitpix - 1):
        unsigned = raw.view(stored.newbyteorder(">").str.replace("i", "u")).astype(
            f"u{bitpix // 8}"
        )
        unsigned ^= unsigned.dtype.type(1 << (bitpix - 1))
        return unsigned
    if bscale == 1 and bitpix == 8 and bzero == -128:
        if type(bzero) is not int or blank:
            return None  # astropy fails: a float added to int8, NaN in int8
        return (raw ^ np.uint8(0x80)).view(np.int8)
    float_bits = np.float64 if bitpix > 16 else np.float32
    pixels = raw.astype(float_bits if bitpix > 0 else stored.newbyteorder("="))
    if bscale != 1:
        np.multiply(pixels, bscale, pixels)
    if bzero != 0:
        pixels += bzero
    if blank:
        pixels[raw == blank] = np.nan
    return pixels
