import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fink_cutout_jupyter

REPOSITORY = Path(fink_cutout_jupyter.__file__).parent.parent


def test_public_names_resolve():
    for name in fink_cutout_jupyter.__all__:
        assert getattr(fink_cutout_jupyter, name) is not None
    assert fink_cutout_jupyter.__version__.count(".") == 2


def _type_checking_imports() -> dict[str, str]:
    """Each name the ``if TYPE_CHECKING:`` block of the package's ``__init__`` imports, and from
    which module (read from the source: the imports never run)."""
    tree = ast.parse(inspect.getsource(fink_cutout_jupyter))
    blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    assert len(blocks) == 1
    imported = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom), ast.unparse(node)
        for alias in node.names:
            assert alias.asname is None, ast.unparse(node)
            imported[alias.name] = node.module
    return imported


def test_the_lazy_face_and_the_type_checkers_face_are_the_same():
    """`__all__`, the names `__getattr__` resolves, the ``TYPE_CHECKING`` imports and `dir()`
    list the same names, and each name is the object its defining module holds."""
    imported = _type_checking_imports()
    exported = set(fink_cutout_jupyter.__all__) - {"__version__"}
    assert len(fink_cutout_jupyter.__all__) == len(set(fink_cutout_jupyter.__all__))
    assert set(imported) == exported
    assert set(fink_cutout_jupyter.__all__) <= set(dir(fink_cutout_jupyter))
    for name, module in imported.items():
        assert getattr(fink_cutout_jupyter, name) is getattr(importlib.import_module(module), name)


def test_a_type_checker_sees_the_exported_names(tmp_path):
    """mypy reads each exported name's own type through the lazy face, not ``Any``."""
    pytest.importorskip("mypy")
    names = [name for name in fink_cutout_jupyter.__all__ if name != "__version__"]
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import fink_cutout_jupyter\n"
        + "".join(f"reveal_type(fink_cutout_jupyter.{name})\n" for name in names)
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-site-packages",  # third-party types are not the question: quick
            "--ignore-missing-imports",
            "--follow-imports=silent",
            str(probe),
        ],
        cwd=tmp_path,  # neither the project's mypy configuration nor its cache
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(REPOSITORY)},
        timeout=300,
    )
    revealed = re.findall(r'Revealed type is "(.*)"', done.stdout)
    assert len(revealed) == len(names), done.stdout + done.stderr
    for name, seen in zip(names, revealed, strict=True):
        assert seen != "Any", f"{name}: a type checker sees Any"
        assert "fink_cutout_jupyter." in seen, (name, seen)


def test_import_is_cheap():
    code = (
        "import sys, fink_cutout_jupyter; "
        "print(sorted(m for m in ('pyarrow', 'astropy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_subpackage_inits_hold_a_docstring_only_but_the_clients_face():
    """Importing a subpackage costs nothing beyond its docstring; `client/__init__.py` is the
    client's public face and imports its own standard-library modules only."""
    package = Path(fink_cutout_jupyter.__file__).parent
    for init in sorted(package.glob("*/__init__.py")):
        body = ast.parse(init.read_text(encoding="utf-8")).body
        assert body
        assert isinstance(body[0], ast.Expr)
        assert isinstance(body[0].value, ast.Constant)
        rest = body[1:]
        if init.parent.name == "client":
            for node in rest:
                if isinstance(node, ast.ImportFrom):
                    assert node.module.startswith("fink_cutout_jupyter.client."), ast.unparse(node)
                else:
                    assert ast.unparse(node).startswith("__all__ ="), ast.unparse(node)
        else:
            assert rest == [], f"{init.relative_to(package)} holds more than a docstring"
