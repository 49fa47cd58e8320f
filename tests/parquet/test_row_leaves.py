"""One row's leaves read through the offset index, value for value against pyarrow's reading of
whole columns: the real Rubin alerts written with the page index (page sizes from a page per
list entry or so to one page, dictionary on and off, data pages v1 and v2) and the real Spark 3
ZTF file (parquet-mr)."""

import itertools
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.offset_index_edits import offset_index, rewrite_offset_index
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


def _histories(tmp_path, version="1.0", page_size=300):
    """40 alerts of 20 entries each, two rows a page (or the `page_size` given), with the page
    index: (path, records)."""
    element = pa.struct([("psfFlux", pa.float64()), ("psfFluxErr", pa.float64())])
    records = [
        {
            "id": r,
            "h": [{"psfFlux": r * 100.0 + j, "psfFluxErr": -r * 100.0 - j} for j in range(20)],
        }
        for r in range(40)
    ]
    path = tmp_path / "histories.parquet"
    table = pa.Table.from_pylist(records, pa.schema([("id", pa.int64()), ("h", pa.list_(element))]))
    pq.write_table(
        table,
        path,
        write_page_index=True,
        data_page_size=page_size,
        write_batch_size=10,
        use_dictionary=False,
        compression="NONE",
        data_page_version=version,
    )
    return path, pq.read_table(path).to_pylist()


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_a_page_whose_rows_the_offset_index_misstates_is_never_read_as_another_row(
    tmp_path, version
):
    path, records = _histories(tmp_path, version)
    pages = offset_index(path, 1)
    assert len(pages) > 4
    assert pages[3].first_row_index > pages[2].first_row_index + 1
    lied = pages[3]._replace(first_row_index=pages[3].first_row_index + 1)
    rewrite_offset_index(path, 1, [*pages[:3], lied, *pages[4:]])
    parquet = pq.ParquetFile(path)
    refused = 0
    with pa.OSFile(str(path)) as source:
        for row, record in enumerate(records):
            try:
                got = read_row(source, parquet, 0, row, ["h.list.element.psfFlux"], cache=None)
            except Unsupported:
                refused += 1
                continue
            assert got["h.list.element.psfFlux"] == [e["psfFlux"] for e in record["h"]], row
    # the pages before and after the misstated first row: each of their rows refused
    assert refused == pages[4].first_row_index - pages[2].first_row_index


def test_an_offset_index_pointing_outside_its_column_chunk_is_unsupported(tmp_path):
    path, records = _histories(tmp_path, page_size=1 << 20)
    errors = offset_index(path, 2)  # psfFluxErr's pages, said to be psfFlux's
    rewrite_offset_index(path, 1, errors)
    parquet = pq.ParquetFile(path)
    with pa.OSFile(str(path)) as source:
        for row in (0, 17, 39):
            with pytest.raises(Unsupported, match="outside its column chunk"):
                read_row(source, parquet, 0, row, ["h.list.element.psfFlux"], cache=None)
        got = read_row(source, parquet, 0, 17, ["h.list.element.psfFluxErr"], cache=None)
    assert got["h.list.element.psfFluxErr"] == [e["psfFluxErr"] for e in records[17]["h"]]


@pytest.mark.parametrize(
    ("kind", "stored"),
    [
        (pa.uint64(), 2**63 + 5),
        (pa.uint32(), 2**31 + 5),
        (pa.timestamp("us"), 1_700_000_000_000_000),
        (pa.date32(), 20_000),
        (pa.time64("us"), 5),
        (pa.large_string(), "band"),  # text: read here
        (pa.int8(), -3),  # a signed integer: read here
    ],
)
def test_leaves_of_a_logical_type_that_changes_their_values_are_unsupported(tmp_path, kind, stored):
    path = tmp_path / "typed.parquet"
    table = pa.table(
        {"flat": pa.array([stored], kind), "listed": pa.array([[stored]], pa.list_(kind))}
    )
    pq.write_table(table, path, write_page_index=True)
    expected = pq.read_table(path).to_pylist()[0]
    parquet = pq.ParquetFile(path)
    with pa.OSFile(str(path)) as source:
        for leaf, value in (
            ("flat", expected["flat"]),
            ("listed.list.element", expected["listed"]),
        ):
            if isinstance(stored, str) or kind == pa.int8():
                assert read_row(source, parquet, 0, 0, [leaf], cache=None) == {leaf: value}
            else:
                with pytest.raises(Unsupported, match="logical type"):
                    read_row(source, parquet, 0, 0, [leaf], cache=None)
