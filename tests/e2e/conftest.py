"""Fixtures of the browser tests: the real Rubin alerts' lake, indexed."""

import pytest


@pytest.fixture(scope="module")
def rubin_root(rubin_lake):
    """The real Rubin alerts' lake (`rubin_lake`), indexed in place; its root."""
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    build(AlertIndex(rubin_lake), rubin_lake.nights(), progress=False)
    return rubin_lake.uri
