import subprocess
import sys

import fink_cutout_jupyter


def test_public_names_resolve():
    for name in fink_cutout_jupyter.__all__:
        assert getattr(fink_cutout_jupyter, name) is not None
    assert fink_cutout_jupyter.__version__.count(".") == 2


def test_import_is_cheap():
    code = (
        "import sys, fink_cutout_jupyter; "
        "print(sorted(m for m in ('pyarrow', 'astropy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
