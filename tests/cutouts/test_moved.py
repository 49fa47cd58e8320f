"""A live night's file removed after it was indexed (Fink merged the night into the archive, then
deleted it): its alerts are served from the archived night, found in the index read afresh or in
the archived files by alert id; otherwise a 404 or 503 saying why; never a 500 nor another
alert's stamps. Real ZTF files in Fink's layout (`support.lifecycle`); the expected stamps are
pyarrow's reading of the archived file."""

import json
import random
from pathlib import Path

import pytest
from support.lifecycle import (
    NIGHT,
    REAL_FILES,
    alert_ids,
    index_archive,
    index_online,
    lifecycle_lake,
    write_archive,
    write_online,
)
from support.rewrites import stored_stamps

from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.contract.batch import BatchRequest
from fink_cutout_jupyter.cutouts.moved import NotArchivedYet
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.surveys import KINDS

REMOVED, KEPT = REAL_FILES  # the live file removed, and the one still there


@pytest.fixture
def live(tmp_path):
    """A running API on a lake whose live night (both real files) is indexed; its layout, read
    once, is kept as a server keeps it between refreshes."""
    lake = lifecycle_lake(tmp_path / "lake")
    paths = write_online(lake)
    api = CutoutAPI(lake)
    api.index.refresh_seconds = 3600
    index_online(api.index, paths)
    for candid in (alert_ids(REMOVED)[0], alert_ids(KEPT)[0]):
        assert fits(api, candid, "Science").status == 200
    return api, paths


def fits(api, candid, kind="All", headers=None):
    return api.handle("cutouts", {"candid": candid, "kind": kind, "return_type": "FITS"}, headers)


def remove(api, path: str) -> None:
    (Path(api.lake.uri) / path).unlink()


def text_of(reply) -> str:
    return json.loads(reply.body)["text"]


def test_each_alert_of_a_removed_live_file_is_served_from_the_archived_night(live):
    """Archived but not indexed yet: found by the archived files' alert ids, each row proven."""
    api, paths = live
    archived = write_archive(api.lake)
    remove(api, paths[0])
    for candid in alert_ids(REMOVED):
        stored = stored_stamps(Path(api.lake.uri) / archived, candid)
        for kind in KINDS:
            reply = fits(api, candid, kind)
            assert reply.status == 200, reply.body[:300]
            assert reply.body == stored[kind]
        alert = api.reader.read_location(api.index.alert(candid), ["Science"])
        assert (alert.path, alert.alert_id) == (archived, candid)
    kept = alert_ids(KEPT)[3]
    alert = api.reader.read_location(api.index.alert(kept), ["Science"])
    assert alert.path == paths[1]  # a live file still there is read where it is


def test_the_index_read_afresh_gives_the_archived_file_once_the_night_is_indexed(live):
    """The archived night indexed by another process since this server read its layout: the
    refreshed index places the alert in the archived file, read by its indexed pages."""
    api, paths = live
    archived = write_archive(api.lake)
    index_archive(AlertIndex(api.lake))
    remove(api, paths[0])
    candid = alert_ids(REMOVED)[5]
    pages_before = api.reader.page_reads
    reply = fits(api, candid, "Difference")
    assert reply.status == 200, reply.body[:300]
    assert reply.body == stored_stamps(Path(api.lake.uri) / archived, candid)["Difference"]
    assert api.reader.page_reads == pages_before + 1  # the archive's pages, as indexed
    assert api.index.alert(candid).path == archived
    again = fits(api, candid, "Difference", reply.headers["ETag"])
    assert (again.status, again.headers["ETag"]) == (304, reply.headers["ETag"])


def test_an_etag_of_the_removed_file_is_answered_with_the_archived_stamps(live):
    api, paths = live
    candid = alert_ids(REMOVED)[2]
    first = fits(api, candid, "Template")
    archived = write_archive(api.lake)
    remove(api, paths[0])
    reply = fits(api, candid, "Template", first.headers["ETag"])
    assert reply.status == 200, reply.body[:300]
    assert reply.body == stored_stamps(Path(api.lake.uri) / archived, candid)["Template"]
    assert reply.headers["ETag"] != first.headers["ETag"]


def test_an_archived_night_without_the_alert_is_a_404_saying_so(live):
    api, paths = live
    write_archive(api.lake, [KEPT])
    remove(api, paths[0])
    candid = alert_ids(REMOVED)[0]
    reply = fits(api, candid)
    assert reply.status == 404
    assert text_of(reply) == (
        f"candid: alert {candid}'s file {paths[0]} was removed from the lake and the archived "
        f"night {NIGHT:%Y-%m-%d} does not hold it"
    )


def test_a_night_not_archived_yet_is_a_503_saying_retry_then_served_once_it_is(live):
    api, paths = live
    remove(api, paths[0])
    candid = alert_ids(REMOVED)[0]
    reply = fits(api, candid)
    assert reply.status == 503
    assert text_of(reply) == (
        f"candid: alert {candid}'s file {paths[0]} was removed from the lake (a live night "
        f"being merged into the archive?); the archived night {NIGHT:%Y-%m-%d} is not there "
        "yet: retry later"
    )
    assert NotArchivedYet.status == 503
    archived = write_archive(api.lake)
    reply = fits(api, candid, "Science")
    assert reply.status == 200
    assert reply.body == stored_stamps(Path(api.lake.uri) / archived, candid)["Science"]


def test_a_removed_file_outside_the_live_nights_is_still_a_404_naming_it(live):
    api, _ = live
    archived = write_archive(api.lake)
    index_archive(api.index)
    candid = alert_ids(REMOVED)[0]
    assert api.index.alert(candid).path == archived
    remove(api, archived)
    reply = fits(api, candid)
    assert reply.status == 404
    assert text_of(reply) == f"hdfsPath: no file {archived!r} in the lake"


def test_a_batch_answers_each_alert_of_a_removed_live_file_from_the_archive(live):
    """Every alert of the removed file with those of the kept one, shuffled; the archived
    night holding the removed file's alerts but the first, which is then not found."""
    api, paths = live
    missing = alert_ids(REMOVED)[0]
    archived = write_archive(api.lake, without=frozenset({missing}))
    remove(api, paths[0])
    ids = [*alert_ids(REMOVED), *alert_ids(KEPT)]
    random.Random(23).shuffle(ids)
    items = api.batches.read(BatchRequest(tuple(ids), False, KINDS, "arrow"))
    for item, candid in zip(items, ids, strict=True):
        if candid == missing:
            assert item.status.startswith(f"not found: candid: alert {candid}'s file"), item.status
            continue
        assert item.status == "ok", (candid, item.status)
        source = paths[1] if candid in alert_ids(KEPT) else archived
        stored = stored_stamps(Path(api.lake.uri) / source, candid)
        assert {kind: stamp.fits_bytes for kind, stamp in item.stamps.items()} == stored
    reply = api.handle("cutouts", {"candid": ids, "return_type": "FITS"}, body=True)
    assert reply.status == 200, reply.body[:300]


def test_a_reader_without_an_index_keeps_the_404_naming_the_file(live):
    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.errors import NotFound

    api, paths = live
    write_archive(api.lake)
    location = api.index.alert(alert_ids(REMOVED)[0])
    remove(api, paths[0])
    with pytest.raises(NotFound, match="hdfsPath: no file"):
        CutoutReader(api.lake).read_location(location)


def test_a_request_naming_the_removed_live_file_and_the_alert_is_served_from_the_archive(live):
    """What Fink's portal sends while its stored path is the live one: the path and candid."""
    api, paths = live
    archived = write_archive(api.lake)
    remove(api, paths[0])
    candid, other = alert_ids(REMOVED)[9], alert_ids(KEPT)[0]
    object_id = api.index.alert(candid).object_id
    asked = {"hdfsPath": paths[0], "candid": candid, "kind": "Science", "return_type": "FITS"}
    reply = api.handle("cutouts", {**asked, "objectId": object_id})
    assert reply.status == 200, reply.body[:300]
    assert reply.body == stored_stamps(Path(api.lake.uri) / archived, candid)["Science"]
    gone = f"hdfsPath: no file {paths[0]!r} in the lake"
    without_id = {name: value for name, value in asked.items() if name != "candid"}
    by_object = api.handle("cutouts", {**without_id, "objectId": object_id})
    assert (by_object.status, text_of(by_object)) == (404, gone)  # no id to look for
    wrong = api.handle("cutouts", {**asked, "candid": other, "objectId": object_id})
    assert (wrong.status, text_of(wrong)) == (
        404,
        f"candid: alert {other} is not an alert of {object_id}",
    )
    unknown = api.handle("cutouts", {**asked, "candid": 1})
    assert (unknown.status, text_of(unknown)) == (404, gone)
