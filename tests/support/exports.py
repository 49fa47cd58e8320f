"""What an export or `iter_batches` must give, read independently: the lake's files with
pyarrow, each stamp's stored bytes (gunzipped where gzipped) opened by astropy."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from astropy.io import fits

KINDS = ("Science", "Template", "Difference")


def lake_files(root: Path | str) -> list[Path]:
    return sorted(Path(root).glob("science/**/*.parquet"))


def stored_alerts(root: Path | str) -> dict[int, dict]:
    """Every alert of a ZTF lake by candid: its objectId and its stamps as astropy reads them."""
    alerts = {}
    for path in lake_files(root):
        columns = ["objectId", "candid", *(f"cutout{kind}" for kind in KINDS)]
        for record in pq.read_table(path, columns=columns).to_pylist():
            alerts[record["candid"]] = {
                "objectId": record["objectId"],
                "stamps": {
                    kind: astropy_pixels(record[f"cutout{kind}"]["stampData"]) for kind in KINDS
                },
            }
    return alerts


def astropy_pixels(stored: bytes) -> np.ndarray:
    """A stamp's pixels as astropy reads its FITS bytes (gunzipped first if gzipped)."""
    data = gzip.decompress(stored) if stored[:2] == b"\x1f\x8b" else stored
    with fits.open(io.BytesIO(data), ignore_missing_simple=True) as hdus:
        return next(hdu.data for hdu in hdus if hdu.data is not None).astype(np.float32)


def check_row(stamps: dict[str, np.ndarray], expected: dict[str, np.ndarray], status: str) -> None:
    """A row's stamps: astropy's where of the run's shape, NaN and named in its status else."""
    for kind, pixels in stamps.items():
        if expected[kind].shape == pixels.shape:
            assert np.array_equal(pixels, expected[kind], equal_nan=True), kind
        else:
            assert np.isnan(pixels).all(), kind
            height, width = expected[kind].shape
            assert f"{kind} {height}x{width}" in status, status


def exported(path) -> tuple[list[dict], dict[str, np.ndarray]]:
    """An export's rows without their stamps, and its stamps by kind, as pyarrow reads them."""
    table = pq.read_table(path)
    stamps = {k: table.column(k).combine_chunks().to_numpy_ndarray() for k in KINDS}
    return table.drop_columns(list(KINDS)).to_pylist(), stamps


def assert_same_export(path, other) -> None:
    """Two exports hold the same rows and stamps (NaN where the other has NaN)."""
    rows, stamps = exported(path)
    other_rows, other_stamps = exported(other)
    assert rows == other_rows
    for kind in KINDS:
        assert np.array_equal(stamps[kind], other_stamps[kind], equal_nan=True)
    assert pq.read_schema(path).equals(pq.read_schema(other))
