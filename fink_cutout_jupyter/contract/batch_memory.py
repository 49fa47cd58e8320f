"""The server memory batches hold: each stamp's measured cost, what one request and all the
batches answered at once may hold, and handing the heap's free pages back after a batch."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from fink_cutout_jupyter.errors import ServerBusy

if TYPE_CHECKING:
    from fink_cutout_jupyter.contract.batch import BatchRequest

MB = 1 << 20
# Server memory a stamp of a batch costs while it is answered (decoded stamp, stack, reply),
# measured on 63x63 ZTF stamps with benchmarks/batch_memory.py; and what one request may hold.
STAMP_BYTES = {"arrow": 82_000, "array": 130_000, "FITS": 110_000}
REQUEST_BYTES = 256 * MB
# What all batches answered at once may hold: beyond it a batch is refused, 503 + Retry-After.
BATCH_BUDGET_BYTES = 640 * MB
BUDGET_WAIT_SECONDS = 2.0  # how long a batch waits for others to end before its 503
RETRY_AFTER_SECONDS = ServerBusy.retry_after
# glibc's heap after the first batch, for the whole process (see `give_back_memory`).
MMAP_THRESHOLD = 1 * MB
TRIM_THRESHOLD = 16 * MB
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def batch_bytes(request: BatchRequest) -> int:
    """The server memory a batch is expected to hold while it is answered."""
    return len(request.ids) * len(request.kinds) * STAMP_BYTES[request.fmt]


class MemoryBudget:
    """Bytes of server memory that batches answered at once may hold (process-wide).

    Parameters
    ----------
    limit : int
        Bytes. A reservation beyond it waits up to `wait` seconds for others to end, then
        raises `ServerBusy`.
    """

    def __init__(self, limit: int = BATCH_BUDGET_BYTES, wait: float = BUDGET_WAIT_SECONDS):
        self.limit = limit
        self.wait = wait
        self.held = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int):
        """Hold `nbytes` of the budget while the block runs."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.held + nbytes <= self.limit, self.wait):
                raise ServerBusy(
                    f"the server is answering other batches ({self.held // MB} MB of its "
                    f"{self.limit // MB} MB for batches held); try again in "
                    f"{RETRY_AFTER_SECONDS} s, or ask for fewer ids"
                )
            self.held += nbytes
        try:
            yield
        finally:
            with self._changed:
                self.held -= nbytes
                self._changed.notify_all()


BATCH_MEMORY = MemoryBudget()


def give_back_memory() -> None:
    """Hand the heap's free pages back to the system after a batch (glibc; elsewhere a no-op).

    A batch decodes thousands of stamps of ~20 kB, below glibc's mmap threshold: once freed,
    their pages would stay in the process's heaps (one per thread) unless trimmed. And glibc
    raises that threshold (up to 32 MB) each time a large block is freed, after which the
    stacks and the replies' send buffers land in the heaps too.

    So the first call (and only the first, whichever thread makes it) also fixes glibc's
    ``M_MMAP_THRESHOLD`` at `MMAP_THRESHOLD` and its ``M_TRIM_THRESHOLD`` at `TRIM_THRESHOLD`:
    these are the whole process's settings, not the batch's. In Jupyter that process is the
    Jupyter server, with every other extension in it; in `fink-cutouts serve`, the service.
    Measured with benchmarks/batch_memory.py: the server back within ~100 MB of idle after
    batches, instead of 1.5 GB above it.
    """
    libc = _tuned_glibc()
    if libc:
        libc.malloc_trim(0)


_libc: Any = None  # glibc once tuned, False where there is none
_tuning = threading.Lock()


def _tuned_glibc() -> Any:
    """glibc, its thresholds set by the first call of the process (``False`` elsewhere)."""
    global _libc
    with _tuning:
        if _libc is None:
            import ctypes
            import ctypes.util

            try:
                libc: Any = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                libc.malloc_trim  # noqa: B018 - glibc's, or AttributeError
                libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            except (OSError, AttributeError):
                libc = False
            _libc = libc
    return _libc
