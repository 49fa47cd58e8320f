"""What a client may name in the lake: a path relative to its root that cannot leave it.

`safe_relative_path` is the rule (text only, the same on every filesystem); a `LakePath` is a path
that passed it. `Lake.relative` (absolute paths and the lake's own URIs) and `Lake.resolve` (links
on a local lake) build on it.
"""

from __future__ import annotations

import os
import re

from fink_cutout_jupyter.errors import BadParameter, NotFound, OutsideLake, quote
from fink_cutout_jupyter.storage.redaction import redacted

VALID_PATH_HINT = (
    "a path relative to the lake root, e.g. "
    "'science/year=2024/month=11/day=21/part-00000-….snappy.parquet'"
)
URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAX_PATH_LENGTH = 1024
MAX_NAME_BYTES = 255


def real_path(path: str) -> str:
    """`os.path.realpath` of a local path: where the kernel finds it, links followed.

    An existing path is opened without reading it (``O_PATH``) and its name read back from
    ``/proc/self/fd`` (three system calls, where `os.path.realpath` makes one ``lstat`` per
    component in Python); a path that does not exist, or a system without ``/proc``, is left to
    `os.path.realpath`, which follows the links of the part that exists.
    """
    flag = getattr(os, "O_PATH", None)
    if flag is None:
        return os.path.realpath(path)
    try:
        handle = os.open(path, flag | os.O_CLOEXEC)
    except OSError:
        return os.path.realpath(path)
    try:
        return os.readlink(f"/proc/self/fd/{handle}")
    except OSError:
        return os.path.realpath(path)
    finally:
        os.close(handle)


class LakePath(str):
    """A path relative to the root, normalised, that cannot leave it: checked when made.

    `Lake.relative` makes it from what a client sends; `Lake.resolve` and the readers take it as
    checked, so that a request's path is checked once, where it comes in. Made directly, it is
    checked all the same (`safe_relative_path`), so that no `LakePath` names a place outside the
    root on any filesystem (the local one also follows links, see `Lake.resolve`).

    Raises
    ------
    BadParameter, OutsideLake, NotFound
        As `safe_relative_path`.
    """

    __slots__ = ()

    def __new__(cls, path: object) -> LakePath:
        return super().__new__(cls, safe_relative_path(path))


def safe_relative_path(relative: object) -> str:
    """Validate a lake-relative path and return it normalised (no ``.``, no doubled slashes)."""
    if not isinstance(relative, str) or not relative.strip():
        raise BadParameter(f"hdfsPath: {quote(relative)} is not a path; expected {VALID_PATH_HINT}")
    if len(relative) > MAX_PATH_LENGTH:
        raise BadParameter(
            f"hdfsPath: {len(relative)} characters, longer than {MAX_PATH_LENGTH}; "
            f"expected {VALID_PATH_HINT}"
        )
    if "\x00" in relative:
        raise BadParameter(f"hdfsPath: the path contains a NUL byte; expected {VALID_PATH_HINT}")
    if URI_SCHEME.match(relative) or "://" in relative:
        raise OutsideLake(
            f"hdfsPath: {quote(redacted(relative))} is a full URI; give {VALID_PATH_HINT} "
            "(not hdfs://IP:PORT/user/…)"
        )
    if relative.startswith(("/", "\\", "~")):
        raise OutsideLake(f"hdfsPath: {quote(relative)} is absolute; expected {VALID_PATH_HINT}")
    parts = [part for part in re.split(r"[/\\]", relative) if part not in ("", ".")]
    if ".." in parts:
        raise OutsideLake(
            f"hdfsPath: {quote(relative)} leaves the lake root; expected {VALID_PATH_HINT}"
        )
    # Neither can name a file of the lake: answered as any missing file is.
    if not parts:
        raise NotFound(f"hdfsPath: {quote(relative)} names no file; expected {VALID_PATH_HINT}")
    if any(len(part.encode()) > MAX_NAME_BYTES for part in parts):
        raise NotFound(
            f"hdfsPath: no file in the lake has a name longer than {MAX_NAME_BYTES} bytes, as in "
            f"{quote(relative)}"
        )
    return "/".join(parts)
