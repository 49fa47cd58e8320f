"""Ids given as a file: text, CSV or Parquet, and the column that holds them."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.contract.id_files import BY_COLUMN, ID_COLUMNS, id_column, read_ids
from fink_cutout_jupyter.errors import BadParameter


def test_a_text_file_gives_one_id_a_line_without_blanks_or_comments(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("# my selection\nZTF24abssjsb\n\n  ZTF21aaxtctv  \r\n# end\n")
    assert read_ids(str(ids)) == (["ZTF24abssjsb", "ZTF21aaxtctv"], None)


def test_csv_and_parquet_columns_are_found_by_name_or_named(tmp_path):
    csv = tmp_path / "ids.csv"
    csv.write_text("ra,candid\n1.5,1234567890123\n2.5,1234567890124\n")
    assert read_ids(str(csv)) == ([1234567890123, 1234567890124], "candid")
    parquet = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"mine": ["a", "b"], "objectId": ["ZTF1", "ZTF2"]}), parquet)
    assert read_ids(str(parquet)) == (["ZTF1", "ZTF2"], "objectId")
    assert read_ids(str(parquet), "mine") == (["a", "b"], "mine")
    assert BY_COLUMN["objectId"] == "objectId"
    assert BY_COLUMN["alertId"] == "candid"


def test_the_column_rule(tmp_path):
    assert id_column("t", ["x", "diaSourceId", "candid"], None) == "candid"  # ID_COLUMNS' order
    assert ID_COLUMNS.index("candid") < ID_COLUMNS.index("diaSourceId")
    assert id_column("t", ["only"], None) == "only"
    with pytest.raises(BadParameter, match="column: t has none of objectId"):
        id_column("t", ["a", "b"], None)
    with pytest.raises(BadParameter, match="column: 'z' is not a column of t; its columns: a, b"):
        id_column("t", ["a", "b"], "z")


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("ids.json", "[1]", r"IDS: .*unknown format '.json'"),
        ("ids.txt", "\n# nothing\n", r"IDS: .* holds no ids"),
        ("ids.csv", "candid\n1\n\n", None),
        ("ids.csv", "candid,x\n1,a\n,b\n", r"column: candid of .* is empty in row 2"),
        ("ids.parquet", "not parquet", r"IDS: .* cannot be read as parquet"),
    ],
)
def test_bad_files_are_named(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    if match is None:
        assert read_ids(str(path)) == ([1], "candid")
        return
    with pytest.raises(BadParameter, match=match):
        read_ids(str(path))
    with pytest.raises(BadParameter, match=r"IDS: .* is not a file"):
        read_ids(str(tmp_path / "missing.txt"))
    with pytest.raises(BadParameter, match=r"column: .* is a text file"):
        read_ids(str(tmp_path / "ids.txt") if name == "ids.txt" else str(_text(tmp_path)), "x")


def _text(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("1\n")
    return path


def test_a_byte_order_mark_is_not_part_of_the_first_id(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_bytes("\ufeff1234567890123\r\n1234567890124\r\n".encode())
    assert read_ids(str(ids)) == (["1234567890123", "1234567890124"], None)
    ids.write_bytes("1\n".encode("utf-16"))
    with pytest.raises(BadParameter, match=r"IDS: .* is not UTF-8 text"):
        read_ids(str(ids))


def test_floating_point_ids_are_refused_not_rounded(tmp_path):
    """pandas writes a candid column as float64 once it held a NaN: 19-digit ids would round."""
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"candid": [2468239182615015015.0, 2.5]}), path)
    with pytest.raises(
        BadParameter, match=r"column: candid of .* floating-point numbers \(double\).*\(int64\)"
    ):
        read_ids(str(path))
