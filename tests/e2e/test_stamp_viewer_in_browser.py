"""StampPanels' kernel-driven drawing in a real JupyterLab, in Debian's Chromium (Playwright): the
traits a `StampViewer` fills (labelled stamps, `renderings`, `markers`) on real stamps, set
directly, then through `StampViewer`'s image-display API (astropy objects).

A ZTF alert's Science and Template (from Fink's Parquet file in ../shared/data) and a Rubin
Science stamp (from Fink's Avro file, 30 pixels where ZTF's have 63) are drawn side by side:
- the Science panel is rendered by the kernel (astropy's `LogStretch` and `ManualInterval`,
  viridis): its canvas and colorbar are astropy's levels through matplotlib's table; its cuts are
  not sent back, the others' are;
- five catalogs, one per marker shape, are found on the canvas where the view puts the images'
  0-based pixel centres (zoom, pan, flip, and the Rubin panel's scale to the first stamp's grid),
  in their colour, as wide as asked; a catalog's checkbox hides it and the kernel learns it;
- panels without an alert position have no reticle;
- a new rendering leaves the viewport (zoom, center) as the browser had set it.

Through `StampViewer` (FITS files of the same stamps): `set_cuts`/`set_stretch`/`set_colormap`
give the same pixels, `load_catalog`/`set_catalog_style` markers on every panel, `set_viewport`
the zoom and centre the browser shows, a wheel zoom the viewport `get_viewport` returns, and new
cuts keep the viewport (the conformance suite's rule, seen in the browser).

Expectations come from astropy, matplotlib and pyarrow here, on the stored bytes, and from the
contract's view coordinates (pixel c spans c..c+1 of the first stamp's grid, zoom 1 fills the
panel), never from the widget's code.
"""

import gzip
import io
import json
import os
import re
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from astropy.io import fits
from astropy.visualization import LogStretch, ManualInterval
from support.browser import (
    browser_page,
    canvas_rgb,
    notebook,
    require_chromium,
    wait_for_change,
    wait_for_idle_kernel,
)
from support.real_data import SHARED_DATA
from support.servers import free_port, wait_for_http

from fink_cutout_jupyter.widgets.stamp_display import OVERLAY_COLOURS

TOKEN = "e2e-token"
HEADERS = {"Authorization": f"token {TOKEN}"}
ZTF_FILE = next((SHARED_DATA / "ztf" / "lake").rglob("part-00002-*.parquet"))
RUBIN_FILE = SHARED_DATA / "lsst" / "alerts" / "fink-client_datatest_lsst_part-2-918301.avro"
CURVE_SAMPLES = 4096  # a rendering's samples of the stretch (the contract: StampPanels' help)
SIZE = 240  # CSS pixels of a "medium" panel (the default); the page's device pixel ratio is 1
TIMES = "\u00d7"
RETICLE = np.array([int(OVERLAY_COLOURS["reticle"][i : i + 2], 16) for i in (1, 3, 5)])
# catalog -> shape, colour (as given, and as sRGB), position (0-based pixel centre), panels
MARKERS = {
    "circles": ("circle", "red", (255, 0, 0), (10.0, 12.0), ["ZTF Template"]),
    "squares": ("square", "blue", (0, 0, 255), (50.0, 12.0), ["ZTF Template"]),
    "crosshairs": ("crosshair", "orange", (255, 165, 0), (30.0, 31.0), ["ZTF Template"]),
    "diamonds": ("diamond", "#00ffff", (0, 255, 255), (50.0, 48.0), ["ZTF Template"]),
    "pluses": ("plus", "tab:purple", (148, 103, 189), (12.0, 20.0), None),
}
HALF_WIDTH = 9.0


def ztf_alert() -> dict:
    """The first alert of the ZTF file whose three stamps are 63 x 63 and finite (pyarrow)."""
    import pyarrow.parquet as pq

    columns = ["candid", "cutoutScience", "cutoutTemplate", "cutoutDifference"]
    for row in pq.read_table(ZTF_FILE, columns=columns).to_pylist():
        pixels = {
            kind: _ztf_pixels(row[f"cutout{kind}"]["stampData"])
            for kind in ("Science", "Template", "Difference")
        }
        if all(p.shape == (63, 63) and np.isfinite(p).all() for p in pixels.values()):
            fits_bytes = gzip.decompress(row["cutoutScience"]["stampData"])
            return {"candid": row["candid"], "fits": fits_bytes, **pixels}
    raise AssertionError("no alert with three whole 63 x 63 stamps")


def _ztf_pixels(stamp_data: bytes) -> np.ndarray:
    with fits.open(io.BytesIO(gzip.decompress(stamp_data)), ignore_missing_simple=True) as hdul:
        return hdul[0].data.astype(float)


ALERT = ztf_alert()
# The kernel's rendering of the Science panel: astropy's cuts (1st to 99.5th percentile, as a
# ManualInterval), its default LogStretch, viridis; later magma with the 5th-99th percentiles.
CUTS = tuple(float(v) for v in np.percentile(ALERT["Science"], [1, 99.5]))
NEW_CUTS = tuple(float(v) for v in np.percentile(ALERT["Science"], [5, 99]))

SETUP = f"""
import gzip, json
import fastavro, numpy as np, pyarrow.parquet as pq
from astropy.visualization import LogStretch, ManualInterval
from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.surveys import LSST, ZTF
from fink_cutout_jupyter.widgets.stamp_display import stamp_payload
from fink_cutout_jupyter.widgets.stamp_panels import StampPanels, stretch_curve

row = pq.read_table({str(ZTF_FILE)!r}, filters=[("candid", "=", {ALERT["candid"]})]).to_pylist()[0]
ztf = {{k: gzip.decompress(row[f"cutout{{k}}"]["stampData"]) for k in ("Science", "Template")}}
with open({str(RUBIN_FILE)!r}, "rb") as f:
    rubin = next(r for r in fastavro.reader(f) if r["cutoutScience"])["cutoutScience"]
stamps = [
    stamp_payload(Stamp("Science", ztf["Science"]), ZTF) | {{"label": "ZTF Science"}},
    stamp_payload(Stamp("Template", ztf["Template"]), ZTF) | {{"label": "ZTF Template"}},
    stamp_payload(Stamp("Science", rubin), LSST) | {{"label": "Rubin Science"}},
]
for stamp in stamps[:2]:
    stamp["alert_position"] = None

def rendering(interval, colormap):
    return {{"cuts": list(interval.get_limits(np.zeros(1))), "curve": stretch_curve(LogStretch()),
             "colormap": colormap}}

markers = [
    {{"catalog": name, "shape": shape, "color": color,
      "x": np.array([x], "<f8").tobytes(), "y": np.array([y], "<f8").tobytes(),
      "panels": panels, "size": {HALF_WIDTH}, "visible": True}}
    for name, (shape, color, _, (x, y), panels) in {MARKERS!r}.items()
]
p = StampPanels(
    stamps=stamps,
    scale_bar=False,
    renderings={{"ZTF Science": rendering(ManualInterval(*{CUTS!r}), "viridis")}},
    markers=markers,
)
p
"""
KERNEL_VIEW = "p.zoom, p.center, p.flip = 2.0, [20.0, 25.0], True"
VIEWER_SETUP = f"""
import json
from astropy.table import Table
from astropy.visualization import LogStretch, ManualInterval
from fink_cutout_jupyter.widgets.stamp_viewer import StampViewer

v = StampViewer()
v.load_image("science.fits", image_label="ZTF Science")
v.load_image("rubin.fits", image_label="Rubin Science")
v.set_cuts(ManualInterval(*{CUTS!r}), image_label="ZTF Science")
v.set_stretch(LogStretch(), image_label="ZTF Science")
v.set_colormap("viridis", image_label="ZTF Science")
v.load_catalog(Table({{"x": [10.0], "y": [12.0]}}), catalog_label="sources")
v.set_catalog_style(catalog_label="sources", shape="diamond", color="red", size={HALF_WIDTH})
v.load_catalog(Table({{"x": [30.0], "y": [31.0]}}), catalog_label="others")
v.set_catalog_style(catalog_label="others", shape="square", color="blue", size={HALF_WIDTH})
v.set_viewport(center=(31, 31), fov=63, image_label="ZTF Science")  # loading Rubin's showed it
v
"""
VIEWER_VIEWPORT = 'v.set_viewport(center=(20, 25), fov=31.5, image_label="ZTF Science")'
VIEWER_NEW_CUTS = (
    'before = v.get_viewport(image_label="ZTF Science")\n'
    f'v.set_cuts(ManualInterval(*{NEW_CUTS!r}), image_label="ZTF Science")\n'
    'v.set_colormap("magma", image_label="ZTF Science")\n'
    'print("BEFORE", json.dumps({"center": [float(c) for c in before["center"]], '
    '"fov": float(before["fov"]), "zoom": v.panels.zoom, "view": list(v.panels.center)}))'
)
VIEWER_STATE = (
    'after = v.get_viewport(image_label="ZTF Science")\n'
    'print("STATE", json.dumps({"center": [float(c) for c in after["center"]], '
    '"fov": float(after["fov"]), "zoom": v.panels.zoom, "view": list(v.panels.center), '
    '"visible": {m["catalog"]: m["visible"] for m in v.panels.markers}}))'
)
NEW_RENDERING = (
    "before = {'zoom': p.zoom, 'center': list(p.center)}\n"
    f'p.renderings = {{"ZTF Science": rendering(ManualInterval(*{NEW_CUTS!r}), "magma")}}\n'
    'print("BEFORE", json.dumps(before))'
)
STATE = (
    'print("STATE", json.dumps({"zoom": p.zoom, "center": list(p.center), "cuts": sorted(p.cuts),'
    ' "visible": {m["catalog"]: m["visible"] for m in p.markers}}))'
)

# A big catalog: 20,000 rows on a lattice over the ZTF stamps (blue pluses of half-width 2), and
# one red circle, on three panels; the pointer's moves are timed without and with them.
CROWD_COLUMNS, CROWD_ROWS = 125, 160  # 20,000 positions, 0.504 x 0.394 pixels apart
CROWD_X = (np.arange(CROWD_COLUMNS) * 63 / CROWD_COLUMNS + 0.1).tolist()
CROWD_Y = (np.arange(CROWD_ROWS) * 63 / CROWD_ROWS + 0.1).tolist()
CROWD_HALF_WIDTH = 2.0
ONE = (24.0, 33.0)  # the red circle's pixel centre, in view at zoom 1 and at CROWD_VIEW
CROWD_VIEW = {"zoom": 4.0, "center": (20.0, 30.0)}
CROWD_SETUP = f"""
import gzip
import numpy as np, pyarrow.parquet as pq
from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.surveys import ZTF
from fink_cutout_jupyter.widgets.stamp_display import stamp_payload
from fink_cutout_jupyter.widgets.stamp_panels import StampPanels

row = pq.read_table({str(ZTF_FILE)!r}, filters=[("candid", "=", {ALERT["candid"]})]).to_pylist()[0]
kinds = ("Science", "Template", "Difference")
p = StampPanels(
    stamps=[stamp_payload(Stamp(k, gzip.decompress(row[f"cutout{{k}}"]["stampData"])), ZTF)
            for k in kinds],
    reticle=False,
    scale_bar=False,
)
p
"""
CROWD_MARKERS = f"""
x, y = np.meshgrid({CROWD_X!r}, {CROWD_Y!r})
common = {{"panels": None, "visible": True}}
p.markers = [
    {{"catalog": "crowd", "x": x.ravel().astype("<f8").tobytes(),
      "y": y.ravel().astype("<f8").tobytes(), "shape": "plus", "color": "blue",
      "size": {CROWD_HALF_WIDTH}, **common}},
    {{"catalog": "one", "x": np.array([{ONE[0]}], "<f8").tobytes(),
      "y": np.array([{ONE[1]}], "<f8").tobytes(), "shape": "circle", "color": "red",
      "size": {HALF_WIDTH}, **common}},
]
print("ROWS", x.size)
"""
CROWD_ZOOM = f"p.zoom, p.center = {CROWD_VIEW['zoom']}, {list(CROWD_VIEW['center'])}"
# The pointer moved over the first stamp to each [x, y] (CSS px in the canvas), as the browser
# delivers a move (a pointermove event); each move timed until the readout says where it is and
# the three canvases hold what was drawn (reading a pixel waits for the canvas's drawing).
MOVES = """
([canvases, readout, points]) => {
  const target = canvases[0];
  const box = target.getBoundingClientRect();
  const times = [];
  const texts = [];
  for (const [x, y] of points) {
    const start = performance.now();
    target.dispatchEvent(new PointerEvent("pointermove", {
      clientX: box.left + target.clientLeft + x, clientY: box.top + target.clientTop + y,
      bubbles: true, pointerId: 1, pointerType: "mouse",
    }));
    const text = readout.textContent;
    for (const canvas of canvases) canvas.getContext("2d").getImageData(0, 0, 1, 1);
    times.push(performance.now() - start);
    texts.push(text);
  }
  return { times, texts };
}
"""


async def timed_moves(panels, points) -> tuple[np.ndarray, list[str]]:
    canvases = await panels.locator("canvas.fink-stamp-canvas").element_handles()
    readout = await panels.locator(".fink-readout").element_handle()
    moved = await panels.page.evaluate(MOVES, [canvases, readout, points])
    return np.array(moved["times"]), moved["texts"]


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """A real JupyterLab on a temporary root holding the notebook."""
    require_chromium()
    home = tmp_path_factory.mktemp("jupyter-stamp-viewer")
    root = home / "root"
    root.mkdir()
    (root / "panels.ipynb").write_text(notebook(SETUP, KERNEL_VIEW, NEW_RENDERING, STATE))
    (root / "crowd.ipynb").write_text(notebook(CROWD_SETUP, CROWD_MARKERS, CROWD_ZOOM))
    (root / "science.fits").write_bytes(ALERT["fits"])
    (root / "rubin.fits").write_bytes(rubin_science())
    (root / "viewer.ipynb").write_text(
        notebook(VIEWER_SETUP, VIEWER_VIEWPORT, VIEWER_NEW_CUTS, VIEWER_STATE)
    )
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    for name in ("FINK_CUTOUTS_URL", "JUPYTERHUB_SERVICE_URL", "FINK_CUTOUTS_LAKE"):
        environment.pop(name, None)
    port = free_port()
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/api/status", HEADERS, 120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def rubin_science() -> bytes:
    """The first Science stamp of the Rubin alerts' Avro file (fastavro), its FITS bytes."""
    import fastavro

    with RUBIN_FILE.open("rb") as file:
        return next(r for r in fastavro.reader(file) if r["cutoutScience"])["cutoutScience"]


def screen(x, y, *, width, zoom=1.0, center=(31.5, 31.5), flip=False, base_width=63):
    """Where the view puts the centre of pixel (x, y) (0-based) of an image `width` pixels wide:
    view x = x + 0.5 in the image's own grid, the centre scaled from the first stamp's grid."""
    ratio = width / base_width
    cx, cy = center[0] * ratio, center[1] * ratio
    scale = SIZE / width * zoom
    return SIZE / 2 + (x + 0.5 - cx) * scale, SIZE / 2 + (
        (cy - y - 0.5) if flip else (y + 0.5 - cy)
    ) * scale


def of_colour(canvas: np.ndarray, rgb) -> np.ndarray:
    """Where the canvas shows `rgb`, or `rgb` blended into the black outline under it (a line's
    antialiased edge): t * rgb with t >= 0.6, within 8 of each channel."""
    rgb = np.asarray(rgb, dtype=float)
    t = (canvas @ rgb) / (rgb @ rgb)
    return (t >= 0.6) & (np.abs(canvas - t[..., None] * rgb).max(axis=-1) <= 8)


def check_marker(canvas: np.ndarray, rgb, shape: str, at: tuple[float, float], size: float):
    """The marker of colour `rgb` is centred `at` (CSS px), `size` px from its centre to its
    sides, and has its shape (probed where the shapes differ)."""
    mask = of_colour(canvas, rgb)
    rows, columns = np.nonzero(mask)
    assert mask.sum() > 10, f"no {shape} of colour {rgb}"
    centre = ((columns.min() + columns.max() + 1) / 2, (rows.min() + rows.max() + 1) / 2)
    assert centre == pytest.approx(at, abs=1.0), f"{shape} centred at {centre}, not {at}"
    half = (columns.max() + 1 - columns.min()) / 2, (rows.max() + 1 - rows.min()) / 2
    assert all(size - 1 <= h <= size + 2 for h in half), f"{shape}: half-widths {half}"

    def drawn(dx: float, dy: float) -> bool:
        row, column = int(at[1] + dy), int(at[0] + dx)
        return bool(mask[row - 1 : row + 2, column - 1 : column + 2].any())

    s, d = size, size / np.sqrt(2)
    expected = {
        "circle": {(s, 0): True, (0, -s): True, (d, d): True, (0, 0): False, (s, s): False},
        "square": {(s, s): True, (-s, 0): True, (0, 0): False, (d / 2, d / 2): False},
        "diamond": {(0, -s): True, (s / 2, s / 2): True, (0, 0): False, (s, s): False},
        "plus": {(0, 0): True, (0.9 * s, 0): True, (0, -0.9 * s): True, (d, d): False},
        "crosshair": {(0, 0): False, (0.8 * s, 0): True, (0, 0.8 * s): True, (d, d): False},
    }[shape]
    found = {offset: drawn(*offset) for offset in expected}
    assert found == expected, f"{shape}: drawn at offsets {found}"


def levels_of(pixels: np.ndarray, cuts) -> tuple[np.ndarray, np.ndarray]:
    """The 256-level index of each value by astropy's LogStretch after the ManualInterval: exact,
    and through the rendering's 4096 samples of the stretch linearly interpolated (the contract;
    samples and interpolation by astropy and numpy here)."""
    x = ManualInterval(*cuts)(pixels, clip=True)
    samples = LogStretch()(np.linspace(0, 1, CURVE_SAMPLES)).astype("<f4")
    interpolated = np.interp(x * (CURVE_SAMPLES - 1), np.arange(CURVE_SAMPLES), samples)
    return (
        np.floor(LogStretch()(x) * 255 + 0.5).astype(int),
        np.floor(interpolated * 255 + 0.5).astype(int),
    )


def level_distance(shown: np.ndarray, table: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """How many levels from `levels` the shown colour is: the nearest entry of the table it
    equals exactly (the image is put and scaled without smoothing), searched 5 levels either
    side; 99 if none."""
    distance = np.full(levels.shape, 99)
    for step in (5, 4, 3, 2, 1, 0):
        for sign in (1, -1):
            entry = table[np.clip(levels + sign * step, 0, 255)]
            distance[(shown == entry).all(axis=-1)] = step
    return distance


def sampled(canvas: np.ndarray, size: int) -> np.ndarray:
    """The canvas at each pixel's centre of a `size`-pixel stamp at zoom 1."""
    at = ((np.arange(size) + 0.5) * SIZE / size).astype(int)
    return canvas[np.ix_(at, at)]


async def run_cell(page, index: int, printed: str | None = None) -> str:
    """Run the notebook's cell `index`; what it printed, when it prints `printed`."""
    cell = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").nth(index)
    await cell.locator(".jp-InputArea-editor").click()
    await page.keyboard.press("Shift+Enter")
    if printed is None:
        return ""
    output = cell.locator(".jp-OutputArea-output").filter(has_text=printed)
    await output.wait_for(timeout=60_000)
    return await output.inner_text()


async def wait_for_zoom(page, panels, text: str) -> None:
    await page.wait_for_function(
        "([e, t]) => e.textContent === t",
        arg=[await panels.locator(".fink-zoom").element_handle(), text],
    )


async def test_the_kernels_renderings_and_markers_are_drawn_as_astropy_and_the_view_say(jupyter):
    async with browser_page("stamp_viewer") as page:
        await page.goto(f"{jupyter}/lab/tree/panels.ipynb?token={TOKEN}")
        await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
        await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, "panels.ipynb")
        await run_cell(page, 0)
        panels = page.locator(".jp-NotebookPanel:visible .fink-stamps").first
        canvases = panels.locator("canvas.fink-stamp-canvas")
        await canvases.nth(2).wait_for(state="visible", timeout=120_000)
        titles = await panels.locator(".fink-panel-title").all_inner_texts()
        assert titles == ["ZTF Science", "ZTF Template", "Rubin Science"], "labels are titles"
        science, template, rubin = [await canvas_rgb(canvases.nth(i)) for i in range(3)]

        # Markers: each shape on the Template, where the view puts its pixel centre; the catalog
        # for every panel on the Science and on the Rubin stamp too (30 pixels: its own grid).
        for shape, _, rgb, (x, y), _ in MARKERS.values():
            check_marker(template, rgb, shape, screen(x, y, width=63), HALF_WIDTH)
        purple, (px, py) = MARKERS["pluses"][2], MARKERS["pluses"][3]
        check_marker(science, purple, "plus", screen(px, py, width=63), HALF_WIDTH)
        check_marker(rubin, purple, "plus", screen(px, py, width=30), HALF_WIDTH)
        for name, (_, _, rgb, _, panels_) in MARKERS.items():
            if panels_ is not None:
                assert not of_colour(science, rgb).any(), f"{name} only on the Template"
        assert not of_colour(science, RETICLE).any(), "no alert position: no reticle"
        assert not of_colour(template, RETICLE).any(), "no alert position: no reticle"
        assert of_colour(rubin, RETICLE).sum() > 20, "the Rubin stamp's reticle"

        # A catalog's checkbox hides it, on every panel.
        await panels.get_by_label("pluses", exact=True).uncheck()
        await panels.get_by_label("squares", exact=True).uncheck()
        for _ in range(100):
            science = await canvas_rgb(canvases.nth(0))
            template = await canvas_rgb(canvases.nth(1))
            if not of_colour(science, purple).any() and not of_colour(template, (0, 0, 255)).any():
                break
            await page.wait_for_timeout(100)
        else:
            raise AssertionError("the unchecked catalogs are still drawn")
        assert not of_colour(await canvas_rgb(canvases.nth(2)), purple).any()
        check_marker(template, (255, 0, 0), "circle", screen(10, 12, width=63), HALF_WIDTH)

        # The kernel's rendering of the Science panel, against astropy and matplotlib.
        viridis = matplotlib.colormaps["viridis"](np.linspace(0, 1, 256), bytes=True)[:, :3]
        exact, interpolated = levels_of(ALERT["Science"], CUTS)
        shown = sampled(science, 63)
        assert (level_distance(shown, viridis, interpolated) <= 1).all(), "the contract's curve"
        off = level_distance(shown, viridis, exact)
        print(f"levels off astropy's LogStretch: {np.bincount(off.ravel())} (0, 1, 2... levels)")
        assert off.max() <= 1, "astropy's levels, ±1 (4096 samples of LogStretch: < 0.3 off)"
        colorbar = (await canvas_rgb(panels.locator("canvas.fink-colorbar").first))[5]
        values = CUTS[0] + (CUTS[1] - CUTS[0]) * (np.arange(SIZE) + 0.5) / SIZE
        _, bar_levels = levels_of(values, CUTS)
        assert (level_distance(colorbar, viridis, bar_levels) <= 1).all(), "its colorbar"
        cuts_texts = await panels.locator(".fink-cuts").all_inner_texts()
        low = float(re.search(r"cuts (\S+) …", cuts_texts[0])[1])
        assert low == pytest.approx(CUTS[0], rel=1e-3)
        assert "viridis" in cuts_texts[0]
        assert "(zscale)" in cuts_texts[1], "no rendering: the traits' interval"

        # The viewport set by the kernel (zoom 2, centre (20, 25), row 0 at the bottom).
        await run_cell(page, 1)
        await wait_for_zoom(page, panels, f"zoom 2.00{TIMES}")
        view = {"zoom": 2.0, "center": (20.0, 25.0), "flip": True}
        for _ in range(100):
            template = await canvas_rgb(canvases.nth(1))
            red = of_colour(template, (255, 0, 0))
            if red.any() and np.nonzero(red)[0].mean() > SIZE / 2:
                break
            await page.wait_for_timeout(100)
        check_marker(template, (255, 0, 0), "circle", screen(10, 12, width=63, **view), HALF_WIDTH)
        orange = MARKERS["crosshairs"][2]
        at = screen(30, 31, width=63, **view)
        check_marker(template, orange, "crosshair", at, HALF_WIDTH)

        # The browser zooms (the wheel); a new rendering from the kernel keeps that view.
        box = await canvases.nth(1).bounding_box()
        await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
        await page.mouse.wheel(0, -100)
        await wait_for_zoom(page, panels, f"zoom 2.50{TIMES}")
        await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] + 200)
        science = await canvas_rgb(canvases.nth(0))
        before = json.loads((await run_cell(page, 2, "BEFORE")).split("BEFORE", 1)[1])
        assert before["zoom"] == 2.5, "the browser's zoom reached the kernel"
        assert before["center"] != [20.0, 25.0], "zoomed about the pointer"
        await wait_for_change(canvases.nth(0), science)
        magma = matplotlib.colormaps["magma"](np.linspace(0, 1, 256), bytes=True)[:, :3]
        await page.wait_for_function(
            "e => e.textContent.includes('magma')",
            arg=await panels.locator(".fink-cuts").first.element_handle(),
        )
        colorbar = (await canvas_rgb(panels.locator("canvas.fink-colorbar").first))[5]
        values = NEW_CUTS[0] + (NEW_CUTS[1] - NEW_CUTS[0]) * (np.arange(SIZE) + 0.5) / SIZE
        _, bar_levels = levels_of(values, NEW_CUTS)
        assert (level_distance(colorbar, magma, bar_levels) <= 1).all(), "the new colorbar"
        await wait_for_zoom(page, panels, f"zoom 2.50{TIMES}")
        state = json.loads((await run_cell(page, 3, "STATE")).split("STATE", 1)[1])
    assert state["zoom"] == before["zoom"]
    assert state["center"] == before["center"], "the viewport is the browser's still"
    assert state["cuts"] == ["Rubin Science", "ZTF Template"], "a rendered panel's cuts stay"
    assert state["visible"] == {
        "circles": True,
        "squares": False,
        "crosshairs": True,
        "diamonds": True,
        "pluses": False,
    }, "the checkboxes reached the kernel"


async def test_the_image_display_api_drives_what_the_browser_draws(jupyter):
    async with browser_page("stamp_viewer_api") as page:
        await page.goto(f"{jupyter}/lab/tree/viewer.ipynb?token={TOKEN}")
        await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
        await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, "viewer.ipynb")
        await run_cell(page, 0)
        panels = page.locator(".jp-NotebookPanel:visible .fink-stamps").first
        canvases = panels.locator("canvas.fink-stamp-canvas")
        await canvases.nth(1).wait_for(state="visible", timeout=120_000)
        titles = await panels.locator(".fink-panel-title").all_inner_texts()
        assert titles == ["ZTF Science", "Rubin Science"]
        science, rubin = [await canvas_rgb(canvases.nth(i)) for i in range(2)]
        red, blue = (255, 0, 0), (0, 0, 255)
        check_marker(science, red, "diamond", screen(10, 12, width=63), HALF_WIDTH)
        check_marker(science, blue, "square", screen(30, 31, width=63), HALF_WIDTH)
        check_marker(rubin, red, "diamond", screen(10, 12, width=30), HALF_WIDTH)

        for catalog in ("sources", "others"):
            await panels.get_by_label(catalog, exact=True).uncheck()
        for _ in range(100):
            science = await canvas_rgb(canvases.nth(0))
            if not of_colour(science, red).any() and not of_colour(science, blue).any():
                break
            await page.wait_for_timeout(100)
        else:
            raise AssertionError("the unchecked catalogs are still drawn")
        viridis = matplotlib.colormaps["viridis"](np.linspace(0, 1, 256), bytes=True)[:, :3]
        exact, interpolated = levels_of(ALERT["Science"], CUTS)
        shown = sampled(science, 63)
        assert (level_distance(shown, viridis, interpolated) <= 1).all(), "the contract's curve"
        assert (level_distance(shown, viridis, exact) <= 1).all(), "astropy's levels, ±1"
        await panels.get_by_label("sources", exact=True).check()

        # set_viewport: fov 31.5 of 63 pixels is zoom 2, astropy's pixel (20, 25) the centre.
        await run_cell(page, 1)
        await wait_for_zoom(page, panels, f"zoom 2.00{TIMES}")
        view = {"zoom": 2.0, "center": (20.5, 25.5)}
        for _ in range(100):
            science = await canvas_rgb(canvases.nth(0))
            if of_colour(science, red).any() and np.nonzero(of_colour(science, red))[0].mean() < 40:
                break
            await page.wait_for_timeout(100)
        check_marker(science, red, "diamond", screen(10, 12, width=63, **view), HALF_WIDTH)

        # A wheel zoom reaches the API's viewport; new cuts and colormap keep it.
        box = await canvases.nth(0).bounding_box()
        await page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.1)
        await page.mouse.wheel(0, -100)
        await wait_for_zoom(page, panels, f"zoom 2.50{TIMES}")
        await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] + 200)
        science = await canvas_rgb(canvases.nth(0))
        before = json.loads((await run_cell(page, 2, "BEFORE")).split("BEFORE", 1)[1])
        await wait_for_change(canvases.nth(0), science)
        await page.wait_for_function(
            "e => e.textContent.includes('magma')",
            arg=await panels.locator(".fink-cuts").first.element_handle(),
        )
        await wait_for_zoom(page, panels, f"zoom 2.50{TIMES}")
        science = await canvas_rgb(canvases.nth(0))
        state = json.loads((await run_cell(page, 3, "STATE")).split("STATE", 1)[1])
    assert before["zoom"] == 2.5, "the wheel's zoom reached the kernel"
    assert before["fov"] == pytest.approx(63 / 2.5), "get_viewport: the browser's field of view"
    assert before["center"] == pytest.approx([v - 0.5 for v in before["view"]]), "pixel centre"
    assert before["center"] != pytest.approx([20.0, 25.0]), "zoomed about the pointer"
    assert state["center"] == before["center"], "new cuts keep the viewport"
    assert state["fov"] == before["fov"]
    assert (state["zoom"], state["view"]) == (before["zoom"], before["view"]), "and the browser's"
    assert state["visible"] == {"sources": True, "others": False}
    view = {"zoom": 2.5, "center": tuple(before["view"])}
    check_marker(science, red, "diamond", screen(10, 12, width=63, **view), HALF_WIDTH)


async def test_a_big_catalog_leaves_the_pointer_as_fast_and_is_drawn_where_the_view_puts_it(
    jupyter,
):
    """20,000 markers on each of three panels: moving the pointer across a stamp updates the
    readout about as fast as without them (the median move within 3 times the catalog-less
    one's, measured on the same page: a ratio, whatever the machine's load), and after a zoom
    the lattice's markers and the red circle are where the view puts their pixel centres."""
    async with browser_page("stamp_viewer_crowd") as page:
        await page.goto(f"{jupyter}/lab/tree/crowd.ipynb?token={TOKEN}")
        await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
        await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, "crowd.ipynb")
        await run_cell(page, 0)
        panels = page.locator(".jp-NotebookPanel:visible .fink-stamps").first
        canvases = panels.locator("canvas.fink-stamp-canvas")
        await canvases.nth(2).wait_for(state="visible", timeout=120_000)
        step = SIZE / 63
        pixels = [(c, (7 * c + 3) % 63) for c in range(63)] * 2  # 126 moves, each to a new pixel
        points = [[(c + 0.5) * step, (r + 0.5) * step] for c, r in pixels]
        expected = [f"column {c}, row {r} · " for c, r in pixels]

        await timed_moves(panels, points[:20])  # warm-up
        bare, texts = await timed_moves(panels, points)
        assert [t[: len(e)] for t, e in zip(texts, expected, strict=True)] == expected

        assert "ROWS 20000" in await run_cell(page, 1, "ROWS")
        blue, red = (0, 0, 255), (255, 0, 0)
        for _ in range(300):
            if of_colour(await canvas_rgb(canvases.nth(2)), blue).sum() > 1000:
                break
            await page.wait_for_timeout(100)
        else:
            raise AssertionError("the catalog was not drawn")
        await timed_moves(panels, points[:20])
        layers = await panels.get_attribute("data-marker-layers")
        crowded, texts = await timed_moves(panels, points)
        assert [t[: len(e)] for t, e in zip(texts, expected, strict=True)] == expected
        assert await panels.get_attribute("data-marker-layers") == layers, "none drawn on a move"
        ratio = np.median(crowded) / max(np.median(bare), 0.1)  # the clock ticks every 0.1 ms
        print(
            f"pointer move (ms, median of {len(points)}): {np.median(bare):.2f} without the "
            f"catalog, {np.median(crowded):.2f} with 20,000 markers per panel (x{ratio:.2f}); "
            f"slowest {bare.max():.1f} and {crowded.max():.1f}"
        )
        assert ratio < 3, f"a move takes {ratio:.1f} times as long with the catalog"

        # Zoomed by the kernel: the markers follow the view, and stay drawn while hovering.
        await run_cell(page, 2)
        await wait_for_zoom(page, panels, f"zoom 4.00{TIMES}")
        for _ in range(100):
            circle = of_colour(await canvas_rgb(canvases.nth(0)), red)
            if circle.any() and np.nonzero(circle)[1].mean() > 140:  # moved right by the zoom
                break
            await page.wait_for_timeout(100)
        await timed_moves(panels, points[:5])
        assert int(await panels.get_attribute("data-marker-layers")) >= int(layers) + 3
        # a quarter of the lattice's step away along each axis: between the pluses' arms
        gap_x = 0.25 * 63 / CROWD_COLUMNS * SIZE / 63 * CROWD_VIEW["zoom"]
        gap_y = 0.25 * 63 / CROWD_ROWS * SIZE / 63 * CROWD_VIEW["zoom"]
        for index in range(3):
            canvas = await canvas_rgb(canvases.nth(index))
            check_marker(canvas, red, "circle", screen(*ONE, width=63, **CROWD_VIEW), HALF_WIDTH)
            drawn = of_colour(canvas, blue)
            centres = [
                screen(x, y, width=63, **CROWD_VIEW)
                for x in CROWD_X
                for y in CROWD_Y
                if abs(x - ONE[0]) > 1.5 or abs(y - ONE[1]) > 1.5  # under the circle
            ]
            inside = [(sx, sy) for sx, sy in centres if 4 <= sx < SIZE - 4 and 4 <= sy < SIZE - 4]
            assert len(inside) > 200
            for sx, sy in inside:
                row, column = int(sy), int(sx)
                assert drawn[row - 1 : row + 2, column - 1 : column + 2].any(), (sx, sy)
                assert not drawn[int(sy + 2 * gap_y), int(sx + 2 * gap_x)], (sx, sy)
