"""What the lake stores, decoded, and why not when it does not decode: the stored bytes' fault
(`CorruptData`, 502) or the filesystem's (`LakeUnavailable`, 503), naming the file.

Shared by both read paths of `CutoutReader`: the stamps' data pages (`reader`) and pyarrow's row
group reads (`row_reads`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence

from fink_cutout_jupyter.cutouts.decode_threads import in_threads
from fink_cutout_jupyter.cutouts.stamps import Stamp, decode_stamp
from fink_cutout_jupyter.errors import CorruptData, CutoutError, LakeUnavailable, NotFound
from fink_cutout_jupyter.locations import FileIdentity
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.surveys import Survey

logger = logging.getLogger(__name__)

_PROBE_CHUNK = 8 << 20


class StoredDecoder:
    """Decodes the stamps a lake stores and judges the failures of reading its files.

    Attributes
    ----------
    corrupt_files : set of str
        Files holding a stamp that did not decode (each logged once).
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.corrupt_files: set[str] = set()
        self._lock = threading.Lock()
        self._readable_but_undecodable: dict[str, tuple[FileIdentity, str]] = {}
        self._probe_lock = threading.Lock()

    def stamp(
        self, kind: str, stored: bytes | None, survey: Survey, alert_id: int, path: str
    ) -> Stamp:
        """The stamp; `NotFound` if the row has none, `CorruptData` naming the alert, the kind
        and the file if it does not decode (logged once per file)."""
        if stored is None:
            raise NotFound(f"alert {alert_id} has no {kind} stamp")
        try:
            return decode_stamp(kind, stored, survey.gzipped)
        except CorruptData as error:
            with self._lock:
                first = path not in self.corrupt_files
                self.corrupt_files.add(path)
            if first:
                logger.error("corrupt stamp in %s (alert %s, %s): %s", path, alert_id, kind, error)
            raise CorruptData(
                f"kind: the {kind} stamp of alert {alert_id} in {path} is corrupt ({error}); "
                "ask for the other kinds one by one"
            ) from None

    def stamps(
        self, stored: Sequence[tuple[str, bytes | None, Survey, int, str]]
    ) -> list[Stamp | CutoutError]:
        """`stamp` of each (kind, stored bytes, survey, alert id, path), or the error it
        raises, in order: decoded on every core when there are many (`in_threads`)."""

        def decoded(job: tuple[str, bytes | None, Survey, int, str]) -> Stamp | CutoutError:
            try:
                return self.stamp(*job)
            except CutoutError as error:
                return error

        return in_threads(decoded, stored)

    @contextlib.contextmanager
    def judging(self, path: str) -> Iterator[None]:
        """Tell stored bytes that do not decode (`CorruptData`, 502) from a filesystem that
        fails to serve them (`LakeUnavailable`, 503: worth retrying), both naming the file.

        pyarrow raises OSError for both: Parquet's own decoding errors (a garbage page header)
        carry no errno, while a failed read does on a local lake and on HDFS (a missing block, a
        DataNode down: the NameNode still answers a stat). An S3 error carries none either, so
        an OSError without errno is judged by reading the whole file through the filesystem
        once and decoding it from memory: the bytes are what is wrong only if every byte reads
        and does not decode. Errors other than OSError (pyarrow's ArrowInvalid and kin) are
        decoding failures.
        """
        import pyarrow as pa

        try:
            yield
        except CutoutError:
            raise
        except (OSError, pa.ArrowException) as error:
            text = self.lake.scrub(str(error)).strip().replace("\n", " ")
            if isinstance(error, OSError) and (error.errno or not self._reads_whole(path, text)):
                raise LakeUnavailable(
                    f"the lake's filesystem failed reading hdfsPath: {path} ({text})"
                ) from None
            try:
                self.lake.identity(path)
            except (OSError, CutoutError):
                raise error from None
            raise CorruptData(f"hdfsPath: {path} does not decode as Parquet ({text})") from None

    def _reads_whole(self, path: str, failure: str) -> bool:
        """Whether every byte of `path` reads and those bytes do not decode (in memory, where a
        failure can only be the bytes'): remembered per file identity and failure text."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self._probe_lock:  # one file in memory at a time
            try:
                identity = self.lake.identity(path)
                if self._readable_but_undecodable.get(path) == (identity, failure):
                    return True
                with self.lake.open(path) as source:
                    data = b"".join(iter(lambda: source.read(_PROBE_CHUNK), b""))
            except (OSError, CutoutError):
                return False
            try:
                for _ in pq.ParquetFile(pa.BufferReader(data)).iter_batches(batch_size=64):
                    pass
            except (OSError, pa.ArrowException):
                self._readable_but_undecodable[path] = (identity, failure)
                return True
            return False  # the stored bytes decode: the failure was the filesystem's
