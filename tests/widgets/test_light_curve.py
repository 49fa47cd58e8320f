"""LightCurve: the browser draws with the survey's data (colours, markers, time origins) sent
from Python, and hard-codes none of it; the static fallback draws with the same data."""

import re

import matplotlib.colors
import numpy as np
import pytest
from astropy.time import Time

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.surveys import LSST, SURVEYS, ZTF
from fink_cutout_jupyter.widgets.assets import STATIC
from fink_cutout_jupyter.widgets.light_curve import LightCurve, filter_styles, light_curve_rgb
from fink_cutout_jupyter.widgets.viewer import CutoutViewer

RUBIN_OBJECT = 170028485706776685


@pytest.fixture(scope="module")
def rubin_client(rubin_lake):
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    build(AlertIndex(rubin_lake), rubin_lake.nights(), progress=False)
    return CutoutClient(lake=rubin_lake.uri)


def test_the_browser_is_sent_each_filters_style_as_the_survey_defines_it(rubin_client):
    viewer = CutoutViewer(RUBIN_OBJECT, client=rubin_client)
    assert viewer.message.value == ""
    assert viewer.survey is LSST
    sent = viewer.light_curve.get_state()["styles"]  # what the widget's comm carries
    assert sent == {
        band: {"colour": style.colour, "marker": style.marker}
        for band, style in LSST.filter_styles.items()
    }
    assert set(sent) == set("ugrizy")
    assert {p["filter"] for p in viewer.light_curve.points} <= set(sent)
    assert viewer.light_curve.unit == "nJy"
    assert f'href="https://lsst.fink-portal.org/{RUBIN_OBJECT}"' in viewer.links.value


def test_the_time_origins_sent_are_astropys():
    origins = LightCurve().get_state()["time_origins"]
    assert origins["jd_of_mjd_zero"] == Time(0.0, format="mjd").jd
    assert origins["jd_of_unix_epoch"] == Time(0.0, format="unix").jd


@pytest.mark.parametrize("survey", SURVEYS.values(), ids=SURVEYS)
def test_every_filter_of_a_survey_has_a_style(survey):
    styles = filter_styles(survey)
    assert set(dict(survey.filter_names).values()) <= set(styles)
    for style in styles.values():
        assert matplotlib.colors.is_color_like(style["colour"])
        assert re.fullmatch(r"#[0-9a-f]{6}", style["colour"]), "a colour CSS reads too"


def test_no_survey_fact_is_written_in_the_browser_code():
    """The colours, markers by filter, time origins and portal live in Python (surveys.py,
    locations.py) and reach the browser as traits: none is copied into static/."""
    colours = {s.colour for survey in SURVEYS.values() for s in survey.filter_styles.values()}
    for script in sorted(STATIC.glob("*.js")):
        text = script.read_text().lower()
        for colour in colours:
            assert colour.lower() not in text, f"{script.name} has the filter colour {colour}"
        for number in ("2400000", "2440587", "40587"):
            assert number not in text, f"{script.name} has the time origin {number}"
        assert "fink-portal" not in text, f"{script.name} has the portal's address"
        filter_keyed = re.search(r"\{\s*[ugrizy]\s*:", text)
        assert filter_keyed is None, f"{script.name} has a table by filter: {filter_keyed[0]!r}"


def pixels_of(image: np.ndarray, colour: str) -> int:
    """How many pixels of `image` have `colour` (to within antialiasing's rounding)."""
    rgb = np.array(matplotlib.colors.to_rgb(colour)) * 255
    return int((np.abs(image.astype(int) - rgb).max(axis=-1) <= 2).sum())


@pytest.mark.parametrize(("survey", "band"), [(ZTF, "g"), (ZTF, "r"), (LSST, "u"), (LSST, "y")])
def test_the_static_fallback_draws_each_filter_in_its_surveys_colour(survey, band):
    point = {"alertId": "1", "jd": 2460000.5, "filter": band, "magnitude": 18.0, "error": 0.1}
    image = light_curve_rgb([point], [], "mag", 400, filter_styles(survey))
    assert pixels_of(image, survey.filter_styles[band].colour) >= 4
    own = survey.filter_styles[band].colour
    others = {style.colour for style in survey.filter_styles.values()} - {own}
    hues = {colour for colour in others if len(set(matplotlib.colors.to_rgb(colour))) > 1}
    assert all(pixels_of(image, colour) == 0 for colour in hues), "(greys are the axes' too)"


def test_the_light_curve_includes_tonights_detection_once_a_follower_cycle_indexed_it(
    demo, tmp_path
):
    """A micro-batch of tonight's live night, one follower cycle: the object's light curve ends
    with the new detection, at the time and magnitude pyarrow reads from the part file."""
    import datetime as dt
    import shutil

    import pyarrow.parquet as pq

    from fink_cutout_jupyter.demo.live import stream_demo_batch
    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
    from fink_cutout_jupyter.index.follow import Follower
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    root = tmp_path / "lake"
    shutil.copytree(demo.root, root)
    batch = stream_demo_batch(root, demo.nights[-1] + dt.timedelta(days=1))
    before = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(root))).light_curve.points
    assert Follower(AlertIndex(Lake(root))).cycle().indexed
    row = next(
        r for r in pq.read_table(root / batch.path).to_pylist() if r["objectId"] == DEMO_OBJECT_ID
    )

    points = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(root))).light_curve.points
    assert len(points) == len(before) + 1 == 6
    new = next(p for p in points if p["alertId"] == str(row["candid"]))
    assert new["jd"] == row["candidate"]["jd"]
    assert new["magnitude"] == pytest.approx(row["candidate"]["magpsf"], rel=1e-6)
    assert new["filter"] == dict(ZTF.filter_names)[row["candidate"]["fid"]]
    assert new["jd"] == max(p["jd"] for p in points), "tonight's is the latest"
