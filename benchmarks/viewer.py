"""CutoutViewer: time to re-render the three stamps when a control changes (goal: <= 50 ms).

The stamps are already in the kernel; a control change colours and encodes them again, with no
request. Run: python benchmarks/viewer.py
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import p50_p95_ms

from fink_cutout_jupyter.client import CutoutClient
from fink_cutout_jupyter.demo import DEMO_OBJECT_ID, make_demo_lake
from fink_cutout_jupyter.viewer import CutoutViewer


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        demo = make_demo_lake(directory)
        start = time.perf_counter()
        viewer = CutoutViewer(DEMO_OBJECT_ID, client=CutoutClient(lake=str(demo.root)))
        opened = time.perf_counter() - start
        changes = [
            (viewer.stretch, ["linear", "sqrt", "log", "asinh", "power", "sigmoid"]),
            (viewer.colormap, ["viridis", "magma", "gray"]),
            (viewer.interval, ["zscale", "minmax", "percentile"]),
            (viewer.flip, [True, False]),
        ]
        seconds = []
        for _ in range(20):
            for control, values in changes:
                for value in values:
                    begin = time.perf_counter()
                    control.value = value
                    seconds.append(time.perf_counter() - begin)
        p50, p95 = p50_p95_ms(seconds)
        begin = time.perf_counter()
        viewer.previous()
        navigation = time.perf_counter() - begin
    print(f"open (in-process client, 5 alerts, latest stamps): {opened * 1e3:.1f} ms")
    print(f"control change, 3 stamps re-rendered: p50 {p50:.2f} ms p95 {p95:.2f} ms")
    print(f"previous alert (3 FITS fetched and rendered): {navigation * 1e3:.1f} ms")
    print(f"rerender_p50_ms={p50:.2f} rerender_p95_ms={p95:.2f}")


if __name__ == "__main__":
    main()
