"""Remote lakes' open files: identities reused a while, handles shared and closed when done.

The remote lake here is Arrow's own in-memory filesystem (``mock://``), which pyarrow treats as
any remote one (not local): the lake and pyarrow are the real ones. HDFS and S3 themselves are
in tests/integration/test_remote_lakes.py.
"""

import pytest

from fink_cutout_jupyter.storage import open_files
from fink_cutout_jupyter.storage.lake import Lake
from fink_cutout_jupyter.storage.open_files import OpenFiles, fetch_pages

STORED = bytes(range(256)) * 4


@pytest.fixture
def remote(request):
    lake = Lake(f"mock:///{request.node.name}")
    assert not lake.is_local
    lake.filesystem.create_dir(f"{request.node.name}/science")
    for name in ("a", "b", "c"):
        _write(lake, f"science/{name}.bin", STORED)
    return lake


def _write(lake: Lake, relative: str, data: bytes) -> None:
    with lake.filesystem.open_output_stream(lake.resolve(relative)) as stream:
        stream.write(data)


def test_a_files_identity_is_reused_for_a_while_then_checked_again(remote, monkeypatch):
    files = OpenFiles(remote)
    monkeypatch.setattr(open_files, "IDENTITY_SECONDS", 3600.0)
    first = files.identity("science/a.bin")
    assert first.size == len(STORED)
    _write(remote, "science/a.bin", STORED * 2)
    assert files.identity("science/a.bin") == first  # within the time: not asked again
    monkeypatch.setattr(open_files, "IDENTITY_SECONDS", 0.0)
    assert files.identity("science/a.bin").size == 2 * len(STORED)


def test_reads_of_one_file_share_one_handle_until_the_file_changes(remote):
    files = OpenFiles(remote)
    identity = files.identity("science/a.bin")
    for _ in range(3):
        with files.reading("science/a.bin", identity) as source:
            assert bytes(source.read(10, 5)) == STORED[10:15]
    assert files.opened == 1
    _write(remote, "science/a.bin", b"new" + STORED)
    changed = remote.identity("science/a.bin")
    with files.reading("science/a.bin", changed) as source:
        assert bytes(source.read(0, 3)) == b"new"
    assert files.opened == 2


def test_the_least_recently_used_handle_is_closed_beyond_the_capacity(remote):
    files = OpenFiles(remote, capacity=2)
    sources = {}
    for name in ("a", "b", "c"):
        path = f"science/{name}.bin"
        with files.reading(path, files.identity(path)) as source:
            sources[name] = source.file
    assert [sources[name].closed for name in "abc"] == [True, False, False]
    with files.reading("science/a.bin", files.identity("science/a.bin")):
        pass
    assert files.opened == 4
    assert sources["b"].closed


def test_a_handle_closed_while_read_closes_when_its_read_ends(remote):
    files = OpenFiles(remote)
    identity = files.identity("science/a.bin")
    with files.reading("science/a.bin", identity) as source:
        files.close()
        assert not source.file.closed
        assert bytes(source.read(0, 4)) == STORED[:4]
    assert source.file.closed


def test_a_failed_read_forgets_the_file(remote):
    files = OpenFiles(remote)
    identity = files.identity("science/a.bin")
    with (
        pytest.raises(OSError, match="DataNode"),
        files.reading("science/a.bin", identity) as source,
    ):
        raise OSError("the DataNode went away")
    assert source.file.closed
    with files.reading("science/a.bin", identity):
        pass
    assert files.opened == 2


def test_pages_are_fetched_in_the_order_asked(remote):
    spans = [(900, 100), (0, 7), (255, 2), (512, 256)]
    files = OpenFiles(remote)
    with files.reading("science/b.bin", files.identity("science/b.bin")) as source:
        pages = fetch_pages(source, spans)
        assert [bytes(page) for page in fetch_pages(source, spans[:1])] == [STORED[900:1000]]
    assert [bytes(page) for page in pages] == [STORED[o : o + n] for o, n in spans]


def test_a_local_lake_opens_each_read_afresh(tmp_path):
    (tmp_path / "science").mkdir()
    (tmp_path / "science" / "a.bin").write_bytes(STORED)
    files = OpenFiles(Lake(tmp_path))
    identity = files.identity("science/a.bin")
    assert identity.size == len(STORED)
    for _ in range(2):
        with files.reading("science/a.bin", identity) as source:
            assert source.read_at(4, 8) == STORED[8:12]
    assert files.opened == 0
