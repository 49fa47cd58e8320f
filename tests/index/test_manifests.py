"""Night manifests: what indexing read, read back as the layout counts them.

The digest's expectation is its definition (SHA-256 of the alert ids as little-endian int64),
computed here with `struct` on the ids pyarrow reads from a real file.
"""

import datetime as dt
import hashlib
import json
import struct

import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA, ZTF_LAKES

from fink_cutout_jupyter.errors import IndexBusy, IndexDamaged
from fink_cutout_jupyter.index.layout import new_layout
from fink_cutout_jupyter.index.manifests import (
    alert_ids_digest,
    damaged_manifests,
    night_manifests,
    read_manifest,
    write_manifest,
)
from fink_cutout_jupyter.storage.lake import Lake

NIGHT, NEXT_NIGHT = dt.date(2024, 11, 21), dt.date(2024, 11, 22)


def identity(size: int) -> dict:
    return {"size": size, "mtime_ns": 7, "alert_ids_sha256": "0" * 64}


def test_the_latest_counted_manifest_of_a_night_is_its_record(tmp_path):
    store = Lake(tmp_path)
    write_manifest(store, 0, [(NIGHT, {"a.parquet": identity(1)}, 5)])
    write_manifest(store, 1, [(NIGHT, {"b.parquet": identity(2)}, 7)])
    write_manifest(store, 2, [(NEXT_NIGHT, {"c.parquet": identity(3)}, 1)])
    write_manifest(store, 3, [(NIGHT, {"never.parquet": identity(4)}, 9)])  # not published
    (tmp_path / "nights" / "00000001.json.tmp-1-2").write_text('{"nights": {"2024-')
    layout = {**new_layout("ztf"), "next": 3}
    assert night_manifests(store, layout) == [
        {"night": "2024-11-21", "files": {"b.parquet": identity(2)}, "entries": 7},
        {"night": "2024-11-22", "files": {"c.parquet": identity(3)}, "entries": 1},
    ]
    assert damaged_manifests(store, layout) == []
    written = json.loads((tmp_path / "nights" / "00000000.json").read_bytes())
    assert dt.datetime.fromisoformat(written["indexed_at"]).tzinfo is not None


def test_a_manifest_is_never_written_over(tmp_path):
    store = Lake(tmp_path)
    write_manifest(store, 0, [(NIGHT, {}, 0)])
    with pytest.raises(IndexBusy, match=r"00000000\.json exists already"):
        write_manifest(store, 0, [(NEXT_NIGHT, {}, 0)])
    assert list(read_manifest(store, "nights/00000000.json")) == ["2024-11-21"]


@pytest.mark.parametrize(
    "text", ['{"nights": {"2024-', '{"nights": {"2024-11-21": {"files": {}}}}', "[]"]
)
def test_a_malformed_manifest_is_damaged_naming_it(tmp_path, text):
    store = Lake(tmp_path)
    (tmp_path / "nights").mkdir()
    (tmp_path / "nights" / "00000000.json").write_text(text)
    with pytest.raises(IndexDamaged, match=r"nights/00000000\.json") as raised:
        read_manifest(store, "nights/00000000.json")
    assert raised.value.file == "nights/00000000.json"
    found = damaged_manifests(store, {**new_layout("ztf"), "next": 1})
    assert [error.file for error in found] == ["nights/00000000.json"]


def test_the_alert_ids_digest_is_sha256_of_the_ids_as_little_endian_int64():
    root, science = next(iter(ZTF_LAKES.items()))
    lake = Lake(SHARED_DATA / root, science_dir=science)
    night = lake.nights()[0]
    path = lake.night_files(night)[0]
    ids = pq.read_table(lake.resolve(path), columns=["candid"]).column("candid").to_pylist()
    expected = hashlib.sha256(struct.pack(f"<{len(ids)}q", *ids)).hexdigest()
    assert alert_ids_digest(lake, path) == expected
