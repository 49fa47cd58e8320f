"""``OUT.lock``: one exporter of a file at a time, across processes and threads.

The lock file is made whole under a unique temporary name (the holder's pid written, the file
flocked) and hard-linked under the lock's name, which fails if a lock is there: there is never a
lock file without its pid or its flock. A lock whose holder is gone (its flock released) is taken
over; a live holder's is refused with `ExportBusy`, naming its pid.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fink_cutout_jupyter.errors import CutoutError


class ExportBusy(CutoutError):
    """Another process is exporting to the same file (HTTP-style status 409)."""

    status = 409


class ExportLock:
    """``OUT.lock``: one exporter of a file at a time (see the module's text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.descriptor: int | None = None

    def __enter__(self) -> ExportLock:
        for _ in range(5):
            descriptor = self._created()
            if descriptor is None:
                descriptor = self._taken_over()
            if descriptor is not None:
                self.descriptor = descriptor
                return self
        raise ExportBusy(f"out: {self.path} keeps changing hands; another export runs")

    def __exit__(self, *_exc: object) -> None:
        if self.descriptor is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.descriptor)
            self.descriptor = None

    def _created(self) -> int | None:
        """A new lock: a file of its own (a unique name, for each call of each thread) with our
        pid, locked, then linked under the lock's name (which fails if a lock is there): never
        a lock file without its pid or its flock."""
        descriptor, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f"{self.path.name}.", suffix=".tmp"
        )
        try:
            os.fchmod(descriptor, 0o644)
            _flock(descriptor, blocking=False)  # nobody else has this file: never refused
            os.write(descriptor, f"{os.getpid()}\n".encode())
            os.link(temporary, self.path)
        except FileExistsError:
            os.close(descriptor)
            return None
        except BaseException:
            os.close(descriptor)
            raise
        finally:
            os.unlink(temporary)
        return descriptor

    def _taken_over(self) -> int | None:
        """The lock in place, if its holder is gone (its flock released), else `ExportBusy`
        naming it; None when it changed meanwhile (try again)."""
        try:
            descriptor = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            holder = os.read(descriptor, 64).decode(errors="replace").strip() or "unknown"
            if not _flock(descriptor, blocking=False) or _alive_without_flock(holder):
                raise ExportBusy(
                    f"out: another export writes it (process {holder}, lock {self.path}); "
                    "wait for it to end (a dead process's lock is taken over)"
                )
            if os.fstat(descriptor).st_ino != os.stat(self.path).st_ino:
                os.close(descriptor)
                return None
        except FileNotFoundError:
            os.close(descriptor)
            return None
        except BaseException:
            os.close(descriptor)
            raise
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        return descriptor


def _flock(descriptor: int, blocking: bool) -> bool:
    """Lock `descriptor` (flock); False if another holds it and not `blocking`. Without
    ``fcntl`` (Windows), nothing is locked and the pid alone is judged."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _alive_without_flock(holder: str) -> bool:
    """Where flock exists it says whether the holder lives; elsewhere, its pid does."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        pass
    else:
        return False
    if not holder.isdigit():
        return False
    try:
        os.kill(int(holder), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return int(holder) != os.getpid()
