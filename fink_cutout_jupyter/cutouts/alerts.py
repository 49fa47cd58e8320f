"""`AlertCutouts`: one alert's identity, display fields and stamps, as every read path gives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fink_cutout_jupyter.cutouts.stamps import Stamp, to_multi_extension_fits
from fink_cutout_jupyter.locations import AlertLocation, FileIdentity
from fink_cutout_jupyter.surveys import Survey


@dataclass(frozen=True)
class AlertCutouts:
    """One alert's identity, display fields and stamps.

    Attributes
    ----------
    survey : Survey
    path : str
        The file holding the alert, relative to the lake root.
    object_id : str, int or None
        ``None`` for Rubin sources without a diaObject (solar-system objects).
    alert_id : int
    time : float
        In the survey's time scale (ZTF: JD, Rubin: MJD TAI).
    properties : dict
        Filter, magnitude (or flux) and error, ra, dec, and isdiffpos where the survey has it.
    stamps : dict
        Kind to `Stamp`, in the order Science, Template, Difference.
    file_identity : FileIdentity or None
        The file's size and modification time as the reader checked them before reading (the
        reply's ETag names them); ``None`` where the read path did not check them.
    """

    survey: Survey
    path: str
    object_id: str | int | None
    alert_id: int
    time: float
    properties: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, Stamp] = field(default_factory=dict)
    file_identity: FileIdentity | None = None

    @classmethod
    def at(cls, location: AlertLocation, survey: Survey, stamps: dict[str, Stamp]) -> AlertCutouts:
        """The alert an index location names (identity and display fields from the index)."""
        object_id: str | int | None = location.object_id
        if object_id is not None and survey.integer_object_ids:
            object_id = int(object_id)
        return cls(
            survey=survey,
            path=location.path,
            object_id=object_id,
            alert_id=location.alert_id,
            time=location.time,
            properties=dict(location.properties),
            stamps=stamps,
        )

    def multi_extension_fits(self) -> bytes:
        """All stamps of the alert as one FITS file (extensions SCIENCE, TEMPLATE, DIFFERENCE)."""
        return to_multi_extension_fits(
            self.stamps, self.object_id or "", self.alert_id, self.time, self.survey.time_scale
        )
