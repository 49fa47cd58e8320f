"""The doors' settings: one `DoorSettings`, its defaults, checks and environment, and each door
(the runner, ``create_app`` as gunicorn calls it, ``fink-cutouts serve``, the Jupyter traits)
taking them from there."""

import json
import math
import os
import subprocess
import sys
import urllib.request

import aiohttp
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from aiohttp.test_utils import TestServer
from support.servers import free_port, wait_for_http

from fink_cutout_jupyter.cli import _parser
from fink_cutout_jupyter.doors.jupyter import FinkCutoutsApp
from fink_cutout_jupyter.doors.settings import DoorSettings
from fink_cutout_jupyter.doors.standalone import create_app
from fink_cutout_jupyter.errors import BadParameter

OBJECT = "ZTF24abssjsb"
# The Jupyter door's configuration names, as users write them in jupyter_server_config.py.
TRAITS = (
    "lake",
    "index",
    "survey",
    "science_dir",
    "online_dir",
    "workers",
    "timeout",
    "render_processes",
)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"survey": "hst"}, "survey: 'hst' is unknown; allowed: ztf, lsst"),
        ({"workers": 0}, "workers: 0; at least 1 thread"),
        ({"timeout": 0.0}, "timeout: 0.0; a number of seconds above 0"),
        ({"timeout": math.nan}, "timeout: nan; a number of seconds above 0"),
        ({"render_processes": -1}, "render_processes: -1; 0 (render in threads) or more"),
        ({"workers": "4"}, "workers: '4'; a whole number of threads"),
        ({"workers": 2.5}, "workers: 2.5; a whole number of threads"),
        ({"workers": True}, "workers: True; a whole number of threads"),
        ({"timeout": "60"}, "timeout: '60'; a number of seconds above 0"),
        ({"render_processes": True}, "render_processes: True; a whole number of processes"),
        ({"science_dir": None}, "science_dir: None; a string"),
        ({"online_dir": 3}, "online_dir: 3; a string"),
    ],
)
def test_a_bad_setting_is_refused_when_made_naming_it(given, named):
    with pytest.raises(BadParameter) as refused:
        DoorSettings("/lake", **given)
    assert str(refused.value) == named


def test_the_lake_comes_from_the_environment_unless_given():
    environment = {"FINK_CUTOUTS_LAKE": "hdfs://namenode:8020/user/fink"}
    assert DoorSettings.from_environment(environment).lake == "hdfs://namenode:8020/user/fink"
    assert DoorSettings.from_environment(environment, lake="/data").lake == "/data"
    assert DoorSettings.from_environment({}, workers=2) == DoorSettings("", workers=2)


def test_every_setting_comes_from_its_environment_variable_unless_given():
    """What gunicorn_app (configured by the environment alone) needs for Fink's home, whose
    archived nights are under archive/science."""
    environment = {
        "FINK_CUTOUTS_LAKE": "hdfs://namenode:8020/user/fink",
        "FINK_CUTOUTS_SCIENCE_DIR": "archive/science",
        "FINK_CUTOUTS_WORKERS": "8",
        "FINK_CUTOUTS_TIMEOUT": "12.5",
        "FINK_CUTOUTS_SURVEY": "lsst",
        "FINK_CUTOUTS_RENDER_PROCESSES": "not read here",
    }
    settings = DoorSettings.from_environment(environment, workers=None, timeout=3)
    assert settings == DoorSettings(
        "hdfs://namenode:8020/user/fink",
        survey="lsst",
        science_dir="archive/science",
        workers=8,
        timeout=3,
    )
    for variable, text, named in [
        ("FINK_CUTOUTS_WORKERS", "four", "FINK_CUTOUTS_WORKERS: 'four'; a whole number"),
        ("FINK_CUTOUTS_TIMEOUT", "soon", "FINK_CUTOUTS_TIMEOUT: 'soon'; a number"),
        ("FINK_CUTOUTS_WORKERS", "0", "workers: 0; at least 1 thread"),
    ]:
        with pytest.raises(BadParameter) as refused:
            DoorSettings.from_environment({variable: text})
        assert str(refused.value) == named


def test_the_jupyter_traits_keep_their_names_defaults_and_help():
    configurable = set(FinkCutoutsApp.class_own_traits(config=True))
    assert set(TRAITS) <= configurable
    assert DoorSettings.names() == TRAITS
    app, defaults = FinkCutoutsApp(), DoorSettings()
    for name in TRAITS[1:]:  # the lake's default is the environment's
        assert getattr(app, name) == getattr(defaults, name), name
        assert FinkCutoutsApp.class_traits()[name].help == DoorSettings.help(name)
    assert (app.workers, app.timeout, app.render_processes) == (4, 60.0, None)
    assert (app.science_dir, app.online_dir) == ("science", "online/science")


def test_the_serve_options_are_the_settings():
    options = _parser().parse_args(["serve"])
    for name in TRAITS:  # not given: the environment's, else the setting's default
        assert getattr(options, name) is None, name
    given = {name: getattr(options, name) for name in TRAITS}
    assert DoorSettings.from_environment({}, **given) == DoorSettings()
    given = _parser().parse_args(
        ["serve", "--lake", "/l", "--science-dir", "s", "--workers", "3", "--render-processes", "0"]
    )
    assert (given.lake, given.science_dir, given.workers, given.render_processes) == (
        "/l",
        "s",
        3,
        0,
    )
    assert _parser().parse_args(["serve", "--online-dir", "live/science"]).online_dir == (
        "live/science"
    )


def test_the_online_directory_defaults_to_the_lakes(tmp_path):
    """The setting's default is the `Lake`'s (the door's help names the same directory)."""
    from fink_cutout_jupyter.storage.lake import Lake

    assert DoorSettings().online_dir == Lake(tmp_path).online_dir == "online/science"
    assert DoorSettings().science_dir == Lake(tmp_path).science_dir
    assert "live nights" in DoorSettings.help("online_dir")


@pytest.mark.parametrize("online_dir", ["online/science", "stream/nights"])
def test_the_runner_gives_the_lake_its_directories(tmp_path, online_dir):
    from fink_cutout_jupyter.doors.runner import APIRunner

    settings = DoorSettings(
        str(tmp_path), science_dir="archive/science", online_dir=online_dir, render_processes=0
    )
    runner = APIRunner(settings)
    try:
        lake = runner._get_api().lake
    finally:
        runner.close()
    assert (lake.science_dir, lake.online_dir) == ("archive/science", online_dir)


def _alert_ids(lake) -> list[int]:
    """The object's alert ids as pyarrow reads them from the lake's files, oldest first."""
    table = ds.dataset(lake / "science", format="parquet", partitioning="hive").to_table(
        columns=["candid", "objectId", "candidate"], filter=ds.field("objectId") == OBJECT
    )
    jds = pc.struct_field(table["candidate"], "jd").to_pylist()
    return [candid for _, candid in sorted(zip(jds, table["candid"].to_pylist(), strict=True))]


async def test_create_app_as_gunicorn_calls_it_serves_the_lake_of_the_environment(
    demo, monkeypatch
):
    """``gunicorn 'fink_cutout_jupyter.doors.standalone:create_app()'`` names no setting."""
    monkeypatch.setenv("FINK_CUTOUTS_LAKE", str(demo.root))
    server = TestServer(create_app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/api/v1/alerts?objectId={OBJECT}"
            async with session.get(url) as response:
                assert response.status == 200
                alerts = await response.json()
    finally:
        await server.close()
    expected = _alert_ids(demo.root)
    assert len(expected) > 1
    assert [alert["alertId"] for alert in alerts] == expected


def test_serve_takes_its_lake_from_the_environment(demo):
    environment = {**os.environ, "FINK_CUTOUTS_LAKE": str(demo.root)}
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "serve"]
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "1", "--render-processes", "0"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/health")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=10) as r:
            assert json.load(r)["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=30)
    del environment["FINK_CUTOUTS_LAKE"]
    refused = subprocess.run(
        [*command, "--port", str(port)], env=environment, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "lake: give --lake" in refused.stderr
    refused = subprocess.run(
        [*command, "--lake", str(demo.root), "--survey", "hst"], capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "survey: 'hst' is unknown" in refused.stderr


def test_the_jupyter_door_reads_only_the_lake_from_the_environment(monkeypatch):
    """The traits are the Jupyter door's configuration: a FINK_CUTOUTS_<NAME> meant for
    `fink-cutouts serve` (even a bad one) neither changes nor breaks a Jupyter server."""
    monkeypatch.setenv("FINK_CUTOUTS_LAKE", "/lake")
    monkeypatch.setenv("FINK_CUTOUTS_WORKERS", "four")
    monkeypatch.setenv("FINK_CUTOUTS_SCIENCE_DIR", "archive/science")
    app = FinkCutoutsApp()
    assert (app.lake, app.workers, app.science_dir) == ("/lake", 4, "science")
