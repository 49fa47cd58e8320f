"""A copy of the real ZTF lake with some alerts' stored stamps changed (truncated bytes: a
corrupt stamp; fewer columns: a stamp at a CCD's edge), rewritten with pyarrow and indexed."""

from __future__ import annotations

import gzip
import io
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from fink_cutout_jupyter.storage.lake import Lake
from support.real_data import SHARED_DATA

Edit = Callable[[bytes], bytes]  # a stamp's stored bytes (gzipped FITS) -> the bytes written


def truncated(stored: bytes) -> bytes:
    """The first half of the stored bytes: a gzip stream cut short."""
    return stored[: len(stored) // 2]


def first_columns(width: int) -> Edit:
    """The stamp's first `width` columns, written by astropy (its BUNIT kept) and gzipped."""
    from astropy.io import fits

    def edit(stored: bytes) -> bytes:
        with fits.open(io.BytesIO(gzip.decompress(stored)), ignore_missing_simple=True) as hdul:
            hdu = fits.PrimaryHDU(hdul[0].data[:, :width].astype(">f4"))
            hdu.header["BUNIT"] = hdul[0].header["BUNIT"]
        written = io.BytesIO()
        hdu.writeto(written)
        return gzip.compress(written.getvalue())

    return edit


def edited_ztf_lake(root: Path, edits: Mapping[int, Mapping[str, Edit]]) -> Lake:
    """The real ZTF lake copied to `root`, each alert of `edits` (candid -> kind -> edit) with
    those stamps edited in its file (pyarrow reads and writes it whole), then indexed."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    shutil.copytree(SHARED_DATA / "ztf" / "lake", root)
    left = set(edits)
    for path in sorted(root.rglob("*.parquet")):
        table = pq.read_table(path)
        ids = table["candid"].to_pylist()
        rows = {ids.index(candid): edits[candid] for candid in left if candid in ids}
        if not rows:
            continue
        for kind in {kind for kinds in rows.values() for kind in kinds}:
            name = f"cutout{kind}"
            stamps = table[name].combine_chunks()
            stored = pc.struct_field(stamps, "stampData").to_pylist()
            for row, kinds in rows.items():
                if kind in kinds:
                    stored[row] = kinds[kind](stored[row])
            column = pa.StructArray.from_arrays(
                [pc.struct_field(stamps, "fileName"), pa.array(stored, pa.binary())],
                ["fileName", "stampData"],
            )
            table = table.set_column(table.schema.get_field_index(name), name, column)
        pq.write_table(table, path)
        left -= {ids[row] for row in rows}
    if left:
        raise ValueError(f"alerts not in the real ZTF lake: {sorted(left)}")
    lake = Lake(root, science_dir="archive/science")
    build(AlertIndex(lake), lake.nights(), progress=False)
    return lake
