"""The time origins of the package, checked against astropy.time."""

import datetime as dt

import pytest
from astropy.time import Time

from fink_cutout_jupyter.locations import (
    JD_OF_UNIX_EPOCH,
    JD_OF_ZERO,
    AlertLocation,
    julian_date,
    utc_datetime,
)


def test_the_time_origins_are_astropys():
    assert Time(0.0, format="jd").jd == JD_OF_ZERO["jd"]
    assert Time(0.0, format="mjd").jd == JD_OF_ZERO["mjd"]
    assert Time(0.0, format="unix").jd == JD_OF_UNIX_EPOCH


@pytest.mark.parametrize(("time", "scale"), [(2460000.6, "jd"), (61105.25, "mjd")])
def test_julian_dates_of_each_scale(time, scale):
    assert julian_date(time, scale) == pytest.approx(Time(time, format=scale).jd, abs=1e-9)


@pytest.mark.parametrize("jd", [2440587.5, 2460650.6875, 2461105.123456])
def test_utc_datetimes_of_julian_dates(jd):
    expected = Time(jd, format="jd", scale="utc").to_datetime(timezone=dt.UTC)
    assert abs(utc_datetime(jd) - expected) < dt.timedelta(milliseconds=1)


def test_a_rubin_location_in_mjd_gives_its_julian_date_and_utc_date():
    location = AlertLocation("1", 2, 61105.5, "a.parquet", 0, 0, 10, time_scale="mjd")
    assert location.jd == Time(61105.5, format="mjd").jd
    assert location.date == Time(61105.5, format="mjd").to_datetime(timezone=dt.UTC)
