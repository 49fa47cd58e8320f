import io
import json

import numpy as np
import pytest
from astropy.io import fits

from fink_cutout_jupyter.cutouts.stamps import (
    Stamp,
    stamp_from_stored,
    to_array,
    to_fits,
    to_multi_extension_fits,
)
from fink_cutout_jupyter.errors import BadParameter, CorruptData
from fink_cutout_jupyter.surveys import KINDS


def astropy_data(fits_bytes: bytes) -> np.ndarray:
    return fits.open(io.BytesIO(fits_bytes), ignore_missing_simple=True)[0].data


def test_every_real_ztf_stamp_decodes_and_round_trips(ztf_rows):
    shapes = set()
    for row in ztf_rows:
        for kind in KINDS:
            stamp = Stamp(kind, row["fits"][kind])
            expected = astropy_data(row["fits"][kind])
            assert to_fits(stamp) == row["fits"][kind]
            assert stamp.data.dtype.isnative
            np.testing.assert_array_equal(stamp.data, expected)
            array = to_array(stamp)
            assert len(array) == expected.shape[0]
            assert all(len(line) == expected.shape[1] for line in array)
            as_json = np.array(json.loads(json.dumps(array, allow_nan=False)), dtype=float)
            np.testing.assert_array_equal(as_json, expected)
            shapes.add(expected.shape)
    assert len(ztf_rows) == 126
    assert (63, 62) in shapes


def test_nan_pixels_become_null_in_place(ztf_rows):
    holding_nan = [
        (row, kind)
        for row in ztf_rows
        for kind in KINDS
        if np.isnan(astropy_data(row["fits"][kind])).any()
    ]
    assert len(holding_nan) >= 50
    for row, kind in holding_nan:
        expected = astropy_data(row["fits"][kind])
        array = to_array(Stamp(kind, row["fits"][kind]))
        nulls = np.array([[value is None for value in line] for line in array])
        np.testing.assert_array_equal(nulls, np.isnan(expected))


def test_stored_gzip_is_undone_and_raw_bytes_are_kept(ztf_rows):
    import gzip

    fits_bytes = ztf_rows[0]["fits"]["Science"]
    assert stamp_from_stored("Science", gzip.compress(fits_bytes), gzipped=True).fits_bytes == (
        fits_bytes
    )
    assert stamp_from_stored("Science", fits_bytes, gzipped=False).fits_bytes == fits_bytes
    with pytest.raises(BadParameter, match="allowed: Science, Template, Difference"):
        stamp_from_stored("Sci", fits_bytes, gzipped=False)


def test_rubin_stamps_keep_every_hdu(rubin_records):
    for record in rubin_records:
        stamp = stamp_from_stored("Science", record["cutoutScience"], gzipped=False)
        assert to_fits(stamp) == record["cutoutScience"]
        assert [hdu.name for hdu in fits.open(io.BytesIO(to_fits(stamp)))] == [
            "PRIMARY",
            "UNCERT",
            "PSFIMAGE",
        ]
        assert stamp.data.shape == (30, 30)
        assert stamp.header["NAXIS1"] == 30


def test_multi_extension_fits_holds_the_three_kinds_and_the_identity(ztf_rows):
    row = ztf_rows[5]
    stamps = {kind: Stamp(kind, row["fits"][kind]) for kind in KINDS}
    packed = fits.open(
        io.BytesIO(to_multi_extension_fits(stamps, row["objectId"], row["candid"], row["jd"]))
    )
    assert [hdu.name for hdu in packed] == ["PRIMARY", "SCIENCE", "TEMPLATE", "DIFFERENCE"]
    for kind in KINDS:
        extension = packed[kind.upper()]
        np.testing.assert_array_equal(extension.data, astropy_data(row["fits"][kind]))
        assert extension.header["OBJECT"] == row["objectId"]
        assert extension.header["ALERTID"] == row["candid"]
        assert extension.header["JD"] == row["jd"]
        assert extension.header["BUNIT"] == "DN"
    assert packed[0].header["OBJECT"] == row["objectId"]


def test_stamp_kinds_are_checked_when_made_and_taken_as_checked_after():
    from fink_cutout_jupyter.cutouts.stamps import StampKinds

    kinds = StampKinds.of(["Difference", "Science"])
    assert kinds == ("Difference", "Science")
    assert StampKinds.of(kinds) is kinds
    for bad in (["All"], [], ["Science", "sci"]):
        with pytest.raises(BadParameter, match=r"^kind: .* allowed: Science, Template, Difference"):
            StampKinds.of(bad)


def test_gzip_members_and_trailing_bytes_are_read_as_gzip_reads_them(ztf_rows):
    """One inflate reads the first member: a stamp stored as two members, or with bytes after
    its member, is read as `gzip.decompress` reads it (or refused where it refuses)."""
    import gzip

    fits_bytes = ztf_rows[0]["fits"]["Science"]
    half = len(fits_bytes) // 2880 // 2 * 2880
    two_members = gzip.compress(fits_bytes[:half]) + gzip.compress(fits_bytes[half:])
    assert stamp_from_stored("Science", two_members, gzipped=True).fits_bytes == fits_bytes
    twice = gzip.compress(fits_bytes) * 2  # the last member's size is the first's too
    assert stamp_from_stored("Science", twice, gzipped=True).fits_bytes == fits_bytes * 2
    with pytest.raises(CorruptData, match="not gzip"):
        stamp_from_stored("Science", gzip.compress(fits_bytes) + b"garbage!", gzipped=True)


def test_every_real_stored_ztf_stamp_gunzips_as_gzip_does():
    import gzip

    import pyarrow.parquet as pq
    from support.real_data import ztf_lake_files

    count = 0
    for lake, path in ztf_lake_files():
        table = pq.read_table(lake.resolve(path), columns=["cutoutScience", "cutoutDifference"])
        for column in table.columns:
            for cutout in column.to_pylist():
                stored = cutout["stampData"]
                assert stamp_from_stored("Science", stored, True).fits_bytes == gzip.decompress(
                    stored
                )
                count += 1
    assert count == 2 * 126
