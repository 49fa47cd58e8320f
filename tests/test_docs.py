"""Every command of the README and the docs pages runs as written.

Each page's ``python`` and ``bash`` blocks run in order in one fresh Python process (its python
blocks share their names, as a notebook's cells do; each bash block runs in its own
``bash -euo pipefail``), in a folder holding copies of the two demo lakes as ``fink-demo-lake``
and ``fink-rubin-demo-lake`` (what ``fink-cutouts demo --no-lab`` writes for each survey), while
``fink-cutouts serve --lake fink-demo-lake`` listens on 127.0.0.1:8000 for the pages' ``curl``
lines. A block the demo cannot run (HDFS, a hub, systemd, JupyterLab) says why in a
``<!-- not run: REASON -->`` line before it; its ``fink-cutouts`` commands are still parsed by
the command's own parser. The docs' site itself is built by ``.ci/run`` (warnings are errors).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.doc_blocks import REPOSITORY, Block, blocks, pages, shell_commands
from support.servers import served

from fink_cutout_jupyter.cli import _parser

DOCS_PORT = 8000
PAGES = pages()
RUNNABLE = [page for page in PAGES if any(block.runs for block in blocks(page))]

_DRIVER = """
import json, subprocess, sys, traceback
namespace = {"__name__": "__main__"}
for block in json.load(open(sys.argv[1])):
    print(f"--- {block['where']} ({block['language']})", flush=True)
    if block["language"] == "bash":
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block["code"]])
        if done.returncode:
            sys.exit(f"{block['where']}: bash exited with {done.returncode}")
    else:
        try:
            exec(compile(block["code"], block["where"], "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            sys.exit(f"{block['where']}: the python block raised")
"""


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def docs_folder(demo, rubin_demo, tmp_path_factory):
    """The folder the pages' commands run in, with the demo server on port 8000."""
    folder = tmp_path_factory.mktemp("docs-commands")
    shutil.copytree(demo.root, folder / "fink-demo-lake", symlinks=True)
    shutil.copytree(rubin_demo.root, folder / "fink-rubin-demo-lake", symlinks=True)
    if _port_taken(DOCS_PORT):
        pytest.fail(f"port {DOCS_PORT} is taken: the docs' curl examples need it free")
    with served(str(folder / "fink-demo-lake"), DOCS_PORT):
        yield folder


def _environment() -> dict[str, str]:
    """A user's shell: no lake, server or token set; matplotlib without a display."""
    unset = re.compile(r"^(FINK_CUTOUTS_|JUPYTERHUB_|JPY_)")
    environment = {name: value for name, value in os.environ.items() if not unset.match(name)}
    environment["MPLBACKEND"] = "Agg"
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    return environment


@pytest.mark.parametrize(
    "page", RUNNABLE, ids=[str(page.relative_to(REPOSITORY)) for page in RUNNABLE]
)
def test_the_commands_of_a_page_run_as_written(page, docs_folder, tmp_path):
    run = [
        {"where": block.where, "language": block.language, "code": block.code}
        for block in blocks(page)
        if block.runs
    ]
    work = tmp_path / "work"
    shutil.copytree(docs_folder, work, symlinks=True, ignore=shutil.ignore_patterns("*.lock"))
    plan = tmp_path / "blocks.json"
    plan.write_text(json.dumps(run))
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(plan)],
        cwd=work,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"


def test_every_fink_cutouts_command_shown_is_one_the_parser_accepts():
    """Including those of blocks not run: their options must exist."""
    parser = _parser()
    shown = 0
    for page in PAGES:
        for block in blocks(page):
            if block.language not in ("bash", "sh", "console", "shell"):
                continue
            for words in shell_commands(block.code):
                shown += 1
                try:
                    parser.parse_args(words)
                except SystemExit as refused:
                    if refused.code:
                        pytest.fail(f"{block.where}: fink-cutouts {' '.join(words)} is refused")
    assert shown >= 20, shown


def test_blocks_not_run_say_why_and_are_few():
    counted = [block for page in PAGES for block in blocks(page) if block.not_run is not None]
    assert all(len(block.not_run or "") > 8 for block in counted)
    run = [block for page in PAGES for block in blocks(page) if block.runs]
    assert len(run) > len(counted), "most commands shown run on the demo"


def test_every_environment_variable_read_is_documented():
    package = REPOSITORY / "fink_cutout_jupyter"
    read = {
        name
        for source in package.rglob("*.py")
        for name in re.findall(r"FINK_CUTOUTS_[A-Z_]+", source.read_text())
    }
    documented = (REPOSITORY / "docs" / "reference" / "configuration.md").read_text()
    assert read
    assert not {name for name in read if f"`{name}`" not in documented}


def test_the_readme_is_short_and_links_into_the_docs():
    readme = (REPOSITORY / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPOSITORY / link).exists(), link


def test_a_block_is_found_where_it_is_and_markers_apply(tmp_path):
    sample = tmp_path / "page.md"
    sample.write_text(
        "# A page\n\n```python\nx = 1\n```\n\n<!-- not run: needs a real hub -->\n"
        "```bash\nfink-cutouts serve --jupyterhub && echo served\n```\n\n```text\nout\n```\n"
    )
    found = blocks(sample)
    assert [(b.line, b.language, b.runs, b.not_run) for b in found] == [
        (3, "python", True, None),
        (8, "bash", False, "needs a real hub"),
        (12, "text", False, None),
    ]
    assert shell_commands(found[1].code) == [["serve", "--jupyterhub"]]
    over_lines = "fink-cutouts get X -o 'a\nb' && \\\n  fink-cutouts alerts X --lake L > out.txt\n"
    assert shell_commands(over_lines) == [
        ["get", "X", "-o", "a\nb"],
        ["alerts", "X", "--lake", "L"],
    ]
    assert all(isinstance(block, Block) for block in found)
