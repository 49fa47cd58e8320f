"""The ZTF demo: archived nights of synthetic alerts in Fink's ZTF layout and schema subset,
with stamps that look like the sky (gzipped FITS, as ZTF sends them)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import string
from pathlib import Path

import numpy as np

from fink_cutout_jupyter.demo.archive import PAGE_ROWS, DemoLake, night_directory
from fink_cutout_jupyter.locations import JD_OF_UNIX_EPOCH

DEMO_OBJECT_ID = "ZTF24abssjsb"
STAMP_SIZE = 63
FIRST_NIGHT = dt.date(2024, 11, 19)
DEMO_OBJECTS = 240
MIN_OBJECTS = 200


def write_nights(
    root: Path, seed: int, nights: int, objects: int, files_per_night: int
) -> DemoLake:
    """Write `nights` archived nights of `objects` ZTF objects under `root` (see `make_demo_lake`).

    ``ZTF24abssjsb`` has an alert in every night and two in the first two nights; each night's
    alerts, shuffled, are split over `files_per_night` files.
    """
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    sky = sky_objects(rng, objects)
    dates = tuple(FIRST_NIGHT + dt.timedelta(days=n) for n in range(nights))
    files, demo_object_files, alerts = [], [], 0
    for night_number, night in enumerate(dates):
        rows: list[dict] = []
        for obj in sky:
            for _ in range(_alerts_tonight(rng, obj, night_number)):
                rows.append(alert_row(rng, obj, night, len(rows)))
        order = rng.permutation(len(rows))
        directory = night_directory(root, night)
        for part, chunk in enumerate(np.array_split(order, files_per_night)):
            path = directory / f"part-{part:05d}-{seed:08x}-fink-demo-c000.snappy.parquet"
            table = alerts_table([rows[i] for i in chunk])
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
    return DemoLake(
        root, dates, tuple(files), len(sky), alerts, tuple(demo_object_files), "ztf", DEMO_OBJECT_ID
    )


def sky_objects(rng: np.random.Generator, count: int) -> list[dict]:
    names = {DEMO_OBJECT_ID}
    while len(names) < count:
        year = rng.integers(18, 25)
        names.add(f"ZTF{year:02d}" + "".join(rng.choice(list(string.ascii_lowercase), 7)))
    return [sky_object(rng, name) for name in [DEMO_OBJECT_ID, *sorted(names - {DEMO_OBJECT_ID})]]


def sky_object(rng: np.random.Generator, name: str) -> dict:
    stars = rng.integers(4, 14)
    return {
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


def _alerts_tonight(rng: np.random.Generator, obj: dict, night_number: int) -> int:
    if obj["objectId"] == DEMO_OBJECT_ID:
        return 2 if night_number < 2 else 1
    return int(rng.choice([0, 0, 1, 1, 2]))


def alert_row(
    rng: np.random.Generator, obj: dict, night: dt.date, sequence: int, jd: float | None = None
) -> dict:
    if jd is None:
        jd = julian_date(dt.datetime.combine(night, dt.time(4), tzinfo=dt.UTC)) + float(
            rng.uniform(0.0, 0.3)
        )
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


def julian_date(moment: dt.datetime) -> float:
    return JD_OF_UNIX_EPOCH + moment.timestamp() / 86400


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


def alerts_table(rows: list[dict]):
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
