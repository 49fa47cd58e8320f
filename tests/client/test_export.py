"""export on real lakes: rows equal to astropy on the stored bytes and to single requests, files
readable by pyarrow and pandas alone, resumed parts, refused other ids and concurrent exports,
and a lake file whose rows swap places between two parts."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from support.exports import (
    KINDS,
    assert_same_export,
    astropy_pixels,
    check_row,
    exported,
    stored_alerts,
)
from support.rewrites import stored_stamps, swap_rows

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.client.export import ExportBusy, ExportLock, export
from fink_cutout_jupyter.errors import BadParameter


@pytest.fixture(scope="module")
def alerts(demo):
    return stored_alerts(demo.root)


def _ids(alerts, count: int) -> list[int]:
    return list(alerts)[:count]


def test_parquet_rows_are_the_stored_stamps_and_the_single_requests(demo, alerts, tmp_path):
    ids = [*_ids(alerts, 130), 1]
    out = tmp_path / "set.parquet"
    summary = export(demo.root, ids, out, batch_size=50, progress=False)
    rows, stamps = exported(out)
    assert [row["id"] for row in rows] == [str(i) for i in ids]
    assert [row["alertId"] for row in rows[:-1]] == ids[:-1]
    assert rows[-1]["status"].startswith("not found")
    assert rows[-1]["alertId"] is None
    assert np.isnan(stamps["Science"][-1]).all()
    for position, row in enumerate(rows[:-1]):
        expected = alerts[row["alertId"]]
        assert row["objectId"] == expected["objectId"]
        got = {kind: stamps[kind][position] for kind in KINDS}
        check_row(got, expected["stamps"], row["status"])
    other = sum(alerts[i]["stamps"]["Science"].shape != (63, 63) for i in ids[:-1])
    assert other > 0
    assert (summary.rows, summary.ok, summary.not_found) == (131, 130 - other, 1)
    assert (summary.other_shape, summary.failed, summary.shape) == (other, 0, (63, 63))
    client = CutoutClient(lake=demo.root)
    for position in (0, 77):
        row = rows[position]
        single = client.array(row["objectId"], row["alertId"], "Difference")
        assert np.array_equal(single.astype(np.float32), stamps["Difference"][position])
        fits_bytes = client.fits_bytes(row["objectId"], row["alertId"], "Template")
        assert np.array_equal(astropy_pixels(fits_bytes), stamps["Template"][position])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.parquet"]


def test_pyarrow_and_pandas_read_it_without_this_package(demo, alerts, tmp_path):
    out = tmp_path / "set.parquet"
    export(demo.root, _ids(alerts, 3), out, kinds=["Science"], progress=False)
    expected = alerts[_ids(alerts, 1)[0]]["stamps"]["Science"]
    np.save(tmp_path / "expected.npy", expected)
    code = f"""
import sys
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
table = pq.read_table({str(out)!r})
assert isinstance(table.schema.field("Science").type, pa.FixedShapeTensorType)
assert table.schema.field("Science").type.value_type == pa.float32()
pixels = table.column("Science").combine_chunks().to_numpy_ndarray()
assert pixels.shape == (3, 63, 63), pixels.shape
expected = np.load({str(tmp_path / "expected.npy")!r})
assert np.array_equal(pixels[0], expected, equal_nan=True)
frame = pd.read_parquet({str(out)!r})
assert np.array_equal(frame["Science"][0].reshape(63, 63), expected, equal_nan=True)
assert not [m for m in sys.modules if m.startswith("fink_cutout_jupyter")]
print("read")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "read", done.stderr


def test_npy_is_the_parquet_stamps_beside_its_table(demo, alerts, tmp_path):
    ids = _ids(alerts, 60)
    export(demo.root, ids, tmp_path / "a.parquet", batch_size=25, progress=False)
    summary = export(demo.root, ids, tmp_path / "b.npy", batch_size=25, fmt="npy", progress=False)
    assert summary.table == tmp_path / "b.parquet"
    rows, stamps = exported(tmp_path / "a.parquet")
    array = np.load(tmp_path / "b.npy")
    assert array.shape == (60, 3, 63, 63)
    assert array.dtype == np.float32
    for position, kind in enumerate(KINDS):
        assert np.array_equal(array[:, position], stamps[kind], equal_nan=True)
    assert pq.read_table(tmp_path / "b.parquet").to_pylist() == rows


def test_a_rerun_continues_from_the_parts_and_other_ids_are_refused(demo, alerts, tmp_path):
    ids = _ids(alerts, 100)
    out = tmp_path / "set.parquet"
    written = []

    def interrupted(number):
        written.append(number)
        if number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(demo.root, ids, out, batch_size=20, progress=False, after_part=interrupted)
    assert not out.exists()
    assert sorted(p.name for p in (tmp_path / "set.parquet.parts").iterdir()) == [
        "manifest.json",
        "part-000000.arrow",
        "part-000001.arrow",
    ]
    with pytest.raises(BadParameter, match="unfinished export of other ids"):
        export(demo.root, ids[:-1], out, batch_size=20, progress=False)
    summary = export(demo.root, ids, out, batch_size=20, progress=False, after_part=written.append)
    assert written == [0, 1, 2, 3, 4]  # parts 0 and 1 were not read again
    assert (summary.resumed_parts, summary.parts) == (2, 5)
    export(demo.root, ids, tmp_path / "whole.parquet", batch_size=20, progress=False)
    assert_same_export(out, tmp_path / "whole.parquet")
    assert not (tmp_path / "set.parquet.parts").exists()


def test_a_part_that_does_not_read_is_fetched_again(demo, alerts, tmp_path):
    """A part damaged after its rename (a disk's fault: the exporter never writes one in place)
    is not trusted: it is fetched again, and the file is what an uninterrupted export writes."""
    ids = _ids(alerts, 60)
    out = tmp_path / "set.parquet"

    def stop(number):
        if number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(demo.root, ids, out, batch_size=20, progress=False, after_part=stop)
    part = tmp_path / "set.parquet.parts" / "part-000000.arrow"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    written = []
    summary = export(demo.root, ids, out, batch_size=20, progress=False, after_part=written.append)
    assert written == [0, 2]
    assert summary.resumed_parts == 1
    export(demo.root, ids, tmp_path / "whole.parquet", batch_size=20, progress=False)
    assert_same_export(out, tmp_path / "whole.parquet")


def test_restart_drops_the_parts_of_other_ids(demo, alerts, tmp_path):
    out = tmp_path / "set.parquet"

    def stop(number):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(demo.root, _ids(alerts, 30), out, batch_size=10, progress=False, after_part=stop)
    summary = export(demo.root, _ids(alerts, 5), out, progress=False, restart=True)
    assert (summary.rows, summary.resumed_parts) == (5, 0)
    assert pq.read_table(out, columns=["id"]).column("id").to_pylist() == [
        str(i) for i in _ids(alerts, 5)
    ]


def test_rows_swapped_in_the_lake_file_between_two_parts(rewritable_lake, tmp_path):
    """After part 0, the file's rows swap places at the same size (mtime kept): every row
    exported is still the alert asked for, its stamps those of the new file."""
    lake = rewritable_lake
    ids = lake.table.column("candid").to_pylist()
    swapped = swap_rows(lake.table, 20, 50)

    def rewrite(number):
        if number == 0:
            lake.rewrite(swapped, keep_mtime=True)

    out = tmp_path / "set.parquet"
    summary = export(lake.lake, ids, out, batch_size=10, progress=False, after_part=rewrite)
    rows, stamps = exported(out)
    assert [row["alertId"] for row in rows] == ids
    assert (summary.failed, summary.not_found) == (0, 0)
    for position, row in enumerate(rows):
        expected = {
            kind: astropy_pixels(data)
            for kind, data in stored_stamps(lake.file, row["alertId"]).items()
        }
        check_row({k: stamps[k][position] for k in KINDS}, expected, row["status"])


def test_a_second_export_of_the_same_file_is_refused(demo, alerts, tmp_path):
    out = tmp_path / "set.parquet"
    busy = f"another export writes it \\(process {os.getpid()}"
    with ExportLock(tmp_path / "set.parquet.lock"), pytest.raises(ExportBusy, match=busy):
        export(demo.root, _ids(alerts, 3), out, progress=False)
    assert not out.exists()
    export(demo.root, _ids(alerts, 3), out, progress=False)
    assert not (tmp_path / "set.parquet.lock").exists()


def test_a_killed_assemblys_temporary_file_is_removed(demo, alerts, tmp_path):
    left = tmp_path / ".set.npy.x1y2.tmp"  # as write_atomically names it
    left.write_bytes(b"cut")
    table_left = tmp_path / ".set.parquet.a3.tmp"
    table_left.write_bytes(b"cut")
    other = tmp_path / ".other.parquet.b4.tmp"
    other.write_bytes(b"not ours")
    export(demo.root, _ids(alerts, 3), tmp_path / "set.npy", fmt="npy", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "set.npy", "set.parquet"]


def test_a_dead_processs_lock_is_taken_over(demo, alerts, tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    (tmp_path / "set.parquet.lock").write_text(f"{gone}\n")
    summary = export(demo.root, _ids(alerts, 3), tmp_path / "set.parquet", progress=False)
    assert summary.ok == 3
    assert not (tmp_path / "set.parquet.lock").exists()


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"ids": []}, BadParameter, "ids: the list is empty"),
        ({"fmt": "hdf5"}, BadParameter, "format: 'hdf5' is not allowed; allowed: parquet, npy"),
        ({"fmt": "npy", "out": "set.parquet"}, BadParameter, "out: .* ends in .parquet"),
        ({"out": "missing/set.parquet"}, FileNotFoundError, "its directory .* does not exist"),
    ],
)
def test_bad_arguments_are_named(demo, tmp_path, arguments, error, message):
    given = {"ids": [1], "out": "set.parquet", **arguments}
    given["out"] = tmp_path / given["out"]
    with pytest.raises(error, match=message):
        export(demo.root, progress=False, **given)
    assert list(tmp_path.iterdir()) == []


def test_memory_holds_a_batch_not_the_export(demo, alerts, tmp_path):
    """1,200 rows (57 MB of stamps) exported 25 at a time: the peak of numpy and Arrow memory
    (in a fresh process, after a first export) stays within a few batches' (1.2 MB each)."""
    ids = _ids(alerts, 600) * 2
    (tmp_path / "ids.txt").write_text("\n".join(map(str, ids)))
    code = f"""
import tracemalloc
import pyarrow as pa
from fink_cutout_jupyter.client import CutoutClient
ids = [int(line) for line in open({str(tmp_path / "ids.txt")!r})]
client = CutoutClient(lake={str(demo.root)!r})
client.export(ids[:100], {str(tmp_path / "warm.parquet")!r}, progress=False)
tracemalloc.start()
arrow = pa.default_memory_pool()
before = arrow.max_memory()
summary = client.export(ids, {str(tmp_path / "set.parquet")!r}, batch_size=25, progress=False)
print(summary.rows, tracemalloc.get_traced_memory()[1], arrow.max_memory() - before)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    rows, numpy_peak, arrow_peak = map(int, done.stdout.split())
    whole = len(ids) * 3 * 63 * 63 * 4
    assert rows == 1200
    assert numpy_peak < whole / 4, (numpy_peak, whole)
    assert arrow_peak < whole / 4, (arrow_peak, whole)
