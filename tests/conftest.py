"""Fixtures on real data: Fink's files in ../shared/data (read in place) and the demo lake."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from fink_cutout_jupyter.demo import make_demo_lake
from fink_cutout_jupyter.storage.lake import Lake

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FINK_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
ZTF_LAKES = {
    "ztf/lake": "archive/science",
    "ztf/lake-spark3": "science",
}


def pytest_configure(config: pytest.Config) -> None:
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(
            f"the real Fink test files are missing: {SHARED_DATA} (set FINK_SHARED_DATA)"
        )


def ztf_lake_files() -> list[tuple[Lake, str]]:
    """Every real ZTF lake file, as (lake, path relative to its root)."""
    found = []
    for root, science_dir in ZTF_LAKES.items():
        lake = Lake(SHARED_DATA / root, science_dir=science_dir)
        found += [(lake, path) for night in lake.nights() for path in lake.night_files(night)]
    return found


@pytest.fixture(scope="session")
def ztf_lake() -> Lake:
    """The real two-file ZTF lake (objects split across files, file order not time order)."""
    return Lake(SHARED_DATA / "ztf" / "lake", science_dir="archive/science")


@pytest.fixture(scope="session")
def ztf_rows() -> list[dict]:
    """Every alert of the real ZTF files, read independently with pyarrow: ids, time, stamps."""
    import pyarrow.parquet as pq

    rows = []
    for lake, path in ztf_lake_files():
        table = pq.read_table(
            lake.resolve(path),
            columns=["objectId", "candid", "candidate", *_ZTF_CUTOUTS],
        )
        for record in table.to_pylist():
            rows.append(
                {
                    "lake": lake,
                    "path": path,
                    "objectId": record["objectId"],
                    "candid": record["candid"],
                    "jd": record["candidate"]["jd"],
                    "candidate": {name: record["candidate"][name] for name in _DISPLAYED},
                    "fits": {
                        kind: gzip.decompress(record[f"cutout{kind}"]["stampData"])
                        for kind in ("Science", "Template", "Difference")
                    },
                }
            )
    return rows


_ZTF_CUTOUTS = ["cutoutScience", "cutoutTemplate", "cutoutDifference"]
_DISPLAYED = ("fid", "magpsf", "sigmapsf", "ra", "dec", "isdiffpos")
ZTF_FILTERS = {1: "g", 2: "r", 3: "i"}  # ZTF's fid convention


def displayed(row: dict) -> dict:
    """What an alert's display fields must be, from its `candidate` as pyarrow read it."""
    candidate = row["candidate"]
    return {
        "filter": ZTF_FILTERS[candidate["fid"]],
        "magnitude": candidate["magpsf"],
        "magnitude_error": candidate["sigmapsf"],
        "ra": candidate["ra"],
        "dec": candidate["dec"],
        "isdiffpos": candidate["isdiffpos"],
        "magnitude_unit": "mag",
    }


@pytest.fixture(scope="session")
def rubin_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A lake of the real Rubin alerts: each Avro file of shared/data/lsst as one Parquet file."""
    import fastavro
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(
        SHARED_DATA / "lsst" / "schema" / "fink-broker_rubin_parquet_schema_lsst.v10_0.parquet"
    )
    root = tmp_path_factory.mktemp("rubin-lake")
    night = root / "science" / "year=2026" / "month=03" / "day=06"
    night.mkdir(parents=True)
    for number, avro in enumerate(sorted((SHARED_DATA / "lsst" / "alerts").glob("*.avro"))):
        with avro.open("rb") as stream:
            records = list(fastavro.reader(stream))
        table = pa.Table.from_pylist(records, schema=schema)
        pq.write_table(table, night / f"part-{number:05d}-rubin.snappy.parquet")
    return Lake(root)


@pytest.fixture(scope="session")
def rubin_records() -> list[dict]:
    """The real Rubin alerts as fastavro reads them."""
    import fastavro

    records = []
    for avro in sorted((SHARED_DATA / "lsst" / "alerts").glob("*.avro")):
        with avro.open("rb") as stream:
            records += list(fastavro.reader(stream))
    return records


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo lake, written once per test session."""
    return make_demo_lake(tmp_path_factory.mktemp("demo-lake"))


@pytest.fixture(scope="session")
def demo_lake(demo) -> Lake:
    return Lake(demo.root)


@dataclass(frozen=True)
class LakeCase:
    """A lake served by a door, and facts about one of its objects read with pyarrow."""

    name: str
    lake: str
    index: str
    science_dir: str
    object_id: str
    alert_ids: tuple[int, ...]
    path: str
    alerts: tuple[dict, ...]


def ztf_lake_case(name: str, root: Path, science_dir: str, index: str, object_id: str):
    """The object's alerts, oldest first, as /api/v1/alerts must list them: from the files."""
    import datetime as dt

    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from astropy.time import Time

    alerts = []
    for file in sorted((root / science_dir).rglob("*.parquet")):
        table = pq.read_table(file, columns=["objectId", "candid", "candidate"])
        table = table.filter(pc.equal(table.column("objectId"), object_id))
        for record in table.to_pylist():
            row = {"candid": record["candid"], "candidate": record["candidate"]}
            shown = displayed(row)
            jd = record["candidate"]["jd"]
            date = Time(jd, format="jd", scale="utc").to_datetime(timezone=dt.UTC)
            alerts.append(
                {
                    "objectId": object_id,
                    "alertId": record["candid"],
                    "jd": jd,
                    "date": date.isoformat(timespec="seconds"),
                    **shown,
                    "survey": "ztf",
                    "hdfsPath": file.relative_to(root).as_posix(),
                }
            )
    alerts.sort(key=lambda alert: (alert["jd"], alert["alertId"]))
    return LakeCase(
        name,
        str(root),
        index,
        science_dir,
        object_id,
        tuple(alert["alertId"] for alert in alerts),
        alerts[0]["hdfsPath"],
        tuple(alerts),
    )


@pytest.fixture(scope="session")
def real_lake_case(ztf_lake, tmp_path_factory) -> LakeCase:
    """The real ZTF lake with its index built outside it (the lake is read-only)."""
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    index_root = tmp_path_factory.mktemp("real-lake-index")
    build(AlertIndex(ztf_lake, index_root), ztf_lake.nights(), progress=False)
    root = SHARED_DATA / "ztf" / "lake"
    return ztf_lake_case("real", root, "archive/science", str(index_root), "ZTF18aaqfhlj")


@pytest.fixture(scope="session")
def demo_lake_case(demo) -> LakeCase:
    return ztf_lake_case("demo", Path(demo.root), "science", "", "ZTF24abssjsb")


@pytest.fixture(params=["demo", "real"])
def lake_case(request) -> LakeCase:
    return request.getfixturevalue(f"{request.param}_lake_case")


def free_port() -> int:
    """A TCP port free on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, headers: dict | None = None, seconds: float = 60) -> None:
    """Wait until `url` answers 200, or fail."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers or {}), timeout=5
            ):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url} within {seconds} s")


def start_service(lake: str, port: int, *options: str, **popen):
    """Start `fink-cutouts serve` on `lake` as a real process (output discarded by default)."""
    import subprocess
    import sys

    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}
    command = [sys.executable, "-m", "fink_cutout_jupyter.cli", "serve", "--lake", lake]
    return subprocess.Popen([*command, "--port", str(port), *options], **popen)


def start_jupyter_server(
    lake: str,
    port: int,
    root: Path,
    base_url: str = "/",
    token: str = "test-token",
    science_dir: str = "science",
    **popen,
):
    """Start `jupyter server` with the extension on `lake` as a real process."""
    import subprocess
    import sys

    environment = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / "config")}
    popen = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "env": environment,
        **popen,
    }
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "server",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.base_url={base_url}",
        f"--FinkCutoutsApp.lake={lake}",
        f"--FinkCutoutsApp.science_dir={science_dir}",
        "--ServerApp.jpserver_extensions={'fink_cutout_jupyter': True}",
    ]
    return subprocess.Popen(command, **popen)


@pytest.fixture(scope="session")
def served_demo(demo):
    """`fink-cutouts serve` on the demo lake: yields its base URL."""
    port = free_port()
    process = start_service(str(demo.root), port)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(f"{url}api/v1/openapi.json")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class RewritableLake:
    """A one-file lake of real alerts, indexed, whose file can be rewritten at the same size."""

    lake: Lake
    index: object
    path: str
    file: Path
    table: object

    def rewrite(self, table, keep_mtime: bool) -> None:
        """Replace the file with `table`, checking that its size did not change."""
        from rewrites import write_fixed_layout

        before = self.file.stat()
        write_fixed_layout(table, self.file)
        assert self.file.stat().st_size == before.st_size, "the rewrite changed the size"
        if keep_mtime:
            os.utime(self.file, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture
def rewritable_lake(tmp_path) -> RewritableLake:
    from rewrites import real_alerts, write_fixed_layout

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    path = "science/year=2021/month=11/day=21/part-00000-fixed-layout.parquet"
    file = tmp_path / "lake" / path
    file.parent.mkdir(parents=True)
    table = real_alerts()
    write_fixed_layout(table, file)
    lake = Lake(tmp_path / "lake")
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    return RewritableLake(lake, index, path, file, table)


@pytest.fixture(scope="session")
def spark():
    """A local[2] Spark session for the whole test session (skipped without pyspark)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        message = "pyspark is missing: pip install -e '.[test]' (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("fink-cutouts tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
