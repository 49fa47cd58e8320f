"""A followed night's files read into index entries on worker threads, unindexable ones skipped.

A file that cannot be indexed for a reason of its own (not Parquet or corrupt, another survey
than the index's, named by the log but absent, a directory) is left out with an ERROR naming the
night and the file, and remembered in memory (read again after a restart); the night's other
files are indexed. A failing lake (`LakeUnavailable`) is not such a reason: the night is retried
at the next cycle. A malformed log (`CorruptData`: a path outside the night) fails the night,
said at most once an hour per message; any other exception of a night's step is logged with its
traceback, and the other nights go on. ``run(once=True)`` returns 1 when its cycle failed or
skipped files.

"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from typing import TYPE_CHECKING, NamedTuple

from fink_cutout_jupyter.errors import CutoutError, LakeUnavailable, NotFound
from fink_cutout_jupyter.index.build import IndexedFile, entries_of_file

if TYPE_CHECKING:
    from fink_cutout_jupyter.index.follow import CycleReport
    from fink_cutout_jupyter.index.spills import EntrySpill
    from fink_cutout_jupyter.storage.lake import Lake

logger = logging.getLogger("fink_cutout_jupyter.index.follow")  # the follower's one log


class NightRead(NamedTuple):
    """What `NightReader.read_into` read: the files' identities, their entries, their survey
    (None when no file could be indexed)."""

    identities: dict[str, dict]
    rows: int
    survey: str | None


class NightReader:
    """Reads a night's files on `workers` threads, and remembers the files it skipped.

    Parameters
    ----------
    lake : Lake
    workers : int
    """

    def __init__(self, lake: Lake, workers: int) -> None:
        self.lake = lake
        self.workers = max(1, workers)
        self._skipped: dict[str, str] = {}  # path -> why it cannot be indexed (until a restart)

    def skipped(self, path: str) -> bool:
        """Whether the file was skipped (it is not read again until a restart)."""
        return path in self._skipped

    def read(
        self,
        night: dt.date,
        paths: list[str],
        batch: int | None,
        layout: dict | None,
        report: CycleReport,
    ) -> dict[str, IndexedFile]:
        """Each file's entries (path -> its entries, in the order of `paths`), read on
        `workers` threads. A file that cannot be indexed for a reason of its own (missing, not
        Parquet, another survey) is logged, remembered and left out; a failing lake raises."""
        return dict(self._accepted(night, paths, batch, layout, report))

    def read_into(
        self,
        spill: EntrySpill,
        night: dt.date,
        paths: list[str],
        layout: dict | None,
        report: CycleReport,
        batch: int | None = None,
    ) -> NightRead:
        """The files read as `read` does (for the archived night, or with `batch` a live
        night's part), each file's entries added to `spill` as it comes (a Rubin night is never
        held whole); what was read."""
        identities: dict[str, dict] = {}
        rows, survey = 0, None
        for path, result in self._accepted(night, paths, batch, layout, report):
            spill.add(result.entries)
            identities[path] = result.identity
            rows += result.entries.num_rows
            survey = result.survey.name
        return NightRead(identities, rows, survey)

    def _accepted(
        self,
        night: dt.date,
        paths: list[str],
        batch: int | None,
        layout: dict | None,
        report: CycleReport,
    ) -> Iterator[tuple[str, IndexedFile]]:
        """(path, its entries) of each file that can be indexed, in the order of `paths`, as
        the threads read them; the others logged, remembered and left out."""
        expected = (layout or {}).get("survey")
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            outcomes = pool.map(self._entries_of, paths, repeat(night), repeat(batch))
            for path, outcome in zip(paths, outcomes, strict=True):
                if isinstance(outcome, str):
                    why = outcome
                elif expected is not None and outcome.survey.name != expected:
                    why = f"its survey is {outcome.survey.name}, the index's is {expected}"
                else:
                    expected = outcome.survey.name
                    yield path, outcome
                    continue
                self._skipped[path] = why
                report.skipped.append((night, path))
                logger.error("%s: file %r skipped, it cannot be indexed: %s", night, path, why)

    def _entries_of(self, path: str, night: dt.date, batch: int | None) -> IndexedFile | str:
        """A file's entries, or why they cannot be read (a failing lake raises)."""
        try:
            return entries_of_file(self.lake, path, night, batch)
        except LakeUnavailable:
            raise
        except NotFound:
            return "no such file in the lake (deleted, never written, or a directory)"
        except CutoutError as error:
            return str(error)
        except (ValueError, TypeError, NotImplementedError) as error:  # pyarrow's ArrowInvalid..
            return f"not a Parquet file pyarrow can read: {error}"
        except OSError as error:  # corrupt bytes (a bad page) or a failing lake: ask the lake
            try:
                self.lake.identity(path)  # a failing lake raises LakeUnavailable
            except NotFound:
                return "no such file in the lake (deleted while it was read)"
            return f"corrupt: pyarrow cannot decode it: {self.lake.scrub(str(error))}"
