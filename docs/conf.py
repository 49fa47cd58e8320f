"""Sphinx configuration of fink_cutout_jupyter's documentation site.

Build it (from the repository root, after ``pip install -e ".[docs]"``)::

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

``-W`` turns every warning into an error (CI builds it so); ``-n`` reports every cross-reference
that points nowhere. The notebooks of ``notebooks/`` are executed on a fresh demo lake during
the build (``_ext/fink_docs.py`` writes it, with the OpenAPI document and the configuration
reference generated from the code).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from fink_cutout_jupyter import __version__  # noqa: E402

project = "fink_cutout_jupyter"
author = "fink_cutout_jupyter developers"
copyright = "2024-2026, fink_cutout_jupyter developers"
version = release = __version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinxarg.ext",
    "sphinx_design",
    "fink_docs",
]

exclude_patterns = [
    "_build",
    "_generated",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
    "jupyter_execute",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The tutorials are the notebooks of notebooks/, run afresh on the demo lake in every build.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = True  # files a notebook writes (flipbook.gif) land in a temporary folder
nb_merge_streams = True
# A static page has no kernel, and the hub may be offline: no widget manager from a CDN; each
# widget shows the picture it carries for that case (the viewer's PNG of its stamps as drawn).
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
nb_mime_priority_overrides = [("*", "application/vnd.jupyter.widget-view+json", None)]

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections give the types, as astropy's do
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# No network in the build (the hub may be offline, and so may CI): no intersphinx inventories.
# -n (nitpicky) then flags references to other projects' objects: those named in docstrings are
# expected to stay unresolved, by their role and target.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|pyarrow|pa|astropy|pandas|pd|ipywidgets|traitlets|matplotlib|PIL)\..*"),
]

html_theme = "pydata_sphinx_theme"
html_title = f"fink_cutout_jupyter {version}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
