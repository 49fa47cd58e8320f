"""The ZTF demo lake: Fink's layout, the demo object's alerts over several nights, stamps that
look like the sky (read back by pyarrow and the reader)."""

import datetime as dt

import numpy as np
import pyarrow.parquet as pq

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.demo.ztf import DEMO_OBJECT_ID
from fink_cutout_jupyter.errors import NotFound


def test_demo_lake_has_fink_layout_and_size(demo, demo_lake):
    assert len(demo.nights) >= 3
    assert demo.objects >= 200
    assert demo_lake.nights() == list(demo.nights)
    assert sorted(f for n in demo.nights for f in demo_lake.night_files(n)) == sorted(demo.files)
    for path in demo.files:
        metadata = pq.ParquetFile(demo_lake.resolve(path)).metadata
        assert metadata.num_row_groups == 1
        assert metadata.row_group(0).column(0).compression == "SNAPPY"
    ids = pq.read_table(demo_lake.resolve(demo.files[0]), columns=["objectId"])
    assert ids.num_rows > 50


def test_demo_object_has_five_alerts_over_several_nights_and_latest_is_max_jd(demo, demo_lake):
    table = pq.ParquetDataset([demo_lake.resolve(f) for f in demo.files]).read(
        columns=["objectId", "candid", "candidate"]
    )
    alerts = [r for r in table.to_pylist() if r["objectId"] == DEMO_OBJECT_ID]
    assert len(alerts) >= 5
    nights = {dt.date.fromordinal(int(a["candidate"]["jd"] - 1721424.5)) for a in alerts}
    assert len(nights) >= 3
    reader = CutoutReader(demo_lake)
    last_night_alerts = []
    for path in demo_lake.night_files(demo.nights[-1]):
        try:
            last_night_alerts.append(reader.read(path, DEMO_OBJECT_ID))
        except NotFound:
            continue
    latest = max(last_night_alerts, key=lambda a: a.time)
    assert latest.time == max(a["candidate"]["jd"] for a in alerts)
    assert latest.properties["isdiffpos"] == "t"


def test_demo_stamps_look_like_the_sky(demo, demo_lake):
    path = demo.demo_object_files[0]
    alert = CutoutReader(demo_lake).read(path, DEMO_OBJECT_ID)
    science, template, difference = (alert.stamps[k].data for k in alert.stamps)
    assert science.shape == (63, 63)
    centre = (slice(29, 34), slice(29, 34))
    noise = np.std(difference[:10, :10])
    assert difference[centre].max() > 10 * noise, "the transient shows in the difference"
    assert np.median(science) > 50, "the science image has a sky background"
    assert np.std(template[:10, :10]) < np.std(science[:10, :10]), "the template is deeper"
    assert "BUNIT" in alert.stamps["Science"].header
