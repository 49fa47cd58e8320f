"""The ids a gallery is given, from lists and DataFrames, and its pages."""

import re

import numpy as np
import pandas as pd
import pytest

from fink_cutout_jupyter.widgets.gallery_ids import gallery_ids, pages


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (pd.DataFrame({"candid": [1, 2], "objectId": ["a", "b"]}), ([1, 2], "candid")),
        (
            pd.DataFrame({"i:objectId": ["ZTF1", "ZTF2"], "x": [1, 2]}),
            (["ZTF1", "ZTF2"], "objectId"),
        ),
        (pd.DataFrame({"diaSourceId": np.array([5, 6], dtype=np.int64)}), ([5, 6], "diaSourceId")),
        (pd.DataFrame({"diaObjectId": [7]}), ([7], "diaObjectId")),
        (pd.DataFrame({"i:candid": [8], "i:objectId": ["Z"]}), ([8], "candid")),
    ],
)
def test_a_dataframes_id_column_is_found(frame, expected):
    ids, by = gallery_ids(frame)
    assert (ids, by) == expected
    assert all(type(i) in (int, str) for i in ids), "plain Python values, not numpy"


def test_lists_guess_alert_ids_from_numbers_and_objects_otherwise():
    assert gallery_ids([1, np.int64(2)]) == ([1, 2], "candid")
    assert gallery_ids(["ZTF24abssjsb"]) == (["ZTF24abssjsb"], "objectId")
    assert gallery_ids([170028485706776685], by="diaObjectId")[1] == "diaObjectId"


def test_tables_without_ids_and_empty_selections_are_refused():
    with pytest.raises(ValueError, match="no id column"):
        gallery_ids(pd.DataFrame({"ra": [1.0]}))
    with pytest.raises(ValueError, match="empty"):
        gallery_ids([])


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        # One missing alert id makes pandas hold the column as floats: every id loses digits.
        (pd.DataFrame({"candid": [1786104593715015012, None]}), "row 1 is 1.786104593715015e+18"),
        (pd.DataFrame({"candid": pd.array([1786104593715015012, None], "Int64")}), "row 2 is <NA>"),
        (pd.DataFrame({"objectId": ["ZTF24abssjsb", None]}), "row 2 is nan"),
        ([1786104593715015012, 1.5], "row 2 is 1.5"),
        (["ZTF24abssjsb", " "], "row 2 is ' '"),
    ],
)
def test_missing_and_float_ids_are_refused(source, refused):
    with pytest.raises(ValueError, match=re.escape(refused) + ".*: ids are whole numbers or text"):
        gallery_ids(source)


def test_pages():
    assert (pages(120, 60), pages(121, 60), pages(1, 60)) == (2, 3, 1)


def test_solar_system_objects_from_records_or_a_column():
    records = [{"ssObjectId": 21163624394469969}, {"ssObjectId": np.int64(21165806389311562)}]
    assert gallery_ids(records) == ([21163624394469969, 21165806389311562], "ssObjectId")
    frame = pd.DataFrame({"ssObjectId": [21163624394469969], "designation": ["2004 JQ12"]})
    assert gallery_ids(frame) == ([21163624394469969], "ssObjectId")
    mixed = [{"diaSourceId": 5, "ssObjectId": 7}, {"diaSourceId": 6, "ssObjectId": 8}]
    assert gallery_ids(mixed) == ([5, 6], "diaSourceId"), "the most precise id first"
    with pytest.raises(ValueError, match="no id column among"):
        gallery_ids([{"ssObjectId": 1}, {"designation": "2004 JQ12"}])
