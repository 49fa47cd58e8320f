"""One row's leaves read through the offset index, value for value against pyarrow's reading of
whole columns: the real Rubin alerts written with the page index (page sizes from a page per
list entry or so to one page, dictionary on and off, data pages v1 and v2) and the real Spark 3
ZTF file (parquet-mr)."""

import itertools
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.parquet.row_leaves import (
    NoOffsetIndex,
    OffsetIndexCache,
    Unsupported,
    read_row,
)

HISTORY_LEAVES = {
    "prvDiaSources": ("diaSourceId", "midpointMjdTai", "band", "psfFlux", "psfFluxErr"),
    "prvDiaForcedSources": ("midpointMjdTai", "band", "psfFlux", "psfFluxErr"),
    "prv_candidates": ("candid", "jd", "fid", "magpsf", "sigmapsf", "diffmaglim"),
}
FLAT = (
    "candid",
    "diaSourceId",
    "objectId",
    "candidate.jd",
    "candidate.fid",
    "candidate.magpsf",
    "diaSource.midpointMjdTai",
    "diaSource.band",
    "diaSource.psfFlux",
    "diaSource.ra",
    "diaObject.diaObjectId",
    "ssSource.designation",
    "ssSource.ssObjectId",
)
VARIANTS = list(itertools.product([None, 64, 4096], [True, False], ["1.0", "2.0"]))


@pytest.fixture(scope="module")
def rubin_files(rubin_lake, tmp_path_factory):
    """The real Rubin alerts in one table, written in each variant with the page index."""
    tables = [
        pq.read_table(rubin_lake.resolve(path))
        for night in rubin_lake.nights()
        for path in rubin_lake.night_files(night)
    ]
    table = pa.concat_tables(tables).combine_chunks()
    root = tmp_path_factory.mktemp("rubin-page-index")
    files = []
    for page_size, dictionary, version in VARIANTS:
        path = root / f"rubin-{page_size}-{dictionary}-{version}.parquet"
        options = {} if page_size is None else {"data_page_size": page_size}
        pq.write_table(
            table,
            path,
            write_page_index=True,
            use_dictionary=dictionary,
            data_page_version=version,
            row_group_size=4,
            **options,
        )
        files.append(path)
    return files


def _wanted(parquet):
    paths = [parquet.schema.column(i).path for i in range(len(parquet.schema))]
    return [
        path
        for path in paths
        if path in FLAT
        or (
            path.count(".") == 3
            and path.split(".")[3] in HISTORY_LEAVES.get(path.split(".")[0], ())
        )
    ]


def _expected(record, path):
    names = path.split(".")
    if len(names) == 4:
        entries = record[names[0]]
        return None if entries is None else [None if e is None else e[names[3]] for e in entries]
    for name in names:
        record = None if record is None else record[name]
    return record


def _same(got, expected):
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(_same(a, b) for a, b in zip(got, expected, strict=True))
        )
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return type(got) is type(expected) and got == expected


def _check_file(path):
    parquet = pq.ParquetFile(path)
    wanted = _wanted(parquet)
    tops = sorted({leaf.split(".")[0] for leaf in wanted})
    whole = [
        record
        for group in range(parquet.num_row_groups)
        for record in parquet.read_row_group(group, columns=tops).to_pylist()
    ]
    compared, start = 0, 0
    cache = OffsetIndexCache()
    with pa.OSFile(str(path)) as source:
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            for row in range(rows):
                got = read_row(source, parquet, group, row, wanted, key=str(path), cache=cache)
                for leaf in wanted:
                    expected = _expected(whole[start + row], leaf)
                    assert _same(got[leaf], expected), (path.name, group, row, leaf)
                    compared += 1 if not isinstance(expected, list) else len(expected)
            start += rows
    return wanted, compared


@pytest.mark.parametrize(
    "variant", range(len(VARIANTS)), ids=[f"page{p}-dict{d}-v{v}" for p, d, v in VARIANTS]
)
def test_every_rubin_row_read_alone_is_what_pyarrow_reads(rubin_files, variant):
    wanted, compared = _check_file(rubin_files[variant])
    assert {
        "prvDiaSources.list.element.psfFlux",
        "prvDiaForcedSources.list.element.band",
        "diaSourceId",
        "diaSource.band",
    } <= set(wanted)
    assert compared > 5 * (300 * 5 + 340 * 4)  # five alerts carry hundreds of entries each


def test_the_small_pages_split_each_list_column_at_rows(rubin_files):
    parquet = pq.ParquetFile(rubin_files[VARIANTS.index((64, True, "1.0"))])
    group = parquet.metadata.row_group(0)
    assert all(group.column(i).has_offset_index for i in range(group.num_columns))


def test_every_spark3_ztf_row_read_alone_is_what_pyarrow_reads():
    path = next((SHARED_DATA / "ztf" / "lake-spark3").rglob("*.parquet"))
    wanted, compared = _check_file(path)
    assert "prv_candidates.list.element.diffmaglim" in wanted
    assert compared > 20


def test_a_file_without_an_offset_index_says_so():
    path = next((SHARED_DATA / "ztf" / "lake").rglob("*.parquet"))
    parquet = pq.ParquetFile(path)
    with pa.OSFile(str(path)) as source, pytest.raises(NoOffsetIndex):
        read_row(source, parquet, 0, 0, ["candid"], cache=None)


def test_a_page_this_reader_does_not_decode_is_unsupported(tmp_path):
    path = tmp_path / "flags.parquet"
    pq.write_table(pa.table({"flags": [[True, False]] * 3}), path, write_page_index=True)
    with pa.OSFile(str(path)) as source, pytest.raises(Unsupported, match="BOOLEAN"):
        read_row(source, pq.ParquetFile(path), 0, 1, ["flags.list.element"], cache=None)


def test_the_offset_indexes_are_kept_per_file_and_row_group(rubin_files):
    path = rubin_files[0]
    parquet = pq.ParquetFile(path)
    cache = OffsetIndexCache(files=1)
    with pa.OSFile(str(path)) as source:
        first = read_row(
            source, parquet, 0, 1, ["prvDiaSources.list.element.psfFlux"], key="a", cache=cache
        )
        assert cache.get("a", 0)
        again = read_row(
            source, parquet, 0, 1, ["prvDiaSources.list.element.psfFlux"], key="a", cache=cache
        )
        read_row(source, parquet, 1, 0, ["diaSourceId"], key="a", cache=cache)
    assert first == again
    assert cache.get("a", 0) == {}  # one entry kept: the newest
    assert cache.get("a", 1)
