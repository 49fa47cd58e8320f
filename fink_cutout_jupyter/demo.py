"""A synthetic lake in Fink's ZTF layout and schema subset, with stamps that look like the sky."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fink_cutout_jupyter.locations import JD_OF_UNIX_EPOCH

DEMO_OBJECT_ID = "ZTF24abssjsb"
QUICKSTART = "quickstart.ipynb"
# The digest of the quickstart the demo last wrote: a copy that still has it is unedited.
QUICKSTART_WRITTEN = ".quickstart.ipynb.sha256"
STAMP_SIZE = 63
_FIRST_NIGHT = dt.date(2024, 11, 19)


@dataclass(frozen=True)
class DemoLake:
    """What `make_demo_lake` wrote."""

    root: Path
    nights: tuple[dt.date, ...]
    files: tuple[str, ...]
    objects: int
    alerts: int
    demo_object_files: tuple[str, ...]


# Rows per data page, as parquet-mr's 1 MB pages hold them (~40 KB of stamps per alert). pyarrow
# checks a page's size only after each write batch: its default of 1,024 rows makes 13 MB pages.
PAGE_ROWS = 64


def make_demo_lake(
    out: str | Path,
    seed: int = 42,
    nights: int = 3,
    objects: int = 240,
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
    objects : int
        Number of objects, at least 200; ``ZTF24abssjsb`` always has an alert in every night
        and two in the first two nights.
    index : bool
        Also build and compact the alert index (``_cutout_index`` in the lake), so that object
        ids alone work.
    files_per_night : int
        Each night's alerts, shuffled, are split over this many files.

    Returns
    -------
    DemoLake
    """
    import pyarrow.parquet as pq

    if nights < 3 or objects < 200:
        raise ValueError("the demo lake has at least 3 nights and 200 objects")
    rng = np.random.default_rng(seed)
    root = Path(out)
    sky = _objects(rng, objects)
    dates = tuple(_FIRST_NIGHT + dt.timedelta(days=n) for n in range(nights))
    files, demo_object_files, alerts = [], [], 0
    for night_number, night in enumerate(dates):
        rows: list[dict] = []
        for obj in sky:
            for _ in range(_alerts_tonight(rng, obj, night_number)):
                rows.append(_alert(rng, obj, night, len(rows)))
        order = rng.permutation(len(rows))
        directory = root / "science" / f"year={night:%Y}" / f"month={night:%m}" / f"day={night:%d}"
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("part-*.parquet"):
            old.unlink()
        for part, chunk in enumerate(np.array_split(order, files_per_night)):
            path = directory / f"part-{part:05d}-{seed:08x}-fink-demo-c000.snappy.parquet"
            table = _table([rows[i] for i in chunk])
            pq.write_table(
                table,
                path,
                compression="snappy",
                row_group_size=len(chunk) + 1,
                use_dictionary=["objectId", "candidate.isdiffpos"],
                write_batch_size=PAGE_ROWS,
            )
            files.append(path.relative_to(root).as_posix())
            if DEMO_OBJECT_ID in table.column("objectId").to_pylist():
                demo_object_files.append(files[-1])
        alerts += len(rows)
    if index:
        from fink_cutout_jupyter.index.build import build, compact, remove
        from fink_cutout_jupyter.index.lookup import AlertIndex
        from fink_cutout_jupyter.storage.lake import Lake

        alert_index = AlertIndex(Lake(root))
        remove(alert_index)  # the files were rewritten: so is their index, whatever its format
        build(alert_index, list(dates), progress=False)
        compact(alert_index, progress=False)
    return DemoLake(root, dates, tuple(files), len(sky), alerts, tuple(demo_object_files))


def _objects(rng: np.random.Generator, count: int) -> list[dict]:
    names = {DEMO_OBJECT_ID}
    while len(names) < count:
        year = rng.integers(18, 25)
        names.add(f"ZTF{year:02d}" + "".join(rng.choice(list(string.ascii_lowercase), 7)))
    objects = []
    for name in [DEMO_OBJECT_ID, *sorted(names - {DEMO_OBJECT_ID})]:
        stars = rng.integers(4, 14)
        objects.append(
            {
                "objectId": name,
                "ra": float(rng.uniform(0, 360)),
                "dec": float(np.degrees(np.arcsin(rng.uniform(-0.5, 1.0)))),
                "peak_mag": float(rng.uniform(15.5, 19.5)),
                "stars": np.column_stack(
                    [
                        rng.uniform(2, STAMP_SIZE - 3, stars),
                        rng.uniform(2, STAMP_SIZE - 3, stars),
                        rng.lognormal(7.0, 1.2, stars),
                    ]
                ),
                "sky": float(rng.uniform(80, 250)),
                "edge": bool(rng.random() < 0.04),
            }
        )
    return objects


def _alerts_tonight(rng: np.random.Generator, obj: dict, night_number: int) -> int:
    if obj["objectId"] == DEMO_OBJECT_ID:
        return 2 if night_number < 2 else 1
    return int(rng.choice([0, 0, 1, 1, 2]))


def _alert(rng: np.random.Generator, obj: dict, night: dt.date, sequence: int) -> dict:
    unix = dt.datetime.combine(night, dt.time(4)).replace(tzinfo=dt.UTC).timestamp()
    jd = JD_OF_UNIX_EPOCH + unix / 86400 + float(rng.uniform(0.0, 0.3))
    candid = round((jd - 2458000) * 1e6) * 10000 + sequence
    magpsf = obj["peak_mag"] + float(rng.normal(0, 0.3))
    fid = int(rng.choice([1, 2]))
    science, template, difference = _stamps(rng, obj, magpsf)
    filenames = (
        f"candid{candid}_pid{candid // 10000}_targ_{k}.fits" for k in ("sci", "ref", "diff")
    )
    cutouts = {
        f"cutout{kind}": {"fileName": name, "stampData": _gzipped_fits(pixels)}
        for kind, name, pixels in zip(
            ("Science", "Template", "Difference"),
            filenames,
            (science, template, difference),
            strict=True,
        )
    }
    return {
        "candid": candid,
        "objectId": obj["objectId"],
        "candidate": {
            "jd": jd,
            "fid": fid,
            "candid": candid,
            "isdiffpos": "t",
            "ra": obj["ra"] + float(rng.normal(0, 5e-5)),
            "dec": obj["dec"] + float(rng.normal(0, 5e-5)),
            "magpsf": magpsf,
            "sigmapsf": float(rng.uniform(0.03, 0.15)),
            "diffmaglim": float(rng.uniform(19.8, 20.8)),
            "rb": float(rng.uniform(0.6, 1.0)),
            "drb": float(rng.uniform(0.7, 1.0)),
        },
        **cutouts,
    }


def _stamps(rng: np.random.Generator, obj: dict, magpsf: float):
    """Template (deep, good seeing), science (with the transient), and their difference."""
    seeing = float(rng.uniform(1.0, 1.8))
    template = obj["sky"] + _star_field(obj["stars"], sigma=1.0)
    template += rng.normal(0, 2.0, template.shape)
    transient_flux = 10 ** (-0.4 * (magpsf - 26.0))
    centre = np.array([[STAMP_SIZE / 2 - 0.5, STAMP_SIZE / 2 - 0.5, transient_flux]])
    scene = _star_field(np.vstack([obj["stars"], centre]), sigma=seeing)
    science = obj["sky"] + scene + rng.normal(0, 8.0, template.shape)
    difference = _star_field(centre, sigma=seeing) + rng.normal(0, 9.0, template.shape)
    stamps = [a.astype(np.float32) for a in (science, template, difference)]
    if obj["edge"]:
        stamps = [s[:, :-1].copy() for s in stamps]
        for s in stamps:
            s[:, :5] = np.nan
    return stamps


def _star_field(stars: np.ndarray, sigma: float) -> np.ndarray:
    grid = np.arange(STAMP_SIZE, dtype=float)
    x, y, flux = (stars[:, i, None, None] for i in range(3))
    profiles = np.exp(
        -((grid[None, None, :] - x) ** 2 + (grid[None, :, None] - y) ** 2) / (2 * sigma**2)
    )
    return (flux / (2 * np.pi * sigma**2) * profiles).sum(axis=0)


def _gzipped_fits(pixels: np.ndarray) -> bytes:
    from astropy.io import fits

    hdu = fits.PrimaryHDU(pixels.astype(">f4"))
    hdu.header["BUNIT"] = "DN"
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)


def _table(rows: list[dict]):
    import pyarrow as pa

    cutout = pa.struct([("fileName", pa.string()), ("stampData", pa.binary())])
    schema = pa.schema(
        [
            ("candid", pa.int64()),
            ("objectId", pa.string()),
            (
                "candidate",
                pa.struct(
                    [
                        ("jd", pa.float64()),
                        ("fid", pa.int32()),
                        ("candid", pa.int64()),
                        ("isdiffpos", pa.string()),
                        ("ra", pa.float64()),
                        ("dec", pa.float64()),
                        ("magpsf", pa.float32()),
                        ("sigmapsf", pa.float32()),
                        ("diffmaglim", pa.float32()),
                        ("rb", pa.float32()),
                        ("drb", pa.float32()),
                    ]
                ),
            ),
            ("cutoutScience", cutout),
            ("cutoutTemplate", cutout),
            ("cutoutDifference", cutout),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


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
