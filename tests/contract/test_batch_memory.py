"""The server memory batches hold: the budget shared by batches answered at once, and glibc's
heap tuned once for the whole process (seen through glibc's own `mallinfo2`)."""

import json
import subprocess
import sys
import threading

import pytest

from fink_cutout_jupyter.contract.batch_memory import MemoryBudget
from fink_cutout_jupyter.errors import ServerBusy

# Run in a process of its own: glibc's thresholds are the whole process's.
HEAP_SCRIPT = """
import ctypes, json
from fink_cutout_jupyter.contract import batch_memory

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in names]
libc.mallinfo2.restype = Info

def mapped(size):
    '''Whether glibc gives a block of `size` bytes its own mapping (above its mmap threshold).'''
    before = libc.mallinfo2().hblks
    block = libc.malloc(size)
    during = libc.mallinfo2().hblks
    libc.free(block)
    return during - before == 1

seen = {}
libc.free(libc.malloc(8 << 20))  # glibc's own rule: the threshold rises to a freed 8 MB block
seen["untuned"] = mapped(2 << 20)
threads = [threading.Thread(target=batch_memory.give_back_memory) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
seen["tuned"] = mapped(2 << 20)
libc.free(libc.malloc(8 << 20))
seen["tuned, after a large block"] = mapped(2 << 20)
libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: the process's own choice, made later
batch_memory.give_back_memory()
seen["the process's later choice kept"] = not mapped(2 << 20)
print(json.dumps(seen))
""".replace("import ctypes, json", "import ctypes, json, threading")


def test_glibcs_thresholds_are_fixed_on_the_first_batch_for_the_process_and_only_then():
    done = subprocess.run(
        [sys.executable, "-c", HEAP_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "untuned": False,
        "tuned": True,
        "tuned, after a large block": True,
        "the process's later choice kept": True,
    }


def test_a_reservation_waits_for_another_to_end_then_is_refused_with_retry_after():
    budget = MemoryBudget(limit=100, wait=30)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with budget.reserve(60):
            holding.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(timeout=30)
    got = threading.Event()

    def reserve() -> None:
        with budget.reserve(50):
            got.set()

    waiter = threading.Thread(target=reserve)
    waiter.start()
    assert not got.wait(timeout=0.2), "60 + 50 held would pass the limit of 100"
    release.set()
    assert got.wait(timeout=30)
    holder.join(timeout=30)
    waiter.join(timeout=30)
    assert budget.held == 0
    budget.wait = 0.01
    with (
        budget.reserve(100),
        pytest.raises(ServerBusy, match="try again in 2 s") as refused,
        budget.reserve(1),
    ):
        pass
    assert (refused.value.status, refused.value.retry_after) == (503, 2)
    assert budget.held == 0
