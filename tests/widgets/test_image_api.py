"""ImageDisplay without a widget: what the conformance suite (tests/test_image_display_api.py,
Python 3.12) does not pin down. Real stamps from ../shared/data loaded as FITS files; expected
values from astropy on the stored bytes."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import NDData
from astropy.table import Table
from astropy.visualization import LinearStretch, LogStretch, ManualInterval, ZScaleInterval
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from fink_cutout_jupyter.widgets.image_api import (
    DEFAULT_CATALOG_LABEL,
    DEFAULT_IMAGE_LABEL,
    ImageDisplay,
)
from tests.support.wcs import tan_wcs


class Recorder(ImageDisplay):
    """An ImageDisplay noting each hook call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def _image_loaded(self, image_label):
        self.calls.append(("loaded", image_label))

    def _rendering_changed(self, image_label):
        self.calls.append(("rendering", image_label))

    def _viewport_changed(self, image_label):
        self.calls.append(("viewport", image_label))

    def _catalog_changed(self, catalog_label):
        self.calls.append(("catalog", catalog_label))

    def _catalog_removed(self, catalog_label):
        self.calls.append(("removed", catalog_label))


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(7).normal(100.0, 5.0, (40, 60))


def test_each_change_calls_its_hook_once_with_the_resolved_label(data):
    display = Recorder()
    display.load_image(data)
    display.set_cuts((1, 2))
    display.set_stretch(LogStretch())
    display.set_colormap("viridis")
    display.set_viewport(fov=10)
    display.load_catalog(Table({"x": [1.0], "y": [2.0]}))
    display.set_catalog_style(color="blue")
    display.load_catalog(Table({"x": [1.0], "y": [2.0]}), catalog_label="other")
    display.remove_catalog("*")
    image, catalog = DEFAULT_IMAGE_LABEL, DEFAULT_CATALOG_LABEL
    assert display.calls == [
        ("loaded", image),
        ("rendering", image),
        ("rendering", image),
        ("rendering", image),
        ("viewport", image),
        ("catalog", catalog),
        ("catalog", catalog),
        ("catalog", "other"),
        ("removed", catalog),
        ("removed", "other"),
    ]


def test_a_new_label_gets_the_defaults_and_a_reload_keeps_its_rendering_not_its_viewport(data):
    display = ImageDisplay()
    display.load_image(data, image_label="a")
    assert isinstance(display.get_cuts(), ZScaleInterval)
    assert isinstance(display.get_stretch(), LinearStretch)
    assert display.get_colormap() == "gray"
    display.set_cuts((3, 4))
    display.set_stretch(LogStretch())
    display.set_colormap("magma")
    display.set_viewport(center=(5, 6), fov=7)
    display.load_image(data[:30, :20], image_label="a")
    assert display.get_cuts().get_limits(data) == (3, 4)
    assert isinstance(display.get_stretch(), LogStretch)
    assert display.get_colormap() == "magma"
    assert display.get_viewport() == {"center": (9.5, 14.5), "fov": 30.0, "image_label": "a"}


def test_a_failed_load_changes_nothing(data):
    display = Recorder()
    display.load_image(data, image_label="a")
    display.set_colormap("viridis")
    with pytest.raises(ValueError, match="2-D"):
        display.load_image(np.zeros((2, 3, 4)), image_label="a")
    with pytest.raises(ValueError, match="2-D"):
        display.load_image(np.zeros(5), image_label="b")
    assert display.image_labels == ("a",)
    np.testing.assert_array_equal(display.get_image("a"), data)
    assert display.get_colormap("a") == "viridis"
    assert [call for call in display.calls if call[0] == "loaded"] == [("loaded", "a")]


def test_a_pixel_viewport_is_stored_in_the_kind_each_image_keeps(data):
    wcs = tan_wcs()
    display = ImageDisplay()
    display.load_image(NDData(data, wcs=wcs), image_label="sky")
    display.load_image(data, image_label="pixels")
    display._store_pixel_viewport("sky", (12.0, 8.0), 16.0)
    display._store_pixel_viewport("pixels", (12.0, 8.0), 16.0)
    sky = display.get_viewport(image_label="sky")
    expected = wcs.pixel_to_world(12.0, 8.0)
    assert sky["center"].separation(expected) < 1e-6 * u.arcsec
    # data is wider than tall: a pixel fov is measured along x (WCS axis 0)
    assert sky["fov"].to_value(u.deg) == pytest.approx(16.0 * proj_plane_pixel_scales(wcs)[0])
    assert display.get_viewport(image_label="pixels") == {
        "center": (12.0, 8.0),
        "fov": 16.0,
        "image_label": "pixels",
    }


@pytest.mark.parametrize(
    ("style", "message"),
    [
        ({"shape": "star"}, "shape: 'star' is not a marker shape"),
        ({"color": "not-a-colour"}, "color: 'not-a-colour' is not a CSS colour"),
        ({"size": -1}, "size: -1 is not a half-width"),
        ({"size": "big"}, "size: 'big' is not a half-width"),
    ],
)
def test_a_style_the_markers_cannot_draw_is_refused_and_the_old_one_kept(style, message):
    display = ImageDisplay()
    table = Table({"x": [1.0], "y": [2.0]})
    display.load_catalog(table)
    with pytest.raises(ValueError, match=message):
        display.set_catalog_style(**{"shape": "circle", "color": "red", "size": 5, **style})
    with pytest.raises(ValueError, match=message):
        display.load_catalog(table, catalog_label="new", catalog_style=style)
    assert display.catalog_labels == (DEFAULT_CATALOG_LABEL,)
    assert display.get_catalog_style()["shape"] == "circle"


def test_a_sky_only_catalog_with_several_images_needs_one_wcs(data):
    display = ImageDisplay()
    display.load_image(NDData(data, wcs=tan_wcs()), image_label="a")
    display.load_image(NDData(data, wcs=tan_wcs((10.0, -45.0))), image_label="b")
    coords = SkyCoord([150.0], [30.0], unit="deg")
    with pytest.raises(ValueError, match="Cannot determine which image's WCS"):
        display.load_catalog(Table({"coord": coords}))
    display.load_catalog(Table({"coord": coords}), use_skycoord=True)
    kept = display.get_catalog()
    assert kept["coord"].separation(coords)[0] < 1e-9 * u.deg
    assert kept["x"][0] is None
    assert kept["y"][0] is None


def rubin_fits(rubin_records) -> bytes:
    return next(r["cutoutScience"] for r in rubin_records if r["cutoutScience"])


def test_a_real_rubin_stamp_loads_from_its_fits_file_with_a_sky_viewport(rubin_records, tmp_path):
    stored = rubin_fits(rubin_records)
    path = tmp_path / "science.fits"
    path.write_bytes(stored)
    hdu = next(h for h in fits.open(io.BytesIO(stored)) if h.data is not None)
    header = hdu.header.copy()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"  # Rubin's stamps name none
    wcs = WCS(header)
    height, width = hdu.data.shape

    display = ImageDisplay()
    display.load_image(path)

    image = display.get_image()
    assert isinstance(image, NDData)
    np.testing.assert_array_equal(image.data, hdu.data)
    assert image.unit == u.Unit(header["BUNIT"])
    view = display.get_viewport()
    assert isinstance(view["center"], SkyCoord)
    expected = wcs.pixel_to_world((width - 1) / 2, (height - 1) / 2)
    assert view["center"].separation(expected) < 1e-6 * u.arcsec
    axis = 1 if width > height else 0  # numpy's axis of the larger side
    scale = proj_plane_pixel_scales(wcs)[1 - axis] * u.deg
    assert view["fov"].to_value(u.arcsec) == pytest.approx(
        (max(width, height) * scale).to_value(u.arcsec)
    )
    assert view["fov"].to_value(u.arcsec) == pytest.approx(max(width, height) * 0.2, rel=0.05)

    # the stamp reloads from what get_image returns, and a sky viewport round-trips
    display.load_image(image, image_label="again")
    display.set_viewport(center=expected, fov=3 * u.arcsec, image_label="again")
    pixel = display.get_viewport("pixel", image_label="again")
    assert pixel["center"] == pytest.approx(((width - 1) / 2, (height - 1) / 2), abs=1e-6)
    assert pixel["fov"] == pytest.approx(3 / scale.to_value(u.arcsec))


def test_a_real_ztf_stamp_loads_from_its_gzipped_fits_file_in_pixels(ztf_rows, tmp_path):
    stored = ztf_rows[0]["fits"]["Science"]
    path = tmp_path / "science.fits.gz"
    path.write_bytes(gzip.compress(stored))
    expected = fits.open(io.BytesIO(stored), ignore_missing_simple=True)[0].data

    display = ImageDisplay()
    display.load_image(str(path), image_label="Science")

    np.testing.assert_array_equal(display.get_image().data, expected)
    height, width = expected.shape
    assert display.get_viewport() == {
        "center": ((width - 1) / 2, (height - 1) / 2),
        "fov": float(max(width, height)),
        "image_label": "Science",
    }
    with pytest.raises(ValueError, match="WCS is not set"):
        display.get_viewport("sky")


def test_manual_cuts_keep_the_values_given(data):
    display = ImageDisplay()
    display.load_image(data)
    display.set_cuts(ManualInterval(-1.5, 2.5))
    assert display.get_cuts().get_limits(data) == (-1.5, 2.5)


def test_an_hdu_list_loads_its_first_image_as_its_file_does(rubin_records, tmp_path):
    stored = rubin_fits(rubin_records)
    path = tmp_path / "science.fits"
    path.write_bytes(stored)
    display = ImageDisplay()
    display.load_image(path, image_label="file")
    with fits.open(io.BytesIO(stored)) as hdus:
        display.load_image(hdus, image_label="hdus")
        first = next(hdu for hdu in hdus if hdu.data is not None)
        display.load_image(first, image_label="hdu")
        expected = first.data.copy()
    for label in ("file", "hdus", "hdu"):
        np.testing.assert_array_equal(display.get_image(label).data, expected)
        view, of_file = display.get_viewport(image_label=label), display.get_viewport("sky", "file")
        assert (view["center"], view["fov"]) == (of_file["center"], of_file["fov"])


def test_a_file_that_is_not_a_fits_image_is_named(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("not a FITS file")
    with pytest.raises(ValueError, match=r"notes\.fits is not a FITS file holding an image"):
        ImageDisplay().load_image(path)
    with pytest.raises(FileNotFoundError):
        ImageDisplay().load_image(tmp_path / "missing.fits")


def write_table_before_image(path, image: np.ndarray) -> None:
    """A FITS file whose first HDU with data is a binary table, the image after it."""
    table = fits.BinTableHDU(Table({"flux": [1.0, 2.0], "id": [3, 4]}), name="SOURCES")
    fits.HDUList([fits.PrimaryHDU(), table, fits.ImageHDU(image, name="SCI")]).writeto(path)


def test_a_fits_file_with_a_table_before_its_image_loads_the_image(tmp_path, data):
    path = tmp_path / "table_first.fits"
    write_table_before_image(path, data)
    display = ImageDisplay()
    display.load_image(path, image_label="file")
    with fits.open(path) as hdus:
        display.load_image(hdus, image_label="hdus")
        expected = next(hdu for hdu in hdus if isinstance(hdu, fits.ImageHDU)).data.copy()
    for label in ("file", "hdus"):
        np.testing.assert_array_equal(display.get_image(label).data, expected)
        assert display.get_image(label).meta["EXTNAME"] == "SCI"
    assert display.get_viewport(image_label="file")["fov"] == max(expected.shape)


def test_a_fits_file_without_an_image_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "only_a_table.fits"
    table = fits.BinTableHDU(Table({"flux": [1.0, 2.0]}))
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    display = ImageDisplay()
    with pytest.raises(ValueError, match=r"only_a_table\.fits holds no image"):
        display.load_image(path)
    with fits.open(path) as hdus, pytest.raises(ValueError, match="holds no image"):
        display.load_image(hdus)
    with fits.open(path) as hdus, pytest.raises(ValueError, match="BinTableHDU is not an image"):
        display.load_image(hdus[1])
    assert display.image_labels == ()


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 0, 3)])
def test_an_image_without_pixels_is_refused_and_changes_nothing(data, shape):
    display = Recorder()
    display.load_image(data)
    with pytest.raises(ValueError, match=rf"data: an image needs pixels; .* \({shape[0]}"):
        display.load_image(np.zeros(shape))
    np.testing.assert_array_equal(display.get_image(), data)
    assert display.calls == [("loaded", DEFAULT_IMAGE_LABEL)]


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (3, 1, 4, 5), ()])
def test_an_image_that_is_not_2d_is_refused_with_its_shape(shape):
    with pytest.raises(ValueError, match=r"data: an image must be 2-D"):
        ImageDisplay().load_image(np.zeros(shape))


def test_leading_axes_of_length_one_are_dropped_with_the_wcs_kept(tmp_path, data):
    """A FITS cube of one plane (NAXIS3 = 1) loads as its plane, as astropy's ``data[0]``."""
    wcs = tan_wcs()
    header = wcs.to_header()
    path = tmp_path / "one_plane.fits"
    fits.PrimaryHDU(data[np.newaxis], header=header).writeto(path)
    display = ImageDisplay()
    display.load_image(path, image_label="file")
    display.load_image(data[np.newaxis, np.newaxis], image_label="array")
    display.load_image(NDData(data[np.newaxis]), image_label="nddata")
    cube = WCS(naxis=3)
    cube.wcs.ctype = ["RA---TAN", "DEC--TAN", "FREQ"]
    cube.wcs.crpix, cube.wcs.crval = [*wcs.wcs.crpix, 1.0], [*wcs.wcs.crval, 1.4e9]
    cube.wcs.cdelt = [*wcs.wcs.cdelt, 1e6]
    display.load_image(NDData(data[np.newaxis], wcs=cube), image_label="cube")
    for label in ("file", "array", "nddata", "cube"):
        assert display._images[label].shape == data.shape
        np.testing.assert_array_equal(display._images[label].pixels, data)
    height, width = data.shape
    expected = wcs.pixel_to_world((width - 1) / 2, (height - 1) / 2)
    for label in ("file", "cube"):
        view = display.get_viewport(image_label=label)
        assert view["center"].separation(expected) < 1e-6 * u.arcsec
    spectral = WCS(naxis=3)
    spectral.wcs.ctype = ["FREQ", "RA---TAN", "DEC--TAN"]
    with pytest.raises(ValueError, match="data: its WCS has 3 pixel axes"):
        display.load_image(NDData(data[np.newaxis], wcs=spectral), image_label="cube")
    assert display.get_viewport(image_label="cube")["center"].separation(expected) < 1e-6 * u.arcsec


def test_a_label_that_is_not_a_string_is_refused(data):
    display = ImageDisplay()
    with pytest.raises(TypeError, match="image_label: a label is a string, not 5"):
        display.load_image(data, image_label=5)
    with pytest.raises(TypeError, match=r"catalog_label: a label is a string, not 1\.5"):
        display.load_catalog(Table({"x": [1.0], "y": [2.0]}), catalog_label=1.5)
    assert (display.image_labels, display.catalog_labels) == ((), ())
