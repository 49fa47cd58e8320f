"""The footer's offset index locations and the offset index itself, against pyarrow's view."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.parquet.offset_index import (
    NoOffsetIndex,
    PageLocation,
    offset_index_spans,
    page_of_row,
    parse_offset_index,
    read_footer,
)
from fink_cutout_jupyter.parquet.pages import page_map
from fink_cutout_jupyter.parquet.thrift import CompactReader

SPARK3 = next((SHARED_DATA / "ztf" / "lake-spark3").rglob("*.parquet"))
SPARK2 = next((SHARED_DATA / "ztf" / "lake").rglob("*.parquet"))


def _written(tmp_path, **options):
    values = [[float(i * 10 + j) for j in range(i % 7)] or None for i in range(500)]
    table = pa.table({"id": list(range(500)), "history": values})
    path = tmp_path / "file.parquet"
    pq.write_table(table, path, row_group_size=200, **options)
    return path


@pytest.mark.parametrize("path", [SPARK3, SPARK2])
def test_passing_over_a_real_footer_ends_where_parsing_it_does(path):
    with pa.OSFile(str(path)) as source:
        footer = read_footer(source)
    skipped = CompactReader(footer)
    skipped.skip(12)
    parsed = CompactReader(footer)
    parsed.struct()
    assert skipped.position == parsed.position == len(footer)


def test_each_page_of_a_real_spark3_file_is_where_its_offset_index_says():
    parquet = pq.ParquetFile(SPARK3)
    group = parquet.metadata.row_group(0)
    with pa.OSFile(str(SPARK3)) as source:
        spans = offset_index_spans(read_footer(source), 0, list(range(group.num_columns)))
        assert sorted(spans) == list(range(group.num_columns))
        for column, (offset, length) in spans.items():
            pages = parse_offset_index(source.read_at(length, offset))
            walked, _ = page_map(source, group.column(column))  # page headers read one by one
            assert [
                (page.first_row_index, page.offset, page.compressed_page_size) for page in pages
            ] == walked  # the size includes the page header


@pytest.mark.parametrize("page_size", [64, 1 << 20])
def test_pages_of_a_list_column_start_at_rows_as_pyarrow_wrote_them(tmp_path, page_size):
    path = _written(tmp_path, write_page_index=True, data_page_size=page_size)
    parquet = pq.ParquetFile(path)
    with pa.OSFile(str(path)) as source:
        footer = read_footer(source)
        for group in range(parquet.num_row_groups):
            spans = offset_index_spans(footer, group, [1])
            pages = parse_offset_index(source.read_at(spans[1][1], spans[1][0]))
            rows = parquet.metadata.row_group(group).num_rows
            assert pages[0].first_row_index == 0
            assert (len(pages) > 1) == (page_size == 64)
            covered = [page_of_row(pages, row, rows) for row in range(rows)]
            assert all(
                first <= row < first + count for row, (_, first, count) in enumerate(covered)
            )
            assert sum(count for _, _, count in {(p, f, c) for p, f, c in covered}) == rows


def test_a_file_without_a_page_index_has_no_spans(tmp_path):
    path = _written(tmp_path)
    with pa.OSFile(str(path)) as source:
        assert offset_index_spans(read_footer(source), 0, [0, 1]) == {}
    with pa.OSFile(str(SPARK2)) as source:
        assert offset_index_spans(read_footer(source), 0, [0, 1]) == {}


def test_bad_footers_and_indexes_are_no_offset_index(tmp_path):
    path = _written(tmp_path, write_page_index=True)
    with pa.OSFile(str(path)) as source:
        footer = read_footer(source)
        with pytest.raises(NoOffsetIndex, match="no row group 9"):
            offset_index_spans(footer, 9, [0])
    with pytest.raises(NoOffsetIndex, match="does not parse"):
        offset_index_spans(footer[: len(footer) // 2], 2, [0])
    with pytest.raises(NoOffsetIndex):
        parse_offset_index(b"\x19\x1c")
    not_parquet = tmp_path / "not.parquet"
    not_parquet.write_bytes(b"hello world, not parquet at all")
    with pa.OSFile(str(not_parquet)) as source, pytest.raises(NoOffsetIndex):
        read_footer(source)


def test_page_of_row_finds_the_page_and_its_rows():
    pages = [PageLocation(4, 10, 0), PageLocation(14, 10, 3), PageLocation(24, 10, 8)]
    assert page_of_row(pages, 0, 10) == (pages[0], 0, 3)
    assert page_of_row(pages, 7, 10) == (pages[1], 3, 5)
    assert page_of_row(pages, 9, 10) == (pages[2], 8, 2)
    with pytest.raises(IndexError):
        page_of_row(pages, 10, 10)
