"""Node.js for the tests that run the widgets' browser code (``widgets/static``) outside a
browser: where it is, or the test skips (fails under ``CI=true``, where node is installed for
npm and biome)."""

from __future__ import annotations

import os
import shutil

import pytest

MISSING = "node is missing: apt-get install nodejs (CI has it for npm and biome)"


def node_or_skip() -> str:
    """The path of ``node``.

    Without it, the calling test skips; under ``CI=true`` it fails instead.

    Returns
    -------
    str
        The ``node`` executable found on ``PATH``.
    """
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return node
