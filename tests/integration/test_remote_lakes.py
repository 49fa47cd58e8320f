"""The lake on a real HDFS and a real S3 server (ci/services.sh), through every door.

Run locally: ci/services.sh install && ci/services.sh start && eval "$(ci/services.sh env)", then
pytest tests/integration. Without those servers the tests skip, except in CI, where they fail.
"""

import getpass
import json
import os
import subprocess
import sys
import time

import pytest
from support.doors import Response
from support.namenode import audit_mark, namenode_calls
from support.real_data import SHARED_DATA
from support.servers import free_port, start_service, wait_for_http
from traitlets.config import Config

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import OutsideLake
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.paths import LakePath

NEEDED = ("HDFS_URI", "S3_ENDPOINT", "ARROW_LIBHDFS_DIR", "FINK_DFS_SCRIPT")
USER = getpass.getuser()
OBJECT = "ZTF18aaqfhlj"  # 3 alerts in the real lake
SCIENCE = "archive/science"


@pytest.fixture(scope="module", autouse=True)
def services():
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        message = f"HDFS/S3 servers not configured ({', '.join(missing)}): see ci/services.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def s3_credentials():
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = os.environ["S3_ACCESS_KEY"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = os.environ["S3_SECRET_KEY"]
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def hdfs_uri() -> str:
    return f"{os.environ['HDFS_URI']}/user/{USER}?user={USER}&replication=1"


def s3_uri(bucket: str = "fink-lake") -> str:
    endpoint = os.environ["S3_ENDPOINT"]
    return f"s3://{bucket}/ztf?endpoint_override={endpoint}&scheme=http&region=us-east-1"


def upload(lake: Lake) -> None:
    """Copy ../shared/data/ztf/lake into the remote lake (same relative paths)."""
    local = Lake(SHARED_DATA / "ztf" / "lake", science_dir=SCIENCE)
    for night in local.nights():
        for path in local.night_files(night):
            lake.filesystem.create_dir(lake.resolve(path).rsplit("/", 1)[0], recursive=True)
            with (
                local.open(path) as source,
                lake.filesystem.open_output_stream(lake.resolve(path)) as sink,
            ):
                sink.write(source.read())


@pytest.fixture(scope="module")
def local_lake():
    return Lake(SHARED_DATA / "ztf" / "lake", science_dir=SCIENCE)


@pytest.fixture(scope="module")
def hdfs_lake():
    lake = Lake(hdfs_uri(), science_dir=SCIENCE)
    upload(lake)
    return lake


@pytest.fixture(scope="module")
def s3_lake(s3_credentials):
    creator = Lake(s3_uri() + "&allow_bucket_creation=true", science_dir=SCIENCE)
    creator.filesystem.create_dir("fink-lake")
    upload(creator)
    return Lake(s3_uri(), science_dir=SCIENCE)


@pytest.fixture(scope="module", params=["hdfs", "s3"])
def remote_lake(request):
    return request.getfixturevalue(f"{request.param}_lake")


def index_remote(lake: Lake) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fink_cutout_jupyter.cli",
            "index",
            "build",
            "--lake",
            lake.uri,
            "--science-dir",
            SCIENCE,
            "--all",
            "--rebuild",  # whatever an earlier run (or version) left on the servers
            "--quiet",
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def indexed_remote(remote_lake):
    index_remote(remote_lake)
    return remote_lake


def test_the_seed_request_reads_the_same_bytes_as_locally(remote_lake, local_lake, ztf_rows):
    remote, local = CutoutReader(remote_lake), CutoutReader(local_lake)
    checked = 0
    for path in local_lake.night_files(local_lake.nights()[0]):
        assert path.startswith("archive/science/year=1988/")
        try:
            expected = local.read(path, OBJECT)
        except LookupError:
            continue
        found = remote.read(path, OBJECT)
        assert found.alert_id == expected.alert_id
        assert {k: s.fits_bytes for k, s in found.stamps.items()} == {
            k: s.fits_bytes for k, s in expected.stamps.items()
        }
        api = CutoutAPI(remote_lake).handle(
            "cutouts", {"hdfsPath": path, "objectId": OBJECT, "kind": "Science"}
        )
        local_api = CutoutAPI(local_lake).handle(
            "cutouts", {"hdfsPath": path, "objectId": OBJECT, "kind": "Science"}
        )
        assert api.status == 200
        assert api.body == local_api.body
        checked += 1
    files = {row["path"] for row in ztf_rows if row["objectId"] == OBJECT}
    assert checked == len(files) >= 1


def test_fink_object_api_request_verbatim_on_hdfs(hdfs_lake, ztf_rows):
    """Fink's object API posts the absolute HDFS path it stored, cut after the NameNode's port,
    and the candid as text; a full hdfs:// URI of the same NameNode names the same file."""
    api = CutoutAPI(hdfs_lake)
    namenode = os.environ["HDFS_URI"]
    rows = [row for row in ztf_rows if row["lake"].uri.endswith("ztf/lake")]
    for row in rows[::10]:
        absolute = f"/user/{USER}/{row['path']}"
        for hdfs_path in (absolute, f"{namenode}{absolute}"):
            body = {
                "candid": str(row["candid"]),
                "hdfsPath": hdfs_path,
                "kind": "Difference",
                "objectId": row["objectId"],
                "return_type": "FITS",
            }
            reply = api.handle("cutouts", body)
            assert reply.status == 200, reply.body
            assert reply.body == row["fits"]["Difference"]
    outside = api.handle("cutouts", {**body, "hdfsPath": f"/user/not-{USER}/{row['path']}"})
    assert outside.status == 403


def test_same_size_rewrites_on_hdfs_never_serve_another_alerts_stamps():
    import dataclasses

    from support.rewrites import real_alerts, stored_stamps, swap_rows, write_fixed_layout

    from fink_cutout_jupyter.index.build import build

    lake = Lake(f"{os.environ['HDFS_URI']}/user/{USER}/rewrites?user={USER}&replication=1")
    path = "science/year=2021/month=11/day=21/part-00000-fixed-layout.parquet"
    lake.filesystem.create_dir(lake.resolve(path).rsplit("/", 1)[0], recursive=True)
    table = real_alerts()
    write_fixed_layout(table, lake.resolve(path), lake.filesystem)
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    locations = {candid: index.alert(candid) for candid in table.column("candid").to_pylist()}
    size = lake.size(path)

    time.sleep(1.1)  # libhdfs reports mtimes in whole seconds
    write_fixed_layout(swap_rows(table, 3, 40), lake.resolve(path), lake.filesystem)
    assert lake.size(path) == size
    assert index.stale_files() == [path]  # HDFS gives the rewrite a new mtime
    now = lake.identity(path)
    for trusted in (False, True):  # as indexed, then as if the rewrite had kept the mtime
        reader = CutoutReader(lake)
        for candid, location in locations.items():
            if trusted:
                location = dataclasses.replace(
                    location, file_size=now.size, file_mtime_ns=now.mtime_ns
                )
            alert = reader.read_location(location)
            expected = stored_stamps(lake.resolve(path), candid, lake.filesystem)
            assert {k: s.fits_bytes for k, s in alert.stamps.items()} == expected
        assert reader.stale_reads == (2 if trusted else len(locations))
    lake.delete("science")
    lake.delete("_cutout_index")


def test_index_build_on_the_remote_lake_finds_every_alert(indexed_remote, local_lake, tmp_path):
    local_index = AlertIndex(local_lake, tmp_path / "local-index")
    from fink_cutout_jupyter.index.build import build

    build(local_index, local_lake.nights(), progress=False)
    remote = AlertIndex(indexed_remote)
    assert remote.stats()["entries"] == 124
    assert [(a.alert_id, a.time, a.path) for a in remote.alerts(OBJECT)] == [
        (a.alert_id, a.time, a.path) for a in local_index.alerts(OBJECT)
    ]


def test_missing_files_are_not_found(remote_lake):
    reply = CutoutAPI(remote_lake).handle(
        "cutouts", {"hdfsPath": "archive/science/none.parquet", "objectId": OBJECT}
    )
    assert reply.status == 404
    assert "no file 'archive/science/none.parquet'" in json.loads(reply.body)["text"]


def test_wrong_s3_credentials_are_a_clear_error(s3_lake, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-a-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    reply = CutoutAPI(Lake(s3_uri(), science_dir=SCIENCE)).handle("alerts", {"objectId": OBJECT})
    assert reply.status == 503
    text = json.loads(reply.body)["text"]
    assert "ACCESS_DENIED" in text or "InvalidAccessKeyId" in text or "Access Denied" in text


def test_an_s3_lake_with_its_key_in_the_uri_shows_it_nowhere(s3_lake, local_lake, monkeypatch):
    """pyarrow takes the key in the URI (``s3://KEY:SECRET@bucket/…``): the lake reads with it,
    and neither its repr, the client's, a 404's text nor a refusal's text shows it."""
    from urllib.parse import quote

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")  # the URI's key or none
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    key, secret = os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]
    userinfo = f"{quote(key, safe='')}:{quote(secret, safe='')}"
    uri = s3_uri().replace("s3://", f"s3://{userinfo}@")
    lake = Lake(uri, science_dir=SCIENCE)
    assert lake.nights() == local_lake.nights()
    missing = {"hdfsPath": "archive/science/none.parquet", "objectId": OBJECT}
    reply = CutoutAPI(lake).handle("cutouts", missing)
    assert reply.status == 404
    wrong = "wrong-secret-5d1f"
    refused = CutoutAPI(Lake(uri.replace(quote(secret, safe=""), wrong), science_dir=SCIENCE))
    refusal = refused.handle("cutouts", missing)
    assert refusal.status == 503, refusal.body
    shown = "\n".join(
        [repr(lake), repr(CutoutClient(lake=uri)), reply.body.decode(), refusal.body.decode()]
    )
    assert "s3://[secret]@fink-lake/ztf?endpoint_override=" in shown
    for credential in (key, secret, wrong):
        assert credential not in shown, shown


def test_a_made_lake_path_reads_nothing_outside_an_s3_lake(s3_lake):
    """S3 has no links to follow: a `LakePath` is inside the root by construction."""
    import pyarrow.parquet as pq

    source = next((SHARED_DATA / "ztf" / "lake").rglob("*.parquet"))
    with s3_lake.filesystem.open_output_stream("fink-lake/outside.parquet") as sink:
        sink.write(source.read_bytes())
    candid = pq.read_table(source, columns=["candid"])["candid"][0].as_py()
    with pytest.raises(OutsideLake, match=r"hdfsPath: '\.\./outside\.parquet' leaves the lake"):
        CutoutReader(s3_lake).read(LakePath("../outside.parquet"), alert_id=candid)


def test_the_standalone_service_on_s3_and_its_client(s3_lake, local_lake, tmp_path):
    index_remote(s3_lake)
    port = free_port()
    server = start_service(s3_uri(), port, "--science-dir", SCIENCE)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/openapi.json")
        remote = CutoutClient(url=f"http://127.0.0.1:{port}/")
        local_index = tmp_path / "index"
        from fink_cutout_jupyter.index.build import build

        build(AlertIndex(local_lake, local_index), local_lake.nights(), progress=False)
        local_api = CutoutAPI(local_lake, str(local_index))
        assert remote.alerts(OBJECT) == json.loads(
            local_api.handle("alerts", {"objectId": OBJECT}).body
        )
        stamps = remote.stamps(OBJECT)
        latest = remote.alerts(OBJECT)[-1]["alertId"]
        for kind, stamp in stamps.items():
            reply = local_api.handle(
                "cutouts",
                {"objectId": OBJECT, "candid": latest, "kind": kind, "return_type": "FITS"},
            )
            assert stamp.fits_bytes == reply.body
    finally:
        server.terminate()
        server.wait(timeout=30)


# The Jupyter door on HDFS: pytest-jupyter starts a real jupyter server with an hdfs:// lake.


@pytest.fixture
def jp_base_url():
    return "/user/astro/"


@pytest.fixture
def jp_server_config(hdfs_lake):
    index_remote(hdfs_lake)
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"fink_cutout_jupyter": True}},
            "FinkCutoutsApp": {"lake": hdfs_lake.uri, "science_dir": SCIENCE, "workers": 2},
        }
    )


async def fetch(jp_fetch, path: str, params: dict) -> Response:
    response = await jp_fetch(
        *path.split("/"), params=params, raise_error=False, request_timeout=120
    )
    return Response(response.code, response.headers, response.body)


async def test_the_jupyter_extension_on_hdfs_survives_a_namenode_restart(jp_fetch, local_lake):
    local = CutoutReader(local_lake)
    params = {"objectId": OBJECT, "kind": "Science", "return_type": "FITS"}
    first = await fetch(jp_fetch, "api/v1/cutouts", params)
    assert first.status == 200
    path = json.loads((await fetch(jp_fetch, "api/v1/alerts", {"objectId": OBJECT})).body)[-1][
        "hdfsPath"
    ]
    assert first.body == local.read(path, OBJECT, kinds=["Science"]).stamps["Science"].fits_bytes

    script = os.environ["FINK_DFS_SCRIPT"]
    subprocess.run(["bash", script, "namenode-stop"], check=True)
    try:
        start = time.monotonic()
        down = await fetch(jp_fetch, "api/v1/cutouts", params)
        waited = time.monotonic() - start
        assert down.status == 503, down.body
        assert "filesystem" in json.loads(down.body)["text"]
        assert waited < 60
        alive = await fetch(jp_fetch, "api/v1/openapi.json", {})
        assert alive.status == 200
    finally:
        subprocess.run(["bash", script, "namenode-start"], check=True)
    again = await fetch(jp_fetch, "api/v1/cutouts", params)
    assert again.status == 200
    assert again.body == first.body


# Servers that stop when asked: a hub stops user servers and services with SIGTERM. An HDFS
# client's JVM takes over the signals when it starts; the doors start it first and keep theirs.


def _stops_gracefully(process, url: str, headers: dict, number: int) -> None:
    import signal
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    wait_for_http(f"{url}api/v1/openapi.json", headers)
    request = urllib.request.Request(
        f"{url}api/v1/cutouts?objectId={OBJECT}&kind=Science&return_type=FITS", headers=headers
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # a real read of the lake
        assert response.status == 200
    process.send_signal(signal.Signals(number))
    assert process.wait(timeout=15) == 0, "stopped by its own handler, requests finished"
    address = urlsplit(url)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address.hostname, address.port), timeout=5).close()


@pytest.mark.parametrize("number", [15, 2], ids=["SIGTERM", "SIGINT"])
def test_the_standalone_service_stops_when_asked_after_hdfs_reads(hdfs_lake, number):
    index_remote(hdfs_lake)
    port = free_port()
    process = start_service(hdfs_lake.uri, port, "--science-dir", SCIENCE)
    try:
        _stops_gracefully(process, f"http://127.0.0.1:{port}/", {}, number)
    finally:
        process.kill()
        process.wait()


def test_the_standalone_service_stops_when_asked_after_s3_reads(s3_lake):
    index_remote(s3_lake)
    port = free_port()
    process = start_service(s3_uri(), port, "--science-dir", SCIENCE)
    try:
        _stops_gracefully(process, f"http://127.0.0.1:{port}/", {}, 15)
    finally:
        process.kill()
        process.wait()


def test_a_jupyter_server_stops_when_asked_after_hdfs_reads(hdfs_lake, tmp_path):
    from support.servers import start_jupyter_server

    index_remote(hdfs_lake)
    port = free_port()
    process = start_jupyter_server(
        hdfs_lake.uri, port, tmp_path, "/", "stop-token", science_dir=SCIENCE
    )
    try:
        _stops_gracefully(
            process, f"http://127.0.0.1:{port}/", {"Authorization": "token stop-token"}, 15
        )
    finally:
        process.kill()
        process.wait()


def test_spark_indexes_a_lake_on_hdfs_and_a_cutout_is_served_through_it(
    spark, ztf_rows, local_lake, tmp_path
):
    """Spark's executors read the lake on HDFS through pyarrow.fs; a server on that index
    serves each alert's stored stamps, and the index lists what a local build lists."""
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.spark import build_with_spark

    uri = hdfs_uri().replace(f"/user/{USER}?", f"/user/{USER}/spark-lake?")
    lake = Lake(uri, science_dir=SCIENCE)
    lake.delete("_cutout_index")  # whatever an earlier run left
    upload(lake)
    summary = build_with_spark(spark, lake, base=True, progress=False)
    rows = [row for row in ztf_rows if row["lake"].uri.endswith("ztf/lake")]
    assert (summary.files, summary.alerts) == (len({row["path"] for row in rows}), len(rows))

    local = AlertIndex(local_lake, str(tmp_path / "local-index"))
    build(local, local_lake.nights(), progress=False)
    on_hdfs = AlertIndex(lake)
    for object_id in {row["objectId"] for row in rows}:
        listed = [(a.alert_id, a.path, a.page_spans) for a in on_hdfs.alerts(object_id)]
        assert listed == [(a.alert_id, a.path, a.page_spans) for a in local.alerts(object_id)]

    port = free_port()
    process = start_service(uri, port, "--science-dir", SCIENCE)
    base = f"http://127.0.0.1:{port}/api/v1/"
    try:
        wait_for_http(f"{base}openapi.json", seconds=120)
        client = CutoutClient(url=f"http://127.0.0.1:{port}/")
        for row in rows[::5]:
            stored = client.fits_bytes(row["objectId"], row["candid"], "Science")
            assert stored == row["fits"]["Science"]
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_lookups_on_hdfs_cost_few_namenode_calls_and_print_no_java_traces(capfd):
    """A new server's lookup in a compacted index: the layout, the base's sizes and one bucket
    (one call each); a refresh: one call; uncompacted nights: one call per delta file, and
    small deltas are merged so that twelve nights are one file."""
    import datetime as dt

    from fink_cutout_jupyter.index.build import build, compact, entries_of_file, write_night

    uri = hdfs_uri().replace(f"/user/{USER}?", f"/user/{USER}/calls-lake?")
    lake = Lake(uri, science_dir=SCIENCE)
    lake.delete("_cutout_index")
    upload(lake)
    capfd.readouterr()
    build(AlertIndex(lake), lake.nights(), progress=False)  # the first build: no index yet
    compact(AlertIndex(lake), progress=False)

    since = audit_mark()
    index = AlertIndex(lake, refresh_seconds=0)
    assert len(index.alerts(OBJECT)) == 3
    calls = namenode_calls(since)
    assert len(calls) <= 4, calls
    since = audit_mark()
    index.alerts(OBJECT)
    assert [call.split()[0] for call in namenode_calls(since)] == ["open"], "the layout only"

    night = lake.nights()[0]
    template = entries_of_file(lake, lake.night_files(night)[0], night).entries
    for number in range(12):  # twelve nightly builds
        day = dt.date(2030, 1, 1) + dt.timedelta(days=number)
        write_night(AlertIndex(lake), day, template.slice(0, 1), {}, "ztf")
    since = audit_mark()
    assert len(AlertIndex(lake).alerts(OBJECT)) >= 3
    calls = namenode_calls(since)
    layout = json.loads(lake.read_small("_cutout_index/layout.json"))
    assert len(layout["deltas"]) == 1, "small nights are merged into one delta"
    assert len(calls) <= 3 + len(layout["deltas"]), calls
    assert all(call.split()[0] == "open" for call in calls), calls
    stderr = capfd.readouterr().err
    assert "Exception" not in stderr, stderr[-3000:]
    assert "Failed to close" not in stderr, stderr[-3000:]


def test_a_fresh_lookup_in_a_bucketed_delta_on_hdfs_opens_one_bucket(monkeypatch):
    """The lake's nights indexed again as one hash-bucketed delta (as a Rubin night of 10^7
    entries is) over a compacted base: a new server's lookup opens the layout, the base's
    sizes, one base bucket and the key's bucket of the delta: at most 4 NameNode calls."""
    from fink_cutout_jupyter.index import buckets
    from fink_cutout_jupyter.index.build import build, compact

    uri = hdfs_uri().replace(f"/user/{USER}?", f"/user/{USER}/bucketed-lake?")
    lake = Lake(uri, science_dir=SCIENCE)
    lake.delete("_cutout_index")
    upload(lake)
    build(AlertIndex(lake), lake.nights(), progress=False)
    compact(AlertIndex(lake), progress=False)
    monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", 8)
    build(AlertIndex(lake), lake.nights(), progress=False)
    (delta,) = json.loads(lake.read_small("_cutout_index/layout.json"))["deltas"]
    assert delta["buckets"] >= 8

    for object_id in (OBJECT, "ZTF18abwvktq", "ZTF20aawkwsc"):
        since = audit_mark()
        index = AlertIndex(lake, refresh_seconds=0)
        found = index.alerts(object_id)
        calls = namenode_calls(since)
        index.close()
        assert len(calls) <= 4, calls
        opened = [call for call in calls if "/delta/" in call]
        assert len(opened) == 1, calls
        assert f"/delta/objects/{delta['name']}/bucket-" in opened[0]
        assert found, object_id
    assert len(AlertIndex(lake).alerts(OBJECT)) == 3


def test_a_second_process_maps_hadoops_classes_from_the_archive_the_first_made(hdfs_lake, tmp_path):
    """The JVM of libhdfs: the first process records its classes and dumps the archive when it
    exits; the next one loads them from it. No warning on stderr from either."""
    script = (
        "import sys; from fink_cutout_jupyter.storage.lake import Lake; Lake(sys.argv[1]).nights()"
    )
    command = [sys.executable, "-c", script, hdfs_uri()]
    environ = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    environ.pop("FINK_CUTOUTS_JVM_ARCHIVE", None)
    first = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    directory = tmp_path / "fink-cutouts" / "jvm"
    deadline = time.monotonic() + 90
    while not list(directory.glob("*.jsa")) and time.monotonic() < deadline:
        time.sleep(0.1)
    while len(os.listdir(directory)) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [path.suffix for path in directory.iterdir()] == [".jsa"], "no list, no partial"

    log = tmp_path / "classes.log"
    environ["LIBHDFS_OPTS"] = f"-Xlog:class+load=info:file={log}"
    second = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    sources = {
        line.split()[1]: line.split(" source: ", 1)[1]
        for line in log.read_text().splitlines()
        if " source: " in line
    }
    hadoop = {name: source for name, source in sources.items() if "org.apache.hadoop" in name}
    assert hadoop["org.apache.hadoop.hdfs.DistributedFileSystem"] == "shared objects file"
    shared = sum(source == "shared objects file" for source in hadoop.values())
    assert shared >= 0.9 * len(hadoop), f"{shared} of {len(hadoop)} Hadoop classes shared"
    for run in (first, second):
        assert "Exception" not in run.stderr, run.stderr
        assert "[warning]" not in run.stderr, run.stderr


# The index's writer lock on HDFS and S3 (best effort there: pyarrow has no exclusive create).

HOLD_THE_INDEX = """
import sys
from fink_cutout_jupyter.index.lock import WriterLock
from fink_cutout_jupyter.storage.lake import Lake

with WriterLock(Lake(sys.argv[1]), "index build --night 19881103"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def index_elsewhere(lake: Lake) -> str:
    """An index root of its own beside the remote lake (emptied, its lock broken)."""
    from fink_cutout_jupyter.index.build import remove
    from fink_cutout_jupyter.index.lock import break_lock

    if lake.uri.startswith("s3://"):
        endpoint = os.environ["S3_ENDPOINT"]
        uri = f"s3://fink-lake/lock-index?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    else:
        uri = f"{os.environ['HDFS_URI']}/user/{USER}/lock-index?user={USER}&replication=1"
    index = AlertIndex(lake, uri)
    break_lock(index.store, force=True)
    remove(index)
    return uri


def test_a_second_index_writer_on_a_remote_lake_is_refused_naming_the_first(remote_lake, capsys):
    import signal

    from fink_cutout_jupyter.cli import main

    root = index_elsewhere(remote_lake)
    arguments = ["--lake", remote_lake.uri, "--science-dir", SCIENCE, "--index", root, "-q"]
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_INDEX, root],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as holder:
        while (line := holder.stdout.readline()) not in ("held\n", ""):
            pass  # Hadoop's own log lines
        assert line == "held\n"
        capsys.readouterr()
        assert main(["index", "build", "--all", *arguments]) == 1
        error = capsys.readouterr().err
        assert "another writer holds" in error, error
        assert f"pid {holder.pid}" in error
        assert "'index build --night 19881103'" in error
        assert "S3_SECRET" not in error
        assert os.environ["S3_SECRET_KEY"] not in error
        holder.send_signal(signal.SIGKILL)  # its lock stays, stale: its pid is gone
        holder.wait(60)
    assert main(["index", "build", "--all", *arguments]) == 0
    index = AlertIndex(remote_lake, root)
    assert index.verify() == []
    assert len(index.alerts(OBJECT)) == 3


def test_a_writer_past_the_lock_on_a_remote_lake_does_not_publish_over_another(
    remote_lake, monkeypatch
):
    """Writer A stopped before its first index file; the lock broken, writer B builds and
    publishes; A then refuses (its lock is gone, its file names are taken) and B's index is
    whole."""
    import threading

    from fink_cutout_jupyter.errors import IndexBusy
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lock import break_lock

    root = index_elsewhere(remote_lake)
    stopped, go = threading.Event(), threading.Event()
    create = Lake.create_exclusively

    def paused(lake, relative, data):
        if threading.current_thread().name == "A" and relative.startswith("nights/"):
            stopped.set()
            assert go.wait(120)
        return create(lake, relative, data)

    monkeypatch.setattr(Lake, "create_exclusively", paused)
    outcome = {}

    def first() -> None:
        try:
            build(AlertIndex(remote_lake, root), remote_lake.nights(), progress=False)
        except IndexBusy as error:
            outcome["error"] = error

    writer = threading.Thread(target=first, name="A")
    writer.start()
    assert stopped.wait(120)
    second = AlertIndex(remote_lake, root)
    break_lock(second.store, force=True)
    build(second, remote_lake.nights(), progress=False)
    go.set()
    writer.join(120)
    assert isinstance(outcome.get("error"), IndexBusy), outcome
    index = AlertIndex(remote_lake, root)
    assert index.verify() == []
    assert len(index.alerts(OBJECT)) == 3


def test_a_missing_hdfs_block_is_an_outage_not_corrupt_data():
    """The NameNode answers (a stat works) but no DataNode has the file's block (deleted from
    the DataNode's disk, as a lost disk would): 503, worth retrying, not 502 'does not
    decode'. Only this test's own file's block is deleted (found through the NameNode's fsck)."""
    import glob
    import re
    import urllib.request
    import uuid

    local = Lake(SHARED_DATA / "ztf" / "lake", science_dir=SCIENCE)
    path = local.night_files("19881103")[0]
    directory = f"outage-{uuid.uuid4().hex[:8]}"
    # The client's pause between tries for a block: 50 ms instead of 3 s (three tries).
    uri = f"{os.environ['HDFS_URI']}/user/{USER}/{directory}?user={USER}&replication=1"
    lake = Lake(f"{uri}&dfs.client.retry.window.base=50", science_dir=SCIENCE)
    lake.filesystem.create_dir(lake.resolve(path).rsplit("/", 1)[0], recursive=True)
    with local.open(path) as source, lake.filesystem.open_output_stream(lake.resolve(path)) as sink:
        sink.write(source.read())
    params = {"hdfsPath": path, "objectId": OBJECT, "kind": "Science"}
    try:
        assert CutoutAPI(lake).handle("cutouts", params).status == 200
        fsck = (
            urllib.request.urlopen(
                f"http://127.0.0.1:50070/fsck?ugi={USER}&files=1&blocks=1"
                f"&path=/user/{USER}/{directory}",
                timeout=30,
            )
            .read()
            .decode()
        )
        blocks = set(re.findall(r"blk_(\d+)_\d+", fsck))
        assert len(blocks) == 1, fsck
        stored = [
            file
            for block in blocks
            for file in glob.glob(
                f"{os.environ['FINK_DFS_ROOT']}/data/data/**/blk_{block}*", recursive=True
            )
        ]
        assert stored, f"no file of block {blocks} on the DataNode's disk"
        for file in stored:
            os.remove(file)
        assert lake.identity(path).size > 0  # the NameNode still answers
        reply = CutoutAPI(lake).handle("cutouts", params)
        text = json.loads(reply.body)["text"]
        assert reply.status == 503, text
        assert f"failed reading hdfsPath: {path}" in text
        assert "does not decode" not in text
    finally:
        lake.filesystem.delete_dir(f"/user/{USER}/{directory}")


def test_an_s3_lake_answers_the_full_uri_of_its_own_files(s3_lake, ztf_rows):
    """A client may send the ``s3://bucket/prefix/…`` URI of a file, with or without the key in
    front of the bucket: the same file as its path relative to the root; another bucket's URI,
    or a place outside the root, is refused (403) without showing the key."""
    from urllib.parse import quote

    api = CutoutAPI(s3_lake)
    key, secret = os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"]
    userinfo = f"{quote(key, safe='')}:{quote(secret, safe='')}@"
    rows = [row for row in ztf_rows if row["lake"].uri.endswith("ztf/lake")]
    assert rows
    for row in rows[::10]:
        for uri in (
            f"s3://fink-lake/ztf/{row['path']}",
            f"s3://{userinfo}fink-lake/ztf/{row['path']}",
        ):
            body = {
                "candid": str(row["candid"]),
                "hdfsPath": uri,
                "kind": "Science",
                "objectId": row["objectId"],
                "return_type": "FITS",
            }
            reply = api.handle("cutouts", body)
            assert reply.status == 200, reply.body
            assert reply.body == row["fits"]["Science"]
    for elsewhere in (
        f"s3://{userinfo}other-bucket/ztf/{row['path']}",
        f"s3://other-bucket/ztf/{row['path']}",
        f"s3://fink-lake/{row['path']}",
    ):
        refusal = api.handle("cutouts", {**body, "hdfsPath": elsewhere})
        assert refusal.status == 403, refusal.body
        text = json.loads(refusal.body)["text"]
        assert text.startswith("hdfsPath: "), text
        for credential in (key, secret):
            assert credential not in text, text


def test_stamps_on_spark_from_a_lake_on_hdfs_are_the_stored_ones_and_export_there(spark, ztf_rows):
    """Spark's executors locate and read the ids on HDFS (pyarrow's libhdfs): each alert's
    stored FITS bytes and astropy's pixels; the export is written on HDFS by Spark's Hadoop
    client beside `out`, renamed to it, and an existing `out` is refused."""
    import io
    import uuid

    import numpy as np
    import pyarrow.parquet as pq
    from astropy.io import fits
    from pyarrow import fs

    from fink_cutout_jupyter.doors.spark import cutouts_with_spark, export_with_spark
    from fink_cutout_jupyter.errors import BadParameter
    from fink_cutout_jupyter.index.build import build

    uri = hdfs_uri().replace(f"/user/{USER}?", f"/user/{USER}/spark-cutouts-lake?")
    lake = Lake(uri, science_dir=SCIENCE)
    lake.delete("_cutout_index")  # whatever an earlier run left
    upload(lake)
    build(AlertIndex(lake), lake.nights(), progress=False)
    rows = [row for row in ztf_rows if row["lake"].uri.endswith("ztf/lake")]
    ids = spark.createDataFrame([(row["candid"],) for row in rows] + [(1,)], "candid long")

    stored = {r["id"]: r for r in cutouts_with_spark(spark, ids, lake, output="FITS").collect()}
    assert len(stored) == len(rows) + 1
    assert stored["1"]["status"].startswith("not found: candid: no alert 1")
    for row in rows:
        answer = stored[str(row["candid"])]
        assert (answer["status"], answer["alertId"], answer["hdfsPath"]) == (
            "ok",
            row["candid"],
            row["path"],
        )
        assert {kind: bytes(answer[kind]) for kind in row["fits"]} == row["fits"]

    folder = f"/user/{USER}/spark-exports-{uuid.uuid4().hex}"
    out = f"{os.environ['HDFS_URI']}{folder}/stamps.parquet"
    summary = export_with_spark(spark, ids, lake, out, kinds=["Science"])
    assert (summary.rows, summary.ok, summary.not_found, summary.failed) == (
        len(rows) + 1,
        len(rows),
        1,
        0,
    )
    listed = lake.filesystem.get_file_info(fs.FileSelector(folder))
    assert [info.base_name for info in listed] == ["stamps.parquet"], "no temporary left"
    table = pq.read_table(f"{folder}/stamps.parquet", filesystem=lake.filesystem)
    exported = {record["id"]: record for record in table.to_pylist()}
    for row in rows:
        record = exported[str(row["candid"])]
        with fits.open(io.BytesIO(row["fits"]["Science"]), ignore_missing_simple=True) as hdus:
            expected = hdus[0].data.astype(np.float32)
        found = np.asarray(record["Science"], np.float32)
        shape = (record["Science_height"], record["Science_width"])
        assert np.array_equal(found.reshape(shape), expected, equal_nan=True)
    with pytest.raises(BadParameter, match="exists"):
        export_with_spark(spark, ids, lake, out)
    lake.filesystem.delete_dir(folder)
