"""Debian's Chromium driven by Playwright, for the browser tests (JupyterLab, Notebook 7, hub).

A page that fails a test leaves a screenshot in ``test-artifacts/`` (or ``$FINK_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import re
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FINK_TEST_ARTIFACTS", REPOSITORY / "test-artifacts"))
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


@contextlib.asynccontextmanager
async def browser_page(name: str = "page"):
    """A page of Debian's Chromium, headless, that accepts downloads.

    If the block fails, a full-page screenshot is saved as ``ARTIFACTS/<name>.png`` first.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(
            accept_downloads=True, viewport={"width": 1400, "height": 1000}
        )
        page = await context.new_page()
        try:
            yield page
        except BaseException:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(shot), full_page=True, timeout=10_000)
                print(f"screenshot of the failing page: {shot}")
            raise
        finally:
            await browser.close()


async def wait_for_idle_kernel(
    sessions_url: str, headers: dict, path: str = "", seconds: float = 120
) -> None:
    """Wait until the server at `sessions_url` reports an idle kernel for the notebook `path`
    (any notebook when empty)."""
    request = urllib.request.Request(sessions_url, headers=headers)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as response:
            sessions = json.loads(response.read())
        if any(
            s["kernel"] and s["kernel"]["execution_state"] == "idle" and s["path"].endswith(path)
            for s in sessions
        ):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"no kernel became idle for {path or 'a notebook'}")


async def run_all_cells(page) -> None:
    await page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    await page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


async def canvas_rgb(canvas) -> np.ndarray:
    """The pixels a canvas holds (its own resolution, not a screenshot), as (H, W, 3) ints."""
    url = await canvas.evaluate("c => c.toDataURL('image/png')")
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


async def run_notebook(page, url: str, sessions_url: str, headers: dict, loaded: str):
    """Open a notebook, run all its cells once the kernel is idle, and return the first viewer."""
    await page.goto(url)
    await page.locator(f"{loaded}:visible").first.wait_for(timeout=120_000)
    path = re.search(r"/(?:tree|notebooks)/([^?]+)", url)
    await wait_for_idle_kernel(sessions_url, headers, path[1] if path else "")
    await run_all_cells(page)
    viewer = page.locator(".fink-cutout-viewer:visible").first
    stamps = viewer.locator("canvas.fink-stamp-canvas")
    await stamps.nth(2).wait_for(state="visible", timeout=120_000)
    return viewer


async def wait_for_change(locator, before: np.ndarray, seconds: float = 20) -> np.ndarray:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = await canvas_rgb(locator)
        if now.shape != before.shape or np.abs(now - before).sum() > 0:
            return now
        await asyncio.sleep(0.2)
    raise AssertionError("the stamp did not change")


async def download(page, link) -> tuple[str, bytes]:
    """Click a download link; the file's suggested name and its bytes."""
    async with page.expect_download() as download_info:
        await link.click()
    saved = await download_info.value
    return saved.suggested_filename, Path(await saved.path()).read_bytes()


def notebook(*cells: str) -> str:
    """A notebook (JSON) of code `cells`, not run, on the python3 kernel."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "metadata": {},
                    "source": source,
                    "outputs": [],
                    "execution_count": None,
                }
                for source in cells
            ],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
