"""A night's entries spilled by bucket: read back whole, keyed for each table, files removed."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fink_cutout_jupyter.index.build import entries_of_file
from fink_cutout_jupyter.index.entries import TABLES, bucket_of, table_entries
from fink_cutout_jupyter.index.spills import EntrySpill


@pytest.fixture(scope="module")
def rubin_entries(rubin_lake) -> list[pa.Table]:
    night = rubin_lake.nights()[0]
    return [entries_of_file(rubin_lake, p, night).entries for p in rubin_lake.night_files(night)]


def read_back(spill: EntrySpill, table: str) -> list[pa.Table]:
    source = spill.source(table)
    return [source.read(bucket) for bucket in range(source.buckets)]


@pytest.mark.parametrize("held", [2, 1000])
def test_a_spill_gives_back_every_entry_of_each_table_in_its_bucket(rubin_entries, held):
    whole = pa.concat_tables(rubin_entries)
    with EntrySpill(held=held, buckets=4) as spill:
        for entries in rubin_entries:
            spill.add(entries)
        assert spill.spilled == (held < whole.num_rows)
        assert spill.rows == whole.num_rows
        for table, key in TABLES.items():
            parts = read_back(spill, table)
            wanted = table_entries(whole, table)  # objects: solar-system alerts keyed ss:<id>
            got = pa.concat_tables(parts)
            assert sorted(got[key].to_pylist()) == sorted(wanted[key].to_pylist())
            assert sorted(got["alert_id"].to_pylist()) == sorted(wanted["alert_id"].to_pylist())
            if spill.spilled:
                for bucket, part in enumerate(parts):
                    assert all(bucket_of(k, 4) == bucket for k in part[key].to_pylist())
        ss_keys = pc.starts_with(pa.concat_tables(read_back(spill, "objects"))["object_id"], "ss:")
        assert pc.sum(ss_keys).as_py() == 2, "the two real solar-system alerts"
        directory = spill._directory
    assert directory is None or not directory.exists(), "the spill files are deleted"


def test_an_unspilled_spill_holds_its_entries_in_memory(rubin_entries):
    with EntrySpill(held=10**6) as spill:
        spill.add(rubin_entries[0])
        assert not spill.spilled
        assert spill.entries().num_rows == rubin_entries[0].num_rows
        assert spill.source("alerts").buckets == 1


def test_a_killed_process_spill_is_swept_by_the_next_spill_a_live_ones_stays(
    rubin_entries, tmp_path, monkeypatch
):
    """SIGKILL (an OOM kill) leaves no chance to clean up: the next spill of the host deletes
    the directories of processes that are gone, never those of a process still running."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    code = (
        "import sys, pyarrow as pa\n"
        "from fink_cutout_jupyter.index.spills import EntrySpill\n"
        "spill = EntrySpill(held=0)\n"
        "spill.add(pa.ipc.open_stream(sys.stdin.buffer).read_all())\n"
        "print(spill._directory, flush=True)\n"
        "import time; time.sleep(120)\n"  # holds its spill until killed
    )
    entries = pa.concat_tables(rubin_entries)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, entries.schema) as writer:
        writer.write_table(entries)
    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    killed = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment
    )
    killed.stdin.write(sink.getvalue().to_pybytes())
    killed.stdin.flush()
    killed.stdin.close()
    left = killed.stdout.readline().decode().strip()
    assert left.startswith(str(tmp_path / "fink-cutouts-spill-"))
    assert os.listdir(left)  # its spill files
    assert killed.poll() is None  # still running: killed while it holds its spill
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    killed.stdout.close()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with EntrySpill(held=0) as mine:
        mine.add(entries)
        assert mine.spilled
        assert not os.path.exists(left)  # swept
        with EntrySpill(held=0) as another:  # a live process's spill (this one's) stays
            another.add(entries)
            assert mine._directory.is_dir()
    assert list(tmp_path.iterdir()) == []
