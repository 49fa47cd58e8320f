"""An alert's stamps as the bytes of one output format: JSON array, FITS or PNG."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fink_cutout_jupyter.cutouts.alerts import AlertCutouts
from fink_cutout_jupyter.cutouts.render import RenderOptions, stamps_png
from fink_cutout_jupyter.cutouts.stamps import to_fits
from fink_cutout_jupyter.errors import BadParameter, quote
from fink_cutout_jupyter.locations import utc_datetime

FORMATS = ("array", "FITS", "PNG")


@dataclass(frozen=True)
class Encoded:
    """Bytes of a response with their media type and a file name to save them under."""

    body: bytes
    media_type: str
    filename: str


def output_format(value: str) -> str:
    """The canonical spelling of an output format (case-insensitive), or `BadParameter`."""
    canonical = {name.lower(): name for name in FORMATS}.get(str(value).lower())
    if canonical is None:
        raise BadParameter(
            f"return_type: {quote(value)} is not allowed; allowed: {', '.join(FORMATS)}"
        )
    return canonical


def finite(value: Any) -> Any:
    """`value`, or None if it is a float that is not finite (NaN and infinity are not JSON)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def iso_date(jd: float | None) -> str | None:
    """The UTC date of a Julian date as ISO 8601 text to the second; None if it has none.

    A time the lake stores as NaN or infinity, or too far out for a date, has no date.
    """
    if jd is None or not math.isfinite(jd):
        return None
    try:
        return utc_datetime(jd).isoformat(timespec="seconds")
    except OverflowError:
        return None


def arrays_json(arrays: list[np.ndarray]) -> bytes:
    """JSON list of 2-D lists, values as float64 text (as ``tolist()`` gives), NaN as null."""
    import orjson

    as_float64 = [np.ascontiguousarray(array, dtype=np.float64) for array in arrays]
    return orjson.dumps(as_float64, option=orjson.OPT_SERIALIZE_NUMPY)


def encode(alert: AlertCutouts, fmt: str, options: RenderOptions | None = None) -> Encoded:
    """Encode the stamps of `alert` (in the order Science, Template, Difference).

    Parameters
    ----------
    alert : AlertCutouts
        Holds one stamp or all three.
    fmt : str
        ``array``: JSON list of 2-D lists, NaN as null (one element per stamp, as the seed);
        ``FITS``: the original file for one stamp, a multi-extension file for several;
        ``PNG``: one image, the stamps side by side.
    options : RenderOptions, optional
        How PNG images are rendered.

    Returns
    -------
    Encoded
    """
    fmt = output_format(fmt)
    stamps = list(alert.stamps.values())
    label = stamps[0].kind if len(stamps) == 1 else "All"
    stem = f"{alert.object_id if alert.object_id is not None else 'alert'}_{alert.alert_id}_{label}"
    if fmt == "array":
        return Encoded(
            arrays_json([stamp.data for stamp in stamps]), "application/json", f"{stem}.json"
        )
    if fmt == "FITS":
        body = to_fits(stamps[0]) if len(stamps) == 1 else alert.multi_extension_fits()
        return Encoded(body, "application/fits", f"{stem}.fits")
    body = stamps_png([stamp.data for stamp in stamps], options or RenderOptions())
    return Encoded(body, "image/png", f"{stem}.png")
