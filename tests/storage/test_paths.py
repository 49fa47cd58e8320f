"""The path rule: what a client may name in the lake, the same on every filesystem."""

import pytest
from support.hostile_paths import HOSTILE_PATHS

from fink_cutout_jupyter.storage.paths import LakePath, real_path, safe_relative_path


def test_valid_paths_are_normalised():
    assert safe_relative_path("./archive//science/./x.parquet") == "archive/science/x.parquet"


@pytest.mark.parametrize(("path", "error"), HOSTILE_PATHS)
def test_a_lake_path_is_checked_when_made(path, error):
    """`resolve` and the readers take a `LakePath` as checked: none can name a place outside."""
    with pytest.raises(error, match=r"hdfsPath: .*relative to the lake root"):
        LakePath(path)


def test_real_path_is_where_os_path_realpath_says(tmp_path):
    """Links followed, to files and directories, inside and out; missing and dangling paths."""
    import os

    (tmp_path / "root" / "dir").mkdir(parents=True)
    (tmp_path / "root" / "dir" / "file").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "to_dir").symlink_to(tmp_path / "root" / "dir")
    (tmp_path / "root" / "out").symlink_to(tmp_path / "outside")
    (tmp_path / "root" / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    (tmp_path / "root" / "loop").symlink_to(tmp_path / "root" / "loop")
    for name in [
        "root",
        "root/dir/file",
        "root/to_dir/file",
        "root/to_dir/../dir/file",
        "root/out",
        "root/out/missing",
        "root/dangling",
        "root/missing/deeper",
        "root/loop",
    ]:
        path = str(tmp_path / name)
        assert real_path(path) == os.path.realpath(path), name
