"""The data lake: a pyarrow filesystem under a root, its nights and files (paths: `paths`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import posixpath
import re
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from fink_cutout_jupyter.errors import BadParameter, LakeUnavailable, NotFound, OutsideLake, quote
from fink_cutout_jupyter.locations import FileIdentity
from fink_cutout_jupyter.storage.paths import (
    URI_SCHEME,
    VALID_PATH_HINT,
    LakePath,
    real_path,
    safe_relative_path,
)
from fink_cutout_jupyter.storage.redaction import redacted, scrub_uri

if TYPE_CHECKING:
    import pyarrow
    import pyarrow.fs

# Schemes whose URIs name the bucket as their host: pyarrow's paths on them begin with it.
_BUCKET_SCHEMES = frozenset({"s3", "gs", "gcs"})
_MISSING_FILE_MESSAGES = ("not found", "does not exist", "no such file")
_PARTITION = re.compile(r"^(year|month|day)=(\d+)$")
_ONLINE_NIGHT = re.compile(r"^\d{8}$")
DEFAULT_ONLINE_DIR = "online/science"


class Lake:
    """A Fink data lake: Parquet files under a root on any pyarrow filesystem.

    Parameters
    ----------
    root : str or os.PathLike
        A local directory or ``file://`` URI (the embedded default),
        ``hdfs://host:port/path?user=…`` or ``s3://bucket/prefix?endpoint_override=…``
        (any URI that `pyarrow.fs.FileSystem.from_uri` takes).
    science_dir : str
        Where the archived nights live (``year=/month=/day=`` partitions), relative to the
        root (Fink: ``science``, or ``archive/science`` for a root holding both).
    online_dir : str
        Where the live nights live (``<YYYYMMDD>/`` directories written by Spark's streaming
        file sink, with its commit log ``_spark_metadata/``), relative to the root.

    Notes
    -----
    The filesystem is connected on first use, so creating a `Lake` never blocks on the network.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        science_dir: str = "science",
        online_dir: str = DEFAULT_ONLINE_DIR,
    ) -> None:
        self.uri = os.fspath(root)
        self.science_dir = science_dir.strip("/")
        self.online_dir = online_dir.strip("/")
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Lake({redacted(self.uri)!r})"

    @classmethod
    def on_filesystem(
        cls,
        filesystem: pyarrow.fs.FileSystem,
        base: str,
        science_dir: str = "science",
        online_dir: str = DEFAULT_ONLINE_DIR,
    ) -> Lake:
        """A lake on a pyarrow filesystem object already made (e.g. one set up for Kerberos).

        `base` is the root's path inside `filesystem`.
        """
        lake = cls(f"{filesystem.type_name}:{base}", science_dir, online_dir)
        lake.__dict__["_filesystem_and_base"] = (filesystem, base.rstrip("/") or base)
        return lake

    @property
    def is_local(self) -> bool:
        """Whether the lake is a local directory."""
        return _local_path(self.uri) is not None

    @cached_property
    def _filesystem_and_base(self) -> tuple[pyarrow.fs.FileSystem, str]:
        from pyarrow import fs

        local = _local_path(self.uri)
        if local is not None:
            return fs.LocalFileSystem(), os.path.abspath(local).replace(os.sep, "/")
        try:
            with _jvm_options(self.uri):
                filesystem, base = fs.FileSystem.from_uri(self.uri)
        except (OSError, ValueError) as error:  # ValueError: pyarrow's ArrowInvalid, a bad URI
            # Not the URI itself: it may carry credentials (s3://KEY:SECRET@…, ?session_token=…).
            scheme = urlsplit(self.uri).scheme
            text = scrub_uri(str(error), self.uri)
            raise LakeUnavailable(f"cannot connect to the {scheme} lake: {text}") from error
        return filesystem, base.rstrip("/") or base

    @property
    def filesystem(self) -> pyarrow.fs.FileSystem:
        """The pyarrow filesystem of the lake (connected on first use)."""
        with self._lock:
            return self._filesystem_and_base[0]

    @property
    def base(self) -> str:
        """The root's path inside `filesystem`."""
        with self._lock:
            return self._filesystem_and_base[1]

    def relative(self, path: object) -> LakePath:
        """A path of the lake as given by a client, made relative to the root.

        Accepted: a path relative to the root; an absolute path inside the root as the root's
        filesystem names it (``/user/fink/archive/…`` for ``hdfs://namenode:8020/user/fink``),
        which is what Fink's object API sends; a URI of the lake's own filesystem (same scheme
        and authority) whose path is inside the root.

        Raises
        ------
        BadParameter
            For an empty path, a NUL byte, or a value that is not a string.
        OutsideLake
            For anything that names a place outside the root: another filesystem, an absolute
            path elsewhere, a ``..`` component.
        """
        if isinstance(path, str) and "\x00" not in path:
            given = path
            if URI_SCHEME.match(path) or "://" in path:
                path = self._path_of_own_uri(path)
            if path.startswith("/"):
                root = "/" + self.base.strip("/")
                if not path.startswith(root.rstrip("/") + "/"):
                    raise OutsideLake(
                        f"hdfsPath: {quote(self._shown(given))} is outside the lake root; "
                        f"expected {VALID_PATH_HINT}"
                    )
                path = path[len(root.rstrip("/")) + 1 :].lstrip("/")
        return LakePath(path)

    def _path_of_own_uri(self, uri: str) -> str:
        """The absolute path of a URI on the lake's own filesystem (`OutsideLake` otherwise).

        The filesystem is the URI's scheme, host and port, whatever the userinfo (the key of an
        S3 URI). On S3 and GCS the host is the bucket, which pyarrow's paths begin with.
        """
        own = ("file", "", None, "") if self.is_local else self._place_and_path(self.uri)
        given = self._place_and_path(uri)
        if own is None or given is None or given[:3] != own[:3] or not given[3]:
            raise OutsideLake(
                f"hdfsPath: {quote(self._shown(uri))} is not on the lake's filesystem; "
                f"expected {VALID_PATH_HINT}"
            )
        return given[3]

    @staticmethod
    def _place_and_path(uri: str) -> tuple[str, str, int | None, str] | None:
        """(scheme, host, port, absolute path as the filesystem names it) of a URI, None if its
        port is not a number. The path of an S3 or GCS URI begins with its bucket."""
        parts = urlsplit(uri)
        try:
            port = parts.port
        except ValueError:
            return None
        scheme, host, path = parts.scheme.lower(), parts.hostname or "", unquote(parts.path)
        if scheme in _BUCKET_SCHEMES and host:
            path = f"/{host}/{path.lstrip('/')}"
        return scheme, host, port, path

    def _shown(self, given: str) -> str:
        """A client's path as an error may quote it: without its own credentials nor the
        lake's."""
        return scrub_uri(redacted(given), self.uri)

    def resolve(self, relative: str) -> str:
        """Turn a client's path (see `relative`) into a path of `filesystem`, inside the root.

        On a local filesystem the path is followed through its links: one that leads outside
        the root is refused (`OutsideLake`) whether or not its target exists, so that links
        tell nothing of what is outside. Links that stay inside the root work. Elsewhere a
        `LakePath` is inside the root by construction.
        """
        if not isinstance(relative, LakePath):
            relative = self.relative(relative)
        path = posixpath.join(self.base, relative) if self.base else relative
        real_root = self._real_root
        if real_root is not None:
            real = real_path(path)
            if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
                raise OutsideLake(
                    f"hdfsPath: {quote(relative)} leads outside the lake root; "
                    f"expected {VALID_PATH_HINT}"
                )
        return path

    @cached_property
    def _real_root(self) -> str | None:
        """The root with its links followed, for a local filesystem (None elsewhere)."""
        from pyarrow import fs

        if not isinstance(self.filesystem, fs.LocalFileSystem):
            return None
        return real_path(self.base or "/")

    def scrub(self, text: str) -> str:
        """`text` without the root's own path (error texts never show the server's paths) and
        without the credentials of the lake's URI (see `redacted`)."""
        text = scrub_uri(text, self.uri)
        with self._lock:
            known = "_filesystem_and_base" in self.__dict__
        if not known:
            return text
        for root in {self.base, self._real_root or ""} - {"", "/"}:
            text = text.replace(root.rstrip("/") + "/", "").replace(root, "<lake root>")
        return text

    def open(self, relative: str) -> pyarrow.NativeFile:
        """Open a file of the lake for random access (`NotFound` if it does not exist)."""
        path = self.resolve(relative)
        with _translated_errors(self, relative):
            return self.filesystem.open_input_file(path)

    def read_small(self, relative: str) -> bytes:
        """The whole of a small file, read as a stream (on HDFS: one NameNode call)."""
        path = self.resolve(relative)
        with _translated_errors(self, relative), self.filesystem.open_input_stream(path) as stream:
            return stream.read()

    def read_if_exists(self, relative: str) -> bytes | None:
        """A small file's bytes, or None if there is none (looked for first: on HDFS, opening a
        missing file logs the client's Java stack trace)."""
        if not self.exists(relative):
            return None
        try:
            return self.read_small(relative)
        except NotFound:  # removed in between
            return None

    def move_aside(self, relative: str, to: str) -> bool:
        """Rename a file to a name no file has; whether this call moved it (False: it was gone).

        Of two callers moving the same file on a local filesystem, one moves it; elsewhere it
        is the filesystem's move (on HDFS, also one of two succeeds; on S3 a copy and delete).
        """
        if self.atomic_create:
            try:
                os.rename(self.resolve(relative), self.resolve(to))
            except FileNotFoundError:
                return False
            return True
        try:
            with _translated_errors(self, relative):
                self.filesystem.move(self.resolve(relative), self.resolve(to))
        except NotFound:
            return False
        return True

    def exists(self, relative: str) -> bool:
        """Whether a file or directory exists (asked first where absence is normal: opening a
        missing file on HDFS logs the client's Java stack trace)."""
        from pyarrow import fs

        path = self.resolve(relative)
        with _translated_errors(self, relative):
            return self.filesystem.get_file_info(path).type != fs.FileType.NotFound

    def size(self, relative: str) -> int:
        """Size in bytes of a file of the lake."""
        return self.identity(relative).size

    def identity(self, relative: str) -> FileIdentity:
        """Size and modification time of a file of the lake: one metadata call, no read.

        Special files (FIFOs, devices) are not refused here: opening them fails or blocks as
        any read of the lake may, in a worker thread.
        """
        from pyarrow import fs

        path = self.resolve(relative)
        with _translated_errors(self, relative):
            info = self.filesystem.get_file_info(path)
            if info.type == fs.FileType.NotFound:
                # libhdfs reports "not found" for a NameNode it cannot reach: opening the file
                # tells a missing file (NotFound) from an outage (LakeUnavailable).
                self.filesystem.open_input_file(path).close()
        if info.type in (fs.FileType.NotFound, fs.FileType.Directory):
            raise NotFound(f"hdfsPath: no file {quote(self.scrub(relative))} in the lake")
        return FileIdentity(info.size, info.mtime_ns if info.mtime_ns is not None else -1)

    def subdirectory(self, relative: str) -> Lake:
        """A lake rooted at a directory of this one, sharing its filesystem connection."""
        child = Lake.on_filesystem(
            self.filesystem, self.resolve(relative), self.science_dir, self.online_dir
        )
        # before the URI's query (?endpoint_override=…), if any
        head, mark, query = (
            self.uri.partition("?") if URI_SCHEME.match(self.uri) else (self.uri, "", "")
        )
        child.uri = f"{head.rstrip('/')}/{safe_relative_path(relative)}{mark}{query}"
        return child

    def list_files(self, relative: str) -> list[tuple[str, int, float]]:
        """(name, size, modification time) of the files directly in a directory ("": the root);
        [] if absent."""
        infos = self._list(self.resolve(relative) if relative else self.base)
        return [
            (info.base_name, info.size, info.mtime.timestamp() if info.mtime else 0.0)
            for info in infos
            if info.is_file
        ]

    def write_atomically(self, relative: str, data: bytes) -> None:
        """Write a file in full, then move it into place, so readers never see half of it."""
        path = self.resolve(relative)
        temporary = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        with _translated_errors(self, relative):
            self.filesystem.create_dir(posixpath.dirname(path), recursive=True)
            with self.filesystem.open_output_stream(temporary) as stream:
                stream.write(data)
            self.filesystem.move(temporary, path)

    def create_exclusively(self, relative: str, data: bytes) -> bool:
        """Write a whole new file only if none has its name; whether this call created it.

        Atomic on a local filesystem (the file is written aside, then hard-linked to its name,
        which fails if the name exists). pyarrow offers no such primitive on HDFS (its move and
        its create both replace an existing file) nor on S3: there it is a check followed by an
        atomic write, and two callers at the same moment may both see True (`atomic_create`).
        """
        path = self.resolve(relative)
        if not self.atomic_create:
            if self.exists(relative):
                return False
            self.write_atomically(relative, data)
            return True
        temporary = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        with _translated_errors(self, relative):
            os.makedirs(posixpath.dirname(path), exist_ok=True)
            with open(temporary, "wb") as stream:
                stream.write(data)
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(temporary)
        return True

    @property
    def atomic_create(self) -> bool:
        """Whether `create_exclusively` is atomic here (a local filesystem)."""
        from pyarrow import fs

        return isinstance(self.filesystem, fs.LocalFileSystem)

    def list_directories(self, relative: str) -> list[str]:
        """Names of the directories directly in a directory of the lake ("": the root); [] if
        it is absent."""
        directory = self.resolve(relative) if relative else self.base
        return [info.base_name for info in self._list(directory) if not info.is_file]

    def delete(self, relative: str) -> None:
        """Delete a file or a directory tree of the lake, if it exists."""
        from pyarrow import fs

        path = self.resolve(relative)
        with _translated_errors(self, relative):
            kind = self.filesystem.get_file_info(path).type
            if kind == fs.FileType.Directory:
                self.filesystem.delete_dir(path)
            elif kind == fs.FileType.File:
                self.filesystem.delete_file(path)

    def nights(self) -> list[dt.date]:
        """Dates of the nights present under ``science/year=/month=/day=``, oldest first."""
        return sorted(self._night_dirs())

    def night_files(self, night: dt.date | str) -> list[str]:
        """Parquet files of one night, relative to the root, sorted by name."""
        night = parse_night(night)
        directory = self._night_dirs().get(night)
        if directory is None:
            return []
        return [
            self._relative_to_root(info.path)
            for info in self._list(directory)
            if info.is_file and info.base_name.endswith(".parquet")
        ]

    def archive_night_files(self, night: dt.date | str) -> list[str]:
        """Parquet files of one archived night, looked for in its own directory only
        (``year=YYYY/month=MM/day=DD`` as Fink's merge writes it, then unpadded): one or two
        listings, where `night_files` walks the whole archive."""
        return list(self.archive_night_sizes(night))

    def archive_night_sizes(self, night: dt.date | str) -> dict[str, int]:
        """Size in bytes of each Parquet file of one archived night (`archive_night_files`),
        from the same listing."""
        night = parse_night(night)
        padded = f"{self.science_dir}/year={night.year}/month={night.month:02d}/day={night.day:02d}"
        plain = f"{self.science_dir}/year={night.year}/month={night.month}/day={night.day}"
        for directory in dict.fromkeys((padded, plain)):  # one name from the 10th of October
            # absent until the merge: one call to look (on HDFS, pyarrow's listing of a missing
            # directory makes four NameNode calls, of one that exists three)
            if not self.exists(directory):
                continue
            infos = self._list(self.resolve(directory))
            if infos:
                return {
                    self._relative_to_root(info.path): info.size
                    for info in infos
                    if info.is_file and info.base_name.endswith(".parquet")
                }
        return {}

    def online_nights(self) -> list[dt.date]:
        """Dates of the live nights present under ``online_dir/<YYYYMMDD>/``, oldest first."""
        nights = []
        for name in self.list_directories(self.online_dir):
            if _ONLINE_NIGHT.match(name):
                try:
                    nights.append(parse_night(name))
                except BadParameter:
                    continue
        return sorted(nights)

    def online_night_dir(self, night: dt.date | str) -> str:
        """The directory of a live night, relative to the root (``online/science/YYYYMMDD``)."""
        return f"{self.online_dir}/{parse_night(night):%Y%m%d}"

    def online_night_of(self, path: str) -> dt.date | None:
        """The live night a lake file belongs to (None: not under ``online_dir/<YYYYMMDD>/``)."""
        head, _, rest = str(path).strip("/").partition(self.online_dir + "/")
        name = rest.split("/", 1)[0]
        if head or "/" not in rest or not _ONLINE_NIGHT.match(name):
            return None
        try:
            return parse_night(name)
        except BadParameter:
            return None

    def _relative_to_root(self, path: str) -> str:
        return posixpath.relpath(path, self.base) if self.base else path

    def _night_dirs(self) -> dict[dt.date, str]:
        """Map each night to its directory, accepting padded and unpadded partition values."""
        found = {}
        top = self.resolve(self.science_dir)
        for year in self._partition_dirs(top, "year"):
            for month in self._partition_dirs(year.path, "month"):
                for day in self._partition_dirs(month.path, "day"):
                    # names `_partition_dirs` matched with _PARTITION: key=digits
                    numbers = [int(d.base_name.split("=", 1)[1]) for d in (year, month, day)]
                    try:
                        found[dt.date(*numbers)] = day.path
                    except ValueError:
                        continue
        return found

    def _partition_dirs(self, directory: str, key: str) -> list:
        return [
            info
            for info in self._list(directory)
            if not info.is_file and (match := _PARTITION.match(info.base_name)) and match[1] == key
        ]

    def _list(self, directory: str) -> list:
        from pyarrow import fs

        with _translated_errors(self, directory):
            infos = self.filesystem.get_file_info(fs.FileSelector(directory, allow_not_found=True))
        return sorted(infos, key=lambda info: info.path)


def _jvm_options(uri: str):
    """For HDFS, the process's JVM is started with the class-data-sharing archive (0.3 s faster)."""
    if urlsplit(uri).scheme.lower() not in ("hdfs", "viewfs"):
        return contextlib.nullcontext()
    from fink_cutout_jupyter.storage.jvm_archive import class_sharing

    return class_sharing()


def parse_night(night: dt.date | str) -> dt.date:
    """A night as a date, from a `datetime.date`, ``YYYYMMDD`` or ``YYYY-MM-DD``."""
    if isinstance(night, dt.date):
        return night
    text = str(night).strip().replace("-", "")
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise BadParameter(f"night: {quote(night)} is not a date; expected YYYYMMDD") from None


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return unquote(urlsplit(uri).path)
    if URI_SCHEME.match(uri) and not re.match(r"^[A-Za-z]:[\\/]", uri):
        return None
    return uri


class _translated_errors:
    """Turn pyarrow's OSErrors into NotFound (missing) or LakeUnavailable (anything else)."""

    def __init__(self, lake: Lake, what: str) -> None:
        self.lake = lake
        self.what = lake.scrub(what)

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> Literal[False]:
        if error is None or isinstance(error, NotFound | LakeUnavailable):
            return False
        message = str(error).lower()
        if isinstance(error, FileNotFoundError) or (
            isinstance(error, OSError) and any(s in message for s in _MISSING_FILE_MESSAGES)
        ):
            raise NotFound(f"hdfsPath: no file {quote(self.what)} in the lake") from error
        if isinstance(error, OSError):
            raise LakeUnavailable(
                f"the lake's filesystem failed on {quote(self.what)}: {self.lake.scrub(str(error))}"
            ) from error
        return False
