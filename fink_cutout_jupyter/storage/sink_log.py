"""The commit log of Spark's streaming parquet sink: which files of a sink directory are committed.

Spark's file sink (``FileStreamSink``, log ``FileStreamSinkLog`` over ``CompactibleFileStreamLog``
and ``HDFSMetadataLog`` in ``org.apache.spark.sql.execution.streaming``) commits micro-batch
``N`` by writing ``<dir>/_spark_metadata/N``: the line ``v1``, then one JSON object per file
(``path``: the file's URI, URL-encoded, e.g. ``file:///…``, ``hdfs://nn:8020/…``, ``s3a://bucket/…``;
``size``, ``isDir``, ``modificationTime`` in ms, ``blockReplication``, ``blockSize``, ``action``:
"add" or "delete"). Every ``compactInterval`` batches (``(N + 1) % interval == 0``, default 10) the
file is ``N.compact`` and holds every file committed up to N; batch files older than a retained
compact are deleted ``cleanupDelay`` (10 min) later. Files are written as ``.<name>.<uuid>.tmp``
and renamed (a local or HDFS lake also has ``.N.crc``). A part file the log does not name is not
committed: it may be partial or abandoned.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote, urlsplit

from fink_cutout_jupyter.errors import CorruptData, NotFound, quote
from fink_cutout_jupyter.storage.paths import safe_relative_path

if TYPE_CHECKING:
    from fink_cutout_jupyter.storage.lake import Lake

LOG_DIR = "_spark_metadata"
COMPACT_SUFFIX = ".compact"
VERSION = 1
_ACTIONS = ("add", "delete")
_ATTEMPTS = 3  # plans tried when batch files vanish between the listing and their reading


class SinkFile(NamedTuple):
    """A file the sink committed."""

    path: str
    """Its path relative to the lake root (as `Lake` methods take)."""
    size: int
    """Its size in bytes, as the log states."""
    mtime_ms: int
    """The log's ``modificationTime`` (milliseconds since the epoch)."""


class SinkCommits(NamedTuple):
    """What `read_commits` found."""

    latest: int
    """The latest batch read; -1: no batch (no log, or an empty one)."""
    files: list[SinkFile]
    """Files committed in batches ``(after, latest]``, in commit order; every committed file
    when `whole` is True."""
    whole: bool
    """True when `files` is every file committed up to `latest` (a compact file was read):
    the caller subtracts what it already has."""


def latest_batch(lake: Lake, directory: str) -> int:
    """The latest committed batch id of a sink directory: one listing of its log.

    Parameters
    ----------
    lake : Lake
        The lake holding the sink.
    directory : str
        The sink's output directory, relative to the lake root.

    Returns
    -------
    int
        The largest id among the ``N`` and ``N.compact`` files of ``_spark_metadata``; -1 when
        there is no log directory or no batch in it. Hidden and temporary names are ignored.
    """
    batches = _list_batches(lake, directory)
    return max(batches, default=-1)


def read_commits(
    lake: Lake, directory: str, after: int = -1, latest: int | None = None
) -> SinkCommits:
    """The files a sink committed in batches after `after`, up to `latest`.

    Parameters
    ----------
    lake : Lake
        The lake holding the sink.
    directory : str
        The sink's output directory, relative to the lake root (e.g.
        ``lake.online_night_dir(night)``).
    after : int
        The last batch the caller already has (-1: none).
    latest : int, optional
        The last batch to read (default: the latest in the log, `latest_batch`).

    Returns
    -------
    SinkCommits
        Read from batch files ``after + 1 .. latest``; when that range holds a compact file,
        the latest compact in it and the batch files after it (``whole=True``). When a batch
        file needed is gone (deleted after a compaction), the latest compact ``<= latest`` and
        the batch files after it (``whole=True``); if those are gone too, the next compact
        after `latest`, and `SinkCommits.latest` is that compact's id (as Spark's own reader
        does). "delete" actions remove the file from the answer.

    Raises
    ------
    CorruptData
        A log file that is not Spark's sink log (version line, JSON line, fields, a path
        outside `directory`), one written by a newer Spark (``v2``), or a batch that no
        remaining file of the log covers. The text names the file and what is wrong.
    LakeUnavailable
        The lake's filesystem failed.
    """
    directory = directory.strip("/")
    for attempt in range(_ATTEMPTS):
        batches = _list_batches(lake, directory)
        last = max(batches, default=-1) if latest is None else latest
        if last < 0:
            return SinkCommits(-1, [], False)
        if last <= after:
            return SinkCommits(last, [], False)
        plan, upto, whole = _plan(batches, directory, after, last)
        try:
            return SinkCommits(upto, _committed(lake, directory, plan), whole)
        except NotFound:
            # deleted by Spark's cleanup since the listing: a later compact covers it
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _plan(
    batches: dict[int, str], directory: str, after: int, latest: int
) -> tuple[list[str], int, bool]:
    """(log file names to read in order, batch read up to, whether the files are all of them)."""
    compacts = [n for n, name in batches.items() if name.endswith(COMPACT_SUFFIX) and n <= latest]
    last_compact = max(compacts, default=None)
    wanted = range(after + 1, latest + 1)
    if (last_compact is None or last_compact <= after) and all(n in batches for n in wanted):
        return [batches[n] for n in wanted], latest, False
    tail = range(last_compact + 1, latest + 1) if last_compact is not None else range(0)
    if last_compact is not None and all(n in batches for n in tail):
        return [batches[last_compact], *(batches[n] for n in tail)], latest, True
    later = [n for n, name in batches.items() if name.endswith(COMPACT_SUFFIX) and n > latest]
    if later:
        return [batches[min(later)]], min(later), True
    missing = next(n for n in wanted if n not in batches)
    raise CorruptData(
        f"the sink log {quote(f'{directory}/{LOG_DIR}')} has no file for batch {missing} "
        "and no compact file covering it"
    )


def _list_batches(lake: Lake, directory: str) -> dict[int, str]:
    """Batch id -> log file name (``N`` or ``N.compact``), from one listing."""
    batches = {}
    for name, _size, _mtime in lake.list_files(f"{directory.strip('/')}/{LOG_DIR}"):
        number = name.removesuffix(COMPACT_SUFFIX)
        if number.isascii() and number.isdigit():
            batches[int(number)] = name
    return batches


def _committed(lake: Lake, directory: str, names: list[str]) -> list[SinkFile]:
    """The files the log files `names` add, in order, less those they delete."""
    files: dict[str, SinkFile] = {}
    for name in names:
        log_file = f"{directory}/{LOG_DIR}/{name}"
        for action, file in _entries(log_file, lake.read_small(log_file), directory):
            if action == "add":
                files[file.path] = file
            else:
                files.pop(file.path, None)
    return list(files.values())


def _entries(log_file: str, data: bytes, directory: str) -> list[tuple[str, SinkFile]]:
    """(action, file) of each line of one log file (`CorruptData` if it is not one)."""

    def corrupt(what: str) -> CorruptData:
        return CorruptData(f"the sink log file {quote(log_file)} {what}")

    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise corrupt("is not UTF-8 text") from None
    if not lines:
        raise corrupt("is empty (expected the version line 'v1')")
    version = lines[0].strip()
    if not (version[:1] == "v" and version[1:].isascii() and version[1:].isdigit()):
        raise corrupt(f"does not begin with a version line such as 'v1': {quote(lines[0])}")
    if int(version[1:]) != VERSION:
        raise corrupt(
            f"is version {version}, written by another Spark; this reader knows v{VERSION}"
        )
    entries = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            entry = json.loads(line)
            path, size, mtime, action = (
                entry["path"],
                entry["size"],
                entry["modificationTime"],
                entry["action"],
            )
        except (ValueError, TypeError, KeyError) as error:
            raise corrupt(f"line {number} is not a sink entry ({error}): {quote(line)}") from None
        if not (isinstance(path, str) and type(size) is int and type(mtime) is int):
            raise corrupt(f"line {number} has a path, size or modificationTime of the wrong type")
        if action not in _ACTIONS:
            raise corrupt(f"line {number} has the action {quote(action)}; expected add or delete")
        relative = _relative_path(path, directory)
        if relative is None:
            raise corrupt(f"line {number} names {quote(path)}, outside {quote(directory)}")
        entries.append((action, SinkFile(relative, size, mtime)))
    return entries


def _relative_path(uri: str, directory: str) -> str | None:
    """The lake-relative path of a log's URI: what follows ``/<directory>/`` in its unquoted
    path (so NameNode aliases and s3a vs s3 do not matter); None if it is not under it."""
    path = unquote(urlsplit(uri).path)
    _, found, tail = path.partition(f"/{directory}/")
    if not found or not tail.strip("/"):
        return None
    try:
        return safe_relative_path(f"{directory}/{tail}")
    except (ValueError, PermissionError, LookupError):  # BadParameter, OutsideLake, NotFound
        return None
