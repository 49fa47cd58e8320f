"""A Fink-like ZTF lake whose every stamp carries its own FITS header, for the benchmarks.

30 nights (``science/year=/month=/day=``), 5,000 alerts a night in two ~95 MB files (one row
group, ~1 MB pages, snappy, as Spark writes them), 20,000 objects seen again night after night.
Each stamp is 63x63 big-endian float32, gzipped, with a header of its own (39 cards: a TAN WCS
whose CRVAL1/2 are the alert's position, CRPIX, a CD matrix, MJD-OBS, DATE-OBS, EXPTIME, MAGZP,
SEEING, AIRMASS... differing stamp by stamp, as Rubin's and ZTF's non-shared headers do), so a
reader cannot parse one header and reuse it. 4 % of the objects have NaN columns (a CCD edge).
Pixels follow the demo's model (`fink_cutout_jupyter.demo.ztf`: its sky objects, a star field,
the transient, noise), with Gaussian stars computed as separable profiles (fast).

The lake is written once under ``$TMPDIR/fink-own-header-lake`` (both cores, a file per task,
each written to a temporary name and renamed), indexed with the project's index
(`fink_cutout_jupyter.index.build.build`, then compacted), then marked ``done`` (with what it
holds) and reused. Headers are formatted from a template astropy writes; the first stamp of
every file is read back with astropy and checked against the values meant.
Run alone to write it: python benchmarks/_own_header_lake.py
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from fink_cutout_jupyter.demo.archive import PAGE_ROWS
from fink_cutout_jupyter.demo.ztf import STAMP_SIZE, alerts_table, julian_date, sky_objects

ROOT = Path(tempfile.gettempdir()) / "fink-own-header-lake"
NIGHTS = 30
FILES_PER_NIGHT = 2
ALERTS_PER_NIGHT = 5_000
OBJECTS = 20_000
SEED = 25
FIRST_NIGHT = dt.date(2025, 3, 1)
KINDS = ("Science", "Template", "Difference")
SHAPE = (STAMP_SIZE, STAMP_SIZE)
DESCRIPTION = {
    "nights": NIGHTS,
    "files_per_night": FILES_PER_NIGHT,
    "alerts_per_night": ALERTS_PER_NIGHT,
    "objects": OBJECTS,
    "seed": SEED,
    "version": 1,
}


def the_lake(root: Path = ROOT, processes: int = 2) -> Path:
    """The lake's root, written and indexed first if it is not there (or holds another lake)."""
    done = root / "done"
    if done.exists() and json.loads(done.read_text()) == DESCRIPTION:
        return root
    done.unlink(missing_ok=True)
    started = time.perf_counter()
    tasks = []
    for night in nights():
        directory = night_directory(root, night)
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.parquet"):
            old.unlink()
        tasks += [(root, night, part) for part in range(FILES_PER_NIGHT)]
    with Pool(processes, initializer=_start_worker) as pool:
        for number, path in enumerate(pool.imap_unordered(_write_file_task, tasks), 1):
            print(f"  own-header lake: {number}/{len(tasks)} files ({path.name})", flush=True)
    written = time.perf_counter() - started
    _index(root)
    print(
        f"  own-header lake written in {written:.0f} s, indexed in "
        f"{time.perf_counter() - started - written:.0f} s: {root}",
        flush=True,
    )
    done.write_text(json.dumps(DESCRIPTION))
    return root


def nights() -> list[dt.date]:
    return [FIRST_NIGHT + dt.timedelta(days=n) for n in range(NIGHTS)]


def night_directory(root: Path, night: dt.date) -> Path:
    return root / "science" / f"year={night:%Y}" / f"month={night:%m}" / f"day={night:%d}"


def night_files(root: Path, night: dt.date) -> list[Path]:
    return sorted(night_directory(root, night).glob("part-*.parquet"))


def _index(root: Path) -> None:
    from fink_cutout_jupyter.index.build import build, compact, remove
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    index = AlertIndex(Lake(root))
    remove(index)
    build(index, nights(), progress=False)
    compact(index, progress=False)


_OBJECTS: list[dict] = []


def _start_worker() -> None:
    _OBJECTS[:] = sky_objects(np.random.default_rng(SEED), OBJECTS)
    for obj in _OBJECTS:
        obj["field"], obj["ccd"] = int(obj["ra"] // 7) + 400, int(obj["dec"] * 7) % 16 + 1


def _write_file_task(task: tuple[Path, dt.date, int]) -> Path:
    return write_file(*task)


def write_file(root: Path, night: dt.date, part: int) -> Path:
    """Write part `part` of `night`'s alerts (a temporary name, then renamed): its path."""
    import pyarrow.parquet as pq

    if not _OBJECTS:  # called outside the pool
        _start_worker()
    night_number = (night - FIRST_NIGHT).days
    chosen = np.random.default_rng([SEED, night_number]).integers(0, OBJECTS, ALERTS_PER_NIGHT)
    share = ALERTS_PER_NIGHT // FILES_PER_NIGHT
    rng = np.random.default_rng([SEED, night_number, part])
    rows = [
        alert_row(rng, _OBJECTS[int(index)], night, part * share + number)
        for number, index in enumerate(chosen[part * share : (part + 1) * share])
    ]
    _check_header(rows[0])
    directory = night_directory(root, night)
    path = directory / f"part-{part:05d}-{SEED:08x}-fink-own-header-c000.snappy.parquet"
    temporary = directory / f".{path.name}.tmp"
    pq.write_table(
        alerts_table(rows),
        temporary,
        compression="snappy",
        row_group_size=len(rows) + 1,
        use_dictionary=["objectId", "candidate.isdiffpos"],
        write_batch_size=PAGE_ROWS,
    )
    os.replace(temporary, path)
    return path


def alert_row(rng: np.random.Generator, obj: dict, night: dt.date, sequence: int) -> dict:
    """One alert in the demo's columns (`demo.ztf.alerts_table`), stamps with own headers."""
    jd = julian_date(dt.datetime.combine(night, dt.time(4), tzinfo=dt.UTC)) + float(
        rng.uniform(0.0, 0.3)
    )
    candid = round((jd - 2458000) * 1e6) * 10000 + sequence
    magpsf = obj["peak_mag"] + float(rng.normal(0, 0.3))
    fid = int(rng.choice([1, 2]))
    ra, dec = obj["ra"] + float(rng.normal(0, 5e-5)), obj["dec"] + float(rng.normal(0, 5e-5))
    seeing = float(rng.uniform(1.0, 1.8))
    pixels = _stamps(rng, obj, magpsf, seeing)
    cutouts = {}
    for kind, short, stamp in zip(KINDS, ("sci", "ref", "diff"), pixels, strict=True):
        values = _header_values(rng, obj, kind, jd, ra, dec, fid, seeing)
        cutouts[f"cutout{kind}"] = {
            "fileName": f"candid{candid}_pid{candid // 10000}_targ_{short}.fits",
            "stampData": _gzip(header_bytes(values) + _data_bytes(stamp)),
        }
    return {
        "candid": candid,
        "objectId": obj["objectId"],
        "candidate": {
            "jd": jd,
            "fid": fid,
            "candid": candid,
            "isdiffpos": "t",
            "ra": ra,
            "dec": dec,
            "magpsf": magpsf,
            "sigmapsf": float(rng.uniform(0.03, 0.15)),
            "diffmaglim": float(rng.uniform(19.8, 20.8)),
            "rb": float(rng.uniform(0.6, 1.0)),
            "drb": float(rng.uniform(0.7, 1.0)),
        },
        **cutouts,
    }


def _stamps(rng: np.random.Generator, obj: dict, magpsf: float, seeing: float) -> list:
    """Science (with the transient), template (deep, good seeing) and difference, float32."""
    transient = np.array(
        [[STAMP_SIZE / 2 - 0.5, STAMP_SIZE / 2 - 0.5, 10 ** (-0.4 * (magpsf - 26))]]
    )
    template = obj["sky"] + _star_field(obj["stars"], 1.0) + rng.normal(0, 2.0, SHAPE)
    science = (
        obj["sky"]
        + _star_field(np.vstack([obj["stars"], transient]), seeing)
        + rng.normal(0, 8.0, SHAPE)
    )
    difference = _star_field(transient, seeing) + rng.normal(0, 9.0, SHAPE)
    # Pixels to 1/2048 DN (a pipeline's precision): gzipped stamps of ~12 KB, as Fink's are.
    stamps = [
        (np.round(a * 2048) / 2048).astype(np.float32) for a in (science, template, difference)
    ]
    if obj["edge"]:
        for stamp in stamps:
            stamp[:, :5] = np.nan
    return stamps


def _star_field(stars: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian stars (x, y, flux rows) on the stamp's grid: separable profiles summed."""
    grid = np.arange(STAMP_SIZE, dtype=float)
    along_x = np.exp(-((grid[None, :] - stars[:, 0, None]) ** 2) / (2 * sigma**2))
    along_y = np.exp(-((grid[None, :] - stars[:, 1, None]) ** 2) / (2 * sigma**2))
    flux = stars[:, 2] / (2 * np.pi * sigma**2)
    return np.einsum("s,sy,sx->yx", flux, along_y, along_x)


def _header_values(rng, obj, kind, jd, ra, dec, fid, seeing) -> dict:
    """The stamp's own cards' values: WCS at the alert, its exposure's figures."""
    reference = kind == "Template"
    mjd = jd - 2400000.5 - (float(rng.uniform(300, 900)) if reference else 0.0)
    angle = np.radians(float(rng.normal(0, 0.3)))
    scale = 1.01 / 3600
    moment = dt.datetime(1858, 11, 17) + dt.timedelta(days=mjd)
    return {
        "FILTER": ("ZTF_g", "ZTF_r")[fid - 1],
        "FIELDID": obj["field"],
        "CCDID": obj["ccd"],
        "QID": 1 + obj["ccd"] % 4,
        "MJD-OBS": mjd,
        "DATE-OBS": moment.isoformat(timespec="milliseconds"),
        "EXPTIME": 30.0 * (15 if reference else 1),
        "AIRMASS": float(rng.uniform(1.0, 2.2)),
        "SEEING": 1.0 if reference else seeing,
        "MAGZP": float(rng.normal(26.2, 0.15)),
        "MAGZPUNC": float(rng.uniform(1e-5, 5e-5)),
        "CRVAL1": ra,
        "CRVAL2": dec,
        "CRPIX1": 32.0 + float(rng.uniform(-0.5, 0.5)),
        "CRPIX2": 32.0 + float(rng.uniform(-0.5, 0.5)),
        "CD1_1": -scale * np.cos(angle),
        "CD1_2": scale * np.sin(angle),
        "CD2_1": scale * np.sin(angle),
        "CD2_2": scale * np.cos(angle),
    }


def _template_cards() -> tuple[list[str], dict[str, int], dict[str, str]]:
    """The header's 80-character cards as astropy writes them, where each card is, comments."""
    from astropy.io import fits

    header = fits.PrimaryHDU(np.zeros(SHAPE, ">f4")).header
    fixed = [
        ("BUNIT", "DN", "pixel units"),
        ("ORIGIN", "IPAC-ZTF", "origin of the data"),
        ("TELESCOP", "P48", "Palomar 48-inch Oschin Schmidt"),
        ("INSTRUME", "ZTF/MOSAIC", "instrument"),
        ("FILTER", "ZTF_g", "filter"),
        ("FIELDID", 0, "ZTF field"),
        ("CCDID", 0, "CCD"),
        ("QID", 0, "readout quadrant"),
        ("MJD-OBS", 0.0, "[d] start of the exposure"),
        ("DATE-OBS", "", "start of the exposure (UTC)"),
        ("EXPTIME", 0.0, "[s] exposure time"),
        ("AIRMASS", 0.0, "airmass"),
        ("SEEING", 0.0, "[arcsec] seeing FWHM"),
        ("MAGZP", 0.0, "photometric zero point"),
        ("MAGZPUNC", 0.0, "zero point uncertainty"),
        ("SATURATE", 50000.0, "[DN] saturation level"),
        ("GAIN", 6.2, "[e-/DN] gain"),
        ("READNOI", 8.0, "[e-] read noise"),
        ("RADESYS", "ICRS", "reference frame"),
        ("EQUINOX", 2000.0, "equinox"),
        ("WCSAXES", 2, "WCS dimensions"),
        ("CTYPE1", "RA---TAN", "gnomonic projection"),
        ("CTYPE2", "DEC--TAN", "gnomonic projection"),
        ("CUNIT1", "deg", ""),
        ("CUNIT2", "deg", ""),
        ("CRVAL1", 0.0, "[deg] RA at the reference pixel"),
        ("CRVAL2", 0.0, "[deg] Dec at the reference pixel"),
        ("CRPIX1", 0.0, "reference pixel, x"),
        ("CRPIX2", 0.0, "reference pixel, y"),
        ("CD1_1", 0.0, ""),
        ("CD1_2", 0.0, ""),
        ("CD2_1", 0.0, ""),
        ("CD2_2", 0.0, ""),
    ]
    for key, value, comment in fixed:
        header[key] = (value, comment)
    text = header.tostring()
    cards = [text[i : i + 80] for i in range(0, len(text), 80)]
    where = {card[:8].rstrip(): number for number, card in enumerate(cards)}
    comments = {key: comment for key, _, comment in fixed}
    return cards, where, comments


_TEMPLATE: tuple[list[str], dict[str, int], dict[str, str]] | None = None


def header_bytes(values: dict) -> bytes:
    """The header (a multiple of 2,880 bytes) of the template with `values` in their cards."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = _template_cards()
    cards, where, comments = _TEMPLATE
    cards = list(cards)
    for key, value in values.items():
        number, comment = where[key], comments[key]
        if isinstance(value, str):
            text = f"'{value:<8}'".ljust(20)
        elif isinstance(value, int):
            text = f"{value:>20d}"
        else:
            text = f"{value:>20.13G}"
            if "." not in text and "E" not in text:
                text = f"{text.strip() + '.0':>20}"
        cards[number] = f"{key:<8}= {text}{' / ' if comment else ''}{comment}"[:80].ljust(80)
    return "".join(cards).encode("ascii")


def _data_bytes(stamp: np.ndarray) -> bytes:
    data = stamp.astype(">f4").tobytes()
    return data + b"\0" * (-len(data) % 2880)


def _gzip(data: bytes) -> bytes:
    from isal import igzip

    return igzip.compress(data, 2, mtime=0)


def _check_header(row: dict) -> None:
    """Astropy reads the first stamp of a file as meant: its cards' values, its pixels' shape."""
    import gzip

    from astropy.io import fits

    stored = gzip.decompress(row["cutoutScience"]["stampData"])
    with fits.open(io.BytesIO(stored)) as hdus:
        header, data = hdus[0].header, hdus[0].data
        read = (
            len(header),
            data.shape,
            data.dtype,
            header["CRVAL1"],
            header["CTYPE1"],
            header.comments["DATE-OBS"],
        )
    meant = (
        39,
        SHAPE,
        np.dtype(">f4"),
        float(f"{row['candidate']['ra']:.13G}"),
        "RA---TAN",
        "start of the exposure (UTC)",
    )
    if read != meant:
        raise RuntimeError(f"a stamp's header as astropy reads it: {read}, meant {meant}")


if __name__ == "__main__":
    print(the_lake())
