"""ARCHITECTURE.md shows the tree as built: every module and browser file of the package has its
line in the tree, and every line names a file that exists. Tests mirror the package: every module
has its test file."""

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


TESTS = PACKAGE.parent / "tests"
# Modules without a mirror test file, each with the reason (none today).
WITHOUT_MIRROR: dict[str, str] = {}


def _mirror_test(module: Path) -> Path:
    """``tests/<subpackage>/test_<module>.py`` for ``<subpackage>/<module>.py`` (top-level
    modules: ``tests/test_<module>.py``)."""
    relative = module.relative_to(PACKAGE)
    return TESTS / relative.parent / f"test_{relative.name}"


def test_every_module_has_its_mirror_test_file():
    modules = [
        module
        for module in sorted(PACKAGE.rglob("*.py"))
        if module.name not in ("__init__.py", "_version.py")
    ]
    assert len(modules) > 50, "the package's modules were found"
    missing = {
        module.relative_to(PACKAGE).as_posix(): _mirror_test(module).relative_to(TESTS).as_posix()
        for module in modules
        if not _mirror_test(module).is_file()
    }
    assert {m: t for m, t in missing.items() if m not in WITHOUT_MIRROR} == {}
    assert set(WITHOUT_MIRROR) <= set(missing), "an exception that has its mirror now"
