"""`make_demo_lake`: a synthetic lake of one survey's archived nights, indexed."""

from __future__ import annotations

from pathlib import Path

from fink_cutout_jupyter.demo import rubin, ztf
from fink_cutout_jupyter.demo.archive import DemoLake, index_demo_lake
from fink_cutout_jupyter.surveys import survey_named

# Each survey's writer of archived nights, its default and least number of objects.
_WRITERS = {
    "ztf": (ztf.write_nights, ztf.DEMO_OBJECTS, ztf.MIN_OBJECTS, None),
    "lsst": (rubin.write_nights, rubin.DEMO_OBJECTS, rubin.MIN_OBJECTS, rubin.MAX_OBJECTS),
}


def make_demo_lake(
    out: str | Path,
    seed: int = 42,
    nights: int = 3,
    objects: int | None = None,
    index: bool = True,
    files_per_night: int = 2,
    survey: str = "ztf",
) -> DemoLake:
    """Write a synthetic Fink lake of one survey under `out` and return what it holds.

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
        Number of objects. ZTF: at least 200 (default 240); ``ZTF24abssjsb`` always has an alert
        in every night and two in the first two nights. Rubin: 10 to 180 (default 24), and 3
        solar-system objects; the object `rubin.RUBIN_DEMO_OBJECT_ID` always has an alert in
        every night and two in the first two nights.
    index : bool
        Also build and compact the alert index (``_cutout_index`` in the lake), so that object
        ids alone work.
    files_per_night : int
        Each night's alerts, shuffled, are split over this many files.
    survey : str
        ``ztf`` (Fink's ZTF schema subset, `ztf`), or ``lsst`` (``rubin``: Fink's Rubin schema,
        `rubin`). One survey per lake: its index holds one survey.

    Returns
    -------
    DemoLake
    """
    name = survey_named(survey).name
    write, default, least, most = _WRITERS[name]
    if objects is None:
        objects = default
    if nights < 3 or objects < least or (most is not None and objects > most):
        limits = f"{least} to {most}" if most else str(least)
        raise ValueError(f"the {name} demo lake has at least 3 nights and {limits} objects")
    root = Path(out)
    lake = write(root, seed, nights, objects, files_per_night)
    if index:
        index_demo_lake(root, lake.nights)
    return lake
