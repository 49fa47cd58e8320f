"""The standalone door: the shared contract through a real aiohttp server, and the serve command."""

import io
import json
import signal
import socket
import subprocess
import time
import urllib.request

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import free_port, start_service, wait_for_http
from contract import *  # noqa: F403 - the shared contract tests run against this door
from contract import Response, release

from fink_cutout_jupyter.service import create_app


@pytest.fixture
def door(lake_case, jp_asyncio_loop):
    app = create_app(lake_case.lake, lake_case.index, science_dir=lake_case.science_dir, workers=2)
    server = TestServer(app, host="127.0.0.1")
    jp_asyncio_loop.run_until_complete(server.start_server())

    async def fetch(path, method="GET", params=None, body=None, headers=None):
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                server.make_url("/" + path),
                params=params,
                data=io.BytesIO(body) if body is not None else None,
                headers=headers,
            ) as response,
        ):
            return Response(response.status, response.headers, await response.read())

    yield fetch
    jp_asyncio_loop.run_until_complete(server.close())


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
    server = TestServer(create_app(lake=""), host="127.0.0.1")
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
    server = TestServer(create_app(str(demo.root), workers=2, timeout=0.5), host="127.0.0.1")
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
    server = TestServer(create_app(str(demo.root), base_url="fink/cutouts"), host="127.0.0.1")
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
