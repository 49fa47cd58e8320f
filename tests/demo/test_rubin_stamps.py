"""A Rubin detection's stamps (`demo.rubin_stamps`), read back with astropy."""

import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from fink_cutout_jupyter.demo.rubin_stamps import PIXEL_SCALE_ARCSEC, STAMP_SIZE, rubin_cutouts


def test_each_stamp_is_three_hdus_in_njy_with_a_tan_wcs_on_the_source():
    rng = np.random.default_rng(3)
    place = {
        "host": 2000.0,
        "host_offset": np.array([1.0, -1.0]),
        "stars": [],
        "rotpa": 30.0,
        "x": 1000.0,
        "y": 2000.0,
    }
    epoch = {"seeing": 0.8, "error": 200.0, "ra": 150.1, "dec": -2.3}
    stamps = rubin_cutouts(rng, place, epoch, flux=50_000.0)
    assert set(stamps) == {"cutoutScience", "cutoutTemplate", "cutoutDifference"}
    for data in stamps.values():
        with fits.open(io.BytesIO(data)) as hdus:
            assert [hdu.name for hdu in hdus] == ["PRIMARY", "UNCERT", "PSFIMAGE"]
            image = hdus[0]
            assert image.data.shape == (STAMP_SIZE, STAMP_SIZE)
            assert image.header["BUNIT"] == "nJy"
            assert (hdus["UNCERT"].data > 0).all()
            wcs = WCS(image.header)
            assert wcs.wcs.ctype[0] == "RA---TAN"
            column, row = wcs.world_to_pixel_values(epoch["ra"], epoch["dec"])
            assert abs(column - (STAMP_SIZE / 2 - 0.5)) <= 0.5
            assert abs(row - (STAMP_SIZE / 2 - 0.5)) <= 0.5
            scales = proj_plane_pixel_scales(wcs) * 3600
            assert scales == pytest.approx([PIXEL_SCALE_ARCSEC] * 2)
    with fits.open(io.BytesIO(stamps["cutoutDifference"])) as hdus:
        centre = hdus[0].data[STAMP_SIZE // 2 - 2 : STAMP_SIZE // 2 + 2].sum()
        assert centre > 0  # the source is in the difference, where its WCS puts it
