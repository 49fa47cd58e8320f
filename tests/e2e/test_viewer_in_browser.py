"""CutoutViewer in a real JupyterLab (and Notebook 7) driven in Debian's Chromium by Playwright."""

import asyncio
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPOSITORY, free_port, wait_for_http
from PIL import Image

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.demo import DEMO_OBJECT_ID

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "e2e-token"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def jupyter(demo, tmp_path_factory):
    """A real JupyterLab (with Notebook 7) on a temporary root holding the quickstart notebook."""
    require_chromium()
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "root"
    root.mkdir()
    shutil.copy(REPOSITORY / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb")
    port = free_port()
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    for name in ("FINK_CUTOUTS_LAKE", "FINK_CUTOUTS_URL", "JUPYTERHUB_SERVICE_URL"):
        environment.pop(name, None)
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
        wait_for_http(f"{base}/api/v1/openapi.json", {"Authorization": f"token {TOKEN}"}, 120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextlib.asynccontextmanager
async def browser_page():
    """A page of Debian's Chromium, headless, that accepts downloads."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(
            accept_downloads=True, viewport={"width": 1400, "height": 1000}
        )
        try:
            yield await context.new_page()
        finally:
            await browser.close()


async def wait_for_idle_kernel(base: str, seconds: float = 120) -> None:
    """Wait until the server reports a notebook session whose kernel is idle."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{base}/api/sessions", headers={"Authorization": f"token {TOKEN}"}
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as response:
            sessions = json.loads(response.read())
        if any(s["kernel"] and s["kernel"]["execution_state"] == "idle" for s in sessions):
            return
        await asyncio.sleep(0.5)
    raise AssertionError("no kernel became idle")


async def run_all_cells(page) -> None:
    await page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    await page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


async def stamp_pixels(image) -> np.ndarray:
    shot = await image.screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


async def run_notebook(page, url: str, base: str, loaded: str):
    """Open a notebook, run all its cells once the kernel is idle, and return the first viewer."""
    await page.goto(url)
    await page.locator(loaded).first.wait_for(timeout=120_000)
    await wait_for_idle_kernel(base)
    await run_all_cells(page)
    viewer = page.locator(".fink-cutout-viewer").first
    await viewer.locator("img.fink-stamp").nth(2).wait_for(state="visible", timeout=120_000)
    return viewer


async def wait_for_change(locator, before: np.ndarray, seconds: float = 20) -> np.ndarray:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = await stamp_pixels(locator)
        if now.shape != before.shape or np.abs(now - before).sum() > 0:
            return now
        await asyncio.sleep(0.2)
    raise AssertionError("the stamp did not change")


async def test_quickstart_in_jupyterlab(jupyter, demo):
    async with browser_page() as page:
        url = f"{jupyter}/lab/tree/quickstart.ipynb?token={TOKEN}"
        viewer = await run_notebook(page, url, jupyter, ".jp-NotebookPanel")

        stamps = viewer.locator("img.fink-stamp")
        assert await stamps.count() == 3
        shown = [await stamp_pixels(stamps.nth(i)) for i in range(3)]
        for pixels in shown:
            assert min(pixels.shape[:2]) >= 200, "stamps are upscaled to at least 200 px"
            assert pixels.std() > 5, "stamps are not blank"
        rendering = await stamps.first.evaluate("e => getComputedStyle(e).imageRendering")
        assert rendering == "pixelated", "the browser upscales without smoothing"

        stretch = viewer.locator(".widget-dropdown", has=page.locator("label", has_text="stretch"))
        await stretch.locator("select").select_option("linear")
        await wait_for_change(stamps.nth(0), shown[0])

        title = viewer.locator(".widget-html").nth(1)
        latest_title = await title.inner_text()
        await viewer.get_by_role("button", name="◀ previous").click()
        handle = await title.element_handle()
        await page.wait_for_function(
            "([e, old]) => e.innerText !== old", arg=[handle, latest_title]
        )
        await viewer.get_by_role("button", name="next ▶").click()
        await page.wait_for_function(
            "([e, old]) => e.innerText === old", arg=[handle, latest_title]
        )

        link = viewer.locator("a.fink-download[download$='_Science.fits']")
        async with page.expect_download() as download_info:
            await link.click()
        download = await download_info.value
        name = download.suggested_filename
        saved = Path(await download.path()).read_bytes()
    candid = int(name.split("_")[1])
    expected = CutoutClient(lake=str(demo.root)).fits_bytes(DEMO_OBJECT_ID, candid, "Science")
    assert name == f"{DEMO_OBJECT_ID}_{candid}_Science.fits"
    assert saved == expected
    assert str(candid) in latest_title


async def test_quickstart_in_notebook_7(jupyter):
    async with browser_page() as page:
        url = f"{jupyter}/notebooks/quickstart.ipynb?token={TOKEN}"
        viewer = await run_notebook(page, url, jupyter, ".jp-Notebook")
        assert await viewer.locator("img.fink-stamp").count() == 3
        assert (await stamp_pixels(viewer.locator("img.fink-stamp").first)).std() > 5
