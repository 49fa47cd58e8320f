"""iter_batches on the demo lake: batches in order and of the size asked, one shape for the run,
each stamp equal to astropy's reading of the bytes pyarrow reads from the stored file."""

from __future__ import annotations

import numpy as np
import pytest
from support.exports import KINDS, check_row, stored_alerts

from fink_cutout_jupyter.client import CutoutClient, iter_batches


@pytest.fixture(scope="module")
def alerts(demo):
    return stored_alerts(demo.root)


def _other_shaped(alerts) -> list[int]:
    return [c for c, a in alerts.items() if a["stamps"]["Science"].shape != (63, 63)]


def _square(alerts) -> list[int]:
    return [c for c, a in alerts.items() if a["stamps"]["Science"].shape == (63, 63)]


def test_batches_come_in_order_of_the_size_asked_the_last_shorter(demo, alerts):
    ids = _square(alerts)[:17] + _other_shaped(alerts)[:2] + _square(alerts)[17:23]
    batches = list(iter_batches(demo.root, ids, batch_size=10))
    assert [len(table) for _, table in batches] == [10, 10, 5]
    assert [stamps.shape for stamps, _ in batches] == [(n, 3, 63, 63) for n in (10, 10, 5)]
    stamps = np.concatenate([s for s, _ in batches])
    table = [row for _, t in batches for row in t.to_dict("records")]
    assert [row["id"] for row in table] == [str(i) for i in ids]
    assert [row["alertId"] for row in table] == ids
    for row, planes in zip(table, stamps, strict=True):
        expected = alerts[row["alertId"]]
        assert row["objectId"] == expected["objectId"]
        check_row(dict(zip(KINDS, planes, strict=True)), expected["stamps"], row["status"])
    assert sum("other shape" in row["status"] for row in table) == 2


def test_kinds_in_the_order_asked_and_a_client_over_http(served_demo, alerts):
    ids = _square(alerts)[:5]
    client = CutoutClient(url=served_demo)
    [(stamps, table)] = list(client.iter_batches(ids, 8, kinds=["Difference", "Science"]))
    assert stamps.shape == (5, 2, 63, 63)
    for row, planes in zip(table.to_dict("records"), stamps, strict=True):
        expected = alerts[row["alertId"]]["stamps"]
        assert np.array_equal(planes[0], expected["Difference"], equal_nan=True)
        assert np.array_equal(planes[1], expected["Science"], equal_nan=True)


@pytest.mark.parametrize("container", ["numpy", "pandas", "pyarrow"])
def test_ids_from_numpy_pandas_or_pyarrow_over_http(served_demo, alerts, container):
    """numpy's integers are not JSON: the ids are sent as Python ints whatever holds them."""
    import pandas as pd
    import pyarrow as pa

    ids = _square(alerts)[:4]
    given = {"numpy": np.array(ids), "pandas": pd.Series(ids), "pyarrow": pa.array(ids)}
    [(stamps, table)] = list(CutoutClient(url=served_demo).iter_batches(given[container], 4))
    assert list(table["alertId"]) == ids
    assert np.array_equal(stamps[3, 0], alerts[ids[3]]["stamps"]["Science"], equal_nan=True)


def test_a_batch_of_unknown_ids_only_then_stamps(demo, alerts):
    """A reply without any stamp (the door sends null columns) is rows of NaN, not a failure;
    the run's shape comes from the first batch with stamps."""
    ids = [1, 2, *_square(alerts)[:3]]
    batches = list(iter_batches(CutoutClient(lake=demo.root), ids, batch_size=2))
    assert [s.shape for s, _ in batches] == [(2, 3, 0, 0), (2, 3, 63, 63), (1, 3, 63, 63)]
    assert all(s.startswith("not found") for s in batches[0][1]["status"])


def test_a_stamp_of_the_runs_shape_is_asked_again_when_its_batch_has_another(demo, alerts):
    """A batch whose most common shape is not the run's: the door sends the run's shaped stamps
    as NaN ("other shape"); they are asked for again and come out equal to astropy's."""
    odd, square = _other_shaped(alerts)[0], _square(alerts)[0]
    [(stamps, table)] = list(iter_batches(demo.root, [odd, square], 2, shape=(63, 63)))
    statuses = list(table["status"])
    assert statuses[1] == "ok"
    check_row(dict(zip(KINDS, stamps[1], strict=True)), alerts[square]["stamps"], statuses[1])
    assert statuses[0] == "ok; other shape: Science 63x62, Template 63x62, Difference 63x62"
    assert np.isnan(stamps[0]).all()


def test_a_shape_given_makes_every_other_stamp_nan_and_named(demo, alerts):
    ids = _square(alerts)[:3]
    [(stamps, table)] = list(iter_batches(demo.root, ids, 5, kinds=["Science"], shape=(62, 63)))
    assert stamps.shape == (3, 1, 62, 63)
    assert np.isnan(stamps).all()
    assert list(table["status"]) == ["ok; other shape: Science 63x63"] * 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size: 0"),
        ({"kinds": ["Sky"]}, "kinds: ['Sky']"),
        ({"by": "ra"}, "by: 'ra'"),
    ],
)
def test_bad_arguments_are_named(demo, arguments, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        next(iter_batches(demo.root, [1], **{"batch_size": 4, **arguments}))


def test_statuses_name_stamps_of_any_dimension():
    from fink_cutout_jupyter.client.iteration import joined_status, split_status

    status = "ok; other shape: Science 63x62, Template 1x63x63"
    assert split_status(status) == ("ok", {"Science": (63, 62), "Template": (1, 63, 63)})
    assert joined_status(*split_status(status)) == status
