"""make_demo_lake: deterministic for a seed, indexed, its limits."""

import hashlib

import pytest

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID


def digest(root, files) -> str:
    return hashlib.sha256(b"".join((root / f).read_bytes() for f in files)).hexdigest()


def test_demo_is_deterministic_for_a_seed(tmp_path):
    first = make_demo_lake(tmp_path / "a", seed=7, index=False)
    second = make_demo_lake(tmp_path / "b", seed=7, index=False)
    other = make_demo_lake(tmp_path / "c", seed=8, index=False)
    assert first.files == second.files
    assert digest(first.root, first.files) == digest(second.root, second.files)
    assert digest(first.root, first.files) != digest(other.root, other.files)


def test_demo_lake_is_indexed(demo, demo_lake):
    from fink_cutout_jupyter.index.lookup import AlertIndex

    index = AlertIndex(demo_lake)
    assert index.stats()["entries"] == demo.alerts
    assert len(index.alerts(DEMO_OBJECT_ID)) == 5
    latest = index.latest(DEMO_OBJECT_ID)
    assert latest.path in demo.demo_object_files
    assert latest.path.startswith(f"science/year=2024/month=11/day={demo.nights[-1]:%d}/")


def test_demo_refuses_a_too_small_lake(tmp_path):
    with pytest.raises(ValueError, match="at least 3 nights and 200 objects"):
        make_demo_lake(tmp_path, nights=2)
