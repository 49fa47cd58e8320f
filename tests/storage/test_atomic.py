"""Files written whole or not at all: a temporary file in the same directory, then os.replace."""

import os
import stat
import threading

import pytest

from fink_cutout_jupyter.storage.atomic import (
    create_atomically,
    writable_target,
    write_atomically,
    write_bytes_atomically,
)


def test_a_reader_sees_the_old_file_until_the_new_one_is_whole(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(b"old\n")
    half_written, go_on = threading.Event(), threading.Event()

    def write(stream):
        stream.write(b"new, first half\n")
        half_written.set()
        go_on.wait(timeout=30)
        stream.write(b"new, second half\n")

    writer = threading.Thread(target=write_atomically, args=(path, write))
    writer.start()
    assert half_written.wait(timeout=30)
    assert path.read_bytes() == b"old\n"  # the writer is paused halfway
    go_on.set()
    writer.join(timeout=30)
    assert path.read_bytes() == b"new, first half\nnew, second half\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


def test_a_failed_write_leaves_the_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(b"old\n")

    def write(stream):
        stream.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, write)
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


def test_permissions_are_kept_and_new_files_follow_the_umask(tmp_path):
    kept = tmp_path / "kept.csv"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    write_bytes_atomically(kept, b"new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    umask = os.umask(0o027)
    try:
        write_bytes_atomically(tmp_path / "new.csv", b"new")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640


def test_where_nothing_can_be_written_is_said(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        writable_target(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_bytes_atomically(tmp_path / "missing" / "file.csv", b"x")
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        writable_target(tmp_path / "plain" / "file.csv")


def test_create_atomically_never_replaces_a_file_even_one_made_while_writing(tmp_path):
    path = tmp_path / "view.png"
    half_written, go_on = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write(stream):
        stream.write(b"mine, first half\n")
        half_written.set()
        go_on.wait(timeout=30)
        stream.write(b"mine, second half\n")

    def create():
        try:
            create_atomically(path, write)
        except BaseException as error:
            errors.append(error)

    writer = threading.Thread(target=create)
    writer.start()
    assert half_written.wait(timeout=30)
    assert not path.exists(), "nothing is published before the file is whole"
    path.write_bytes(b"theirs\n")  # another writer, while this one is halfway
    go_on.set()
    writer.join(timeout=30)
    assert [type(error) for error in errors] == [FileExistsError]
    assert path.read_bytes() == b"theirs\n"
    assert [p.name for p in tmp_path.iterdir()] == ["view.png"]


def test_create_atomically_writes_a_new_file_whole_with_the_default_mode(tmp_path):
    path = tmp_path / "new.bin"
    assert create_atomically(path, lambda stream: stream.write(b"whole")) == path
    assert path.read_bytes() == b"whole"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["new.bin"]

    def failing(stream):
        stream.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        create_atomically(tmp_path / "other.bin", failing)
    assert [p.name for p in tmp_path.iterdir()] == ["new.bin"]
