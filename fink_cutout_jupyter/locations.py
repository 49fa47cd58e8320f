"""Where an alert lives in the lake: what the index finds and the reader reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# The Julian dates of the time origins the package meets; astropy.time.Time agrees (tested).
JD_OF_ZERO = {"jd": 0.0, "mjd": 2400000.5}  # of each survey's `time_scale`
JD_OF_UNIX_EPOCH = 2440587.5  # 1970-01-01T00:00:00 UTC
ALERT_ID_SPAN = "alertId"


def julian_date(time: float, time_scale: str) -> float:
    """A time of `time_scale` (``"jd"`` or ``"mjd"``) as a Julian date."""
    return time + JD_OF_ZERO[time_scale]


def utc_datetime(jd: float) -> dt.datetime:
    """A Julian date as an aware UTC datetime (no leap seconds: TAI and UTC differ by ~37 s).

    Raises
    ------
    OverflowError
        A date beyond the years 1 to 9999.
    """
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return epoch + dt.timedelta(days=jd - JD_OF_UNIX_EPOCH)


class FileIdentity(NamedTuple):
    """What tells one version of a file from another without reading it: size and mtime.

    ``mtime_ns`` is -1 where the filesystem reports no modification time.
    """

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class AlertLocation:
    """One alert: its identity, display fields and position in a Parquet file of the lake.

    Attributes
    ----------
    object_id : str or None
        Object id as text (Rubin ids too); ``None`` for Rubin sources without a diaObject.
    alert_id : int
    time : float
        In the survey's time scale (ZTF: JD, Rubin: MJD TAI); see `jd`.
    path : str
        File relative to the lake root.
    row_group, row : int
        Position of the alert in the file: row group, and row within it.
    file_size, file_mtime_ns : int
        Size and modification time of the file when it was indexed: a file whose `FileIdentity`
        differs was rewritten since, and the indexed position is not trusted.
    properties : dict
        filter, magnitude, magnitude_error, ra, dec, isdiffpos, magnitude_unit.
    time_scale : str
        ``"jd"`` or ``"mjd"``.
    page_spans : dict or None
        Kind to (`PageSpan`, `ColumnInfo`): the data page holding each stamp, and under
        ``"alertId"`` the page holding the row's alert id, when the index could map the file's
        pages (the reader then reads only those pages, and checks the id).
    survey : str or None
        Name of the survey of the indexed lake.
    """

    object_id: str | None
    alert_id: int
    time: float
    path: str
    row_group: int
    row: int
    file_size: int
    file_mtime_ns: int = -1
    properties: dict[str, Any] = field(default_factory=dict)
    time_scale: str = "jd"
    page_spans: dict[str, Any] | None = None
    survey: str | None = None

    @property
    def file_identity(self) -> FileIdentity:
        """The indexed file's size and modification time."""
        return FileIdentity(self.file_size, self.file_mtime_ns)

    @property
    def jd(self) -> float:
        """The alert time as a Julian date."""
        return julian_date(self.time, self.time_scale)

    @property
    def date(self) -> dt.datetime:
        """The alert time as an aware UTC datetime (TAI and UTC differ by ~37 s for Rubin)."""
        return utc_datetime(self.jd)
