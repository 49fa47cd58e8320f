"""The batch door's core: every id answered in order, stamps proven to be the alert's, each data
page read once; checked against pyarrow and astropy on the stored bytes."""

import io
import json
import random

import numpy as np
import pytest
from astropy.io import fits
from support.rewrites import stored_stamps, swap_rows

from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.contract.batch import (
    MAX_BATCH_IDS,
    Batches,
    BatchRequest,
    is_batch,
    parse_batch_request,
)
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.surveys import KINDS


def pixels_of(fits_bytes: bytes) -> np.ndarray:
    with fits.open(io.BytesIO(fits_bytes), ignore_missing_simple=True) as hdul:
        return hdul[0].data.astype(np.float32)


@pytest.fixture
def demo_batches(demo):
    api = CutoutAPI(str(demo.root))
    return Batches(api.index, api.reader), demo


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
    batches = Batches(lake.index, CutoutReader(lake.lake))
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


def write_in_place(file, offset: int, data: bytes) -> None:
    """Overwrite the file's bytes at `offset` with `data`, keeping its size and mtime."""
    import os

    before = file.stat()
    with open(file, "r+b") as stream:
        stream.seek(offset)
        stream.write(data)
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))


# A Thrift struct of one field (type 0: a data page) whose other fields are missing, and noise.
GARBAGE = [b"\x15\x00\x00", *(random.Random(seed).randbytes(64) for seed in (1, 2, 3))]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_pages_at_the_same_size_and_mtime_answer_corrupt_per_row(rewritable_lake, garbage):
    """The Science page's header overwritten in place: its rows say corrupt and name the file,
    the other kinds of the same alerts still answer (checked against pyarrow), as does the API
    in every format."""
    lake = rewritable_lake
    ids = lake.table.column("candid").to_pylist()[:6]
    expected = {candid: stored_stamps(lake.file, candid) for candid in ids}
    location = lake.index.alert(ids[0])
    write_in_place(lake.file, location.page_spans["Science"][0].offset, garbage)
    batches = Batches(lake.index, CutoutReader(lake.lake))
    science = batches.read(BatchRequest((*ids, 42), False, ("Science",), "arrow"))
    for item in science[:-1]:
        assert item.status.startswith(f"corrupt: hdfsPath: {lake.path} does not decode"), item
        assert not item.stamps
    assert science[-1].status.startswith("not found")
    others = batches.read(BatchRequest(tuple(ids), False, ("Template", "Difference"), "arrow"))
    for item in others:
        assert item.status == "ok"
        for kind in ("Template", "Difference"):
            assert item.stamps[kind].fits_bytes == expected[item.requested][kind]
    api = CutoutAPI(lake.lake)
    for fmt in ("arrow", "array", "FITS"):
        reply = api.handle("cutouts", {"candid": ids, "return_type": fmt}, body=True)
        assert reply.status == 200, reply.body[:300]


def test_a_file_deleted_after_indexing_answers_not_found_for_its_rows_only(tmp_path):
    """Two indexed files; one deleted: its alerts' rows say so, the other file's answer."""
    import pyarrow.compute as pc
    from support.rewrites import real_alerts, write_fixed_layout

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    night = tmp_path / "science/year=2021/month=11/day=21"
    night.mkdir(parents=True)
    kept = real_alerts().slice(0, 5)
    gone = kept.set_column(1, "candid", pc.add(kept.column("candid"), 1))
    write_fixed_layout(kept, night / "part-00000-kept.parquet")
    write_fixed_layout(gone, night / "part-00001-gone.parquet")
    lake = Lake(tmp_path)
    build(AlertIndex(lake), lake.nights(), progress=False)
    (night / "part-00001-gone.parquet").unlink()
    kept_ids, gone_ids = kept["candid"].to_pylist(), gone["candid"].to_pylist()
    ids = [candid for pair in zip(kept_ids, gone_ids, strict=True) for candid in pair]
    api = CutoutAPI(lake)
    items = api.batches.read(BatchRequest(tuple(ids), False, KINDS, "arrow"))
    for item, candid in zip(items, ids, strict=True):
        if candid in kept_ids:
            assert item.status == "ok"
            stored = stored_stamps(night / "part-00000-kept.parquet", candid)
            assert {kind: s.fits_bytes for kind, s in item.stamps.items()} == stored
        else:
            assert item.status == (
                "not found: hdfsPath: no file "
                "'science/year=2021/month=11/day=21/part-00001-gone.parquet' in the lake"
            )
    for fmt in ("arrow", "array", "FITS"):
        reply = api.handle("cutouts", {"candid": ids, "return_type": fmt}, body=True)
        assert reply.status == 200, reply.body[:300]


def test_a_mixed_batch_of_ztf_and_rubin_ids_names_the_first_of_the_other_survey(
    demo, rubin_lake, rubin_records, tmp_path
):
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    rubin_id = next(r["diaObject"]["diaObjectId"] for r in rubin_records if r["diaObject"])
    ztf = CutoutAPI(str(demo.root))
    build(AlertIndex(rubin_lake, str(tmp_path)), rubin_lake.nights(), progress=False)
    rubin = CutoutAPI(rubin_lake, str(tmp_path))
    for api, name, ids, position in (
        (ztf, "objectId", ["ZTF24abssjsb", "ZTF24abssjsb", rubin_id, "ZTF99"], 2),
        (ztf, "diaObjectId", ["ZTF24abssjsb", str(rubin_id)], 1),
        (rubin, "diaObjectId", [rubin_id, "ZTF24abssjsb", "x"], 1),
        (rubin, "objectId", [str(rubin_id), rubin_id, "ZTF24abssjsb"], 2),
    ):
        for fmt in ("arrow", "array", "FITS"):
            reply = api.handle("cutouts", {name: ids, "return_type": fmt}, body=True)
            assert reply.status == 400, reply.body[:300]
            text = json.loads(reply.body)["text"]
            assert text.startswith(f"{name}[{position}]: {ids[position]!r}"), text
    assert rubin.handle("cutouts", {"diaObjectId": [rubin_id]}, body=True).status == 200


# The most ids one request may ask for with all three stamps, as docs/reference/http.md states
# them (from the 256 MB one answer may hold and the memory measured per stamp); with one stamp,
# 2,000.
DOCUMENTED_MOST = {"arrow": 1091, "array": 688, "FITS": 813}
DOCUMENTED_SENTENCE = (
    "at most **1,091 ids in Arrow, 688 in JSON, 813 in FITS** (2,000 with one stamp); more is a "
    "413 that names the allowed count"
)


def test_the_http_reference_states_the_documented_batch_limits():
    from pathlib import Path

    page = Path(__file__).parents[2] / "docs" / "reference" / "http.md"
    assert DOCUMENTED_SENTENCE in " ".join(page.read_text(encoding="utf-8").split())


@pytest.mark.parametrize("fmt", ["arrow", "array", "FITS"])
def test_a_batch_too_large_for_the_servers_memory_is_413_naming_the_allowed_count(demo, fmt):
    api = CutoutAPI(str(demo.root))
    candid = demo_alerts(demo)[0][0]
    most = DOCUMENTED_MOST[fmt]
    ids = [candid] * (most + 1)
    refused = api.handle("cutouts", {"candid": ids, "return_type": fmt}, body=True)
    assert refused.status == 413
    text = json.loads(refused.body)["text"]
    assert text.startswith(f"candid: {most + 1} ids of 3 kind(s) in {fmt}, at most {most} per")
    for params in ({"kind": "All", "candid": [candid] * most}, {"kind": "Science"}):
        params.setdefault("candid", [candid] * 2000)
        reply = api.handle("cutouts", {**params, "return_type": fmt}, body=True)
        assert reply.status == 200, reply.body[:300]


def test_batches_beyond_the_memory_budget_are_503_with_retry_after(demo):
    """A budget held by batches in flight (held here): the next batch waits, then is refused."""
    from fink_cutout_jupyter.contract.batch_memory import MemoryBudget, batch_bytes

    api = CutoutAPI(str(demo.root))
    api.batches.budget = budget = MemoryBudget(wait=0.05)
    candid = demo_alerts(demo)[0][0]
    params = {"candid": [candid] * 10, "kind": "Science"}
    needed = batch_bytes(parse_batch_request(params))
    with budget.reserve(budget.limit - needed + 1):
        busy = api.handle("cutouts", params, body=True)
    assert busy.status == 503
    assert busy.headers["Retry-After"] == "2"
    assert "try again in 2 s" in json.loads(busy.body)["text"]
    with budget.reserve(budget.limit - needed):
        assert api.handle("cutouts", params, body=True).status == 200
    assert budget.held == 0


def test_the_largest_batch_stays_within_its_memory_through_a_real_server(demo):
    """`fink-cutouts serve` answers the largest Arrow batch it takes (all three stamps): its
    resident memory rises at most 300 MB, and is back within 150 MB of where it was."""
    import threading
    import time
    import urllib.request

    import psutil
    from support.servers import free_port, start_service, wait_for_http

    from fink_cutout_jupyter.contract import batch

    most = getattr(batch, "max_batch_ids", lambda *_: batch.MAX_BATCH_IDS)("arrow", 3)
    ids = [candid for candid, _ in demo_alerts(demo)]
    body = json.dumps({"candid": (ids * 10)[:most]}).encode()
    port = free_port()
    process = start_service(str(demo.root), port)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/"
        wait_for_http(f"{url}openapi.json")
        server = psutil.Process(process.pid)

        def post(data: bytes) -> bytes:
            request = urllib.request.Request(f"{url}cutouts", data, method="POST")
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.read()

        post(json.dumps({"candid": ids[:20]}).encode())  # warm: imports and decoders loaded
        before = server.memory_info().rss
        peak, done = before, threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.01):
                peak = max(peak, server.memory_info().rss)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            answer = post(body)
        finally:
            done.set()
            sampler.join()
        assert len(answer) > most * 3 * 63 * 63 * 4 * 0.9
        time.sleep(1)
        after = server.memory_info().rss
        assert peak - before <= 300 * 2**20, f"{(peak - before) / 2**20:.0f} MB above"
        assert after - before <= 150 * 2**20, f"{(after - before) / 2**20:.0f} MB kept"
    finally:
        process.terminate()
        process.wait(timeout=30)
