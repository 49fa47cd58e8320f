"""The widgets' browser files: real ES modules that link in node, joined into one module per widget
that node parses (no name defined twice, no local import left)."""

import re
import subprocess

import pytest

from fink_cutout_jupyter.widgets.assets import STATIC, bundled_module
from fink_cutout_jupyter.widgets.gallery import GalleryGrid
from fink_cutout_jupyter.widgets.light_curve import LightCurve
from fink_cutout_jupyter.widgets.stamp_panels import StampPanels
from tests.support.node import node_or_skip

STATIC_FILES = sorted(p.name for p in STATIC.glob("*.js"))


def node(*arguments: str, cwd=STATIC) -> subprocess.CompletedProcess:
    return subprocess.run(
        [node_or_skip(), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", STATIC_FILES)
def test_each_file_links_as_an_es_module(name):
    """Every imported name is exported by the file it names (ES linking refuses a missing one)."""
    linked = node("--input-type=module", "-e", f'await import("./{name}")')
    assert linked.returncode == 0, linked.stderr


@pytest.mark.parametrize("widget", [StampPanels, GalleryGrid, LightCurve])
def test_a_widget_module_is_one_parsable_module_without_local_imports(tmp_path, widget):
    source = str(widget._esm)
    assert not re.search(r"""^\s*import\b[^;]*["']\./""", source, re.M)
    assert source.count("export default") == 1
    assert source.rstrip().endswith("export default { render };")
    joined = tmp_path / "widget.mjs"
    joined.write_text(source)
    parsed = node("--check", str(joined))  # a name declared twice is a SyntaxError in a module
    assert parsed.returncode == 0, parsed.stderr


def test_each_file_is_joined_once_after_what_it_imports(tmp_path):
    (tmp_path / "a.js").write_text("export const A = 1;\n")
    (tmp_path / "b.js").write_text('import { A } from "./a.js";\nexport const B = A + 1;\n')
    (tmp_path / "c.js").write_text(
        'import {\n  A,\n} from "./a.js";\nimport { B } from "./b.js";\n'
        "export default { value: A + B };\n"
    )
    joined = bundled_module("a.js", "c.js", directory=tmp_path)
    assert (
        joined
        == "export const A = 1;\n\nexport const B = A + 1;\n\nexport default { value: A + B };\n"
    )
    (tmp_path / "joined.mjs").write_text(joined)
    value = node(
        "--input-type=module",
        "-e",
        'console.log((await import("./joined.mjs")).default.value)',
        cwd=tmp_path,
    )
    assert value.stdout.strip() == "3", value.stderr


@pytest.mark.parametrize(
    "line",
    [
        'import * as a from "./a.js";',
        'import a from "./a.js";',
        'import "./a.js";',
        'export { A } from "./a.js";',
        'import { A } from "../a.js";',
        'import { A as B } from "./a.js";',
        'import {\n  A as B,\n} from "./a.js";',
    ],
)
def test_an_import_that_joining_cannot_keep_is_refused(tmp_path, line):
    (tmp_path / "a.js").write_text("export const A = 1;\nexport default A;\n")
    (tmp_path / "b.js").write_text(f"{line}\nexport default {{}};\n")
    with pytest.raises(ValueError, match=re.escape(line.splitlines()[0])):
        bundled_module("b.js", directory=tmp_path)
