"""A flip-book's pictures and files (cutouts/flipbook.py) from the demo object's frames: cuts
equal to astropy's interval over every frame's stored pixels, GIF and APNG read back by Pillow
(frame count, durations, the first frame equal to the colormap of astropy's levels), the FITS
cube read back by astropy, files replaced whole."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import matplotlib
import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.visualization import LinearStretch, LogStretch, PercentileInterval, ZScaleInterval
from PIL import Image
from support.exports import KINDS, astropy_pixels

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.client.frames import all_frames
from fink_cutout_jupyter.cutouts.flipbook import (
    fits_cube,
    fixed_cuts,
    frame_images,
    write_animation,
    write_fits_cube,
)
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.errors import BadParameter


@pytest.fixture(scope="module")
def stored(demo) -> list[dict]:
    """The demo object's alerts as stored, oldest first: candid, jd, astropy's stamps."""
    rows = []
    for path in sorted(demo.root.glob("science/**/*.parquet")):
        columns = ["objectId", "candid", "candidate", *(f"cutout{k}" for k in KINDS)]
        for record in pq.read_table(path, columns=columns).to_pylist():
            if record["objectId"] == DEMO_OBJECT_ID:
                rows.append(
                    {
                        "candid": record["candid"],
                        "jd": record["candidate"]["jd"],
                        "stamps": {
                            k: astropy_pixels(record[f"cutout{k}"]["stampData"]) for k in KINDS
                        },
                    }
                )
    return sorted(rows, key=lambda row: row["jd"])


@pytest.fixture(scope="module")
def frames(demo):
    return all_frames(CutoutClient(lake=str(demo.root)), DEMO_OBJECT_ID, progress=False)


def _all_pixels(stored, kind) -> np.ndarray:
    values = np.concatenate([row["stamps"][kind].ravel() for row in stored]).astype(float)
    return values[np.isfinite(values)]


def _expected_rgb(stored, frame: int, cuts, stretch, colormap: str) -> np.ndarray:
    """One frame as the flip-book should draw it: astropy's stretch of the clipped values,
    matplotlib's 256-level colormap, kinds left to right two white pixels apart."""
    table = matplotlib.colormaps[colormap](np.linspace(0, 1, 256), bytes=True)[:, :3]
    pictures = []
    for kind in KINDS:
        low, high = cuts[kind]
        values = stored[frame]["stamps"][kind].astype(float)
        levels = stretch(np.clip((values - low) / (high - low), 0, 1), clip=True)
        pictures.append(table[np.floor(levels * 255 + 0.5).astype(int)])
    gap = np.full((pictures[0].shape[0], 2, 3), 255, np.uint8)
    return np.concatenate([pictures[0], gap, pictures[1], gap, pictures[2]], axis=1)


def test_fixed_cuts_are_astropys_interval_over_every_frames_pixels(frames, stored):
    cuts = fixed_cuts(frames)
    for kind in KINDS:
        expected = ZScaleInterval().get_limits(_all_pixels(stored, kind))
        np.testing.assert_allclose(cuts[kind], expected, rtol=1e-12)
    given = fixed_cuts(
        frames, {"Science": PercentileInterval(99), "Template": (1.0, 2.0), "Difference": "minmax"}
    )
    expected = PercentileInterval(99).get_limits(_all_pixels(stored, "Science"))
    np.testing.assert_allclose(given["Science"], expected, rtol=1e-12)
    assert given["Template"] == (1.0, 2.0)
    difference = _all_pixels(stored, "Difference")
    assert given["Difference"] == (difference.min(), difference.max())
    with pytest.raises(BadParameter, match="interval: 'loud' is not allowed"):
        fixed_cuts(frames, "loud")
    with pytest.raises(ValueError, match="kinds: give the kinds"):
        fixed_cuts(frames.stamps)


def test_gif_is_read_back_by_pillow_frame_by_frame(frames, stored, tmp_path):
    cuts = fixed_cuts(frames)
    out = write_animation(tmp_path / "story.gif", frame_images(frames, cuts), fps=2)
    with Image.open(out) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(stored) == 5
        assert gif.info["duration"] == 500
        assert gif.info["loop"] == 0
        for frame in (0, 3):
            gif.seek(frame)
            np.testing.assert_array_equal(
                np.asarray(gif.convert("RGB")),
                _expected_rgb(stored, frame, cuts, LinearStretch(), "gray"),
            )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.gif"]


def test_apng_with_an_astropy_stretch_and_a_colormap_is_exact(frames, stored, tmp_path):
    cuts = fixed_cuts(frames, "percentile")
    images = frame_images(frames, cuts, LogStretch(), "viridis")
    out = write_animation(tmp_path / "story.png", images, fps=5, format="apng")
    with Image.open(out) as apng:
        assert apng.format == "PNG"
        assert apng.n_frames == 5
        assert apng.info["duration"] == 200
        for frame in range(apng.n_frames):
            apng.seek(frame)
            np.testing.assert_array_equal(
                np.asarray(apng.convert("RGB")),
                _expected_rgb(stored, frame, cuts, LogStretch(), "viridis"),
            )


def _durations(path: Path) -> list[float]:
    """Each frame's duration (ms) as Pillow reads the file back."""
    with Image.open(path) as animation:
        durations = []
        for frame in range(animation.n_frames):
            animation.seek(frame)
            durations.append(animation.info["duration"])
    return durations


@pytest.mark.parametrize(
    ("fps", "milliseconds"),
    [(50, 20), (6, 170), (4, 250), (1 / 655.35, 655_350)],
)
def test_gif_frames_last_the_nearest_hundredth_of_a_second_a_browser_shows(
    frames, tmp_path, fps, milliseconds
):
    """GIF stores hundredths of a second, 2 (50 fps) to 65535: 6 fps is 17 of them (170 ms, the
    nearest to 166.7), not 16."""
    images = frame_images(frames, fixed_cuts(frames))
    out = write_animation(tmp_path / "story.gif", images, fps=fps)
    assert _durations(out) == [milliseconds] * 5


@pytest.mark.parametrize(
    ("fps", "milliseconds"),
    [(99.9, 1000 / 99.9), (3, 1000 / 3), (1 / 60000.123, 60_000_000), (1 / 65535, 65_535_000)],
)
def test_apng_frames_last_the_fraction_of_a_second_asked_as_apng_holds_it(
    frames, tmp_path, fps, milliseconds
):
    """APNG stores a fraction of a second, numerator and denominator at most 65535: 1/60000.123
    fps (no such fraction of 60000.123 s: Pillow alone refused it) is 60000 s a frame."""
    images = frame_images(frames, fixed_cuts(frames))
    out = write_animation(tmp_path / "story.png", images, fps=fps, format="apng")
    assert _durations(out) == pytest.approx([milliseconds] * 5, rel=1e-9)


@pytest.mark.parametrize(
    ("format", "fps", "message"),
    [
        (
            "gif",
            60,
            "fps: 60; GIF keeps a frame 2 to 65535 hundredths of a second: frames per "
            "second from 1/655.35 to 50 (APNG allows more",
        ),
        ("gif", 0.001, "fps: 0.001; GIF keeps a frame 2 to 65535 hundredths"),
        ("gif", 1 / 655.36, "GIF keeps a frame 2 to 65535 hundredths"),
        ("apng", 100, "fps: 100; APNG keeps a frame above 10 ms and at most 65535 s"),
        ("apng", 1e-5, "fps: 1e-05; APNG keeps a frame above 10 ms"),
        ("gif", float("nan"), "fps: nan; expected frames per second, a finite number"),
        ("apng", float("inf"), "fps: inf; expected frames per second"),
        ("gif", True, "fps: True; expected frames per second"),
    ],
)
def test_a_rate_the_format_cannot_hold_is_refused_naming_fps(
    frames, tmp_path, format, fps, message
):
    """Pillow alone wrote 60 fps as GIF frames of 1 hundredth (browsers show 10) and failed on
    0.001 fps with an OverflowError."""
    images = frame_images(frames, fixed_cuts(frames))
    with pytest.raises(BadParameter, match=re.escape(message)):
        write_animation(tmp_path / "story", images, fps=fps, format=format)
    assert list(tmp_path.iterdir()) == []


def test_a_gif_of_more_than_256_colours_keeps_one_close_palette(frames, stored, tmp_path):
    cuts = fixed_cuts(frames)
    colormaps = {"Science": "gray", "Template": "viridis", "Difference": "magma"}
    images = frame_images(frames, cuts, colormaps=colormaps, scale=2)
    assert images[0].shape == (126, 2 * (3 * 63 + 4), 3)
    out = write_animation(tmp_path / "colours.gif", images, fps=10)
    with Image.open(out) as gif:
        assert gif.n_frames == 5
        got = np.asarray(gif.convert("RGB")).astype(int)
    difference = np.abs(got - images[0].astype(int))
    assert difference.mean() < 3, difference.mean()


def test_the_fits_cube_is_read_back_by_astropy(frames, stored, tmp_path):
    out = write_fits_cube(tmp_path / "story.fits", frames, DEMO_OBJECT_ID)
    with fits.open(out) as hdus:
        assert [hdu.name for hdu in hdus] == [
            "PRIMARY",
            "SCIENCE",
            "TEMPLATE",
            "DIFFERENCE",
            "FRAMES",
        ]
        assert hdus[0].header["OBJECT"] == DEMO_OBJECT_ID
        assert hdus[0].header["NFRAMES"] == 5
        for kind in KINDS:
            cube = hdus[kind].data
            assert cube.shape == (5, 63, 63)
            for frame, row in enumerate(stored):
                np.testing.assert_array_equal(cube[frame], row["stamps"][kind])
        table = hdus["FRAMES"].data
        assert list(table["alertId"]) == [row["candid"] for row in stored]
        np.testing.assert_array_equal(table["jd"], [row["jd"] for row in stored])
        np.testing.assert_allclose(table["mjd"], [row["jd"] - 2400000.5 for row in stored])
        expected_times = Time([row["jd"] for row in stored], format="jd", scale="utc").isot
        assert list(table["time"]) == list(expected_times)
        assert list(table["status"]) == ["ok"] * 5


def test_a_frame_without_a_time_has_an_empty_time_and_nan_padding_is_kept(frames):
    from dataclasses import replace

    jd = frames.jd.copy()
    jd[1] = np.nan
    stamps = frames.stamps.copy()
    stamps[2, 0, :, :4] = np.nan
    cube = fits_cube(replace(frames, jd=jd, stamps=stamps))
    assert cube["FRAMES"].data["time"][1] == ""
    assert np.isnan(cube["SCIENCE"].data[2, :, :4]).all()


def test_bad_animation_arguments_are_named(frames, tmp_path):
    images = frame_images(frames, fixed_cuts(frames))
    with pytest.raises(BadParameter, match="format: 'mp4' is not allowed"):
        write_animation(tmp_path / "a.mp4", images, format="mp4")
    with pytest.raises(BadParameter, match="fps: 0"):
        write_animation(tmp_path / "a.gif", images, fps=0)
    with pytest.raises(BadParameter, match="images: no frame"):
        write_animation(tmp_path / "a.gif", [])
    with pytest.raises(BadParameter, match="cuts: none for Template"):
        frame_images(frames, {"Science": (0, 1)})
    assert list(tmp_path.iterdir()) == []


def test_an_animation_is_replaced_whole_readers_see_the_old_or_the_new(
    frames, tmp_path, monkeypatch
):
    """The writer paused just before its rename: the old GIF is still whole at the name, the
    new one whole under a temporary name in the same directory; after the rename, the new."""
    import fink_cutout_jupyter.storage.atomic as atomic

    out = tmp_path / "story.gif"
    images = frame_images(frames, fixed_cuts(frames))
    write_animation(out, images[:2], fps=1)
    at_rename, carry_on = threading.Event(), threading.Event()
    real_replace = atomic.os.replace

    def paused_replace(source, target):
        at_rename.set()
        carry_on.wait(30)
        return real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", paused_replace)
    writer = threading.Thread(target=write_animation, args=(out, images, 1))
    writer.start()
    assert at_rename.wait(30)
    with Image.open(out) as old:
        assert old.n_frames == 2
    (temporary,) = [p for p in tmp_path.iterdir() if p.name != "story.gif"]
    assert temporary.name.startswith(".story.gif.")
    with Image.open(temporary) as new:
        assert new.n_frames == 5
    carry_on.set()
    writer.join(30)
    with Image.open(out) as new:
        assert new.n_frames == 5
    assert [p.name for p in Path(tmp_path).iterdir()] == ["story.gif"]
