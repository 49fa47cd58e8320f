"""The widgets' browser files: where they live (`STATIC`) and how a widget's module is assembled.

Each file of ``static/`` is an ES module that imports what it uses from its neighbours
(``import { element } from "./controls.js";``), so a linter (biome, see ``biome.json``) and node
check every name. anywidget, however, loads a widget's `_esm` from a ``blob:`` URL, against which
a relative import cannot resolve: `bundled_module` therefore joins a widget's files into one
module, each file once and after the files it imports, without those local import lines (the
joined files share one scope). No bundler and no build step: the files ship as they are written.
"""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"

# `import { a, b } from "./file.js";`, possibly over several lines (the formatter wraps them).
_LOCAL_IMPORT = re.compile(
    r"""^import\s*\{[^}]*\}\s*from\s*["']\./([\w.-]+)["'];?[ \t]*\n?""", re.M
)
_ANY_LOCAL_IMPORT = re.compile(r"""^\s*(import|export)\b[^;]*?["']\.{1,2}/""", re.M)


def bundled_module(*names: str, directory: Path = STATIC) -> str:
    """One ES module from files of ``static/``: each named file after the local files it imports
    (recursively, each file once), without the local import lines. Only the last file should hold
    ``export default``.

    Parameters
    ----------
    names
        File names inside `directory`, in load order (a widget may name only its own file).
    directory
        Where the files are: the package's `STATIC` unless told.

    Returns
    -------
    str
        The source of the module anywidget loads.

    Raises
    ------
    ValueError
        A local import that is not of the form ``import { ... } from "./file.js"`` (a namespace,
        default or side-effect import, a re-export or a parent directory), which joining cannot
        keep.
    """
    joined: list[str] = []
    seen: set[str] = set()
    for name in names:
        _append_with_imports(directory, name, joined, seen)
    return "\n".join(joined)


def _append_with_imports(directory: Path, name: str, joined: list[str], seen: set[str]) -> None:
    if name in seen:
        return
    seen.add(name)
    text = (directory / name).read_text()
    for imported in _LOCAL_IMPORT.findall(text):
        _append_with_imports(directory, imported, joined, seen)
    body = _LOCAL_IMPORT.sub("", text)
    unsupported = _ANY_LOCAL_IMPORT.search(body)
    if unsupported:
        line = body[unsupported.start() :].strip().splitlines()[0]
        raise ValueError(
            f"static/{name}: cannot join {line!r}: write import {{ ... }} from './x.js'"
        )
    joined.append(body)
