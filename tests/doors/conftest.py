"""Fixtures shared by the Spark door's tests: the demo lake's alerts as pyarrow reads them."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.surveys import KINDS


def stored_alerts(root: Path, science_dir: str = "science") -> dict[int, dict]:
    """Every alert of a ZTF lake by candid, read with pyarrow: its object, file and FITS bytes."""
    alerts = {}
    for file in sorted((root / science_dir).rglob("*.parquet")):
        columns = ["objectId", "candid", *(f"cutout{kind}" for kind in KINDS)]
        for record in pq.read_table(file, columns=columns).to_pylist():
            alerts[record["candid"]] = {
                "objectId": record["objectId"],
                "path": file.relative_to(root).as_posix(),
                "fits": {
                    kind: gzip.decompress(record[f"cutout{kind}"]["stampData"]) for kind in KINDS
                },
            }
    return alerts


@pytest.fixture(scope="session")
def demo_stored(demo) -> dict[int, dict]:
    """The demo lake's alerts by candid (`stored_alerts`)."""
    return stored_alerts(Path(demo.root))
