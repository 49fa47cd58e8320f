"""A batch's answer in Arrow IPC, JSON and FITS, read back with pyarrow, orjson and astropy."""

import io
import json

import numpy as np
import pyarrow as pa
import pytest
from astropy.io import fits

from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.contract.batch import Batches, BatchRequest
from fink_cutout_jupyter.contract.batch_formats import encode_batch, stack
from fink_cutout_jupyter.surveys import KINDS


@pytest.fixture(scope="module")
def answered(demo):
    """Demo alerts including stamps of another shape (63x62 at a CCD edge), and unknown ids."""
    import pyarrow.parquet as pq

    api = CutoutAPI(str(demo.root))
    ids = []
    for path in demo.files:
        ids += pq.read_table(demo.root / path, columns=["candid"]).column(0).to_pylist()
    request = BatchRequest((*ids[:120], 7), False, KINDS, "arrow")
    return Batches(api.index, api.reader).read(request), request


def fits_pixels(stamp) -> np.ndarray:
    with fits.open(io.BytesIO(stamp.fits_bytes), ignore_missing_simple=True) as hdul:
        return hdul[0].data.astype(np.float32)


def test_arrow_gives_fixed_shape_tensors_and_a_row_per_id(answered):
    items, request = answered
    body = encode_batch(items, request)
    assert body.media_type == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(body.body).read_all()
    assert table.column("id").to_pylist() == [str(item.requested) for item in items]
    assert table.schema.metadata[b"shape"] == b"63x63"
    science = table.column("Science").combine_chunks().to_numpy_ndarray()
    assert science.shape == (len(items), 63, 63)
    assert science.dtype == np.float32
    statuses = table.column("status").to_pylist()
    other = [i for i, status in enumerate(statuses) if "other shape" in status]
    assert other, "the demo has edge stamps"
    for row, item in enumerate(items):
        if statuses[row] == "ok":
            np.testing.assert_array_equal(science[row], fits_pixels(item.stamps["Science"]))
        else:
            assert np.isnan(science[row]).all()
    assert statuses[-1].startswith("not found")
    assert table.column("alertId").to_pylist()[-1] is None


def test_json_has_the_same_rows_with_null_for_nan(answered):
    items, request = answered
    body = encode_batch(items, BatchRequest(request.ids, False, ("Difference",), "array"))
    document = json.loads(body.body)
    assert document["kinds"] == ["Difference"]
    assert document["shape"] == [63, 63]
    first = document["alerts"][0]
    expected = fits_pixels(items[0].stamps["Difference"])  # float32: its shortest text
    np.testing.assert_array_equal(np.array(first["stamps"][0], dtype=np.float32), expected)
    assert document["alerts"][-1]["stamps"] is None


def test_fits_keeps_every_stamp_as_it_is(answered):
    items, request = answered
    body = encode_batch(items, BatchRequest(request.ids, False, KINDS, "FITS"))
    with fits.open(io.BytesIO(body.body)) as hdul:
        table = hdul["ALERTS"].data
        assert len(table) == len(items)
        assert table["STATUS"][-1].startswith("not found")
        found = [item for item in items if item.stamps]
        assert len(hdul) == 2 + 3 * len(found)
        for row, item in enumerate(items[:5]):
            image = hdul["SCIENCE", row + 1]
            assert image.header["ALERTID"] == item.location.alert_id
            np.testing.assert_array_equal(image.data, fits_pixels(item.stamps["Science"]))


def test_stack_policy_keeps_only_the_common_shape(answered):
    items, _ = answered
    stamps, statuses = stack(items, ["Template"])
    assert stamps.shape == (len(items), 1, 63, 63)
    edge = next(i for i, status in enumerate(statuses) if "other shape" in status)
    assert "Template 63x62" in statuses[edge]
    assert np.isnan(stamps[edge]).all()


@pytest.fixture(scope="module")
def nonfinite(tmp_path_factory):
    from support.nonfinite import nonfinite_api

    return nonfinite_api(tmp_path_factory.mktemp("nonfinite-lake"))


@pytest.mark.parametrize("fmt", ["arrow", "array", "FITS"])
def test_a_batch_of_alerts_with_nan_or_infinity_answers_null_in_every_format(nonfinite, fmt):
    """Alerts with a NaN or infinite time, magnitude, error or position (read with pyarrow):
    the batch answers, those numbers null, and the rows without a time say so."""
    import pyarrow.parquet as pq
    from support.nonfinite import CANDIDATES, finite_or_none, strict_json

    api, file = nonfinite
    stored = pq.read_table(file, columns=["candid", "candidate"]).to_pylist()
    rows = [stored[row] for row in CANDIDATES]
    ids = [row["candid"] for row in rows]
    reply = api.handle("cutouts", {"candid": ids, "return_type": fmt}, body=True)
    assert reply.status == 200, reply.body[:300]
    if fmt == "FITS":
        with fits.open(io.BytesIO(reply.body)) as hdul:
            table = [dict(zip(("id", "status"), r[:2], strict=True)) for r in hdul["ALERTS"].data]
    elif fmt == "array":
        table = strict_json(reply.body)["alerts"]
    else:
        table = pa.ipc.open_stream(reply.body).read_all().drop_columns(list(KINDS)).to_pylist()
    names = {"jd": "jd", "magnitude": "magpsf", "magnitude_error": "sigmapsf"}
    names |= {"ra": "ra", "dec": "dec"}
    for answered, row in zip(table, rows, strict=True):
        assert answered["id"] == str(row["candid"])
        assert answered["status"].startswith("ok")
        timeless = finite_or_none(row["candidate"]["jd"]) is None
        assert ("no finite time" in answered["status"]) == timeless
        if fmt == "FITS":
            continue
        for name, column in names.items():
            assert answered[name] == finite_or_none(row["candidate"][column]), name
        assert (answered["date"] is None) == timeless


def _stamp_with(cards: list[str], data: bytes, kind: str = "Science"):
    from fink_cutout_jupyter.cutouts.stamps import Stamp

    header = b"".join(text.ljust(80).encode() for text in [*cards, "END"]).ljust(2880, b" ")
    return Stamp(kind, header + data.ljust(-(-len(data) // 2880) * 2880, b"\0"))


CARDS = ["SIMPLE  =                    T", "NAXIS   =                    2"]
CUBE = [("BITPIX", -32), ("NAXIS", 3), ("NAXIS1", 63), ("NAXIS2", 63), ("NAXIS3", 1)]


@pytest.mark.parametrize("fmt", ["arrow", "array", "FITS"])
def test_a_stamp_whose_data_does_not_decode_fails_its_row_only(answered, fmt):
    """A whole FITS file whose BITPIX no reader knows: that row says corrupt, naming the alert,
    the kind and the file, and has no stamps; the other rows answer (200), in every format."""
    import copy

    items, request = answered
    items = copy.deepcopy(items[:4])
    bad = _stamp_with(
        [CARDS[0], "BITPIX  =   12", *CARDS[1:], "NAXIS1  =   63", "NAXIS2  =   63"],
        bytes(63 * 63 * 2),
        "Template",
    )
    items[1].stamps["Template"] = bad
    body = encode_batch(items, BatchRequest(request.ids[:4], False, KINDS, fmt))
    location = items[1].located
    assert items[1].status.startswith(
        f"corrupt: the Template stamp of alert {location.alert_id} in {location.path} "
        "does not decode"
    )
    assert not items[1].stamps
    assert [item.status for item in items[::2]] == ["ok", "ok"]
    if fmt == "arrow":
        table = pa.ipc.open_stream(body.body).read_all()
        assert table.column("status").to_pylist()[1].startswith("corrupt: the Template stamp")
        science = table.column("Science").combine_chunks().to_numpy_ndarray()
        assert np.isnan(science[1]).all()
        np.testing.assert_array_equal(science[0], fits_pixels(items[0].stamps["Science"]))


def test_three_dimensional_stamps_are_of_another_shape(answered):
    """A 1x63x63 image (astropy reads it) is not the batch's 2-D shape: NaN, named in full."""
    import copy

    items, _ = answered
    items = copy.deepcopy(items[:3])
    cube = _stamp_with(
        [CARDS[0], *(f"{key:8}= {value:>20}" for key, value in CUBE)],
        np.ones((1, 63, 63), ">f4").tobytes(),
    )
    for item in items:
        item.stamps["Science"] = cube
    stamps, statuses = stack(items, KINDS)
    assert stamps.shape == (3, 3, 63, 63)
    assert np.isnan(stamps[:, 0]).all()
    assert statuses[0] == "ok; other shape: Science 1x63x63"
    np.testing.assert_array_equal(stamps[0, 1], fits_pixels(items[0].stamps["Template"]))
