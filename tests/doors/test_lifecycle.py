"""One lake root through a night's lifecycle, through each door: yesterday's archived night and
tonight's live night served by path and by id, and a removed live file's alerts served from the
archived night once it is merged. The doors are given the root's two directories (the live one
not the default, so that only a door passing its `online_dir` on finds the removed file's night).
Expectations are pyarrow's reading of the stored files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from support.doors import jupyter_fetch, standalone_fetch
from support.lifecycle import (
    NIGHT,
    REAL_FILES,
    SCIENCE_DIR,
    alert_ids,
    index_archive,
    index_online,
    lifecycle_lake,
    write_archive,
    write_online,
)
from support.rewrites import stored_stamps
from traitlets.config import Config

from fink_cutout_jupyter.index.lookup import AlertIndex

DOORS = ["jupyter", "standalone"]
ONLINE_DIR = "stream/science"
YESTERDAY = NIGHT - dt.timedelta(days=1)
LIVE, ARCHIVED = REAL_FILES  # tonight's live file, and yesterday's alerts (archived)


@pytest.fixture
def lifecycle(tmp_path):
    """(lake, yesterday's archived file, tonight's live file), both indexed."""
    lake = lifecycle_lake(tmp_path / "lake", ONLINE_DIR)
    archived = write_archive(lake, [ARCHIVED], YESTERDAY)
    live = write_online(lake, [LIVE])
    index = AlertIndex(lake)
    index_archive(index, YESTERDAY)
    index_online(index, live)
    return lake, archived, live[0]


@pytest.fixture(params=DOORS)
def door(request, lifecycle):
    return request.getfixturevalue(f"{request.param}_door")


@pytest.fixture
def jp_server_config(lifecycle):
    lake = lifecycle[0]
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"fink_cutout_jupyter": True}},
            "FinkCutoutsApp": {
                "lake": lake.uri,
                "science_dir": SCIENCE_DIR,
                "online_dir": ONLINE_DIR,
                "workers": 2,
                "render_processes": 0,
            },
        }
    )


@pytest.fixture
def jupyter_door(jp_fetch):
    return jupyter_fetch(jp_fetch)


@pytest.fixture
def standalone_door(lifecycle, jp_asyncio_loop):
    from aiohttp.test_utils import TestServer

    from fink_cutout_jupyter.doors.settings import DoorSettings
    from fink_cutout_jupyter.doors.standalone import create_app

    settings = DoorSettings(
        lifecycle[0].uri,
        science_dir=SCIENCE_DIR,
        online_dir=ONLINE_DIR,
        workers=2,
        render_processes=0,
    )
    server = TestServer(create_app(settings), host="127.0.0.1")
    jp_asyncio_loop.run_until_complete(server.start_server())
    yield standalone_fetch(server)
    jp_asyncio_loop.run_until_complete(server.close())


async def stamp(door, kind="Science", **params):
    return await door("api/v1/cutouts", params={**params, "kind": kind, "return_type": "FITS"})


def object_in_both() -> tuple[str, list[tuple[float, int, Path]]]:
    """An object with alerts in both files, and its alerts (jd, candid, file), oldest first."""
    alerts: dict[str, list] = {}
    for file in REAL_FILES:
        table = pq.read_table(file, columns=["objectId", "candid", "candidate"])
        jds = pc.struct_field(table["candidate"], "jd").to_pylist()
        for object_id, candid, jd in zip(
            table["objectId"].to_pylist(), table["candid"].to_pylist(), jds, strict=True
        ):
            alerts.setdefault(object_id, []).append((jd, candid, file))
    object_id = min(o for o, found in alerts.items() if len({f for *_, f in found}) == 2)
    return object_id, sorted(alerts[object_id])


async def test_one_root_serves_the_archive_and_the_live_night_by_path_and_by_id(door, lifecycle):
    lake, archived, live = lifecycle
    root = Path(lake.uri)
    for path, source in ((archived, ARCHIVED), (live, LIVE)):
        for candid in alert_ids(source)[::11]:
            stored = stored_stamps(root / path, candid)
            by_path = await stamp(door, "Difference", hdfsPath=path, candid=candid)
            assert by_path.status == 200, by_path.body[:300]
            assert by_path.body == stored["Difference"]
            by_id = await stamp(door, candid=candid)
            assert by_id.status == 200, by_id.body[:300]
            assert by_id.body == stored["Science"]

    object_id, alerts = object_in_both()
    files = {LIVE: live, ARCHIVED: archived}
    listed = await door("api/v1/alerts", params={"objectId": object_id})
    assert listed.status == 200
    assert [(a["alertId"], a["hdfsPath"]) for a in listed.json()] == [
        (candid, files[file]) for _, candid, file in alerts
    ]
    _, latest, file = alerts[-1]
    reply = await stamp(door, objectId=object_id)
    assert reply.status == 200
    assert reply.body == stored_stamps(root / files[file], latest)["Science"]


async def test_a_removed_live_file_is_served_from_its_night_once_archived(door, lifecycle):
    lake, _, live = lifecycle
    root = Path(lake.uri)
    (root / live).unlink()
    candid = alert_ids(LIVE)[7]
    reply = await stamp(door, candid=candid)
    assert reply.status == 503
    assert reply.json()["text"].endswith(
        f"the archived night {NIGHT:%Y-%m-%d} is not there yet: retry later"
    )
    merged = write_archive(lake, [LIVE], NIGHT)
    for kind in ("Science", "Template"):
        reply = await stamp(door, kind, candid=candid)
        assert reply.status == 200, reply.body[:300]
        assert reply.body == stored_stamps(root / merged, candid)[kind]
