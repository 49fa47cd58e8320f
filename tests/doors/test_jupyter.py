"""The Jupyter door beyond the shared contract (tests/doors/test_contract.py): auth, no lake, cheap
import, the server's log lines, health and metrics."""

import logging
import os
import subprocess
import sys

import pytest
from support.doors import jupyter_fetch
from tornado.httpclient import AsyncHTTPClient
from traitlets.config import Config

from fink_cutout_jupyter.doors.jupyter import FinkCutoutsApp


@pytest.fixture
def jp_base_url():
    return "/user/astro/"


@pytest.fixture
def served(lake_case, request):
    """The lake the server is configured with (none for tests marked no_lake)."""
    lake = "" if request.node.get_closest_marker("no_lake") else lake_case.lake
    return {"lake": lake, "index": lake_case.index, "science_dir": lake_case.science_dir}


@pytest.fixture
def jp_server_config(served):
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"fink_cutout_jupyter": True},
                "extra_log_scrub_param_keys": ["session"],
            },
            "FinkCutoutsApp": {**served, "workers": 2},
        }
    )


@pytest.fixture
def door(jp_fetch):
    return jupyter_fetch(jp_fetch)


@pytest.fixture
def server_url(http_server_client, jp_http_port, jp_base_url):
    """The URL of the running server (http_server_client makes it listen)."""
    return f"http://localhost:{jp_http_port}{jp_base_url}"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "token wrong-token"}])
async def test_requests_without_a_valid_token_are_refused(door, server_url, headers):
    assert (await door("api/v1/openapi.json")).status == 200
    response = await AsyncHTTPClient().fetch(
        f"{server_url}api/v1/cutouts?objectId=ZTF24abssjsb", headers=headers, raise_error=False
    )
    assert response.code in (401, 403)
    posted = await AsyncHTTPClient().fetch(
        f"{server_url}api/v1/cutouts", method="POST", body=b"{}", headers=headers, raise_error=False
    )
    assert posted.code in (401, 403)


async def test_routes_live_under_the_base_url(server_url, jp_auth_header):
    assert server_url.endswith("/user/astro/")
    inside = await AsyncHTTPClient().fetch(
        f"{server_url}api/v1/openapi.json", headers=jp_auth_header
    )
    assert inside.code == 200
    assert inside.headers["Content-Type"] == "application/json"


async def test_jupyters_login_token_in_the_query_is_not_a_parameter(
    server_url, jp_auth_header, lake_case
):
    token = jp_auth_header["Authorization"].split()[-1]
    response = await AsyncHTTPClient().fetch(
        f"{server_url}api/v1/cutouts?objectId={lake_case.object_id}&kind=Science&token={token}",
        raise_error=False,
    )
    assert response.code == 200, response.body


@pytest.mark.no_lake
async def test_without_a_lake_the_server_says_how_to_set_one(door):
    response = await door("api/v1/cutouts", params={"objectId": "ZTF24abssjsb"})
    assert response.status == 503
    assert "FINK_CUTOUTS_LAKE" in response.json()["text"]


def test_the_lake_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("FINK_CUTOUTS_LAKE", "hdfs://namenode:8020/user/fink")
    assert FinkCutoutsApp().lake == "hdfs://namenode:8020/user/fink"


def test_importing_the_extension_is_cheap():
    code = (
        "import sys, time; start = time.perf_counter(); import fink_cutout_jupyter.doors.jupyter; "
        "print(time.perf_counter() - start); "
        "heavy = ('pyarrow', 'astropy', 'matplotlib', 'numpy'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[1] == "[]"


def test_installing_enables_the_extension():
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "JUPYTER_CONFIG_DIR": "/nonexistent"},
    )
    output = listed.stdout + listed.stderr
    assert "fink_cutout_jupyter" in output
    assert "enabled" in output.split("fink_cutout_jupyter", 1)[1].splitlines()[0]


async def test_no_token_in_the_servers_log_lines(server_url, jp_auth_header, lake_case, caplog):
    """Jupyter's request log scrubs ?token=, and so must tornado's warnings naming a request."""
    token = jp_auth_header["Authorization"].split()[-1]
    caplog.set_level(logging.DEBUG)
    for query, status in (
        (f"objectId={lake_case.object_id}&kind=Science&token={token}", 200),
        (f"objectId={lake_case.object_id}&kind=Sci&token={token}", 400),  # the contract's 400
        (f"objectId=%ff&token={token}", 400),  # tornado's own 400: not UTF-8
        (f"objectId=%ff&session_id=session-secret&token={token}", 400),  # an extra scrubbed key
    ):
        response = await AsyncHTTPClient().fetch(
            f"{server_url}api/v1/cutouts?{query}", raise_error=False
        )
        assert response.code == status, response.body
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged.count("/user/astro/api/v1/cutouts?") >= 6, logged  # four requests, 2 warnings
    assert "token=[secret]" in logged
    assert "session_id=[secret]" in logged
    assert token not in logged, logged
    assert "session-secret" not in logged, logged


async def test_health_and_the_servers_own_metrics(door, jp_fetch, lake_case):
    """/api/v1/health answers in the Jupyter door, and jupyter_server's /metrics (with the
    server's token) shows the extension's counters, this health request among them."""
    from prometheus_client.parser import text_string_to_metric_families

    health = await door("api/v1/health")
    assert health.status == 200
    assert health.json()["index"] is True
    response = await jp_fetch("metrics")
    families = {
        family.name: family for family in text_string_to_metric_families(response.body.decode())
    }
    answered = {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in families["fink_cutouts_requests"].samples
        if sample.name.endswith("_total")
    }
    assert answered[("route", "health"), ("status", "200")] >= 1
    assert "fink_cutouts_request_seconds" in families
    refused = await jp_fetch("metrics", headers={"Authorization": ""}, raise_error=False)
    assert refused.code == 403  # jupyter_server's authenticate_prometheus (on by default)


def test_the_lakes_credentials_are_in_no_log_line_and_no_error():
    """The door names its lake when it starts: without the credentials an S3 URI may carry (one
    pyarrow refuses, quoting it, stops the server with an error that leaves them out too)."""
    from logging.handlers import BufferingHandler

    from jupyter_server.serverapp import ServerApp

    from fink_cutout_jupyter.errors import LakeUnavailable

    taken = (  # without connecting: nothing listens on port 1
        "s3://AKIDEXAMPLE:wJalr%2FXUtnFEMI@fink-lake/ztf?endpoint_override=127.0.0.1:1"
        "&region=us-east-1&scheme=http"
    )
    refused = "s3://AKIDEXAMPLE:wJalr/XUtnFEMI@fink-lake/ztf"
    for uri, shown in (
        (taken, "s3://[secret]@fink-lake/ztf?endpoint_override=127.0.0.1:1&region=us-east-1"),
        (refused, "s3://[secret]@fink-lake/ztf"),
    ):
        app = FinkCutoutsApp(lake=uri)
        app.serverapp = ServerApp()
        handler = BufferingHandler(capacity=100)
        app.log.addHandler(handler)
        error = ""
        try:
            app.initialize_settings()
        except LakeUnavailable as raised:
            error = str(raised)
        finally:
            app.log.removeHandler(handler)
            app.runner.close()
        logged = "\n".join(record.getMessage() for record in handler.buffer)
        assert f"serving cutouts of {shown}" in logged, logged
        assert bool(error) == (uri == refused), error
        for secret in ("AKIDEXAMPLE", "wJalr", "XUtnFEMI"):
            assert secret not in logged, logged
            assert secret not in error, error
