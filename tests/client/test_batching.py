"""Many alerts at once (client/batching.py): one array and a table, requests of bounded size,
asked again while a busy server names a pause, never past the timeout."""

import threading
import time

import numpy as np
import pytest
from support.misbehaving import misbehaving_servers

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID


@pytest.fixture
def both(demo, served_demo):
    return CutoutClient(url=served_demo), CutoutClient(lake=str(demo.root))


def test_batch_gives_one_array_and_a_table_over_http_and_in_process(both, demo):
    import pyarrow.parquet as pq

    ids = []
    for path in demo.files[:2]:
        ids += pq.read_table(demo.root / path, columns=["candid"]).column(0).to_pylist()
    ids = [*ids[::-1], 3]
    http, local = both
    stamps, table = http.batch(ids, kinds=["Difference", "Science"])
    assert stamps.shape == (len(ids), 2, 63, 63)
    assert stamps.dtype == np.float32
    assert list(table["id"]) == [str(i) for i in ids]
    assert table["alertId"].dtype == "Int64"
    assert table["status"].iloc[-1].startswith("not found")
    assert np.isnan(stamps[-1]).all()
    for row in np.flatnonzero(table["status"] == "ok")[:20]:
        expected = local.array(candid=ids[row], kind="Difference")
        np.testing.assert_array_equal(stamps[row, 0], expected.astype(np.float32))
    same, same_table = local.batch(ids, kinds=["Difference", "Science"])
    np.testing.assert_array_equal(same, stamps)
    assert same_table.equals(table)


def test_batch_splits_long_lists_into_requests(both, monkeypatch, demo):
    import fink_cutout_jupyter.contract.batch as batch

    monkeypatch.setattr(batch, "MAX_BATCH_IDS", 7)
    _, local = both
    ids = [local.alerts(DEMO_OBJECT_ID)[0]["alertId"]] * 20
    stamps, table = local.batch(ids, kinds=["Template"], progress=False)
    assert stamps.shape == (20, 1, 63, 63)
    assert (table["status"] == "ok").all()
    with pytest.raises(ValueError, match="allowed: some of Science"):
        local.batch(ids, kinds=["Sky"])


def test_batch_asks_again_when_the_server_says_it_is_busy(demo):
    """A batch refused 503 + Retry-After (other batches hold the server's memory budget) is
    asked again after the pause the server names, and answered once the budget is free."""
    from fink_cutout_jupyter.contract.batch import MemoryBudget

    client = CutoutClient(lake=str(demo.root))
    api = client.transport.api
    api.batches.budget = budget = MemoryBudget(wait=0.01)
    ids = [client.alerts(DEMO_OBJECT_ID)[0]["alertId"]] * 3
    refused = []
    held = threading.Event()

    def hold_the_budget_for_a_while():
        with budget.reserve(budget.limit):
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold_the_budget_for_a_while)
    holder.start()
    held.wait(5)
    post = client.transport.post

    def counted_post(route, params):
        answer = post(route, params)
        refused.append(answer.status == 503)
        return answer

    client.transport.post = counted_post
    stamps, table = client.batch(ids, kinds=["Science"], progress=False)
    holder.join()
    assert refused[0], refused
    assert refused[-1] is False, refused
    assert (table["status"] == "ok").all()
    assert stamps.shape == (3, 1, 63, 63)


@pytest.fixture(scope="module")
def misbehaving():
    with misbehaving_servers() as servers:
        yield servers


@pytest.mark.parametrize("retry_after", ["nan", "-5", "inf", "soon"])
def test_a_busy_servers_odd_retry_after_is_a_clear_503(misbehaving, retry_after):
    """``Retry-After: nan`` or ``-5`` made time.sleep raise ValueError: now no pause (nan, not
    a number) or none below 0, and the server's 503 in the end."""
    here, _ = misbehaving
    here.retry_after = retry_after
    client = CutoutClient(url=f"{here.url}busy/", timeout=5)
    start = time.monotonic()
    with pytest.raises(CutoutClientError, match="busy: try again") as caught:
        client.batch([1, 2], progress=False)
    assert caught.value.status == 503
    assert time.monotonic() - start < 8


def test_busy_retries_never_pause_past_the_timeout(misbehaving):
    """Retry-After 10 s with timeout=3: the old client slept 5 x 10 s; now one pause of 1 s
    fits, the next would not (the deadline counts from the first request)."""
    here, _ = misbehaving
    here.retry_after = "10"
    client = CutoutClient(url=f"{here.url}busy/", timeout=3)
    start = time.monotonic()
    with pytest.raises(CutoutClientError, match="busy: try again"):
        client.batch([1, 2], progress=False)
    assert time.monotonic() - start < 2.5, "no pause of 10 s within a 3 s timeout"
    here.retry_after = "1"
    asked = len(here.seen)
    start = time.monotonic()
    with pytest.raises(CutoutClientError, match="busy: try again"):
        client.batch([1, 2], progress=False)
    elapsed = time.monotonic() - start
    assert 2 <= len(here.seen) - asked <= 3, "pauses of 1 s while within 3 s, not 5 of them"
    assert 1 <= elapsed < 8


def test_a_request_of_ids_none_found_gives_nan_rows_beside_the_others(both, demo, monkeypatch):
    """A reply without stamps (its stamp columns all null, no shape) is NaN rows, not a refused
    answer, whether it comes first or after requests with stamps."""
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.contract import batch

    monkeypatch.setattr(batch, "MAX_BATCH_IDS", 2)
    found = pq.read_table(demo.root / demo.files[0], columns=["candid"]).column(0).to_pylist()[:2]
    for ids in ([1, 2, *found], [*found, 1, 2]):
        for client in both:
            stamps, table = client.batch(ids, progress=False)
            assert stamps.shape == (4, 3, 63, 63)
            missing = [row for row, i in enumerate(ids) if i in (1, 2)]
            assert all(table["status"][row].startswith("not found") for row in missing)
            assert np.isnan(stamps[missing]).all()
            for row in sorted(set(range(4)) - set(missing)):
                expected = client.array(candid=ids[row], kind="Science")
                np.testing.assert_array_equal(stamps[row, 0], expected.astype(np.float32))
