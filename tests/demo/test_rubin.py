"""The Rubin demo lake, read back by pyarrow, astropy, the reader and the index; its schema and
ids against the real Rubin files of ../shared/data/lsst."""

import datetime as dt
import io
import itertools
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.demo.rubin import (
    RUBIN_DEMO_OBJECT_ID,
    RUBIN_DEMO_SS_OBJECT_ID,
    packed_designation,
    source_id,
    ss_object_id,
)
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake

FINK_SCHEMA = (
    SHARED_DATA / "lsst" / "schema" / "fink-broker_rubin_parquet_schema_lsst.v10_0.parquet"
)
KINDS = ("Science", "Template", "Difference")


@pytest.fixture(scope="module")
def rows(rubin_demo) -> list[dict]:
    """Every alert of the Rubin demo as pyarrow reads it, with its file and row."""
    found = []
    for path in rubin_demo.files:
        for number, row in enumerate(pq.read_table(rubin_demo.root / path).to_pylist()):
            found.append({**row, "path": path, "row": number})
    return found


def fields(arrow_type: pa.DataType, prefix: str = "") -> list[tuple[str, pa.DataType]]:
    """Each field's dotted path and type, in order, through structs and lists."""
    if pa.types.is_struct(arrow_type):
        out = []
        for field in arrow_type:
            out.append((prefix + field.name, field.type))
            out += fields(field.type, f"{prefix}{field.name}.")
        return out
    if pa.types.is_list(arrow_type):
        return fields(arrow_type.value_type, f"{prefix}element.")
    return []


def test_the_files_have_finks_rubin_schema_for_every_field_they_write(rubin_demo):
    fink = dict(fields(pa.struct(list(pq.read_schema(FINK_SCHEMA)))))
    order = list(fink)
    for path in rubin_demo.files:
        written = fields(pa.struct(list(pq.read_schema(rubin_demo.root / path))))
        assert len(written) > 100
        for name, arrow_type in written:
            assert name in fink, f"{name} is not in Fink's schema"
            assert arrow_type.equals(fink[name]) or pa.types.is_nested(arrow_type), name
        names = [name for name, _ in written]
        assert names == sorted(names, key=order.index), "in the order of Fink's schema"
    leaves = pq.ParquetFile(rubin_demo.root / rubin_demo.files[0]).schema
    fink_leaves = pq.ParquetFile(FINK_SCHEMA).schema
    fink_paths = {fink_leaves.column(i).path for i in range(len(fink_leaves))}
    assert {leaves.column(i).path for i in range(len(leaves))} <= fink_paths, "Parquet leaves"


def test_ids_are_packed_as_rubin_packs_them(rubin_records):
    """`source_id` gives the real alerts' diaSourceIds from their visit, detector and counter;
    `ss_object_id` the real ssObjectIds from their designations."""
    for record in rubin_records:
        source = record["diaSource"]
        day_obs = dt.datetime.strptime(str(source["visit"])[:8], "%Y%m%d").date()
        seq = int(str(source["visit"])[8:])
        counter = record["diaSourceId"] & ((1 << 19) - 1)
        assert source_id(day_obs, seq, source["detector"], counter) == record["diaSourceId"]
    solar = [r for r in rubin_records if r["diaSource"]["ssObjectId"]]
    assert len(solar) == 2
    for record in solar:
        designation = record["ssSource"]["designation"]
        assert ss_object_id(designation) == record["diaSource"]["ssObjectId"]
        assert (
            packed_designation(designation)
            == (record["mpc_orbits"]["packed_primary_provisional_designation"])
        )
    assert packed_designation("2010 AB123") == "K10AC3B", "cycles above 99: letter, digit"


def test_the_demo_object_has_five_alerts_over_three_nights_with_rubin_ids(rubin_demo, rows):
    assert rubin_demo.survey == "lsst"
    assert rubin_demo.demo_object_id == str(RUBIN_DEMO_OBJECT_ID)
    index = AlertIndex(Lake(rubin_demo.root))
    assert index.stats()["entries"] == len(rows) == rubin_demo.alerts
    alerts = index.alerts(RUBIN_DEMO_OBJECT_ID)
    mine = [r for r in rows if r["diaSource"]["diaObjectId"] == RUBIN_DEMO_OBJECT_ID]
    assert [a.alert_id for a in alerts] == [
        r["diaSourceId"] for r in sorted(mine, key=lambda r: r["diaSource"]["midpointMjdTai"])
    ]
    assert len(alerts) == 5
    assert len({a.path.split("/day=")[1][:2] for a in alerts}) == 3
    assert sorted({a.path for a in alerts}) == sorted(rubin_demo.demo_object_files)
    for row in rows:
        source = row["diaSource"]
        assert row["diaSourceId"] == source["diaSourceId"] > 2**56, "64-bit ids"
        assert source["band"] in "ugrizy"
        assert str(source["visit"]).startswith(f"{source['visit'] // 10**5}")
        day_obs = dt.datetime.strptime(str(source["visit"])[:8], "%Y%m%d").date()
        counter = row["diaSourceId"] & ((1 << 19) - 1)
        assert (
            source_id(day_obs, source["visit"] % 10**5, source["detector"], counter)
            == (row["diaSourceId"])
        )
        if row["diaObject"] is not None:  # a diaObjectId is the id of its first detection
            first = min([*row["prvDiaSources"], source], key=lambda s: s["midpointMjdTai"])
            assert source["diaObjectId"] == row["diaObject"]["diaObjectId"]
            assert first["diaSourceId"] == source["diaObjectId"]


def test_stamps_are_raw_three_hdu_fits_in_njy_with_a_tan_wcs_on_the_source(rubin_demo, rows):
    reader = CutoutReader(Lake(rubin_demo.root))
    for row in rows[::7]:
        alert = reader.read(row["path"], alert_id=row["diaSourceId"])
        for kind in KINDS:
            stored = row[f"cutout{kind}"]
            assert stored[:6] == b"SIMPLE", "raw FITS, not gzipped"
            with fits.open(io.BytesIO(stored)) as hdus:
                assert [h.name for h in hdus] == ["PRIMARY", "UNCERT", "PSFIMAGE"]
                image, header = hdus[0].data, hdus[0].header
                assert image.shape == (30, 30)
                assert hdus[1].data.shape == (30, 30)
                assert hdus[1].header["UTYPE"] == "VarianceUncertainty"
                assert (hdus[1].data > 0).all()
                assert hdus[2].data.shape == (41, 41)
                assert hdus[2].data.sum() == pytest.approx(1, abs=1e-3)
                np.testing.assert_array_equal(alert.stamps[kind].data, image)
            assert header["BUNIT"] == "nJy"
            wcs = WCS(header)
            assert wcs.wcs.ctype[0] == "RA---TAN"
            assert wcs.wcs.ctype[1] == "DEC--TAN"
            scales = proj_plane_pixel_scales(wcs.celestial) * 3600
            np.testing.assert_allclose(scales, 0.2, rtol=1e-6)
            sky = wcs.pixel_to_world(header["CRPIX1"] - 1, header["CRPIX2"] - 1)
            assert sky.ra.deg == pytest.approx(row["diaSource"]["ra"], abs=1e-9)
            assert sky.dec.deg == pytest.approx(row["diaSource"]["dec"], abs=1e-9)
            assert abs(header["CRPIX1"] - 15.5) <= 0.5
            assert abs(header["CRPIX2"] - 15.5) <= 0.5
        with fits.open(io.BytesIO(row["cutoutDifference"])) as hdus:
            difference = hdus[0].data
        noise = np.std(difference[:6, :6])
        assert difference[13:18, 13:18].max() > 3 * noise, "the source shows at the centre"


def test_solar_system_alerts_are_found_by_their_ss_object_id(rubin_demo, rows):
    index = AlertIndex(Lake(rubin_demo.root))
    assert len(rubin_demo.ss_object_ids) == 3
    assert rubin_demo.ss_object_ids[0] == RUBIN_DEMO_SS_OBJECT_ID, "the same for every seed"
    for number in rubin_demo.ss_object_ids:
        mine = [r for r in rows if r["diaSource"]["ssObjectId"] == number]
        found = index.solar_system_alerts(number)
        assert sorted(a.alert_id for a in found) == sorted(r["diaSourceId"] for r in mine)
        assert {a.object_id for a in found} == {None}
        designation = mine[0]["ssSource"]["designation"]
        assert ss_object_id(designation) == number
        assert {a.properties["designation"] for a in found} == {designation}
        for row in mine:
            assert row["diaObject"] is None
            assert row["diaSource"]["diaObjectId"] == 0
            assert row["ssSource"]["ssObjectId"] == number
            assert row["ssSource"]["diaSourceId"] == row["diaSourceId"]
            assert row["prvDiaSources"] is None
        nights = {}
        for row in sorted(mine, key=lambda r: r["diaSource"]["midpointMjdTai"]):
            nights.setdefault(row["path"].split("/day=")[1][:2], row["diaSource"])
        assert len(nights) == 3
        positions = [(s["ra"], s["dec"]) for s in nights.values()]
        for (ra1, dec1), (ra2, dec2) in itertools.pairwise(positions):
            moved = np.hypot((ra2 - ra1) * np.cos(np.radians(dec1)), dec2 - dec1)
            assert 0.01 < moved < 2, "it moves night to night, by less than 2 degrees"


def test_history_is_a_transient_rising_and_fading_with_forced_photometry(rows):
    transients = [r for r in rows if r["diaObject"] is not None]
    assert len(transients) > 40
    for row in transients:
        now = row["diaSource"]["midpointMjdTai"]
        detections, forced = row["prvDiaSources"], row["prvDiaForcedSources"]
        object_id = row["diaObject"]["diaObjectId"]
        assert all(d["midpointMjdTai"] < now for d in detections), "earlier detections only"
        assert {d["diaObjectId"] for d in detections} <= {object_id}
        assert {f["diaObjectId"] for f in forced} == {object_id}
        assert {f["band"] for f in forced} <= set("ugrizy")
        assert row["diaObject"]["nDiaSources"] == len(detections) + 1
        times = [f["midpointMjdTai"] for f in forced]
        assert max(times) == now, "forced photometry at the alert's own visit too"
        assert 300 < now - min(times) <= 366, "about 12 months"
        first = min([d["midpointMjdTai"] for d in detections] + [now])
        before = [f for f in forced if f["midpointMjdTai"] < first - 30]
        assert len(before) > 10, "forced photometry before the first detection"
        pulls = np.array([f["psfFlux"] / f["psfFluxErr"] for f in before])
        assert abs(pulls.mean()) < 1.5, "nothing there before: flux about zero"
        assert all(f["psfFluxErr"] > 0 for f in forced)
    demo = max(
        (r for r in transients if r["diaObject"]["diaObjectId"] == RUBIN_DEMO_OBJECT_ID),
        key=lambda r: r["diaSource"]["midpointMjdTai"],
    )
    curve = sorted(demo["prvDiaForcedSources"], key=lambda f: f["midpointMjdTai"])
    fluxes = np.array([f["psfFlux"] for f in curve])
    peak = int(np.argmax(fluxes))
    assert fluxes[peak] > 20 * curve[peak]["psfFluxErr"]
    assert 0 < peak < len(curve) - 1, "it rose, then faded"
    assert fluxes[-1] < fluxes[peak]
    assert fluxes[: peak // 2].max() < fluxes[peak] / 3


def test_the_rubin_demo_is_deterministic_and_checks_its_size(tmp_path):
    first = make_demo_lake(tmp_path / "a", seed=7, objects=10, index=False, survey="lsst")
    second = make_demo_lake(tmp_path / "b", seed=7, objects=10, index=False, survey="rubin")
    assert first.files == second.files
    for path in first.files:
        assert (first.root / path).read_bytes() == (second.root / path).read_bytes()
    assert first.demo_object_id == str(RUBIN_DEMO_OBJECT_ID), "the same for every seed"
    with pytest.raises(ValueError, match="at least 3 nights and 10 to 180 objects"):
        make_demo_lake(tmp_path / "c", objects=181, survey="lsst")


# The command: `fink-cutouts demo --survey lsst`.


def test_the_demo_command_writes_the_rubin_lake_and_its_examples_work(tmp_path, capsys):
    from fink_cutout_jupyter.cli import main

    lake = tmp_path / "rubin"
    assert main(["demo", "--survey", "lsst", "--out", str(lake), "--no-lab"]) == 0
    printed = capsys.readouterr().out
    assert f"Demo lake: {lake}" in printed
    assert " LSST alerts of " in printed
    assert f"solar-system objects (ssObjectId): {RUBIN_DEMO_SS_OBJECT_ID}, " in printed
    command = printed.split("try: ", 1)[1].splitlines()[0].split()
    assert command[:3] == ["fink-cutouts", "get", str(RUBIN_DEMO_OBJECT_ID)]
    out = tmp_path / "stamp.fits"
    assert main([*command[1:-1], str(out)]) == 0
    latest = AlertIndex(Lake(lake)).latest(RUBIN_DEMO_OBJECT_ID)
    stored = pq.read_table(lake / latest.path, columns=["diaSourceId", "cutoutScience"])
    row = stored.to_pylist()[stored.column("diaSourceId").to_pylist().index(latest.alert_id)]
    with fits.open(io.BytesIO(row["cutoutScience"])) as expected, fits.open(out) as written:
        np.testing.assert_array_equal(written[0].data, expected[0].data)
    second = printed.split("or: ", 1)[1].splitlines()[0].split()
    assert main([*second[1:-1], str(tmp_path / "stamps.png")]) == 0
    assert (tmp_path / "stamps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_demos_live_night_is_ztfs_only(tmp_path, capsys):
    from fink_cutout_jupyter.cli import main

    assert main(["demo", "--survey", "lsst", "--out", str(tmp_path), "--live"]) == 1
    assert "--live: the demo's live night streams ZTF alerts" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_the_demo_opens_jupyterlab_on_the_rubin_lake_and_its_quickstart(tmp_path):
    """``fink-cutouts demo --survey lsst --no-browser``: JupyterLab serves the Rubin lake's
    alerts and the quickstart, and stops with the demo (SIGTERM)."""
    import json
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environment = {
        **os.environ,
        "JUPYTER_TOKEN": "rubin-demo-token",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    lake = tmp_path / "rubin"
    command = ["demo", "--survey", "lsst", "--out", str(lake), "--port", str(port)]
    with (tmp_path / "demo.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fink_cutout_jupyter.cli", *command, "--no-browser"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        headers = {"Authorization": "token rubin-demo-token"}
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    request = urllib.request.Request(
                        f"{base}/api/v1/alerts?objectId={RUBIN_DEMO_OBJECT_ID}", headers=headers
                    )
                    with urllib.request.urlopen(request, timeout=5) as response:
                        alerts = json.loads(response.read())
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the demo's JupyterLab did not answer"
                    assert process.poll() is None, (tmp_path / "demo.log").read_text()
                    time.sleep(0.2)
            index = AlertIndex(Lake(lake))
            assert [str(a["alertId"]) for a in alerts] == [
                str(a.alert_id) for a in index.alerts(RUBIN_DEMO_OBJECT_ID)
            ]
            assert len(alerts) == 5
            request = urllib.request.Request(
                f"{base}/api/contents/quickstart.ipynb", headers=headers
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                notebook = json.loads(response.read())
            assert "--survey lsst" in json.dumps(notebook["content"])
            printed = (tmp_path / "demo.log").read_text()
            assert f":{port}/lab/tree/quickstart.ipynb?token=" in printed
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) is not None
    with pytest.raises(ConnectionRefusedError):  # JupyterLab stopped with the demo
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
