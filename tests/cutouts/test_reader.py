"""`CutoutReader`: its arguments checked, the page path of one alert or many, files rewritten
since they were indexed, a file's identity."""

import pytest

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import BadParameter, NotFound, OutsideLake
from fink_cutout_jupyter.surveys import KINDS


def test_bad_requests_say_what_is_wrong(ztf_lake):
    reader = CutoutReader(ztf_lake)
    path = ztf_lake.night_files("19881103")[0]
    with pytest.raises(BadParameter, match="objectId: give an object id"):
        reader.read(path)
    with pytest.raises(BadParameter, match="objectId: 'toto'"):
        reader.read(path, "toto")
    with pytest.raises(BadParameter, match=r"kind: .*allowed: Science, Template, Difference"):
        reader.read(path, "ZTF18aaqfhlj", kinds=["All"])
    with pytest.raises(OutsideLake):
        reader.read("../lake-spark3/x.parquet", "ZTF18aaqfhlj")
    with pytest.raises(NotFound, match="no file"):
        reader.read("archive/missing.parquet", "ZTF18aaqfhlj")


REWRITES = [
    pytest.param(True, True, id="pages, mtime kept"),
    pytest.param(True, False, id="pages, mtime changed"),
    pytest.param(False, True, id="row group, mtime kept"),
    pytest.param(False, False, id="row group, mtime changed"),
]


def _as_indexed(location, page_spans: bool):
    import dataclasses

    return location if page_spans else dataclasses.replace(location, page_spans=None)


@pytest.mark.parametrize(("page_spans", "keep_mtime"), REWRITES)
def test_rows_swapped_at_the_same_size_never_serve_another_alerts_stamps(
    rewritable_lake, page_spans, keep_mtime, caplog
):
    from support.rewrites import stored_stamps, swap_rows

    lake = rewritable_lake
    candids = lake.table.column("candid").to_pylist()
    assert lake.table.column("objectId")[3] != lake.table.column("objectId")[40]
    locations = {candid: lake.index.alert(candid) for candid in candids}
    lake.rewrite(swap_rows(lake.table, 3, 40), keep_mtime)

    reader = CutoutReader(lake.lake)
    with caplog.at_level("WARNING"):
        for candid, location in locations.items():
            alert = reader.read_location(_as_indexed(location, page_spans))
            assert alert.alert_id == candid
            assert {k: s.fits_bytes for k, s in alert.stamps.items()} == stored_stamps(
                lake.file, candid
            )
    # A new mtime makes every indexed position untrusted; with the old mtime kept, the alert id
    # read beside the stamps finds the two rows that moved.
    assert reader.stale_reads == (2 if keep_mtime else len(candids))
    assert "changed since it was indexed" in caplog.text
    if page_spans:
        assert reader.page_reads == 3 * (len(candids) - 2 if keep_mtime else 0)


@pytest.mark.parametrize(("page_spans", "keep_mtime"), REWRITES)
def test_a_stamp_changed_in_place_is_served_as_now_stored(rewritable_lake, page_spans, keep_mtime):
    from support.rewrites import change_a_pixel, stored_stamps

    lake = rewritable_lake
    candid = lake.table.column("candid")[10].as_py()
    location = _as_indexed(lake.index.alert(candid), page_spans)
    before = stored_stamps(lake.file, candid)
    lake.rewrite(change_a_pixel(lake.table, 10, "Science"), keep_mtime)
    now = stored_stamps(lake.file, candid)
    assert now["Science"] != before["Science"]

    reader = CutoutReader(lake.lake)
    alert = reader.read_location(location)
    assert {k: s.fits_bytes for k, s in alert.stamps.items()} == now
    # The row still holds the alert: with the mtime kept, the indexed position is still right.
    assert reader.stale_reads == (0 if keep_mtime else 1)


def test_read_many_reads_each_page_once_in_order_with_an_error_per_alert(demo):
    """Alerts of every file, in random order, and one whose file is gone: each answered in its
    place with its own stamps (pyarrow on the stored bytes), the missing file's with NotFound;
    each data page (alert ids and the kinds asked) read once."""
    import dataclasses
    import random

    import pyarrow.parquet as pq
    from support.rewrites import stored_stamps

    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    lake = Lake(demo.root)
    index = AlertIndex(lake)
    ids = [
        candid
        for path in demo.files
        for candid in pq.read_table(demo.root / path, columns=["candid"]).column(0).to_pylist()
    ]
    locations = [index.alert(candid) for candid in random.Random(3).sample(ids, 150)]
    gone = dataclasses.replace(
        locations[0], path=locations[0].path.replace(".parquet", "-x.parquet")
    )
    asked = [*locations[:70], gone, *locations[70:]]
    kinds = ("Science", "Difference")
    reader = CutoutReader(lake)
    found = reader.read_many(asked, kinds)
    assert len(found) == len(asked)
    assert isinstance(found[70], NotFound)
    assert "no file" in str(found[70])
    for location, alert in zip(locations, found[:70] + found[71:], strict=True):
        assert alert.alert_id == location.alert_id
        stored = stored_stamps(demo.root / location.path, location.alert_id)
        assert {kind: alert.stamps[kind].fits_bytes for kind in kinds} == {
            kind: stored[kind] for kind in kinds
        }
    pages = {
        (location.path, location.page_spans[name][0].offset)
        for location in locations
        for name in ("alertId", *kinds)
    }
    assert reader.pages_read == len(pages) < len(locations)
    assert (reader.page_reads, reader.stale_reads, reader.page_fallbacks) == (2 * 150, 0, 0)


def test_one_alert_is_read_by_the_same_page_path_as_many(demo):
    """`read_location` is `read_many` of one: the row's alert id page, then its stamps' pages."""
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    lake = Lake(demo.root)
    reader = CutoutReader(lake)
    alert = reader.read_location(AlertIndex(lake).latest("ZTF24abssjsb"))
    assert set(alert.stamps) == set(KINDS)
    assert (reader.pages_read, reader.page_reads) == (1 + len(KINDS), len(KINDS))


def test_a_files_identity_is_its_size_and_modification_time(ztf_lake):
    import os

    path = ztf_lake.night_files("19881103")[0]
    stat = os.stat(ztf_lake.resolve(path))
    assert CutoutReader(ztf_lake).identity(path) == (stat.st_size, stat.st_mtime_ns)
