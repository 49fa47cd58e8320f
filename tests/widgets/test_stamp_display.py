"""What the front-end is sent, computed without a display, checked against astropy and
matplotlib on real ZTF and Rubin stamps."""

import io

import matplotlib
import numpy as np
import pytest
from astropy import units as u
from astropy import visualization
from astropy.io import fits
from astropy.wcs import WCS

from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.surveys import LSST, ZTF
from fink_cutout_jupyter.widgets.stamp_display import (
    SCALE_BAR_ARCSEC,
    arcsec_label,
    celestial_wcs,
    colormap_tables,
    detection_text,
    image_payload,
    object_links,
    orientation_text,
    scale_bar_arcsec,
    stamp_payload,
)
from tests.support.node import node_or_skip


@pytest.fixture(scope="module")
def ztf_stamp(ztf_rows) -> Stamp:
    return Stamp("Science", ztf_rows[0]["fits"]["Science"])


@pytest.fixture(scope="module")
def rubin_stamp(rubin_records) -> Stamp:
    return Stamp("Science", rubin_records[2]["cutoutScience"])


def opened(stamp: Stamp):
    hdul = fits.open(io.BytesIO(stamp.fits_bytes), ignore_missing_simple=True)
    return next(hdu for hdu in hdul if hdu.data is not None)


def test_a_ztf_stamp_is_sent_as_its_float32_pixels_with_offsets_and_no_compass(ztf_stamp):
    image = opened(ztf_stamp)
    payload = stamp_payload(ztf_stamp, ZTF)
    height, width = image.data.shape
    pixels = np.frombuffer(payload["pixels"], dtype="<f4").reshape(height, width)
    np.testing.assert_array_equal(pixels, image.data.astype("<f4"))
    assert (payload["width"], payload["height"], payload["unit"]) == (width, height, "DN")
    finite = image.data[np.isfinite(image.data)]
    assert payload["zscale"] == pytest.approx(visualization.ZScaleInterval().get_limits(finite))
    assert payload["sky"] == {"center": [width / 2, height / 2], "scale": 1.01}
    assert payload["compass"] is None
    assert "no WCS" in orientation_text(ZTF, None)


def test_a_rubin_stamp_gives_each_pixels_sky_position_from_its_wcs(rubin_stamp):
    image = opened(rubin_stamp)
    header = image.header.copy()
    assert "CTYPE1" not in header, "Rubin's stamps name no projection"
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    wcs = WCS(header)
    payload = stamp_payload(rubin_stamp, LSST)
    height, width = image.data.shape
    ra = np.frombuffer(payload["sky"]["ra"], dtype="<f8").reshape(height, width)
    dec = np.frombuffer(payload["sky"]["dec"], dtype="<f8").reshape(height, width)
    for column, row in [(0, 0), (7, 21), (width - 1, height - 1)]:
        expected = [float(value) for value in wcs.pixel_to_world_values(column, row)]
        assert [ra[row, column], dec[row, column]] == pytest.approx(expected, abs=1e-9)
    assert payload["sky"]["frame"].startswith("ICRS, TAN assumed")
    assert payload["unit"] == "nJy"
    center = ((width - 1) / 2, (height - 1) / 2)
    for name, axis in (("north", 1), ("east", 0)):
        vector = np.array(payload["compass"][name])
        assert np.linalg.norm(vector) == pytest.approx(1)
        here = np.array(wcs.pixel_to_world_values(*center))
        there = np.array(wcs.pixel_to_world_values(*(np.array(center) + vector)))
        moved = there - here
        assert moved[axis] > 0, f"one pixel {name}wards increases {'Dec' if axis else 'RA'}"
        assert abs(moved[1 - axis]) * 3600 < 0.01 * (1 if axis else 1 / np.cos(np.radians(here[1])))
    text = orientation_text(LSST, payload["compass"])
    assert "north is" in text


def test_a_header_that_names_its_projection_is_read_as_it_is():
    header = fits.Header(
        {
            "NAXIS": 2,
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRVAL1": 10.0,
            "CRVAL2": 20.0,
            "CRPIX1": 16,
            "CRPIX2": 16,
            "CD1_1": -5.5e-5,
            "CD1_2": 0.0,
            "CD2_1": 0.0,
            "CD2_2": 5.5e-5,
        }
    )
    wcs = celestial_wcs(header)
    assert wcs.assumed == ""
    north_up_east_left = {"north": [0.0, 1.0], "east": [-1.0, 0.0]}  # in (column, row)
    assert "east is to its right" in orientation_text(LSST, north_up_east_left)
    assert celestial_wcs(fits.Header({"NAXIS": 2, "BUNIT": "DN"})) is None


@pytest.mark.parametrize(
    ("isdiffpos", "text"),
    [("t", "positive"), ("1", "positive"), ("f", "negative"), ("0", "negative"), (None, "")],
)
def test_the_detection_sign_comes_from_isdiffpos(isdiffpos, text):
    assert detection_text(isdiffpos).startswith(text)


def test_links_out_name_the_object_and_its_position():
    links = object_links("ZTF24abssjsb", ZTF, 186.358271, 13.645369)
    assert links["Fink portal"] == "https://fink-portal.org/ZTF24abssjsb"
    assert "ra=186.358271&decl=13.645369&radius=5.0&coords_unit=arcsec" in links["TNS"]
    assert "Coord=186.358271+%2B13.645369" in links["SIMBAD"]
    assert list(object_links("170028485706776685", LSST, None, None)) == ["Fink portal"]
    solar_system = object_links(None, LSST, 150.455522, 3.482150)
    assert list(solar_system) == ["TNS", "SIMBAD"], "no portal page for a solar-system object"


def test_colormap_tables_are_matplotlibs_256_levels():
    tables = colormap_tables(["gray", "RdBu_r"])
    expected = matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256), bytes=True)[:, :3]
    assert tables["RdBu_r"] == expected.tobytes()
    assert len(tables["gray"]) == 768


def tan_wcs(fits_bytes: bytes) -> WCS:
    """astropy's WCS of a stored Rubin stamp, read as the TAN projection it names none of."""
    with fits.open(io.BytesIO(fits_bytes)) as hdul:
        header = next(hdu for hdu in hdul if hdu.data is not None).header.copy()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    return WCS(header).celestial


@pytest.mark.parametrize("kind", ["Science", "Template", "Difference"])
def test_the_reticle_is_on_the_alerts_ra_dec_through_each_rubin_stamps_wcs(rubin_records, kind):
    """Every real Rubin alert: the alert's diaSource ra/dec through astropy's WCS of the stored
    stamp (pixel centres whole in astropy, pixel c spanning c to c + 1 in the view), and the
    pixel scale near Rubin's 0.2 arcsec."""
    for record in rubin_records:
        stamp = Stamp(kind, record[f"cutout{kind}"])
        source = record["diaSource"]
        payload = stamp_payload(stamp, LSST, (source["ra"], source["dec"]))
        column, row = tan_wcs(record[f"cutout{kind}"]).world_to_pixel_values(
            source["ra"], source["dec"]
        )
        assert payload["alert_position"] == pytest.approx([column + 0.5, row + 0.5], abs=1e-9)
        assert 0 < payload["alert_position"][0] < payload["width"]
        assert payload["alert_position"] != [payload["width"] / 2, payload["height"] / 2]
        assert payload["arcsec_per_pixel"] == pytest.approx(0.2, abs=0.002)
    without_position = stamp_payload(stamp, LSST)
    assert without_position["alert_position"] == [stamp.data.shape[1] / 2, stamp.data.shape[0] / 2]


def test_a_ztf_stamp_without_wcs_has_the_alert_at_its_centre_and_the_surveys_scale(ztf_rows):
    """ZTF stamps carry no WCS: Fink cuts them around the alert (pixel 31 of 63 is the middle),
    and ZTF's pixels are 1.01 arcsec."""
    row = ztf_rows[0]
    stamp = Stamp("Science", row["fits"]["Science"])
    payload = stamp_payload(stamp, ZTF, (row["candidate"]["ra"], row["candidate"]["dec"]))
    assert payload["alert_position"] == [31.5, 31.5]
    assert payload["arcsec_per_pixel"] == 1.01


@pytest.mark.parametrize(
    ("visible", "length"),
    [(63 * 1.01, 10.0), (30 * 0.2, 1.0), (4.0, 1.0), (3.99, 0.5), (0.2, 0.1), (1e4, 120.0)],
)
def test_the_scale_bar_is_a_round_number_of_arcsec_within_a_quarter_of_the_view(visible, length):
    assert scale_bar_arcsec(visible) == length
    assert length in SCALE_BAR_ARCSEC


def test_the_scale_bars_label_is_in_arcsec():
    assert (arcsec_label(10.0), arcsec_label(0.5)) == ("10″", "0.5″")


def galactic_wcs(crval=(120.0, 35.0)) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    wcs.wcs.crval, wcs.wcs.crpix = list(crval), [16.0, 12.0]
    wcs.wcs.cdelt = [-0.0005, 0.0005]
    wcs.wcs.crota = [0.0, 0.0]
    return wcs


def test_a_galactic_image_is_named_by_its_own_axes_and_frame_not_ra_dec():
    """The readout's sky positions of a Galactic image are (l, b), labelled GLON and GLAT in the
    Galactic frame (they said ICRS and were read as RA, Dec); astropy gives the expected."""
    wcs = galactic_wcs()
    width, height = 30, 20
    payload = image_payload("galactic", np.zeros((height, width)), wcs, "")
    sky = payload["sky"]
    assert sky["frame"] == "Galactic"
    assert sky["axes"] == ["GLON", "GLAT"]
    lon = np.frombuffer(sky["ra"], dtype="<f8").reshape(height, width)
    lat = np.frombuffer(sky["dec"], dtype="<f8").reshape(height, width)
    expected = wcs.pixel_to_world(7, 11)
    assert expected.frame.name == "galactic"
    assert [lon[11, 7], lat[11, 7]] == pytest.approx([expected.l.deg, expected.b.deg], abs=1e-9)

    # the compass's N and E are the equatorial ones (ICRS), not the Galactic pole's way
    middle = ((width - 1) / 2, (height - 1) / 2)
    center = wcs.pixel_to_world(*middle)

    def towards(east: float, north: float, frame: str) -> np.ndarray:
        moved = center.transform_to(frame).spherical_offsets_by(east * u.arcsec, north * u.arcsec)
        step = np.array(wcs.world_to_pixel(moved)) - middle
        return step / np.hypot(*step)

    assert payload["compass"]["north"] == pytest.approx(towards(0, 1, "icrs"), abs=1e-6)
    assert payload["compass"]["east"] == pytest.approx(towards(1, 0, "icrs"), abs=1e-6)
    assert np.dot(towards(0, 1, "icrs"), towards(0, 1, "galactic")) < 0.9, "they differ here"

    # an alert's (ra, dec), ICRS, goes through the Galactic WCS as a sky position
    target = wcs.pixel_to_world(4.0, 6.0).icrs
    placed = image_payload(
        "galactic", np.zeros((height, width)), wcs, "", (target.ra.deg, target.dec.deg)
    )
    assert placed["alert_position"] == pytest.approx([4.5, 6.5], abs=1e-6)


def test_equatorial_axes_in_either_order_give_ra_then_dec():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["DEC--TAN", "RA---TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [-20.0, 200.0], [5.0, 5.0], [0.001, -0.001]
    wcs.wcs.radesys = "FK5"
    payload = image_payload("swapped", np.zeros((10, 12)), wcs, "")
    sky = payload["sky"]
    assert (sky["frame"], sky["axes"]) == ("FK5", ["RA", "Dec"])
    ra = np.frombuffer(sky["ra"], dtype="<f8").reshape(10, 12)
    dec = np.frombuffer(sky["dec"], dtype="<f8").reshape(10, 12)
    expected = wcs.pixel_to_world(3, 7)
    assert [ra[7, 3], dec[7, 3]] == pytest.approx([expected.ra.deg, expected.dec.deg], abs=1e-9)


# The browser's readout (static/stamp_readout.js's readoutText) of a payload, in node.
READOUT_NODE = """
import { readoutText } from "./stamp_readout.js";
const [stamp, column, row] = JSON.parse(process.argv[1]);
const view = (text) => {
  const bytes = Buffer.from(text, "base64");
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};
stamp.sky.ra = view(stamp.sky.ra);
stamp.sky.dec = view(stamp.sky.dec);
const pixels = new Float32Array(stamp.width * stamp.height);
console.log(readoutText({ prepared: [{ stamp, pixels }] }, [column, row]));
"""


def test_the_browsers_readout_names_a_galactic_images_axes_not_ra_dec():
    """The hover readout of a Galactic image says GLON and GLAT (it said RA and Dec), with the
    (l, b) astropy gives for that pixel."""
    import base64
    import json
    import subprocess
    from pathlib import Path

    node = node_or_skip()
    wcs = galactic_wcs()
    payload = image_payload("galactic", np.zeros((20, 30)), wcs, "")
    sky = payload["sky"]
    stamp = {
        "kind": "galactic",
        "width": payload["width"],
        "height": payload["height"],
        "unit": "",
        "sky": {
            **sky,
            "ra": base64.b64encode(sky["ra"]).decode(),
            "dec": base64.b64encode(sky["dec"]).decode(),
        },
    }
    static = Path(__file__).resolve().parents[2] / "fink_cutout_jupyter" / "widgets" / "static"
    shown = subprocess.run(
        [node, "--input-type=module", "-e", READOUT_NODE, json.dumps([stamp, 7, 11])],
        cwd=static,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    expected = wcs.pixel_to_world(7, 11)
    assert f"GLON {expected.l.deg:.6f}°, GLAT +{expected.b.deg:.6f}° (Galactic)" in shown.stdout
    assert "RA" not in shown.stdout
    assert "Dec" not in shown.stdout
