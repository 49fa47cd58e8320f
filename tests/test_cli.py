import json
import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from fink_cutout_jupyter.cli import main
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID


def test_get_writes_the_original_fits(ztf_rows, tmp_path):
    row = ztf_rows[-1]
    out = tmp_path / "stamp.fits"
    status = main(
        [
            "get",
            row["objectId"],
            "--lake",
            str(row["lake"].uri),
            "--path",
            row["path"],
            "--candid",
            str(row["candid"]),
            "--kind",
            "Science",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    assert out.read_bytes() == row["fits"]["Science"]


def test_get_array_to_stdout(demo, capsysbinary):
    path = demo.demo_object_files[-1]
    status = main(
        ["get", DEMO_OBJECT_ID, "--lake", str(demo.root), "--path", path, "--format", "array"]
    )
    assert status == 0
    arrays = json.loads(capsysbinary.readouterr().out)
    assert [np.array(a).shape for a in arrays] == [(63, 63)] * 3


def test_get_png_and_all_fits(demo, tmp_path):
    path = demo.demo_object_files[0]
    for fmt, magic in [("png", b"\x89PNG"), ("fits", b"SIMPLE")]:
        out = tmp_path / f"all.{fmt}"
        assert (
            main(
                [
                    "get",
                    DEMO_OBJECT_ID,
                    "--lake",
                    str(demo.root),
                    "--path",
                    path,
                    "--format",
                    fmt,
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        assert out.read_bytes().startswith(magic)
    with fits.open(tmp_path / "all.fits") as packed:
        assert len(packed) == 4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["ZTF24aaaaaaa"], "objectId: no alert of ZTF24aaaaaaa"),
        (["toto"], "objectId: 'toto' is not a ZTF object id"),
        ([], "objectId: give an OBJECT_ID or --candid"),
        ([DEMO_OBJECT_ID, "--candid", "x1"], "candid: 'x1' is not an id (a whole number"),
    ],
)
def test_get_fails_with_one_line(demo, capsys, arguments, message):
    path = demo.demo_object_files[0]
    assert main(["get", *arguments, "--lake", str(demo.root), "--path", path]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert message in error


def test_get_refuses_paths_outside_the_lake(demo, capsys):
    assert main(["get", DEMO_OBJECT_ID, "--lake", str(demo.root), "--path", "/etc/passwd"]) == 1
    assert "is outside the lake root" in capsys.readouterr().err


def test_demo_command_writes_a_lake_and_says_where(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "fink_cutout_jupyter.cli",
            "demo",
            "--out",
            str(tmp_path / "lake"),
            "--no-lab",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"Demo lake: {tmp_path / 'lake'}" in completed.stdout
    command = completed.stdout.split("try: ", 1)[1].splitlines()[0].split()
    assert command[:2] == ["fink-cutouts", "get"]
    out = tmp_path / "stamp.fits"
    assert "--path" not in command, "the demo lake is indexed: the object id is enough"
    assert main([*command[1:-1], str(out)]) == 0
    with fits.open(out, ignore_missing_simple=True) as stamp:
        assert stamp[0].data.shape == (63, 63)
    second = completed.stdout.split("or: ", 1)[1].splitlines()[0].split()
    assert main([*second[1:-1], str(tmp_path / "stamps.png")]) == 0


def _processes_mentioning(text: str) -> list[int]:
    """Pids of the processes whose command line holds `text` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as stream:
                    if text.encode() in stream.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_demo_opens_jupyterlab_on_the_quickstart_and_stops_with_it(tmp_path):
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environment = {
        **os.environ,
        "JUPYTER_TOKEN": "demo-test-token",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    lake = tmp_path / "lake"
    log = (tmp_path / "demo.log").open("w")
    command = ["demo", "--out", str(lake), "--port", str(port), "--no-browser"]
    process = subprocess.Popen(
        [sys.executable, "-m", "fink_cutout_jupyter.cli", *command],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    headers = {"Authorization": "token demo-test-token"}
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                request = urllib.request.Request(
                    f"{base}/api/v1/alerts?objectId={DEMO_OBJECT_ID}", headers=headers
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    alerts = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the demo's JupyterLab did not answer")
        assert len(alerts) == 5
        request = urllib.request.Request(f"{base}/api/contents/quickstart.ipynb", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["type"] == "notebook"
        for path in ("/lab/tree/quickstart.ipynb", "/tree", "/notebooks/quickstart.ipynb"):
            with urllib.request.urlopen(
                urllib.request.Request(f"{base}{path}", headers=headers), timeout=10
            ) as response:
                assert response.status == 200, path
        printed = (tmp_path / "demo.log").read_text()
        assert f":{port}/lab/tree/quickstart.ipynb?token=" in printed
        assert _processes_mentioning(str(lake)), "JupyterLab runs on the demo lake"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
    deadline = time.monotonic() + 30
    while _processes_mentioning(str(lake)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(str(lake)) == [], "stopping the demo stops its JupyterLab"
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_an_index_of_an_older_format_says_how_to_rebuild_it(ztf_lake, tmp_path, capsys):
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.index.layout import INDEX_FORMAT

    lake = ["--lake", ztf_lake.uri, "--science-dir", "archive/science"]
    index = ["--index", str(tmp_path / "index")]
    assert main(["index", "build", *lake, *index, "--all", "-q"]) == 0
    layout = tmp_path / "index" / "layout.json"
    layout.write_text(json.dumps({**json.loads(layout.read_text()), "format": 2}))

    reply = CutoutAPI(ztf_lake, str(tmp_path / "index")).handle(
        "cutouts", {"objectId": "ZTF18aaqfhlj"}
    )
    assert reply.status == 503
    assert (
        f"in format 2, this version reads format {INDEX_FORMAT}" in json.loads(reply.body)["text"]
    )
    assert main(["index", "build", *lake, *index, "--all", "-q"]) == 1
    assert "--all --rebuild" in capsys.readouterr().err
    assert main(["index", "build", *lake, *index, "--all", "--rebuild", "-q"]) == 0
    reply = CutoutAPI(ztf_lake, str(tmp_path / "index")).handle(
        "cutouts", {"objectId": "ZTF18aaqfhlj"}
    )
    assert reply.status == 200


HOLD_THE_INDEX = """
import sys
from fink_cutout_jupyter.index.lock import WriterLock
from fink_cutout_jupyter.storage.lake import Lake

with WriterLock(Lake(sys.argv[1]), "index build --night 20241121"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_index_writers_while_another_writes_exit_1_naming_it_or_wait(demo, tmp_path, capsys):
    import shutil
    import threading

    shutil.copytree(demo.root / "science", tmp_path / "science")
    index = ["--lake", str(tmp_path), "--index", str(tmp_path / "index"), "-q"]
    assert main(["index", "build", "--night", "20241120", *index]) == 0
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_INDEX, str(tmp_path / "index")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout.readline() == "held\n"
        capsys.readouterr()
        for command in (["build", "--night", "20241122"], ["compact"], ["build", "--all"]):
            assert main(["index", *command, *index]) == 1
            error = capsys.readouterr().err
            assert error.startswith("fink-cutouts: error: index: another writer holds "), error
            for detail in (f"pid {holder.pid}", "'index build --night 20241121'", "unlock"):
                assert detail in error
        status = []
        waiting = threading.Thread(
            target=lambda: status.append(
                main(["index", "build", "--night", "20241122", "--wait", "60", *index])
            )
        )
        waiting.start()
        holder.stdin.write("done\n")
        holder.stdin.flush()
        waiting.join(60)
        holder.wait(30)
    assert status == [0]
    assert main(["index", "stats", *index[:4], "--verify"]) == 0
    assert "nights: 2" in capsys.readouterr().out


def test_the_lake_commands_take_its_archive_and_live_directories(tmp_path, capsys):
    """One root holding ``archive/science`` and live nights under another directory: the index
    commands build the archive, and ``get`` serves a removed live file's alert from it."""
    from support.lifecycle import REAL_FILES, alert_ids, lifecycle_lake, write_archive, write_online
    from support.rewrites import stored_stamps

    lake = lifecycle_lake(tmp_path / "lake", online_dir="stream/science")
    live = write_online(lake, REAL_FILES[:1])
    archived = write_archive(lake, REAL_FILES[:1])
    directories = ["--science-dir", "archive/science", "--online-dir", "stream/science"]
    root = ["--lake", lake.uri, *directories]
    assert main(["index", "build", *root, "--all", "-q"]) == 0
    assert main(["index", "stats", *root]) == 0
    assert "nights: 1" in capsys.readouterr().out
    (tmp_path / "lake" / live[0]).unlink()
    candid = alert_ids(REAL_FILES[0])[4]
    out = tmp_path / "stamp.fits"
    get = ["get", "--candid", str(candid), *root, "--kind", "Science", "-o", str(out)]
    expected = stored_stamps(tmp_path / "lake" / archived, candid)["Science"]
    assert main(get) == 0
    assert out.read_bytes() == expected
    out.unlink()
    # the removed live path with the alert id, as Fink's portal sends them: from the archive too
    assert main([*get, "--path", live[0]]) == 0
    assert out.read_bytes() == expected
    other = ["get", "--path", live[0], *root, "--kind", "Science", "-o", str(out)]
    assert main([*other, "ZTF18abcdefg"]) == 1  # no alert id: the path asked for is gone
    assert "no file" in capsys.readouterr().err


def test_demo_live_streams_tonight_and_follows_it_until_sigterm(tmp_path):
    """`demo --live --no-lab`: micro-batches committed to tonight's live night, indexed by the
    follower as they come; SIGTERM stops both, and the alerts are served with their ids."""
    import signal
    import time

    import pyarrow.parquet as pq

    from fink_cutout_jupyter.client import CutoutClient
    from fink_cutout_jupyter.index.layout import read_layout
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.storage.sink_log import read_commits

    lake = tmp_path / "lake"
    command = ["demo", "--out", str(lake), "--no-lab", "--live", "--batch-seconds", "0.5"]
    log = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "fink_cutout_jupyter.cli", *command],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while "live night:" not in (tmp_path / "demo.log").read_text():
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "the demo did not start its live night"
            time.sleep(0.2)
        index = AlertIndex(Lake(lake))
        while max((read_layout(index.store) or {}).get("online", {}).values(), default=-1) < 1:
            assert time.monotonic() < deadline, "no 2 batches indexed by the follower"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        log.close()
    (night,) = Lake(lake).online_nights()
    indexed = read_layout(index.store)["online"][f"{night:%Y%m%d}"]
    committed = read_commits(Lake(lake), f"online/science/{night:%Y%m%d}", latest=indexed)
    client = CutoutClient(lake=str(lake))
    candids = {a["alertId"] for a in client.alerts(DEMO_OBJECT_ID)}
    for file in committed.files:
        table = pq.read_table(lake / file.path, columns=["objectId", "candid"]).to_pylist()
        assert {r["candid"] for r in table if r["objectId"] == DEMO_OBJECT_ID} <= candids
    assert len(candids) >= 5 + 2


def test_demo_live_in_jupyterlab_shows_an_alert_streamed_a_minute_ago(tmp_path):
    """Issue 23's "done when": with `demo --live`, the viewer on the demo's JupyterLab shows an
    alert committed less than a minute ago, with the stamps of its part file (pyarrow's bytes,
    astropy's decoding), and its light curve includes it."""
    import gzip
    import io
    import signal
    import socket
    import time
    import urllib.request

    import pyarrow.parquet as pq
    from astropy.time import Time

    from fink_cutout_jupyter.client import CutoutClient
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.storage.sink_log import read_commits
    from fink_cutout_jupyter.surveys import KINDS
    from fink_cutout_jupyter.widgets.viewer import CutoutViewer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "demo-live-test-token"
    environment = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_TOKEN": token,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    lake = tmp_path / "lake"
    command = ["demo", "--out", str(lake), "--live", "--batch-seconds", "2", "--no-browser"]
    log = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "fink_cutout_jupyter.cli", *command, "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        alerts: list = []
        while len(alerts) < 5 + 2:
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "tonight's alerts never reached the server"
            try:
                request = urllib.request.Request(
                    f"{base}/api/v1/alerts?objectId={DEMO_OBJECT_ID}",
                    headers={"Authorization": f"token {token}"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    alerts = json.loads(response.read())
            except OSError:
                pass
            time.sleep(0.5)
        viewer = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(url=base, token=token))
        now = Time.now().jd
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
    assert viewer.message.value == ""
    (night,) = Lake(lake).online_nights()
    rows = [
        row
        for file in read_commits(Lake(lake), f"online/science/{night:%Y%m%d}").files
        for row in pq.read_table(lake / file.path).to_pylist()
        if row["candid"] == viewer.alert
    ]
    assert len(rows) == 1, "the alert shown is in a committed part file of tonight"
    (row,) = rows
    assert row["objectId"] == DEMO_OBJECT_ID
    assert now - row["candidate"]["jd"] < 60 / 86400, "streamed less than a minute ago"
    assert max(p["jd"] for p in viewer.light_curve.points) == row["candidate"]["jd"]
    assert str(row["candid"]) in {p["alertId"] for p in viewer.light_curve.points}
    sent = {stamp["kind"]: stamp for stamp in viewer.panels.stamps}
    for kind in KINDS:
        stored = gzip.decompress(row[f"cutout{kind}"]["stampData"])
        with fits.open(io.BytesIO(stored)) as hdul:
            expected = hdul[0].data.astype("<f4")
        pixels = np.frombuffer(sent[kind]["pixels"], dtype="<f4").reshape(expected.shape)
        np.testing.assert_array_equal(pixels, expected)


@pytest.fixture(scope="module")
def rubin_index(rubin_lake, tmp_path_factory):
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    root = str(tmp_path_factory.mktemp("cli-rubin-index"))
    build(AlertIndex(rubin_lake, root), rubin_lake.nights(), progress=False)
    return root


def test_history_prints_a_solar_system_objects_points_as_a_table_or_json(
    rubin_lake, rubin_index, rubin_records, capsys
):
    from support.expected_history import assert_points, rubin_history

    ss_object_id = 21163624394469969
    latest, expected = rubin_history(rubin_records, ss_object_id=ss_object_id)
    where = ["--lake", rubin_lake.uri, "--index", rubin_index]
    assert main(["history", str(ss_object_id), "--ss", *where, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert_points(body, expected, "tai")
    assert main(["history", str(ss_object_id), "--ss", *where]) == 0
    title, header, *rows = capsys.readouterr().out.splitlines()
    assert title == (
        f"solar-system object {ss_object_id} (2004 JQ12): 1 points, value in nJy, "
        f"latest alert {latest['diaSourceId']}"
    )
    assert header.split() == ["kind", "time", "mjd", "band", "value", "error", "alertId", "indexed"]
    [row] = rows
    source = latest["diaSource"]
    assert row.split() == [
        "detection",
        body["points"][0]["time"],
        f"{source['midpointMjdTai']:.6f}",
        source["band"],
        f"{source['psfFlux']:.6g}",
        f"{source['psfFluxErr']:.3g}",
        str(latest["diaSourceId"]),
        "yes",
    ]


def test_history_of_a_rubin_object_lists_its_forced_photometry(
    rubin_lake, rubin_index, rubin_records, capsys
):
    from support.expected_history import rubin_history

    record = next(r for r in rubin_records if r.get("prvDiaForcedSources"))
    object_id = record["diaObject"]["diaObjectId"]
    _, expected = rubin_history(rubin_records, object_id=object_id)
    assert main(["history", str(object_id), "--lake", rubin_lake.uri, "--index", rubin_index]) == 0
    title, _, *rows = capsys.readouterr().out.splitlines()
    assert title.startswith(f"lsst object {object_id}: {len(expected)} points, value in nJy")
    kinds = [row.split()[0] for row in rows]
    assert kinds.count("forced") == sum(point.kind == "forced" for point in expected) > 300


def test_history_over_http_and_its_refusals(served_demo, demo, capsys):
    from pathlib import Path

    from support.expected_history import assert_points, ztf_history

    assert main(["history", DEMO_OBJECT_ID, "--url", served_demo, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    files = sorted(Path(demo.root, "science").rglob("*.parquet"))
    assert_points(body, ztf_history(files, DEMO_OBJECT_ID)[1], "utc")
    for where in (["--url", served_demo], ["--lake", str(demo.root)]):
        assert main(["history", "ZTF99zzzzzzz", *where]) == 1
        assert "objectId: no alert of ZTF99zzzzzzz" in capsys.readouterr().err
        assert main(["history", "x", "--ss", *where]) == 1
        assert "ssObjectId: 'x' is not an id" in capsys.readouterr().err


def _export_ids(demo, count: int, tmp_path) -> tuple[list[int], str]:
    import pyarrow.parquet as pq

    files = sorted(demo.root.glob("science/**/*.parquet"))
    ids = pq.read_table(files, columns=["candid"]).column("candid").to_pylist()[:count]
    path = tmp_path / "ids.txt"
    path.write_text("# alert ids\n" + "\n".join(map(str, [*ids, 1])) + "\n\n")
    return [*ids, 1], str(path)


def test_export_killed_after_a_part_resumes_to_what_an_uninterrupted_export_writes(
    demo, tmp_path, capsys
):
    """The exporter stops itself once part 2 is in place (its test hook), is refused a second
    writer, is SIGKILLed there, and leaves nothing under the final name; the rerun continues
    from its 3 parts and writes what an uninterrupted export writes."""
    import signal

    from support.exports import assert_same_export

    from fink_cutout_jupyter.client.export import STOP_AFTER_PART

    _, ids = _export_ids(demo, 120, tmp_path)
    out = tmp_path / "set.parquet"
    command = ["export", ids, "--lake", str(demo.root), "--out", str(out), "--batch-size", "30"]
    exporter = subprocess.Popen(
        [sys.executable, "-m", "fink_cutout_jupyter.cli", *command, "-q"],
        env={**os.environ, STOP_AFTER_PART: "2"},
    )
    try:
        _, status = os.waitpid(exporter.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        parts = tmp_path / "set.parquet.parts"
        assert sorted(p.name for p in parts.iterdir()) == [
            "manifest.json",
            *(f"part-00000{n}.arrow" for n in range(3)),
        ]
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "ids.txt",
            "set.parquet.lock",
            "set.parquet.parts",
        ]
        assert main([*command, "-q"]) == 1
        assert f"another export writes it (process {exporter.pid}," in capsys.readouterr().err
    finally:
        exporter.send_signal(signal.SIGKILL)
        exporter.wait(timeout=30)
    assert not out.exists()
    assert main([*command, "-q"]) == 0
    said = capsys.readouterr().out
    assert "121 rows to" in said
    assert "3 of 5 parts from an earlier run" in said
    assert "not found 1" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.txt", "set.parquet"]
    whole = tmp_path / "whole.parquet"
    assert main(["export", ids, "--lake", str(demo.root), "--out", str(whole), "-q"]) == 0
    assert_same_export(out, whole)


def test_export_takes_a_column_of_a_csv_or_parquet_file_and_writes_npy(demo, tmp_path, capsys):
    import pyarrow.parquet as pq
    from pyarrow import csv
    from support.exports import exported

    files = sorted(demo.root.glob("science/**/*.parquet"))
    alerts = pq.read_table(files, columns=["objectId", "candid"]).slice(0, 12)
    csv.write_csv(alerts, tmp_path / "ids.csv")
    pq.write_table(alerts.rename_columns(["name", "alertId"]), tmp_path / "ids.parquet")

    def export(ids: str, out: str, *extra: str) -> list[dict]:
        command = ["export", str(tmp_path / ids), "--lake", str(demo.root), "-q"]
        assert main([*command, "--out", str(tmp_path / out), *extra]) == 0
        return pq.read_table(tmp_path / out.replace(".npy", ".npy.parquet")).to_pylist()

    rows = export("ids.csv", "a.parquet")  # objectId, the first id column: latest alerts
    assert [row["id"] for row in rows] == alerts.column("objectId").to_pylist()
    assert [row["objectId"] for row in rows] == alerts.column("objectId").to_pylist()
    rows = export(
        "ids.csv", "b.npy", "--column", "candid", "--format", "npy", "--kind", "Difference"
    )
    assert [row["alertId"] for row in rows] == alerts.column("candid").to_pylist()
    assert "Difference" not in rows[0]
    npy = np.load(tmp_path / "b.npy")
    assert npy.shape == (12, 1, 63, 63)
    assert "  table: " in capsys.readouterr().out
    rows = export("ids.parquet", "c.parquet")  # its alertId column: alert ids
    assert [row["alertId"] for row in rows] == alerts.column("candid").to_pylist()
    _, stamps = exported(tmp_path / "c.parquet")
    assert np.array_equal(stamps["Difference"], npy[:, 0], equal_nan=True)


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        (
            "ids.csv",
            "candid,ra\n1,2\n",
            ["--column", "objectid"],
            "column: 'objectid' is not a column of {path}; its columns: candid, ra",
        ),
        (
            "ids.csv",
            "ra,dec\n1,2\n",
            [],
            "column: {path} has none of objectId, candid, diaObjectId, diaSourceId, alertId, id; "
            "name its column of ids with --column (its columns: ra, dec)",
        ),
        ("ids.csv", "candid,ra\n1,2\n,3\n", [], "column: candid of {path} is empty in row 2"),
        ("ids.txt", "\n# nothing\n", [], "IDS: {path} holds no ids"),
        ("ids.csv", "candid\n", [], "IDS: {path} holds no ids"),
        ("ids.json", "[1, 2]", [], "IDS: {path}: unknown format '.json'; give a text file"),
        ("ids.txt", "1\n", ["--column", "candid"], "column: {path} is a text file"),
        ("ids.parquet", "not parquet", [], "IDS: {path} cannot be read as parquet"),
    ],
)
def test_export_bad_ids_files_are_named(demo, tmp_path, capsys, name, content, extra, message):
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "set.parquet"
    assert main(["export", str(path), "--lake", str(demo.root), "--out", str(out), *extra]) == 1
    assert f"fink-cutouts: error: {message.format(path=path)}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_export_refused_by_the_batch_door_says_why_in_one_line(demo, tmp_path, capsys):
    """A request the batch door refuses (a malformed id: 400; a server that cannot be reached:
    503, which a rerun resumes) ends in one line and status 1, not a traceback; the ids fixed,
    the same --out exports (the refused run wrote no part worth keeping)."""
    bad = tmp_path / "bad.txt"
    bad.write_text("notanid\n")
    out = str(tmp_path / "set.parquet")
    command = ["export", str(bad), "--lake", str(demo.root), "--out", out, "--by", "objectId"]
    assert main([*command, "-q"]) == 1
    error = capsys.readouterr().err
    assert error == (
        "fink-cutouts: error: objectId[0]: 'notanid' is not a ZTF object id; expected something "
        "like 'ZTF24abssjsb'\n"
    )
    _, ids = _export_ids(demo, 5, tmp_path)
    assert main(["export", ids, "--url", "http://127.0.0.1:9/", "--out", out, "-q"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("fink-cutouts: error: cannot reach http://127.0.0.1:9/: ")
    assert error.endswith("(HTTP 503); run the same command again to resume\n")
    assert main(["export", ids, "--lake", str(demo.root), "--out", out, "-q"]) == 0
    assert "6 rows to" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "ids.txt", "set.parquet"]


def test_export_over_http_writes_what_the_lake_in_process_gives(served_demo, demo, tmp_path):
    from support.exports import assert_same_export

    _, ids = _export_ids(demo, 45, tmp_path)
    for where, out in (("--url", served_demo), ("--lake", str(demo.root))):
        target = tmp_path / f"{where[2:]}.parquet"
        command = ["export", ids, where, out, "--out", str(target), "--batch-size", "20", "-q"]
        assert main(command) == 0
    assert_same_export(tmp_path / "url.parquet", tmp_path / "lake.parquet")


def test_export_spark_writes_the_rows_of_the_single_process_export(spark, demo, tmp_path, capsys):
    """--spark goes to doors.spark.export_with_spark (its own tests prove it further): each id's
    alert, status and stamps as the single-process export writes them."""
    import pyarrow.parquet as pq
    from support.exports import KINDS, exported

    _, ids = _export_ids(demo, 40, tmp_path)
    single, spark_out = tmp_path / "single.parquet", tmp_path / "spark"
    assert main(["export", ids, "--lake", str(demo.root), "--out", str(single), "-q"]) == 0
    command = ["export", ids, "--lake", str(demo.root), "--out", str(spark_out), "--spark"]
    assert main(command) == 0
    assert "exported 41 rows to" in capsys.readouterr().out
    rows, stamps = exported(single)
    by_id = {row["id"]: row for row in pq.read_table(spark_out).to_pylist()}
    assert sorted(by_id) == sorted(row["id"] for row in rows)
    for position, row in enumerate(rows):
        other = by_id[row["id"]]
        assert (other["alertId"], other["objectId"]) == (row["alertId"], row["objectId"])
        assert other["status"].startswith("ok") == row["status"].startswith("ok")
        for kind in KINDS:
            if row["status"] == "ok":
                assert (other[f"{kind}_height"], other[f"{kind}_width"]) == (63, 63)
                flat = np.array(other[kind], np.float32)
                assert np.array_equal(flat, stamps[kind][position].ravel(), equal_nan=True)


def test_export_spark_refuses_a_url_and_npy(demo, tmp_path, capsys):
    _, ids = _export_ids(demo, 2, tmp_path)
    out = str(tmp_path / "spark")
    for extra, message in (
        (["--url", "http://127.0.0.1:9/"], "url: --spark reads the lake itself; give --lake"),
        (["--lake", str(demo.root), "--format", "npy"], "format: --spark writes Parquet only"),
    ):
        assert main(["export", ids, *extra, "--out", out, "--spark"]) == 1
        assert f"fink-cutouts: error: {message}" in capsys.readouterr().err


# get --all: an object's flip-book (issue 26)


def _stored_story(demo, kind: str) -> tuple[list[int], list[np.ndarray]]:
    """The demo object's alert ids and `kind` stamps, oldest first, as pyarrow and astropy
    read them from the stored files."""
    import pyarrow.parquet as pq
    from support.exports import astropy_pixels

    rows = []
    for path in sorted(demo.root.glob("science/**/*.parquet")):
        columns = ["objectId", "candid", "candidate", f"cutout{kind}"]
        for record in pq.read_table(path, columns=columns).to_pylist():
            if record["objectId"] == DEMO_OBJECT_ID:
                stamp = astropy_pixels(record[f"cutout{kind}"]["stampData"])
                rows.append((record["candidate"]["jd"], record["candid"], stamp))
    rows.sort(key=lambda row: row[0])
    return [row[1] for row in rows], [row[2] for row in rows]


def test_get_all_writes_the_objects_flip_book_as_a_gif(demo, tmp_path):
    """The command as a user types it, in its own process: a GIF of every alert, oldest first,
    its first frame the Difference stamp at astropy's zscale over all frames, in grey."""
    import matplotlib
    from astropy.visualization import ZScaleInterval
    from PIL import Image

    out = tmp_path / "f.gif"
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "get", DEMO_OBJECT_ID]
    command += ["--lake", str(demo.root), "--all", "--format", "gif", "-o", str(out)]
    done = subprocess.run(
        [*command, "--kind", "Difference", "--fps", "5"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    ids, stamps = _stored_story(demo, "Difference")
    assert f"{len(ids)} frames of {DEMO_OBJECT_ID}" in done.stderr
    values = np.concatenate([stamp.ravel() for stamp in stamps]).astype(float)
    low, high = ZScaleInterval().get_limits(values[np.isfinite(values)])
    grey = matplotlib.colormaps["gray"](np.linspace(0, 1, 256), bytes=True)[:, :3]
    levels = np.clip((stamps[0].astype(float) - low) / (high - low), 0, 1)
    with Image.open(out) as gif:
        assert gif.n_frames == len(ids) == 5
        assert gif.info["duration"] == 200
        first = np.asarray(gif.convert("RGB"))
    np.testing.assert_array_equal(first, grey[np.floor(levels * 255 + 0.5).astype(int)])
    assert [p.name for p in tmp_path.iterdir()] == ["f.gif"]


def test_get_all_writes_a_fits_cube_of_the_alerts_and_their_times(demo, tmp_path, capsys):
    from astropy.time import Time

    out = tmp_path / "story.fits"
    arguments = ["get", DEMO_OBJECT_ID, "--lake", str(demo.root), "--all", "-o", str(out)]
    assert main(arguments) == 0
    assert "5 frames of ZTF24abssjsb, 2024-11-19 to 2024-11-21" in capsys.readouterr().err
    with fits.open(out) as hdus:
        assert [hdu.name for hdu in hdus[1:]] == ["SCIENCE", "TEMPLATE", "DIFFERENCE", "FRAMES"]
        for kind in ("Science", "Template", "Difference"):
            ids, stamps = _stored_story(demo, kind)
            np.testing.assert_array_equal(hdus[kind].data, np.stack(stamps))
        frames = hdus["FRAMES"].data
        assert list(frames["alertId"]) == ids
        assert list(frames["time"]) == list(Time(frames["jd"], format="jd", scale="utc").isot)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--all", "--candid", "123", "-o", "x.gif"], "not with --candid"),
        (["--all", "--format", "png", "-o", "x.png"], "--format png: with --all, one of gif"),
        (["--format", "gif", "-o", "x.gif"], "--format gif: a flip-book of every alert; add --all"),
        (["--all", "--format", "gif"], "--all: give the file to write, -o FILE"),
        (["--all", "--scale", "0", "-o", "x.gif"], "--scale: 0; expected a whole number"),
    ],
)
def test_get_all_refuses_options_it_cannot_take(demo, capsys, extra, message):
    with pytest.raises(SystemExit) as caught:
        main(["get", DEMO_OBJECT_ID, "--lake", str(demo.root), *extra])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("object_id", "extra", "message"),
    [
        ("ZTF24aaaaaaa", [], "objectId: no alert of ZTF24aaaaaaa"),
        ("toto", [], "objectId: 'toto' is not a ZTF object id"),
        (DEMO_OBJECT_ID, ["--stretch", "loud"], "stretch: 'loud' is not allowed; allowed: linear"),
        (DEMO_OBJECT_ID, ["--colormap", "rainbowish"], "colormap: 'rainbowish' is not a"),
        (DEMO_OBJECT_ID, ["--fps", "0.001"], "fps: 0.001; GIF keeps a frame 2 to 65535"),
        (DEMO_OBJECT_ID, ["--fps", "60"], "to 50 (APNG allows more"),
        (DEMO_OBJECT_ID, ["--format", "apng", "--fps", "100"], "fps: 100.0; APNG keeps a frame"),
    ],
)
def test_get_all_of_an_unknown_object_or_a_bad_picture_fails_in_one_line(
    demo, tmp_path, capsys, object_id, extra, message
):
    out = tmp_path / "x.gif"
    arguments = ["get", object_id, "--lake", str(demo.root), "--all", "--format", "gif"]
    assert main([*arguments, "-o", str(out), *extra]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert message in error
    assert list(tmp_path.iterdir()) == []


def test_a_reader_that_stops_reading_gets_no_traceback(demo):
    """`fink-cutouts index stats ... | head -1`: the pipe closes early; the command ends quietly."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "index", "stats"]
    done = subprocess.run(
        [
            "bash",
            "-c",
            '"$@" | head -c 1 > /dev/null; echo "${PIPESTATUS[0]}" >&2',
            "--",
            *command,
            "--lake",
            str(demo.root),
            "--verify",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "BrokenPipe" not in done.stderr
