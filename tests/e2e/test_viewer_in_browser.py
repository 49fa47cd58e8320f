"""CutoutViewer in a real JupyterLab (and Notebook 7) driven in Debian's Chromium by Playwright."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser import (
    browser_page,
    download,
    require_chromium,
    run_notebook,
    stamp_pixels,
    wait_for_change,
)
from conftest import REPOSITORY, free_port, wait_for_http
from rewrites import stored_stamps

from fink_cutout_jupyter.demo import DEMO_OBJECT_ID

TOKEN = "e2e-token"
HEADERS = {"Authorization": f"token {TOKEN}"}


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
        wait_for_http(f"{base}/api/v1/openapi.json", HEADERS, 120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


async def test_quickstart_in_jupyterlab(jupyter, demo_lake_case):
    async with browser_page("quickstart_in_jupyterlab") as page:
        url = f"{jupyter}/lab/tree/quickstart.ipynb?token={TOKEN}"
        viewer = await run_notebook(
            page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-NotebookPanel"
        )

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
        name, saved = await download(page, link)
    latest = demo_lake_case.alerts[-1]
    candid = latest["alertId"]
    stored = stored_stamps(Path(demo_lake_case.lake) / latest["hdfsPath"], candid)
    assert name == f"{DEMO_OBJECT_ID}_{candid}_Science.fits"
    assert saved == stored["Science"]
    assert str(candid) in latest_title


async def test_quickstart_in_notebook_7(jupyter):
    async with browser_page("quickstart_in_notebook_7") as page:
        url = f"{jupyter}/notebooks/quickstart.ipynb?token={TOKEN}"
        viewer = await run_notebook(page, url, f"{jupyter}/api/sessions", HEADERS, ".jp-Notebook")
        assert await viewer.locator("img.fink-stamp").count() == 3
        assert (await stamp_pixels(viewer.locator("img.fink-stamp").first)).std() > 5
