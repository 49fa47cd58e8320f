"""One alert's history read from a Rubin-sized file: the offset index's pages against pyarrow.

A synthetic Rubin file of realistic shape: 20,000 alerts in one row group, each with 300
``prvDiaSources`` and 300 ``prvDiaForcedSources`` (the fields a light curve reads, and a few
more, named and typed as in Fink's Rubin schema), snappy, written by pyarrow with the page index.
The history's row read (`history_rows.read_latest_row`: alert id, the alert's own time, band,
flux and error, and the history's nine list leaves) is timed cold (nothing of the file kept in
the process: footer and offset indexes read) and warm (offset indexes kept), against pyarrow
reading those leaf columns of the row group and slicing the row; then the whole
``/api/v1/history`` body (`object_history`: merge, astropy times). The file is written just
before it is read: the OS page cache holds it for both sides.

Run alone (it is CPU-bound): python benchmarks/history.py [--alerts 20000] [--entries 300]
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _results import Figures
from _timing import p50_p95_ms

from fink_cutout_jupyter.cutouts.history import object_history
from fink_cutout_jupyter.cutouts.history_rows import (
    HISTORIES,
    flat_leaf_paths,
    history_leaf_paths,
    read_latest_row,
)
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.parquet.columns import leaf_paths
from fink_cutout_jupyter.parquet.row_leaves import OFFSET_INDEXES
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import LSST

NIGHT = "science/year=2026/month=03/day=06"


def _sources(rng, alerts: int, entries: int, forced: bool) -> pa.Array:
    """A list column of `entries` sources per alert, as Rubin's schema types them."""
    count = alerts * entries
    fields = {
        "midpointMjdTai": pa.array(61000.0 + rng.random(count) * 365),
        "band": pa.DictionaryArray.from_arrays(
            pa.array(rng.integers(0, 6, count, dtype=np.int32)), pa.array(list("ugrizy"))
        ).cast(pa.string()),
        "psfFlux": pa.array(rng.normal(2000, 800, count).astype(np.float32)),
        "psfFluxErr": pa.array(rng.normal(300, 50, count).astype(np.float32)),
        "ra": pa.array(rng.random(count) * 360),
        "dec": pa.array(rng.random(count) * 180 - 90),
        "visit": pa.array(rng.integers(2026030500000, 2026030600000, count)),
        "detector": pa.array(rng.integers(0, 189, count, dtype=np.int32)),
    }
    key = "diaForcedSourceId" if forced else "diaSourceId"
    fields = {key: pa.array(rng.integers(1, 2**62, count)), **fields}
    if not forced:
        fields["snr"] = pa.array(rng.normal(10, 3, count).astype(np.float32))
        fields["x"] = pa.array(rng.random(count).astype(np.float32) * 4000)
        fields["y"] = pa.array(rng.random(count).astype(np.float32) * 4000)
    elements = pa.StructArray.from_arrays(list(fields.values()), list(fields))
    offsets = pa.array(np.arange(0, count + 1, entries, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, elements)


def write_rubin_like(path: Path, alerts: int, entries: int, page_index: bool = True) -> None:
    """The synthetic Rubin file, one row group."""
    rng = np.random.default_rng(24)
    ids = rng.integers(1, 2**62, alerts)
    dia_source = pa.StructArray.from_arrays(
        [
            pa.array(ids),
            pa.array(rng.integers(1, 2**62, alerts)),
            pa.array(61100.0 + rng.random(alerts)),
            pa.array(rng.choice(list("ugrizy"), alerts)),
            pa.array(rng.normal(2000, 800, alerts).astype(np.float32)),
            pa.array(rng.normal(300, 50, alerts).astype(np.float32)),
        ],
        ["diaSourceId", "diaObjectId", "midpointMjdTai", "band", "psfFlux", "psfFluxErr"],
    )
    table = pa.table(
        {
            "diaSourceId": ids,
            "diaSource": dia_source,
            "prvDiaSources": _sources(rng, alerts, entries, forced=False),
            "prvDiaForcedSources": _sources(rng, alerts, entries, forced=True),
        }
    )
    pq.write_table(table, path, row_group_size=alerts, write_page_index=page_index)


def pyarrow_row(path: Path, row: int, columns: list[str]) -> dict:
    """The seed's way: pyarrow reads the leaf columns of the row group, then the row."""
    parquet = pq.ParquetFile(path)
    return parquet.read_row_group(0, columns=columns).slice(row, 1).to_pylist()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--requests", type=int, default=30)
    arguments = parser.parse_args()
    figures = Figures("history", arguments)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / NIGHT).mkdir(parents=True)
        name = f"{NIGHT}/part-00000-rubin.snappy.parquet"
        start = time.perf_counter()
        write_rubin_like(root / name, arguments.alerts, arguments.entries)
        written = time.perf_counter() - start
        size = (root / name).stat().st_size
        figures.print(
            f"file: {arguments.alerts} alerts x {arguments.entries} prvDiaSources and "
            f"prvDiaForcedSources, one row group, {size / 1e6:.0f} MB (written in {written:.0f} s)",
            file_mb=round(size / 1e6, 1),
        )
        lake = Lake(root)
        ids = pq.read_table(root / name, columns=["diaSourceId"]).column(0).to_pylist()
        rows = random.Random(24).sample(range(arguments.alerts), arguments.requests)
        locations = [
            AlertLocation("1", ids[row], 0.0, name, 0, row, file_size=size, time_scale="mjd")
            for row in rows
        ]
        history = HISTORIES[LSST.name]
        paths = leaf_paths(pq.ParquetFile(root / name).schema)
        columns = [*flat_leaf_paths(LSST), *history_leaf_paths(paths, history).values()]

        def cold(location):
            OFFSET_INDEXES.clear()
            return read_latest_row(lake, location, LSST, history)

        def warm(location):
            return read_latest_row(lake, location, LSST, history)

        def seed(location):
            return pyarrow_row(root / name, location.row, columns)

        def body(location):
            return object_history(lake, location, LSST, [location])

        assert all(warm(location).proven for location in locations[:3])
        results = {}
        for label, read in (("cold", cold), ("warm", warm), ("pyarrow", seed), ("body", body)):
            read(locations[0])  # imports and first-use costs out of the figures
            seconds = []
            for location in locations:
                began = time.perf_counter()
                read(location)
                seconds.append(time.perf_counter() - began)
            results[label] = p50_p95_ms(seconds)
        for label, text in (
            ("cold", "row read, cold (footer + offset indexes + pages)"),
            ("warm", "row read, warm (offset indexes kept)"),
            ("pyarrow", "pyarrow: the row group's 14 leaf columns, then the row"),
            ("body", "object_history, warm (the whole /history body)"),
        ):
            p50, p95 = results[label]
            figures.print(
                f"{text:<58} p50 {p50:8.2f} ms  p95 {p95:8.2f} ms",
                **{f"{label}_p50_ms": round(p50, 3), f"{label}_p95_ms": round(p95, 3)},
            )
        seed_p50 = results["pyarrow"][0]
        figures.print(
            f"pyarrow / ours: cold {seed_p50 / results['cold'][0]:.0f}x, "
            f"warm {seed_p50 / results['warm'][0]:.0f}x",
            cold_ratio=round(seed_p50 / results["cold"][0], 1),
            warm_ratio=round(seed_p50 / results["warm"][0], 1),
        )
    figures.write()


if __name__ == "__main__":
    main()
