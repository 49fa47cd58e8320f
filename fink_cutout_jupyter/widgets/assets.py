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
from typing import NoReturn

STATIC = Path(__file__).parent / "static"

# `import { a, b } from "./file.js";`, possibly over several lines (the formatter wraps them).
_LOCAL_IMPORT = re.compile(
    r"""^import\s*\{(?P<names>[^}]*)\}\s*from\s*["']\./(?P<file>[\w.-]+)["'];?[ \t]*\n?""", re.M
)
# Any other import or re-export of a local file (`* as`, default, side effect, `../`).
_OTHER_LOCAL_IMPORT = re.compile(
    r"""^\s*(?:import\b[^;"']*?|export\s*(?:\*|\{[^}]*\})\s*from\s*)["']\.{1,2}/""", re.M
)
_RENAMING = re.compile(r"\bas\b")


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
        A local import that is not of the form ``import { a, b } from "./file.js"`` (a namespace,
        default or side-effect import, a renaming ``a as b``, a re-export or a parent directory),
        which joining cannot keep: the joined files share one scope.
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
    for match in _LOCAL_IMPORT.finditer(text):
        if _RENAMING.search(match["names"]):
            _refuse(name, match[0])
        _append_with_imports(directory, match["file"], joined, seen)
    body = _LOCAL_IMPORT.sub("", text)
    other = _OTHER_LOCAL_IMPORT.search(body)
    if other:
        _refuse(name, body[other.start() :])
    joined.append(body)


def _refuse(name: str, statement: str) -> NoReturn:
    line = statement.strip().splitlines()[0]
    raise ValueError(f"static/{name}: cannot join {line!r}: write import {{ a, b }} from './x.js'")
