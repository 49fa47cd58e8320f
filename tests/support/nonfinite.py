"""A lake of real ZTF alerts whose numbers are NaN or infinite in places, as a lake can hold them.

Fink's part-00002 rewritten with pyarrow, every other value as stored: a NaN magnitude, an
infinite magnitude error, a NaN ra and an infinite dec, a NaN and an infinite time, and in one
alert's history (``prv_candidates``) a NaN depth, a NaN time and an infinite depth.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from support.real_data import SHARED_DATA

PATH = "science/year=2021/month=11/day=21/part-00000-nonfinite.parquet"
# row of part-00002 -> candidate field -> value written in its place
CANDIDATES = {
    0: {"magpsf": math.nan},
    1: {"sigmapsf": math.inf},
    2: {"ra": math.nan, "dec": -math.inf},
    3: {"jd": math.nan},
    4: {"jd": math.inf},
}
HISTORY_ROW = 5  # its first three non-detections: NaN depth, NaN time, infinite depth
HISTORY = ({"diffmaglim": math.nan}, {"jd": math.nan}, {"diffmaglim": math.inf})


def write_nonfinite_lake(root: Path) -> Path:
    """Write the lake under `root`; return the file."""
    source = next(SHARED_DATA.glob("ztf/lake/**/part-00002-*.parquet"))
    file = root / PATH
    file.parent.mkdir(parents=True)
    shutil.copyfile(source, file)
    table = pq.read_table(file)
    candidate = table.column("candidate").combine_chunks()
    fields = {field.name: candidate.field(field.name).to_pylist() for field in candidate.type}
    for row, changes in CANDIDATES.items():
        for name, number in changes.items():
            fields[name][row] = number
    candidate = pa.StructArray.from_arrays(
        [pa.array(values, candidate.type.field(name).type) for name, values in fields.items()],
        fields=list(candidate.type),
    )
    history = table.column("prv_candidates").to_pylist()
    limits = [e for e in history[HISTORY_ROW] if e["candid"] is None and e["diffmaglim"]]
    for entry, changes in zip(limits, HISTORY, strict=False):
        entry.update(changes)
    table = table.set_column(table.schema.get_field_index("candidate"), "candidate", candidate)
    table = table.set_column(
        table.schema.get_field_index("prv_candidates"),
        "prv_candidates",
        pa.array(history, table.schema.field("prv_candidates").type),
    )
    pq.write_table(table, file)
    return file


def finite_or_none(value):
    """What JSON must say for a number the lake stores: itself, or null if not finite."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def strict_json(body: bytes):
    """`body` parsed as JSON proper: NaN, Infinity and -Infinity (Python's extensions) refused."""
    import json

    def refuse(constant: str):
        raise AssertionError(f"{constant} in a JSON reply")

    return json.loads(body, parse_constant=refuse)


def nonfinite_api(root: Path):
    """A `CutoutAPI` on the lake written under `root`, indexed; and the file."""
    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    file = write_nonfinite_lake(root)
    lake = Lake(root)
    build(AlertIndex(lake), lake.nights(), progress=False)
    return CutoutAPI(lake), file
