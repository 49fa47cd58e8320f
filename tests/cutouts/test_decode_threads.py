"""Many stamps decoded on every core: in order, in threads only when there are many."""

import threading

from fink_cutout_jupyter.cutouts import decode_threads
from fink_cutout_jupyter.cutouts.decode_threads import CHUNK_STAMPS, in_threads


def test_a_few_items_are_computed_where_they_are():
    names = in_threads(lambda _: threading.current_thread().name, list(range(CHUNK_STAMPS)))
    assert set(names) == {threading.current_thread().name}


def test_many_items_are_computed_in_threads_and_kept_in_order(monkeypatch):
    monkeypatch.setattr(decode_threads, "DECODE_THREADS", 2)
    items = list(range(10 * CHUNK_STAMPS + 3))
    seen = []

    def square(item):
        seen.append(threading.current_thread().name)
        return item * item

    assert in_threads(square, items) == [item * item for item in items]
    assert all(name.startswith("fink-decode") for name in seen)


def test_one_core_computes_in_place(monkeypatch):
    monkeypatch.setattr(decode_threads, "DECODE_THREADS", 1)
    names = in_threads(lambda _: threading.current_thread().name, list(range(5 * CHUNK_STAMPS)))
    assert set(names) == {threading.current_thread().name}


def test_work_handed_out_from_a_pool_thread_is_done_there(monkeypatch):
    """A function run in the pool that hands out work again would wait on its own pool."""
    monkeypatch.setattr(decode_threads, "DECODE_THREADS", 2)
    inner = list(range(3 * CHUNK_STAMPS))

    def nested(_):
        return sum(in_threads(lambda item: item, inner))

    assert in_threads(nested, list(range(4 * CHUNK_STAMPS))) == [sum(inner)] * 4 * CHUNK_STAMPS
