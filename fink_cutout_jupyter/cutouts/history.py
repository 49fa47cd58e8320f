"""An object's upper limits from its latest alert's history (ZTF's ``prv_candidates``).

ZTF alerts carry the 30 days before them: earlier detections, and the nights the object was
observed but not detected, with the depth reached (``diffmaglim``, an upper limit on its
magnitude). The latest alert's row is read alone (its row group's ``prv_candidates`` column and
alert id), and the row is proven to be the alert's (its stored alert id) before its history is
used. Lakes without the column (Rubin's, the demo's) have no upper limits. An entry without a
finite time or depth (null, NaN or infinity stored) is left out: it cannot be placed or drawn.
"""

from __future__ import annotations

import math
from typing import Any

from fink_cutout_jupyter.cutouts.row_reads import open_parquet
from fink_cutout_jupyter.locations import AlertLocation
from fink_cutout_jupyter.parquet.columns import leaf, value
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import Survey

HISTORY_COLUMN = "prv_candidates"


def upper_limits(lake: Lake, location: AlertLocation, survey: Survey) -> list[dict[str, Any]]:
    """The non-detections in the alert's history: jd, filter, limit (magnitude), oldest first.

    Empty when the file has no history column, or when the indexed row no longer holds the
    alert (the file was rewritten since it was indexed: nothing unproven is shown).
    """
    with lake.open(location.path) as source:
        parquet = open_parquet(source, location.path)
        if HISTORY_COLUMN not in parquet.schema_arrow.names:
            return []
        table = parquet.read_row_group(
            location.row_group, columns=[survey.alert_id_column, HISTORY_COLUMN]
        ).slice(location.row, 1)
    if table.num_rows != 1 or value(table, survey.alert_id_column, 0) != location.alert_id:
        return []
    filters = dict(survey.filter_names)
    limits = [
        {
            "jd": entry["jd"],
            "filter": filters.get(entry.get("fid"), str(entry.get("fid"))),
            "limit": float(entry["diffmaglim"]),
        }
        for entry in leaf(table, HISTORY_COLUMN).to_pylist()[0] or []
        if entry.get("candid") is None and _finite(entry.get("jd"), entry.get("diffmaglim"))
    ]
    return sorted(limits, key=lambda limit: limit["jd"])


def _finite(*numbers: Any) -> bool:
    """Whether every number is there and finite: a limit without a time or a depth (null, NaN
    or infinity in the lake) cannot be drawn, and is left out."""
    return all(number is not None and math.isfinite(number) for number in numbers)
