"""What a demo lake holds and where its files go: `DemoLake`, the nights' directories as Fink's
nightly merge leaves them (``science/year=/month=/day=``), Parquet pages, the index."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

# Rows per data page, as parquet-mr's 1 MB pages hold them (~40 KB of stamps per alert). pyarrow
# checks a page's size only after each write batch: its default of 1,024 rows makes 13 MB pages.
PAGE_ROWS = 64


@dataclass(frozen=True)
class DemoLake:
    """What `make_demo_lake` wrote.

    Attributes
    ----------
    root : Path
        The lake root.
    nights : tuple of datetime.date
        The archived nights, oldest first.
    files : tuple of str
        Every Parquet file, relative to the root.
    objects : int
        Objects with alerts (solar-system objects included).
    alerts : int
        Alerts written.
    demo_object_files : tuple of str
        The files holding an alert of `demo_object_id`.
    survey : str
        ``ztf`` or ``lsst``.
    demo_object_id : str
        The object the quickstart opens (a Rubin ``diaObjectId`` as text).
    ss_object_ids : tuple of int
        The solar-system objects' ``ssObjectId`` (Rubin).
    """

    root: Path
    nights: tuple[dt.date, ...]
    files: tuple[str, ...]
    objects: int
    alerts: int
    demo_object_files: tuple[str, ...]
    survey: str
    demo_object_id: str
    ss_object_ids: tuple[int, ...] = ()


def night_directory(root: Path, night: dt.date) -> Path:
    """The archived night's directory, made, without the part files of an earlier demo."""
    directory = root / "science" / f"year={night:%Y}" / f"month={night:%m}" / f"day={night:%d}"
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("part-*.parquet"):
        old.unlink()
    return directory


def index_demo_lake(root: Path, nights: tuple[dt.date, ...]) -> None:
    """Build and compact the lake's index (``_cutout_index``), replacing any earlier one."""
    from fink_cutout_jupyter.index.build import build, compact, remove
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    alert_index = AlertIndex(Lake(root))
    remove(alert_index)  # the files were rewritten: so is their index, whatever its format
    build(alert_index, list(nights), progress=False)
    compact(alert_index, progress=False)
