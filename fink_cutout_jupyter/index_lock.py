"""The alert index's writer lock: one writer at a time per index, on any lake filesystem.

``<index root>/writer.lock`` names its holder: a random token, host, pid, start time, command.

- Local filesystem: the lock is created exclusively (written aside, then hard-linked to its
  name), which is atomic: of two writers, one gets it.
- HDFS and S3: pyarrow has no exclusive create there (on HDFS its move and its create both
  replace an existing file, checked against a real NameNode; S3 has no conditional write through
  pyarrow), so the lock is best effort: look for one, write ours, wait `SETTLE_SECONDS`, read it
  back; the last writer of the lock keeps it, the others see another token and stand back.

Two writers that get past the lock anyway (a race on HDFS/S3, a lock broken while its holder
ran) are caught when publishing: a writer checks that the lock still holds its token and that
``layout.json`` is still the one it started from, and refuses to publish otherwise
(`index_writes.WriteSession`), so no writer publishes over another's nights.

A lock is stale when its holder ran on this host and its pid is gone, or when it is older than
`max_age` (a holder on another host that died): the next writer breaks it, with a warning.
``fink-cutouts index unlock`` breaks it by hand (only when its holder is known to be gone).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass

from .errors import IndexBusy, NotFound
from .lake import Lake

LOCK = "writer.lock"
DEFAULT_MAX_AGE = 24 * 3600.0
SETTLE_SECONDS = 1.0
POLL_SECONDS = 0.2
UNLOCK_COMMAND = "fink-cutouts index unlock --lake LAKE [--index ROOT]"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the lock."""

    token: str
    host: str
    pid: int
    started: float
    command: str

    @classmethod
    def me(cls, command: str) -> Holder:
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid(), time.time(), command)

    @classmethod
    def from_bytes(cls, data: bytes) -> Holder:
        """The holder a lock file names (a lock that names none is its own, stale, holder)."""
        try:
            fields = json.loads(data)
            return cls(**{name: fields[name] for name in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError):
            return cls("", "?", -1, 0.0, f"unreadable lock ({len(data)} bytes)")

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def __str__(self) -> str:
        since = dt.datetime.fromtimestamp(self.started, dt.UTC).isoformat(timespec="seconds")
        return f"{self.command!r} (pid {self.pid} on host {self.host}, since {since})"

    def stale(self, max_age: float) -> str | None:
        """Why the lock can be broken, or None while its holder may be running."""
        if self.host == socket.gethostname() and not _alive(self.pid):
            return f"its process {self.pid} is gone"
        age = time.time() - self.started
        if age > max_age:
            return f"it is {age / 3600:.1f} h old, more than {max_age / 3600:.1f} h"
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class WriterLock:
    """Hold an index's writer lock (a context manager).

    Parameters
    ----------
    store : Lake
        The index root.
    command : str
        What the holder does, shown to the writers it keeps out.
    wait : float
        Seconds to wait for a held lock before refusing (`IndexBusy`).
    max_age : float
        Seconds after which a lock whose holder cannot be checked is stale.
    settle : float
        Seconds between writing the lock and reading it back where creating it is not atomic.
    """

    def __init__(
        self,
        store: Lake,
        command: str = "",
        wait: float = 0.0,
        max_age: float = DEFAULT_MAX_AGE,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self.store = store
        self.me = Holder.me(command or " ".join(sys.argv) or "python")
        self.wait = wait
        self.max_age = max_age
        self.settle = settle

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *_) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, waiting up to `wait` seconds (`IndexBusy` naming its holder)."""
        deadline = time.monotonic() + self.wait
        while (other := self._try()) is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise IndexBusy(
                    f"index: another writer holds {where(self.store)}: {other}; wait for "
                    f"it (--wait SECONDS), or if it is gone: {UNLOCK_COMMAND}"
                )
            time.sleep(min(POLL_SECONDS, left))

    def _try(self) -> Holder | None:
        """Take the lock if free or stale; else the holder."""
        current = holder(self.store)
        if current is not None:
            reason = current.stale(self.max_age)
            if reason is None:
                return current
            logger.warning("breaking the index's writer lock of %s: %s", current, reason)
            if holder(self.store) == current:
                self.store.delete(LOCK)
        if not self.store.create_exclusively(LOCK, self.me.to_bytes()):
            return holder(self.store) or self.me  # gone again: try again
        if not self.store.atomic_create:
            time.sleep(self.settle)
            current = holder(self.store)
            if current != self.me:
                return current or self.me
        return None

    def check(self) -> None:
        """Refuse (`IndexBusy`) if the lock is no longer ours (broken while we ran)."""
        current = holder(self.store)
        if current != self.me:
            taken = f"is now held by {current}" if current else "was removed"
            raise IndexBusy(
                f"index: the writer lock {where(self.store)} of this writer {taken}; "
                "nothing more of this run is published: run it again"
            )

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if holder(self.store) == self.me:
            self.store.delete(LOCK)


def abandoned_lock_file(name: str, mtime: float) -> bool:
    """Whether `name` is a temporary lock file of a writer that died while writing it (its
    pid gone, or older than a minute: the file lives a few milliseconds)."""
    match = re.fullmatch(rf"{re.escape(LOCK)}\.tmp-(\d+)-\d+", name)
    return bool(match) and (not _alive(int(match[1])) or time.time() - mtime > 60)


def where(store: Lake, name: str = LOCK) -> str:
    """A file of the index for a message: its path on the filesystem (a URI may hold keys)."""
    return store.resolve(name)


def holder(store: Lake) -> Holder | None:
    """Who holds the index's writer lock, if anyone (looked for first: on HDFS, opening a
    missing file logs a Java stack trace)."""
    if not store.exists(LOCK):
        return None
    try:
        return Holder.from_bytes(store.read_small(LOCK))
    except NotFound:
        return None


def break_lock(store: Lake) -> Holder | None:
    """Remove the writer lock whoever holds it; who held it."""
    current = holder(store)
    store.delete(LOCK)
    return current
