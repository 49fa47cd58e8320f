"""Fast access to Fink alert cutouts straight from the Parquet data lake.

The names below are imported on first use, so ``import fink_cutout_jupyter`` stays cheap
(pyarrow, astropy and matplotlib load only when a cutout is read or drawn). Type checkers and
editors read the same names from the ``TYPE_CHECKING`` imports, which must match `_PUBLIC`.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter._version import __version__

if TYPE_CHECKING:
    from fink_cutout_jupyter.client import CutoutClient
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.cutouts.alerts import AlertCutouts
    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.cutouts.render import RenderOptions
    from fink_cutout_jupyter.cutouts.stamps import Stamp
    from fink_cutout_jupyter.demo.make import make_demo_lake
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake
    from fink_cutout_jupyter.surveys import LSST, ZTF
    from fink_cutout_jupyter.widgets.gallery import CutoutGallery
    from fink_cutout_jupyter.widgets.stamp_viewer import StampViewer
    from fink_cutout_jupyter.widgets.timeline import CutoutTimeline
    from fink_cutout_jupyter.widgets.viewer import CutoutViewer

# Each exported name and the module (below this package) that defines it.
_PUBLIC = {
    "Lake": "storage.lake",
    "CutoutReader": "cutouts.reader",
    "AlertCutouts": "cutouts.alerts",
    "Stamp": "cutouts.stamps",
    "RenderOptions": "cutouts.render",
    "ZTF": "surveys",
    "LSST": "surveys",
    "make_demo_lake": "demo.make",
    "AlertIndex": "index.lookup",
    "CutoutClient": "client",
    "CutoutViewer": "widgets.viewer",
    "CutoutGallery": "widgets.gallery",
    "CutoutTimeline": "widgets.timeline",
    "StampViewer": "widgets.stamp_viewer",
    "CutoutAPI": "contract.api",
}

__all__ = [
    "LSST",
    "ZTF",
    "AlertCutouts",
    "AlertIndex",
    "CutoutAPI",
    "CutoutClient",
    "CutoutGallery",
    "CutoutReader",
    "CutoutTimeline",
    "CutoutViewer",
    "Lake",
    "RenderOptions",
    "Stamp",
    "StampViewer",
    "__version__",
    "make_demo_lake",
]


def _jupyter_server_extension_points() -> list[dict]:
    """Tell jupyter-server where the extension is (it imports it only when enabled)."""
    from fink_cutout_jupyter.doors.jupyter import FinkCutoutsApp

    return [{"module": "fink_cutout_jupyter.doors.jupyter", "app": FinkCutoutsApp}]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
