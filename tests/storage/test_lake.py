import datetime as dt

import pytest
from support.hostile_paths import HOSTILE_PATHS
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.errors import BadParameter, LakeUnavailable, NotFound, OutsideLake
from fink_cutout_jupyter.storage.lake import Lake, parse_night
from fink_cutout_jupyter.storage.paths import LakePath
from fink_cutout_jupyter.storage.redaction import redacted


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


# (a URI with credentials as pyarrow takes them, a credential whole as a filesystem's error may
# quote it then parts of credentials, the URI as it may be shown)
URIS_WITH_CREDENTIALS = [
    (
        "s3://AKIDEXAMPLE:wJalr%2FXUtnFEMI@fink-lake/ztf?endpoint_override=127.0.0.1:9000",
        ["wJalr/XUtnFEMI", "AKIDEXAMPLE", "wJalr", "XUtnFEMI"],
        "s3://[secret]@fink-lake/ztf?endpoint_override=127.0.0.1:9000",
    ),
    (
        "s3://fink-lake/ztf?region=us-east-1&access_key=AKIDEXAMPLE&secret_key=wJalrXUtnFEMI"
        "&session_token=FwoGZXIvYXdz",
        ["FwoGZXIvYXdz", "AKIDEXAMPLE", "wJalrXUtnFEMI"],
        "s3://fink-lake/ztf?region=us-east-1&access_key=[secret]&secret_key=[secret]"
        "&session_token=[secret]",
    ),
    (
        "hdfs://fink:hunter2-pass@namenode:8020/user/fink?user=fink&replication=1",
        ["hunter2-pass"],
        "hdfs://[secret]@namenode:8020/user/fink?user=fink&replication=1",
    ),
    (  # an unescaped "/" in the secret: pyarrow refuses the URI, quoting it in its error
        "s3://AKIDEXAMPLE:wJalr/XUtnFEMI@fink-lake/ztf",
        ["wJalr/XUtnFEMI", "AKIDEXAMPLE", "wJalr", "XUtnFEMI"],
        "s3://[secret]@fink-lake/ztf",
    ),
]


@pytest.mark.parametrize(("uri", "secrets", "shown"), URIS_WITH_CREDENTIALS)
def test_a_lake_uri_is_shown_without_its_credentials(uri, secrets, shown, ztf_lake):
    assert redacted(uri) == shown
    lake = Lake(uri)  # connects on first use: never here
    assert repr(lake) == f"Lake({shown!r})"
    text = f"failed on '{uri}': no access for {secrets[0]}"
    assert lake.scrub(text) == f"failed on '{shown}': no access for [secret]"
    # A lake whose filesystem is known scrubs its root's path too.
    on_filesystem = Lake.on_filesystem(ztf_lake.filesystem, ztf_lake.base)
    on_filesystem.uri = uri
    assert repr(on_filesystem) == f"Lake({shown!r})"
    scrubbed = on_filesystem.scrub(f"{text} in {ztf_lake.base}/archive/x.parquet")
    assert scrubbed == f"failed on '{shown}': no access for [secret] in archive/x.parquet"
    index = on_filesystem.subdirectory("archive")
    assert index.uri.startswith(uri.partition("?")[0] + "/archive")
    for secret in secrets:
        assert secret not in repr(index)
    from fink_cutout_jupyter.index.lookup import AlertIndex

    alert_index = AlertIndex(on_filesystem)
    for secret in secrets:
        assert secret not in repr(alert_index)


@pytest.mark.parametrize(
    "uri",
    ["/data/fink/lake", "file:///data/fink/lake", "hdfs://namenode:8020/user/fink?user=fink"],
)
def test_a_uri_without_credentials_is_shown_as_it_is(uri):
    assert redacted(uri) == uri
    assert repr(Lake(uri)) == f"Lake({uri!r})"


def test_a_uri_pyarrow_cannot_parse_is_not_quoted_with_its_credentials():
    with pytest.raises(LakeUnavailable, match="cannot connect to the s3 lake") as caught:
        Lake("s3://AKIDEXAMPLE:wJalr/XUtnFEMI@fink-lake/ztf").filesystem  # noqa: B018
    assert "s3://[secret]@fink-lake/ztf" in str(caught.value)
    for secret in ("AKIDEXAMPLE", "wJalr", "XUtnFEMI"):
        assert secret not in str(caught.value)


def test_a_made_lake_path_reads_nothing_outside_the_root(tmp_path):
    """On a local lake, and on a filesystem the lake cannot follow links on (as HDFS and S3):
    pyarrow's SubTreeFileSystem, which lets ``..`` out of its root."""
    import shutil

    import pyarrow.parquet as pq
    from pyarrow import fs

    source = next((SHARED_DATA / "ztf" / "lake").rglob("*.parquet"))
    shutil.copy(source, tmp_path / "outside.parquet")
    (tmp_path / "lake").mkdir()
    candid = pq.read_table(source, columns=["candid"])["candid"][0].as_py()
    lakes = [
        Lake(tmp_path / "lake"),
        Lake.on_filesystem(fs.SubTreeFileSystem(str(tmp_path / "lake"), fs.LocalFileSystem()), ""),
    ]
    for lake in lakes:
        with pytest.raises(OutsideLake, match=r"hdfsPath: '\.\./outside\.parquet' leaves the lake"):
            CutoutReader(lake).read(LakePath("../outside.parquet"), alert_id=candid)


def lake_at(uri: str, base: str) -> Lake:
    """A lake whose URI is `uri`, on the local filesystem under `base`: `relative` only reads
    the URI and the base, so that the URIs of a remote lake are checked without its server."""
    from pyarrow import fs

    lake = Lake.on_filesystem(fs.LocalFileSystem(), base)
    lake.uri = uri
    return lake


S3_LAKE_URIS = [
    "s3://fink-lake/ztf?endpoint_override=127.0.0.1:9000&scheme=http",
    "s3://AKIDEXAMPLE:wJalr%2FXUtnFEMI@fink-lake/ztf?endpoint_override=127.0.0.1:9000",
]


@pytest.mark.parametrize("lake_uri", S3_LAKE_URIS)
@pytest.mark.parametrize(
    "path",
    [
        "s3://fink-lake/ztf/science/year=2024/a.parquet",
        "s3://AKIDEXAMPLE:wJalr%2FXUtnFEMI@fink-lake/ztf/science/year=2024/a.parquet",
        "s3://OTHERKEY:other-secret@fink-lake/ztf/science/year=2024/a.parquet",
        "S3://Fink-Lake/ztf/science/year=2024/a.parquet",
        "s3://fink-lake/ztf/science/year%3D2024/a.parquet",
        "s3://fink-lake/ztf/science/year=2024/a.parquet?endpoint_override=127.0.0.1:9000",
        "/fink-lake/ztf/science/year=2024/a.parquet",
    ],
)
def test_an_s3_lake_takes_its_own_uris_bucket_first(lake_uri, path):
    """pyarrow names an S3 file bucket first (``fink-lake/ztf/…``); its URI has the bucket as
    its host, with or without the key in front of it."""
    assert lake_at(lake_uri, "fink-lake/ztf").relative(path) == "science/year=2024/a.parquet"


@pytest.mark.parametrize("lake_uri", S3_LAKE_URIS)
@pytest.mark.parametrize(
    ("path", "refusal"),
    [
        ("s3://other-bucket/ztf/science/a.parquet", "not on the lake's filesystem"),
        ("s3://AKIDEXAMPLE:wJalr%2FXUtnFEMI@other/ztf/a.parquet", "not on the lake's filesystem"),
        ("s3://fink-lake:9000/ztf/science/a.parquet", "not on the lake's filesystem"),
        ("s3://fink-lake:port/ztf/science/a.parquet", "not on the lake's filesystem"),
        ("gs://fink-lake/ztf/science/a.parquet", "not on the lake's filesystem"),
        ("hdfs://fink-lake/ztf/science/a.parquet", "not on the lake's filesystem"),
        ("s3://fink-lake", "is outside the lake root"),
        ("s3://fink-lake/ztf2/science/a.parquet", "is outside the lake root"),
        ("s3://fink-lake/science/a.parquet", "is outside the lake root"),
        ("s3://AKIDEXAMPLE:wJalr%2FXUtnFEMI@fink-lake/other/a.parquet", "is outside the lake"),
        ("s3://ztf/science/a.parquet", "not on the lake's filesystem"),
        ("/ztf/science/a.parquet", "is outside the lake root"),
        ("s3://fink-lake/ztf/../other/a.parquet", "leaves the lake root"),
    ],
)
def test_an_s3_lake_refuses_uris_of_other_buckets_and_places(lake_uri, path, refusal):
    with pytest.raises(OutsideLake, match=f"hdfsPath: .*{refusal}") as caught:
        lake_at(lake_uri, "fink-lake/ztf").relative(path)
    for secret in ("AKIDEXAMPLE", "wJalr", "XUtnFEMI"):
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "lake_uri",
    [
        "hdfs://namenode:8020/user/fink?user=fink",
        "hdfs://fink:hunter2-pass@namenode:8020/user/fink?user=fink&replication=1",
    ],
)
def test_an_hdfs_lake_takes_uris_of_its_namenode_and_no_other(lake_uri):
    lake = lake_at(lake_uri, "/user/fink")
    for path in (
        "hdfs://namenode:8020/user/fink/science/a.parquet",
        "hdfs://NameNode:8020/user/fink/science/a.parquet",
        "hdfs://fink:hunter2-pass@namenode:8020/user/fink/science/a.parquet",
        "/user/fink/science/a.parquet",
    ):
        assert lake.relative(path) == "science/a.parquet"
    for path, refusal in (
        ("hdfs://namenode:9000/user/fink/science/a.parquet", "not on the lake's filesystem"),
        ("hdfs://namenode/user/fink/science/a.parquet", "not on the lake's filesystem"),
        ("hdfs://other:8020/user/fink/science/a.parquet", "not on the lake's filesystem"),
        ("hdfs://namenode:80x/user/fink/science/a.parquet", "not on the lake's filesystem"),
        ("s3://namenode/user/fink/science/a.parquet", "not on the lake's filesystem"),
        ("hdfs://namenode:8020/namenode/user/fink/a.parquet", "is outside the lake root"),
        ("hdfs://fink:hunter2-pass@namenode:8020/user/other/a.parquet", "is outside the lake"),
    ):
        with pytest.raises(OutsideLake, match=f"hdfsPath: .*{refusal}") as caught:
            lake.relative(path)
        assert "hunter2" not in str(caught.value)


def test_live_nights_are_the_dated_directories_of_online_dir(tmp_path):
    for name in (
        "20241105",
        "20241104",
        "2024110",
        "20241332",
        "notes",
        "20241106/_spark_metadata",
    ):
        (tmp_path / "stream" / name).mkdir(parents=True)
    (tmp_path / "stream" / "20241107").write_text("a file, not a night")
    lake = Lake(tmp_path, online_dir="/stream/")
    assert lake.online_nights() == [dt.date(2024, 11, d) for d in (4, 5, 6)]
    assert lake.online_night_dir("2024-11-05") == "stream/20241105"
    assert Lake(tmp_path / "nowhere").online_nights() == []


@pytest.mark.parametrize(
    ("path", "night"),
    [
        ("online/science/20241105/part-0.parquet", dt.date(2024, 11, 5)),
        ("/online/science/20241105/sub/part-0.parquet", dt.date(2024, 11, 5)),
        ("online/science/20241105", None),
        ("online/science/2024110/part-0.parquet", None),
        ("online/science/20241332/part-0.parquet", None),
        ("archive/online/science/20241105/part-0.parquet", None),
        ("science/year=2024/month=11/day=05/part-0.parquet", None),
    ],
)
def test_the_live_night_of_a_file(path, night):
    assert Lake("/lake").online_night_of(path) == night


@pytest.mark.parametrize(("month", "day"), [("11", "05"), ("11", "5"), ("1", "5"), ("01", "05")])
def test_an_archived_night_is_found_padded_or_not(tmp_path, month, day):
    directory = tmp_path / "archive" / "science" / "year=2024" / f"month={month}" / f"day={day}"
    directory.mkdir(parents=True)
    for name in ("part-1.parquet", "part-0.parquet", "_SUCCESS"):
        (directory / name).write_text("x")
    lake = Lake(tmp_path, science_dir="archive/science")
    night = dt.date(2024, int(month), int(day))
    prefix = f"archive/science/year=2024/month={month}/day={day}"
    assert lake.archive_night_files(night) == [
        f"{prefix}/part-0.parquet",
        f"{prefix}/part-1.parquet",
    ]
    assert lake.archive_night_files(night + dt.timedelta(days=1)) == []
