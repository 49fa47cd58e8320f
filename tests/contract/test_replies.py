"""The contract's replies: plain data, JSON without NaN, and a module the doors load for free."""

import json
import math
import subprocess
import sys

from fink_cutout_jupyter.contract import api, replies


def test_the_replies_need_only_the_standard_library():
    """The doors import the replies at start-up: nothing heavy may come with them."""
    code = (
        "import sys\n"
        "import fink_cutout_jupyter.contract.replies\n"
        "heavy = ('numpy', 'pyarrow', 'orjson', 'astropy', 'fink_cutout_jupyter.contract.api')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_api_answers_with_the_same_replies():
    """One `Reply` type: what `api` answers with is what `replies` defines."""
    for name in ("Reply", "json_reply", "error_reply", "no_route_reply"):
        assert getattr(api, name) is getattr(replies, name)


def test_json_replies_write_floats_that_are_not_finite_as_null_at_any_depth():
    payload = {"jd": math.nan, "rows": [{"mag": math.inf}, (1.5, -math.inf)], "n": 3}
    reply = replies.json_reply(payload, {"Cache-Control": "no-store"}, status=201)
    assert reply.status == 201
    assert reply.headers == {"Content-Type": "application/json", "Cache-Control": "no-store"}
    assert json.loads(reply.body) == {"jd": None, "rows": [{"mag": None}, [1.5, None]], "n": 3}


def test_error_and_no_route_replies_have_the_contracts_shape():
    assert json.loads(replies.error_reply(503, "busy").body) == {"status": "error", "text": "busy"}
    missing = replies.no_route_reply("cutout")
    assert missing.status == 404
    text = json.loads(missing.body)["text"]
    assert text.startswith("no route 'cutout'; routes: ")
    assert text.split("routes: ")[1].split(", ") == [
        "cutouts",
        "alerts",
        "history",
        "limits",
        "openapi.json",
        "health",
    ]
