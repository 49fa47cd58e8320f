"""CutoutViewer in a real JupyterLab (and Notebook 7) driven in Debian's Chromium by Playwright.

What the browser draws is checked against astropy and matplotlib on the stored bytes: the pixels
of each stamp (ZTF: zscale cuts, linear stretch; Rubin: percentile 0.5-99.95 cuts, asinh Science,
linear Difference; the colormaps' tables), the reticle on the alert's position (Rubin: astropy's
WCS) and the scale bar's length in arcsec, the hover readout's values, offsets and sky positions
(Rubin's WCS), a solar-system object's heading.
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.visualization import AsinhStretch, AsymmetricPercentileInterval, ZScaleInterval
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from support.browser import (
    ARTIFACTS,
    browser_page,
    canvas_rgb,
    download,
    notebook,
    require_chromium,
    run_notebook,
    wait_for_change,
    wait_for_idle_kernel,
)
from support.real_data import REPOSITORY
from support.rewrites import stored_stamps
from support.servers import free_port, wait_for_http
from support.stamp_edits import edited_ztf_lake, first_columns

from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.surveys import LSST, ZTF
from fink_cutout_jupyter.widgets.stamp_display import OVERLAY_COLOURS

TOKEN = "e2e-token"
HEADERS = {"Authorization": f"token {TOKEN}"}
RUBIN_OBJECT = "170028485706776685"
MINUS, TIMES = "\u2212", "\u00d7"  # as the readout and the zoom label write them
NUMBER = r"([-+\u2212]?[0-9.]+(?:e[-+]?\d+)?)"
SOLAR_SYSTEM_OBJECT = 21163624394469969  # '2004 JQ12' in the real Rubin alerts
KINDS3 = ("Science", "Template", "Difference")
# A real ZTF object whose oldest alert's stamps are stored 63 x 40 in a copy of the lake (their
# first 40 columns, as a stamp at a CCD's edge is narrower): the view moves into them.
SPLIT_OBJECT, CROPPED, CROPPED_WIDTH = "ZTF18abwvktq", 1786109905715015005, 40
BACKGROUND = np.array([0xF4, 0xF4, 0xF4])  # a panel where no stamp is drawn


def rgb_of(css: str) -> np.ndarray:
    return np.array([int(css[i : i + 2], 16) for i in (1, 3, 5)])


RETICLE, SCALE_BAR = rgb_of(OVERLAY_COLOURS["reticle"]), rgb_of(OVERLAY_COLOURS["scale_bar"])


def is_colour(rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return np.abs(rgb - colour).max(axis=-1) <= 2


def check_overlays(canvas: np.ndarray, alert: tuple[float, float], width: int, arcsec: float):
    """The reticle's ticks on the row and column through the alert's position (view coordinates,
    pixel c from c to c + 1; zoom 1, centred), the alert's own pixel left as it is, and the scale
    bar in the lower left as long as the largest round number of arcsec within a quarter of the
    panel (10″ for ZTF's 63 pixels of 1.01″, 1″ for Rubin's 30 of 0.2″)."""
    scale = canvas.shape[0] / width
    x, y = (canvas.shape[0] / 2 + (v - width / 2) * scale for v in alert)
    gap = max(5, 0.75 * scale)
    row, column = int(y), int(x)
    reticle = is_colour(canvas, RETICLE)
    for sign in (1, -1):
        along = [int(x + sign * (gap + d)) for d in (2, 5, 8)]
        assert reticle[row, along].all(), f"a horizontal tick at {along}, row {row}"
        down = [int(y + sign * (gap + d)) for d in (2, 5, 8)]
        assert reticle[down, column].all(), f"a vertical tick at {down}, column {column}"
    inside = int(gap) - 2
    assert not reticle[row - inside : row + inside, column - inside : column + inside].any()
    length = 10 if width * arcsec / 4 >= 10 else 1
    bar = is_colour(canvas[-14:], SCALE_BAR).sum(axis=1).max()
    assert bar == pytest.approx(length / arcsec * scale, abs=1.5), f"{length}″ of {arcsec}″ px"


async def overlays_off(page, viewer, canvas) -> np.ndarray:
    """Uncheck the reticle and the scale bar; the canvas once neither shows."""
    for label in ("reticle", "scale bar"):
        await viewer.get_by_label(label, exact=True).uncheck()
    for _ in range(100):
        drawn = await canvas_rgb(canvas)
        if not (is_colour(drawn, RETICLE).any() or is_colour(drawn, SCALE_BAR).any()):
            return drawn
        await page.wait_for_timeout(100)
    raise AssertionError("the reticle or the scale bar is still drawn")


@pytest.fixture(scope="module")
def jupyter(demo, rubin_root, tmp_path_factory):
    """A real JupyterLab (with Notebook 7) on a temporary root holding the quickstart notebook."""
    require_chromium()
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "root"
    root.mkdir()
    shutil.copy(REPOSITORY / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb")
    (root / "traits.ipynb").write_text(
        notebook(
            "from fink_cutout_jupyter import CutoutViewer\n"
            f'v = CutoutViewer("{DEMO_OBJECT_ID}")\nv',
            'v.zoom = 4\nv.stretch = "log"\nv.blink(True, interval=0.2)',
            'print("STATE", v.stretch, v.zoom, v.interval, v.cuts["Difference"])',
        )
    )
    (root / "api.ipynb").write_text(
        notebook(
            "from astropy.visualization import LogStretch\n"
            "from fink_cutout_jupyter import CutoutViewer\n"
            f'v = CutoutViewer("{DEMO_OBJECT_ID}", markers=True)\n'
            'v.set_stretch(LogStretch(), image_label="Difference")\nv',
            'print("MARKERS", v.markers_toggle.value, v.alert)',
        )
    )
    (root / "lightcurve.ipynb").write_text(
        notebook(f'from fink_cutout_jupyter import CutoutViewer\nCutoutViewer("{DEMO_OBJECT_ID}")')
    )
    (root / "gallery.ipynb").write_text(
        notebook(
            "from fink_cutout_jupyter import CutoutGallery\n"
            f"ids = {gallery_ids(demo)!r}\n"
            "g = CutoutGallery(ids)\ng",
            'print("LABELS", len(g.labels), sorted(g.labels.label), sorted(g.labels.id))',
        )
    )
    (root / "rubin.ipynb").write_text(
        notebook(
            "from fink_cutout_jupyter import CutoutClient, CutoutViewer\n"
            f'CutoutViewer({RUBIN_OBJECT}, client=CutoutClient(lake="{rubin_root}"))'
        )
    )
    (root / "solar.ipynb").write_text(
        notebook(
            "from fink_cutout_jupyter import CutoutClient, CutoutViewer\n"
            f"CutoutViewer(ss_object_id={SOLAR_SYSTEM_OBJECT}, "
            f'client=CutoutClient(lake="{rubin_root}"))'
        )
    )
    edited = edited_ztf_lake(
        home / "edited-lake", {CROPPED: dict.fromkeys(KINDS3, first_columns(CROPPED_WIDTH))}
    )
    view = (
        "views = {k: v.get_viewport(image_label=k) for k in v.image_labels}\n"
        'print("TAG", json.dumps({"alert": v.alert, "zoom": v.zoom, "center": v.center, '
        '"viewports": {k: [*map(float, w["center"]), float(w["fov"])] '
        "for k, w in views.items()}}))"
    )
    (root / "shapes.ipynb").write_text(
        notebook(
            "import json\n"
            "from fink_cutout_jupyter import CutoutClient, CutoutViewer\n"
            "from fink_cutout_jupyter.storage.lake import Lake\n"
            f'lake = Lake("{edited.uri}", science_dir="archive/science")\n'
            f'v = CutoutViewer("{SPLIT_OBJECT}", client=CutoutClient(lake=lake))\nv',
            view.replace("TAG", "BEFORE"),
            view.replace("TAG", "AFTER"),
        )
    )
    port = free_port()
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    for name in ("FINK_CUTOUTS_URL", "JUPYTERHUB_SERVICE_URL"):
        environment.pop(name, None)
    environment["FINK_CUTOUTS_LAKE"] = str(demo.root)  # as `fink-cutouts demo` sets it
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
            "--ServerApp.jpserver_extensions={'fink_cutout_jupyter': True, 'notebook': True}",
            f"--FinkCutoutsApp.lake={demo.root}",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/api/v1/openapi.json", HEADERS, 120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def gallery_ids(demo) -> list[int]:
    """120 alert ids of the demo lake, the last two replaced by ids no alert has."""
    import pyarrow.parquet as pq

    found = []
    for path in demo.files:
        found += pq.read_table(demo.root / path, columns=["candid"]).column(0).to_pylist()
    return [*found[:118], 1, 2]


def expected_rgb(fits_bytes: bytes, colormap: str, symmetric: bool) -> np.ndarray:
    """The stamp as the viewer's defaults draw it, by astropy and matplotlib: zscale cuts
    (symmetric about 0 for the Difference), linear stretch, 256-level colormap."""
    with fits.open(io.BytesIO(fits_bytes), ignore_missing_simple=True) as hdul:
        pixels = next(h.data for h in hdul if h.data is not None).astype(float)
    low, high = ZScaleInterval().get_limits(pixels[np.isfinite(pixels)])
    if symmetric:
        low, high = -max(abs(low), abs(high)), max(abs(low), abs(high))
    level = np.clip((pixels - low) / (high - low), 0, 1)
    table = matplotlib.colormaps[colormap](np.linspace(0, 1, 256), bytes=True)[:, :3]
    rgb = table[np.floor(level * 255 + 0.5).astype(int)]
    rgb[~np.isfinite(pixels)] = (255, 0, 255)
    return rgb.astype(int)


def sampled(canvas: np.ndarray, height: int, width: int) -> np.ndarray:
    """The canvas at each stamp pixel's centre (zoom 1: the stamp fills the square canvas)."""
    scale = canvas.shape[0] / max(height, width)
    rows = ((np.arange(height) + 0.5 - height / 2) * scale + canvas.shape[0] / 2).astype(int)
    columns = ((np.arange(width) + 0.5 - width / 2) * scale + canvas.shape[1] / 2).astype(int)
    return canvas[np.ix_(rows, columns)]


async def hover(page, canvas, column: int, row: int, width: int, shown_row=None) -> str:
    """Move the pointer over the stamp pixel drawn at (column, row) at zoom 1, wait for the
    readout to name the pixel (`shown_row` if the rows are flipped) and return it."""
    box = await canvas.bounding_box()
    scale = box["width"] / width
    await page.mouse.move(box["x"] + (column + 0.5) * scale, box["y"] + (row + 0.5) * scale)
    readout = page.locator(".fink-readout").first
    await page.wait_for_function(
        "([e, c, r]) => e.textContent.startsWith(`column ${c}, row ${r} `)",
        arg=[await readout.element_handle(), column, row if shown_row is None else shown_row],
    )
    return await readout.text_content()


def number_after(label: str, text: str) -> float:
    return float(re.search(re.escape(label) + " " + NUMBER, text)[1].replace(MINUS, "-"))


async def test_quickstart_in_jupyterlab(jupyter, demo_lake_case):
    latest = demo_lake_case.alerts[-1]
    stored = stored_stamps(Path(demo_lake_case.lake) / latest["hdfsPath"], latest["alertId"])
    async with browser_page("quickstart_in_jupyterlab") as page:
        url = f"{jupyter}/lab/tree/quickstart.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )
        canvases = viewer.locator("canvas.fink-stamp-canvas")
        assert await canvases.count() == 3
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await viewer.screenshot(path=str(ARTIFACTS / "viewer-in-jupyterlab.png"))
        for index in range(3):  # ZTF: the alert at the stamp's centre, 1.01″ pixels
            check_overlays(await canvas_rgb(canvases.nth(index)), (31.5, 31.5), 63, 1.01)
        await overlays_off(page, viewer, canvases.nth(0))
        for index, kind in enumerate(("Science", "Template", "Difference")):
            shown = sampled(await canvas_rgb(canvases.nth(index)), 63, 63)
            colormap = "RdBu_r" if kind == "Difference" else "gray"
            expected = expected_rgb(stored[kind], colormap, kind == "Difference")
            close = np.abs(shown - expected).max(axis=2) <= 2
            assert close.mean() > 0.99, f"{kind}: {close.mean():.3f} of the pixels as astropy's"

        header = await viewer.locator(".widget-html").first.inner_text()
        assert str(latest["alertId"]) in header
        assert "positive detection" in header
        portal = viewer.locator("a.fink-link", has_text="Fink portal")
        assert await portal.get_attribute("href") == f"https://fink-portal.org/{DEMO_OBJECT_ID}"
        assert "no WCS" in await viewer.locator(".fink-orientation").inner_text()
        cuts = await viewer.locator(".fink-cuts").nth(2).inner_text()
        assert "symmetric about 0" in cuts
        assert number_after("cuts", cuts) == -float(re.search(r"… " + NUMBER, cuts)[1])
        assert "DN" in cuts
        assert await viewer.locator(".fink-ticks").nth(0).locator(".fink-tick").count() >= 3

        with fits.open(io.BytesIO(stored["Science"]), ignore_missing_simple=True) as hdul:
            science = hdul[0].data.astype(float)
        readout = await hover(page, canvases.nth(0), 40, 20, 63)
        assert number_after("Science", readout) == pytest.approx(science[20, 40], rel=1e-3)
        assert number_after("position:", readout) == pytest.approx((40.5 - 31.5) * 1.01, abs=0.06)
        assert "along rows" in readout
        on_template = await hover(page, canvases.nth(1), 40, 20, 63)
        assert on_template == readout, "one crosshair, one readout for the three stamps"

        box = await canvases.nth(0).bounding_box()
        point = (box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.3)
        await page.mouse.move(*point)
        before = await viewer.locator(".fink-readout").text_content()
        for _ in range(3):
            await page.mouse.wheel(0, -100)
        zoom = viewer.locator(".fink-zoom")
        await page.wait_for_function(
            f"e => e.textContent === 'zoom 1.95{TIMES}'", arg=await zoom.element_handle()
        )
        await page.mouse.move(point[0] + 1, point[1])
        await page.mouse.move(*point)
        after = await viewer.locator(".fink-readout").text_content()
        assert after.split(" · ")[0] == before.split(" · ")[0], "the wheel zooms about the pointer"
        template_box = await canvases.nth(1).bounding_box()
        await page.mouse.move(
            template_box["x"] + box["width"] * 0.7, template_box["y"] + box["height"] * 0.3
        )
        linked = await viewer.locator(".fink-readout").text_content()
        assert linked.split(" · ")[0] == after.split(" · ")[0], "the stamps show the same region"
        await page.mouse.dblclick(*point)
        await page.wait_for_function(
            f"e => e.textContent === 'zoom 1.00{TIMES}'", arg=await zoom.element_handle()
        )

        pixel = (box["width"] - 2) / 63  # screen pixels per stamp pixel, inside the border
        await page.mouse.move(*point)
        await page.mouse.down()
        await page.mouse.move(point[0] + 10 * pixel, point[1], steps=5)
        await page.mouse.up()
        await page.mouse.move(point[0], point[1] + 1)
        await page.mouse.move(*point)
        dragged = await viewer.locator(".fink-readout").text_content()
        column_before = int(re.search(r"column (\d+)", before)[1])
        assert int(re.search(r"column (\d+)", dragged)[1]) == column_before - 10, "drag pans"
        await page.mouse.dblclick(*point)

        await viewer.get_by_label("flip vertically").check()
        await hover(page, canvases.nth(0), 40, 62 - 20, 63, shown_row=20)  # row 0 at the bottom
        await viewer.get_by_label("flip vertically").uncheck()

        cuts_texts = viewer.locator(".fink-cuts")
        assert await cuts_texts.nth(1).inner_text() != await cuts_texts.nth(0).inner_text()
        await viewer.get_by_label("same cuts for Science and Template").check()
        handle = await cuts_texts.nth(1).element_handle()
        science_cuts = await cuts_texts.nth(0).inner_text()
        await page.wait_for_function("([e, s]) => e.innerText === s", arg=[handle, science_cuts])
        await viewer.get_by_label("same cuts for Science and Template").uncheck()

        science_before = await canvas_rgb(canvases.nth(0))
        await viewer.locator("select[aria-label='stretch']").select_option("log")
        await wait_for_change(canvases.nth(0), science_before)
        milliseconds = float(await viewer.locator(".fink-stamps").get_attribute("data-render-ms"))
        assert milliseconds > 0

        titles = viewer.locator(".fink-panel-title")
        await viewer.locator(".fink-stamps").focus()
        await page.keyboard.press("b")
        blink = viewer.get_by_role("button", name=re.compile("blink Science and Template"))
        assert await blink.get_attribute("aria-pressed") == "true"
        first_title = await titles.first.element_handle()
        await page.wait_for_function("e => e.textContent === 'Template'", arg=first_title)
        await page.wait_for_function("e => e.textContent === 'Science'", arg=first_title)
        assert await titles.nth(1).text_content() == "Template", "the others stay"
        await page.keyboard.press("b")

        await viewer.locator("select[aria-label='size']").select_option("large")
        assert await canvases.nth(0).evaluate("c => c.clientWidth") == 360

        title = viewer.locator(".widget-html").first
        handle = await title.element_handle()
        await viewer.get_by_role("button", name="◀ previous").click()
        await page.wait_for_function("([e, old]) => e.innerText !== old", arg=[handle, header])
        await viewer.get_by_role("button", name="next ▶").click()
        await page.wait_for_function("([e, old]) => e.innerText === old", arg=[handle, header])

        link = viewer.locator("a.fink-download[download$='_Science.fits']")
        name, saved = await download(page, link)
    assert name == f"{DEMO_OBJECT_ID}_{latest['alertId']}_Science.fits"
    assert saved == stored["Science"]


async def test_the_api_sets_one_panels_stretch_and_the_alert_is_marked(jupyter, demo_lake_case):
    """``set_stretch(LogStretch(), image_label="Difference")`` in the kernel: the Difference
    canvas is astropy's LogStretch on the symmetric zscale cuts, Science and Template stay
    linear; the alert's catalog is drawn (cyan, at the centre of each stamp) until the browser's
    checkbox hides it, and the kernel's checkbox follows."""
    from astropy.visualization import LogStretch

    latest = demo_lake_case.alerts[-1]
    stored = stored_stamps(Path(demo_lake_case.lake) / latest["hdfsPath"], latest["alertId"])

    def cyan(rgb: np.ndarray) -> np.ndarray:  # the markers' #00e5ff, antialiased
        return (rgb[..., 0] < 90) & (rgb[..., 1] > 170) & (rgb[..., 2] > 190)

    async with browser_page("viewer_api") as page:
        url = f"{jupyter}/lab/tree/api.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )
        canvases = viewer.locator("canvas.fink-stamp-canvas")
        await overlays_off(page, viewer, canvases.nth(0))
        for index in range(3):
            drawn = await canvas_rgb(canvases.nth(index))
            size = drawn.shape[0]
            middle = cyan(drawn[size // 3 : 2 * size // 3, size // 3 : 2 * size // 3])
            assert middle.sum() > 10, "the alert's marker about the centre"
            assert cyan(drawn).sum() == middle.sum(), "and nowhere else"
        await viewer.get_by_role("checkbox", name="alert", exact=True).uncheck()
        for _ in range(100):
            if not cyan(await canvas_rgb(canvases.nth(0))).any():
                break
            await page.wait_for_timeout(100)
        for index, kind in enumerate(("Science", "Template", "Difference")):
            shown = sampled(await canvas_rgb(canvases.nth(index)), 63, 63)
            assert not cyan(shown).any()
            if kind == "Difference":
                with fits.open(io.BytesIO(stored[kind]), ignore_missing_simple=True) as hdul:
                    pixels = hdul[0].data.astype(float)
                reach = np.abs(ZScaleInterval().get_limits(pixels[np.isfinite(pixels)])).max()
                level = LogStretch()(np.clip((pixels + reach) / (2 * reach), 0, 1))
                table = matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256), bytes=True)[:, :3]
                expected = table[np.floor(level * 255 + 0.5).astype(int)].astype(int)
                linear = expected_rgb(stored[kind], "RdBu_r", True)
                assert (np.abs(linear - expected).max(axis=2) > 2).mean() > 0.5, "log differs"
            else:
                expected = expected_rgb(stored[kind], "gray", False)
            close = np.abs(shown - expected).max(axis=2) <= 2
            assert close.mean() > 0.99, f"{kind}: {close.mean():.3f} of the pixels as astropy's"
        last = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").nth(1)
        await last.locator(".jp-InputArea-editor").click()
        await page.keyboard.press("Shift+Enter")
        output = last.locator(".jp-OutputArea-output")
        await output.filter(has_text="MARKERS False").wait_for(timeout=60_000)
        assert f"MARKERS False {latest['alertId']}" in await output.inner_text()


async def test_traits_go_both_ways_between_kernel_and_browser(jupyter):
    async with browser_page("viewer_traits") as page:
        url = f"{jupyter}/lab/tree/traits.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )
        zoom = viewer.locator(".fink-zoom")
        await page.wait_for_function(
            f"e => e.textContent === 'zoom 4.00{TIMES}'", arg=await zoom.element_handle()
        )
        stretch = viewer.locator("select[aria-label='stretch']")
        assert await stretch.input_value() == "log"
        blink = viewer.get_by_role("button", name=re.compile("blink Science and Template"))
        assert await blink.get_attribute("aria-pressed") == "true"

        await stretch.select_option("sqrt")
        await viewer.locator("select[aria-label='interval']").select_option("minmax")
        last = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").nth(2)
        await last.locator(".jp-InputArea-editor").click()
        await page.keyboard.press("Shift+Enter")
        output = last.locator(".jp-OutputArea-output")
        await output.filter(has_text="STATE").wait_for(timeout=60_000)
        state = await output.inner_text()
    _, stretch_name, zoom_value, interval, *difference = state.split()
    assert (stretch_name, float(zoom_value), interval) == ("sqrt", 4.0, "minmax")
    low, high = (float(v.strip("[],")) for v in difference)
    assert low == -high, "the browser's cuts reach the kernel: symmetric Difference"


async def test_a_rubin_stamp_reads_its_sky_position_from_the_wcs(jupyter, rubin_lake):
    import pyarrow.parquet as pq

    records = []
    for path in sorted(Path(rubin_lake.uri).rglob("*.parquet")):
        records += pq.read_table(
            path, columns=["diaSourceId", "diaObject", "cutoutScience"]
        ).to_pylist()
    mine = [
        r for r in records if r["diaObject"] and str(r["diaObject"]["diaObjectId"]) == RUBIN_OBJECT
    ]
    with fits.open(io.BytesIO(mine[-1]["cutoutScience"])) as hdul:
        image = next(h for h in hdul if h.data is not None)
        pixels, header = image.data.astype(float), image.header
    width = pixels.shape[1]
    async with browser_page("viewer_rubin") as page:
        url = f"{jupyter}/lab/tree/rubin.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )
        readout = await hover(page, viewer.locator("canvas.fink-stamp-canvas").first, 7, 21, width)
        orientation = await viewer.locator(".fink-orientation").inner_text()
    header = header.copy()  # Rubin's stamps name no CTYPE: read as TAN, as the viewer says
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    ra, dec = WCS(header).celestial.pixel_to_world_values(7, 21)
    assert number_after("RA", readout) == pytest.approx(float(ra), abs=2e-6)
    assert number_after("Dec", readout) == pytest.approx(float(dec), abs=2e-6)
    assert number_after("Science", readout) == pytest.approx(pixels[21, 7], rel=1e-3)
    assert "nJy" in readout
    assert "TAN assumed" in readout
    assert "north is" in orientation


def rubin_stamps(rubin_lake, object_id: str) -> dict:
    """The latest stored alert of a Rubin object, read by pyarrow: its diaSource and stamps."""
    import pyarrow.parquet as pq

    records = []
    for path in sorted(Path(rubin_lake.uri).rglob("*.parquet")):
        records += pq.read_table(
            path,
            columns=["diaSourceId", "diaObject", "diaSource", *(f"cutout{k}" for k in KINDS3)],
        ).to_pylist()
    mine = [
        r for r in records if r["diaObject"] and str(r["diaObject"]["diaObjectId"]) == object_id
    ]
    return max(mine, key=lambda r: r["diaSource"]["midpointMjdTai"])


async def test_a_rubin_object_is_drawn_as_finks_portal_draws_it(jupyter, rubin_lake):
    """The survey's display, read from the model (the menus show the traits): asinh Science and
    Template, linear Difference, percentiles 0.5-99.95; the canvases are astropy's
    AsymmetricPercentileInterval and AsinhStretch (LinearStretch, symmetric about 0, for the
    Difference) on the stored pixels; the reticle where astropy's WCS puts the alert's ra/dec,
    and a 1″ scale bar of the WCS's pixel scale."""
    latest = rubin_stamps(rubin_lake, RUBIN_OBJECT)
    async with browser_page("viewer_rubin_display") as page:
        url = f"{jupyter}/lab/tree/rubin.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )
        display = LSST.stamp_display
        menus = {
            name: await viewer.locator(f"select[aria-label='{name}']").input_value()
            for name in ("stretch", "difference stretch", "interval")
        }
        assert menus == {
            "stretch": display.stretch,
            "difference stretch": display.difference_stretch,
            "interval": display.interval,
        }
        assert menus == {
            "stretch": "asinh",
            "difference stretch": "linear",
            "interval": "percentile",
        }
        assert float(await viewer.get_by_label("lower %").input_value()) == 0.5
        assert float(await viewer.get_by_label("upper %").input_value()) == 99.95
        assert "percentile 0.5\u201399.95" in await viewer.locator(".fink-cuts").first.inner_text()
        canvases = viewer.locator("canvas.fink-stamp-canvas")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await viewer.screenshot(path=str(ARTIFACTS / "rubin-viewer-in-jupyterlab.png"))
        source = latest["diaSource"]
        for index, kind in enumerate(KINDS3):
            with fits.open(io.BytesIO(latest[f"cutout{kind}"])) as hdul:
                image = next(h for h in hdul if h.data is not None)
                header = image.header.copy()
            header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
            wcs = WCS(header).celestial
            column, row = wcs.world_to_pixel_values(source["ra"], source["dec"])
            arcsec = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600
            drawn = await canvas_rgb(canvases.nth(index))
            check_overlays(drawn, (float(column) + 0.5, float(row) + 0.5), 30, arcsec)
        await overlays_off(page, viewer, canvases.nth(0))
        for index, kind in enumerate(KINDS3):
            with fits.open(io.BytesIO(latest[f"cutout{kind}"])) as hdul:
                pixels = next(h for h in hdul if h.data is not None).data.astype(float)
            low, high = AsymmetricPercentileInterval(0.5, 99.95).get_limits(
                pixels[np.isfinite(pixels)]
            )
            if kind == "Difference":
                reach = max(abs(low), abs(high))
                level, colormap = 0.5 + np.clip(pixels / reach, -1, 1) / 2, "RdBu_r"
            else:
                level = AsinhStretch()(np.clip((pixels - low) / (high - low), 0, 1))
                colormap = "gray"
            table = matplotlib.colormaps[colormap](np.linspace(0, 1, 256), bytes=True)[:, :3]
            expected = table[np.floor(level * 255 + 0.5).astype(int)].astype(int)
            shown = sampled(await canvas_rgb(canvases.nth(index)), 30, 30)
            close = np.abs(shown - expected).max(axis=2) <= 2
            assert close.mean() > 0.99, f"{kind}: {close.mean():.3f} of the pixels as astropy's"
        await viewer.get_by_label("reticle", exact=True).check()
        await page.wait_for_function(
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " for (let i = 0; i < d.length; i += 4) if (d[i] < 3 && d[i + 1] > 252 && d[i + 2] < 3)"
            " return true; return false; }",
            arg=await canvases.nth(0).element_handle(),
        )


async def test_a_solar_system_object_is_headed_by_its_designation(jupyter, rubin_records):
    mine = [
        r for r in rubin_records if (r["ssSource"] or {}).get("ssObjectId") == SOLAR_SYSTEM_OBJECT
    ]
    async with browser_page("viewer_solar_system") as page:
        url = f"{jupyter}/lab/tree/solar.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )
        header = await viewer.locator(".widget-html").first.inner_text()
        shown = await canvas_rgb(viewer.locator("canvas.fink-stamp-canvas").first)
    designation = mine[-1]["ssSource"]["designation"]
    assert header.startswith(
        f"Solar-system object {designation} · ssObjectId {SOLAR_SYSTEM_OBJECT} · "
        f"alert {mine[-1]['diaSourceId']}"
    )
    assert shown.std() > 5, "its stamps are drawn"


async def test_quickstart_in_notebook_7(jupyter):
    async with browser_page("quickstart_in_notebook_7") as page:
        url = f"{jupyter}/notebooks/quickstart.ipynb?token={TOKEN}"
        viewer = await run_notebook(page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-Notebook")
        canvases = viewer.locator("canvas.fink-stamp-canvas")
        assert await canvases.count() == 3
        assert (await canvas_rgb(canvases.first)).std() > 5


async def test_the_light_curve_has_every_alert_and_a_click_opens_the_oldest(
    jupyter, demo_lake_case
):
    async with browser_page("viewer_light_curve") as page:
        url = f"{jupyter}/lab/tree/lightcurve.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )
        points = viewer.locator(".fink-lightcurve .fink-point")
        await points.nth(len(demo_lake_case.alerts) - 1).wait_for(timeout=30_000)
        assert await points.count() == len(demo_lake_case.alerts)
        oldest = demo_lake_case.alerts[0]
        first = points.first
        assert await first.get_attribute("data-alert-id") == str(oldest["alertId"])
        await first.hover()
        readout = await viewer.locator(".fink-lightcurve-readout").inner_text()
        assert f"alert {oldest['alertId']}" in readout
        assert f"MJD {Time(oldest['jd'], format='jd').mjd:.5f}" in readout  # origins from Python
        # drawn in the colour surveys.py gives its filter (the browser has no table of its own)
        assert await first.get_attribute("fill") == ZTF.filter_styles[oldest["filter"]].colour
        await first.click()
        title = viewer.locator(".widget-html").first
        await page.wait_for_function(
            "([e, id]) => e.innerText.includes(`alert ${id}`)",
            arg=[await title.element_handle(), str(oldest["alertId"])],
        )
        ring = viewer.locator(".fink-lightcurve .fink-shown")
        assert await ring.count() == 1


async def test_a_gallery_pages_labels_by_keyboard_and_shows_unknown_ids(jupyter, demo):
    ids = [str(i) for i in gallery_ids(demo)]
    async with browser_page("gallery") as page:
        url = f"{jupyter}/lab/tree/gallery.ipynb?token={TOKEN}"
        await page.goto(url)
        await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
        from support.browser import run_all_cells, wait_for_idle_kernel

        await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, "gallery.ipynb")
        await run_all_cells(page)
        gallery = page.locator(".jp-NotebookPanel:visible .fink-gallery").first
        tiles = gallery.locator(".fink-tile")
        await tiles.nth(59).wait_for(timeout=120_000)
        assert await tiles.count() == 60
        assert [await tiles.nth(i).get_attribute("data-id") for i in range(60)] == ids[:60]
        assert await gallery.locator("canvas.fink-thumbnail").count() >= 55
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await gallery.screenshot(path=str(ARTIFACTS / "gallery-in-jupyterlab.png"))

        await gallery.focus()
        for key in ("1", "ArrowRight", "2", "ArrowRight", "1"):
            await page.keyboard.press(key)
        badges = gallery.locator(".fink-tile-label:not(:empty)")
        await page.wait_for_function(
            "e => e.querySelectorAll('.fink-tile-label[data-label=\"real\"]').length === 2",
            arg=await gallery.element_handle(),
        )
        assert await badges.count() == 3

        renders = await gallery.get_attribute("data-renders")
        started = await page.evaluate("performance.now()")
        await gallery.get_by_role("button", name="page ▶").click()
        paged = await page.wait_for_function(
            "([e, old]) => e.dataset.renders !== old ? performance.now() : null",
            arg=[await gallery.element_handle(), renders],
            polling=20,
        )
        print(f"next page of 60 drawn in {(await paged.json_value() - started) / 1000:.2f} s")
        assert [await tiles.nth(i).get_attribute("data-id") for i in range(60)] == ids[60:]
        assert await tiles.nth(58).locator(".fink-tile-missing").inner_text() == "not found"
        assert await tiles.nth(57).locator("canvas").count() == 1

        last = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").nth(1)
        await last.locator(".jp-InputArea-editor").click()
        await page.keyboard.press("Shift+Enter")
        output = last.locator(".jp-OutputArea-output")
        await output.filter(has_text="LABELS").wait_for(timeout=60_000)
        printed = await output.inner_text()
    assert printed.startswith("LABELS 3 ['bogus', 'real', 'real']")
    for identifier in ids[:3]:
        assert identifier in printed


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


async def test_the_view_moves_into_narrower_stamps_in_the_browser_and_the_kernel(jupyter):
    """Zoomed by the wheel on the right of the 63 x 63 stamps, then the previous buttons to the
    alert whose stamps are 63 x 40: the zoom stays, the centre is their right edge (view x 40)
    in the browser and in every label's `get_viewport` (pixel 39.5), and the panels show the
    stamps' right edge at their middle, nothing right of it."""
    async with browser_page("viewer_shapes") as page:
        await page.goto(f"{jupyter}/lab/tree/shapes.ipynb?token={TOKEN}")
        await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
        await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, "shapes.ipynb")
        await run_cell(page, 0)
        viewer = page.locator(".jp-NotebookPanel:visible .fink-cutout-viewer").first
        canvases = viewer.locator("canvas.fink-stamp-canvas")
        await canvases.nth(2).wait_for(state="visible", timeout=120_000)
        await overlays_off(page, viewer, canvases.nth(0))
        box = await canvases.nth(0).bounding_box()
        await page.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + box["height"] * 0.4)
        for _ in range(6):
            await page.mouse.wheel(0, -100)
        zoom = viewer.locator(".fink-zoom")
        await page.wait_for_function(
            f"e => e.textContent === 'zoom 3.81{TIMES}'", arg=await zoom.element_handle()
        )
        before = json.loads((await run_cell(page, 1, "BEFORE")).split("BEFORE", 1)[1])
        assert before["center"][0] > CROPPED_WIDTH, "the view's centre right of the new stamps"
        title = viewer.locator(".widget-html").first
        for _ in range(2):
            await viewer.get_by_role("button", name="◀ previous").click()
            await page.wait_for_timeout(500)
        await page.wait_for_function(
            "([e, id]) => e.innerText.includes(`alert ${id}`)",
            arg=[await title.element_handle(), str(CROPPED)],
        )
        for _ in range(100):
            drawn = [await canvas_rgb(canvases.nth(i)) for i in range(3)]
            if all((d[:, 122:] == BACKGROUND).all() for d in drawn):
                break
            await page.wait_for_timeout(100)
        after = json.loads((await run_cell(page, 2, "AFTER")).split("AFTER", 1)[1])
    assert after["alert"] == CROPPED
    assert after["zoom"] == before["zoom"] == pytest.approx(1.25**6)
    assert after["center"] == [CROPPED_WIDTH, before["center"][1]]
    for kind in KINDS3:
        x, y, fov = after["viewports"][kind]
        assert (x, y) == pytest.approx((CROPPED_WIDTH - 0.5, before["center"][1] - 0.5))
        assert fov == pytest.approx(63 / after["zoom"])
    size = drawn[0].shape[1]
    for canvas in drawn:
        assert (canvas[:, size // 2 + 2 :] == BACKGROUND).all(), "nothing right of the edge"
        shown = (canvas[:, : size // 2 - 2] != BACKGROUND).any(axis=-1)
        assert shown.mean() > 0.99, "the stamp fills the left half"
