"""An object's whole story: the flip-book's first frame, all its frames, its GIF and FITS cube,
against the seed's way (one request per alert), in-process and over HTTP, in one run (issue 26).

The lake is written once under ``$TMPDIR/fink-flipbook-lake-<alerts>`` and reused (a ``done``
file holds what it was made with): `--nights` archived nights, each one file (one row group,
~1 MB pages, snappy, as Spark writes them) of `--others` alerts of 2,000 other objects and the
object's alerts of the night, shuffled; the object (``ZTF24abssjsb``) has `--alerts` alerts,
spread evenly over the nights. Stamps are ZTF-like: 63x63 float32, gzipped, each with its own
39-card FITS header (``_own_header_lake.alert_row``). Files are written to a temporary name and
renamed, then indexed with the project's index (built, compacted).

Measured, each side with a client whose lazy imports and index were warmed on another object
(untimed), the OS page cache warm for all, median of `--repeat` runs, order alternated:

- flip-book, first frame: ``next(object_frames(client, OBJECT, page_size=100))`` (the alert
  list, then one batch request: the first page);
- flip-book, all frames: ``all_frames(client, OBJECT)`` (a batch request per 100 alerts);
- seed, first frame: the alert list, then ``client.fits_bytes(candid=first, kind="All")``
  decoded by astropy;
- seed, all frames: the alert list, then one such request per alert (one multi-extension FITS
  file each), decoded by astropy into the same array;
- exports from the frames in memory: GIF and APNG (``fixed_cuts`` zscale, ``frame_images``,
  ``write_animation``) and the FITS cube (``write_fits_cube``), all to /tmp; and end to end
  (all frames fetched + written: GIF, FITS), flip-book and seed.

The seed's frames and the flip-book's are compared (``np.array_equal``, NaN equal): a mismatch
stops the benchmark. Over HTTP the server is ``fink-cutouts serve`` on the lake (started and
answering before the timing).

Run: python benchmarks/flipbook.py [--alerts 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _own_header_lake import alert_row
from _results import Figures
from _servers import serving

OBJECT = "ZTF24abssjsb"
OTHER_OBJECTS = 2000
KINDS = ("Science", "Template", "Difference")
FIRST_NIGHT = dt.date(2025, 6, 1)
SEED = 26
PAGE_SIZE = 100


def the_lake(alerts: int, nights: int, others: int) -> Path:
    """The lake's root, written and indexed first unless there already (with these sizes)."""
    root = Path(tempfile.gettempdir()) / f"fink-flipbook-lake-{alerts}"
    description = {"alerts": alerts, "nights": nights, "others": others, "version": 1}
    done = root / "done"
    if done.exists() and json.loads(done.read_text()) == description:
        return root
    done.unlink(missing_ok=True)
    started = time.perf_counter()
    from fink_cutout_jupyter.demo.archive import index_demo_lake

    dates = tuple(FIRST_NIGHT + dt.timedelta(days=n) for n in range(nights))
    objects = _objects()
    per_night = np.diff(np.linspace(0, alerts, nights + 1).round().astype(int))
    for night_number, night in enumerate(dates):
        _write_night(root, night, night_number, objects, int(per_night[night_number]), others)
        print(f"  flip-book lake: night {night_number + 1}/{nights}", flush=True)
    index_demo_lake(root, dates)
    done.write_text(json.dumps(description))
    print(f"  flip-book lake written in {time.perf_counter() - started:.0f} s: {root}")
    return root


def _objects() -> list[dict]:
    from fink_cutout_jupyter.demo.ztf import sky_objects

    objects = sky_objects(np.random.default_rng(SEED), OTHER_OBJECTS + 1)
    for obj in objects:
        obj["field"], obj["ccd"] = int(obj["ra"] // 7) + 400, int(obj["dec"] * 7) % 16 + 1
    assert objects[0]["objectId"] == OBJECT
    objects[0]["edge"] = False
    return objects


def _write_night(
    root: Path, night: dt.date, number: int, objects: list[dict], mine: int, others: int
) -> None:
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.demo.archive import PAGE_ROWS, night_directory
    from fink_cutout_jupyter.demo.ztf import alerts_table, julian_date

    rng = np.random.default_rng([SEED, number])
    start = julian_date(dt.datetime.combine(night, dt.time(3), tzinfo=dt.UTC))
    rows = [
        alert_row(rng, objects[int(index)], night, sequence)
        for sequence, index in enumerate(rng.integers(1, len(objects), others))
    ]
    for slot in range(mine):  # the object's alerts of the night, in time order
        row = alert_row(rng, objects[0], night, others + slot)
        row["candidate"]["jd"] = start + 0.3 * slot / max(mine, 1)
        rows.append(row)
    order = rng.permutation(len(rows))
    directory = night_directory(root, night)
    path = directory / "part-00000-fink-flipbook-c000.snappy.parquet"
    temporary = directory / f".{path.name}.tmp"
    pq.write_table(
        alerts_table([rows[i] for i in order]),
        temporary,
        compression="snappy",
        row_group_size=len(rows) + 1,
        use_dictionary=["objectId", "candidate.isdiffpos"],
        write_batch_size=PAGE_ROWS,
    )
    os.replace(temporary, path)


def seed_frames(client, count: int | None = None) -> np.ndarray:
    """The seed's way: the alert list, then one request per alert (its three stamps in one
    multi-extension FITS file), each decoded by astropy."""
    from astropy.io import fits

    alerts = client.alerts(OBJECT)[:count]
    stamps = np.full((len(alerts), len(KINDS), 63, 63), np.nan, np.float32)
    for row, alert in enumerate(alerts):
        data = client.fits_bytes(OBJECT, alert["alertId"], kind="All")
        with fits.open(io.BytesIO(data)) as hdus:
            images = [hdu.data for hdu in hdus if hdu.data is not None]
            for position, image in enumerate(images):
                stamps[row, position] = image
    return stamps


def timed(measure: Callable[[], object]) -> tuple[float, object]:
    """Seconds one call of `measure` took, and its result."""
    began = time.perf_counter()
    result = measure()
    return time.perf_counter() - began, result


def measure_side(name: str, client, root: Path, repeat: int, figures: Figures, out: Path) -> None:
    """One side's figures (`client` in-process or over HTTP), printed and recorded."""
    from fink_cutout_jupyter.client.frames import ObjectFrames, all_frames, object_frames
    from fink_cutout_jupyter.cutouts import flipbook

    count = len(client.alerts(OBJECT))  # the index warmed; then another object's requests
    warm_id = _another_object(root)
    next(object_frames(client, warm_id, page_size=PAGE_SIZE, progress=False))
    client.fits_bytes(warm_id, kind="All")
    measures: dict[str, Callable[[], object]] = {
        "first": lambda: next(object_frames(client, OBJECT, page_size=PAGE_SIZE, progress=False)),
        "whole": lambda: all_frames(client, OBJECT, page_size=PAGE_SIZE, progress=False),
        "seed_first": lambda: seed_frames(client, 1),
        "seed_whole": lambda: seed_frames(client),
    }
    seconds: dict[str, list[float]] = {key: [] for key in measures}
    results: dict[str, object] = {}
    for run in range(repeat):  # flip-book first, then the seed first, and so on
        order = list(measures) if run % 2 == 0 else [*list(measures)[2:], *list(measures)[:2]]
        for key in order:
            took, results[key] = timed(measures[key])
            seconds[key].append(took)
    frames = results["whole"]
    assert isinstance(frames, ObjectFrames)
    if not np.array_equal(frames.stamps, results["seed_whole"], equal_nan=True):
        raise SystemExit(f"{name}: the flip-book's frames differ from the seed's")
    if len(frames) != count:
        raise SystemExit(f"{name}: {len(frames)} frames for {count} alerts")

    def gif() -> Path:
        cuts = flipbook.fixed_cuts(frames)
        images = flipbook.frame_images(frames, cuts)
        return flipbook.write_animation(out / "story.gif", images, fps=10)

    def apng() -> Path:
        cuts = flipbook.fixed_cuts(frames)
        images = flipbook.frame_images(frames, cuts)
        return flipbook.write_animation(out / "story.png", images, fps=10, format="apng")

    def cube() -> Path:
        return flipbook.write_fits_cube(out / "story.fits", frames, OBJECT)

    for key, export in (("gif", gif), ("apng", apng), ("fits", cube)):
        seconds[key] = [timed(export)[0] for _ in range(repeat)]
    f = {key: statistics.median(values) for key, values in seconds.items()}
    gif_mb = (out / "story.gif").stat().st_size / 1e6
    apng_mb = (out / "story.png").stat().st_size / 1e6
    fits_mb = (out / "story.fits").stat().st_size / 1e6
    label = name.replace("-", "_").lower()
    figures.print(
        f"{name}: {count} alerts; first frame {f['first'] * 1e3:.0f} ms (seed "
        f"{f['seed_first'] * 1e3:.0f} ms); all frames {f['whole']:.2f} s (seed "
        f"{f['seed_whole']:.2f} s, {f['seed_whole'] / f['whole']:.1f}x); GIF {f['gif']:.2f} s "
        f"({gif_mb:.1f} MB), APNG {f['apng']:.2f} s ({apng_mb:.1f} MB), FITS cube "
        f"{f['fits']:.2f} s ({fits_mb:.1f} MB); end to end GIF "
        f"{f['whole'] + f['gif']:.2f} s (seed {f['seed_whole'] + f['gif']:.2f} s), FITS "
        f"{f['whole'] + f['fits']:.2f} s (seed {f['seed_whole'] + f['fits']:.2f} s)",
        **{
            f"{label}_alerts": count,
            f"{label}_first_frame_ms": round(f["first"] * 1e3, 1),
            f"{label}_seed_first_frame_ms": round(f["seed_first"] * 1e3, 1),
            f"{label}_all_frames_s": round(f["whole"], 3),
            f"{label}_seed_all_frames_s": round(f["seed_whole"], 3),
            f"{label}_all_frames_ratio": round(f["seed_whole"] / f["whole"], 2),
            f"{label}_gif_export_s": round(f["gif"], 3),
            f"{label}_apng_export_s": round(f["apng"], 3),
            f"{label}_apng_mb": round(apng_mb, 2),
            f"{label}_fits_export_s": round(f["fits"], 3),
            f"{label}_gif_end_to_end_s": round(f["whole"] + f["gif"], 3),
            f"{label}_seed_gif_end_to_end_s": round(f["seed_whole"] + f["gif"], 3),
            f"{label}_fits_end_to_end_s": round(f["whole"] + f["fits"], 3),
            f"{label}_seed_fits_end_to_end_s": round(f["seed_whole"] + f["fits"], 3),
            f"{label}_gif_mb": round(gif_mb, 2),
            f"{label}_fits_mb": round(fits_mb, 2),
        },
    )


def _another_object(root: Path) -> str:
    """An object of the lake other than the flip-book's (for the untimed warm-up)."""
    import pyarrow.parquet as pq

    for path in sorted(root.glob("science/**/*.parquet")):
        for object_id in pq.read_table(path, columns=["objectId"]).column(0).to_pylist():
            if object_id != OBJECT:
                return object_id
    raise SystemExit(f"{root}: no object other than {OBJECT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=500, help="the object's alerts (500)")
    parser.add_argument("--nights", type=int, default=25, help="archived nights (25)")
    parser.add_argument("--others", type=int, default=300, help="other alerts a night (300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median; 3)")
    arguments = parser.parse_args()
    figures = Figures("flipbook", arguments)
    root = the_lake(arguments.alerts, arguments.nights, arguments.others)
    _import_everything()

    from fink_cutout_jupyter.client import CutoutClient

    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        local = CutoutClient(lake=str(root))
        measure_side("in-process", local, root, arguments.repeat, figures, out)
        with serving(str(root)) as (url, _):
            remote = CutoutClient(url=url)
            measure_side("HTTP", remote, root, arguments.repeat, figures, out)
    figures.write()


def _import_everything() -> None:
    """What either side imports on its first call, imported before the timing."""
    import importlib
    import pkgutil

    import astropy.io.fits  # noqa: F401
    import PIL.Image  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    for name in ("fink_cutout_jupyter.client", "fink_cutout_jupyter.cutouts"):
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)


if __name__ == "__main__":
    main()
