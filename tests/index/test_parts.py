"""Parts: an archived night or a live night's micro-batch, numbered so that they never meet."""

from __future__ import annotations

import datetime as dt

import pytest

from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.index import parts

NIGHTS = [dt.date(1988, 11, 3), dt.date(2024, 11, 5), dt.date(2099, 12, 31)]


@pytest.mark.parametrize("night", NIGHTS)
@pytest.mark.parametrize("batch", [0, 1, 17, 999_999])
def test_a_live_part_gives_back_its_night_and_batch(night, batch):
    part = parts.online_part(night, batch)
    assert parts.is_online(part)
    assert parts.as_date(parts.night_of(part)) == night
    assert parts.batch_of(part) == batch
    assert part > max(parts.archive_part(n) for n in NIGHTS), "above every archived night"
    assert parts.part_of_record(parts.record_name(part)) == part


@pytest.mark.parametrize("night", NIGHTS)
def test_an_archived_night_is_its_number(night):
    part = parts.archive_part(night)
    assert part == int(f"{night:%Y%m%d}")
    assert not parts.is_online(part)
    assert parts.batch_of(part) is None
    assert parts.record_name(part) == f"{night:%Y-%m-%d}"
    assert parts.part_of_record(f"{night:%Y-%m-%d}") == part


def test_live_parts_are_hidden_once_their_night_is_archived():
    night, other = NIGHTS[1], NIGHTS[2]
    archived = {parts.archive_part(night)}
    assert parts.hidden(parts.online_part(night, 3), archived)
    assert not parts.hidden(parts.online_part(other, 3), archived)
    assert not parts.hidden(parts.archive_part(night), archived), "the archive itself stays"


@pytest.mark.parametrize("batch", [-1, 1_000_000])
def test_a_batch_out_of_range_is_refused_naming_it(batch):
    with pytest.raises(BadParameter, match=f"batch: {batch}"):
        parts.online_part(NIGHTS[0], batch)


@pytest.mark.parametrize("name", ["", "2024-13-01", "online/2024-11-05", "online/x/1", "a/b"])
def test_names_that_are_not_parts(name):
    assert parts.part_of_record(name) is None
