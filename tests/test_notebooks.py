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


def test_the_flipbook_notebook_writes_a_gif_and_a_fits_cube(demo, monkeypatch, tmp_path):
    """notebooks/flipbook.ipynb's exports, read back by Pillow and astropy: every alert of the
    demo object a frame, a cube per kind, the alerts' ids in the FRAMES table."""
    from astropy.io import fits
    from PIL import Image
    from support.object_alerts import object_alerts

    from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

    monkeypatch.setenv("FINK_CUTOUTS_LAKE", str(demo.root))
    document = nbformat.read(NOTEBOOKS[0].parent / "flipbook.ipynb", as_version=4)
    NotebookClient(document, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    stored = object_alerts(demo.root, DEMO_OBJECT_ID)
    with Image.open(tmp_path / "flipbook.gif") as gif:
        assert gif.n_frames == len(stored)
    with fits.open(tmp_path / "flipbook.fits") as cube:
        assert cube["DIFFERENCE"].data.shape == (len(stored), 63, 63)
        assert list(cube["FRAMES"].data["alertId"]) == [alert["candid"] for alert in stored]
    outputs = [o for cell in document.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/gif" in o.get("data", {}) for o in outputs), "the GIF shown"
