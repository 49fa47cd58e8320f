"""The alert index's writer lock: one writer at a time per index, on any lake filesystem.

``<index root>/writer.lock`` names its holder: a random token, host, pid, start time, command.
The same machinery holds other locks of the index under other names (``name``): the follower's
``follower.lock`` (`FOLLOWER_LOCK`, one follower per index, `follow`).

- Local filesystem: the lock is created exclusively (written aside, then hard-linked to its
  name), which is atomic: of two writers, one gets it.
- HDFS and S3: pyarrow has no exclusive create there (on HDFS its move and its create both
  replace an existing file, checked against a real NameNode; S3 has no conditional write through
  pyarrow), so the lock is best effort: look for one, write ours, wait `SETTLE_SECONDS`, read it
  back; the last writer of the lock keeps it, the others see another token and stand back.

Two writers that get past the lock anyway (a race on HDFS/S3, a lock broken while its holder
ran) are caught when publishing: a writer checks that the lock still holds its token and that
``layout.json`` is still the one it started from, and refuses to publish otherwise
(`writes.WriteSession`), so no writer publishes over another's nights.

The holder refreshes its lock every `HEARTBEAT_SECONDS` (a daemon thread). A lock is stale when
its holder ran on this host and its pid is gone, or when it was not refreshed for
`STALE_HEARTBEATS` heartbeats (a holder on another host that died or hangs): the next writer
breaks it, with a warning, by moving it aside to a name of its own (of two writers breaking it
at once, one moves it) and checking that what it moved is the stale lock it read.
``fink-cutouts index unlock`` breaks it by hand (only when its holder is known to be dead).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace

from fink_cutout_jupyter.errors import IndexBusy
from fink_cutout_jupyter.storage.lake import Lake

LOCK = "writer.lock"
FOLLOWER_LOCK = "follower.lock"
LOCK_NAMES = (LOCK, FOLLOWER_LOCK)  # every lock of an index (their abandoned files are garbage)
HEARTBEAT_SECONDS = 60.0
STALE_HEARTBEATS = 10
SETTLE_SECONDS = 1.0
POLL_SECONDS = 0.2
UNLOCK_COMMAND = "fink-cutouts index unlock --lake LAKE [--index ROOT]"
_NUMBER = (int, float)
_TYPES: dict[str, type | tuple[type, ...]] = {
    "token": str,
    "host": str,
    "pid": int,
    "started": _NUMBER,
    "command": str,
}
_TYPES["refreshed"] = _NUMBER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the lock."""

    token: str
    host: str
    pid: int
    started: float
    command: str
    refreshed: float = field(default=0.0, compare=False)  # last heartbeat (0: none yet)

    @classmethod
    def me(cls, command: str) -> Holder:
        now = time.time()
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid(), now, command, now)

    @classmethod
    def from_bytes(cls, data: bytes, where: str = LOCK) -> Holder:
        """The holder a lock file names (a lock that names none, or with fields of the wrong
        types, is its own, stale, holder: "unreadable lock <where>")."""
        try:
            fields = json.loads(data)
            fields.setdefault("refreshed", fields["started"])  # a lock of an older version
            if not all(
                isinstance(fields[name], kind) and not isinstance(fields[name], bool)
                for name, kind in _TYPES.items()
            ):
                raise TypeError("a field of the wrong type")
            return cls(**{name: fields[name] for name in _TYPES})
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls("", "?", -1, 0.0, f"unreadable lock {where} ({len(data)} bytes)")

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def __str__(self) -> str:
        since = dt.datetime.fromtimestamp(self.started, dt.UTC).isoformat(timespec="seconds")
        return f"{self.command!r} (pid {self.pid} on host {self.host}, since {since})"

    def stale(self, stale_after: float) -> str | None:
        """Why the lock can be broken, or None while its holder may be running (its pid is
        alive on this host and it refreshed its lock less than `stale_after` seconds ago)."""
        if self.host == socket.gethostname() and not _alive(self.pid):
            return f"its process {self.pid} is gone"
        silent = time.time() - max(self.started, self.refreshed)
        if silent > stale_after:
            return f"it was not refreshed for {silent:.0f} s, more than {stale_after:.0f} s"
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
    """Hold an index's writer lock (a context manager), refreshing it while held.

    Parameters
    ----------
    store : Lake
        The index root.
    command : str
        What the holder does, shown to the writers it keeps out.
    wait : float
        Seconds to wait for a held lock before refusing (`IndexBusy`).
    heartbeat : float
        Seconds between two refreshes of the held lock; a lock not refreshed for
        `STALE_HEARTBEATS` times this is stale.
    settle : float
        Seconds between writing the lock and reading it back where creating it is not atomic.
    name : str
        The lock file in the index root: `LOCK` (the writer lock) or another lock held the same
        way (`FOLLOWER_LOCK`).
    """

    def __init__(
        self,
        store: Lake,
        command: str = "",
        wait: float = 0.0,
        heartbeat: float = HEARTBEAT_SECONDS,
        settle: float = SETTLE_SECONDS,
        name: str = LOCK,
    ) -> None:
        self.store = store
        self.name = name
        self.me = Holder.me(command or " ".join(sys.argv) or "python")
        self.wait = wait
        self.heartbeat = heartbeat
        self.settle = settle
        self._released = threading.Event()
        self._beating: threading.Thread | None = None

    @property
    def stale_after(self) -> float:
        """Seconds without a refresh after which another host's lock is stale."""
        return STALE_HEARTBEATS * self.heartbeat

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
                if self.name != LOCK:
                    raise IndexBusy(
                        f"index: {where(self.store, self.name)} is held by {other}; a lock "
                        "whose holder died is broken once stale (its process gone on this "
                        f"host, or not refreshed for {self.stale_after:.0f} s)"
                    )
                raise IndexBusy(
                    f"index: another writer holds {where(self.store)}: {other}; wait for "
                    f"it (--wait SECONDS); only if that holder is dead: {UNLOCK_COMMAND}"
                )
            time.sleep(min(POLL_SECONDS, left))
        self._released.clear()
        self._beating = threading.Thread(
            target=self._beat_until_released, name=f"index-lock-heartbeat-{self.name}", daemon=True
        )
        self._beating.start()

    def _try(self) -> Holder | None:
        """Take the lock if free or stale; else the holder."""
        data = self.store.read_if_exists(self.name)
        if data is not None:
            current = Holder.from_bytes(data, where(self.store, self.name))
            reason = current.stale(self.stale_after)
            if reason is None:
                return current
            if not self._break(data, current, reason):
                return self._holder() or self.me  # another writer broke it: try again
        if not self.store.create_exclusively(self.name, self.me.to_bytes()):
            return self._holder() or self.me  # gone again: try again
        if not self.store.atomic_create:
            time.sleep(self.settle)
            settled = self._holder()
            if settled != self.me:
                return settled or self.me
        return None

    def _break(self, data: bytes, stale: Holder, reason: str) -> bool:
        """Move the stale lock (`data`) aside to a name of ours; whether it was that lock.

        Of two writers breaking it at once, only one moves it (the other finds it gone); a lock
        that was replaced since it was read (a writer took over) is put back."""
        aside = f"{self.name}.broken-{self.me.token}"
        if not self.store.move_aside(self.name, aside):
            return False
        moved = self.store.read_if_exists(aside)
        if moved != data:  # a live lock, written since: give it back
            if moved is not None:
                self.store.create_exclusively(self.name, moved)
            self.store.delete(aside)
            return False
        logger.warning(
            "breaking the index's lock %s of %s: %s", where(self.store, self.name), stale, reason
        )
        self.store.delete(aside)
        return True

    def beat(self) -> None:
        """Refresh the lock if it is still ours (what the heartbeat thread does)."""
        if self._holder() == self.me:
            refreshed = replace(self.me, refreshed=time.time())
            self.store.write_atomically(self.name, refreshed.to_bytes())

    def _beat_until_released(self) -> None:
        while not self._released.wait(self.heartbeat):
            try:
                self.beat()
            except Exception as error:  # a failed beat is retried at the next
                logger.warning("could not refresh the index's lock %s: %s", self.name, error)

    def check(self) -> None:
        """Refuse (`IndexBusy`) if the lock is no longer ours (broken while we ran)."""
        current = self._holder()
        if current != self.me:
            taken = f"is now held by {current}" if current else "was removed"
            raise IndexBusy(
                f"index: the {'writer ' if self.name == LOCK else ''}lock "
                f"{where(self.store, self.name)} of this writer {taken}; "
                "nothing more of this run is published: run it again"
            )

    def release(self) -> None:
        """Stop refreshing the lock and remove it if it is still ours."""
        self._released.set()
        if self._beating is not None:
            self._beating.join()
            self._beating = None
        if self._holder() == self.me:
            self.store.delete(self.name)

    def _holder(self) -> Holder | None:
        return holder(self.store, self.name)


def abandoned_lock_file(name: str, mtime: float) -> bool:
    """Whether `name` is a temporary lock file of a writer that died while writing it (its
    pid gone, or older than a minute: the file lives a few milliseconds), or a lock a writer
    moved aside to break it and died before deleting (older than a minute)."""
    locks = "|".join(map(re.escape, LOCK_NAMES))
    if re.fullmatch(rf"(?:{locks})\.broken-[0-9a-f]+", name):
        return time.time() - mtime > 60
    match = re.fullmatch(rf"(?:{locks})\.tmp-(\d+)-\d+", name)
    return match is not None and (not _alive(int(match[1])) or time.time() - mtime > 60)


def where(store: Lake, name: str = LOCK) -> str:
    """A file of the index for a message: its path on the filesystem (a URI may hold keys)."""
    return store.resolve(name)


def holder(store: Lake, name: str = LOCK) -> Holder | None:
    """Who holds the index's writer lock (or its lock `name`), if anyone (looked for first: on
    HDFS, opening a missing file logs a Java stack trace)."""
    data = store.read_if_exists(name)
    return None if data is None else Holder.from_bytes(data, where(store, name))


def break_lock(store: Lake, force: bool = False) -> Holder | None:
    """Remove the writer lock; who held it.

    Raises
    ------
    IndexBusy
        Without `force`, when its holder is a live process of this host."""
    current = holder(store)
    here = current is not None and current.host == socket.gethostname()
    if current is not None and here and not force and _alive(current.pid):
        raise IndexBusy(
            f"index: the writer lock {where(store)} is held by {current}, which is running "
            "on this host: let it finish (or stop it); --force breaks the lock anyway"
        )
    store.delete(LOCK)
    return current
