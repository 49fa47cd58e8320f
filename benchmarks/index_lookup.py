"""Alert index lookups at 10^4 to 5x10^7 entries, by object and by alert id; and with many
nights not compacted.

Synthetic entries (no lake) shaped like real ones: four packed page spans each (three stamps and
the alert id, as `spans.pack_spans` writes them), file size and mtime. Ten nights are written
through the index's own writer (one build per night, as every night in production) and
compacted (above 10^7 entries, after each night, to bound memory). Then, on disjoint random keys:
- warm: after 200 untimed lookups of other keys (footers parsed; batches decoded where those
  keys led, which for the small index is all of it);
- cold index: every decoded batch dropped before each lookup (footers stay parsed), as on a
  server whose cache does not hold that part of the index;
- fresh: a new `AlertIndex` per lookup (layout, base sizes, footer and batch read): a new
  server's first lookup, or one whose footer cache dropped that file.
Goal: p50 <= 2 ms and fresh p99 <= 10 ms, flat with the size.

Uncompacted nights: 1, 30 and 365 nights of 16 alerts each (objects seen every night), each
written by its own build over a compacted base; fresh and warm lookups, against the same
index once compacted. Goal: fresh <= 3x the compacted figure.

Run: python benchmarks/index_lookup.py [--sizes 1e4,1e6,1e7,5e7] [--lookups 2000]
"""

import argparse
import datetime as dt
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import pyarrow as pa
from _results import Figures
from _timing import p50_p99_ms

from fink_cutout_jupyter.index.compaction import bucket_count, by_bucket, compact, publish_base
from fink_cutout_jupyter.index.deltas import write_night
from fink_cutout_jupyter.index.entries import (
    SPAN_KINDS,
    TABLES,
    bucket_of_keys,
    entry_schema,
    sort_entries,
)
from fink_cutout_jupyter.index.files import index_file_bytes
from fink_cutout_jupyter.index.layout import base_file, new_layout
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.index.writes import writing
from fink_cutout_jupyter.parquet.spans import PHYSICAL_TYPES
from fink_cutout_jupyter.storage.lake import Lake

# The layout `spans.pack_spans` writes, one record per span.
PACKED_SPAN = np.dtype(
    [
        ("offset", "<i8"),
        ("length", "<i8"),
        ("index_in_page", "<i4"),
        ("dictionary_offset", "<i8"),
        ("dictionary_length", "<i8"),
        ("codec", "u1"),
        ("max_definition_level", "u1"),
        ("physical_type", "u1"),
    ]
)

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


def night_entries(
    rng, first_alert: int, count: int, objects: int, night: int, first=dt.date(2024, 11, 1)
) -> pa.Table:
    """`count` entries of the night `night` days after `first` (its files, its night column)."""
    day = first + dt.timedelta(days=night)
    owner = rng.integers(0, objects, count)
    schema = entry_schema()
    columns = {
        "object_id": object_ids(owner * 7919 % 26**7),
        "alert_id": pa.array(np.arange(first_alert, first_alert + count, dtype=np.int64)),
        "time": pa.array(2460000.5 + night + rng.random(count)),
        "night": pa.array(np.full(count, int(f"{day:%Y%m%d}"), dtype=np.int32)),
        "filter": pa.array(np.where(rng.random(count) < 0.5, "g", "r")),
        "magnitude": pa.array(rng.uniform(14, 21, count)),
        "magnitude_error": pa.array(rng.uniform(0.01, 0.2, count)),
        "ra": pa.array(rng.uniform(0, 360, count)),
        "dec": pa.array(rng.uniform(-30, 90, count)),
        "isdiffpos": pa.array(np.where(rng.random(count) < 0.8, "t", "f")),
        "path": pa.array(
            [f"science/year={day.year}/month={day.month:02d}/day={day.day:02d}/part-00000.parquet"]
            * count
        ),
        "row_group": pa.array(np.zeros(count, dtype=np.int32)),
        "row": pa.array(np.arange(count, dtype=np.int32) % 300_000),
        "file_size": pa.array(np.full(count, 100_000_000, dtype=np.int64)),
        "file_mtime_ns": pa.array(np.full(count, 1_732_000_000 * 10**9, dtype=np.int64)),
        "page_spans": packed_spans(rng, count),
    }
    return pa.table(columns, schema=schema)


def packed_spans(rng, count: int) -> pa.Array:
    """Spans like a ~100 MB Spark file's: ~1 MB stamp pages, one small alert-id page."""
    spans = np.zeros((count, len(SPAN_KINDS)), dtype=PACKED_SPAN)
    for number, kind in enumerate(SPAN_KINDS):
        stamp = kind != "alertId"
        spans["offset"][:, number] = rng.integers(4, 100_000_000, count)
        spans["length"][:, number] = rng.integers(900_000, 1_100_000, count) if stamp else 18_800
        spans["index_in_page"][:, number] = rng.integers(0, 90 if stamp else 2400, count)
        spans["dictionary_offset"][:, number] = -1
        spans["codec"][:, number] = 1  # SNAPPY
        spans["max_definition_level"][:, number] = 2 if stamp else 1
        spans["physical_type"][:, number] = PHYSICAL_TYPES.index("BYTE_ARRAY" if stamp else "INT64")
    width = len(SPAN_KINDS) * PACKED_SPAN.itemsize
    offsets = np.arange(0, width * (count + 1), width, dtype=np.int32)
    return pa.BinaryArray.from_buffers(
        pa.binary(), count, [None, pa.py_buffer(offsets), pa.py_buffer(spans.tobytes())]
    )


def timed_lookups(index: AlertIndex, keys: list, cold: bool, fresh: bool = False) -> list[float]:
    seconds = []
    for key in keys:
        if cold:
            index.forget_decoded()
        if fresh:
            index.close()
            index = AlertIndex(index.lake, index.store)
        begin = time.perf_counter()
        with suppress(LookupError):
            found = index.alerts(key) if isinstance(key, str) else [index.alert(key)]
            assert found[0].page_spans["Science"][0].length > 0
        seconds.append(time.perf_counter() - begin)
    return seconds


def write_base_directly(index: AlertIndex, size: int, objects: int, passes: int = 4) -> dict:
    """The compacted base of `size` entries written bucket by bucket, a quarter of the buckets
    at a time (the same entries generated again for each quarter), as a Spark base build does:
    writing 10 nights and compacting them would hold every entry in memory at once."""
    with writing(index):  # the writer lock (its sweep runs before the buckets are written)
        return _write_base(index, size, objects, passes)


def _write_base(index: AlertIndex, size: int, objects: int, passes: int) -> dict:
    per_night = size // NIGHTS
    buckets = bucket_count(size)
    sizes = {table: [0] * buckets for table in TABLES}
    for table, key in TABLES.items():
        for part in range(passes):
            low, high = part * buckets // passes, (part + 1) * buckets // passes
            rng, chunks = np.random.default_rng(size), []
            for night in range(NIGHTS):
                entries = night_entries(rng, night * per_night, per_night, objects, night)
                of_rows = bucket_of_keys(entries.column(key), buckets)
                chunks.append(entries.filter(pa.array((of_rows >= low) & (of_rows < high))))
            pick = by_bucket(pa.concat_tables(chunks), key, buckets)
            del chunks
            for bucket in range(low, high):
                data = index_file_bytes(sort_entries(pick(bucket), key), key)
                index.store.write_atomically(base_file(0, table, bucket), data)
                sizes[table][bucket] = len(data)
    publish_base(index, new_layout("ztf"), 0, buckets, sizes)
    return {"buckets": buckets}


def measure(size: int, lookups: int, directory: Path) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(size)
    index = AlertIndex(Lake(directory / "lake"), directory / f"index-{size}", refresh_seconds=3600)
    objects = max(1, size // ALERTS_PER_OBJECT)
    start = time.perf_counter()
    per_night = size // NIGHTS
    if size > 10**7:
        layout = write_base_directly(index, size, objects)
    else:
        for night in range(NIGHTS):
            entries = night_entries(rng, night * per_night, per_night, objects, night)
            write_night(index, dt.date(2024, 11, 1 + night), entries, {}, "ztf")
        layout = compact(index, progress=False)
    built = time.perf_counter() - start
    stored = sum(f.stat().st_size for f in Path(index.store.uri).rglob("bucket-*.arrow"))
    object_keys = object_ids(rng.integers(0, objects, 3 * lookups) * 7919 % 26**7).to_pylist()
    alert_keys = rng.integers(0, per_night * NIGHTS, 3 * lookups).tolist()
    for key in object_keys[:200] + alert_keys[:200]:  # footers, and batches of other keys
        with suppress(LookupError):
            index.alerts(key) if isinstance(key, str) else index.alert(key)
    figures = {}
    for name, keys in (("object", object_keys), ("alert", alert_keys)):
        warm, cold = keys[lookups : 2 * lookups], keys[2 * lookups :]
        figures[f"{name} warm"] = p50_p99_ms(timed_lookups(index, warm, cold=False))
        figures[f"{name} cold"] = p50_p99_ms(timed_lookups(index, cold, cold=True))
    fresh_keys = object_keys[: lookups // 4]  # other keys than the untimed ones above
    figures["object fresh"] = p50_p99_ms(timed_lookups(index, fresh_keys, cold=True, fresh=True))
    print(
        f"{size:>10,d} entries ({layout['buckets']} buckets, {stored / size / 2:.0f} bytes per "
        f"entry and table, built in {built:.1f} s): "
        + " | ".join(
            f"{name} p50 {p50:.3f} ms p99 {p99:.3f}" for name, (p50, p99) in figures.items()
        ),
        flush=True,
    )
    return figures | {
        "buckets": layout["buckets"],
        "bytes_per_entry_and_table": stored / size / 2,
        "built_s": built,
    }


def measure_uncompacted(counts: list[int], lookups: int, directory: Path) -> dict[str, float]:
    """Fresh and warm lookup p50 (ms) with `counts` nights waiting for compaction, and the
    fresh p50 once they are compacted."""
    figures = {}
    for count in counts:
        rng = np.random.default_rng(count)
        lake = Lake(directory / "lake")
        index = AlertIndex(lake, directory / f"uncompacted-{count}", refresh_seconds=3600)
        objects, per_night = 64, 16
        first = dt.date(2024, 1, 1)
        base = night_entries(rng, 0, 4096, objects, 0, first)
        write_night(index, first, base, {}, "ztf")
        compact(index, progress=False)
        for night in range(1, count + 1):
            entries = night_entries(rng, 4096 + night * per_night, per_night, objects, night, first)
            write_night(index, first + dt.timedelta(days=night), entries, {}, "ztf")
        keys = object_ids(rng.integers(0, objects, 2 * lookups) * 7919 % 26**7).to_pylist()
        deltas = index.stats()["delta_files"]
        fresh = p50_p99_ms(timed_lookups(index, keys[:lookups], cold=True, fresh=True))[0]
        timed_lookups(index, keys[:200], cold=False)
        warm = p50_p99_ms(timed_lookups(index, keys[lookups:], cold=False))[0]
        compact(index, progress=False)
        compacted = p50_p99_ms(timed_lookups(index, keys[:lookups], cold=True, fresh=True))[0]
        print(
            f"{count:>4d} uncompacted nights ({deltas} delta files): fresh p50 {fresh:.3f} ms, "
            f"warm p50 {warm:.3f} ms; compacted: fresh p50 {compacted:.3f} ms "
            f"({fresh / compacted:.2f}x)",
            flush=True,
        )
        figures |= {
            f"uncompacted_{count}_fresh_ms": fresh,
            f"uncompacted_{count}_warm_ms": warm,
            f"compacted_{count}_fresh_ms": compacted,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1e4,1e6,1e7,5e7")
    parser.add_argument("--nights", default="1,30,365")
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    report = Figures("index_lookup", args)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        uncompacted = measure_uncompacted(
            [int(n) for n in args.nights.split(",")], args.lookups // 4, Path(directory)
        )
        for size in sizes:
            results[size] = measure(size, args.lookups, Path(directory))
    report.print(
        " ".join(
            f"p50_ms_{s:.0e}={results[s]['object warm'][0]:.3f} "
            f"cold_p50_ms_{s:.0e}={results[s]['object cold'][0]:.3f} "
            f"fresh_p50_ms_{s:.0e}={results[s]['object fresh'][0]:.3f} "
            f"fresh_p99_ms_{s:.0e}={results[s]['object fresh'][1]:.3f}"
            for s in sizes
        )
        + " "
        + " ".join(f"{name}={value:.3f}" for name, value in uncompacted.items()),
        entries={size: _as_ms(figures) for size, figures in results.items()},
        **uncompacted,
    )
    report.write()


def _as_ms(figures: dict) -> dict:
    """A size's figures for JSON: each lookup's (p50, p99) named, the rest as they are."""
    return {
        name.replace(" ", "_"): (
            {"p50_ms": value[0], "p99_ms": value[1]} if isinstance(value, tuple) else value
        )
        for name, value in figures.items()
    }


if __name__ == "__main__":
    main()
