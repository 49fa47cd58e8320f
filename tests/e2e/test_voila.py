"""The dashboard (notebooks/dashboard.ipynb) served by Voilà, in Debian's Chromium, while another
Jupyter server with the extension, on another lake, runs on the same machine.

Two demo lakes that differ (seeds 7 and 42: the demo object's alerts have other ids and stamps).
Server B: `jupyter server` with the extension on lake B and Voilà as a server extension. Voilà
alone (``voila dashboard.ipynb``) is given lake A in ``FINK_CUTOUTS_LAKE``, in B's runtime
directory (B's ``jpserver-<pid>.json`` beside it), started with B's process id in
``JPY_PARENT_PID``, as when started from one of B's notebooks, and with a file left by a dead
server that bears Voilà's own process id and B's address. Its page must be lake A's: the
page names the lake, the viewer's alert is A's latest (by pyarrow; its id is not in B), its
Science stamp is astropy's drawing of A's stored bytes (not of B's), the gallery's tiles are A's
alerts with their thumbnails drawn, the flip-book starts at A's oldest alert and plays to
its latest. The same notebook in B (``/voila/render/dashboard.ipynb``) reads B's lake through B.
"""

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from support.browser import ARTIFACTS, browser_page, canvas_rgb, require_chromium
from support.real_data import REPOSITORY, ztf_lake_case
from support.rewrites import stored_stamps
from support.servers import free_port, start_jupyter_server, wait_for_http

from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID

TOKEN = "voila-e2e-token"
HEADERS = {"Authorization": f"token {TOKEN}"}
SECONDS = 120  # Voilà's first kernel starts slowly on a busy machine
DISCOVERY_VARIABLES = ("FINK_CUTOUTS_URL", "FINK_CUTOUTS_TOKEN", "FINK_CUTOUTS_LAKE")
HUB_VARIABLES = ("JUPYTERHUB_SERVICE_URL", "JUPYTERHUB_API_TOKEN", "JPY_PARENT_PID")


def lake_case(root: Path):
    """The demo object's alerts in the lake at `root`, oldest first, read with pyarrow."""
    return ztf_lake_case(root.name, root, "science", "", DEMO_OBJECT_ID)


def science_rgb(root: Path, alert: dict) -> np.ndarray:
    """The alert's Science stamp as the viewer's defaults draw it, by astropy and matplotlib on
    the stored bytes: zscale cuts, linear stretch, 256 levels of gray, NaN magenta."""
    stored = stored_stamps(root / alert["hdfsPath"], alert["alertId"])
    with fits.open(io.BytesIO(stored["Science"]), ignore_missing_simple=True) as hdul:
        pixels = hdul[0].data.astype(float)
    low, high = ZScaleInterval().get_limits(pixels[np.isfinite(pixels)])
    level = np.clip((pixels - low) / (high - low), 0, 1)
    table = matplotlib.colormaps["gray"](np.linspace(0, 1, 256), bytes=True)[:, :3]
    rgb = table[np.floor(level * 255 + 0.5).astype(int)]
    rgb[~np.isfinite(pixels)] = (255, 0, 255)
    return rgb.astype(int)


def sampled(canvas: np.ndarray, size: int) -> np.ndarray:
    """The canvas at each stamp pixel's centre (zoom 1: the stamp fills the square canvas)."""
    centres = ((np.arange(size) + 0.5) * canvas.shape[0] / size).astype(int)
    return canvas[np.ix_(centres, centres)]


def agreement(shown: np.ndarray, expected: np.ndarray) -> float:
    """The fraction of pixels drawn as expected (within 2 levels; the reticle and the scale bar
    cover a few)."""
    return float((np.abs(shown - expected).max(axis=2) <= 2).mean())


async def drawn_as(canvas, expected: np.ndarray, seconds: float = 30) -> np.ndarray:
    """The canvas's stamp once at least 95 % of its pixels are `expected` (it is drawn after the
    widget appears), else the last one seen."""
    deadline = time.monotonic() + seconds
    while True:
        shown = sampled(await canvas_rgb(canvas), expected.shape[0])
        if agreement(shown, expected) >= 0.95 or time.monotonic() > deadline:
            return shown
        await asyncio.sleep(0.2)


def environment(runtime: Path, **variables: str) -> dict:
    """This process's environment without the cutout and hub variables, in `runtime`."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if name not in DISCOVERY_VARIABLES + HUB_VARIABLES
    }
    return {**clean, "JUPYTER_RUNTIME_DIR": str(runtime), **variables}


def serving(process: subprocess.Popen, url: str, log: Path, headers: dict | None = None) -> None:
    """Wait until `url` answers 200; fail at once, with the log's end, if `process` ends."""
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {log.read_text()[-3000:]}")
        try:
            wait_for_http(url, headers, seconds=1)
            return
        except AssertionError:
            continue
    raise AssertionError(f"nothing answered at {url} within {SECONDS} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def lakes(demo, tmp_path_factory):
    """Lake A (seed 7: written by `servers` while the servers start) and lake B (the session's
    demo lake, seed 42): their roots."""
    require_chromium()
    return tmp_path_factory.mktemp("lake-a"), Path(demo.root)


@pytest.fixture(scope="module")
def servers(lakes, tmp_path_factory):
    """Server B (extension on lake B, Voilà as its extension) and Voilà alone on lake A, both on
    the dashboard notebook: their base URLs."""
    lake_a, lake_b = lakes
    home = tmp_path_factory.mktemp("voila")
    root, runtime = home / "root", home / "runtime"
    root.mkdir()
    shutil.copy(REPOSITORY / "notebooks" / "dashboard.ipynb", root / "dashboard.ipynb")
    (home / "config").mkdir()
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"voila.server_extension": True}}})
    )
    port_b, port_a = free_port(), free_port()
    base_b, base_a = f"http://127.0.0.1:{port_b}", f"http://127.0.0.1:{port_a}"
    server_log, voila_log = (home / "server.log").open("w"), (home / "voila.log").open("w")
    server_b = start_jupyter_server(
        str(lake_b),
        port_b,
        root,
        token=TOKEN,
        env=environment(runtime, JUPYTER_CONFIG_DIR=str(home / "config")),
        stderr=server_log,
    )
    voila = None
    try:
        voila = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                str(root / "dashboard.ipynb"),
                "--no-browser",
                f"--port={port_a}",
                "--show_tracebacks=True",
            ],
            env=environment(
                runtime,
                JUPYTER_CONFIG_DIR=str(home / "voila-config"),
                FINK_CUTOUTS_LAKE=str(lake_a),
                JPY_PARENT_PID=str(server_b.pid),
            ),
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=voila_log,
        )
        make_demo_lake(lake_a, seed=7)  # read by Voilà's kernel only, which the first page starts
        serving(server_b, f"{base_b}/api/v1/openapi.json", home / "server.log", HEADERS)
        serving(voila, f"{base_a}/voila/static/favicon.ico", home / "voila.log")
        # A server that died left its file; its process id is now Voilà's (a container's first
        # process, a reused id), and its address is B's.
        stale = json.loads((runtime / f"jpserver-{server_b.pid}.json").read_text())
        stale["pid"] = voila.pid
        (runtime / f"jpserver-{voila.pid}.json").write_text(json.dumps(stale))
        yield {"a": base_a, "b": base_b}
    finally:
        if voila is not None:
            stop(voila)
        stop(server_b)
        server_log.close()
        voila_log.close()


async def open_dashboard(page, url: str, name: str, where: str):
    """Open the dashboard at `url`; check the line saying where its cutouts come from is
    `where`; wait for the viewer's three stamps, the gallery's tiles and the flip-book (failing
    at once, with the page's text, on a cell's error); return the viewer and the gallery."""
    await page.goto(url, wait_until="commit", timeout=SECONDS * 1000)
    line = page.get_by_text(f"{DEMO_OBJECT_ID}: ")
    await line.wait_for(timeout=SECONDS * 1000)
    assert (await line.inner_text()).strip() == where
    viewer = page.locator(".fink-cutout-viewer").first
    gallery = page.locator(".fink-gallery").first
    failed = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
    stamps = viewer.locator("canvas.fink-stamp-canvas").nth(2)
    frames = page.locator(".fink-cutout-timeline .fink-timeline")
    for shown in (stamps, gallery.locator(".fink-tile"), frames):
        await shown.first.or_(failed.first).wait_for(timeout=SECONDS * 1000)
        assert not await failed.count(), await page.locator("body").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return viewer, gallery


async def test_voila_alone_reads_the_lake_it_was_given_not_the_other_servers(lakes, servers):
    lake_a, lake_b = lakes
    case_a, case_b = lake_case(lake_a), lake_case(lake_b)
    latest_a, latest_b = case_a.alerts[-1], case_b.alerts[-1]
    assert not set(case_a.alert_ids) & set(case_b.alert_ids), "the two lakes differ"
    expected_a, expected_b = science_rgb(lake_a, latest_a), science_rgb(lake_b, latest_b)
    assert agreement(expected_a, expected_b) < 0.5, "the two lakes' stamps differ"

    async with browser_page("voila-alone") as page:
        where = f"{DEMO_OBJECT_ID}: {len(case_a.alerts)} alerts, from the lake "
        where += f"{lake_a} (in-process)"
        viewer, gallery = await open_dashboard(page, servers["a"], "voila-dashboard", where)
        text = await page.locator("body").inner_text()
        header = await viewer.locator(".widget-html").first.inner_text()
        assert str(latest_a["alertId"]) in header
        assert str(latest_b["alertId"]) not in text

        shown = await drawn_as(viewer.locator("canvas.fink-stamp-canvas").first, expected_a)
        assert agreement(shown, expected_a) >= 0.95, "the Science stamp is lake A's"
        assert agreement(shown, expected_b) < 0.5, "not lake B's"
        await viewer.screenshot(path=str(ARTIFACTS / "voila-viewer.png"))

        tiles = gallery.locator(".fink-tile")
        ids = [await tiles.nth(i).get_attribute("data-id") for i in range(await tiles.count())]
        assert ids == [str(alert_id) for alert_id in case_a.alert_ids]
        thumbnails = gallery.locator("canvas.fink-thumbnail")
        assert await thumbnails.count() == 3 * len(ids), "Science, Template, Difference"
        for index in range(await thumbnails.count()):
            assert (await canvas_rgb(thumbnails.nth(index))).std() > 0, "a thumbnail is drawn"

        timeline = page.locator(".fink-cutout-timeline").first
        first = timeline.locator(".fink-timeline[data-state='drawn'][data-frame='0']")
        await first.wait_for(timeout=SECONDS * 1000)
        label = timeline.locator(".fink-timeline-label")
        assert await label.get_attribute("data-alert-id") == str(case_a.alert_ids[0])
        canvas = timeline.locator("canvas.fink-timeline-canvas").first
        oldest = await canvas_rgb(canvas)
        await timeline.locator(".widget-play button").first.click()  # play
        last = len(case_a.alerts) - 1
        played = timeline.locator(f".fink-timeline[data-state='drawn'][data-frame='{last}']")
        await played.wait_for(timeout=30_000)
        assert await label.get_attribute("data-alert-id") == str(latest_a["alertId"])
        assert np.abs(await canvas_rgb(canvas) - oldest).sum() > 0, "another frame is drawn"
        await timeline.screenshot(path=str(ARTIFACTS / "voila-flip-book.png"))


async def test_voila_in_a_jupyter_server_reads_that_servers_lake(lakes, servers):
    _, lake_b = lakes
    case_b = lake_case(lake_b)
    latest_b = case_b.alerts[-1]
    expected_b = science_rgb(lake_b, latest_b)
    port = servers["b"].rsplit(":", 1)[1]
    async with browser_page("voila-in-server") as page:
        url = f"{servers['b']}/voila/render/dashboard.ipynb?token={TOKEN}"
        where = f"{DEMO_OBJECT_ID}: {len(case_b.alerts)} alerts, from the server "
        where += f"http://localhost:{port}/"
        viewer, gallery = await open_dashboard(page, url, "voila-dashboard-in-server", where)
        header = await viewer.locator(".widget-html").first.inner_text()
        assert str(latest_b["alertId"]) in header
        shown = await drawn_as(viewer.locator("canvas.fink-stamp-canvas").first, expected_b)
        assert agreement(shown, expected_b) >= 0.95, "the Science stamp is lake B's"
        assert await gallery.locator(".fink-tile").count() == len(case_b.alerts)
