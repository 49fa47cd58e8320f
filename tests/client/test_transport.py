"""Requests over HTTP (client/transport.py, client/opener.py): an unreachable server, the
token kept on its origin, a deadline for the whole request, replies refused beyond the cap
without growing."""

import asyncio
import json
import subprocess
import sys
import time
import urllib.parse

import pytest
from support.misbehaving import misbehaving_servers
from support.servers import free_port

from fink_cutout_jupyter.client import MAX_ALERT_REPLY_BYTES, CutoutClient, CutoutClientError
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID


@pytest.fixture(scope="module")
def misbehaving():
    with misbehaving_servers() as servers:
        yield servers


def test_an_unreachable_server_is_a_clear_error():
    client = CutoutClient(url=f"http://127.0.0.1:{free_port()}/", timeout=2)
    with pytest.raises(CutoutClientError, match="cannot reach") as caught:
        client.alerts(DEMO_OBJECT_ID)
    assert caught.value.status == 503


def test_a_redirect_to_another_origin_does_not_carry_the_token(misbehaving):
    here, elsewhere = misbehaving
    assert urllib.parse.urlsplit(here.url).hostname != urllib.parse.urlsplit(elsewhere.url).hostname
    for base in ("away", "here"):
        client = CutoutClient(url=f"{here.url}{base}/", token="secret-token")
        here.seen.clear(), elsewhere.seen.clear()
        assert client.alerts(DEMO_OBJECT_ID) == []
        assert asyncio.run(client.aalerts(DEMO_OBJECT_ID)) == []
        if base == "away":
            assert here.seen == [("away", "token secret-token")] * 2
            assert elsewhere.seen == [("same", None)] * 2, "the token went to another host"
        else:
            assert here.seen == [("here", "token secret-token"), ("same", "token secret-token")] * 2


@pytest.mark.parametrize("where", ["drip", "header drip", "async drip"])
def test_the_timeout_is_a_deadline_for_the_whole_request(misbehaving, where):
    here, _ = misbehaving
    url = f"http://127.0.0.1:{here.drip_port}/" if where == "header drip" else f"{here.url}drip/"
    client = CutoutClient(url=url, timeout=2)
    start = time.monotonic()
    call = client.alerts if where != "async drip" else lambda i: asyncio.run(client.aalerts(i))
    with pytest.raises(CutoutClientError, match=r"within timeout=2 s") as caught:
        call(DEMO_OBJECT_ID)
    elapsed = time.monotonic() - start
    assert caught.value.status == 504
    # The drips take 20 s in all: a margin for a loaded machine, still far below them.
    assert 1.9 < elapsed < 8, f"{where}: {elapsed:.1f} s for timeout=2"


_RSS_PROBE = """
import json, re, sys
import pyarrow, pandas, tqdm.auto  # the batch's imports, before measuring
from fink_cutout_jupyter.client import CutoutClient, CutoutClientError

def kilobytes(name):
    return int(re.search(name + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))

url, cap, call = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = CutoutClient(url=url, **({"max_reply_bytes": cap} if cap else {}))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the resident size now
before = kilobytes("VmRSS")
try:
    client.fits_bytes("ZTF1") if call == "fits" else client.batch(["ZTF1"])
    error = None
except CutoutClientError as caught:
    error = str(caught)
print(json.dumps({"growth": (kilobytes("VmHWM") - before) * 1024, "error": error}))
"""


@pytest.mark.parametrize(
    ("base", "cap", "call", "named", "growth"),
    [
        ("huge", 0, "fits", f"cap of {MAX_ALERT_REPLY_BYTES} bytes", 8 * 1024**2),
        ("endless", 16 * 1024**2, "batch", f"cap of {16 * 1024**2} bytes", 48 * 1024**2),
    ],
)
def test_a_reply_beyond_the_cap_is_refused_without_growing(
    misbehaving, base, cap, call, named, growth
):
    """Measured in a process of its own: its peak resident memory while the reply comes."""
    here, _ = misbehaving
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, f"{here.url}{base}/", str(cap), call],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    print(
        f"{base} reply, cap {cap or 'default'}: peak RSS grew {measured['growth'] / 1024**2:.1f} MB"
    )
    assert measured["error"] is not None, measured
    assert named in measured["error"]
    assert measured["growth"] < growth, measured


def _alerts(client: CutoutClient, asynchronous: bool) -> list:
    if asynchronous:
        return asyncio.run(client.aalerts(DEMO_OBJECT_ID))
    return client.alerts(DEMO_OBJECT_ID)


def test_the_token_is_in_no_error_text_and_no_repr(misbehaving):
    """Whether given as token= or in the ``?token=`` of the URL Jupyter prints, the token goes
    in the Authorization header only: every error the client raises (503 unreachable, the
    server's refusal, 504, 502) and its repr leave it out; credentials it cannot send are
    refused without repeating them."""
    here, _ = misbehaving
    secret = "secret-token-5d1f"
    dead = f"http://127.0.0.1:{free_port()}/"
    cases = [
        (CutoutClient(url=dead, token=secret, timeout=2), 503),
        (CutoutClient(url=f"{dead}?token={secret}", timeout=2), 503),
        (CutoutClient(url=f"{here.url}busy/?token={secret}"), 503),
        (CutoutClient(url=f"{here.url}drip?token={secret}", timeout=1), 504),
        (CutoutClient(url=f"{here.url}huge/", token=secret, max_reply_bytes=1024), 502),
    ]
    for client, status in cases:
        assert secret not in repr(client)
        for asynchronous in (False, True):
            with pytest.raises(CutoutClientError) as caught:
                _alerts(client, asynchronous)
            assert caught.value.status == status, (repr(client), str(caught.value))
            assert secret not in str(caught.value), str(caught.value)
            assert secret not in repr(caught.value.__cause__)
    here.seen.clear()
    assert CutoutClient(url=f"{here.url}same/?token={secret}").alerts(DEMO_OBJECT_ID) == []
    assert here.seen == [("same", f"token {secret}")], "the URL's token is sent as the header"
    for url in (f"http://astro:{secret}@127.0.0.1:1/", f"http://127.0.0.1:1/?{secret}"):
        with pytest.raises(CutoutClientError, match=r"^url: ") as caught:
            CutoutClient(url=url)
        assert caught.value.status == 400
        assert secret not in str(caught.value)


def test_a_lakes_credentials_are_in_no_repr_and_no_error_text():
    """An in-process client on an S3 lake with its key in the URI (as pyarrow takes it): the
    client's repr and the error of a lake that does not answer leave the credentials out."""
    uri = (
        "s3://AKIDEXAMPLE:wJalr%2FXUtnFEMI@fink-lake/ztf?endpoint_override=127.0.0.1:1"
        "&region=us-east-1&scheme=http"
    )
    client = CutoutClient(lake=uri)
    assert repr(client) == (
        "CutoutClient(lake s3://[secret]@fink-lake/ztf?endpoint_override=127.0.0.1:1"
        "&region=us-east-1&scheme=http (in-process))"
    )
    with pytest.raises(CutoutClientError) as caught:
        client.alerts(DEMO_OBJECT_ID)
    assert caught.value.status == 503, str(caught.value)
    for secret in ("AKIDEXAMPLE", "wJalr", "XUtnFEMI"):
        assert secret not in repr(client)
        assert secret not in str(caught.value)


def test_an_in_process_client_takes_a_lake_with_its_directories(tmp_path):
    """``CutoutClient(lake=Lake(root, science_dir, online_dir))``: a removed live file's alert
    is found in the archived night under the lake's own directories; the repr keeps the URI's."""
    from pathlib import Path

    from support.lifecycle import (
        REAL_FILES,
        alert_ids,
        index_online,
        lifecycle_lake,
        write_archive,
        write_online,
    )
    from support.rewrites import stored_stamps

    from fink_cutout_jupyter.index.lookup import AlertIndex

    lake = lifecycle_lake(tmp_path / "lake", online_dir="stream/science")
    live = write_online(lake, REAL_FILES[:1])
    index_online(AlertIndex(lake), live)
    archived = write_archive(lake, REAL_FILES[:1])
    (Path(lake.uri) / live[0]).unlink()
    client = CutoutClient(lake=lake)
    assert repr(client) == f"CutoutClient(lake {lake.uri} (in-process))"
    candid = alert_ids(REAL_FILES[0])[3]
    stored = stored_stamps(Path(lake.uri) / archived, candid)
    assert client.fits_bytes(candid=candid, kind="Template") == stored["Template"]
    with pytest.raises(CutoutClientError, match="hdfsPath: no file") as caught:
        # a root alone: its live nights would be under online/science, its archive under science
        CutoutClient(lake=str(lake.uri)).fits_bytes(candid=candid)
    assert caught.value.status == 404
