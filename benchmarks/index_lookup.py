"""Alert index lookups at 10^4, 10^6 and 10^7 entries: p50/p95, warm, by object and by alert id.

Synthetic entries only (no lake): ten nights of deltas are written through the index's own
writer and compacted, then random objects and alerts are looked up. Goal: p50 <= 2 ms, flat.

Run: python benchmarks/index_lookup.py [--sizes 1e4,1e6,1e7] [--lookups 2000]
"""

import argparse
import datetime as dt
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from _timing import p50_p95_ms

from fink_cutout_jupyter.index import AlertIndex, entry_schema
from fink_cutout_jupyter.indexing import compact, write_night
from fink_cutout_jupyter.lake import Lake

NIGHTS = 10
ALERTS_PER_OBJECT = 4


def object_ids(numbers: np.ndarray) -> pa.Array:
    """ZTF-like ids (ZTF + 2 digits + 7 letters) from integers, built from raw buffers."""
    letters = np.empty((len(numbers), 7), dtype=np.uint8)
    rest = numbers.copy()
    for position in range(6, -1, -1):
        letters[:, position] = ord("a") + rest % 26
        rest //= 26
    year = 18 + numbers % 8
    text = np.empty((len(numbers), 12), dtype=np.uint8)
    text[:, :3] = np.frombuffer(b"ZTF", dtype=np.uint8)
    text[:, 3], text[:, 4] = ord("0") + year // 10, ord("0") + year % 10
    text[:, 5:] = letters
    offsets = np.arange(0, 12 * (len(numbers) + 1), 12, dtype=np.int32)
    return pa.StringArray.from_buffers(len(numbers), pa.py_buffer(offsets), pa.py_buffer(text))


def night_entries(rng, first_alert: int, count: int, objects: int, night: int) -> pa.Table:
    owner = rng.integers(0, objects, count)
    schema = entry_schema()
    columns = {
        "object_id": object_ids(owner * 7919 % 26**7),
        "alert_id": pa.array(np.arange(first_alert, first_alert + count, dtype=np.int64)),
        "time": pa.array(2460000.5 + night + rng.random(count)),
        "night": pa.array(np.full(count, 20241101 + night, dtype=np.int32)),
        "filter": pa.array(np.where(rng.random(count) < 0.5, "g", "r")),
        "magnitude": pa.array(rng.uniform(14, 21, count)),
        "magnitude_error": pa.array(rng.uniform(0.01, 0.2, count)),
        "ra": pa.array(rng.uniform(0, 360, count)),
        "dec": pa.array(rng.uniform(-30, 90, count)),
        "isdiffpos": pa.array(np.where(rng.random(count) < 0.8, "t", "f")),
        "path": pa.array(
            [f"science/year=2024/month=11/day={night + 1:02d}/part-00000.parquet"] * count
        ),
        "row_group": pa.array(np.zeros(count, dtype=np.int32)),
        "row": pa.array(np.arange(count, dtype=np.int32) % 300_000),
        "file_size": pa.array(np.full(count, 100_000_000, dtype=np.int64)),
        "page_spans": pa.nulls(count, schema.field("page_spans").type),
    }
    return pa.table(columns, schema=schema)


def measure(size: int, lookups: int, directory: Path) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(size)
    index = AlertIndex(Lake(directory / "lake"), directory / f"index-{size}", refresh_seconds=3600)
    objects = max(1, size // ALERTS_PER_OBJECT)
    start = time.perf_counter()
    per_night = size // NIGHTS
    for night in range(NIGHTS):
        entries = night_entries(rng, night * per_night, per_night, objects, night)
        write_night(index, dt.date(2024, 11, 1 + night), entries, {}, "ztf")
    layout = compact(index, progress=False)
    built = time.perf_counter() - start
    object_keys = object_ids(rng.integers(0, objects, lookups) * 7919 % 26**7).to_pylist()
    alert_keys = rng.integers(0, per_night * NIGHTS, lookups).tolist()
    for key in object_keys[:200] + alert_keys[:200]:  # warm the footer cache
        with suppress(LookupError):
            index.alerts(key) if isinstance(key, str) else index.alert(key)
    by_object, by_alert = [], []
    for key in object_keys:
        begin = time.perf_counter()
        with suppress(LookupError):
            index.alerts(key)
        by_object.append(time.perf_counter() - begin)
    for key in alert_keys:
        begin = time.perf_counter()
        index.alert(key)
        by_alert.append(time.perf_counter() - begin)
    object50, object95 = p50_p95_ms(by_object)
    alert50, alert95 = p50_p95_ms(by_alert)
    print(
        f"{size:>9,d} entries ({layout['buckets']} buckets, built in {built:.1f} s): "
        f"object p50 {object50:.3f} ms p95 {object95:.3f} ms | "
        f"alert p50 {alert50:.3f} ms p95 {alert95:.3f} ms",
        flush=True,
    )
    return object50, object95, alert50, alert95


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1e4,1e6,1e7")
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for size in sizes:
            results[size] = measure(size, args.lookups, Path(directory))
    print(" ".join(f"p50_ms_1e{len(str(s)) - 1}={results[s][0]:.3f}" for s in sizes))


if __name__ == "__main__":
    main()
