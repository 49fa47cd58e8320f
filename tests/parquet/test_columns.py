"""Nested columns by dotted path and each survey's object ids, on the real ZTF files."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.real_data import displayed, ztf_lake_files

from fink_cutout_jupyter.parquet.columns import (
    display_properties,
    has_leaf,
    leaf,
    leaf_paths,
    object_id_at,
    object_ids,
    present,
    value,
)
from fink_cutout_jupyter.surveys import LSST, ZTF


@pytest.fixture(scope="module")
def real_file():
    lake, path = ztf_lake_files()[0]
    return pq.ParquetFile(lake.resolve(path))


@pytest.fixture(scope="module")
def real_table(real_file):
    return real_file.read(columns=["objectId", "candid", "candidate"])


def test_leaf_paths_are_the_files_columns_by_dotted_path(real_file):
    paths = leaf_paths(real_file.schema)
    assert len(paths) == real_file.metadata.num_columns
    assert {"objectId", "candid", "candidate.jd", "candidate.magpsf"} <= set(paths)
    assert "candidate" not in paths  # a struct is not a leaf


def test_present_keeps_the_files_paths_in_order_once(real_file):
    asked = ["candidate.jd", "candidate.nope", "", None, "candid", "candidate.jd"]
    assert present(real_file.schema, asked) == ["candidate.jd", "candid"]


def test_has_leaf_follows_structs_only(real_table):
    assert has_leaf(real_table, "candidate.jd")
    assert has_leaf(real_table, "objectId")
    assert not has_leaf(real_table, "candidate.nope")
    assert not has_leaf(real_table, "candid.jd")  # an integer has no fields
    assert not has_leaf(real_table, "cutoutScience")  # not read


def test_leaves_and_values_are_pyarrows_nested_values(real_table):
    rows = real_table.to_pylist()
    assert leaf(real_table, "candidate.magpsf").to_pylist() == [
        row["candidate"]["magpsf"] for row in rows
    ]
    for row in (0, len(rows) // 2, len(rows) - 1):
        assert value(real_table, "candidate.jd", row) == rows[row]["candidate"]["jd"]
        assert value(real_table, "candid", row) == rows[row]["candid"]


def test_ztf_object_ids_are_the_objectid_column(real_table):
    assert object_ids(real_table, ZTF).to_pylist() == real_table.column("objectId").to_pylist()
    assert object_id_at(real_table, ZTF, 3) == real_table.column("objectId")[3].as_py()


def test_rubin_object_ids_are_the_first_set_column_zero_being_unset():
    """diaObject's id, else the diaSource's; 0 (Rubin's "none") or null in both is None."""
    diaobject = pa.struct([("diaObjectId", pa.int64())])
    table = pa.table(
        {
            "diaObject": pa.array([{"diaObjectId": 7}, None, {"diaObjectId": 0}, None], diaobject),
            "diaSource": pa.array(
                [{"diaObjectId": 9}, {"diaObjectId": 8}, {"diaObjectId": 6}, {"diaObjectId": 0}],
                diaobject,
            ),
        }
    )
    assert object_ids(table, LSST).to_pylist() == [7, 8, 6, None]
    assert object_id_at(table, LSST, 3) is None


def test_display_properties_are_the_candidates_fields(real_table):
    rows = real_table.to_pylist()
    for row in range(0, len(rows), 5):
        assert display_properties(real_table, ZTF, row) == displayed(rows[row])
