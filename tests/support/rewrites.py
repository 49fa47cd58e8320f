"""Same-size rewrites of a lake file: what a file can become after indexing without a new size.

A file written uncompressed, PLAIN, without statistics, with its stamps as stored (level 0) gzip,
keeps its exact size when two rows swap places or when a stamp's pixel changes: the cases where
a check of the file's size alone would trust a stale index entry.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fink_cutout_jupyter.storage.lake import Lake
from support.real_data import SHARED_DATA

KINDS = ("Science", "Template", "Difference")
CANDIDATE_FIELDS = ("jd", "fid", "magpsf", "sigmapsf", "ra", "dec", "isdiffpos")


def real_alerts() -> pa.Table:
    """The 67 real alerts of part-00002: ids, the display fields, stamps re-gzipped at level 0."""
    source = next(SHARED_DATA.glob("ztf/lake/**/part-00002-*.parquet"))
    table = pq.read_table(source, columns=["objectId", "candid", "candidate", *_cutouts()])
    candidate = table.column("candidate").combine_chunks()
    columns = {
        "objectId": table.column("objectId"),
        "candid": table.column("candid"),
        "candidate": pa.StructArray.from_arrays(
            [pc.struct_field(candidate, name) for name in CANDIDATE_FIELDS], CANDIDATE_FIELDS
        ),
    }
    for column in _cutouts():
        stamps = table.column(column).combine_chunks()
        stored = [
            gzip.compress(gzip.decompress(data), compresslevel=0, mtime=0)
            for data in pc.struct_field(stamps, "stampData").to_pylist()
        ]
        columns[column] = pa.StructArray.from_arrays(
            [pc.struct_field(stamps, "fileName"), pa.array(stored, pa.binary())],
            ["fileName", "stampData"],
        )
    return pa.table(columns)


def write_fixed_layout(table: pa.Table, where, filesystem=None) -> None:
    """Write `table` so that permuting rows or changing bytes in place keeps the file's size."""
    pq.write_table(
        table,
        where,
        filesystem=filesystem,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
        data_page_size=1 << 30,
        row_group_size=table.num_rows,
    )


def swap_rows(table: pa.Table, first: int, second: int) -> pa.Table:
    order = list(range(table.num_rows))
    order[first], order[second] = order[second], order[first]
    return table.take(order)


def change_a_pixel(table: pa.Table, row: int, kind: str) -> pa.Table:
    """`table` with one pixel of one stamp changed, the stored gzip keeping its length."""
    column = f"cutout{kind}"
    stamps = table.column(column).combine_chunks()
    data = pc.struct_field(stamps, "stampData").to_pylist()
    fits = bytearray(gzip.decompress(data[row]))
    fits[2880 + 4 * 100] ^= 0x40  # the exponent byte of pixel 100 (after one header block)
    changed = gzip.compress(bytes(fits), compresslevel=0, mtime=0)
    assert len(changed) == len(data[row])
    data[row] = changed
    replaced = pa.StructArray.from_arrays(
        [pc.struct_field(stamps, "fileName"), pa.array(data, pa.binary())],
        ["fileName", "stampData"],
    )
    return table.set_column(table.schema.get_field_index(column), column, replaced)


def stored_stamps(path: Path | str, candid: int, filesystem=None) -> dict[str, bytes]:
    """What pyarrow reads for one alert id: its FITS files (gunzipped stamps) by kind."""
    table = pq.read_table(
        path,
        filesystem=filesystem,
        columns=["candid", *_cutouts()],
        filters=[("candid", "=", candid)],
    )
    assert table.num_rows == 1, f"{candid} is in {table.num_rows} rows"
    row = table.to_pylist()[0]
    return {kind: gzip.decompress(row[f"cutout{kind}"]["stampData"]) for kind in KINDS}


def _cutouts() -> list[str]:
    return [f"cutout{kind}" for kind in KINDS]


@dataclass
class RewritableLake:
    """A one-file lake of real alerts, indexed, whose file can be rewritten at the same size."""

    lake: Lake
    index: object
    path: str
    file: Path
    table: pa.Table

    def rewrite(self, table: pa.Table, keep_mtime: bool) -> None:
        """Replace the file with `table`, checking that its size did not change."""
        before = self.file.stat()
        write_fixed_layout(table, self.file)
        assert self.file.stat().st_size == before.st_size, "the rewrite changed the size"
        if keep_mtime:
            os.utime(self.file, ns=(before.st_atime_ns, before.st_mtime_ns))


def rewritable_lake(root: Path) -> RewritableLake:
    """Write the real alerts under `root` as a one-file fixed-layout lake, and index it."""
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    path = "science/year=2021/month=11/day=21/part-00000-fixed-layout.parquet"
    file = root / path
    file.parent.mkdir(parents=True)
    table = real_alerts()
    write_fixed_layout(table, file)
    lake = Lake(root)
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    return RewritableLake(lake, index, path, file, table)
