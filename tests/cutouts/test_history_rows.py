"""The latest alert's row read for its history (`cutouts.history_rows`), against fastavro.

The points made of it, merged with the index, are `tests/cutouts/test_history.py`'s.
"""

import dataclasses

from fink_cutout_jupyter.cutouts.history_rows import HISTORIES, read_latest_row
from fink_cutout_jupyter.index.build import build
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.surveys import LSST


def test_each_rubin_rows_history_leaves_are_the_stored_lists(rubin_lake, rubin_records, tmp_path):
    index = AlertIndex(rubin_lake, str(tmp_path / "index"))
    build(index, rubin_lake.nights(), progress=False)
    history = HISTORIES[LSST.name]
    for record in rubin_records:
        location = index.alert(record["diaSourceId"])
        row = read_latest_row(rubin_lake, location, LSST, history)
        assert row.proven
        assert row.has_history
        for listed in history.lists:
            stored = record[listed.column]
            read = {  # <column>.list.element.<leaf> -> the leaf's values
                path.rsplit(".", 1)[1]: values
                for path, values in row.lists.items()
                if path.startswith(f"{listed.column}.")
            }
            assert set(read) == set(listed.leaves)
            for leaf in listed.leaves:
                expected = None if stored is None else [entry[leaf] for entry in stored]
                assert read[leaf] == expected, (record["diaSourceId"], listed.column, leaf)


def test_a_row_that_is_not_the_alerts_is_unproven(rubin_lake, rubin_records, tmp_path):
    index = AlertIndex(rubin_lake, str(tmp_path / "index"))
    build(index, rubin_lake.nights(), progress=False)
    location = index.alert(rubin_records[-1]["diaSourceId"])
    other = dataclasses.replace(location, alert_id=location.alert_id + 1)
    assert not read_latest_row(rubin_lake, other, LSST, HISTORIES[LSST.name]).proven
