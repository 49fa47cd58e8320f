"""An object's alerts as the lake stores them, read independently of the package: pyarrow
reads the demo lake's files, astropy each stamp's stored bytes; oldest first by ``candidate.jd``
(the flip-book's expectations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from support.exports import KINDS, astropy_pixels, lake_files


def object_alerts(root: Path | str, object_id: str) -> list[dict]:
    """Each alert of a ZTF object: ``candid``, ``jd`` and ``stamps`` (kind -> astropy's float32
    pixels), sorted by jd."""
    alerts = []
    for path in lake_files(root):
        columns = ["objectId", "candid", "candidate", *(f"cutout{kind}" for kind in KINDS)]
        table = pq.read_table(path, columns=columns)
        table = table.filter(pc.equal(table.column("objectId"), object_id))
        for record in table.to_pylist():
            alerts.append(
                {
                    "candid": record["candid"],
                    "jd": record["candidate"]["jd"],
                    "stamps": {
                        kind: astropy_pixels(record[f"cutout{kind}"]["stampData"]) for kind in KINDS
                    },
                }
            )
    return sorted(alerts, key=lambda alert: alert["jd"])


def all_pixels(alerts: list[dict], kind: str) -> np.ndarray:
    """The finite pixels of a kind over `alerts`, frame after frame, as float64."""
    every = np.concatenate([alert["stamps"][kind].ravel() for alert in alerts]).astype(float)
    return every[np.isfinite(every)]
