import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA, ztf_lake_files

from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.surveys import (
    KINDS,
    LSST,
    MARKERS,
    ZTF,
    survey_named,
    survey_of_columns,
)


def leaf_paths(path) -> list[str]:
    schema = pq.ParquetFile(path).schema
    return [schema.column(i).path for i in range(len(schema))]


@pytest.mark.parametrize(("lake", "path"), ztf_lake_files())
def test_real_ztf_files_are_recognised(lake, path):
    assert survey_of_columns(leaf_paths(lake.resolve(path))) is ZTF


def test_rubin_schema_is_recognised():
    schema = SHARED_DATA / "lsst/schema/fink-broker_rubin_parquet_schema_lsst.v10_0.parquet"
    assert survey_of_columns(leaf_paths(schema)) is LSST


def test_a_file_without_cutouts_is_refused():
    with pytest.raises(BadParameter, match="not a Fink alert file"):
        survey_of_columns(["objectId", "candid", "candidate.jd"])


@pytest.mark.parametrize("good", ["ZTF24abssjsb", "ZTF18aaqfhlj"])
def test_ztf_object_ids(good):
    assert ZTF.validate_object_id(good) == good


@pytest.mark.parametrize(
    "bad",
    ["", "ZTF24ABSSJSB", "ZTF24abssjs", "toto", "ZTF24abssjsb'--", " ZTF18aaqfhlj ", 12, None],
)
def test_bad_ztf_object_ids_name_the_parameter_and_an_example(bad):
    with pytest.raises(BadParameter, match=r"objectId: .*ZTF24abssjsb"):
        ZTF.validate_object_id(bad)


def test_rubin_ids_are_integers():
    assert LSST.validate_object_id("170028485706776685") == 170028485706776685
    assert LSST.validate_alert_id(170094456272322680) == 170094456272322680
    with pytest.raises(BadParameter, match="diaSourceId"):
        LSST.validate_alert_id("17009445627232268x")
    with pytest.raises(BadParameter, match="candid"):
        ZTF.validate_alert_id(True)


def test_surveys_describe_their_differences_as_data():
    assert (ZTF.gzipped, LSST.gzipped) == (True, False)
    assert (ZTF.pixel_scale_arcsec, LSST.pixel_scale_arcsec) == (1.01, 0.2)
    assert (ZTF.time_scale, LSST.time_scale) == ("jd", "mjd")
    assert set(ZTF.cutout_columns) == set(LSST.cutout_columns) == set(KINDS)
    assert ZTF.filter_name(1) == "g"
    assert LSST.filter_name("i") == "i"


def test_survey_names():
    assert survey_named("Rubin") is LSST
    assert survey_named("ZTF") is ZTF
    with pytest.raises(BadParameter, match="allowed: ztf, lsst"):
        survey_named("atlas")


@pytest.mark.parametrize("survey", [ZTF, LSST], ids=["ztf", "lsst"])
def test_each_survey_says_its_portal_and_how_its_filters_are_drawn(survey):
    assert survey.portal_url.startswith("https://")
    assert survey.portal_url.endswith("fink-portal.org")
    assert survey.filter_styles, "a light curve needs a style per filter"
    assert {style.marker for style in survey.filter_styles.values()} <= set(MARKERS)
    named = {survey.filter_name(value) for value, _ in survey.filter_names}
    assert named <= set(survey.filter_styles)


def test_a_band_both_surveys_observe_has_one_marker_and_each_surveys_colours():
    """Rubin's bands in Rubin's colours (RTN-045, as lsst.utils.plotting's
    get_multiband_plot_colors gives them for a light background), ZTF's as before."""
    rtn_045 = {
        "u": "#0c71ff",
        "g": "#49be61",
        "r": "#c61c00",
        "i": "#ffc200",
        "z": "#f341a2",
        "y": "#5d0000",
    }
    assert {band: style.colour for band, style in LSST.filter_styles.items()} == rtn_045
    assert {band: style.colour for band, style in ZTF.filter_styles.items()} == {
        "g": "#2ca02c",
        "r": "#d62728",
        "i": "#ff7f0e",
    }
    for band in set(ZTF.filter_styles) & set(LSST.filter_styles):
        assert ZTF.filter_styles[band].marker == LSST.filter_styles[band].marker
