"""`AlertCutouts`: an alert read from the lake, packed as one multi-extension FITS file."""

import pytest
from support.real_data import ztf_lake_files

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.surveys import KINDS


@pytest.mark.parametrize(("lake", "path"), ztf_lake_files())
def test_multi_extension_fits_of_a_read_alert(lake, path):
    import io

    from astropy.io import fits

    reader = CutoutReader(lake)
    first = reader.read(path, alert_id=_first_candid(lake, path))
    packed = fits.open(io.BytesIO(first.multi_extension_fits()))
    assert [hdu.name for hdu in packed[1:]] == [kind.upper() for kind in KINDS]
    assert packed[1].header["ALERTID"] == first.alert_id


def _first_candid(lake, path) -> int:
    import pyarrow.parquet as pq

    return pq.read_table(lake.resolve(path), columns=["candid"]).column(0)[0].as_py()
