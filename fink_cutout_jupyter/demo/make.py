"""`make_demo_lake`: a synthetic lake of one survey's archived nights, indexed."""

from __future__ import annotations

from pathlib import Path

from fink_cutout_jupyter.demo import ztf
from fink_cutout_jupyter.demo.archive import DemoLake, index_demo_lake


def make_demo_lake(
    out: str | Path,
    seed: int = 42,
    nights: int = 3,
    objects: int | None = None,
    index: bool = True,
    files_per_night: int = 2,
) -> DemoLake:
    """Write a synthetic Fink ZTF lake under `out` and return what it holds.

    Parameters
    ----------
    out : path
        Lake root; ``science/year=YYYY/month=MM/day=DD/part-*.snappy.parquet`` are written there
        (earlier demo files of the same nights are replaced).
    seed : int
        The lake is a deterministic function of the seed.
    nights : int
        Number of consecutive nights, at least 3.
    objects : int, optional
        Number of objects, at least 200 (default 240); ``ZTF24abssjsb`` always has an alert in
        every night and two in the first two nights.
    index : bool
        Also build and compact the alert index (``_cutout_index`` in the lake), so that object
        ids alone work.
    files_per_night : int
        Each night's alerts, shuffled, are split over this many files.

    Returns
    -------
    DemoLake
    """
    if objects is None:
        objects = ztf.DEMO_OBJECTS
    if nights < 3 or objects < ztf.MIN_OBJECTS:
        raise ValueError("the demo lake has at least 3 nights and 200 objects")
    root = Path(out)
    lake = ztf.write_nights(root, seed, nights, objects, files_per_night)
    if index:
        index_demo_lake(root, lake.nights)
    return lake
