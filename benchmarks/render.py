"""PNG rendering of one 63x63 stamp: our lookup-table renderer against a matplotlib figure.

Fink's portal draws each stamp with a matplotlib figure and savefig; we colour through a lookup
table and encode with Pillow. Run: python benchmarks/render.py
"""

import io

import numpy as np
from _results import Figures
from _timing import p50_p95_ms, timed

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.cutouts.render import STRETCHES, RenderOptions, to_png
from fink_cutout_jupyter.demo.make import make_demo_lake
from fink_cutout_jupyter.storage.lake import Lake


def matplotlib_png(pixels: np.ndarray) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.visualization import AsymmetricPercentileInterval

    vmin, vmax = AsymmetricPercentileInterval(0.5, 99.95).get_limits(pixels[np.isfinite(pixels)])
    figure = plt.figure(figsize=(0.63, 0.63), dpi=100)
    figure.figimage(pixels, cmap="gray", vmin=vmin, vmax=vmax)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        demo = make_demo_lake(directory)
        alert = CutoutReader(Lake(demo.root)).read(demo.demo_object_files[0], "ZTF24abssjsb")
    pixels = alert.stamps["Science"].data
    figures = Figures("render")
    baseline, _ = p50_p95_ms(timed(lambda: matplotlib_png(pixels), 200))
    figures.print(f"matplotlib figure + savefig: p50 {baseline:.3f} ms", matplotlib_p50_ms=baseline)
    results = {}
    for stretch in STRETCHES:
        options = RenderOptions(stretch=stretch)
        p50, p95 = p50_p95_ms(timed(lambda options=options: to_png(pixels, options), 500))
        results[stretch] = p50
        figures.print(
            f"to_png {stretch:8s}: p50 {p50:.3f} ms p95 {p95:.3f} ms ({baseline / p50:.1f}x)",
            **{f"png_{stretch}_p50_ms": p50, f"png_{stretch}_p95_ms": p95},
        )
    zscale, _ = p50_p95_ms(timed(lambda: to_png(pixels, RenderOptions(interval="zscale")), 300))
    figures.print(f"to_png interval=zscale  : p50 {zscale:.3f} ms", png_zscale_p50_ms=zscale)
    print(" ".join(f"png_{k}_p50_ms={v:.3f}" for k, v in results.items()))
    figures.write()


if __name__ == "__main__":
    main()
