"""Fixtures on real data: Fink's files in ../shared/data (read in place) and the demo lake.

The helpers live in ``tests/support/`` (importable as ``support``: pyproject's pytest
``pythonpath``); this file holds fixtures, and the session's checks: the real data must be
there, and with ``FINK_REQUIRE_IMAGE_API=1`` (``.ci/run``'s Python 3.12 step) astropy's
image-display API suite must run whole (`ImageAPISuiteRequired`).
"""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.real_data import (
    DISPLAYED,
    SHARED_DATA,
    ZTF_CUTOUTS,
    LakeCase,
    ztf_lake_case,
    ztf_lake_files,
)
from support.servers import served

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.storage.lake import Lake

if TYPE_CHECKING:
    from support.rewrites import RewritableLake

pytest_plugins = ["pytest_jupyter.jupyter_server"]

# astro-image-display-api's conformance suite needs Python >= 3.12 (its api_test.py uses 3.12
# f-strings): below that its file is not collected at all (never a skip counted as a pass);
# .ci/run runs it in a Python 3.12 virtual environment.
collect_ignore = ["test_image_display_api.py"] if sys.version_info < (3, 12) else []


REQUIRE_IMAGE_API = "FINK_REQUIRE_IMAGE_API"
IMAGE_API_TESTS = Path(__file__).with_name("test_image_display_api.py")


def pytest_configure(config: pytest.Config) -> None:
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(
            f"the real Fink test files are missing: {SHARED_DATA} (set FINK_SHARED_DATA)"
        )
    if os.environ.get(REQUIRE_IMAGE_API) == "1":
        try:
            import astro_image_display_api.api_test  # noqa: F401  # Python >= 3.12 only
        except (ImportError, SyntaxError) as error:
            raise pytest.UsageError(
                f"{REQUIRE_IMAGE_API}=1 but astro-image-display-api's suite cannot be imported "
                f"under Python {sys.version.split()[0]}: {error!r} (pip install -e '.[test]' "
                "under Python >= 3.12)"
            ) from None
        config.pluginmanager.register(ImageAPISuiteRequired(config), "fink-image-api-required")


class ImageAPISuiteRequired:
    """With ``FINK_REQUIRE_IMAGE_API=1``: the session fails (exit status 1) if it ran no test of
    ``tests/test_image_display_api.py``, or skipped or xfailed any (an xpass too), each named in
    the terminal summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.rootpath = config.rootpath
        self.collected = 0
        self.problems: list[str] = []

    def _of_the_suite(self, nodeid: str) -> bool:
        return (self.rootpath / nodeid.split("::", 1)[0]).resolve() == IMAGE_API_TESTS.resolve()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = sum(self._of_the_suite(item.nodeid) for item in session.items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self._of_the_suite(report.nodeid):
            return
        if hasattr(report, "wasxfail"):
            self.problems.append(f"{report.nodeid}: xfail ({report.wasxfail})")
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            self.problems.append(f"{report.nodeid}: skipped ({reason})")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.collected == 0:
            self.problems.insert(0, f"no test of {IMAGE_API_TESTS.name} was collected")
        if self.problems and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.problems:
            terminalreporter.section(f"{REQUIRE_IMAGE_API}=1: the image-display API suite")
            for problem in self.problems:
                terminalreporter.write_line(problem, red=True)


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
            columns=["objectId", "candid", "candidate", *ZTF_CUTOUTS],
        )
        for record in table.to_pylist():
            rows.append(
                {
                    "lake": lake,
                    "path": path,
                    "objectId": record["objectId"],
                    "candid": record["candid"],
                    "jd": record["candidate"]["jd"],
                    "candidate": {name: record["candidate"][name] for name in DISPLAYED},
                    "fits": {
                        kind: gzip.decompress(record[f"cutout{kind}"]["stampData"])
                        for kind in ("Science", "Template", "Difference")
                    },
                }
            )
    return rows


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


@pytest.fixture(scope="session")
def rubin_demo(tmp_path_factory: pytest.TempPathFactory):
    """The Rubin demo lake (`make_demo_lake(..., survey="lsst")`), indexed, written once per
    test session: its `DemoLake` (``demo_object_id``, ``ss_object_ids``, files)."""
    return make_demo_lake(tmp_path_factory.mktemp("rubin-demo-lake"), survey="lsst")


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


@pytest.fixture(scope="session")
def served_demo(demo):
    """`fink-cutouts serve` on the demo lake: yields its base URL."""
    with served(str(demo.root)) as url:
        yield url


@pytest.fixture
def rewritable_lake(tmp_path) -> RewritableLake:
    """A one-file lake of real alerts, indexed, whose file can be rewritten at the same size."""
    from support.rewrites import rewritable_lake

    return rewritable_lake(tmp_path / "lake")


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
