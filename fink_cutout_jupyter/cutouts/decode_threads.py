"""Many stamps decoded on every core: gunzip and the pixels' byte swap run in threads.

isal's (and zlib's) decompression and numpy's copies release the GIL, so a batch's stamps,
handed to a few threads in chunks, decode on all cores of the process; a handful of stamps
(a single alert's three) are decoded where they are, a thread's hand-over costing more than
the work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

DECODE_THREADS = min(8, os.cpu_count() or 1)
CHUNK_STAMPS = 64  # a chunk's decoding (~2 ms) dwarfs its hand-over to a thread (~20 µs)

_PREFIX = "fink-decode"
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def in_threads(
    function: Callable[[Item], Result], items: Sequence[Item], chunk: int = CHUNK_STAMPS
) -> list[Result]:
    """``[function(item) for item in items]``, computed `chunk` items at a time on
    `DECODE_THREADS` threads when there are at least two chunks (in order; `function` must not
    raise)."""
    nested = threading.current_thread().name.startswith(_PREFIX)  # waiting on its own pool
    if DECODE_THREADS < 2 or len(items) < 2 * chunk or nested:
        return [function(item) for item in items]
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    results: list[Result] = []
    for part in _threads().map(lambda some: [function(item) for item in some], chunks):
        results += part
    return results


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix=_PREFIX)
        return _pool
