"""write_quickstart: the quickstart written when missing, following the package while unedited,
never overwriting its user's edits."""


def quickstart_of_version(number: int) -> bytes:
    """The package's quickstart as a release `number` would ship it (its title cell changed)."""
    import json

    from fink_cutout_jupyter.cli import bundled_quickstart

    notebook = json.loads(bundled_quickstart())
    notebook["cells"][0]["source"] = [f"# Quickstart, release {number}\n"]
    return json.dumps(notebook, indent=1).encode()


def edit(path) -> bytes:
    """What a user does in JupyterLab: add a cell of their own, save."""
    import json

    notebook = json.loads(path.read_bytes())
    notebook["cells"].append(
        {"cell_type": "code", "id": "mine", "metadata": {}, "outputs": [], "source": ["1 + 1"]}
    )
    path.write_text(json.dumps(notebook, indent=1))
    return path.read_bytes()


def test_the_quickstart_is_written_when_missing_and_kept_once_edited(tmp_path):
    from fink_cutout_jupyter.cli import bundled_quickstart
    from fink_cutout_jupyter.demo.notebook import write_quickstart

    packaged = bundled_quickstart()
    path, done = write_quickstart(tmp_path, packaged, "0.1.0")
    assert path == tmp_path / "quickstart.ipynb"
    assert path.read_bytes() == packaged
    assert done == "wrote quickstart.ipynb"
    edited = edit(path)
    again, done = write_quickstart(tmp_path, packaged, "0.1.0")  # `fink-cutouts demo` again
    assert again == path
    assert path.read_bytes() == edited
    assert done == "kept your edited quickstart.ipynb"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".quickstart.ipynb.sha256",
        "quickstart.ipynb",
    ]


def test_an_unedited_quickstart_follows_the_package_and_an_edited_one_gets_a_copy(tmp_path):
    from fink_cutout_jupyter.demo.notebook import write_quickstart

    path, _ = write_quickstart(tmp_path, quickstart_of_version(1), "0.1.0")
    _, done = write_quickstart(tmp_path, quickstart_of_version(2), "0.2.0")  # an upgrade
    assert path.read_bytes() == quickstart_of_version(2), "unedited: replaced"
    assert done == "wrote quickstart.ipynb"
    edited = edit(path)
    _, done = write_quickstart(tmp_path, quickstart_of_version(3), "0.3.0")
    assert path.read_bytes() == edited, "edited: kept"
    assert (tmp_path / "quickstart-0.3.0.ipynb").read_bytes() == quickstart_of_version(3)
    assert done.endswith("this version's quickstart: quickstart-0.3.0.ipynb")
    edit(tmp_path / "quickstart-0.3.0.ipynb")
    beside = (tmp_path / "quickstart-0.3.0.ipynb").read_bytes()
    write_quickstart(tmp_path, quickstart_of_version(3), "0.3.0")
    assert path.read_bytes() == edited
    assert (tmp_path / "quickstart-0.3.0.ipynb").read_bytes() == beside, "never overwritten"


def test_a_quickstart_of_unknown_origin_is_kept(tmp_path):
    from fink_cutout_jupyter.demo.notebook import write_quickstart

    mine = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    (tmp_path / "quickstart.ipynb").write_bytes(mine)  # written before the demo kept a record
    write_quickstart(tmp_path, quickstart_of_version(1), "0.1.0")
    assert (tmp_path / "quickstart.ipynb").read_bytes() == mine
    assert (tmp_path / "quickstart-0.1.0.ipynb").read_bytes() == quickstart_of_version(1)


def test_the_quickstart_runs_on_the_rubin_demo_lake(rubin_demo, monkeypatch, tmp_path):
    """Opened by ``fink-cutouts demo --survey lsst``, the quickstart shows the Rubin object: every
    cell runs (tests/test_notebooks.py runs it on the ZTF demo), the viewer opens on the Rubin
    demo object, the asteroid's alerts are listed."""
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    from fink_cutout_jupyter.demo.rubin import RUBIN_DEMO_OBJECT_ID, RUBIN_DEMO_SS_OBJECT_ID
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    monkeypatch.setenv("FINK_CUTOUTS_LAKE", str(rubin_demo.root))
    path = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
    document = nbformat.read(path, as_version=4)
    NotebookClient(document, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in document.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not (tmp_path / "fink-rubin-demo-lake").exists(), "this lake is Rubin's: none written"
    asteroid = AlertIndex(Lake(rubin_demo.root)).solar_system_alerts(RUBIN_DEMO_SS_OBJECT_ID)
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"({asteroid[0].alert_id}, " in printed
    assert str(RUBIN_DEMO_OBJECT_ID) in "".join(cell.source for cell in document.cells)
