"""Row group reads: a file scanned by its id columns, refused when it is not an alert file."""

import pytest

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import NotFound


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
