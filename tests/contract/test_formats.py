import io
import json

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from fink_cutout_jupyter.contract.formats import encode, output_format
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.cutouts.render import RenderOptions
from fink_cutout_jupyter.errors import BadParameter


@pytest.fixture(scope="module")
def alert(ztf_lake):
    return CutoutReader(ztf_lake).read(ztf_lake.night_files("19881103")[0], "ZTF18aaqfhlj")


def single(alert, kind):
    return type(alert)(**{**alert.__dict__, "stamps": {kind: alert.stamps[kind]}})


def test_array_is_the_seed_shape(alert):
    encoded = encode(single(alert, "Science"), "array")
    assert encoded.media_type == "application/json"
    arrays = json.loads(encoded.body)
    assert len(arrays) == 1
    assert np.array(arrays[0]).shape == (63, 63)
    three = json.loads(encode(alert, "array").body)
    assert len(three) == 3
    assert three[0] == arrays[0]
    assert three[0] != three[1] != three[2]


def test_fits_of_one_kind_is_the_original_file(alert):
    encoded = encode(single(alert, "Difference"), "fits")
    assert encoded.body == alert.stamps["Difference"].fits_bytes
    assert encoded.filename == f"ZTF18aaqfhlj_{alert.alert_id}_Difference.fits"
    assert encoded.media_type == "application/fits"


def test_fits_of_all_kinds_is_multi_extension(alert):
    encoded = encode(alert, "FITS")
    assert encoded.filename == f"ZTF18aaqfhlj_{alert.alert_id}_All.fits"
    assert len(fits.open(io.BytesIO(encoded.body))) == 4


def test_png_places_the_stamps_side_by_side(alert):
    encoded = encode(alert, "png", RenderOptions(colormap="viridis"))
    assert encoded.media_type == "image/png"
    assert Image.open(io.BytesIO(encoded.body)).size == (63 * 3 + 2 * 2, 63)


def test_unknown_format():
    assert output_format("fits") == "FITS"
    with pytest.raises(
        BadParameter, match="return_type: 'jpeg' is not allowed; allowed: array, FITS, PNG"
    ):
        output_format("jpeg")


def test_array_json_equals_the_nested_lists_of_every_real_stamp(ztf_rows):
    from fink_cutout_jupyter.contract.formats import arrays_json
    from fink_cutout_jupyter.cutouts.stamps import Stamp, to_array

    for row in ztf_rows:
        stamps = [Stamp(kind, fits_bytes) for kind, fits_bytes in row["fits"].items()]
        assert json.loads(arrays_json([s.data for s in stamps])) == [to_array(s) for s in stamps]
