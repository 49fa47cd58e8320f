"""A ``Retry-After`` header read as seconds to wait (standard library only).

Shared by the client (a busy server's 503) and the hub authenticator (a busy hub's 429/5xx).
"""

from __future__ import annotations

import math


def retry_after_seconds(value: str | None, most: float) -> float | None:
    """Seconds that a ``Retry-After`` value asks to wait, between 0 and `most`.

    Parameters
    ----------
    value : str or None
        The header's value. Negative numbers count as 0 and infinity as `most`.
    most : float
        The longest wait honoured.

    Returns
    -------
    float or None
        None if the header is absent, a date, or not a number (``nan`` included).
    """
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), most)
