"""Row group reads: a file scanned by its id columns (an ``hdfsPath`` read: every real ZTF and
Rubin alert against pyarrow and fastavro), refused when it is not an alert file, read a row
group at a time."""

from collections import defaultdict

import numpy as np
import pytest
from support.real_data import displayed

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import NotFound
from fink_cutout_jupyter.surveys import KINDS, LSST, ZTF


def test_a_parquet_file_that_is_not_an_alert_file_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.storage.lake import Lake

    pq.write_table(pa.table({"objectId": ["ZTF24abssjsb"]}), tmp_path / "other.parquet")
    with pytest.raises(NotFound, match="hdfsPath: the file is not a Fink alert file"):
        CutoutReader(Lake(tmp_path)).read("other.parquet", "ZTF24abssjsb")


def test_several_row_groups(tmp_path, ztf_rows):
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.storage.lake import Lake

    source = ztf_rows[0]["lake"].resolve(ztf_rows[0]["path"])
    pq.write_table(pq.read_table(source), tmp_path / "groups.parquet", row_group_size=10)
    assert pq.ParquetFile(tmp_path / "groups.parquet").metadata.num_row_groups > 5
    reader = CutoutReader(Lake(tmp_path))
    for row in [r for r in ztf_rows if r["path"] == ztf_rows[0]["path"]][::7]:
        alert = reader.read("groups.parquet", alert_id=row["candid"], kinds=["Science"])
        assert alert.stamps["Science"].fits_bytes == row["fits"]["Science"]


def test_rows_of_finds_alerts_by_their_id_column_alone(tmp_path, ztf_rows):
    """Where a file holds some alerts (row group, row), against pyarrow's reading of each row
    group; ids the file lacks are left out; the ids' column only is read."""
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.storage.lake import Lake

    source = ztf_rows[0]["lake"].resolve(ztf_rows[0]["path"])
    pq.write_table(pq.read_table(source), tmp_path / "groups.parquet", row_group_size=10)
    wanted = {row["candid"] for row in ztf_rows[::5]} | {1, 2}
    reader = CutoutReader(Lake(tmp_path))
    found = reader.rows.rows_of("groups.parquet", wanted)
    parquet = pq.ParquetFile(tmp_path / "groups.parquet")
    expected = {}
    for group in range(parquet.metadata.num_row_groups):
        ids = parquet.read_row_group(group, columns=["candid"]).column(0).to_pylist()
        expected |= {candid: (group, row) for row, candid in enumerate(ids) if candid in wanted}
    assert found == expected
    assert 1 not in found
    assert len(found) > 3
    assert {found[c][0] for c in found} != {0}  # in several row groups
    assert reader.rows.rows_of("groups.parquet", wanted, ZTF) == expected
    with pytest.raises(NotFound, match="is not a lsst alert file of the lake"):
        reader.rows.rows_of("groups.parquet", wanted, LSST)


@pytest.fixture(scope="module")
def by_file_and_object(ztf_rows):
    grouped = defaultdict(list)
    for row in ztf_rows:
        grouped[(row["lake"], row["path"], row["objectId"])].append(row)
    return grouped


def test_every_real_alert_is_read_by_its_candid(ztf_rows):
    for row in ztf_rows:
        alert = CutoutReader(row["lake"]).read(row["path"], alert_id=row["candid"])
        assert alert.object_id == row["objectId"]
        assert alert.time == row["jd"]
        assert alert.survey is ZTF
        assert {kind: stamp.fits_bytes for kind, stamp in alert.stamps.items()} == row["fits"]
        assert alert.properties == displayed(row)


def test_without_candid_the_latest_alert_by_jd_is_returned(by_file_and_object):
    several = {key: rows for key, rows in by_file_and_object.items() if len(rows) > 1}
    assert len(several) >= 8
    first_row_was_not_latest = 0
    for (lake, path, object_id), rows in several.items():
        latest = max(rows, key=lambda row: row["jd"])
        alert = CutoutReader(lake).read(path, object_id=object_id, kinds=["Difference"])
        assert (alert.alert_id, alert.time) == (latest["candid"], latest["jd"])
        assert alert.stamps["Difference"].fits_bytes == latest["fits"]["Difference"]
        first_row_was_not_latest += rows[0]["candid"] != latest["candid"]
    assert first_row_was_not_latest >= 4


def test_only_the_requested_kinds_are_returned(ztf_lake, ztf_rows):
    path = ztf_lake.night_files("19881103")[0]
    alert = CutoutReader(ztf_lake).read(path, "ZTF18aaqfhlj", kinds=("Template",))
    assert list(alert.stamps) == ["Template"]
    row = next(row for row in ztf_rows if row["candid"] == alert.alert_id)
    assert alert.stamps["Template"].fits_bytes == row["fits"]["Template"]
    assert alert.properties == displayed(row)


def test_unknown_objects_and_alerts_are_not_found(ztf_lake):
    reader = CutoutReader(ztf_lake)
    path = ztf_lake.night_files("19881103")[0]
    with pytest.raises(NotFound, match="objectId: no alert of ZTF24abssjsb"):
        reader.read(path, "ZTF24abssjsb")
    with pytest.raises(NotFound, match="candid: no alert 1"):
        reader.read(path, alert_id=1)
    other = reader.read(path, "ZTF18aaqfhlj")
    with pytest.raises(NotFound, match="is not an alert of ZTF19aaapmmu"):
        reader.read(path, "ZTF19aaapmmu", alert_id=other.alert_id)


def test_rubin_cutouts_by_dia_source_id(rubin_lake, rubin_records):
    reader = CutoutReader(rubin_lake)
    files = rubin_lake.night_files("20260306")
    assert len(files) == 3
    found = 0
    for record in rubin_records:
        for path in files:
            try:
                alert = reader.read(path, alert_id=record["diaSourceId"])
            except NotFound:
                continue
            found += 1
            assert alert.survey is LSST
            assert alert.time == record["diaSource"]["midpointMjdTai"]
            for kind in KINDS:
                assert alert.stamps[kind].fits_bytes == record[f"cutout{kind}"]
            assert alert.object_id == _dia_object_id(record)
            assert alert.properties["magnitude_unit"] == "nJy"
            assert alert.properties["filter"] == record["diaSource"]["band"]
    assert found == len(rubin_records) == 9
    assert sum(_dia_object_id(record) is None for record in rubin_records) == 2


def _dia_object_id(record: dict) -> int | None:
    return (record["diaObject"] or {}).get("diaObjectId")


def test_rubin_latest_alert_of_an_object(rubin_lake, rubin_records):
    object_id = next(_dia_object_id(r) for r in rubin_records if _dia_object_id(r))
    for path in rubin_lake.night_files("20260306"):
        try:
            alert = CutoutReader(rubin_lake, LSST).read(path, object_id=str(object_id))
        except NotFound:
            continue
        assert alert.object_id == object_id
        assert alert.stamps["Science"].data.shape == (30, 30)
        assert np.isfinite(alert.stamps["Science"].data).any()
        return
    pytest.fail(f"object {object_id} not found")
