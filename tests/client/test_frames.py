"""An object's flip-book frames (client/frames.py): every alert's stamps in time order, equal to
astropy's reading of the bytes pyarrow reads from the stored files; a page per batch request,
never one per alert (requests counted through the real transports, HTTP and in-process); stamps
of other shapes fetched through the batch door's FITS and NaN-padded, centred."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow.parquet as pq
import pytest
from support.exports import KINDS, astropy_pixels
from support.servers import served

from fink_cutout_jupyter.client import CutoutClient, CutoutClientError
from fink_cutout_jupyter.client import frames as frames_module
from fink_cutout_jupyter.client.frames import all_frames, object_frames, padded
from fink_cutout_jupyter.demo.rubin import RUBIN_DEMO_OBJECT_ID
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

# The mixed lake's object: 63x63 stamps, and 63x62 ones (cut at a CCD edge), in this time order.
EDGES = (False, True, False, False, True, True, True)
MIXED_OBJECT = "ZTF25mixedsh"


def stored_frames(root, object_id: str) -> list[dict]:
    """The object's alerts as stored, oldest first: candid, jd, stamps by kind (astropy's
    reading of the bytes pyarrow reads)."""
    rows = []
    for path in sorted(root.glob("science/**/*.parquet")):
        columns = ["objectId", "candid", "candidate", *(f"cutout{k}" for k in KINDS)]
        for record in pq.read_table(path, columns=columns).to_pylist():
            if record["objectId"] == object_id:
                stamps = {k: astropy_pixels(record[f"cutout{k}"]["stampData"]) for k in KINDS}
                rows.append(
                    {"candid": record["candid"], "jd": record["candidate"]["jd"], "stamps": stamps}
                )
    return sorted(rows, key=lambda row: row["jd"])


def centred(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`pixels` in a NaN array of `shape`, centred (the odd row or column below and right)."""
    out = np.full(shape, np.nan, np.float32)
    top, left = (shape[0] - pixels.shape[0]) // 2, (shape[1] - pixels.shape[1]) // 2
    out[top : top + pixels.shape[0], left : left + pixels.shape[1]] = pixels
    return out


class Counted:
    """The client's transport with its requests counted: the real ``get`` and ``post`` called."""

    def __init__(self, client: CutoutClient) -> None:
        self.requests: list[tuple[str, str, object]] = []
        transport = client.transport
        get, post = transport.get, transport.post

        def counted_get(route, params):
            self.requests.append(("GET", route, params))
            return get(route, params)

        def counted_post(route, params):
            self.requests.append(("POST", route, params))
            return post(route, params)

        transport.get, transport.post = counted_get, counted_post

    def posts(self) -> list[dict]:
        return [params for method, _, params in self.requests if method == "POST"]


@pytest.fixture(scope="module")
def mixed_lake(tmp_path_factory):
    """A lake of the demo's writer where one object's alerts have stamps of two shapes."""
    from fink_cutout_jupyter.demo.archive import index_demo_lake, night_directory
    from fink_cutout_jupyter.demo.ztf import alert_row, alerts_table, julian_date, sky_objects

    root = tmp_path_factory.mktemp("mixed-shapes") / "lake"
    rng = np.random.default_rng(26)
    others = sky_objects(rng, 5)
    target = {**others[1], "objectId": MIXED_OBJECT}
    nights = tuple(dt.date(2025, 1, 10) + dt.timedelta(days=n) for n in range(3))
    number = 0
    for night_number, night in enumerate(nights):
        start = julian_date(dt.datetime.combine(night, dt.time(4), tzinfo=dt.UTC))
        rows = [alert_row(rng, obj, night, n) for n, obj in enumerate(others * 2)]
        for slot in range(3 if night_number < 2 else 1):
            obj = {**target, "edge": EDGES[number]}
            rows.append(alert_row(rng, obj, night, 100 + slot, jd=start + 0.05 * slot))
            number += 1
        order = rng.permutation(len(rows))
        path = night_directory(root, night) / "part-00000-mixed-c000.snappy.parquet"
        pq.write_table(alerts_table([rows[i] for i in order]), path, row_group_size=1000)
    index_demo_lake(root, nights)
    return root


@pytest.fixture(scope="module")
def mixed_server(mixed_lake):
    with served(str(mixed_lake)) as url:
        yield url


@pytest.fixture(params=["in-process", "HTTP"])
def demo_client(request, demo):
    if request.param == "HTTP":
        return CutoutClient(url=request.getfixturevalue("served_demo"))
    return CutoutClient(lake=str(demo.root))


@pytest.fixture(params=["in-process", "HTTP"])
def mixed_client(request, mixed_lake):
    if request.param == "HTTP":
        return CutoutClient(url=request.getfixturevalue("mixed_server"))
    return CutoutClient(lake=str(mixed_lake))


def test_frames_are_the_stored_stamps_in_time_order_a_page_per_request(demo, demo_client):
    expected = stored_frames(demo.root, DEMO_OBJECT_ID)
    assert len(expected) == 5
    counted = Counted(demo_client)
    pages = object_frames(demo_client, DEMO_OBJECT_ID, page_size=2)
    first = next(pages)
    assert len(counted.requests) == 2, "the first page after the alert list and one batch"
    rest = list(pages)
    assert [len(page) for page in (first, *rest)] == [2, 2, 1]
    assert [(page.offset, page.total) for page in (first, *rest)] == [(0, 5), (2, 5), (4, 5)]
    assert [method for method, *_ in counted.requests] == ["GET", "POST", "POST", "POST"]
    assert all(len(params["candid"]) <= 2 for params in counted.posts())
    frames = [frame for page in (first, *rest) for frame in zip(*_flat(page), strict=True)]
    assert [alert for alert, *_ in frames] == [row["candid"] for row in expected]
    for (_alert, jd, stamps, status), row in zip(frames, expected, strict=True):
        assert jd == row["jd"]
        assert status == "ok"
        for position, kind in enumerate(KINDS):
            np.testing.assert_array_equal(stamps[position], row["stamps"][kind])


def _flat(page):
    return page.alert_ids, page.jd, page.stamps, page.status


def test_all_frames_joins_the_pages_one_kind_at_a_time(demo, demo_client):
    expected = stored_frames(demo.root, DEMO_OBJECT_ID)
    counted = Counted(demo_client)
    frames = all_frames(demo_client, DEMO_OBJECT_ID, kinds=["Difference"], page_size=3)
    assert len(counted.posts()) == 2
    assert frames.kinds == ("Difference",)
    assert frames.stamps.shape == (5, 1, 63, 63)
    assert (frames.offset, frames.total, len(frames)) == (0, 5, 5)
    assert list(frames.table["alertId"]) == frames.alert_ids
    np.testing.assert_array_equal(frames.mjd, [row["jd"] - 2400000.5 for row in expected])
    for plane, row in zip(frames.stamps, expected, strict=True):
        np.testing.assert_array_equal(plane[0], row["stamps"]["Difference"])


def test_stamps_of_another_shape_come_as_fits_and_are_padded_centred(mixed_lake, mixed_client):
    expected = stored_frames(mixed_lake, MIXED_OBJECT)
    assert [row["stamps"]["Science"].shape == (63, 62) for row in expected] == list(EDGES)
    counted = Counted(mixed_client)
    pages = list(object_frames(mixed_client, MIXED_OBJECT, page_size=4))
    # page 1: 63x63 mostly, its one 63x62 row asked again as FITS; page 2: all 63x62
    posts = counted.posts()
    assert [params["return_type"] for params in posts] == ["arrow", "FITS", "arrow"]
    assert posts[1]["candid"] == [expected[1]["candid"]]
    assert [page.stamps.shape for page in pages] == [(4, 3, 63, 63), (3, 3, 63, 62)]
    assert pages[0].status[1] == "ok; padded from Science 63x62, Template 63x62, Difference 63x62"
    assert pages[1].status == ["ok"] * 3

    frames = all_frames(mixed_client, MIXED_OBJECT, page_size=4)
    assert frames.stamps.shape == (7, 3, 63, 63)
    assert frames.alert_ids == [row["candid"] for row in expected]
    for row, (planes, status, wanted) in enumerate(
        zip(frames.stamps, frames.status, expected, strict=True)
    ):
        for position, kind in enumerate(KINDS):
            np.testing.assert_array_equal(
                planes[position], centred(wanted["stamps"][kind], (63, 63)), err_msg=kind
            )
        assert ("padded from Science 63x62" in status) == EDGES[row], status
        assert np.isnan(planes[:, :, 62]).all() == EDGES[row]


def test_a_rubin_objects_frames_are_its_3_hdu_stamps(rubin_demo):
    client = CutoutClient(lake=str(rubin_demo.root))
    counted = Counted(client)
    frames = all_frames(client, RUBIN_DEMO_OBJECT_ID, page_size=2)
    stored = {}
    for path in sorted(rubin_demo.root.glob("science/**/*.parquet")):
        table = pq.read_table(path, columns=["diaSourceId", "diaSource", *_rubin_cutouts()])
        for record in table.to_pylist():
            if record["diaSource"]["diaObjectId"] == RUBIN_DEMO_OBJECT_ID:
                stored[record["diaSourceId"]] = record
    by_time = sorted(stored.values(), key=lambda record: record["diaSource"]["midpointMjdTai"])
    assert frames.alert_ids == [record["diaSourceId"] for record in by_time]
    assert len(counted.posts()) == -(-len(by_time) // 2)
    np.testing.assert_allclose(
        frames.mjd, [r["diaSource"]["midpointMjdTai"] for r in by_time], rtol=0, atol=1e-9
    )
    for planes, record in zip(frames.stamps, by_time, strict=True):
        for position, kind in enumerate(KINDS):
            np.testing.assert_array_equal(planes[position], astropy_pixels(record[f"cutout{kind}"]))


def test_a_solar_system_objects_frames_are_its_alerts_in_time_order(rubin_demo):
    from fink_cutout_jupyter.demo.rubin import RUBIN_DEMO_SS_OBJECT_ID

    client = CutoutClient(lake=str(rubin_demo.root))
    frames = all_frames(client, ss_object_id=RUBIN_DEMO_SS_OBJECT_ID, kinds=["Science"])
    stored = []
    for path in sorted(rubin_demo.root.glob("science/**/*.parquet")):
        columns = ["diaSourceId", "diaSource", "ssSource", "cutoutScience"]
        for record in pq.read_table(path, columns=columns).to_pylist():
            if (record["ssSource"] or {}).get("ssObjectId") == RUBIN_DEMO_SS_OBJECT_ID:
                stored.append(record)
    stored.sort(key=lambda record: record["diaSource"]["midpointMjdTai"])
    assert len(stored) > 1
    assert frames.alert_ids == [record["diaSourceId"] for record in stored]
    for planes, record in zip(frames.stamps, stored, strict=True):
        np.testing.assert_array_equal(planes[0], astropy_pixels(record["cutoutScience"]))


def _rubin_cutouts() -> list[str]:
    return [f"cutout{kind}" for kind in KINDS]


def test_bad_input_is_a_clear_error(demo):
    client = CutoutClient(lake=str(demo.root))
    with pytest.raises(CutoutClientError, match="no alert of ZTF24aaaaaaa") as caught:
        next(object_frames(client, "ZTF24aaaaaaa"))
    assert caught.value.status == 404
    with pytest.raises(CutoutClientError, match="objectId: missing") as caught:
        next(object_frames(client))
    assert caught.value.status == 400
    with pytest.raises(ValueError, match="page_size: 0"):
        next(object_frames(client, DEMO_OBJECT_ID, page_size=0))
    with pytest.raises(ValueError, match="allowed: some of Science"):
        next(object_frames(client, DEMO_OBJECT_ID, kinds=["Sky"]))


def test_padded_centres_and_refuses_a_smaller_shape():
    stamps = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    out = padded(stamps, (4, 4))
    assert out.shape == (1, 4, 4)
    np.testing.assert_array_equal(out[0, 1:3, 0:3], stamps[0])
    assert np.isnan(out[0, [0, 3]]).all()
    assert np.isnan(out[0, :, 3]).all()
    assert padded(stamps, (2, 3)) is stamps
    with pytest.raises(ValueError, match="do not fit"):
        padded(stamps, (1, 3))


def test_the_first_page_is_short_the_next_ones_of_the_page_size(demo, monkeypatch):
    client = CutoutClient(lake=str(demo.root))
    counted = Counted(client)
    told = []
    pages = list(
        object_frames(
            client,
            DEMO_OBJECT_ID,
            page_size=3,
            first_page_size=1,
            progress=lambda done, total: told.append((done, total)),
        )
    )
    assert told == [(1, 5), (4, 5), (5, 5)]
    assert [(page.offset, len(page)) for page in pages] == [(0, 1), (1, 3), (4, 1)]
    assert [len(params["candid"]) for params in counted.posts()] == [1, 3, 1]
    with pytest.raises(ValueError, match="first_page_size: 0"):
        next(object_frames(client, DEMO_OBJECT_ID, first_page_size=0))
    monkeypatch.setattr(frames_module, "FIRST_PAGE_SIZE", 2)
    default = [len(page) for page in object_frames(client, DEMO_OBJECT_ID, progress=False)]
    assert default == [2, 3]  # min(page_size, FIRST_PAGE_SIZE), then page_size (100)
    assert len(all_frames(client, DEMO_OBJECT_ID, progress=False)) == 5
    assert [len(params["candid"]) for params in counted.posts()[-3:]] == [2, 3, 5]
