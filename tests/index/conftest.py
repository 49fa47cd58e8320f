"""Fixtures of the follower's tests: the streamed night (`support.following`), a lake root."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.following import Streamed, stream_the_night


@pytest.fixture(scope="session")
def streamed(spark, tmp_path_factory) -> Streamed:
    """The live night's stages and its archive, streamed once per session."""
    return stream_the_night(spark, tmp_path_factory.mktemp("follow"))


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "lake"
