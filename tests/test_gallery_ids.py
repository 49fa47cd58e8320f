"""The gallery's display-free parts: ids from lists and DataFrames, labels and their files."""

import numpy as np
import pandas as pd
import pytest

from fink_cutout_jupyter.gallery_ids import Labels, gallery_ids, pages


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


def test_pages():
    assert (pages(120, 60), pages(121, 60), pages(1, 60)) == (2, 3, 1)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_labels_keep_their_time_and_survive_a_file(tmp_path, suffix):
    labels = Labels(["real", "bogus", "unsure"])
    labels.set("ZTF1", "real")
    labels.set(2, "bogus")
    labels.set("ZTF1", "unsure")  # relabelled: the new label and time
    labels.set("ZTF3", "real")
    labels.set("ZTF3", None)
    frame = labels.frame()
    assert list(frame.columns) == ["id", "label", "labelled_at"]
    assert frame[["id", "label"]].values.tolist() == [["ZTF1", "unsure"], ["2", "bogus"]]
    assert str(frame["labelled_at"].dt.tz) == "UTC"
    labels.save(tmp_path / f"labels{suffix}")
    again = Labels(["real", "bogus", "unsure"])
    assert again.load(tmp_path / f"labels{suffix}") == 2
    assert again.as_dict() == {"ZTF1": "unsure", "2": "bogus"}
    assert (again.frame()["labelled_at"] == frame["labelled_at"]).all()


def test_unknown_label_names_are_refused(tmp_path):
    labels = Labels(["real", "bogus"])
    with pytest.raises(ValueError, match="not one of real, bogus"):
        labels.set("x", "maybe")
    pd.DataFrame({"id": ["x"], "label": ["maybe"], "labelled_at": ["2026-01-01"]}).to_csv(
        tmp_path / "other.csv", index=False
    )
    with pytest.raises(ValueError, match="are not among real, bogus"):
        labels.load(tmp_path / "other.csv")
    with pytest.raises(ValueError, match="distinct"):
        Labels(["a", "a"])
