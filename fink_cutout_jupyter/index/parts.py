"""The parts of the index: an archived night, or a live night's micro-batches.

Every entry carries its part (the ``night`` column), and the layout says which delta each part
comes from (`layout.owners`): writing a part again replaces it, never adds to it.

- An archived night (``<science_dir>/year=/month=/day=``) is the part ``YYYYMMDD``.
- A live night (``<online_dir>/<YYYYMMDD>/``, written by Spark's streaming file sink) is indexed
  as it is committed, in parts ``YYYYMMDD * 1_000_000 + batch``: the files committed up to the
  sink's micro-batch ``batch`` and not in an earlier part of the night.

Once the archived night is written with its files, the night's live parts are hidden: the layout
lists it in ``"archived"``, published with the archived entries in one write (readers see one or
the other, never neither nor both), and compaction drops them.
"""

from __future__ import annotations

import datetime as dt

from fink_cutout_jupyter.errors import BadParameter

BATCHES_PER_NIGHT = 1_000_000  # a live night's parts: YYYYMMDD * BATCHES_PER_NIGHT + batch
LARGEST_NIGHT = 99_991_231


def night_number(night: dt.date) -> int:
    """``YYYYMMDD`` as a number: the part of an archived night."""
    return night.year * 10_000 + night.month * 100 + night.day


def archive_part(night: dt.date) -> int:
    """The part of an archived night."""
    return night_number(night)


def online_part(night: dt.date, batch: int) -> int:
    """The part of a live night holding what its sink committed up to micro-batch `batch`."""
    if not 0 <= batch < BATCHES_PER_NIGHT:
        raise BadParameter(
            f"batch: {batch} is not a streaming micro-batch id of one night "
            f"(0 to {BATCHES_PER_NIGHT - 1})"
        )
    return night_number(night) * BATCHES_PER_NIGHT + batch


def is_online(part: int) -> bool:
    """Whether a part is a live night's (else an archived night's)."""
    return part > LARGEST_NIGHT


def night_of(part: int) -> int:
    """The night (``YYYYMMDD``) a part belongs to."""
    return part // BATCHES_PER_NIGHT if is_online(part) else part


def batch_of(part: int) -> int | None:
    """The micro-batch of a live night's part (None for an archived night)."""
    return part % BATCHES_PER_NIGHT if is_online(part) else None


def as_date(number: int) -> dt.date:
    """The date of a night number ``YYYYMMDD``."""
    return dt.date(number // 10_000, number // 100 % 100, number % 100)


def hidden(part: int, archived: frozenset[int] | set[int]) -> bool:
    """Whether a part's entries are hidden: a live night's, once the night is archived."""
    return is_online(part) and part // BATCHES_PER_NIGHT in archived


def record_name(part: int) -> str:
    """The part's name in the manifests: ``YYYY-MM-DD`` or ``online/YYYY-MM-DD/<batch>``."""
    night = as_date(night_of(part))
    batch = batch_of(part)
    return f"{night:%Y-%m-%d}" if batch is None else f"online/{night:%Y-%m-%d}/{batch}"


def part_of_record(name: str) -> int | None:
    """The part a manifest's record names (None: not a part's name)."""
    online = name.startswith("online/")
    night_text, _, batch_text = name.removeprefix("online/").partition("/")
    try:
        night = dt.date.fromisoformat(night_text)
        if online:
            return online_part(night, int(batch_text))
        return archive_part(night) if not batch_text else None
    except (ValueError, BadParameter):
        return None
