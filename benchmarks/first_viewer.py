"""The first viewer on a fresh kernel: from Run All to the three stamps drawn, in Chromium.

JupyterLab serves the demo lake with the extension (the stamps come over HTTP, as on Fink's
JupyterHub). Each run opens its own copy of a one-cell notebook, ``CutoutViewer("ZTF24abssjsb")``,
so each gets a fresh kernel; once the kernel is idle and JupyterLab has settled (3 s), Run All is
clicked and the time until the three stamp canvases are drawn (the widget's redraw counter,
polled every 20 ms) is taken in the page with ``performance.now()``. (A cell printing a word
takes 0.1 s this way: the rest is the viewer's.) Five runs, after one untimed run that warms
JupyterLab's own code in the browser and the server's index.

Run: python benchmarks/first_viewer.py (needs /usr/bin/chromium)
"""

import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from _results import Figures
from _servers import jupyter_server

TOKEN = "benchmark"
RUNS = 5
SETTLE_SECONDS = 3
# The three stamps drawn: the widget's redraw counter, polled every 20 ms in the page.
DRAWN = """() => [...document.querySelectorAll('.fink-stamps')].some(
    e => Number(e.dataset.renders || 0) >= 1
      && e.querySelectorAll('canvas.fink-stamp-canvas').length === 3) ? performance.now() : null"""
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "metadata": {},
            "source": "from fink_cutout_jupyter import CutoutViewer\n\n"
            'CutoutViewer("ZTF24abssjsb")',
            "outputs": [],
            "execution_count": None,
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


async def idle_kernel(base: str, name: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/sessions?token={TOKEN}") as answer:
            sessions = json.loads(answer.read())
        if any(
            s["path"].endswith(name) and s["kernel"]["execution_state"] == "idle" for s in sessions
        ):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("no idle kernel")


async def run_all(browser, base: str, name: str):
    """Open the notebook in a new page, wait for its idle kernel and JupyterLab to settle, click
    Run All: the page, and the time of the click in it (``performance.now()``)."""
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await page.goto(f"{base}/lab/tree/{name}?token={TOKEN}")
    await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
    await idle_kernel(base, name)
    await asyncio.sleep(SETTLE_SECONDS)  # JupyterLab finishes loading: a user reads the cell
    await page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    item = page.get_by_text("Run All Cells", exact=True)
    await item.wait_for()
    started = await page.evaluate("performance.now()")
    await item.click()
    return page, started


async def one_run(browser, base: str, name: str) -> float:
    page, started = await run_all(browser, base, name)
    drawn = await page.wait_for_function(DRAWN, polling=20, timeout=120_000)
    seconds = (await drawn.json_value() - started) / 1000
    await page.close()
    return seconds


async def measure(base: str, names: list[str]) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        await one_run(browser, base, names[0])  # untimed: JupyterLab's code, the server's index
        times = [await one_run(browser, base, name) for name in names[1:]]
        await browser.close()
        return times


def run_in_jupyterlab(make_demo_lake, notebooks, measure_in_browser):
    """Start JupyterLab on a demo lake, write `notebooks(demo, directory)`, measure, stop."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        demo = make_demo_lake(root / "demo")
        folder = root / "notebooks"
        folder.mkdir()
        names = notebooks(demo, folder)
        environment = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / "config")}
        environment["JUPYTERLAB_WORKSPACES_DIR"] = str(root / "workspaces")
        for name in ("FINK_CUTOUTS_LAKE", "FINK_CUTOUTS_URL"):
            environment.pop(name, None)
        with jupyter_server(
            str(demo.root), folder, token=TOKEN, application="lab", env=environment
        ) as (base, _):
            return asyncio.run(measure_in_browser(base.rstrip("/"), names))


def main() -> None:
    from fink_cutout_jupyter.demo.make import make_demo_lake

    def notebooks(demo, folder: Path) -> list[str]:
        names = [f"viewer-{number}.ipynb" for number in range(RUNS + 1)]
        for name in names:
            (folder / name).write_text(json.dumps(NOTEBOOK))
        return names

    times = run_in_jupyterlab(make_demo_lake, notebooks, measure)
    figures = Figures("first_viewer")
    figures.print(
        "Run All to three stamps drawn, fresh kernel each: "
        + ", ".join(f"{t:.2f}" for t in times)
        + " s",
        run_all_to_drawn_s=times,
    )
    figures.print(
        f"first_viewer_p50_s={statistics.median(times):.2f} first_viewer_max_s={max(times):.2f}",
        first_viewer_p50_s=statistics.median(times),
        first_viewer_max_s=max(times),
    )
    figures.write()


if __name__ == "__main__":
    main()
