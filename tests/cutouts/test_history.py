"""Upper limits read from one alert's row: its ``prv_candidates`` entries without a detection."""

import pyarrow.parquet as pq
import pytest
from support.real_data import ztf_lake_files

from fink_cutout_jupyter.cutouts.history import upper_limits
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import ZTF


def _rows(lake: Lake, path: str):
    """(row group, row, stored row) of every alert of a file, as pyarrow reads them."""
    parquet = pq.ParquetFile(lake.resolve(path))
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=["candid", "candidate", "prv_candidates"])
        for row, stored in enumerate(table.to_pylist()):
            yield group, row, stored


def _location(path: str, group: int, row: int, alert_id: int) -> AlertLocation:
    return AlertLocation(None, alert_id, 0.0, path, group, row, file_size=0)


@pytest.mark.parametrize(("lake", "path"), ztf_lake_files())
def test_each_alerts_upper_limits_are_its_stored_non_detections_oldest_first(lake, path):
    with_limits = 0
    for group, row, stored in _rows(lake, path):
        expected = sorted(
            (entry["jd"], "gri"[entry["fid"] - 1], entry["diffmaglim"])
            for entry in stored["prv_candidates"] or []
            if entry["candid"] is None
        )
        limits = upper_limits(lake, _location(path, group, row, stored["candid"]), ZTF)
        assert [(limit["jd"], limit["filter"], limit["limit"]) for limit in limits] == [
            (jd, band, pytest.approx(depth)) for jd, band, depth in expected
        ]
        with_limits += bool(expected)
    assert with_limits, f"no alert of {path} has a non-detection to compare"


def test_a_row_that_no_longer_holds_the_alert_shows_no_limits():
    lake, path = ztf_lake_files()[0]
    group, row, stored = next(
        (group, row, stored)
        for group, row, stored in _rows(lake, path)
        if any(entry["candid"] is None for entry in stored["prv_candidates"] or [])
    )
    assert upper_limits(lake, _location(path, group, row, stored["candid"]), ZTF)
    moved = _location(path, group, row, stored["candid"] + 1)
    assert upper_limits(lake, moved, ZTF) == []


def test_a_lake_without_a_history_column_has_no_limits(demo, demo_lake):
    path = demo.files[0]
    assert "prv_candidates" not in pq.read_schema(demo.root / path).names
    alert_id = pq.read_table(demo.root / path, columns=["candid"]).column(0)[0].as_py()
    assert upper_limits(demo_lake, _location(path, 0, 0, alert_id), ZTF) == []
