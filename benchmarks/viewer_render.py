"""How long the browser takes to redraw the three stamps after a control change.

JupyterLab runs a notebook with three viewers: the demo's ZTF stamps (63x63), the real Rubin
stamps of ../shared/data (30x30), and synthetic 256x256 stamps (a `StampPanels` fed random
pixels, to show how the cost grows with the stamp). In Debian's Chromium, every stretch, interval
and colormap is chosen in turn, 60 changes per viewer; the widget times each full redraw (cuts,
stretch, colormap, the three canvases, colorbars) with ``performance.now()`` and the benchmark
reads it back. The first redraw of each viewer (cold: functions not yet compiled) is reported
apart from the others.

Run: python benchmarks/viewer_render.py (needs /usr/bin/chromium and the demo's dependencies)
"""

import asyncio
import json
import statistics
from pathlib import Path

from _results import Figures
from first_viewer import TOKEN, run_in_jupyterlab

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

CHANGES = [("stretch", v) for v in ("log", "sqrt", "asinh", "power", "sigmoid", "linear")] + [
    ("interval", v) for v in ("percentile", "minmax", "zscale")
]
ROUNDS = 7  # 9 changes a round: 63 redraws per viewer


def rubin_lake(root: Path) -> str:
    import fastavro
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    schema = pq.read_schema(
        SHARED / "lsst" / "schema" / "fink-broker_rubin_parquet_schema_lsst.v10_0.parquet"
    )
    night = root / "science" / "year=2026" / "month=03" / "day=06"
    night.mkdir(parents=True)
    for number, avro in enumerate(sorted((SHARED / "lsst" / "alerts").glob("*.avro"))):
        with avro.open("rb") as stream:
            table = pa.Table.from_pylist(list(fastavro.reader(stream)), schema=schema)
        pq.write_table(table, night / f"part-{number:05d}-rubin.snappy.parquet")
    lake = Lake(root)
    build(AlertIndex(lake), lake.nights(), progress=False)
    return str(root)


def notebook(demo: str, rubin: str) -> dict:
    cells = [
        "from fink_cutout_jupyter import CutoutClient, CutoutViewer\n"
        f'CutoutViewer("ZTF24abssjsb", client=CutoutClient(lake="{demo}"))',
        f'CutoutViewer(170028485706776685, client=CutoutClient(lake="{rubin}"))',
        "import numpy as np\n"
        "from fink_cutout_jupyter.widgets.stamp_panels import StampPanels\n"
        "noise = np.random.default_rng(1).normal(100, 10, (3, 256, 256)).astype('<f4')\n"
        "StampPanels(stamps=[{'kind': k, 'width': 256, 'height': 256, 'unit': 'DN',\n"
        "    'pixels': p.tobytes(), 'zscale': [80.0, 120.0]}\n"
        "    for k, p in zip(['Science', 'Template', 'Difference'], noise)])",
    ]
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": c,
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


async def measure(url: str) -> dict[str, tuple[float, list[float]]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page(viewport={"width": 1600, "height": 1200})
        await page.goto(url)
        await page.locator(".jp-NotebookPanel:visible").first.wait_for(timeout=120_000)
        await asyncio.sleep(3)  # the kernel starts
        await page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        await page.get_by_text("Run All Cells", exact=True).click()
        widgets = page.locator(".jp-NotebookPanel:visible .fink-stamps")
        await widgets.nth(2).wait_for(timeout=120_000)
        figures = {}
        for index, name in enumerate(("ZTF 63x63", "Rubin 30x30", "synthetic 256x256")):
            widget = widgets.nth(index)
            await widget.scroll_into_view_if_needed()
            times = []
            for _ in range(ROUNDS):
                for control, value in CHANGES:
                    before = await widget.get_attribute("data-renders")
                    await widget.locator(f"select[aria-label='{control}']").select_option(value)
                    await page.wait_for_function(
                        "([e, old]) => e.dataset.renders !== old",
                        arg=[await widget.element_handle(), before],
                    )
                    times.append(float(await widget.get_attribute("data-render-ms")))
            figures[name] = (times[0], times[1:])
        await browser.close()
        return figures


def main() -> None:
    from fink_cutout_jupyter.demo.make import make_demo_lake

    def notebooks(demo, folder: Path) -> list[str]:
        rubin = rubin_lake(folder.parent / "rubin")
        (folder / "render.ipynb").write_text(json.dumps(notebook(str(demo.root), rubin)))
        return ["render.ipynb"]

    async def in_browser(base: str, names: list[str]):
        return await measure(f"{base}/lab/tree/{names[0]}?token={TOKEN}")

    measured = run_in_jupyterlab(make_demo_lake, notebooks, in_browser)
    figures = Figures("viewer_render")
    line = []
    for name, (first, times) in measured.items():
        p50, worst = statistics.median(times), max(times)
        key = name.split()[0].lower()
        figures.print(
            f"{name}: first redraw {first:.2f} ms; then p50 {p50:.2f} ms, max {worst:.2f} ms "
            f"over {len(times)} control changes (goal: 16 ms)",
            **{f"{key}_first_ms": first, f"{key}_p50_ms": p50, f"{key}_max_ms": worst},
        )
        line.append(f"{key}_p50_ms={p50:.2f} {key}_max_ms={worst:.2f}")
    print(" ".join(line))
    figures.write()


if __name__ == "__main__":
    main()
