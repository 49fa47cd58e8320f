"""export on real lakes: rows equal to astropy on the stored bytes and to single requests, files
readable by pyarrow and pandas alone, resumed parts, refused other ids and concurrent exports,
and a lake file whose rows swap places between two parts."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import tracemalloc

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
from fink_cutout_jupyter.client.export import export
from fink_cutout_jupyter.client.export_lock import ExportBusy, ExportLock
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
    ids = [*_ids(alerts, 3), 1]
    export(demo.root, ids, out, kinds=["Science"], progress=False)
    expected = alerts[_ids(alerts, 1)[0]]["stamps"]["Science"]
    np.save(tmp_path / "expected.npy", expected)
    code = f"""
import sys
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
table = pq.read_table({str(out)!r})
assert isinstance(table.schema.field("Science").type, pa.FixedShapeTensorType)
assert table.schema.field("Science").type.value_type == pa.float32()
pixels = table.column("Science").combine_chunks().to_numpy_ndarray()
assert pixels.shape == (4, 63, 63), pixels.shape
expected = np.load({str(tmp_path / "expected.npy")!r})
assert np.array_equal(pixels[0], expected, equal_nan=True)
frame = pd.read_parquet({str(out)!r})
assert np.array_equal(frame["Science"][0].reshape(63, 63), expected, equal_nan=True)
assert np.array_equal(np.stack(frame["Science"]).reshape(-1, 63, 63), pixels, equal_nan=True)
assert str(frame["alertId"].dtype) == "Int64", frame["alertId"].dtype
assert frame["alertId"].tolist()[:3] == {ids[:3]!r}
assert frame["alertId"][3] is pd.NA
assert not [m for m in sys.modules if m.startswith("fink_cutout_jupyter")]
print("read")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "read", done.stderr


def test_npy_is_the_parquet_stamps_beside_its_table(demo, alerts, tmp_path):
    ids = _ids(alerts, 60)
    export(demo.root, ids, tmp_path / "a.parquet", batch_size=25, progress=False)
    summary = export(demo.root, ids, tmp_path / "b.npy", batch_size=25, fmt="npy", progress=False)
    assert summary.table == tmp_path / "b.npy.parquet"
    rows, stamps = exported(tmp_path / "a.parquet")
    array = np.load(tmp_path / "b.npy")
    assert array.shape == (60, 3, 63, 63)
    assert array.dtype == np.float32
    for position, kind in enumerate(KINDS):
        assert np.array_equal(array[:, position], stamps[kind], equal_nan=True)
    assert pq.read_table(tmp_path / "b.npy.parquet").to_pylist() == rows
    said = pq.read_schema(tmp_path / "b.npy.parquet").metadata
    npy = (tmp_path / "b.npy").read_bytes()
    assert said[b"npy"] == b"b.npy"
    assert int(said[b"npy_bytes"]) == len(npy)
    assert said[b"npy_sha256"].decode() == hashlib.sha256(npy).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.npy", "b.npy.parquet"]


def test_npy_and_parquet_exports_of_one_stem_write_their_own_files(demo, alerts, tmp_path):
    """An npy export to x.npy (paused once its parts are in, locks held) and a Parquet export to
    x.parquet write different files; one to x.npy.parquet, the npy's table, is refused."""
    ids = _ids(alerts, 30)
    inside, release = threading.Event(), threading.Event()

    def pause(number):
        if number == 1:
            inside.set()
            release.wait(60)

    done = {}

    def run_npy():
        done["npy"] = export(
            demo.root,
            ids[:20],
            tmp_path / "x.npy",
            batch_size=10,
            fmt="npy",
            progress=False,
            after_part=pause,
        )

    thread = threading.Thread(target=run_npy)
    thread.start()
    try:
        assert inside.wait(60)
        with pytest.raises(ExportBusy, match=re.escape(str(tmp_path / "x.npy.parquet.lock"))):
            export(demo.root, ids, tmp_path / "x.npy.parquet", progress=False)
        export(demo.root, ids, tmp_path / "x.parquet", progress=False)
    finally:
        release.set()
        thread.join(60)
    assert done["npy"].table == tmp_path / "x.npy.parquet"
    assert pq.read_table(tmp_path / "x.npy.parquet").column("id").to_pylist() == [
        str(i) for i in ids[:20]
    ]
    rows, stamps = exported(tmp_path / "x.parquet")
    assert [row["id"] for row in rows] == [str(i) for i in ids]
    assert np.array_equal(np.load(tmp_path / "x.npy")[:, 0], stamps["Science"][:20], equal_nan=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "x.npy.parquet", "x.parquet"]


def test_npy_killed_between_its_renames_leaves_no_table_beside_other_stamps(demo, alerts, tmp_path):
    """A first export writes the pair; a second, of other ids, is SIGKILLed right after its .npy
    is renamed into place: no table is there (an unfinished export), never the first's table
    beside the second's stamps. Run again, it writes the second pair whole."""
    ids = _ids(alerts, 40)
    out = tmp_path / "x.npy"
    export(demo.root, ids[:20], out, fmt="npy", progress=False)
    child = f"""
import os, signal
import fink_cutout_jupyter.client.export as module
replace = os.replace
def killed_after_the_npy(source, target):
    replace(source, target)
    if str(target) == {str(out)!r}:
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = killed_after_the_npy
module.export({str(demo.root)!r}, {ids[20:]!r}, {str(out)!r}, fmt="npy", progress=False)
"""
    killed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = ["x.npy", "x.npy.lock", "x.npy.parquet.lock", "x.npy.parts"]  # locks: taken over
    assert sorted(p.name for p in tmp_path.iterdir()) == left
    summary = export(demo.root, ids[20:], out, fmt="npy", progress=False)
    assert summary.resumed_parts == 1
    table = pq.read_table(summary.table)
    assert table.column("alertId").to_pylist() == ids[20:]
    assert int(table.schema.metadata[b"npy_bytes"]) == out.stat().st_size
    assert (
        table.schema.metadata[b"npy_sha256"].decode()
        == hashlib.sha256(out.read_bytes()).hexdigest()
    )
    export(demo.root, ids[20:], tmp_path / "whole.parquet", progress=False)
    _, stamps = exported(tmp_path / "whole.parquet")
    assert np.array_equal(np.load(out)[:, 2], stamps["Difference"], equal_nan=True)


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


def test_a_killed_assemblys_temporaries_are_removed_and_no_one_elses(demo, alerts, tmp_path):
    """The assembly writes its temporary files in OUT.parts (a killed one's are removed with
    the parts); a temporary file beside OUT is another writer's (x.npy.parquet's, here) and
    is left alone."""
    out = tmp_path / "set.npy"

    def stop(number):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(demo.root, _ids(alerts, 3), out, fmt="npy", progress=False, after_part=stop)
    (tmp_path / "set.npy.parts" / ".stamps.npy.x1y2z3w4.tmp").write_bytes(b"cut")
    others = [tmp_path / ".set.npy.parquet.a3b4c5d6.tmp", tmp_path / ".set.npy.b4c5d6e7.tmp"]
    for other in others:
        other.write_bytes(b"not ours")
    summary = export(demo.root, _ids(alerts, 3), out, fmt="npy", progress=False)
    assert summary.resumed_parts == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(o.name for o in others), "set.npy", "set.npy.parquet"]
    )


def test_a_part_holding_other_rows_is_fetched_again(demo, alerts, tmp_path):
    ids = _ids(alerts, 60)
    out = tmp_path / "set.parquet"

    def stop(number):
        if number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(demo.root, ids, out, batch_size=20, progress=False, after_part=stop)
    parts = tmp_path / "set.parquet.parts"
    (parts / "part-000000.arrow").write_bytes((parts / "part-000001.arrow").read_bytes())
    written = []
    summary = export(demo.root, ids, out, batch_size=20, progress=False, after_part=written.append)
    assert (written, summary.resumed_parts) == ([0, 2], 1)
    assert pq.read_table(out, columns=["id"]).column("id").to_pylist() == [str(i) for i in ids]


def test_killed_while_removing_the_parts_of_a_finished_export(demo, alerts, tmp_path, monkeypatch):
    """The manifest goes first: killed while the parts are removed (here: before anything is),
    the file is whole and an export of other ids is not refused."""
    out = tmp_path / "set.parquet"
    with monkeypatch.context() as patched:

        def killed(path, *args, **options):
            raise KeyboardInterrupt

        patched.setattr(shutil, "rmtree", killed)
        with pytest.raises(KeyboardInterrupt):
            export(demo.root, _ids(alerts, 20), out, batch_size=10, progress=False)
    assert pq.read_table(out).num_rows == 20
    summary = export(demo.root, _ids(alerts, 5), out, progress=False)
    assert (summary.rows, summary.resumed_parts) == (5, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.parquet"]


def test_assembly_memory_does_not_grow_with_the_rows(demo, tmp_path):
    """20,000 rows (ids the lake does not have: no stamps) assembled from 20 parts: the Python
    memory taken from the last part on stays under 60 B a row, what keeping each row's status
    until the end would cost (the ids themselves are there before)."""
    ids = list(range(1, 20_001))

    def measure_from(number):
        if number == 19:
            tracemalloc.start()

    try:
        summary = export(
            demo.root,
            ids,
            tmp_path / "set.parquet",
            by="candid",
            batch_size=1000,
            progress=False,
            after_part=measure_from,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (summary.rows, summary.not_found) == (20_000, 20_000)
    assert peak < 60 * len(ids), peak


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
