"""Remote lakes: each file's identity kept a second, its handle kept open, pages read at once.

On HDFS and S3 a request spent more time around its reads than in them: the file's identity (a
NameNode ``getfileinfo``, an S3 ``HEAD``), opening the file (``getBlockLocations``, another
``HEAD``), then its pages one after the other. Here a file's identity is reused for
`IDENTITY_SECONDS`, its handle stays open (an LRU of `CAPACITY` files) and is shared by the
request threads through positional reads, and an alert's pages (its id, its stamps) are fetched
concurrently.

What is served stays proven: every read still checks, in the same row, that the stored alert id
is the requested one, and that each page is where the index says (its header's length). A file
rewritten within the second keeps being read through the handle opened before (HDFS and S3 serve
the version opened); the id check holds for it, and the next identity check drops the handle.

Local lakes are unchanged: a stat (30 µs) and an open per request cost less than the sharing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fink_cutout_jupyter import metrics

if TYPE_CHECKING:
    import pyarrow as pa

    from fink_cutout_jupyter.locations import FileIdentity
    from fink_cutout_jupyter.storage.lake import Lake

IDENTITY_SECONDS = 1.0
CAPACITY = 64
FETCH_THREADS = 8
_fetcher: ThreadPoolExecutor | None = None
_fetcher_lock = threading.Lock()


class SharedFile:
    """An open remote file read by positional reads only, so that threads can share it."""

    def __init__(self, file: pa.NativeFile) -> None:
        self.file = file

    def read(self, offset: int, length: int) -> memoryview:
        data = self.file.read_at(length, offset)
        metrics.add("lake_bytes_read", len(data))
        return memoryview(data)


@dataclass
class _Entry:
    identity: FileIdentity
    checked: float
    shared: SharedFile | None = None
    users: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class OpenFiles:
    """Identities and open handles of a lake's files (see the module's docstring)."""

    def __init__(self, lake: Lake, capacity: int = CAPACITY) -> None:
        self.lake = lake
        self.capacity = capacity
        self.opened = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def identity(self, path: str) -> FileIdentity:
        """The file's `FileIdentity`: checked at most every `IDENTITY_SECONDS` (remote lakes)."""
        if self.lake.is_local:
            return self.lake.identity(path)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and now - entry.checked < IDENTITY_SECONDS:
                self._entries.move_to_end(path)
                return entry.identity
        identity = self.lake.identity(path)
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and entry.identity == identity:
                entry.checked = now
            else:
                if entry is not None:
                    self._retire(path)
                self._entries[path] = _Entry(identity, now)
                self._evict()
        return identity

    @contextlib.contextmanager
    def reading(self, path: str, identity: FileIdentity):
        """A source to read the file's pages: the shared handle (remote) or a fresh file."""
        if self.lake.is_local:
            with self.lake.open(path) as source:
                yield source
            return
        entry = self._entry(path, identity)
        try:
            with entry.lock:
                if entry.shared is None:
                    entry.shared = SharedFile(self.lake.open(path))
                    self.opened += 1
            yield entry.shared
        except OSError:
            self.forget(path)
            raise
        finally:
            self._leave(entry)

    def forget(self, path: str) -> None:
        """Drop what is kept of a file (after a failed read: reopened next time)."""
        with self._lock:
            if path in self._entries:
                self._retire(path)

    def close(self) -> None:
        """Close every handle nobody is reading (the others close when their reads end)."""
        with self._lock:
            for path in list(self._entries):
                self._retire(path)

    def _entry(self, path: str, identity: FileIdentity) -> _Entry:
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry.identity != identity:
                if entry is not None:
                    self._retire(path)
                entry = self._entries[path] = _Entry(identity, time.monotonic())
                self._evict()
            entry.users += 1
            return entry

    def _leave(self, entry: _Entry) -> None:
        with self._lock:
            entry.users -= 1
            close = entry.retired and entry.users == 0
        if close:
            _close(entry)

    def _retire(self, path: str) -> None:
        entry = self._entries.pop(path)
        entry.retired = True
        if entry.users == 0:
            _close(entry)

    def _evict(self) -> None:
        while len(self._entries) > self.capacity:
            self._retire(next(iter(self._entries)))


def _close(entry: _Entry) -> None:
    if entry.shared is not None:
        with contextlib.suppress(OSError):
            entry.shared.file.close()
        entry.shared = None


def fetch_pages(source: SharedFile, spans: list[tuple[int, int]]) -> list[memoryview]:
    """Several byte ranges of a shared remote file, read concurrently."""
    global _fetcher
    if len(spans) == 1:
        return [source.read(*spans[0])]
    with _fetcher_lock:
        if _fetcher is None:
            _fetcher = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="fink-fetch")
    return list(_fetcher.map(lambda span: source.read(*span), spans))
