"""The batch door's core: every id answered in order, stamps proven to be the alert's, each data
page read once; checked against pyarrow and astropy on the stored bytes."""

import io
import random

import numpy as np
import pytest
from astropy.io import fits
from rewrites import stored_stamps, swap_rows

from fink_cutout_jupyter.api import CutoutAPI
from fink_cutout_jupyter.batch import (
    MAX_BATCH_IDS,
    BatchReader,
    BatchRequest,
    is_batch,
    parse_batch_request,
)
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.reader import CutoutReader
from fink_cutout_jupyter.surveys import KINDS


def pixels_of(fits_bytes: bytes) -> np.ndarray:
    with fits.open(io.BytesIO(fits_bytes), ignore_missing_simple=True) as hdul:
        return hdul[0].data.astype(np.float32)


@pytest.fixture
def demo_batches(demo):
    api = CutoutAPI(str(demo.root))
    return BatchReader(api.index, api.reader), demo


def demo_alerts(demo) -> list[tuple[int, str]]:
    """(alert id, file) of every alert of the demo lake, read with pyarrow."""
    import pyarrow.parquet as pq

    found = []
    for path in demo.files:
        ids = pq.read_table(demo.root / path, columns=["candid"]).column(0).to_pylist()
        found += [(candid, path) for candid in ids]
    return found


def test_every_alert_in_random_order_is_answered_in_order_with_its_own_stamps(demo_batches):
    batches, demo = demo_batches
    alerts = demo_alerts(demo)
    random.Random(7).shuffle(alerts)
    chosen = alerts[:400]
    items = batches.read(BatchRequest(tuple(c for c, _ in chosen), False, KINDS, "arrow"))
    assert [item.requested for item in items] == [candid for candid, _ in chosen]
    for item, (candid, path) in zip(items, chosen, strict=True):
        assert item.status == "ok"
        assert item.location.alert_id == candid
        stored = stored_stamps(demo.root / path, candid)
        for kind in KINDS:
            assert item.stamps[kind].fits_bytes == stored[kind]


def test_each_page_is_read_once_whatever_the_order(demo_batches):
    batches, demo = demo_batches
    alerts = [candid for candid, _ in demo_alerts(demo)][:300]
    locations = [batches.index.alert(candid) for candid in alerts]
    distinct = {
        (location.path, location.page_spans[name][0].offset)
        for location in locations
        for name in ("alertId", "Difference")
    }
    for order in (alerts, alerts[::-1], random.Random(1).sample(alerts, len(alerts))):
        before = batches.pages_read
        items = batches.read(BatchRequest(tuple(order), False, ("Difference",), "arrow"))
        assert all(item.status == "ok" for item in items)
        assert batches.pages_read - before == len(distinct)
    assert len(distinct) < len(alerts) / 5, "pages hold many alerts' stamps"


def test_unknown_and_repeated_ids_are_answered_per_id(demo_batches):
    batches, demo = demo_batches
    candid = demo_alerts(demo)[0][0]
    request = BatchRequest((candid, 42, candid), False, ("Science",), "array")
    items = batches.read(request)
    assert [item.status for item in items] == [
        "ok",
        "not found: candid: no alert 42 in the lake's alert index",
        "ok",
    ]
    assert items[0].stamps["Science"].fits_bytes == items[2].stamps["Science"].fits_bytes
    objects = batches.read(BatchRequest(("ZTF24abssjsb", "ZTF99zzzzzzz"), True, KINDS, "arrow"))
    latest = batches.index.alerts("ZTF24abssjsb")[-1].alert_id
    assert objects[0].location.alert_id == latest, "an object id gives its latest alert"
    assert objects[1].status.startswith("not found")


def test_a_file_rewritten_since_indexing_still_gives_each_alert_its_own_stamps(rewritable_lake):
    """Two rows swap places at the same size and mtime: the page reads find another alert in
    the indexed rows, and those alerts are read by scanning the file instead."""
    lake = rewritable_lake
    ids = lake.table.column("candid").to_pylist()
    lake.rewrite(swap_rows(lake.table, 0, 1), keep_mtime=True)
    batches = BatchReader(lake.index, CutoutReader(lake.lake))
    items = batches.read(BatchRequest(tuple(ids[:4]), False, KINDS, "arrow"))
    for item, candid in zip(items, ids[:4], strict=True):
        assert item.status == "ok"
        stored = stored_stamps(lake.file, candid)
        for kind in KINDS:
            assert item.stamps[kind].fits_bytes == stored[kind], (candid, kind)
    assert batches.reader.stale_reads >= 2


@pytest.mark.parametrize(
    ("params", "error", "text"),
    [
        ({"candid": []}, BadParameter, "non-empty list"),
        ({"candid": [1], "objectId": ["ZTF24abssjsb"]}, BadParameter, "one list of ids"),
        ({"candid": [1, "x"]}, BadParameter, "candid[1]"),
        ({"candid": [True]}, BadParameter, "candid[0]"),
        ({"candid": [1], "kind": "Sky"}, BadParameter, "allowed: Science"),
        ({"candid": [1], "return_type": "PNG"}, BadParameter, "allowed: arrow, array, FITS"),
        ({"candid": [1], "hdfsPath": "x"}, BadParameter, "not a batch parameter"),
        ({"candid": list(range(MAX_BATCH_IDS + 1))}, BadParameter, f"at most {MAX_BATCH_IDS}"),
    ],
)
def test_bad_batches_are_refused_with_the_parameter_named(params, error, text):
    assert is_batch(params)
    with pytest.raises(error, match=text.replace("[", r"\[").replace("]", r"\]")):
        parse_batch_request(params)


def test_the_request_keeps_the_ids_kind_and_format():
    request = parse_batch_request({"diaSourceId": ["123", 4], "kind": "Template"})
    assert request == BatchRequest((123, 4), False, ("Template",), "arrow")
    assert not is_batch({"candid": 123})
    objects = parse_batch_request({"objectId": ["ZTF24abssjsb"], "return_type": "fits"})
    assert (objects.by_object, objects.fmt, objects.kinds) == (True, "FITS", KINDS)
