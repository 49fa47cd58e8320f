"""The standalone door beyond the shared contract (tests/doors/test_contract.py): the serve command,
busy and slow lakes, base URLs, health, the gunicorn entry point."""

import json
import signal
import socket
import subprocess
import time
import urllib.request

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from support.doors import release
from support.servers import free_port, start_service, wait_for_http

from fink_cutout_jupyter.doors.settings import DoorSettings
from fink_cutout_jupyter.doors.standalone import create_app


def test_serve_command_answers_logs_and_stops_gracefully(demo):
    port = free_port()
    process = start_service(
        str(demo.root), port, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/cutouts?objectId=ZTF24abssjsb&kind=Science"
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("fink-cutouts serve did not answer")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert '"GET /api/v1/cutouts?objectId=ZTF24abssjsb&kind=Science HTTP/1.1" 200' in output


async def test_without_a_lake_every_request_says_how_to_set_one(jp_asyncio_loop):
    server = TestServer(create_app(DoorSettings(lake="")), host="127.0.0.1")
    await server.start_server()
    try:
        url = server.make_url("/api/v1/cutouts?objectId=ZTF24abssjsb")
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 503
            assert "FINK_CUTOUTS_LAKE" in (await response.json())["text"]
    finally:
        await server.close()


async def test_a_read_longer_than_the_timeout_answers_503_and_the_server_goes_on(demo):
    import asyncio
    import os
    import time

    fifo = demo.root / "slow.parquet"
    os.mkfifo(fifo)
    server = TestServer(
        create_app(DoorSettings(str(demo.root), workers=2, timeout=0.5)), host="127.0.0.1"
    )
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            held = server.make_url(f"/api/v1/cutouts?objectId=ZTF24abssjsb&hdfsPath={fifo.name}")
            start = time.monotonic()
            async with session.get(held) as response:
                assert response.status == 503
                assert "did not answer within 0.5 s" in (await response.json())["text"]
            assert time.monotonic() - start < 5
            fine = server.make_url("/api/v1/cutouts?objectId=ZTF24abssjsb&kind=Science")
            async with session.get(fine) as response:
                assert response.status == 200
    finally:
        release(fifo)
        fifo.unlink()
        await asyncio.sleep(0.1)
        await server.close()


def test_the_serve_command_answers_malformed_requests_in_json(demo):
    """The HTTP parser's own errors (a request line over 32 KB) in the contract's shape."""
    port = free_port()
    process = start_service(str(demo.root), port)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/openapi.json")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            line = b"GET /api/v1/cutouts?objectId=" + b"Z" * 40_000 + b" HTTP/1.1\r\n\r\n"
            connection.sendall(line)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.0 400") or head.startswith(b"HTTP/1.1 400"), head
        assert b"Content-Type: application/json" in head
        assert json.loads(body)["status"] == "error"
        assert len(body) < 400
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_a_base_url_prefixes_every_route(demo, jp_asyncio_loop):
    server = TestServer(create_app(DoorSettings(str(demo.root)), "fink/cutouts"), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = server.make_url("/fink/cutouts/api/v1/openapi.json")
            async with session.get(url) as response:
                assert response.status == 200
                assert (await response.json())["servers"] == [{"url": "/fink/cutouts"}]
            async with session.get(server.make_url("/api/v1/openapi.json")) as response:
                assert response.status == 404
    finally:
        await server.close()


async def _get_json(app, path: str) -> tuple[int, dict]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session, session.get(server.make_url(path)) as r:
            return r.status, await r.json()
    finally:
        await server.close()


async def test_health_says_the_lake_and_index_answer_and_how_old_the_index_is(demo):
    import os

    import jsonschema

    from fink_cutout_jupyter.contract.health import HEALTH_SCHEMA

    status, health = await _get_json(create_app(DoorSettings(str(demo.root))), "/api/v1/health")
    published = os.stat(demo.root / "_cutout_index" / "layout.json").st_mtime
    assert status == 200
    jsonschema.validate(health, HEALTH_SCHEMA)
    assert health["status"] == "ok"
    assert (health["lake"], health["index"], health["survey"]) == (True, True, "ztf")
    assert abs(health["index_age_seconds"] - (time.time() - published)) < 5
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("fink_cutouts_healthy") == 1
    gauge = REGISTRY.get_sample_value("fink_cutouts_index_age_seconds")
    assert abs(gauge - health["index_age_seconds"]) < 1e-6


async def test_health_answers_503_naming_what_is_not_usable(demo, tmp_path):
    import shutil

    unindexed = tmp_path / "unindexed"
    shutil.copytree(demo.root / "science", unindexed / "science")
    status, health = await _get_json(create_app(DoorSettings(str(unindexed))), "/api/v1/health")
    assert status == 503
    assert (health["lake"], health["index"]) == (True, False)
    assert health["text"].startswith("index: the lake has no alert index yet")

    status, health = await _get_json(
        create_app(DoorSettings(str(tmp_path / "missing"))), "/api/v1/health"
    )
    assert status == 503
    assert (health["lake"], health["index"]) == (False, False)
    assert "lake: no directory 'science'" in health["text"]

    (unindexed / "_cutout_index").mkdir()
    (unindexed / "_cutout_index" / "layout.json").write_text('{"format": 1}')
    status, health = await _get_json(create_app(DoorSettings(str(unindexed))), "/api/v1/health")
    assert status == 503
    assert health["index"] is False
    assert "format 1" in health["text"]
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("fink_cutouts_healthy") == 0

    (unindexed / "_cutout_index" / "layout.json").write_text("{not json")
    status, health = await _get_json(create_app(DoorSettings(str(unindexed))), "/api/v1/health")
    assert status == 503
    assert health["index"] is False
    assert health["text"].startswith("index: ")
    assert "layout.json is damaged" in health["text"]

    status, health = await _get_json(create_app(DoorSettings("")), "/api/v1/health")
    assert status == 503
    assert "FINK_CUTOUTS_LAKE" in health["text"]


def test_the_serve_command_serves_health_and_metrics(served_demo):
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{served_demo}api/v1/health", timeout=10) as response:
        assert json.load(response)["status"] == "ok"
    with urllib.request.urlopen(f"{served_demo}metrics", timeout=10) as response:
        families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
    health = [
        sample
        for sample in families["fink_cutouts_requests"].samples
        if sample.labels == {"route": "health", "status": "200"} and sample.name.endswith("_total")
    ]
    assert len(health) == 1
    assert health[0].value >= 1


async def test_the_gunicorn_entry_point_scrubs_its_access_log(demo, monkeypatch, caplog):
    """aiohttp's gunicorn worker takes `gunicorn_app`'s runner as it is (its own would log
    ``?token=`` as sent): lines go to gunicorn's access logger, with the token blanked."""
    import logging

    from aiohttp import web

    from fink_cutout_jupyter.doors.standalone import gunicorn_app

    monkeypatch.setenv("FINK_CUTOUTS_LAKE", str(demo.root))
    caplog.set_level(logging.INFO, logger="gunicorn.access")
    runner = await gunicorn_app()
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # as the worker's SockSite on gunicorn's socket
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/v1/limits?token=gunicorn-secret&x=1"
            async with session.get(url) as response:
                await response.read()
    finally:
        await runner.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "gunicorn.access"]
    assert len(lines) == 1, lines
    assert "/api/v1/limits?token=[secret]&x=1" in lines[0]
    assert "gunicorn-secret" not in lines[0]
