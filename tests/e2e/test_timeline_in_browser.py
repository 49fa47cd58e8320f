"""CutoutTimeline in a real JupyterLab, driven in Debian's Chromium by Playwright.

Pressing play advances the frames (the canvas and the frame's alert id change, at the speed the
speed slider sets; stop goes back to the first) while the kernel sleeps in another cell, so no
frame waits on the kernel; the slider sets the frame (and the kernel fetches the pages it lacks);
the light curve's ring follows every frame, and a click on a point shows its frame; the stamps
menu shows one kind. The pixels drawn are astropy's: the stamps as stored (pyarrow, astropy),
the cuts of astropy's interval over all the object's frames, astropy's stretch and matplotlib's
colormap table (within one of its 256 levels).
"""

import os
import shutil
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from astropy.visualization import LinearStretch, LogStretch, PercentileInterval, ZScaleInterval
from support.browser import (
    ARTIFACTS,
    browser_page,
    canvas_rgb,
    notebook,
    require_chromium,
    wait_for_idle_kernel,
)
from support.object_alerts import all_pixels, object_alerts
from support.servers import free_port, wait_for_http

from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

TOKEN = "e2e-token"
HEADERS = {"Authorization": f"token {TOKEN}"}
KINDS = ("Science", "Template", "Difference")
NAN_RGB = (255, 0, 255)
# In one look (the player does not wait): the frame's alert id, the centres of the light
# curve's ring and of that alert's detection (SVG coordinates).
RINGED = """root => {
  const id = root.querySelector('.fink-timeline-label').dataset.alertId;
  const ring = root.querySelector('.fink-lightcurve .fink-shown');
  const box = root.querySelector(`.fink-point[data-alert-id='${id}']`).getBBox();
  return {id, ring: [+ring.getAttribute('cx'), +ring.getAttribute('cy')],
          point: [box.x + box.width / 2, box.y + box.height / 2]};
}"""
BUSY_SECONDS = 12
# Each change of the frame's alert, as the browser makes it: its id, the time, the centres of
# the light curve's ring and of that alert's detection (in `window.finkFrames`).
RECORD = """root => {
  window.finkFrames = [];
  const label = root.querySelector('.fink-timeline-label');
  let last = label.dataset.alertId;
  new MutationObserver(() => {
    const id = label.dataset.alertId;
    if (id === last) return;
    last = id;
    const ring = root.querySelector('.fink-lightcurve .fink-shown');
    const box = root.querySelector(`.fink-point[data-alert-id='${id}']`).getBBox();
    window.finkFrames.push({id, t: performance.now(),
      ring: [+ring.getAttribute('cx'), +ring.getAttribute('cy')],
      point: [box.x + box.width / 2, box.y + box.height / 2]});
  }).observe(label, {attributes: true, attributeFilter: ['data-alert-id']});
}"""


@pytest.fixture(scope="module")
def stored(demo):
    """The demo object's alerts as pyarrow and astropy read the lake, oldest first."""
    return object_alerts(demo.root, DEMO_OBJECT_ID)


@pytest.fixture(scope="module")
def jupyter(demo, tmp_path_factory):
    """A real JupyterLab and two notebooks on timelines of the demo object: play.ipynb on the
    defaults (one page of five frames) and a cell that keeps the kernel busy; slider.ipynb in
    pages of two, log stretch, viridis, a percentile interval."""
    require_chromium()
    home = tmp_path_factory.mktemp("jupyter-timeline")
    root = home / "root"
    root.mkdir()
    opening = (
        "from astropy.visualization import LogStretch, PercentileInterval\n"
        "from fink_cutout_jupyter import CutoutClient\n"
        "from fink_cutout_jupyter.widgets.timeline import CutoutTimeline\n"
        f'client = CutoutClient(lake="{demo.root}")\n'
    )
    (root / "play.ipynb").write_text(
        notebook(
            f'{opening}t = CutoutTimeline("{DEMO_OBJECT_ID}", client=client, fps=3)\nt',
            f'import time\ntime.sleep({BUSY_SECONDS})\nprint("AWAKE")',
        )
    )
    (root / "slider.ipynb").write_text(
        notebook(
            f'{opening}u = CutoutTimeline("{DEMO_OBJECT_ID}", client=client, page_size=2, '
            'stretch=LogStretch(), interval=PercentileInterval(99.5), colormap="viridis")\nu',
            'print("LOADED", u.loaded)',
        )
    )
    # Every cell in the page (not only those in view) and the app's commands for the test.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "FINK_CUTOUTS_LAKE": str(demo.root),
    }
    for name in ("FINK_CUTOUTS_URL", "JUPYTERHUB_SERVICE_URL"):
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
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.jpserver_extensions={'fink_cutout_jupyter': True}",
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
        shutil.rmtree(home / "runtime", ignore_errors=True)


def table_levels(stored: list[dict], frame: int, kind: str, interval, stretch) -> np.ndarray:
    """A frame's stamp as indices of a 256-level colormap table, by astropy: the interval's
    cuts over every frame's finite pixels of the kind, then the stretch; -1 where NaN."""
    low, high = interval.get_limits(all_pixels(stored, kind))
    pixels = stored[frame]["stamps"][kind].astype(float)
    finite = np.isfinite(pixels)
    level = stretch(np.clip((np.where(finite, pixels, low) - low) / (high - low), 0, 1), clip=True)
    return np.where(finite, np.floor(level * 255 + 0.5), -1).astype(int)


def check_pixels(drawn: np.ndarray, stored, frame, kind, interval, stretch, colormap) -> None:
    """`drawn` (the canvas at its own resolution: one canvas pixel per stamp pixel) is astropy's
    rendering of `frame`'s `kind` through the colormap's table, each pixel within one level."""
    table = matplotlib.colormaps[colormap](np.linspace(0, 1, 256), bytes=True)[:, :3].astype(int)
    index = table_levels(stored, frame, kind, interval, stretch)
    assert drawn.shape == (*index.shape, 3)
    near = np.zeros(index.shape, bool)
    for step in (-1, 0, 1):
        near |= (drawn == table[np.clip(index + step, 0, 255)]).all(axis=2)
    nan = index < 0
    near[nan] = (drawn[nan] == NAN_RGB).all(axis=1)
    assert near.all(), f"{kind} of frame {frame}: {int((~near).sum())} pixels off astropy's"
    exact = (drawn == table[np.clip(index, 0, 255)]).all(axis=2) | nan
    assert exact.mean() > 0.9, f"{kind} of frame {frame}: {exact.mean():.3f} exactly astropy's"


async def open_timeline(page, jupyter: str, name: str):
    """Open a notebook and run its first cell; its timeline once it has drawn its first frame."""
    await page.goto(f"{jupyter}/lab/tree/{name}?token={TOKEN}")
    await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
    await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, name)
    await run_cell(page, 0)
    timeline = page.locator(".fink-cutout-timeline").first
    await timeline.locator(".fink-timeline[data-state='drawn']").wait_for(timeout=120_000)
    await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, name)
    return timeline


async def run_cell(page, index: int, command: str = "notebook:run-cell") -> None:
    """Select the notebook's cell `index` and start a JupyterLab command on it, without
    waiting for the kernel (the app is exposed to the page: ``expose_app_in_browser``)."""
    await page.wait_for_function(
        """index => {
            const panel = window.jupyterapp?.shell.currentWidget;
            return panel?.sessionContext?.isReady && panel.content.widgets.length > index;
        }""",
        arg=index,
        timeout=60_000,
    )
    active = await page.evaluate(
        """([index, command]) => {
            const app = window.jupyterapp;
            const notebook = app.shell.currentWidget.content;
            notebook.activeCellIndex = index;
            app.commands.execute(command);
            return notebook.activeCellIndex;
        }""",
        [index, command],
    )
    assert active == index


PROMPT = "i => window.jupyterapp.shell.currentWidget.content.widgets[i].promptNode.textContent"


async def cell_running(page, index: int) -> bool:
    """Whether the kernel is running cell `index` (its prompt ``[*]:``)."""
    return await page.evaluate(PROMPT, index) == "[*]:"


async def shown_alert(timeline) -> str:
    return await timeline.locator(".fink-timeline-label").get_attribute("data-alert-id")


async def ringed(timeline) -> str:
    """The frame's alert id, once checked that the light curve rings that alert."""
    found = await timeline.evaluate(RINGED)
    assert found["ring"] == pytest.approx(found["point"], abs=0.5), f"the ring on {found['id']}"
    return found["id"]


async def ring_on(timeline, alert_id: str) -> None:
    assert await ringed(timeline) == alert_id


async def recorded(page, count: int) -> list[dict]:
    """The first `count` changes of frame recorded (`RECORD`), once there are as many."""
    await page.wait_for_function(f"() => window.finkFrames.length >= {count}", timeout=8_000)
    return (await page.evaluate("() => window.finkFrames"))[:count]


async def test_play_advances_frames_in_the_browser_while_the_kernel_is_busy(jupyter, stored):
    ids = [str(alert["candid"]) for alert in stored]
    async with browser_page("timeline_play") as page:
        timeline = await open_timeline(page, jupyter, "play.ipynb")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await timeline.screenshot(path=str(ARTIFACTS / "timeline-in-jupyterlab.png"))
        canvases = timeline.locator("canvas.fink-timeline-canvas")
        assert await canvases.count() == 3
        assert await shown_alert(timeline) == ids[0]
        label = await timeline.locator(".fink-timeline-label").inner_text()
        assert f"frame 1 / {len(ids)}" in label
        assert "2024-11-19T07:58:50" in label, "the frame's date"
        first = {}
        for position, kind in enumerate(KINDS):
            first[kind] = await canvas_rgb(canvases.nth(position))
            check_pixels(first[kind], stored, 0, kind, ZScaleInterval(), LinearStretch(), "gray")
        await ring_on(timeline, ids[0])

        await run_cell(page, 1)  # time.sleep: the kernel handles no message until it ends
        await page.wait_for_function(f"() => ({PROMPT})(1) === '[*]:'")
        await timeline.evaluate(RECORD)
        buttons = timeline.locator(".widget-play button")
        await buttons.nth(0).click()  # play, at 3 frames per second
        played = await recorded(page, len(ids) - 1)
        await buttons.nth(1).click()  # stop: back to the first frame
        await page.wait_for_function("() => window.finkFrames.length === 5")
        speed = timeline.locator(".widget-slider .noUi-handle").nth(1)
        await speed.focus()
        await page.keyboard.press("Home")  # the fastest: 20 ms a frame
        await page.evaluate("() => { window.finkFrames = []; }")
        await buttons.nth(0).click()
        faster = await recorded(page, len(ids) - 1)
        assert await cell_running(page, 1), "all that while the kernel slept"
        assert "AWAKE" not in await page.locator(".jp-OutputArea-output").all_inner_texts()

        for log in (played, faster):
            assert [entry["id"] for entry in log] == ids[1:], "every frame in time order"
            for entry in log:
                assert entry["ring"] == pytest.approx(entry["point"], abs=0.5), "ring follows"
        slow = np.median(np.diff([entry["t"] for entry in played]))
        fast = np.median(np.diff([entry["t"] for entry in faster]))
        assert slow > 300, f"333 ms a frame asked: {slow:.0f} ms"
        assert fast < slow / 2, f"20 ms a frame asked: {fast:.0f} ms, was {slow:.0f} ms"
        last = len(ids) - 1
        for position, kind in enumerate(KINDS):
            drawn = await canvas_rgb(canvases.nth(position))
            assert np.abs(drawn - first[kind]).sum() > 0, f"{kind}: the canvas changed"
            check_pixels(drawn, stored, last, kind, ZScaleInterval(), LinearStretch(), "gray")
        label = await timeline.locator(".fink-timeline-label").inner_text()
        assert f"frame {len(ids)} / {len(ids)}" in label


async def test_slider_pages_ring_and_click(jupyter, stored):
    ids = [str(alert["candid"]) for alert in stored]
    interval, stretch = PercentileInterval(99.5), LogStretch()
    async with browser_page("timeline_slider") as page:
        timeline = await open_timeline(page, jupyter, "slider.ipynb")
        canvases = timeline.locator("canvas.fink-timeline-canvas")
        handle = timeline.locator(".widget-slider .noUi-handle").first
        await handle.focus()
        await page.keyboard.press("End")  # the last frame: pages 2 and 3 are fetched
        drawn = timeline.locator(".fink-timeline[data-state='drawn'][data-frame='4']")
        await drawn.wait_for(timeout=60_000)
        assert await shown_alert(timeline) == ids[-1]
        await ring_on(timeline, ids[-1])
        await wait_for_idle_kernel(f"{jupyter}/api/sessions", HEADERS, "slider.ipynb")
        cuts = timeline.locator(".fink-timeline-cuts").first
        low, high = interval.get_limits(all_pixels(stored, "Science"))
        text = await cuts.inner_text()
        assert f"{float(f'{low:.4g}'):g}" in text.replace("\u2212", "-"), (text, low, high)
        for position, kind in enumerate(KINDS):
            drawn_rgb = await canvas_rgb(canvases.nth(position))
            check_pixels(drawn_rgb, stored, 4, kind, interval, stretch, "viridis")

        await page.keyboard.press("ArrowLeft")
        await timeline.locator(".fink-timeline[data-frame='3']").wait_for(timeout=10_000)
        assert await shown_alert(timeline) == ids[3]
        await ring_on(timeline, ids[3])

        point = timeline.locator(f".fink-lightcurve .fink-point[data-alert-id='{ids[1]}']")
        await point.click()
        await timeline.locator(".fink-timeline[data-frame='1']").wait_for(timeout=30_000)
        assert await shown_alert(timeline) == ids[1]
        await ring_on(timeline, ids[1])
        readout = timeline.locator(".widget-slider .widget-readout").first
        assert (await readout.inner_text()).strip() == "1", "the slider follows the click"

        await timeline.locator("select[aria-label='stamps']").select_option("Difference")
        await timeline.locator("canvas.fink-timeline-canvas").nth(1).wait_for(state="detached")
        only = timeline.locator("canvas.fink-timeline-canvas")
        assert await only.count() == 1
        assert await only.get_attribute("data-kind") == "Difference"
        drawn_rgb = await canvas_rgb(only)
        check_pixels(drawn_rgb, stored, 1, "Difference", interval, stretch, "viridis")
