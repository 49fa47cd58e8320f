"""Fast access to Fink alert cutouts straight from the Parquet data lake.

The names below are imported on first use, so ``import fink_cutout_jupyter`` stays cheap
(pyarrow, astropy and matplotlib load only when a cutout is read or drawn).
"""

from importlib import import_module

from fink_cutout_jupyter._version import __version__

_PUBLIC = {
    "Lake": "storage.lake",
    "CutoutReader": "cutouts.reader",
    "AlertCutouts": "cutouts.reader",
    "Stamp": "cutouts.stamps",
    "RenderOptions": "cutouts.render",
    "ZTF": "surveys",
    "LSST": "surveys",
    "make_demo_lake": "demo",
    "AlertIndex": "index.lookup",
    "CutoutClient": "client",
    "CutoutViewer": "widgets.viewer",
    "CutoutGallery": "widgets.gallery",
    "CutoutAPI": "contract.api",
}

__all__ = ["__version__", *_PUBLIC]


def _jupyter_server_extension_points() -> list[dict]:
    """Tell jupyter-server where the extension is (it imports it only when enabled)."""
    from fink_cutout_jupyter.doors.jupyter import FinkCutoutsApp

    return [{"module": "fink_cutout_jupyter.doors.jupyter", "app": FinkCutoutsApp}]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
