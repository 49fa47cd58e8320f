"""A night's entries partitioned by hash bucket into local temporary files as they are indexed.

A build indexes a night file by file; written whole, a Rubin night (10^7 entries, ~3 GB as
Arrow) would be held in memory until its delta is written. An `EntrySpill` holds up to
`SPILL_ROWS` entries, then appends them, keyed for each table (`entries.table_entries`), to
one Arrow IPC stream per table and bucket of `SPILL_BUCKETS` (`entries.bucket_of_keys`) in a
local temporary directory (``$TMPDIR/fink-cutouts-spill-<host>-<pid>-*``: deleted when the
spill is closed; one a killed process left is deleted by the next spill of this host). Its
`source` is then a bucketed input (`buckets.BucketSource`): the delta is written from it one
bucket at a time (`buckets.merged_buckets`). The spill files are uncompressed: about 900 bytes
an entry (both tables), ~9 GB of local disk for a 10^7-entry night.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fink_cutout_jupyter.index.buckets import BucketSource, table_source
from fink_cutout_jupyter.index.entries import TABLES, bucket_of_keys, entry_schema, table_entries

if TYPE_CHECKING:
    import pyarrow as pa

SPILL_PREFIX = "fink-cutouts-spill-"  # then <host>-<pid>-: whose spill it is
SPILL_ROWS = 500_000  # entries held in memory before they go to the spill files
SPILL_BUCKETS = 64  # a 10^7-entry night: ~160,000 entries of a table read back at a time


class EntrySpill:
    """Entries added a file at a time, held by bucket in local temporary files past `held`.

    Parameters
    ----------
    held : int, optional
        Entries kept in memory before they are written to the spill files (`SPILL_ROWS`).
    buckets : int, optional
        Hash buckets (a power of two) of the spill files (`SPILL_BUCKETS`).
    """

    def __init__(self, held: int | None = None, buckets: int | None = None) -> None:
        self.held = SPILL_ROWS if held is None else held
        self.buckets = SPILL_BUCKETS if buckets is None else buckets
        self.rows = 0  # entries added
        self.nbytes = 0  # their size in memory (as Arrow)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._directory: Path | None = None
        self._writers: dict[tuple[str, int], tuple] = {}  # (IPC stream writer, its file)

    def __enter__(self) -> EntrySpill:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    @property
    def spilled(self) -> bool:
        """Whether entries went to the spill files (else all are in memory)."""
        return self._directory is not None

    def add(self, entries: pa.Table) -> None:
        """Add entries (rows of `entry_schema`)."""
        schema = entry_schema()
        self._pending.append(entries.select(schema.names).cast(schema))
        self.rows += entries.num_rows
        self.nbytes += entries.nbytes
        self._pending_rows += entries.num_rows
        if self._pending_rows >= self.held:
            self._flush()

    def entries(self) -> pa.Table:
        """Every entry added, in memory (only for a spill that did not spill)."""
        import pyarrow as pa

        if self.spilled:
            raise RuntimeError("entries: the spill is on disk; read it by bucket (`source`)")
        return pa.concat_tables(self._pending or [entry_schema().empty_table()])

    def source(self, table: str) -> BucketSource:
        """The rows of `table` added, as a bucketed input (`buckets.merged_buckets`)."""
        if not self.spilled:
            return table_source(table_entries(self.entries(), table))
        self._flush()
        self._close_writers()
        return BucketSource(self.buckets, lambda bucket: self._read(table, bucket))

    def close(self) -> None:
        """Delete the spill files."""
        self._close_writers()
        self._pending = []
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def _close_writers(self) -> None:
        for writer, sink in self._writers.values():
            writer.close()
            sink.close()
        self._writers = {}

    def _file(self, table: str, bucket: int) -> Path:
        assert self._directory is not None
        return self._directory / f"{table}-{bucket:05d}.arrows"

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        if not self._pending:
            return
        if self._directory is None:
            sweep_dead_spills()
            self._directory = Path(tempfile.mkdtemp(prefix=_spill_prefix(os.getpid())))
        entries = pa.concat_tables(self._pending).combine_chunks()  # take() is slow on chunks
        self._pending, self._pending_rows = [], 0
        for table, key in TABLES.items():
            rows = table_entries(entries, table)
            of_rows = bucket_of_keys(rows.column(key), self.buckets)
            order = np.argsort(of_rows, kind="stable")
            grouped = rows.take(order)
            bounds = np.searchsorted(of_rows[order], np.arange(self.buckets + 1))
            for bucket in range(self.buckets):
                start, stop = int(bounds[bucket]), int(bounds[bucket + 1])
                if stop == start:
                    continue
                if (table, bucket) not in self._writers:
                    sink = pa.OSFile(str(self._file(table, bucket)), "wb")
                    self._writers[table, bucket] = ipc.new_stream(sink, entry_schema()), sink
                writer, _ = self._writers[table, bucket]
                writer.write_table(grouped.slice(start, stop - start))

    def _read(self, table: str, bucket: int) -> pa.Table:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        path = self._file(table, bucket)
        if not path.exists():
            return entry_schema().empty_table()
        with pa.OSFile(str(path), "rb") as source:
            return ipc.open_stream(source).read_all()


def _spill_prefix(pid: int) -> str:
    return f"{SPILL_PREFIX}{socket.gethostname()}-{pid}-"


def sweep_dead_spills() -> list[Path]:
    """Delete the spill directories a process of this host left when it was killed (SIGKILL,
    OOM: nothing could clean up); those of live processes stay. Returns what was deleted."""
    swept = []
    for directory in Path(tempfile.gettempdir()).glob(f"{SPILL_PREFIX}{socket.gethostname()}-*"):
        owner = directory.name.removeprefix(f"{SPILL_PREFIX}{socket.gethostname()}-")
        pid = owner.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and directory.is_dir():
            shutil.rmtree(directory, ignore_errors=True)
            swept.append(directory)
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
