"""Stamps on Spark (local[2]) against the single process and against the stored bytes.

Every answer is checked against `CutoutClient(lake=...).batch` on the same ids (statuses, alert
ids, display fields, pixels) and against what pyarrow reads from the lake's files, opened by
astropy: the demo lake, the real ZTF files of ../shared/data, a file rewritten at the same size
after indexing. The exports are read back with pyarrow.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from support.rewrites import stored_stamps, swap_rows

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.doors.spark import (
    cutouts_with_spark,
    export_with_spark,
    output_schema,
)
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import KINDS

METADATA = ("objectId", "alertId", "jd", "date", "filter", "magnitude", "ra", "dec", "hdfsPath")


def astropy_pixels(fits_bytes: bytes) -> np.ndarray:
    with fits.open(io.BytesIO(fits_bytes), ignore_missing_simple=True) as hdus:
        return next(hdu.data for hdu in hdus if hdu.data is not None).astype(np.float32)


def pixels(row, kind: str) -> np.ndarray:
    flat = np.asarray(row[kind], dtype=np.float32)
    return flat.reshape(row[f"{kind}_height"], row[f"{kind}_width"])


def by_id(rows) -> dict[str, dict]:
    answered = {}
    for row in rows:
        row = row.asDict() if hasattr(row, "asDict") else row
        assert row["id"] not in answered, f"{row['id']} answered twice"
        answered[row["id"]] = row
    return answered


def assert_same_as_the_batch(answered: dict[str, dict], client: CutoutClient, ids, by="auto"):
    """Each id's status, alert and display fields as `batch` gives them; pixels where the batch
    has them (its stack's shape)."""
    stamps, table = client.batch(ids, by=by, progress=False)
    assert len(answered) == len(ids)
    for position, record in enumerate(table.to_dict("records")):
        row = answered[record["id"]]
        assert row["status"] == record["status"].split("; other shape")[0]
        for name in METADATA:
            expected = record[name]
            assert row[name] == (None if pd_missing(expected) else expected), name
        for number, kind in enumerate(KINDS):
            batch_pixels = stamps[position, number]
            if row["status"] != "ok":
                assert row[kind] is None
            elif (row[f"{kind}_height"], row[f"{kind}_width"]) == batch_pixels.shape:
                assert np.array_equal(pixels(row, kind), batch_pixels, equal_nan=True)
            else:  # the batch's stack sends a stamp of another shape as NaN
                assert np.isnan(batch_pixels).all()
                assert "other shape" in record["status"]


def pd_missing(value) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def test_every_demo_alert_as_arrays_equals_the_batch_and_astropy(spark, demo, demo_stored):
    candids = list(demo_stored)
    random.Random(3).shuffle(candids)
    ids = spark.createDataFrame([(c,) for c in candids], "candid long")
    frame = cutouts_with_spark(spark, ids, demo.root)
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == output_schema(
        KINDS
    )
    answered = by_id(frame.collect())
    assert_same_as_the_batch(answered, CutoutClient(lake=str(demo.root)), candids)
    shapes = set()
    for candid, alert in demo_stored.items():
        row = answered[str(candid)]
        assert (row["status"], row["alertId"], row["objectId"]) == ("ok", candid, alert["objectId"])
        assert row["hdfsPath"] == alert["path"]
        for kind in KINDS:
            expected = astropy_pixels(alert["fits"][kind])
            assert pixels(row, kind).dtype == np.float32
            assert np.array_equal(pixels(row, kind), expected, equal_nan=True)
            shapes.add(expected.shape)
    assert len(shapes) > 1, "the demo lake has stamps cut at a CCD edge: other shapes"
    assert any(np.isnan(pixels(row, "Science")).any() for row in answered.values()), "NaN kept"


def test_fits_output_is_the_stored_bytes(spark, demo, demo_stored):
    chosen = random.Random(5).sample(list(demo_stored), 150)
    ids = spark.createDataFrame([(str(c),) for c in chosen], "alertId string")
    frame = cutouts_with_spark(
        spark, ids, Lake(demo.root), ["Difference", "Science"], output="FITS"
    )
    assert frame.columns[-2:] == ["Difference", "Science"]
    answered = by_id(frame.collect())
    for candid in chosen:
        row = answered[str(candid)]
        assert row["alertId"] == candid
        for kind in ("Difference", "Science"):
            assert bytes(row[kind]) == demo_stored[candid]["fits"][kind]


def test_object_ids_answer_each_objects_latest_alert_as_the_batch_does(spark, demo):
    import pyarrow.compute as pc

    objects = sorted(
        {o for f in demo.files for o in pq.read_table(demo.root / f).column("objectId").to_pylist()}
    )
    chosen = objects[::3]
    ids = spark.createDataFrame([(o,) for o in chosen], "objectId string")
    answered = by_id(cutouts_with_spark(spark, ids, demo.root).collect())
    assert_same_as_the_batch(answered, CutoutClient(lake=str(demo.root)), chosen)
    for object_id in chosen:  # the latest: the largest jd, read with pyarrow
        alerts = []
        for path in demo.files:
            table = pq.read_table(demo.root / path, columns=["objectId", "candid", "candidate"])
            table = table.filter(pc.equal(table.column("objectId"), object_id))
            alerts += [(r["candidate"]["jd"], r["candid"]) for r in table.to_pylist()]
        assert answered[object_id]["alertId"] == max(alerts)[1]


def test_unknown_empty_and_malformed_ids_get_their_status_and_no_stamps(spark, demo, demo_stored):
    some = next(iter(demo_stored))
    ids = spark.createDataFrame(
        [("1",), (str(some),), ("",), (None,), ("ZTF99zzzzzzz",), ("not an id",)], "id string"
    )
    answered = cutouts_with_spark(spark, ids, demo.root, by="candid").collect()
    statuses = sorted((row["id"] or "", row["status"]) for row in answered)
    assert [s for _, s in statuses if s.startswith("not found")] == [
        "not found: candid: no alert 1 in the lake's alert index"
    ]
    assert dict(statuses)[str(some)] == "ok"
    assert [i for i, s in statuses if s.startswith("bad id")] == [
        "",
        "",
        "ZTF99zzzzzzz",
        "not an id",
    ]
    for row in answered:
        if row["status"] != "ok":
            assert row["Science"] is None
            assert row["alertId"] is None
    unknown = spark.createDataFrame([("ZTF99zzzzzzz",)], "objectId string")
    (row,) = cutouts_with_spark(spark, unknown, demo.root).collect()
    assert row["status"].startswith("not found: objectId: no alert of ZTF99zzzzzzz")


@pytest.mark.parametrize("keep_mtime", [True, False], ids=["same-mtime", "new-mtime"])
def test_a_file_rewritten_since_indexing_still_answers_the_requested_alerts(
    spark, rewritable_lake, keep_mtime
):
    lake = rewritable_lake
    candids = lake.table.column("candid").to_pylist()
    rewritten = swap_rows(swap_rows(lake.table, 0, 1), 5, 40)
    lake.rewrite(rewritten, keep_mtime=keep_mtime)
    ids = spark.createDataFrame([(c,) for c in candids], "candid long")
    answered = by_id(cutouts_with_spark(spark, ids, lake.lake, output="FITS").collect())
    for candid in candids:
        row = answered[str(candid)]
        assert (row["status"], row["alertId"]) == ("ok", candid)
        assert {k: bytes(row[k]) for k in KINDS} == stored_stamps(lake.file, candid)


def test_the_real_ztf_files_equal_the_stored_bytes(spark, real_lake_case, ztf_rows):
    rows = [row for row in ztf_rows if row["lake"].uri.endswith("ztf/lake")]
    ids = spark.createDataFrame([(row["candid"],) for row in rows], "candid long")
    lake = Lake(real_lake_case.lake, science_dir=real_lake_case.science_dir)
    arrays = by_id(cutouts_with_spark(spark, ids, lake, index=real_lake_case.index).collect())
    stored = by_id(
        cutouts_with_spark(spark, ids, lake, output="FITS", index=real_lake_case.index).collect()
    )
    for row in rows:
        answer, fits_answer = arrays[str(row["candid"])], stored[str(row["candid"])]
        assert (answer["status"], answer["objectId"], answer["jd"]) == (
            "ok",
            row["objectId"],
            row["jd"],
        )
        assert answer["hdfsPath"] == row["path"]
        for kind in KINDS:
            assert bytes(fits_answer[kind]) == row["fits"][kind]
            expected = astropy_pixels(row["fits"][kind])
            assert np.array_equal(pixels(answer, kind), expected, equal_nan=True)


def test_export_writes_a_parquet_dataset_equal_to_the_batch(spark, demo, demo_stored, tmp_path):
    candids = random.Random(11).sample(list(demo_stored), 200)
    text = tmp_path / "ids.txt"
    text.write_text("# ids\n" + "\n".join(str(c) for c in candids) + "\n\n 1 \n")
    out = tmp_path / "stamps.parquet"
    summary = export_with_spark(spark, str(text), str(demo.root), str(out))
    assert (summary.rows, summary.ok, summary.not_found, summary.failed) == (201, 200, 1, 0)
    assert out.is_dir()
    assert not [p for p in tmp_path.iterdir() if ".spark-" in p.name]
    table = pq.read_table(out)
    assert table.num_rows == 201
    answered = {row["id"]: row for row in table.to_pylist()}
    assert_same_as_the_batch(
        {k: v for k, v in answered.items() if k != "1"},
        CutoutClient(lake=str(demo.root)),
        [str(c) for c in candids],
    )
    with pytest.raises(BadParameter, match=r"out: .* exists"):
        export_with_spark(spark, str(text), str(demo.root), str(out))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export_reads_ids_from_csv_and_parquet_columns(spark, demo, demo_stored, tmp_path, suffix):
    candids = sorted(demo_stored)[:30]
    table = pa.table({"name": [f"n{c}" for c in candids], "candid": candids})
    ids = tmp_path / f"ids.{suffix}"
    if suffix == "csv":
        import pyarrow.csv

        pyarrow.csv.write_csv(table, ids)
    else:
        pq.write_table(table, ids)
    out = tmp_path / "out"
    summary = export_with_spark(spark, str(ids), demo.root, str(out), kinds=["Template"])
    assert (summary.rows, summary.ok) == (30, 30)
    written = pq.read_table(out).to_pylist()
    assert sorted(row["alertId"] for row in written) == candids
    for row in written:
        flat = np.asarray(row["Template"], np.float32).reshape(
            row["Template_height"], row["Template_width"]
        )
        expected = astropy_pixels(demo_stored[row["alertId"]]["fits"]["Template"])
        assert np.array_equal(flat, expected, equal_nan=True)
    with pytest.raises(BadParameter, match="column: 'nope' is not a column of ids; its columns"):
        export_with_spark(spark, str(ids), demo.root, str(tmp_path / "x"), column="nope")


def test_bad_parameters_are_named(spark, demo):
    ids = spark.createDataFrame([(1.0, "a")], "candid double, other string")
    with pytest.raises(BadParameter, match="column: candid holds double ids"):
        cutouts_with_spark(spark, ids, demo.root)
    with pytest.raises(BadParameter, match="output: 'PNG'"):
        cutouts_with_spark(spark, ids, demo.root, id_column="other", output="PNG")
    with pytest.raises(BadParameter, match="kind: "):
        cutouts_with_spark(spark, ids, demo.root, kinds=["Sky"])
    with pytest.raises(BadParameter, match="by: 'ssObjectId'"):
        cutouts_with_spark(spark, ids, demo.root, id_column="other", by="ssObjectId")
    with pytest.raises(BadParameter, match=r"ids: .*nowhere\.txt does not exist"):
        export_with_spark(spark, str(demo.root / "nowhere.txt"), demo.root, str(demo.root / "o"))
    two = spark.createDataFrame([("a", "b")], "x string, y string")
    with pytest.raises(BadParameter, match="column: ids has none of objectId, candid"):
        cutouts_with_spark(spark, two, demo.root)


def test_rubin_sources_and_objects_give_the_stored_three_hdu_fits_and_its_image(spark, rubin_demo):
    """Rubin's raw (not gzipped) 3-HDU stamps: the FITS output is the stored bytes, the array
    the first image HDU as astropy reads it; diaObjectIds (numbers) need `by`."""
    stored = {}
    for path in rubin_demo.files:
        columns = ["diaSourceId", "diaObject", *(f"cutout{kind}" for kind in KINDS)]
        for record in pq.read_table(rubin_demo.root / path, columns=columns).to_pylist():
            stored[record["diaSourceId"]] = record
    ids = spark.createDataFrame([(source,) for source in stored], "diaSourceId long")
    arrays = by_id(cutouts_with_spark(spark, ids, rubin_demo.root).collect())
    fits_rows = by_id(cutouts_with_spark(spark, ids, rubin_demo.root, output="FITS").collect())
    for source, record in stored.items():
        assert (arrays[str(source)]["status"], arrays[str(source)]["alertId"]) == ("ok", source)
        for kind in KINDS:
            assert bytes(fits_rows[str(source)][kind]) == record[f"cutout{kind}"]
            expected = astropy_pixels(record[f"cutout{kind}"])
            assert np.array_equal(pixels(arrays[str(source)], kind), expected, equal_nan=True)
    objects = sorted({r["diaObject"]["diaObjectId"] for r in stored.values() if r["diaObject"]})
    frame = spark.createDataFrame([(str(o),) for o in objects], "id string")
    answered = by_id(cutouts_with_spark(spark, frame, rubin_demo.root, by="diaObjectId").collect())
    assert_same_as_the_batch(
        answered, CutoutClient(lake=str(rubin_demo.root)), [str(o) for o in objects], "diaObjectId"
    )
    assert {row["status"] for row in answered.values()} == {"ok"}


def test_a_stamp_that_does_not_decode_fails_its_own_row_only(spark, tmp_path):
    import pyarrow.compute as pc
    from support.rewrites import real_alerts, write_fixed_layout

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    table = real_alerts()
    stamps = table.column("cutoutScience").combine_chunks()
    stored = pc.struct_field(stamps, "stampData").to_pylist()
    stored[7] = b"not gzip at all"
    broken = pa.StructArray.from_arrays(
        [pc.struct_field(stamps, "fileName"), pa.array(stored, pa.binary())],
        ["fileName", "stampData"],
    )
    table = table.set_column(table.schema.get_field_index("cutoutScience"), "cutoutScience", broken)
    file = tmp_path / "science/year=2021/month=11/day=21/part-00000-broken.parquet"
    file.parent.mkdir(parents=True)
    write_fixed_layout(table, file)
    lake = Lake(tmp_path)
    build(AlertIndex(lake), lake.nights(), progress=False)
    candids = table.column("candid").to_pylist()
    ids = spark.createDataFrame([(c,) for c in candids], "candid long")
    for output in ("array", "FITS"):
        answered = by_id(cutouts_with_spark(spark, ids, lake, output=output).collect())
        for number, candid in enumerate(candids):
            row = answered[str(candid)]
            if number == 7:
                assert row["status"].startswith(
                    f"corrupt: kind: the Science stamp of alert {candid} in "
                ), row["status"]
                assert row["Science"] is None
                assert row["alertId"] == candid
            else:
                assert row["status"] == "ok"
                assert row["Science"] is not None
