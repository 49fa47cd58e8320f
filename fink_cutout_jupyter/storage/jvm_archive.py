"""A class-data-sharing archive of the HDFS client's classes: its JVM starts in half the time.

On the first HDFS call libhdfs starts a Java VM inside the process; most of its ~0.6 s go to
loading and verifying the ~3,800 classes of Hadoop's client from the jars of ``CLASSPATH``.
Java's application class-data sharing (AppCDS, JDK ≥ 10) maps them from an archive instead
(0.3 s). The archive depends on the Java build and the jars, so it is made on the machine that
uses it, once: the first process records the classes its JVM loads
(``-XX:DumpLoadedClassList``) and, when it exits (or after `DUMP_AFTER_SECONDS` for a server),
starts ``java -Xshare:dump`` in the background; later processes find the archive in
``$XDG_CACHE_HOME/fink-cutouts/jvm`` under a key of the Java binary and the jars.

A stale or unreadable archive is ignored by the JVM (it loads the jars as before). Nothing is done
when ``FINK_CUTOUTS_JVM_ARCHIVE=0``, when ``LIBHDFS_OPTS`` already chooses class sharing, or when
``CLASSPATH`` has no jars.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

DUMP_AFTER_SECONDS = 60.0
_OWN_CHOICE = ("SharedArchiveFile", "Xshare", "DumpLoadedClassList", "ArchiveClassesAtExit")
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
_prepared = False


def cache_directory(environ: os._Environ | dict) -> Path:
    """Where archives are kept: ``$XDG_CACHE_HOME/fink-cutouts/jvm`` (``~/.cache`` by default)."""
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fink-cutouts" / "jvm"


def java_binary(environ: os._Environ | dict) -> str | None:
    """The ``java`` of the JVM libhdfs loads (``$JAVA_HOME/bin/java``, else the one on PATH)."""
    home = environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java", path=environ.get("PATH"))


def archive_key(java: str, jars: list[str]) -> str:
    """A name that changes with the Java binary, and with the jars, their sizes and times."""
    digest = hashlib.sha256()
    for path in [os.path.realpath(java), *jars]:
        try:
            status = os.stat(path)
        except OSError:
            status = None
        digest.update(f"{path}\0{status and (status.st_size, status.st_mtime_ns)}\0".encode())
    return digest.hexdigest()[:20]


@contextlib.contextmanager
def class_sharing(environ: os._Environ | dict = os.environ):
    """Around the process's first HDFS connection: its JVM starts with the archive, or records it.

    ``CLASSPATH`` and ``LIBHDFS_OPTS`` are changed only inside the block (libhdfs reads them
    when it starts the JVM), so child processes do not inherit them.
    """
    global _prepared
    saved = {name: environ.get(name) for name in ("CLASSPATH", "LIBHDFS_OPTS")}
    if not _prepared:
        _prepared = True
        prepare(environ)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value


def prepare(environ: os._Environ | dict) -> None:
    """Set up `environ` (``CLASSPATH``, ``LIBHDFS_OPTS``) for the JVM libhdfs starts.

    Uses the archive if it exists (the jars first in ``CLASSPATH``: an archive is valid for a
    class path that starts with the one it was made from), else records the classes for it.
    """
    if environ.get("FINK_CUTOUTS_JVM_ARCHIVE", "1").lower() in ("0", "off", "no"):
        return
    options = environ.get("LIBHDFS_OPTS", "")
    entries = [entry for entry in environ.get("CLASSPATH", "").split(os.pathsep) if entry]
    jars = [entry for entry in entries if entry.endswith(".jar")]
    java = java_binary(environ)
    if any(choice in options for choice in _OWN_CHOICE) or not jars or java is None:
        return
    directory = cache_directory(environ)
    archive = directory / f"{archive_key(java, jars)}.jsa"
    if archive.is_file():
        others = [entry for entry in entries if not entry.endswith(".jar")]
        environ["CLASSPATH"] = os.pathsep.join(jars + others)
        environ["LIBHDFS_OPTS"] = f"{options} -XX:SharedArchiveFile={archive} {_QUIET}".strip()
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    class_list = directory / f"{archive.stem}.{os.getpid()}.classes"
    environ["LIBHDFS_OPTS"] = f"{options} -XX:DumpLoadedClassList={class_list}".strip()
    dump = _OnceDump(java, jars, class_list, archive)
    atexit.register(dump)
    timer = threading.Timer(DUMP_AFTER_SECONDS, dump)
    timer.daemon = True
    timer.start()


class _OnceDump:
    """Start ``java -Xshare:dump`` once, detached, writing the archive under a temporary name."""

    def __init__(self, java: str, jars: list[str], class_list: Path, archive: Path) -> None:
        self.arguments = (java, os.pathsep.join(jars), str(class_list), str(archive))
        self._lock = threading.Lock()
        self._started = False

    def __call__(self) -> None:
        with self._lock:
            if self._started or not os.path.exists(self.arguments[2]):
                return
            self._started = True
        java, jars, class_list, archive = self.arguments
        partial = f"{archive}.{os.getpid()}.partial"
        script = (  # in the background of a shell that returns at once: nobody waits for it
            '("$1" -Xshare:dump -Xlog:cds=off -XX:SharedClassListFile="$3" '
            '-XX:SharedArchiveFile="$5" -cp "$2" && mv -f "$5" "$4"; rm -f "$3" "$5") &'
        )
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["sh", "-c", script, "sh", java, jars, class_list, archive, partial],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                timeout=10,
            )
