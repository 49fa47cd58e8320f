"""Local files written whole or not at all: a temporary file in the same directory, flushed to
disk, then renamed over the target (``os.replace``), so that a full disk, a killed process or a
concurrent writer never leaves a cut or mixed file behind, and readers see the old or the new."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def writable_target(path: str | os.PathLike) -> Path:
    """`path` as a `Path`, if a file can be written there, else an error that says why.

    Raises
    ------
    IsADirectoryError
        `path` is a directory.
    FileNotFoundError
        Its parent directory does not exist.
    NotADirectoryError
        Its parent is not a directory.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory: give a file name in it")
    parent = path.parent
    if not parent.exists():
        raise FileNotFoundError(f"{path}: its directory {parent} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"{path}: {parent} is not a directory")
    return path


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Replace the file at `path` by what `write` writes to the binary stream it is given.

    The new content goes to a temporary file in the same directory, which is flushed to disk
    and renamed over `path`. If `write` (or the disk) fails, the temporary file is removed, the
    file at `path` is untouched and the error is raised. The file keeps its permissions; a new
    one gets the process's default (``0o666`` less the umask).

    Returns
    -------
    Path
        The file written.
    """
    path = writable_target(path)
    temporary = _written_beside(path, write, _mode_for(path))
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)
    return path


def _written_beside(path: Path, write: Callable[[BinaryIO], object], mode: int) -> Path:
    """A temporary file beside `path` holding what `write` wrote, on disk, with `mode`; removed
    if anything fails."""
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Replace the file at `path` by `data`, whole or not at all (see `write_atomically`)."""
    return write_atomically(path, lambda stream: stream.write(data))


def create_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Create the file at `path` with what `write` writes, whole or not at all, never over an
    existing file: written to a temporary file in the same directory, flushed, then hard-linked
    to `path` (which fails if `path` exists, even if another writer created it meanwhile); the
    temporary name is removed in every case. The new file gets the process's default mode.

    Raises
    ------
    FileExistsError
        `path` exists (checked when the file is published, not before writing).

    Returns
    -------
    Path
        The file written.
    """
    path = writable_target(path)
    temporary = _written_beside(path, write, 0o666 & ~_umask())
    try:
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)
    return path


@contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created if missing, never removed) while the
    block runs, waiting for another holder first; advisory (``flock``): only writers that take
    it too are kept out. Where the system has no ``fcntl`` (Windows), nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "ab") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux tells it without changing it (os.umask would, for every thread)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync_directory(directory: Path) -> None:
    """Flush the rename itself to disk where the system allows opening a directory."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
