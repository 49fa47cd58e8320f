"""The path rule: what a client may name in the lake, the same on every filesystem."""

import pytest
from support.hostile_paths import HOSTILE_PATHS

from fink_cutout_jupyter.storage.paths import LakePath, safe_relative_path


def test_valid_paths_are_normalised():
    assert safe_relative_path("./archive//science/./x.parquet") == "archive/science/x.parquet"


@pytest.mark.parametrize(("path", "error"), HOSTILE_PATHS)
def test_a_lake_path_is_checked_when_made(path, error):
    """`resolve` and the readers take a `LakePath` as checked: none can name a place outside."""
    with pytest.raises(error, match=r"hdfsPath: .*relative to the lake root"):
        LakePath(path)
