"""The quickstart notebook put in a demo lake without ever losing its user's edits."""

from __future__ import annotations

import hashlib
from pathlib import Path

QUICKSTART = "quickstart.ipynb"
# The digest of the quickstart the demo last wrote: a copy that still has it is unedited.
QUICKSTART_WRITTEN = ".quickstart.ipynb.sha256"


def write_quickstart(
    directory: str | Path, notebook: bytes, version: str | None = None
) -> tuple[Path, str]:
    """Put the quickstart notebook in `directory` without ever losing a user's edits.

    It is written when missing, or replaced when it is still the copy the demo last wrote (as
    recorded in ``.quickstart.ipynb.sha256``), e.g. by an older version. A copy that differs
    from both (edited by its user, or of unknown origin) is kept; if `notebook` is not the one
    it was edited from, `notebook` is written beside it as ``quickstart-<version>.ipynb``
    (unless that file exists). Files are written whole or not at all.

    Parameters
    ----------
    directory : path
        Where the notebook goes (the demo's lake root).
    notebook : bytes
        The package's quickstart notebook.
    version : str, optional
        The package's version (default: this one), for the name of a copy written beside.

    Returns
    -------
    (Path, str)
        The notebook to open (the user's if kept), and what was done, in words.
    """
    from fink_cutout_jupyter.storage.atomic import write_bytes_atomically

    directory = Path(directory)
    path = directory / QUICKSTART
    record = directory / QUICKSTART_WRITTEN
    digest = hashlib.sha256(notebook).hexdigest()
    if path.exists():
        current = hashlib.sha256(path.read_bytes()).hexdigest()
        written = record.read_text().strip() if record.is_file() else None
        if current == digest:
            if written != digest:
                write_bytes_atomically(record, f"{digest}\n".encode())
            return path, f"{path.name} is up to date"
        if current != written:
            kept = f"kept your edited {path.name}"
            if written == digest:  # the package's quickstart is the one it was edited from
                return path, kept
            if version is None:
                from fink_cutout_jupyter._version import __version__ as version
            beside = directory / f"quickstart-{version}.ipynb"
            if not beside.exists():
                write_bytes_atomically(beside, notebook)
            return path, f"{kept}; this version's quickstart: {beside.name}"
    write_bytes_atomically(path, notebook)
    write_bytes_atomically(record, f"{digest}\n".encode())
    return path, f"wrote {path.name}"
