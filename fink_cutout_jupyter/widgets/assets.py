"""The widgets' browser files: where they live (`STATIC`) and how a widget's module is assembled."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def bundled_module(*names: str) -> str:
    """One ES module from files of ``static/``: shared helpers first, the widget's own last (the
    only one with ``export default``). No build step: the files are joined as they are.

    Parameters
    ----------
    names
        File names inside `STATIC`, in load order.

    Returns
    -------
    str
        The source of the module anywidget loads.
    """
    return "\n".join((STATIC / name).read_text() for name in names)
