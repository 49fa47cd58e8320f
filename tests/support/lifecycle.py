"""A lake root through Fink's lifecycle of a night, made of the real ZTF files.

``online/science/<YYYYMMDD>/`` holds the live night as Spark's streaming sink leaves it (each real
file copied as it is), ``archive/science/year=/month=/day=/`` the night as Fink's merge writes it
(the real files' rows together in one new file, in another order, as ``coalesce`` does). The
night is the real files' own (2021-11-21); the shared copy files under a fake date.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from fink_cutout_jupyter.storage.lake import DEFAULT_ONLINE_DIR, Lake
from support.real_data import SHARED_DATA

NIGHT = dt.date(2021, 11, 21)
SCIENCE_DIR = "archive/science"
REAL_FILES = sorted((SHARED_DATA / "ztf" / "lake" / "archive" / "science").rglob("*.parquet"))
MERGED_NAME = "part-00000-5e1f0c1e-merged-c000.snappy.parquet"


def lifecycle_lake(root: Path, online_dir: str = DEFAULT_ONLINE_DIR) -> Lake:
    """An empty lake root holding both the archive and the live nights (Fink's home)."""
    root.mkdir(parents=True, exist_ok=True)
    return Lake(root, science_dir=SCIENCE_DIR, online_dir=online_dir)


def write_online(lake: Lake, files: list[Path] = REAL_FILES, night: dt.date = NIGHT) -> list[str]:
    """The real files copied into the live night's directory; their paths in the lake."""
    directory = Path(lake.uri) / lake.online_night_dir(night)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for file in files:
        shutil.copyfile(file, directory / file.name)
        paths.append(f"{lake.online_night_dir(night)}/{file.name}")
    return paths


def write_archive(
    lake: Lake,
    files: list[Path] = REAL_FILES,
    night: dt.date = NIGHT,
    without: frozenset[int] = frozenset(),
) -> str:
    """The rows of `files` (last file first; the alert ids `without` left out) written as one
    file of the archived night, as Fink's merge does; its path in the lake."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    relative = (
        f"{lake.science_dir}/year={night.year}/month={night.month:02d}/day={night.day:02d}/"
        f"{MERGED_NAME}"
    )
    target = Path(lake.uri) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.concat_tables([pq.read_table(file) for file in reversed(files)])
    if without:
        table = table.filter(pc.invert(pc.is_in(table["candid"], pa.array(sorted(without)))))
    pq.write_table(table, target, compression="snappy")
    return relative


def alert_ids(file: Path) -> list[int]:
    """A file's alert ids in row order, as pyarrow reads them."""
    import pyarrow.parquet as pq

    return pq.read_table(file, columns=["candid"]).column(0).to_pylist()


def index_online(index, paths: list[str], night: dt.date = NIGHT, batch: int = 0) -> None:
    """Index live files as a micro-batch part of their night (what the follower writes)."""
    import pyarrow as pa

    from fink_cutout_jupyter.index.build import entries_of_file
    from fink_cutout_jupyter.index.deltas import IndexedNight, write_nights

    indexed = [entries_of_file(index.lake, path, night, batch) for path in paths]
    entries = pa.concat_tables([result.entries for result in indexed])
    files = {path: result.identity for path, result in zip(paths, indexed, strict=True)}
    survey = indexed[0].survey.name
    write_nights(index, [IndexedNight(night, entries, files, batch)], survey)
    index.refresh()


def index_archive(index, night: dt.date = NIGHT) -> None:
    """Index the archived night with ``index build`` (hides the night's live parts)."""
    from fink_cutout_jupyter.index.build import build

    build(index, [night], progress=False)
    index.refresh()
