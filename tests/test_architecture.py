"""ARCHITECTURE.md shows the tree as built: every module and browser file of the package has its
line in the tree, and every line names a file that exists."""

import re
from pathlib import Path

import fink_cutout_jupyter

PACKAGE = Path(fink_cutout_jupyter.__file__).parent
ARCHITECTURE = PACKAGE.parent / "ARCHITECTURE.md"
SHOWN_SUFFIXES = {".py", ".js", ".css"}


def _tree_block() -> list[str]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = re.search(r"```\n(fink_cutout_jupyter/\n.*?)```", text, re.DOTALL)
    assert block, "ARCHITECTURE.md has no ``` block starting with fink_cutout_jupyter/"
    return block.group(1).splitlines()


def _paths_in_tree() -> set[str]:
    """Each file the tree names, as a path relative to the package (``doors/runner.py``).

    A line is ``<indent>name  description``; a name ending in ``/`` opens a directory for the
    lines indented below it. Several names may share a line (``errors.py  _version.py``)."""
    shown: set[str] = set()
    directories: list[tuple[int, str]] = []
    for line in _tree_block()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while directories and directories[-1][0] >= indent:
            directories.pop()
        prefix = "".join(name for _, name in directories)
        words = line.split()
        names = []
        for word in words:
            if re.fullmatch(r"[\w.-]+(\.(py|js|css)|/)", word):
                names.append(word)
            else:
                break
        assert names, f"ARCHITECTURE.md: no file or directory name on the line {line!r}"
        for name in names:
            if name.endswith("/"):
                directories.append((indent, name))
            else:
                shown.add(prefix + name)
    return shown


def _paths_in_package() -> set[str]:
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.suffix in SHOWN_SUFFIXES
        and path.name != "__init__.py"
        and "__pycache__" not in path.parts
    }


def test_every_module_and_browser_file_has_its_line():
    missing = _paths_in_package() - _paths_in_tree()
    assert not missing, f"files missing from ARCHITECTURE.md's tree: {sorted(missing)}"


def test_every_line_names_a_file_that_exists():
    gone = _paths_in_tree() - _paths_in_package()
    assert not gone, f"ARCHITECTURE.md names files that do not exist: {sorted(gone)}"
