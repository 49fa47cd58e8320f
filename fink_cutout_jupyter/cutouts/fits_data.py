"""A FITS file's image pixels read from the few cards the data needs, astropy's answer or None.

`image_pixels` gives what ``fits.open(..., ignore_missing_simple=True)`` gives as the ``data``
of the first HDU holding some (the primary or an ``IMAGE`` extension), scaled as astropy scales
it, without parsing every card. The ``END`` card is found with ``bytes.find`` at a card
boundary; numpy copies each card's first ten bytes (keyword and value indicator) into one
string, upper case, where ``count``/``find`` (C speed) tell which keywords the pixels depend on
are there, once each, in a standard card. Whatever it does not fully understand (random
groups, tables or compressed images before the image, duplicated or non-standard cards,
truncated data...) gives None, and the caller asks astropy. The layouts of the last headers
seen are kept (a header shared by many stamps is read once)."""

from __future__ import annotations

import math
import re

import numpy as np

_CARD = 80
_BLOCK = 2880
_KEY = 8  # a card's keyword field; the value indicator "= " follows it
_RECORD = _KEY + 2
_END_CARD = b"END" + b" " * 77
_KEYWORD_CHARACTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_BIG_ENDIAN = {
    bitpix: np.dtype(code)
    for bitpix, code in {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}.items()
}
_NATIVE = {bitpix: dtype.newbyteorder("=") for bitpix, dtype in _BIG_ENDIAN.items()}
_UNSIGNED = {bits: np.dtype(f">u{bits // 8}") for bits in (16, 32, 64)}
_REAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EeDd][+-]?[0-9]+)?")
_IMAGE_EXTENSION = re.compile(rb"'IMAGE *'")
_MAX_AXES = 3
_ABSENT = object()
_SCALAR_KEYWORDS = (b"BITPIX", b"GROUPS", b"PCOUNT", b"GCOUNT", b"BZERO", b"BSCALE", b"BLANK")
# Headers seen lately and what they give: a survey's stamps often share one (ZTF's demo), while
# Rubin's and many ZTF stamps carry their own (a miss costs one hash of the header)
_Layout = tuple[tuple[int, ...], dict[bytes, object]]
_LAYOUTS: dict[tuple[bool, bytes], _Layout | None] = {}
_LAYOUTS_KEPT = 256
_AXES = {axis: b"NAXIS%d" % axis for axis in range(1, _MAX_AXES + 1)}
_STANDARD = {
    keyword: keyword.ljust(_KEY) + b"= "
    for keyword in (*_SCALAR_KEYWORDS, b"NAXIS", *_AXES.values())
}


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
    image = _first_image(buffer)
    return None if image is None else _pixels(buffer, *image)


def stored_pixels(fits_bytes: bytes) -> np.ndarray | None:
    """The first image's pixels as stored: a read-only view of `fits_bytes` (big-endian, no
    copy), when astropy would give them unscaled (no BZERO, BSCALE or BLANK); None otherwise
    (`image_pixels` then). For copying many stamps straight into one array."""
    image = _first_image(fits_bytes)
    if image is None:
        return None
    data_start, shape, cards = image
    if any(cards[name] is not _ABSENT for name in (b"BZERO", b"BSCALE", b"BLANK")):
        return None
    bitpix = cards[b"BITPIX"]
    assert isinstance(bitpix, int)
    stored, count = _BIG_ENDIAN[bitpix], math.prod(shape)
    if data_start + -(-count * stored.itemsize // _BLOCK) * _BLOCK > len(fits_bytes):
        return None  # as `image_pixels`: the data's blocks must all be there
    return np.frombuffer(fits_bytes, stored, count, data_start).reshape(shape)


def _first_image(buffer: bytes) -> tuple[int, tuple[int, ...], dict[bytes, object]] | None:
    """Where the first HDU holding data keeps it, its shape and scaling cards (None: an HDU
    not read here comes first, or none holds data)."""
    start = 0
    while start < len(buffer):
        layout = _hdu_layout(buffer, start)
        if layout is None:
            return None
        data_start, shape, cards = layout
        if shape:
            return data_start, shape, cards
        start = data_start
    return None


def _hdu_layout(
    buffer: bytes, start: int
) -> tuple[int, tuple[int, ...], dict[bytes, object]] | None:
    """Where the HDU at `start` keeps its data, its shape (empty: no data) and scaling cards."""
    end = _end_card(buffer, start)
    if end is None:
        return None
    data_start = start + -(-(end + _CARD - start) // _BLOCK) * _BLOCK
    if data_start > len(buffer):
        return None
    key = (start == 0, buffer[start:data_start])
    try:
        layout = _LAYOUTS[key]
    except KeyError:
        layout = _header_layout(key[1], primary=key[0])
        if len(_LAYOUTS) >= _LAYOUTS_KEPT:
            _LAYOUTS.clear()
        _LAYOUTS[key] = layout
    if layout is None:
        return None
    return data_start, *layout


def _header_layout(header: bytes, primary: bool) -> _Layout | None:
    """The shape (empty: no data) and scaling cards of an HDU's header (whole blocks)."""
    if not header.isascii():
        return None
    # each card's keyword field and value indicator, upper case: astropy's fast header parser
    # takes a keyword in any case, after leading spaces, or before a "= " in its first 8 bytes
    records = np.frombuffer(header, "S80").astype("S10").tobytes().upper()
    first = records[:_RECORD]
    if first == b"SIMPLE  = " and primary:
        if _value_text(header, 0) != b"T":
            return None
    elif first == b"XTENSION= " and not primary:
        if not _IMAGE_EXTENSION.fullmatch(_value_text(header, 0)):
            return None
    else:
        return None
    cards = {}
    for keyword in _SCALAR_KEYWORDS:
        mentions = records.count(keyword)
        if mentions == 0:
            cards[keyword] = _ABSENT
        elif mentions > 1:
            return None  # a duplicate, or another keyword starting the same: astropy's
        else:
            value = _standard_value(header, records, keyword)
            if value is None:
                return None
            cards[keyword] = value
    bitpix, naxis = cards[b"BITPIX"], _standard_value(header, records, b"NAXIS")
    if (
        type(bitpix) is not int
        or bitpix not in _BIG_ENDIAN
        or type(naxis) is not int
        or not 0 <= naxis <= _MAX_AXES
        or records.count(b"NAXIS") != naxis + 1
        or cards[b"GROUPS"] is not _ABSENT
        or cards[b"PCOUNT"] not in (_ABSENT, 0)
        or cards[b"GCOUNT"] not in (_ABSENT, 1)
    ):
        return None
    axes = []
    for axis in range(naxis, 0, -1):
        length = _standard_value(header, records, _AXES[axis])
        if type(length) is not int or length < 1:
            return None
        axes.append(length)
    return tuple(axes), cards


def _standard_value(header: bytes, records: bytes, keyword: bytes) -> int | float | None:
    """The number in the keyword's standard card (None: no such card or not a number)."""
    found = records.find(_STANDARD[keyword])
    if found == -1 or found % _RECORD:
        return None
    text = _value_text(header, found // _RECORD * _CARD)
    if text.isdigit() or (text[1:].isdigit() and text[:1] in b"+-"):
        return int(text)
    if _REAL.fullmatch(text):
        return float(text.replace(b"D", b"E").replace(b"d", b"e"))
    return None


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


def _value_text(header: bytes, place: int) -> bytes:
    """A card's value field without its comment (the value of a number or a logical)."""
    return header[place + _RECORD : place + _CARD].split(b"/", 1)[0].strip(b" ")


def _pixels(
    buffer: bytes, data_start: int, shape: tuple[int, ...], cards: dict[bytes, object]
) -> np.ndarray | None:
    """The image's pixels scaled as astropy's ``_ImageBaseHDU._scale_data`` does."""
    bitpix = cards[b"BITPIX"]
    assert isinstance(bitpix, int)
    stored = _BIG_ENDIAN[bitpix]
    count = math.prod(shape)
    if data_start + -(-count * stored.itemsize // _BLOCK) * _BLOCK > len(buffer):
        return None
    raw = np.frombuffer(buffer, stored, count, data_start).reshape(shape)
    bzero = 0 if cards[b"BZERO"] is _ABSENT else cards[b"BZERO"]
    bscale = 1 if cards[b"BSCALE"] is _ABSENT else cards[b"BSCALE"]
    blank = None if cards[b"BLANK"] is _ABSENT else cards[b"BLANK"]
    assert isinstance(bzero, (int, float))
    assert isinstance(bscale, (int, float))
    if blank is not None and (bitpix < 0 or type(blank) is not int):
        return None  # astropy warns and ignores it
    if bzero == 0 and bscale == 1 and blank is None:
        return raw.astype(_NATIVE[bitpix])
    if bscale == 1 and bitpix > 8 and bzero == 1 << (bitpix - 1):
        unsigned = raw.view(_UNSIGNED[bitpix]).astype(_UNSIGNED[bitpix].newbyteorder("="))
        unsigned ^= unsigned.dtype.type(1 << (bitpix - 1))
        return unsigned
    if bscale == 1 and bitpix == 8 and bzero == -128:
        if type(bzero) is not int or blank:
            return None  # astropy fails: a float added to int8, NaN put in int8
        return (raw ^ np.uint8(0x80)).view(np.int8)
    pixels = raw.astype(
        _NATIVE[bitpix] if bitpix < 0 else np.float64 if bitpix > 16 else np.float32
    )
    if bscale != 1:
        np.multiply(pixels, bscale, pixels)
    if bzero != 0:
        pixels += bzero
    if blank:  # astropy's test: BLANK = 0 converts to floats but marks nothing
        pixels[raw == blank] = np.nan
    return pixels
