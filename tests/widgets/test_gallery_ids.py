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


@pytest.fixture(scope="module")
def rubin_client(rubin_lake, tmp_path_factory):
    """The in-process client of a copy of the real Rubin lake, indexed."""
    import shutil
    from pathlib import Path

    from fink_cutout_jupyter.client import CutoutClient
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    root = tmp_path_factory.mktemp("rubin-lake-copy")
    shutil.copytree(Path(rubin_lake.uri) / "science", root / "science")
    lake = Lake(root)
    build(AlertIndex(lake), lake.nights(), progress=False)
    return CutoutClient(lake=lake)


def _solar_system_records(rubin_records) -> list[dict]:
    found = [r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") is not None]
    assert len(found) == 2, "the real Rubin alerts hold two solar-system alerts"
    return found


def test_a_solar_system_objects_alerts_make_a_gallery_of_it(rubin_client, rubin_records):
    """`CutoutClient.alerts(ss_object_id=...)`: objectId null in every record, so the gallery
    is of the ssObjectId, as fastavro reads it (as text: /alerts keeps Rubin ids exact), and its
    tile is the object's alert."""
    from fink_cutout_jupyter.widgets.gallery import CutoutGallery

    for record in _solar_system_records(rubin_records):
        ss_object_id = record["ssSource"]["ssObjectId"]
        alerts = rubin_client.alerts(ss_object_id=ss_object_id)
        assert [alert["objectId"] for alert in alerts] == [None]
        assert gallery_ids(alerts) == ([str(ss_object_id)], "ssObjectId")
        gallery = CutoutGallery(alerts, client=rubin_client, autosave=False)
        (tile,) = gallery.grid.tiles
        assert (tile["id"], tile["status"][:2]) == (str(ss_object_id), "ok")
        assert tile["caption"][0] == f"{ss_object_id} ({record['ssSource']['designation']})"


def test_a_solar_system_alerts_diaobjectid_of_0_is_passed_over(rubin_records):
    """Records and a table as the real alerts give them: diaObjectId 0, ssObjectId set."""
    found = _solar_system_records(rubin_records)
    records = [
        {"diaObjectId": r["diaSource"]["diaObjectId"], "ssObjectId": r["ssSource"]["ssObjectId"]}
        for r in found
    ]
    assert [record["diaObjectId"] for record in records] == [0, 0]
    expected = ([r["ssSource"]["ssObjectId"] for r in found], "ssObjectId")
    assert gallery_ids(records) == expected
    assert gallery_ids(pd.DataFrame(records)) == expected
    assert gallery_ids(pd.DataFrame(records)[["diaObjectId", "ssObjectId"]]) == expected


def test_a_rubin_tables_objects_are_its_diaobjectids_without_solar_system_alerts(rubin_lake):
    """The lake's own columns read with pyarrow: ssObjectId all null for the alerts of
    diaObjects, so their diaObjectId names them."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    table = ds.dataset(rubin_lake.uri + "/science", format="parquet").to_table(
        columns={
            "diaObjectId": pc.field("diaSource", "diaObjectId"),
            "ssObjectId": pc.field("ssSource", "ssObjectId"),
        }
    )
    frame = table.filter(pc.is_null(table.column("ssObjectId"))).to_pandas()
    assert len(frame) == 7
    assert frame["ssObjectId"].isna().all()
    assert gallery_ids(frame) == (frame["diaObjectId"].tolist(), "diaObjectId")
