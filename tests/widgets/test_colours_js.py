"""The browser's colours (``widgets/static/colours.js``) are the Python pipeline's
(`cutouts.render`): every stretch and interval is run in node on real ZTF and Rubin stamps, as the
widget sends them, and compared with astropy's intervals and stretches applied here to the same
pixels, and with `cutouts.render`.

Tolerances: both sides compute in float64 from the same float32 pixels and differ only in the
order of operations (sums for the sigmoid's mean and deviation, the percentile's interpolation)
and in the last bit of ``exp``/``log``/``asinh``: cuts agree to 1e-12 of their size, levels in
[0, 1] to 1e-9 (a millionth of one of the 256 colormap levels). The 8-bit colour is then the same
level of the colormap's table, except where a level falls within 1e-6 of the half-way point
between two of the 256 (a tie rounding may break either way): there it may be the next one, never
further. NaN pixels are exactly the NaN colour.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy import visualization

from fink_cutout_jupyter.cutouts import render
from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.surveys import KINDS, LSST, ZTF
from fink_cutout_jupyter.widgets.stamp_display import stamp_payload
from tests.support.node import node_or_skip

STATIC = Path(__file__).resolve().parents[2] / "fink_cutout_jupyter" / "widgets" / "static"
COLOURS_JS = STATIC / "colours.js"
NAN_RGB = (255, 0, 255)
PMIN, PMAX = 0.5, 99.5  # the viewer's default percentiles
CUTS_RTOL = 1e-12
LEVEL_ATOL = 1e-9
TIE = 1e-6

# What the widget's module does with colours.js's functions (static/stamp_state.js's stampCuts,
# static/stamp_drawing.js's paintImages), for every case: cuts, level and colour of each pixel.
RUNNER = """
import { readFileSync, writeFileSync } from "node:fs";
const colours = await import(process.argv[2]);
const input = JSON.parse(readFileSync(process.argv[3], "utf8"));
const luts = {};
for (const [name, table] of Object.entries(input.luts)) {
  luts[name] = new Uint8Array(Buffer.from(table, "base64"));
}
const stamps = input.stamps.map((stamp) => {
  const bytes = Buffer.from(stamp.pixels, "base64");
  const pixels = colours.floats(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return { ...stamp, pixels, stats: colours.statistics(pixels) };
});
const parts = [];
for (const c of input.cases) {
  const { pixels, stats, zscale } = stamps[c.stamp];
  const cuts = colours.intervalCuts(c.interval, stats, {
    zscale, pmin: c.pmin, pmax: c.pmax, manual: c.manual, symmetric: c.symmetric,
  });
  let [low, high] = cuts;
  if (!(high > low)) [low, high] = [low - 0.5, low + 0.5];
  const stretch = colours.stretchFunction(c.stretch, stats, low, high);
  const level = colours.levelFunction(stretch, low, high, c.symmetric);
  const levels = new Float64Array(pixels.length);
  const rgb = new Uint8Array(3 * pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const finite = Number.isFinite(pixels[i]);
    levels[i] = finite ? level(pixels[i]) : NaN;
    rgb.set(finite ? colours.colour(luts[c.colormap], levels[i]) : colours.NAN_RGB, 3 * i);
  }
  parts.push(Buffer.from(new Float64Array(cuts).buffer), Buffer.from(levels.buffer));
  parts.push(Buffer.from(rgb.buffer));
}
writeFileSync(process.argv[4], Buffer.concat(parts));
"""


@dataclass(frozen=True)
class Case:
    stamp: int
    stretch: str
    interval: str
    symmetric: bool
    manual: tuple[float, float] | None = None

    @property
    def colormap(self) -> str:
        return "RdBu_r" if self.symmetric else "gray"


@dataclass
class Shown:
    """One case as the browser drew it."""

    cuts: np.ndarray
    levels: np.ndarray
    rgb: np.ndarray


@pytest.fixture(scope="module")
def stamps(ztf_rows, rubin_records) -> list[tuple[str, Stamp]]:
    """Real stamps: every ZTF alert whose stamps hold NaN or are not square, four others, and
    every Rubin stamp."""
    chosen = []
    ordinary = 0
    for row in ztf_rows:
        science = Stamp("Science", row["fits"]["Science"]).data
        odd = np.isnan(science).any() or science.shape[0] != science.shape[1]
        if odd or ordinary < 4:
            ordinary += not odd
            chosen += [("ztf", Stamp(kind, row["fits"][kind])) for kind in KINDS]
    for record in rubin_records:
        chosen += [("lsst", Stamp(kind, record[f"cutout{kind}"])) for kind in KINDS]
    return chosen


def cases_of(index: int, pixels: np.ndarray, kind: str) -> list[Case]:
    finite = pixels[np.isfinite(pixels)].astype(float)
    # Cuts set by hand: a user's [25 %, 75 %], and one value twice (cuts that do not increase).
    manual = [tuple(np.percentile(finite, [25, 75]).tolist()), (float(np.median(finite)),) * 2]
    found = []
    for symmetric in (False, True) if kind == "Difference" else (False,):
        for stretch in render.STRETCHES:
            for interval in render.INTERVALS_WITH_MANUAL:
                for cuts in manual if interval == "manual" else [None]:
                    found.append(Case(index, stretch, interval, symmetric, cuts))
    return found


@pytest.fixture(scope="module")
def shown(stamps, tmp_path_factory) -> dict[Case, Shown]:
    """Every case run through colours.js in node, once."""
    node = node_or_skip()
    folder = tmp_path_factory.mktemp("colours-js")
    module = folder / "colours.mjs"
    module.write_text(COLOURS_JS.read_text())
    (folder / "runner.mjs").write_text(RUNNER)
    payloads, cases = [], []
    for index, (survey, stamp) in enumerate(stamps):
        payload = stamp_payload(stamp, LSST if survey == "lsst" else ZTF)
        payloads.append(
            {"pixels": base64.b64encode(payload["pixels"]).decode(), "zscale": payload["zscale"]}
        )
        cases += cases_of(index, stamp.data, stamp.kind)
    tables = {
        name: matplotlib.colormaps[name](np.linspace(0, 1, 256), bytes=True)[:, :3]
        for name in ("gray", "RdBu_r")
    }
    request = {
        "stamps": payloads,
        "luts": {
            name: base64.b64encode(table.tobytes()).decode() for name, table in tables.items()
        },
        "cases": [
            {
                "stamp": case.stamp,
                "stretch": case.stretch,
                "interval": case.interval,
                "pmin": PMIN,
                "pmax": PMAX,
                "manual": case.manual,
                "symmetric": case.symmetric,
                "colormap": case.colormap,
            }
            for case in cases
        ],
    }
    (folder / "input.json").write_text(json.dumps(request))
    subprocess.run(
        [node, "runner.mjs", module.as_uri(), "input.json", "output.bin"],
        cwd=folder,
        check=True,
        timeout=300,
    )
    output = (folder / "output.bin").read_bytes()
    results, at = {}, 0
    for case in cases:
        size = stamps[case.stamp][1].data.size
        cuts = np.frombuffer(output, "<f8", 2, at)
        levels = np.frombuffer(output, "<f8", size, at + 16)
        rgb = np.frombuffer(output, np.uint8, 3 * size, at + 16 + 8 * size).reshape(-1, 3)
        results[case] = Shown(cuts, levels, rgb)
        at += 16 + 11 * size
    assert at == len(output)
    return results


def astropy_cuts(pixels: np.ndarray, case: Case) -> list[float]:
    """The case's cuts, by astropy's intervals on the finite pixels."""
    if case.manual is not None:
        return list(case.manual)
    finite = pixels[np.isfinite(pixels)].astype(float)
    interval = {
        "percentile": visualization.AsymmetricPercentileInterval(PMIN, PMAX),
        "zscale": visualization.ZScaleInterval(),
        "minmax": visualization.MinMaxInterval(),
    }[case.interval]
    low, high = interval.get_limits(finite)
    if case.symmetric:
        reach = max(abs(low), abs(high))
        return [-reach, reach]
    return [low, high]


def astropy_levels(pixels: np.ndarray, case: Case, cuts: list[float]) -> np.ndarray:
    """Each pixel's level in [0, 1] (NaN for NaN): the cuts, then astropy's stretch with its
    defaults (``power``: 2), or Fink's sigmoid ``1 / (1 + exp(-(x - mean) / std))`` of the
    stamp's values rescaled so that the cuts go to 0 and 1; a symmetric stamp is stretched each
    side of the cuts' middle."""
    values = pixels.astype(float)
    finite = np.isfinite(values)
    low, high = cuts
    if not high > low:
        low, high = low - 0.5, low + 0.5
    span = high - low
    unit = np.clip((np.where(finite, values, low) - low) / span, 0, 1)
    if case.stretch == "sigmoid":
        mean, std = values[finite].mean(), values[finite].std()

        def fink(u):
            with np.errstate(over="ignore"):
                return 1 / (1 + np.exp(-(u * span + low - mean) / (std if std > 0 else span)))

        def stretch(u):
            return (fink(u) - fink(0.0)) / (fink(1.0) - fink(0.0))
    else:
        stretch = {
            "linear": visualization.LinearStretch(),
            "sqrt": visualization.SqrtStretch(),
            "log": visualization.LogStretch(),
            "asinh": visualization.AsinhStretch(),
            "power": visualization.PowerStretch(2),
        }[case.stretch]
    if case.symmetric:
        signed = 2 * unit - 1
        level = 0.5 + 0.5 * np.sign(signed) * stretch(np.abs(signed))
    else:
        level = stretch(unit)
    return np.where(finite, level, np.nan).ravel()


def at_tie(levels: np.ndarray) -> np.ndarray:
    """Levels within `TIE` of half-way between two of the colormap's 256."""
    scaled = levels * 255
    return np.abs(scaled - np.floor(scaled) - 0.5) < TIE


def check_colours(
    rgb: np.ndarray, levels: np.ndarray, expected_levels: np.ndarray, colormap: str
) -> int:
    """`rgb` is the colormap's colour of each expected level (the next one only at a tie), NaN
    exactly the NaN colour; returns how many pixels took the next colour at a tie."""
    table = matplotlib.colormaps[colormap](np.linspace(0, 1, 256), bytes=True)[:, :3]
    nan = np.isnan(expected_levels)
    np.testing.assert_array_equal(np.isnan(levels), nan)
    assert (rgb[nan] == NAN_RGB).all()
    index = np.floor(expected_levels[~nan] * 255 + 0.5).astype(int)
    same = (rgb[~nan] == table[index]).all(axis=1)
    tie = at_tie(expected_levels[~nan])
    assert (same | tie).all(), f"{(~same & ~tie).sum()} pixels of another colour"
    lower, upper = table[np.maximum(index - 1, 0)], table[np.minimum(index + 1, 255)]
    neighbour = (rgb[~nan] == lower).all(axis=1) | (rgb[~nan] == upper).all(axis=1)
    assert (same | neighbour).all()
    return int((~same).sum())


@pytest.mark.parametrize("interval", render.INTERVALS_WITH_MANUAL)
@pytest.mark.parametrize("stretch", render.STRETCHES)
def test_colours_js_draws_every_real_stamp_as_astropy_and_the_python_pipeline(
    stamps, shown, stretch, interval
):
    cases = [c for c in shown if (c.stretch, c.interval) == (stretch, interval)]
    assert {stamps[c.stamp][0] for c in cases} == {"ztf", "lsst"}
    assert {c.symmetric for c in cases} == {False, True}
    worst_cut, worst_level, ties = 0.0, 0.0, 0
    for case in cases:
        pixels = stamps[case.stamp][1].data
        browser = shown[case]
        cuts = astropy_cuts(pixels, case)
        np.testing.assert_allclose(browser.cuts, cuts, rtol=CUTS_RTOL, atol=0)
        worst_cut = max(worst_cut, float(np.max(np.abs(browser.cuts - cuts) / np.abs(cuts))))
        expected = astropy_levels(pixels, case, cuts)
        np.testing.assert_allclose(browser.levels, expected, rtol=0, atol=LEVEL_ATOL)
        worst_level = max(worst_level, float(np.nanmax(np.abs(browser.levels - expected))))
        ties += check_colours(browser.rgb, browser.levels, expected, case.colormap)

        # The Python pipeline: the same cuts, levels and colours.
        python_cuts = (
            list(case.manual)
            if case.manual is not None
            else render.interval_cuts(pixels, interval, PMIN, PMAX, case.symmetric)
        )
        np.testing.assert_allclose(python_cuts, cuts, rtol=CUTS_RTOL, atol=0)
        python_levels = render.levels(pixels, stretch, python_cuts, case.symmetric).ravel()
        np.testing.assert_allclose(python_levels, expected, rtol=0, atol=LEVEL_ATOL)
        python_rgb = render.coloured(python_levels, case.colormap)
        check_colours(python_rgb, python_levels, expected, case.colormap)
        differ = (python_rgb != browser.rgb).any(axis=1)
        assert not differ[~np.isnan(expected)][~at_tie(expected[~np.isnan(expected)])].any()
    print(
        f"{stretch}, {interval}: {len(cases)} cases; greatest relative difference of the cuts "
        f"{worst_cut:.1e}, of the levels {worst_level:.1e}; next colour at a tie: {ties} pixels"
    )


# A kernel's rendering as the browser draws it (static/colours.js's curveLevel, used by the
# stamps and the flip-book): each pixel's value through the cuts and the rendering's curve, then
# to one of the colormap's 256 levels (`colour` on an identity table gives the level's index).
CURVE_RUNNER = """
import { readFileSync, writeFileSync } from "node:fs";
const colours = await import(process.argv[2]);
const input = JSON.parse(readFileSync(process.argv[3], "utf8"));
const identity = new Uint8Array(3 * 256).map((_, i) => Math.floor(i / 3));
const view = (text) => {
  const bytes = Buffer.from(text, "base64");
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};
const pixels = input.stamps.map((text) => colours.floats(view(text)));
const curves = input.curves.map((text) => colours.floats(view(text)));
const parts = [];
for (const [stamp, curve, low, high] of input.cases) {
  const level = colours.curveLevel(curves[curve], low, high);
  const shown = new Uint8Array(pixels[stamp].length);
  for (let i = 0; i < shown.length; i++) {
    const value = pixels[stamp][i];
    shown[i] = Number.isFinite(value) ? colours.colour(identity, level(value))[0] : 0;
  }
  parts.push(Buffer.from(shown.buffer));
}
writeFileSync(process.argv[4], Buffer.concat(parts));
"""
STEEP_STRETCHES = {
    "LogStretch(a=1000)": visualization.LogStretch(a=1000),
    "SqrtStretch()": visualization.SqrtStretch(),
    "AsinhStretch(0.1)": visualization.AsinhStretch(0.1),
    "PowerStretch(2)": visualization.PowerStretch(2),
}
CURVE_INTERVALS = {
    "minmax": visualization.MinMaxInterval(),  # most pixels just above the low cut: the steep end
    "zscale": visualization.ZScaleInterval(),
    "percentile": visualization.AsymmetricPercentileInterval(PMIN, PMAX),
}


def test_a_kernel_rendering_is_drawn_within_one_level_of_astropys_exact_stretch(stamps, tmp_path):
    """Every real stamp, at astropy's minmax, zscale and percentile cuts, through a kernel
    rendering's curve (`stretch_curve`'s samples, interpolated in node as the browser does): each
    finite pixel's colormap level is within one of astropy's exact stretch on the same values
    (the level of ``stretch(clip((v - low) / (high - low)))``, rounded)."""
    from fink_cutout_jupyter.widgets.stamp_panels import stretch_curve

    node = node_or_skip()
    module = tmp_path / "colours.mjs"
    module.write_text(COLOURS_JS.read_text())
    (tmp_path / "runner.mjs").write_text(CURVE_RUNNER)
    names = list(STEEP_STRETCHES)
    cases, expected = [], []
    for index, (_, stamp) in enumerate(stamps):
        finite = stamp.data[np.isfinite(stamp.data)].astype(float)
        for interval in CURVE_INTERVALS.values():
            low, high = (float(v) for v in interval.get_limits(finite))
            if not high > low:
                continue
            unit = np.clip((stamp.data.astype(float).ravel() - low) / (high - low), 0, 1)
            for curve, name in enumerate(names):
                cases.append((index, curve, low, high))
                exact = STEEP_STRETCHES[name](np.nan_to_num(unit), clip=True)
                expected.append((name, np.floor(exact * 255 + 0.5), np.isfinite(unit)))
    request = {
        "stamps": [
            base64.b64encode(stamp.data.astype("<f4").tobytes()).decode() for _, stamp in stamps
        ],
        "curves": [
            base64.b64encode(stretch_curve(STEEP_STRETCHES[name])).decode() for name in names
        ],
        "cases": cases,
    }
    (tmp_path / "input.json").write_text(json.dumps(request))
    subprocess.run(
        [node, "runner.mjs", module.as_uri(), "input.json", "output.bin"],
        cwd=tmp_path,
        check=True,
        timeout=300,
    )
    shown = np.frombuffer((tmp_path / "output.bin").read_bytes(), np.uint8)
    worst = dict.fromkeys(names, 0)
    at = 0
    for name, levels, finite in expected:
        drawn = shown[at : at + levels.size].astype(int)
        at += levels.size
        worst[name] = max(worst[name], int(np.abs(drawn - levels)[finite].max()))
    assert at == shown.size
    print(f"greatest level difference from astropy's stretch, per stretch: {worst}")
    assert all(off <= 1 for off in worst.values()), worst
