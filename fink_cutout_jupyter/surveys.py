"""Surveys described as data: where each survey keeps ids, time, cutouts and display fields."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fink_cutout_jupyter.errors import BadParameter, quote

KINDS = ("Science", "Template", "Difference")
MARKERS = ("circle", "square", "diamond", "triangle")


@dataclass(frozen=True)
class FilterStyle:
    """How a light curve draws the points of one filter.

    Attributes
    ----------
    colour : str
        A CSS colour (``#rrggbb``), which matplotlib reads too.
    marker : str
        One of `MARKERS`.
    """

    colour: str
    marker: str


# One style per band, shared by the surveys that observe it (matplotlib's tab10 colours).
_BAND_STYLES = {
    "u": FilterStyle("#9467bd", "triangle"),
    "g": FilterStyle("#2ca02c", "circle"),
    "r": FilterStyle("#d62728", "square"),
    "i": FilterStyle("#ff7f0e", "diamond"),
    "z": FilterStyle("#8c564b", "circle"),
    "y": FilterStyle("#7f7f7f", "square"),
}


# Rubin's band colours for a light background (RTN-045, as lsst.utils.plotting gives them).
_RUBIN_COLOURS = {
    "u": "#0c71ff",
    "g": "#49be61",
    "r": "#c61c00",
    "i": "#ffc200",
    "z": "#f341a2",
    "y": "#5d0000",
}


def _styles_of(bands: str, colours: Mapping[str, str] | None = None) -> dict[str, FilterStyle]:
    return {
        band: FilterStyle(
            (colours or {}).get(band, _BAND_STYLES[band].colour), _BAND_STYLES[band].marker
        )
        for band in bands
    }


@dataclass(frozen=True)
class StampDisplay:
    """How a survey's stamps are shown unless the user says otherwise.

    Attributes
    ----------
    stretch : str
        Stretch of Science and Template (a `cutouts.render.STRETCHES` name).
    difference_stretch : str
        Stretch of Difference.
    interval : str
        ``percentile`` (between `pmin` and `pmax`), ``zscale`` or ``minmax``.
    pmin, pmax : float
        Percentiles of the finite pixels at the ends of the colormap (``percentile``).
    """

    stretch: str
    difference_stretch: str
    interval: str
    pmin: float
    pmax: float


@dataclass(frozen=True)
class Survey:
    """How one survey's alerts are laid out in Fink's Parquet files.

    Column names are Parquet leaf paths (``struct.child``) as pyarrow reports them.

    Attributes
    ----------
    name : str
        Short name (``"ztf"``, ``"lsst"``).
    object_id_columns : tuple of str
        Object id columns, first non-null (and non-zero) wins.
    alert_id_column : str
        Column of the alert id (one per detection).
    time_column : str
        Column of the detection time, ``time_scale`` says its unit.
    time_scale : str
        ``"jd"`` or ``"mjd"``.
    cutout_columns : dict
        Kind (``Science``, ``Template``, ``Difference``) to the binary column holding its FITS.
    gzipped : bool
        Whether the stored stamps are gzip-compressed FITS files.
    pixel_scale_arcsec : float
        Angular size of one stamp pixel.
    object_id_pattern : str or None
        Regular expression an object id must match; ``None`` for integer ids.
    example_object_id : str
        Shown in error messages.
    filter_column, magnitude_column, magnitude_error_column, ra_column, dec_column : str
        Display fields of an alert.
    magnitude_unit : str
        ``"mag"`` or ``"nJy"`` (Rubin reports PSF fluxes).
    portal_url : str
        Fink's web portal for the survey: an object's page is ``<portal_url>/<object id>``.
    isdiffpos_column : str or None
        Sign of the difference (ZTF), if the survey has one.
    filter_names : tuple of (value, name) pairs
        Names of the filters a survey stores as numbers (`filter_name`).
    filter_styles : mapping
        Filter name (as `filter_name` gives it) to its `FilterStyle` in a light curve.
    stamp_display : StampDisplay
        How the viewer shows the survey's stamps by default.
    solar_system_id_column : str or None
        Column of the solar-system object id (Rubin's ``ssSource.ssObjectId``): an alert with
        one is indexed under it too (`solar_system_key`).
    designation_column : str or None
        Column of the solar-system object's designation (Rubin's ``ssSource.designation``).
    """

    name: str
    object_id_columns: tuple[str, ...]
    alert_id_column: str
    time_column: str
    time_scale: str
    cutout_columns: dict[str, str]
    gzipped: bool
    pixel_scale_arcsec: float
    object_id_pattern: str | None
    example_object_id: str
    filter_column: str
    magnitude_column: str
    magnitude_error_column: str
    magnitude_unit: str
    ra_column: str
    dec_column: str
    portal_url: str
    isdiffpos_column: str | None = None
    filter_names: tuple[tuple[int, str], ...] = ()
    filter_styles: Mapping[str, FilterStyle] = field(default_factory=dict)
    stamp_display: StampDisplay = StampDisplay("linear", "linear", "zscale", 0.5, 99.5)
    solar_system_id_column: str | None = None
    designation_column: str | None = None

    @property
    def integer_object_ids(self) -> bool:
        """Whether object ids are integers (Rubin) rather than strings (ZTF)."""
        return self.object_id_pattern is None

    @property
    def lookup_columns(self) -> tuple[str, ...]:
        """The small columns needed to find an alert in a file."""
        return (*self.object_id_columns, self.alert_id_column, self.time_column)

    @property
    def display_columns(self) -> tuple[str, ...]:
        """The columns describing an alert for people."""
        extra = tuple(
            column
            for column in (
                self.isdiffpos_column,
                self.solar_system_id_column,
                self.designation_column,
            )
            if column
        )
        return (
            self.filter_column,
            self.magnitude_column,
            self.magnitude_error_column,
            self.ra_column,
            self.dec_column,
            *extra,
        )

    def validate_object_id(self, value: object, parameter: str = "objectId") -> str | int:
        """Return the object id in its stored type, or raise `BadParameter` naming `parameter`
        (the name the request gave it)."""
        if self.integer_object_ids:
            return as_integer(parameter, value, self.example_object_id)
        text = value if isinstance(value, str) else None
        pattern = self.object_id_pattern  # not None: integer ids returned above
        if not text or not pattern or not re.fullmatch(pattern, text):
            raise BadParameter(
                f"{parameter}: {quote(value)} is not a {self.name.upper()} object id; "
                f"expected something like {self.example_object_id!r}"
            )
        return text

    def validate_alert_id(self, value: object) -> int:
        """Return the alert id as an int, or raise `BadParameter`."""
        return as_integer(self.alert_id_column.rsplit(".", 1)[-1], value, "1234567890")

    def filter_name(self, value: object) -> str:
        """Human name of a filter value (ZTF stores 1, 2, 3 for g, r, i)."""
        names: dict[object, str] = dict(self.filter_names)
        return names.get(value, str(value))


class ObjectId(str):
    """An object id checked for one survey: its text (as the index keys it), the `survey` and
    the id in its `stored` type (an int for Rubin).

    Made by `of`, where an id comes in (the request's edge, `contract.parameters`); the index
    and the reader take one of their own survey as checked, and check anything else.
    """

    survey: Survey
    stored: str | int

    def __new__(cls, stored: str | int, survey: Survey) -> ObjectId:
        checked = super().__new__(cls, stored)
        checked.survey = survey
        checked.stored = stored
        return checked

    def __getnewargs__(self) -> tuple[str | int, Survey]:  # type: ignore[override]
        return self.stored, self.survey

    @classmethod
    def of(cls, value: object, survey: Survey, parameter: str = "objectId") -> ObjectId:
        """`value` checked as an object id of `survey` (`Survey.validate_object_id`, naming
        `parameter`), unless it is an `ObjectId` of that survey already."""
        if isinstance(value, ObjectId) and value.survey == survey:
            return value
        return cls(survey.validate_object_id(value, parameter), survey)


MAX_ID = 2**63 - 1  # ids are int64 in the lake
ID_DIGITS = r"0|[1-9][0-9]{0,18}"  # no sign, no leading zero, no space (then at most MAX_ID)


def as_integer(parameter: str, value: object, example: str) -> int:
    """`value` as an id: a whole number from 0 to 2**63-1, as an int or its digits (`ID_DIGITS`).

    Raises
    ------
    BadParameter
        Naming `parameter`, for anything else (quoted, cut to ~100 characters).
    """
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()  # JSON's 10.0 is an integer too
    )
    digits = isinstance(value, str) and re.fullmatch(ID_DIGITS, value)
    # an int, a whole float or digits: `whole` and `digits` narrow it, the checker cannot see that
    number = int(value) if whole or digits else None  # type: ignore[call-overload]
    if number is None or not 0 <= number <= MAX_ID:
        raise BadParameter(
            f"{parameter}: {quote(value)} is not an id (a whole number from 0 to 2**63-1); "
            f"expected e.g. {example}"
        )
    return number


ZTF = Survey(
    name="ztf",
    object_id_columns=("objectId",),
    alert_id_column="candid",
    time_column="candidate.jd",
    time_scale="jd",
    cutout_columns={kind: f"cutout{kind}.stampData" for kind in KINDS},
    gzipped=True,
    pixel_scale_arcsec=1.01,
    object_id_pattern=r"ZTF\d{2}[a-z]{7}",
    example_object_id="ZTF24abssjsb",
    filter_column="candidate.fid",
    magnitude_column="candidate.magpsf",
    magnitude_error_column="candidate.sigmapsf",
    magnitude_unit="mag",
    ra_column="candidate.ra",
    dec_column="candidate.dec",
    portal_url="https://fink-portal.org",
    isdiffpos_column="candidate.isdiffpos",
    filter_names=((1, "g"), (2, "r"), (3, "i")),
    filter_styles=_styles_of("gri"),
)

LSST = Survey(
    name="lsst",
    object_id_columns=("diaObject.diaObjectId", "diaSource.diaObjectId"),
    alert_id_column="diaSourceId",
    time_column="diaSource.midpointMjdTai",
    time_scale="mjd",
    cutout_columns={kind: f"cutout{kind}" for kind in KINDS},
    gzipped=False,
    pixel_scale_arcsec=0.2,
    object_id_pattern=None,
    example_object_id="170028485706776685",
    filter_column="diaSource.band",
    magnitude_column="diaSource.psfFlux",
    magnitude_error_column="diaSource.psfFluxErr",
    magnitude_unit="nJy",
    ra_column="diaSource.ra",
    dec_column="diaSource.dec",
    portal_url="https://lsst.fink-portal.org",
    filter_styles=_styles_of("ugrizy", _RUBIN_COLOURS),
    # As Fink's Rubin portal draws them: asinh Science and Template, linear Difference.
    stamp_display=StampDisplay("asinh", "linear", "percentile", 0.5, 99.95),
    solar_system_id_column="ssSource.ssObjectId",
    designation_column="ssSource.designation",
)

SOLAR_SYSTEM_PREFIX = "ss:"  # an object key of the index that is a solar-system object id


def solar_system_key(ss_object_id: int) -> str:
    """The index's object key of a solar-system object (ids apart from diaObjectIds)."""
    return f"{SOLAR_SYSTEM_PREFIX}{ss_object_id}"


SURVEYS = {survey.name: survey for survey in (ZTF, LSST)}

# The survey of an index whose layout names none: the first indexes were ZTF's, and an empty
# index takes the survey of the first night written to it.
DEFAULT_SURVEY = ZTF


def survey_named(name: str) -> Survey:
    """Return the survey called `name` (case-insensitive; ``rubin`` means ``lsst``)."""
    key = {"rubin": "lsst"}.get(name.lower(), name.lower())
    if key not in SURVEYS:
        raise BadParameter(f"survey: {quote(name)} is unknown; allowed: {', '.join(SURVEYS)}")
    return SURVEYS[key]


def survey_of_columns(column_paths: Iterable[str]) -> Survey:
    """Recognise the survey whose lookup and cutout columns a file has."""
    paths = set(column_paths)
    for survey in SURVEYS.values():
        needed = {survey.alert_id_column, survey.time_column, *survey.cutout_columns.values()}
        if needed <= paths and any(c in paths for c in survey.object_id_columns):
            return survey
    raise BadParameter(
        "the file is not a Fink alert file: it lacks the id, time or cutout columns of "
        f"every known survey ({', '.join(SURVEYS)})"
    )
