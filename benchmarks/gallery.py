"""CutoutGallery in Chromium: a page of 60 thumbnails, and the next page.

As `first_viewer.py` (JupyterLab on the demo lake, the stamps over HTTP, a fresh kernel per run,
3 s to settle, times taken in the page with ``performance.now()``): Run All on a notebook making a
gallery of 120 alert ids of the demo lake, until 60 thumbnails are drawn; then the "page ▶"
button, until the next 60 are. The server is warm: an untimed run comes first. What is sent per
thumbnail is printed from the kernel's widget state.

Run: python benchmarks/gallery.py (needs /usr/bin/chromium)
"""

import json
import statistics
from pathlib import Path

import first_viewer
from _results import Figures

DRAWN = """() => {
  const g = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .fink-gallery');
  return g && g.querySelectorAll('.fink-tile').length === 60 ? performance.now() : null; }"""


async def one_run(browser, base: str, name: str) -> tuple[float, float]:
    page, started = await first_viewer.run_all(browser, base, name)
    drawn = await page.wait_for_function(DRAWN, polling=20, timeout=120_000)
    first = (await drawn.json_value() - started) / 1000
    gallery = page.locator(".jp-NotebookPanel:visible .fink-gallery").first
    renders = await gallery.get_attribute("data-renders")
    started = await page.evaluate("performance.now()")
    await gallery.get_by_role("button", name="page ▶").click()
    paged = await page.wait_for_function(
        "([e, old]) => e.dataset.renders !== old ? performance.now() : null",
        arg=[await gallery.element_handle(), renders],
        polling=20,
    )
    second = (await paged.json_value() - started) / 1000
    await page.close()
    return first, second


async def measure(base: str, names: list[str]) -> list[tuple[float, float]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        await one_run(browser, base, names[0])
        times = [await one_run(browser, base, name) for name in names[1:]]
        await browser.close()
        return times


def main() -> None:
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.client import CutoutClient
    from fink_cutout_jupyter.demo.make import make_demo_lake
    from fink_cutout_jupyter.widgets.gallery import CutoutGallery

    figures = Figures("gallery")

    def notebooks(demo, directory: Path) -> list[str]:
        ids = []
        for path in demo.files:
            ids += pq.read_table(demo.root / path, columns=["candid"])[0].to_pylist()
        source = f"from fink_cutout_jupyter import CutoutGallery\nCutoutGallery({ids[:120]!r})"
        names = [f"gallery-{n}.ipynb" for n in range(first_viewer.RUNS + 1)]
        for name in names:
            document = json.loads(json.dumps(first_viewer.NOTEBOOK))
            document["cells"][0]["source"] = source
            (directory / name).write_text(json.dumps(document))
        gallery = CutoutGallery(ids[:120], client=CutoutClient(lake=str(demo.root)))
        sizes = [sum(len(b) for b in tile["stamps"]) for tile in gallery.grid.tiles]
        figures.print(
            f"sent per thumbnail: {statistics.median(sizes) / 1024:.1f} KiB of float32 pixels "
            f"(one 63x63 Difference stamp) as a binary buffer, and its id and caption as JSON",
            sent_per_thumbnail_kib=statistics.median(sizes) / 1024,
        )
        return names

    times = first_viewer.run_in_jupyterlab(make_demo_lake, notebooks, measure)
    firsts, nexts = [t[0] for t in times], [t[1] for t in times]
    figures.print(
        "page of 60 after Run All (fresh kernel): " + ", ".join(f"{t:.2f}" for t in firsts),
        first_page_s=firsts,
    )
    figures.print("next page: " + ", ".join(f"{t:.2f}" for t in nexts), next_page_s=nexts)
    figures.print(
        f"gallery_first_page_p50_s={statistics.median(firsts):.2f} "
        f"gallery_next_page_p50_s={statistics.median(nexts):.2f}",
        gallery_first_page_p50_s=statistics.median(firsts),
        gallery_next_page_p50_s=statistics.median(nexts),
    )
    figures.write()


if __name__ == "__main__":
    main()
