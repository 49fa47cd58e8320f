"""Many alerts' stamps exported to a file: resumable, never a cut file under the final name.

`export` reads the ids a batch at a time through a `CutoutClient` (the batch door does the
reading) and writes Parquet: the batch table's columns (``id``, ``status``, ``objectId``,
``alertId``, ``jd``, ``date``, display fields, ``hdfsPath``) and one
``fixed_shape_tensor(float32, [height, width])`` column per kind, which pyarrow and pandas read
without this package; or ``npy``: the stamps as one float32 array (rows, kinds, height, width)
in OUT and the table in ``OUT.parquet`` (``train.npy`` and ``train.npy.parquet``: no other
export's file).

Read back: pyarrow gives each kind as an (n, height, width) array
(``table.column("Science").combine_chunks().to_numpy_ndarray()``); pandas gives each row's stamp
flat (``np.stack(frame["Science"]).reshape(-1, height, width)``; the shape is also in the
schema metadata, ``shape``). ``alertId`` is int64, null where not found: the file's pandas
metadata makes it pandas' nullable ``Int64`` (never float64, which would round 19-digit ids).

While it runs, beside OUT:

- ``OUT.lock``: the exporter's pid; made whole by a hard link (fails if it exists, as O_EXCL)
  and held with ``flock``: a second export of OUT is refused while its holder lives (another
  thread of the same process too), and a dead holder's lock is taken over. An ``npy`` export
  also holds its table's lock, ``OUT.parquet.lock``.
- ``OUT.parts/manifest.json``: the ids' digest and count, what they are (`by`), the kinds, the
  batch size and, once known, the stamps' shape.
- ``OUT.parts/part-NNNNNN.arrow``: each batch's rows, written to a temporary name and renamed.

A run that stops (killed, a failure) leaves them; the next run with the same ids continues from
the parts in place (a part that does not read, or does not hold its ids, is fetched again), and
one with other ids is refused unless asked to restart (or unless the earlier run wrote no part).
When every part is there they are read one at a time (memory: one batch) into files in
``OUT.parts``, which are then renamed to their final names; then the manifest and the parts are
removed and the lock released. For ``npy``, the previous table is removed first, the ``.npy``
renamed, and the table renamed last: a kill between two renames leaves a ``.npy`` without a
table (an unfinished export: run it again), never a table beside other rows' stamps. The table's
schema metadata also records the ``.npy``'s size and SHA-256 (``npy_bytes``, ``npy_sha256``), so
a reader can check that a pair belongs together.

Memory: one batch of stamps, plus the ids themselves (about 100 B an id as Python objects);
the rows' statuses are counted as each part is written out, not kept.

The stamps' shape is the first batch's most common one (or the one given); a stamp of another
shape is NaN and its row's status names it (see `iteration`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from fink_cutout_jupyter.client.export_lock import ExportLock
from fink_cutout_jupyter.client.iteration import (
    BatchFetcher,
    Shape,
    as_client,
    as_ids,
    checked_batch_size,
    checked_kinds,
    resolved_by,
    stamps_of,
    with_nan_stamps,
)
from fink_cutout_jupyter.errors import BadParameter
from fink_cutout_jupyter.storage.atomic import write_atomically, write_bytes_atomically
from fink_cutout_jupyter.surveys import KINDS

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.client.cutout_client import CutoutClient
    from fink_cutout_jupyter.storage.lake import Lake

FORMATS = ("parquet", "npy")
BATCH_SIZE = 1000
STOP_AFTER_PART = "FINK_CUTOUTS_EXPORT_STOP_AFTER_PART"
"""Test hook: the exporter stops itself (SIGSTOP) once the part of this number (from 0) is in
place, so that a test can kill it there, or export the same file meanwhile."""
MANIFEST_VERSION = 2  # 2: parts are Arrow IPC files


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote, and what each row became.

    Attributes
    ----------
    out : Path
        The file written (Parquet, or the ``.npy`` stamps).
    table : Path
        The rows' table (`out` itself for Parquet; ``OUT.parquet`` for ``npy``).
    rows, ok, not_found, other_shape, failed : int
        Rows written; with all their stamps; ids the lake does not have; with a stamp of
        another shape (NaN); with another failure (corrupt or unavailable data...).
    shape : (int, int) or None
        The stamps' shape (None: no id had a stamp).
    resumed_parts, parts : int
        Parts found in place from an earlier run; parts in all.
    seconds : float
        This run's time.
    """

    out: Path
    table: Path
    rows: int
    ok: int
    not_found: int
    other_shape: int
    failed: int
    shape: Shape | None
    resumed_parts: int
    parts: int
    seconds: float

    def __str__(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        shape = "no stamps" if self.shape is None else f"stamps {self.shape[0]}x{self.shape[1]}"
        resumed = f", {self.resumed_parts} of {self.parts} parts from an earlier run"
        return (
            f"{self.rows} rows to {self.out} ({shape}) in {self.seconds:.1f} s "
            f"({rate:.0f} rows/s{resumed if self.resumed_parts else ''}): ok {self.ok}, "
            f"not found {self.not_found}, other shape {self.other_shape}, "
            f"other failures {self.failed}"
        )


def export(
    client: CutoutClient | str | Lake,
    ids: Iterable[str | int],
    out: str | os.PathLike,
    kinds: Sequence[str] = KINDS,
    by: str = "auto",
    batch_size: int = BATCH_SIZE,
    fmt: str = "parquet",
    progress: bool | None = None,
    *,
    shape: Shape | None = None,
    restart: bool = False,
    after_part: Callable[[int], object] | None = None,
) -> ExportSummary:
    """Write the stamps of `ids` and their table to `out` (see the module's text).

    Parameters
    ----------
    client : CutoutClient, str or Lake
        Where the stamps come from (a lake: read in-process).
    ids : sequence
        Object ids (each object's latest alert) or alert ids (a list, a numpy array, a pandas
        Series...); one row each, in order.
    out : path
        The file to write (replaced if there; its directory must exist).
    kinds : sequence of str
        Which stamps, one column (``npy``: one plane of the second axis) each, in order.
    by : {"auto", "objectId", "candid", "diaObjectId", "diaSourceId"}
        What the ids are (``auto``: alert ids if all are whole numbers, else object ids).
    batch_size : int
        Ids per part (an earlier run's parts keep theirs).
    fmt : {"parquet", "npy"}
        The output's format.
    progress : bool, optional
        A progress bar (default: when there is more than one part).
    shape : (int, int), optional
        The stamps' shape (default: the first batch's most common one).
    restart : bool
        Drop an earlier run's parts, even of other ids, and start over.
    after_part : callable, optional
        Called with each part's number once it is in place (tests use it to change the lake
        between parts).

    Returns
    -------
    ExportSummary

    Raises
    ------
    BadParameter
        An empty list, an unknown format, or parts of an export of other ids in place.
    ExportBusy
        Another export (another process, or another thread) writes `out` or, for ``npy``, its
        table ``OUT.parquet``.
    """
    from tqdm.auto import tqdm

    from fink_cutout_jupyter.storage.atomic import writable_target

    started = time.perf_counter()
    if fmt not in FORMATS:
        raise BadParameter(f"format: {fmt!r} is not allowed; allowed: {', '.join(FORMATS)}")
    ids = as_ids(ids)
    if not ids:
        raise BadParameter("ids: the list is empty")
    kinds = checked_kinds(kinds)
    by = resolved_by(ids, by)
    target = writable_target(out)
    table_target = target.with_name(f"{target.name}.parquet") if fmt == "npy" else target
    if fmt == "npy" and target.suffix == ".parquet":
        raise BadParameter(
            f"out: {target} ends in .parquet; an npy export writes a .npy file (and its table "
            "beside it, OUT.parquet)"
        )
    parts = target.with_name(f"{target.name}.parts")
    wanted = {
        "version": MANIFEST_VERSION,
        "ids_sha256": ids_digest(ids),
        "ids": len(ids),
        "by": by,
        "kinds": kinds,
        "batch_size": checked_batch_size(batch_size),
        "shape": None if shape is None else [int(shape[0]), int(shape[1])],
    }
    with ExitStack() as locks:
        for written in sorted({target, table_target}):  # one order: no deadlock
            locks.enter_context(ExportLock(written.with_name(f"{written.name}.lock")))
        manifest = _manifest_for(parts, wanted, restart)
        for temporary in parts.glob(".*.tmp"):  # a killed run's (the parts are ours)
            temporary.unlink(missing_ok=True)
        size = manifest["batch_size"]
        fetcher = BatchFetcher(as_client(client), kinds, by, _shape(manifest))
        count = -(-len(ids) // size)

        def slice_of(number: int) -> list[str | int]:
            return ids[number * size : (number + 1) * size]

        in_place = {n for n in range(count) if _readable_part(parts, n, slice_of(n))}
        show = count > 1 if progress is None else progress
        with tqdm(total=len(ids), desc="export", unit="id", disable=not show) as bar:
            bar.update(sum(len(slice_of(n)) for n in in_place))
            for number in range(count):
                if number in in_place:
                    continue
                table = fetcher.table(slice_of(number))
                if manifest["shape"] is None and fetcher.shape is not None:
                    manifest["shape"] = list(fetcher.shape)
                    _write_manifest(parts, manifest)
                write_atomically(_part(parts, number), _arrow_of(table))
                bar.update(table.num_rows)
                if after_part is not None:
                    after_part(number)
                _stop_here_for_tests(number)
        described = {"ids_sha256": manifest["ids_sha256"]}
        assembly = _Assembly(parts, count, kinds, _shape(manifest), described)
        counts = assembly.parquet(target) if fmt == "parquet" else assembly.npy(target)
        (parts / "manifest.json").unlink()  # first: parts without it are never resumed
        shutil.rmtree(parts)
    return ExportSummary(
        target,
        table_target,
        *counts,
        shape=_shape(manifest),
        resumed_parts=len(in_place),
        parts=count,
        seconds=time.perf_counter() - started,
    )


def ids_digest(ids: Sequence[str | int]) -> str:
    """SHA-256 of the ids as text, one a line: what tells one list from another on resume."""
    digest = hashlib.sha256()
    for value in ids:
        digest.update(f"{value}\n".encode())
    return digest.hexdigest()


def status_counts(statuses: Sequence[str]) -> tuple[int, int, int, int]:
    """How many statuses say ok, not found, other shape, another failure."""
    ok = not_found = other_shape = failed = 0
    for status in statuses:
        if status.startswith("ok"):
            if "other shape" in status:
                other_shape += 1
            else:
                ok += 1
        elif status.startswith("not found"):
            not_found += 1
        else:
            failed += 1
    return ok, not_found, other_shape, failed


def _manifest_for(parts: Path, wanted: dict[str, Any], restart: bool) -> dict[str, Any]:
    """The run's manifest: an earlier run's with the same ids (its parts kept), else a new one
    (`restart`, or no earlier run); an earlier run of other ids is refused."""
    path = parts / "manifest.json"
    if restart and parts.exists():
        shutil.rmtree(parts)
    if path.exists():
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise BadParameter(
                f"ids: {path} cannot be read ({error}); restart the export (--restart)"
            ) from None
        same = ("version", "ids_sha256", "ids", "by", "kinds")
        differ = [name for name in same if found.get(name) != wanted[name]]
        if wanted["shape"] is not None and found.get("shape") not in (None, wanted["shape"]):
            differ.append("shape")
        if differ and not any(parts.glob("part-*")):  # nothing worth keeping
            return _new_manifest(parts, wanted)
        if differ:
            raise BadParameter(
                f"ids: {parts} holds the parts of an unfinished export of other ids or settings "
                f"({', '.join(differ)} differ); run it again as it was to finish it, or restart "
                "(--restart, restart=True) to drop its parts"
            )
        if found.get("shape") is None and wanted["shape"] is not None:
            found["shape"] = wanted["shape"]
            _write_manifest(parts, found)
        return found
    return _new_manifest(parts, wanted)


def _new_manifest(parts: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """A new run's manifest in an empty `parts` (what was there, parts without a manifest or
    an earlier run's that wrote no part, is not ours to trust)."""
    if parts.exists():
        shutil.rmtree(parts)
    parts.mkdir()
    _write_manifest(parts, wanted)
    return dict(wanted)


def _write_manifest(parts: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1) + "\n"
    write_bytes_atomically(parts / "manifest.json", text.encode())


def _shape(manifest: dict[str, Any]) -> Shape | None:
    shape = manifest.get("shape")
    return None if shape is None else (int(shape[0]), int(shape[1]))


def _part(parts: Path, number: int) -> Path:
    return parts / f"part-{number:06d}.arrow"


def _read_part(parts: Path, number: int) -> pa.Table:
    """A part, memory-mapped (its pages are read as the final file is written)."""
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(_part(parts, number)))).read_all()


def _readable_part(parts: Path, number: int, ids: Sequence[str | int]) -> bool:
    """Whether the part is in place, whole and holds the rows of `ids` (one that does not is
    fetched again)."""
    import pyarrow as pa

    try:
        held = _read_part(parts, number).column("id").to_pylist()
    except (OSError, KeyError, pa.ArrowException):
        return False
    return held == [str(i) for i in ids]


def _arrow_of(table: pa.Table) -> Callable[[BinaryIO], None]:
    """A part's writer: Arrow IPC, uncompressed (read back once, soon, memory-mapped)."""
    import pyarrow as pa

    def write(stream: BinaryIO) -> None:
        with pa.ipc.new_file(stream, table.schema) as writer:
            writer.write_table(table)

    return write


def _not_stamps(table: pa.Table, kinds: Sequence[str]) -> list[str]:
    """The columns worth a dictionary: not the stamps (noise: trying one halves the speed)."""
    return [name for name in table.column_names if name not in kinds]


def _stop_here_for_tests(number: int) -> None:
    import signal

    if os.environ.get(STOP_AFTER_PART) == str(number):
        os.kill(os.getpid(), signal.SIGSTOP)


class _Assembly:
    """The parts read one at a time into the final file(s): each written whole in the parts'
    directory, then renamed to its final name (see the module's text for the order)."""

    def __init__(
        self,
        parts: Path,
        count: int,
        kinds: list[str],
        shape: Shape | None,
        described: dict[str, str],
    ) -> None:
        self.parts, self.count, self.kinds, self.shape = parts, count, kinds, shape
        self.rows = sum(_read_part(parts, number).num_rows for number in range(count))
        self.metadata = {
            "kinds": ",".join(kinds),
            "shape": "" if shape is None else f"{shape[0]}x{shape[1]}",
            "rows": str(self.rows),
            **described,
            "pandas": json.dumps(_PANDAS_METADATA),
        }
        self.counts = [0, 0, 0, 0]

    def parquet(self, target: Path) -> tuple[int, int, int, int, int]:
        """Write the Parquet file `target`; returns the rows and `status_counts`."""
        staged = write_atomically(self.parts / "table.parquet", self._table_writer(True))
        _renamed(staged, target)
        return (self.rows, *self.counts)

    def npy(self, target: Path) -> tuple[int, int, int, int, int]:
        """Write the stamps to `target` and the table to ``target.parquet``, the table last."""
        table_target = target.with_name(f"{target.name}.parquet")
        digest = hashlib.sha256()
        stamps = write_atomically(self.parts / "stamps.npy", self._npy_writer(digest))
        self.metadata |= {
            "npy": target.name,
            "npy_bytes": str(stamps.stat().st_size),
            "npy_sha256": digest.hexdigest(),
        }
        table = write_atomically(self.parts / "table.parquet", self._table_writer(False))
        table_target.unlink(missing_ok=True)  # from here, no table: an unfinished export
        _renamed(stamps, target)
        _renamed(table, table_target)
        return (self.rows, *self.counts)

    def _tables(self, with_stamps: bool) -> Iterator[pa.Table]:
        """Each part, its stamps NaN-filled to the shape (or dropped), statuses counted."""
        for number in range(self.count):
            table = _read_part(self.parts, number)
            if with_stamps:
                table = self._stamps_filled(table)
            else:
                table = table.drop_columns([k for k in self.kinds if k in table.column_names])
            counted = status_counts(table.column("status").to_pylist())
            self.counts = [a + b for a, b in zip(self.counts, counted, strict=True)]
            yield table.replace_schema_metadata(self.metadata)

    def _stamps_filled(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        kinds, shape = self.kinds, self.shape
        if shape is not None:
            table = with_nan_stamps(table, kinds, shape)
            return table.select([n for n in table.column_names if n not in kinds] + kinds)
        nulls = [pa.nulls(table.num_rows, pa.float32()) for _ in kinds]
        table = table.drop_columns([k for k in kinds if k in table.column_names])
        return pa.Table.from_arrays([*table.columns, *nulls], [*table.column_names, *kinds])

    def _table_writer(self, with_stamps: bool) -> Callable[[BinaryIO], None]:
        import pyarrow.parquet as pq

        def write(stream: BinaryIO) -> None:
            writer = None
            for table in self._tables(with_stamps):
                if writer is None:
                    writer = pq.ParquetWriter(
                        stream,
                        table.schema,
                        use_dictionary=_not_stamps(table, self.kinds),
                        compression={
                            name: "none" if name in self.kinds else "snappy"
                            for name in table.column_names
                        },
                    )
                writer.write_table(table)
            if writer is not None:
                writer.close()

        return write

    def _npy_writer(self, digest: Any) -> Callable[[BinaryIO], None]:
        import numpy as np

        def write(stream: BinaryIO) -> None:
            header = io.BytesIO()
            shape = (self.rows, len(self.kinds), *(self.shape or (0, 0)))
            np.lib.format.write_array_header_2_0(
                header, {"descr": "<f4", "fortran_order": False, "shape": shape}
            )
            for data in self._npy_chunks(header.getvalue()):
                digest.update(data)
                stream.write(data)

        return write

    def _npy_chunks(self, header: bytes) -> Iterator[bytes]:
        yield header
        for number in range(self.count):
            table = self._stamps_filled(_read_part(self.parts, number))
            stamps = stamps_of(table, self.kinds, self.shape)
            yield stamps.astype("<f4", copy=False).tobytes()


_PANDAS_METADATA = {
    "index_columns": [],
    "column_indexes": [],
    "columns": [
        {
            "name": "alertId",
            "field_name": "alertId",
            "pandas_type": "int64",
            "numpy_type": "Int64",
            "metadata": None,
        }
    ],
}
"""What pandas reads ``alertId`` as: its nullable ``Int64`` (other columns: pyarrow's default)."""


def _renamed(staged: Path, target: Path) -> None:
    """`staged` renamed to `target` (same filesystem), keeping `target`'s permissions, and the
    rename flushed to disk where the system allows."""
    with suppress(FileNotFoundError):
        os.chmod(staged, target.stat().st_mode & 0o7777)
    os.replace(staged, target)
    try:
        directory = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)
