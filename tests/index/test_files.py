import pyarrow as pa
import pyarrow.ipc as ipc

from fink_cutout_jupyter.index.files import (
    ROW_GROUP_ROWS,
    SortedFile,
    index_file_bytes,
    index_file_rows,
    read_index_table,
)
from fink_cutout_jupyter.storage.lake import Lake


def test_an_index_file_finds_every_key_across_batch_boundaries(tmp_path):
    keys = sorted([f"ZTF{i // 3:09d}" for i in range(3 * 300)])  # 3 entries a key, 900 rows
    table = pa.table({"object_id": keys, "alert_id": list(range(len(keys)))})
    data = index_file_bytes(table, "object_id")
    (tmp_path / "f.arrow").write_bytes(data)

    opened = SortedFile(pa.BufferReader(data), "object_id")
    assert ipc.open_file(pa.BufferReader(data)).num_record_batches == -(-900 // ROW_GROUP_ROWS)
    looked_up = ("ZTF000000000", "ZTF000000085", "ZTF000000170", "ZTF000000299")
    for key in looked_up:  # ZTF000000085 is in rows 255-257: across the first batch boundary
        found = opened.rows_with(key)
        assert [row["alert_id"] for row in found] == [i for i, k in enumerate(keys) if k == key]
    assert opened.rows_with("ZTF999999999") == []
    batches = {row // ROW_GROUP_ROWS for row, key in enumerate(keys) if key in looked_up}
    assert opened.reads == len(batches) == 4  # each batch decoded once
    opened.forget_decoded()
    opened.rows_with("ZTF000000000")
    assert opened.reads == 5

    store = Lake(tmp_path)
    assert index_file_rows(store, "f.arrow") == 900
    assert read_index_table(store, "f.arrow").equals(table)
