"""The class-data-sharing archive of the HDFS client: which JVM options a process gets, and the
background dump that makes the archive (a stand-in ``java`` here; the real JVM in
tests/integration/test_remote_lakes.py)."""

import os
import stat
import time

import pytest

from fink_cutout_jupyter.storage import jvm_archive
from fink_cutout_jupyter.storage.jvm_archive import archive_key, class_sharing, prepare

FAKE_JAVA = """#!/bin/sh
for argument; do
  case "$argument" in
    -XX:SharedArchiveFile=*) echo archive > "${argument#-XX:SharedArchiveFile=}" ;;
  esac
done
"""


@pytest.fixture
def environ(tmp_path):
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    java = java_home / "bin" / "java"
    java.write_text(FAKE_JAVA)
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    jars = []
    for name in ("hadoop-common.jar", "hadoop-hdfs-client.jar"):
        (tmp_path / name).write_bytes(name.encode())
        jars.append(str(tmp_path / name))
    classpath = os.pathsep.join([str(tmp_path / "conf"), *jars])
    return {
        "JAVA_HOME": str(java_home),
        "CLASSPATH": classpath,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "LIBHDFS_OPTS": "-Xmx256m",
    }


def archive_of(environ) -> str:
    jars = [entry for entry in environ["CLASSPATH"].split(os.pathsep) if entry.endswith(".jar")]
    key = archive_key(os.path.join(environ["JAVA_HOME"], "bin", "java"), jars)
    return os.path.join(environ["XDG_CACHE_HOME"], "fink-cutouts", "jvm", f"{key}.jsa")


def test_without_an_archive_the_jvm_records_the_classes_it_loads(environ):
    classpath = environ["CLASSPATH"]
    prepare(environ)
    options = environ["LIBHDFS_OPTS"].split()
    assert options[0] == "-Xmx256m", "the user's own options are kept"
    assert options[1].startswith("-XX:DumpLoadedClassList=" + archive_of(environ)[: -len(".jsa")])
    assert environ["CLASSPATH"] == classpath


def test_with_an_archive_the_jvm_maps_it_and_the_jars_come_first(environ):
    os.makedirs(os.path.dirname(archive_of(environ)))
    open(archive_of(environ), "wb").close()
    conf, *jars = environ["CLASSPATH"].split(os.pathsep)
    prepare(environ)
    assert environ["CLASSPATH"].split(os.pathsep) == [*jars, conf]
    options = environ["LIBHDFS_OPTS"].split()
    assert options[:2] == ["-Xmx256m", f"-XX:SharedArchiveFile={archive_of(environ)}"]
    assert "-Xlog:cds=off" in options, "a stale archive is skipped without a warning"


@pytest.mark.parametrize(
    "change",
    [
        {"FINK_CUTOUTS_JVM_ARCHIVE": "0"},
        {"LIBHDFS_OPTS": "-Xshare:off"},
        {"LIBHDFS_OPTS": "-XX:SharedArchiveFile=/opt/hadoop.jsa"},
        {"CLASSPATH": "/etc/hadoop/conf"},
        {"JAVA_HOME": "/nonexistent", "PATH": "/nonexistent"},
    ],
    ids=["turned off", "own Xshare", "own archive", "no jars", "no java"],
)
def test_nothing_changes_when_the_user_chose_or_nothing_can_be_done(environ, change):
    environ.update(change)
    before = dict(environ)
    prepare(environ)
    assert environ == before


def test_the_key_changes_with_a_jar(environ, tmp_path):
    java = os.path.join(environ["JAVA_HOME"], "bin", "java")
    jars = [str(tmp_path / "hadoop-common.jar"), str(tmp_path / "hadoop-hdfs-client.jar")]
    key = archive_key(java, jars)
    assert archive_key(java, jars) == key
    (tmp_path / "hadoop-common.jar").write_bytes(b"a newer hadoop-common")
    assert archive_key(java, jars) != key
    assert archive_key(java, jars[:1]) != archive_key(java, jars)


def test_the_options_last_only_for_the_connection(environ, monkeypatch):
    monkeypatch.setattr(jvm_archive, "_prepared", False)
    before = dict(environ)
    with class_sharing(environ):
        assert "DumpLoadedClassList" in environ["LIBHDFS_OPTS"]
    assert environ == before, "child processes do not inherit them"
    with class_sharing(environ):
        assert environ == before, "one JVM per process: prepared once"


def test_the_dump_runs_once_in_the_background_and_leaves_only_the_archive(environ):
    prepare(environ)
    option = environ["LIBHDFS_OPTS"].split()[1]
    class_list = option.split("=", 1)[1]
    java = os.path.join(environ["JAVA_HOME"], "bin", "java")
    jars = environ["CLASSPATH"].split(os.pathsep)[1:]
    dump = jvm_archive._OnceDump(java, jars, class_list, archive_of(environ))
    dump()  # no JVM ran: nothing recorded, nothing to dump
    with open(class_list, "w") as recorded:
        recorded.write("java/lang/Object\n")
    dump()
    dump()
    deadline = time.monotonic() + 10
    while not os.path.exists(archive_of(environ)) and time.monotonic() < deadline:
        time.sleep(0.02)
    while os.path.exists(class_list) and time.monotonic() < deadline:
        time.sleep(0.02)
    directory = os.path.dirname(archive_of(environ))
    assert os.listdir(directory) == [os.path.basename(archive_of(environ))]
