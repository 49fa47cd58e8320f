"""A flip-book's frames as pictures and files: fixed cuts, RGB frames, GIF/APNG, a FITS cube.

Framework-free: it takes any frames with ``alert_ids``, ``jd``, ``kinds`` and ``stamps`` (the
client's `ObjectFrames`; see `Frames`). The cuts are fixed across frames, per kind
(`fixed_cuts`: an astropy interval over every frame's finite pixels of the kind, or cuts given),
so that a brightness change between frames is a change of the sky, not of the scale. Frames are
coloured by the one pipeline of `render` (cuts, an astropy stretch, a matplotlib colormap's
256-level table, NaN in `NAN_RGB`), kinds side by side (`frame_images`), then written by Pillow
as an animated GIF or APNG (`write_animation`), or the stamps themselves as a FITS cube
(`fits_cube`: a 3-D image per kind and a ``FRAMES`` table of the alerts' ids and times). Files
are written to a temporary name in their directory and renamed (`storage.atomic`).

GIF holds 256 colours: frames that use at most 256 (one colormap, as the default grey) keep
their exact colours; more (two colormaps, or NaN beside a full grey ramp) are mapped to a
256-colour palette made by Pillow from all frames (median cut, no dithering). APNG is exact.
Pillow writes a frame identical to the one before it as one frame of the summed duration.

A frame's duration is what each format stores (`frame_duration`). GIF: whole hundredths of a
second, 2 to 65535 (below 2, browsers show a frame for 10), so 1/655.35 to 50 fps. APNG: a
fraction of a second, numerator and denominator at most 65535, above 10 ms (browsers show 10 ms
or less as 100), so 1/65535 to below 100 fps. Other rates are refused (`BadParameter`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fink_cutout_jupyter.cutouts.render import INTERVALS, NAN_RGB, coloured, interval_cuts
from fink_cutout_jupyter.errors import BadParameter, quote

if TYPE_CHECKING:
    from astropy.io import fits

ANIMATION_FORMATS = ("gif", "apng")
Cuts = tuple[float, float]
GIF_COLOURS = 256
USHORT = 65535  # GIF's delay (hundredths of a second), APNG's delay numerator and denominator
GIF_MAX_FPS = 50  # 2 hundredths of a second: browsers slow shorter GIF frames to 10
APNG_MAX_FPS = 100  # excluded: browsers show an APNG frame of 10 ms or less for 100 ms


class Frames(Protocol):
    """What a flip-book is made of (`fink_cutout_jupyter.client.frames.ObjectFrames` is one):
    ``stamps`` float (frames, len(kinds), height, width), NaN where no value."""

    @property
    def alert_ids(self) -> Sequence[int]: ...

    @property
    def jd(self) -> np.ndarray: ...

    @property
    def kinds(self) -> Sequence[str]: ...

    @property
    def stamps(self) -> np.ndarray: ...


def fixed_cuts(
    frames: Frames | np.ndarray,
    interval: Any = "zscale",
    kinds: Sequence[str] | None = None,
) -> dict[str, Cuts]:
    """The cuts of each kind, one pair for all frames: an interval over all their finite pixels.

    Parameters
    ----------
    frames : Frames or numpy.ndarray
        Frames, or their stamps (frames, kinds, height, width) with `kinds` given.
    interval : str, astropy BaseInterval, (low, high) or mapping
        ``zscale``, ``percentile`` (0.5 to 99.95) or ``minmax`` (`render.INTERVALS`); an astropy
        interval (``ZScaleInterval()``, ``PercentileInterval(99)``...); cuts given as a pair; or
        a mapping of kind to any of these.
    kinds : sequence of str, optional
        The kinds along the stamps' second axis (default: the frames').

    Returns
    -------
    dict
        kind -> (low, high); ``(0.0, 1.0)`` for a kind without a finite pixel.
    """
    stamps, kinds = _stamps_and_kinds(frames, kinds)
    cuts = {}
    for position, kind in enumerate(kinds):
        chosen = interval.get(kind, "zscale") if isinstance(interval, Mapping) else interval
        cuts[kind] = _cuts(stamps[:, position], chosen, kind)
    return cuts


def _stamps_and_kinds(
    frames: Frames | np.ndarray, kinds: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(frames, np.ndarray):
        stamps = frames
        if kinds is None:
            raise ValueError("kinds: give the kinds of the stamps' second axis")
    else:
        stamps = frames.stamps
        kinds = frames.kinds if kinds is None else kinds
    if stamps.ndim != 4 or stamps.shape[1] != len(kinds):
        raise ValueError(
            f"stamps of shape {stamps.shape}: expected (frames, {len(kinds)} kinds, height, width)"
        )
    return stamps, tuple(kinds)


def _cuts(pixels: np.ndarray, interval: Any, kind: str) -> Cuts:
    """One kind's cuts over all its frames' finite pixels."""
    if isinstance(interval, str):
        if interval not in INTERVALS:
            raise BadParameter(
                f"interval: {quote(interval)} is not allowed; allowed: {', '.join(INTERVALS)}, "
                "an astropy interval or (low, high)"
            )
        low, high = interval_cuts(pixels, interval)
        return (low, high)
    if hasattr(interval, "get_limits"):
        finite = np.asarray(pixels, dtype=float)
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            return (0.0, 1.0)
        low, high = interval.get_limits(finite)
        return (float(low), float(high))
    try:
        low, high = (float(value) for value in interval)
    except (TypeError, ValueError):
        raise BadParameter(
            f"interval: {quote(interval)} for {kind} is not an interval's name, an astropy "
            "interval or (low, high)"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise BadParameter(f"interval: cuts ({low}, {high}) for {kind} are not finite")
    return (low, high)


def frame_images(
    frames: Frames,
    cuts: Mapping[str, Sequence[float]],
    stretch: Any = "linear",
    colormaps: str | Mapping[str, str] = "gray",
    *,
    gap: int = 2,
    scale: int = 1,
    flip: bool = False,
    nan_rgb: tuple[int, int, int] = NAN_RGB,
) -> list[np.ndarray]:
    """Each frame as one RGB picture, its kinds side by side (left to right, as `frames.kinds`).

    Parameters
    ----------
    frames : Frames
    cuts : mapping
        kind -> (low, high), the same for every frame (`fixed_cuts`).
    stretch : str, astropy BaseStretch or mapping
        A `render.STRETCHES` name (``sigmoid``: the mean and spread of all frames' pixels of the
        kind), an astropy stretch (``LogStretch()``...), or a mapping of kind to either.
    colormaps : str or mapping
        A matplotlib colormap name, or one per kind.
    gap : int
        White pixels between kinds.
    scale : int
        Each stamp pixel as `scale` x `scale` picture pixels.
    flip : bool
        ``False``: a stamp's row 0 at the top (as Fink's API shows stamps); ``True``: at the
        bottom (FITS's convention).
    nan_rgb : (int, int, int)
        The colour of NaN pixels (no value, or padding).

    Returns
    -------
    list of numpy.ndarray
        uint8 (height * scale, width, 3) per frame, in order.
    """
    stamps, kinds = _stamps_and_kinds(frames, None)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise BadParameter(f"scale: {quote(scale)}; expected a whole number ≥ 1")
    count, _, height, width = stamps.shape
    canvas = np.full((count, height, len(kinds) * (width + gap) - gap, 3), 255, np.uint8)
    for position, kind in enumerate(kinds):
        if kind not in cuts:
            raise BadParameter(f"cuts: none for {kind}; give (low, high) for each kind")
        chosen = stretch.get(kind, "linear") if isinstance(stretch, Mapping) else stretch
        colormap = colormaps if isinstance(colormaps, str) else colormaps.get(kind, "gray")
        levels = _level_scale(stamps[:, position], chosen, cuts[kind])(stamps[:, position])
        left = position * (width + gap)
        canvas[:, :, left : left + width] = coloured(levels, colormap, nan_rgb)
    if flip:
        canvas = canvas[:, ::-1]
    if scale > 1:
        canvas = canvas.repeat(scale, axis=1).repeat(scale, axis=2)
    return list(canvas)


def _level_scale(pixels: np.ndarray, stretch: Any, cuts: Sequence[float]):
    """Values to levels in [0, 1] through the cuts, then the stretch (a name or astropy's)."""
    from fink_cutout_jupyter.cutouts.render import level_scale, stretch_scale

    if isinstance(stretch, str):
        return level_scale(pixels, stretch, cuts)
    if not callable(stretch):
        raise BadParameter(f"stretch: {quote(stretch)} is not a stretch's name or an astropy one")
    return stretch_scale(cuts, stretch)


def write_animation(
    path: str | os.PathLike,
    images: Sequence[np.ndarray],
    fps: float = 4.0,
    format: str = "gif",
    loop: int = 0,
) -> Path:
    """Write `images` (uint8 RGB, one shape) as an animated GIF or APNG, with Pillow.

    Parameters
    ----------
    path : path
        The file (replaced whole: written to a temporary name in its directory, then renamed).
    images : sequence of numpy.ndarray
        The frames (`frame_images`), in order.
    fps : float
        Frames per second: GIF 1/655.35 to 50, APNG 1/65535 to below 100 (`frame_duration`).
    format : {"gif", "apng"}
    loop : int
        Times the animation plays (0: for ever).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    BadParameter
        A format or rate the file cannot hold (naming ``format`` or ``fps``), or no frame.
    """
    from PIL import Image

    from fink_cutout_jupyter.storage.atomic import write_atomically

    if format not in ANIMATION_FORMATS:
        raise BadParameter(
            f"format: {quote(format)} is not allowed; allowed: {', '.join(ANIMATION_FORMATS)}"
        )
    duration = frame_duration(fps, format)
    if not images:
        raise BadParameter("images: no frame to write")
    shapes = {image.shape for image in images}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[2] != 3:
        raise ValueError(f"images: expected RGB frames of one shape, got {sorted(shapes)}")
    if format == "gif":
        pictures = _paletted(images)
        options: dict[str, Any] = {"format": "GIF", "duration": duration, "optimize": False}
    else:
        pictures = [Image.fromarray(np.ascontiguousarray(image), "RGB") for image in images]
        # zlib's level 1: several times faster than Pillow's default on noisy stamps, and
        # no larger (500 frames: 0.6 s and 9 MB against 1.7 s and 14 MB)
        options = {"format": "PNG", "duration": duration, "compress_level": 1}

    def write(stream) -> None:
        pictures[0].save(stream, save_all=True, append_images=pictures[1:], loop=loop, **options)

    return write_atomically(path, write)


def frame_duration(fps: float, format: str = "gif") -> float:
    """The duration of a frame at `fps` as Pillow is given it (milliseconds), exactly what the
    `format` stores, or `BadParameter` naming ``fps`` for a rate it cannot hold.

    GIF stores whole hundredths of a second, 2 to 65535 (browsers show 0 or 1 as 10): `fps`
    from 1/655.35 to 50, the duration rounded to the nearest hundredth. APNG stores a fraction of
    a second whose numerator and denominator are each at most 65535 (Pillow's
    ``Fraction.limit_denominator(65535)`` of the duration), above 10 ms (browsers show 10 ms or
    less as 100): `fps` from 1/65535 to below 100, the duration the nearest such fraction.

    Parameters
    ----------
    fps : float
        Frames per second.
    format : {"gif", "apng"}

    Returns
    -------
    float
        Milliseconds per frame: a multiple of 10 for GIF.
    """
    from fractions import Fraction

    if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps):
        raise BadParameter(f"fps: {quote(fps)}; expected frames per second, a finite number")
    if format == "gif":
        if not 1 / 655.35 <= fps <= GIF_MAX_FPS:
            raise BadParameter(
                f"fps: {quote(fps)}; GIF keeps a frame 2 to 65535 hundredths of a second: "
                f"frames per second from 1/655.35 to {GIF_MAX_FPS} (APNG allows more, up to "
                f"below {APNG_MAX_FPS}, and down to 1/65535)"
            )
        return 10.0 * min(USHORT, max(2, round(100 / fps)))
    if format == "apng":
        if not 1 / USHORT <= fps < APNG_MAX_FPS:
            raise BadParameter(
                f"fps: {quote(fps)}; APNG keeps a frame above 10 ms and at most 65535 s: "
                f"frames per second from 1/65535 to below {APNG_MAX_FPS}"
            )
        seconds = Fraction(1 / fps).limit_denominator(USHORT)
        if seconds.numerator > USHORT:  # a long delay: the nearest with both terms in range
            denominator = max(1, USHORT // math.ceil(1 / fps))
            seconds = Fraction(min(USHORT, round(denominator / fps)), denominator)
        return 1000.0 * seconds.numerator / seconds.denominator
    raise BadParameter(
        f"format: {quote(format)} is not allowed; allowed: {', '.join(ANIMATION_FORMATS)}"
    )


def _paletted(images: Sequence[np.ndarray]) -> list:
    """The frames as Pillow "P" images sharing one palette: their exact colours if at most 256,
    else Pillow's median-cut palette of them all. One frame's packed colours at a time."""
    from PIL import Image

    used = np.zeros(1 << 24, dtype=bool)
    for image in images:
        used[_packed(image)] = True
    palette = np.flatnonzero(used)
    if palette.size <= GIF_COLOURS:
        index = np.zeros(1 << 24, dtype=np.uint8)
        index[palette] = np.arange(palette.size, dtype=np.uint8)
        table = np.zeros((GIF_COLOURS, 3), np.uint8)
        table[: palette.size] = np.column_stack(
            [(palette >> 16) & 255, (palette >> 8) & 255, palette & 255]
        )
        pictures = []
        for image in images:
            picture = Image.fromarray(index[_packed(image)], "P")
            picture.putpalette(table.tobytes(), "RGB")
            pictures.append(picture)
        return pictures
    sample = images[:: max(1, len(images) // 64)]
    mosaic = Image.fromarray(np.ascontiguousarray(np.concatenate(sample, axis=0)), "RGB")
    shared = mosaic.quantize(GIF_COLOURS, method=Image.Quantize.MEDIANCUT)
    return [
        Image.fromarray(np.ascontiguousarray(image), "RGB").quantize(
            palette=shared, dither=Image.Dither.NONE
        )
        for image in images
    ]


def _packed(image: np.ndarray) -> np.ndarray:
    """An RGB image's colours as 24-bit integers (``0xRRGGBB``)."""
    rgb = image.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def fits_cube(frames: Frames, object_id: str | None = None) -> fits.HDUList:
    """The frames' stamps as a multi-extension FITS file.

    One 3-D float32 ``ImageHDU`` per kind (EXTNAME the kind, upper-case as FITS keeps it; axis 3
    the frames, in order; NaN where no value, padding included), then a ``FRAMES`` table, a row
    per frame: ``alertId``, ``jd``, ``mjd``, ``time`` (ISO 8601 UTC, astropy's; empty where no
    finite time) and, when the frames have a table, ``status``.

    Parameters
    ----------
    frames : Frames
    object_id : str, optional
        Written as ``OBJECT`` in the primary header.
    """
    from astropy.io import fits
    from astropy.table import Table

    stamps, kinds = _stamps_and_kinds(frames, None)
    primary = fits.PrimaryHDU()
    primary.header["NFRAMES"] = (len(frames.alert_ids), "frames, in time order (FRAMES table)")
    primary.header["KINDS"] = (",".join(kinds), "an image extension per kind")
    if object_id is not None:
        primary.header["OBJECT"] = str(object_id)
    hdus: list[Any] = [primary]
    for position, kind in enumerate(kinds):
        cube = fits.ImageHDU(np.ascontiguousarray(stamps[:, position], np.float32), name=kind)
        cube.header["NFRAMES"] = (stamps.shape[0], "axis 3: the FRAMES table's rows")
        cube.header["PADDING"] = ("NaN", "smaller stamps NaN-padded, centred")
        hdus.append(cube)
    jd = np.asarray(frames.jd, dtype=float)
    columns: dict[str, Any] = {
        "alertId": np.asarray(frames.alert_ids, dtype=np.int64),
        "jd": jd,
        "mjd": jd - 2400000.5,
        "time": iso_times(jd),
    }
    table = getattr(frames, "table", None)
    if table is not None and "status" in getattr(table, "columns", ()):
        columns["status"] = [str(status) for status in table["status"]]
    hdus.append(fits.BinTableHDU(Table(columns), name="FRAMES"))
    return fits.HDUList(hdus)


def iso_times(jd: np.ndarray) -> list[str]:
    """Julian dates as ISO 8601 UTC text to the millisecond (astropy's ``isot``); ``""`` where
    a date is not finite."""
    from astropy.time import Time

    jd = np.asarray(jd, dtype=float)
    times = [""] * jd.size
    finite = np.flatnonzero(np.isfinite(jd))
    if finite.size:
        texts = Time(jd[finite], format="jd", scale="utc").isot
        for position, text in zip(finite, texts, strict=True):
            times[position] = str(text)
    return times


def write_fits_cube(path: str | os.PathLike, frames: Frames, object_id: str | None = None) -> Path:
    """Write `fits_cube` to `path` (replaced whole: a temporary name in its directory, then
    renamed). Returns the file written."""
    from fink_cutout_jupyter.storage.atomic import write_atomically

    cube = fits_cube(frames, object_id)
    return write_atomically(path, lambda stream: cube.writeto(stream))
