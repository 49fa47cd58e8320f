import datetime as dt

import pytest
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.errors import BadParameter, NotFound, OutsideLake
from fink_cutout_jupyter.storage.lake import Lake, parse_night, safe_relative_path

HOSTILE_PATHS = [
    ("/etc/passwd", OutsideLake),
    ("../../etc/passwd", OutsideLake),
    ("science/../../secret.parquet", OutsideLake),
    ("science/year=1988/../../..", OutsideLake),
    ("..", OutsideLake),
    ("..\\..\\windows", OutsideLake),
    ("\\\\server\\share", OutsideLake),
    ("~root/.ssh/id_rsa", OutsideLake),
    ("hdfs://127.0.0.1:9000/user/toto/somefolder/myparquet.parquet", OutsideLake),
    ("file:///etc/passwd", OutsideLake),
    ("s3://bucket/key.parquet", OutsideLake),
    ("C:/Windows/system.ini", OutsideLake),
    ("", BadParameter),
    ("   ", BadParameter),
    ("./", NotFound),
    ("science/\x00.parquet", BadParameter),
    (None, BadParameter),
    (["a.parquet"], BadParameter),
]


@pytest.mark.parametrize(("path", "error"), HOSTILE_PATHS)
def test_hostile_paths_are_refused_with_what_a_valid_path_looks_like(ztf_lake, path, error):
    with pytest.raises(error, match=r"hdfsPath: .*relative to the lake root"):
        ztf_lake.resolve(path)


def test_absolute_paths_and_own_uris_inside_the_root_are_relative_to_it(ztf_lake):
    """Fink's object API sends the absolute path it stored; a URI of the lake's own filesystem
    names the same place."""
    root = (SHARED_DATA / "ztf/lake").as_posix()
    path = ztf_lake.night_files("19881103")[0]
    assert ztf_lake.relative(f"{root}/{path}") == path
    assert ztf_lake.relative(f"{root}//./{path}") == path
    assert ztf_lake.relative(f"file://{root}/{path}") == path
    assert ztf_lake.relative(path) == path
    assert ztf_lake.size(f"{root}/{path}") == ztf_lake.size(path)


@pytest.mark.parametrize(
    "suffix",
    [
        "2/archive/x.parquet",  # a sibling whose name starts like the root
        "/../lake-spark3/x.parquet",
        "/archive/../../x.parquet",
        "",
        "/",
    ],
)
def test_absolute_paths_that_only_look_inside_are_refused(ztf_lake, suffix):
    with pytest.raises((OutsideLake, BadParameter), match="hdfsPath: "):
        ztf_lake.relative((SHARED_DATA / "ztf/lake").as_posix() + suffix)


def test_uris_of_other_filesystems_are_refused(ztf_lake):
    root = (SHARED_DATA / "ztf/lake").as_posix()
    for uri in (f"hdfs://namenode:8020{root}/x.parquet", f"s3://bucket{root}/x.parquet"):
        with pytest.raises(OutsideLake, match="not on the lake's filesystem"):
            ztf_lake.relative(uri)


def test_valid_paths_are_normalised_inside_the_root(ztf_lake):
    assert safe_relative_path("./archive//science/./x.parquet") == "archive/science/x.parquet"
    resolved = ztf_lake.resolve("archive/science/x.parquet")
    assert resolved == (SHARED_DATA / "ztf/lake/archive/science/x.parquet").as_posix()


def test_nights_and_their_files(ztf_lake):
    assert ztf_lake.nights() == [dt.date(1988, 11, 3)]
    files = ztf_lake.night_files("19881103")
    assert [f.rsplit("/", 1)[1][:10] for f in files] == ["part-00002", "part-00003"]
    assert all(f.startswith("archive/science/year=1988/month=11/day=03/") for f in files)
    assert ztf_lake.night_files(dt.date(1988, 11, 4)) == []
    assert ztf_lake.size(files[0]) == (SHARED_DATA / "ztf/lake" / files[0]).stat().st_size


def test_file_uri_roots_are_local():
    lake = Lake((SHARED_DATA / "ztf/lake-spark3").as_uri())
    assert lake.is_local
    assert lake.nights() == [dt.date(2019, 9, 3)]
    with lake.open(lake.night_files("2019-09-03")[0]) as stream:
        assert stream.read(4) == b"PAR1"


def test_missing_files_are_not_found(ztf_lake):
    with pytest.raises(NotFound, match=r"no file 'archive/none\.parquet'"):
        ztf_lake.open("archive/none.parquet")
    with pytest.raises(NotFound):
        ztf_lake.size("archive/science")


def test_missing_science_directory_means_no_nights(tmp_path):
    assert Lake(tmp_path).nights() == []


def test_remote_roots_connect_lazily():
    lake = Lake("s3://bucket/prefix?endpoint_override=127.0.0.1:1&scheme=http")
    assert not lake.is_local
    assert repr(lake) == "Lake('s3://bucket/prefix?endpoint_override=127.0.0.1:1&scheme=http')"


@pytest.mark.parametrize("night", ["20241121", "2024-11-21", dt.date(2024, 11, 21)])
def test_nights_parse(night):
    assert parse_night(night) == dt.date(2024, 11, 21)


def test_bad_nights_are_refused():
    with pytest.raises(BadParameter, match="YYYYMMDD"):
        parse_night("21/11/2024")
