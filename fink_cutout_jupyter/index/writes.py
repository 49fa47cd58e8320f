"""Writing the alert index, one writer at a time: files first, the layout last.

Every write follows the same rule: write the new files under names no file has had
(`write_new`), publish the layout that names them (`WriteSession.publish`), then delete the
files the layout no longer names. A reader sees the index before or after a write, never half
of it. What is written: a night's delta and tier merges (`deltas`), a base generation
(`compaction`, `spark`), the manifests (`manifests`).

One writer at a time per index: every write runs in a `WriteSession` (`writing`), which holds
the index's writer lock (`lock`) and, just before publishing, checks that the lock is
still its own and that ``layout.json`` is byte for byte the one it started from (compare and
swap): a writer that got past the lock (best effort on HDFS and S3) refuses to publish rather
than lose another's nights. A session starts by deleting what the published layout does not
name (`sweep`): the files of a writer killed or refused before publishing. ``--rebuild``
(``rebuild=True``) writes a whole new index beside the published one, publishes it in one
write, and only then deletes the old one; `remove` deletes the whole index.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fink_cutout_jupyter.errors import IndexBusy, IndexDamaged
from fink_cutout_jupyter.index.entries import TABLES
from fink_cutout_jupyter.index.layout import (
    BASE_NAME,
    INDEX_FORMAT,
    LAYOUT,
    READABLE_FORMATS,
    base_file,
    base_sizes_file,
    counted_manifest,
    delta_paths,
    free_numbers,
    layout_bytes,
    new_layout,
    parse_layout,
    read_layout_bytes,
)
from fink_cutout_jupyter.index.lock import WriterLock, abandoned_lock_file, where
from fink_cutout_jupyter.surveys import DEFAULT_SURVEY

if TYPE_CHECKING:
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake


class WriteSession:
    """A writer's hold on the index: its lock, the layout it started from, the one it writes.

    Made by `writing`; every function that writes to the index (`deltas`, `compaction`,
    `spark`, `remove`) runs in one. New base generations and orders (of deltas and manifests)
    come after every one on the filesystem (`layout.free_numbers`): a name is never given to
    other contents, so a server that keeps an index file open by name never reads another
    one's bytes through it.
    """

    def __init__(self, index: AlertIndex, lock: WriterLock, rebuild: bool) -> None:
        self.index = index
        self.lock = lock
        self.rebuild = rebuild
        self.published_bytes = read_layout_bytes(index.store)
        published = None
        try:
            if self.published_bytes is not None:
                published = parse_layout(self.published_bytes, check=False)
        except IndexDamaged:
            if not rebuild:
                raise
        ours = published is not None and published.get("format") in READABLE_FORMATS
        self.next_generation, self.start_order = free_numbers(
            index.store, published if ours else None
        )
        lock.check()  # a writer whose lock was broken while it waited sweeps nothing
        if ours or self.published_bytes is None:
            sweep(index.store, published)  # what a killed or refused writer left
        elif rebuild:  # a damaged index, or of another format: it serves nothing anyway
            sweep(index.store, None)
        self.layout = published
        self.replaced = published if rebuild and ours else None
        if rebuild:
            self.layout = None  # a whole new index, published at `finish`

    def claim_generation(self) -> int:
        """The new base generation this writer writes, claimed by creating a file in its
        directory under a name no file has (`write_new`): of two writers past the lock that
        picked the same number, one is refused before writing a bucket (one whose buckets are
        written by replacing files, as Spark's retried tasks do, would otherwise mix them)."""
        generation = self.next_generation
        write_new(self.index.store, claim_file(generation), self.lock.me.to_bytes())
        return generation

    def working(self) -> dict | None:
        """A copy of the layout being written (None: no index yet)."""
        return json.loads(json.dumps(self.layout)) if self.layout is not None else None

    def new_layout(self, survey: str) -> dict:
        """An empty layout whose files and manifests come after every one written before."""
        return new_layout(survey, self.start_order, self.next_generation)

    def commit(self, layout: dict, garbage: list[str]) -> None:
        """Publish `layout` (deferred in a rebuild), then delete `garbage`, files it no longer
        names."""
        self.layout = json.loads(json.dumps(layout))
        if not self.rebuild:
            self.publish(layout)
        for relative in garbage:  # in a rebuild: files never published
            self.index.store.delete(relative)

    def publish(self, layout: dict) -> None:
        """Write `layout` as ``layout.json`` if the index is still as this writer found it."""
        self.lock.check()
        if read_layout_bytes(self.index.store) != self.published_bytes:
            raise IndexBusy(
                f"index: another writer published {where(self.index.store, LAYOUT)} while this "
                "one was writing (without the writer lock, or after breaking it); this "
                "write was not published, so nothing of the other's is lost: run it again"
            )
        data = layout_bytes({**layout, "format": INDEX_FORMAT})
        self.index.store.write_atomically(LAYOUT, data)
        self.published_bytes = data
        self.index.refresh()

    def finish(self) -> None:
        """End a rebuild: publish the new index, then delete the files of the old one (only
        those: another writer may have written since)."""
        if self.rebuild and self.layout is not None:
            self.publish(self.layout)
            old = self.replaced or new_layout(DEFAULT_SURVEY.name)
            for delta in old["deltas"]:
                for relative in delta_paths(delta):
                    self.index.store.delete(relative)
            for name, *_ in self.index.store.list_files("nights"):
                if counted_manifest(old, name):
                    self.index.store.delete(f"nights/{name}")
            if old["generation"] is not None:
                self.index.store.delete(f"base-{old['generation']}")


def claim_file(generation: int) -> str:
    """The file a writer of base `generation` claims it with (`WriteSession.claim_generation`)."""
    return f"base-{generation}/writer.json"


def write_new(store: Lake, relative: str, data: bytes) -> None:
    """Write an index file under a name no file has: a writer never replaces a file another
    one wrote (two writers past the lock would otherwise pick the same next name)."""
    if not store.create_exclusively(relative, data):
        raise IndexBusy(
            f"index: {where(store, relative)} exists already: another writer is writing this "
            "index; this write was not published: run it again"
        )


@contextmanager
def writing(
    index: AlertIndex, command: str = "", wait: float = 0.0, rebuild: bool = False
) -> Iterator[WriteSession]:
    """Hold the index for writing: its writer lock, then a `WriteSession` (the one this
    thread already has open on this `AlertIndex`, if any: another thread's write waits for
    the lock, or is refused, as another process's is).

    Raises
    ------
    IndexBusy
        When another writer holds the lock after `wait` seconds, naming it.
    """
    if (session := index.writer) is not None:
        yield session
        return
    thread = threading.get_ident()
    with WriterLock(index.store, command, wait) as lock:
        index.writers[thread] = session = WriteSession(index, lock, rebuild)
        try:
            yield session
            session.finish()
        finally:
            del index.writers[thread]
            index.refresh()


def sweep(store: Lake, layout: dict | None) -> list[str]:
    """Delete what `layout` (the published one) does not name; what was deleted.

    Deltas and base generations of writes never published, other generations, temporary
    files, manifests outside the layout's orders. Only a writer holding the lock may sweep.
    """
    deleted = []

    def drop(relative: str) -> None:
        store.delete(relative)
        deleted.append(relative)

    layout = layout or new_layout(DEFAULT_SURVEY.name)
    named = {relative for delta in layout["deltas"] for relative in delta_paths(delta)}
    for table in TABLES:
        directory = f"delta/{table}"
        found = [name for name, *_ in store.list_files(directory)]
        for name in found + store.list_directories(directory):  # a bucketed delta's directory
            if f"{directory}/{name}" not in named:
                drop(f"{directory}/{name}")
    for name, *_ in store.list_files("nights"):
        if not counted_manifest(layout, name):
            drop(f"nights/{name}")
    generation = layout["generation"]
    for directory in store.list_directories(""):
        if BASE_NAME.fullmatch(directory) and directory != f"base-{generation}":
            drop(directory)
    if generation is not None:
        for name, *_ in store.list_files(f"base-{generation}"):
            if f"base-{generation}/{name}" != base_sizes_file(generation):
                drop(f"base-{generation}/{name}")
        for table in TABLES:
            named = {base_file(generation, table, b) for b in range(layout["buckets"])}
            for name, *_ in store.list_files(f"base-{generation}/{table}"):
                if f"base-{generation}/{table}/{name}" not in named:
                    drop(f"base-{generation}/{table}/{name}")
    for name, _, mtime in store.list_files(""):
        if name.startswith(f"{LAYOUT}.tmp-") or abandoned_lock_file(name, mtime):
            drop(name)
    return deleted


def remove(index: AlertIndex, wait: float = 0.0) -> None:
    """Delete the whole index, whatever its format (holding the writer lock)."""
    with writing(index, "index remove", wait, rebuild=True):
        index.store.delete(LAYOUT)
        sweep(index.store, None)
