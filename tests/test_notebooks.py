"""Every notebook of notebooks/ runs top to bottom on the demo lake."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_runs(notebook, demo, monkeypatch, tmp_path):
    monkeypatch.setenv("FINK_CUTOUTS_LAKE", str(demo.root))
    document = nbformat.read(notebook, as_version=4)
    NotebookClient(document, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in document.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if notebook.name != "jupyterhub-hdfs.ipynb":
        assert any("image/png" in o.get("data", {}) for o in outputs)


def test_there_are_notebooks():
    assert NOTEBOOKS
