"""Fixtures on real data: Fink's files in ../shared/data (read in place) and the demo lake."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from fink_cutout_jupyter.demo import make_demo_lake
from fink_cutout_jupyter.lake import Lake

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
                    "fits": {
                        kind: gzip.decompress(record[f"cutout{kind}"]["stampData"])
                        for kind in ("Science", "Template", "Difference")
                    },
                }
            )
    return rows


_ZTF_CUTOUTS = ["cutoutScience", "cutoutTemplate", "cutoutDifference"]


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
    """A lake served by a door, and facts about it the contract tests check against."""

    name: str
    lake: str
    index: str
    science_dir: str
    object_id: str
    alert_ids: tuple[int, ...]
    path: str


@pytest.fixture(scope="session")
def real_lake_case(ztf_lake, tmp_path_factory) -> LakeCase:
    """The real ZTF lake with its index built outside it (the lake is read-only)."""
    from fink_cutout_jupyter.index import AlertIndex
    from fink_cutout_jupyter.indexing import build

    index_root = tmp_path_factory.mktemp("real-lake-index")
    index = AlertIndex(ztf_lake, index_root)
    build(index, ztf_lake.nights(), progress=False)
    alerts = index.alerts("ZTF18aaqfhlj")
    return LakeCase(
        "real",
        ztf_lake.uri,
        str(index_root),
        "archive/science",
        "ZTF18aaqfhlj",
        tuple(a.alert_id for a in alerts),
        alerts[0].path,
    )


@pytest.fixture(scope="session")
def demo_lake_case(demo) -> LakeCase:
    from fink_cutout_jupyter.index import AlertIndex

    alerts = AlertIndex(Lake(demo.root)).alerts("ZTF24abssjsb")
    return LakeCase(
        "demo",
        str(demo.root),
        "",
        "science",
        "ZTF24abssjsb",
        tuple(a.alert_id for a in alerts),
        alerts[0].path,
    )


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
