"""/api/v1/health in the core: the facts checked and the reasons a server cannot answer."""

import json
import os
import shutil
import time

import jsonschema
import pytest

from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.contract.health import HEALTH_SCHEMA, health_reply
from fink_cutout_jupyter.storage.lake import Lake


@pytest.fixture
def demo_copy(demo, tmp_path):
    """A copy of the demo lake and its index, free to break."""
    shutil.copytree(demo.root, tmp_path / "lake")
    return tmp_path / "lake"


def test_a_sound_lake_is_healthy_with_its_index_age_since_the_layout_was_written(demo_copy):
    published = os.stat(demo_copy / "_cutout_index" / "layout.json").st_mtime
    reply = health_reply(CutoutAPI(Lake(demo_copy)))
    health = json.loads(reply.body)
    assert reply.status == 200, health
    jsonschema.validate(health, HEALTH_SCHEMA)
    assert (health["status"], health["lake"], health["index"]) == ("ok", True, True)
    assert (
        health["survey"]
        == json.loads((demo_copy / "_cutout_index" / "layout.json").read_text())["survey"]
    )
    assert abs(health["index_age_seconds"] - (time.time() - published)) < 5
    assert reply.headers["Cache-Control"] == "no-store"


def test_health_answers_503_when_the_base_sizes_file_is_missing(demo_copy):
    index = demo_copy / "_cutout_index"
    generation = json.loads((index / "layout.json").read_text())["generation"]
    assert CutoutAPI(Lake(demo_copy)).handle("health", {}).status == 200
    (index / f"base-{generation}" / "sizes.json").unlink()
    reply = CutoutAPI(Lake(demo_copy)).handle("health", {})
    text = json.loads(reply.body)["text"]
    assert reply.status == 503, text
    assert f"index file base-{generation}/sizes.json is damaged (missing" in text
    assert json.loads(reply.body)["index"] is False
    jsonschema.validate(json.loads(reply.body), HEALTH_SCHEMA)


def test_a_lake_holding_live_nights_only_is_reachable(demo_copy, tmp_path):
    """A new lake, before its first night is archived: the live nights' directory answers."""
    root = tmp_path / "new-lake"
    (root / "online" / "science" / "20241105").mkdir(parents=True)
    shutil.copytree(demo_copy / "_cutout_index", root / "_cutout_index")
    health = json.loads(health_reply(CutoutAPI(Lake(root, "archive/science"))).body)
    assert (health["status"], health["lake"]) == ("ok", True)
    reply = health_reply(CutoutAPI(Lake(root, "archive/science", "stream/science")))
    health = json.loads(reply.body)
    assert (reply.status, health["lake"]) == (503, False)
    assert health["text"].startswith(
        "lake: no directory 'archive/science' (archived nights) nor 'stream/science' (live "
        "nights) under the lake root"
    )
