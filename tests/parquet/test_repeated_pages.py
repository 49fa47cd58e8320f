"""A leaf's row decoded from its one data page: levels, nulls at each depth, encodings."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fink_cutout_jupyter.parquet.offset_index import (
    offset_index_spans,
    page_of_row,
    parse_offset_index,
    read_footer,
)
from fink_cutout_jupyter.parquet.pages import Unsupported
from fink_cutout_jupyter.parquet.repeated_pages import (
    LeafColumn,
    hybrid_slice,
    row_bounds,
    row_of_page,
)

ROWS = [
    None,  # a null list
    [],  # an empty one
    [None, {"flux": 1.5, "band": "g"}],  # a null element
    [{"flux": None, "band": None}, {"flux": float("inf"), "band": "r"}],  # null leaves
    [{"flux": float(i), "band": "ugrizy"[i % 6]} for i in range(40)],
]


def test_hybrid_runs_rle_and_bit_packed():
    # RLE: header 3 << 1 = 6 (three values), value 5 (one byte); then bit-packed, width 3:
    # header (1 group << 1) | 1 = 3, values 0..7 packed little-endian in three bytes
    packed = sum(value << (3 * i) for i, value in enumerate(range(8))).to_bytes(3, "little")
    data = bytes([6, 5, 3]) + packed
    values, _ = hybrid_slice(data, 0, len(data), 3, 0, 11)
    assert values.tolist() == [5, 5, 5, 0, 1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(Unsupported, match="end early"):
        hybrid_slice(data, 0, len(data), 3, 0, 12)
    # the runs holding values 2..6 alone, and how many 5s come before them
    values, fives = hybrid_slice(data, 0, len(data), 3, 2, 5, counted=5)
    assert (values.tolist(), fives) == ([5, 0, 1, 2, 3], 2)
    values, fives = hybrid_slice(data, 0, len(data), 3, 9, 2, counted=5)
    assert (values.tolist(), fives) == ([6, 7], 4)


def test_row_bounds_find_the_row_and_count_the_pages_rows():
    # rows of 1, 3 and 2 values: levels 0 | 0 1 1 | 0 1, bit-packed (one group, width 1)
    levels = [0, 0, 1, 1, 0, 1]
    data = bytes([3, sum(level << i for i, level in enumerate(levels))])
    assert row_bounds(data, 0, len(data), 0, 6) == (0, 1, 3)
    assert row_bounds(data, 0, len(data), 1, 6) == (1, 4, 3)
    assert row_bounds(data, 0, len(data), 2, 6) == (4, 6, 3)  # the last row: the page's end
    with pytest.raises(Unsupported):
        row_bounds(data, 0, len(data), 3, 6)
    # RLE runs: 0 (a row), then 1 x 9, then 0 x 2 (two rows of one value): three rows
    data = bytes([1 << 1, 0, 9 << 1, 1, 2 << 1, 0])
    assert row_bounds(data, 0, len(data), 0, 12) == (0, 10, 3)
    with pytest.raises(Unsupported, match="end before"):
        row_bounds(data, 0, len(data), 0, 13)


def _pages(tmp_path, **options):
    schema = pa.schema(
        [("history", pa.list_(pa.struct([("flux", pa.float64()), ("band", pa.string())])))]
    )
    path = tmp_path / "history.parquet"
    pq.write_table(
        pa.table({"history": ROWS * 3}, schema=schema), path, write_page_index=True, **options
    )
    return path


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"use_dictionary": False, "data_page_size": 64},
        {"data_page_version": "2.0", "compression": "zstd"},
    ],
)
@pytest.mark.parametrize("leaf", ["flux", "band"])
def test_nulls_at_every_depth_come_back_as_stored(tmp_path, options, leaf):
    path = _pages(tmp_path, **options)
    parquet = pq.ParquetFile(path)
    column = 0 if leaf == "flux" else 1
    chunk = parquet.metadata.row_group(0).column(column)
    described = parquet.schema.column(column)
    decoding = LeafColumn(
        chunk.compression,
        described.physical_type,
        described.max_definition_level,
        1,
        2,
        leaf == "band",
    )
    with pa.OSFile(str(path)) as source:
        offset, length = offset_index_spans(read_footer(source), 0, [column])[column]
        pages = parse_offset_index(source.read_at(length, offset))
        dictionary = None
        if chunk.has_dictionary_page:
            start = chunk.dictionary_page_offset
            dictionary = source.read_at(pages[0].offset - start, start)
        for row, stored in enumerate(ROWS * 3):
            page, first, count = page_of_row(pages, row, len(ROWS) * 3)
            data = source.read_at(page.compressed_page_size, page.offset)
            got = row_of_page(data, dictionary, decoding, row - first, count)
            expected = None if stored is None else [None if e is None else e[leaf] for e in stored]
            assert got == expected
            if row == 4 and count > 1:  # a wrong row count is caught (the page read to its end)
                with pytest.raises(Unsupported):
                    row_of_page(data, dictionary, decoding, count - 1, count + 1)


def test_bytes_that_are_not_the_page_are_unsupported(tmp_path):
    path = _pages(tmp_path)
    parquet = pq.ParquetFile(path)
    described = parquet.schema.column(0)
    decoding = LeafColumn("SNAPPY", "DOUBLE", described.max_definition_level, 1, 2)
    with pa.OSFile(str(path)) as source:
        offset, length = offset_index_spans(read_footer(source), 0, [0])[0]
        page = parse_offset_index(source.read_at(length, offset))[0]
        data = bytearray(source.read_at(page.compressed_page_size, page.offset))
    with pytest.raises(Unsupported):
        row_of_page(bytes(data[:-3]), None, decoding, 0, len(ROWS) * 3)
    data[-20:] = bytes(20)
    with pytest.raises(Unsupported):
        row_of_page(bytes(data), None, decoding, 4, len(ROWS) * 3)


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_a_page_holding_other_rows_than_said_is_unsupported_whichever_row_is_read(
    tmp_path, version
):
    path = _pages(tmp_path, use_dictionary=False, data_page_version=version)
    parquet = pq.ParquetFile(path)
    described = parquet.schema.column(0)
    decoding = LeafColumn("SNAPPY", "DOUBLE", described.max_definition_level, 1, 2)
    rows = len(ROWS) * 3
    with pa.OSFile(str(path)) as source:
        offset, length = offset_index_spans(read_footer(source), 0, [0])[0]
        page = parse_offset_index(source.read_at(length, offset))[0]
        data = source.read_at(page.compressed_page_size, page.offset)
    assert row_of_page(data, None, decoding, 2, rows) == [None, 1.5]
    for said in (rows - 1, rows + 1):  # the page's first row read, as said to be in a page
        with pytest.raises(Unsupported, match="rows are not the offset index's"):
            row_of_page(data, None, decoding, 0, said)


def test_a_zeroed_page_header_is_unsupported(tmp_path):
    path = _pages(tmp_path)
    parquet = pq.ParquetFile(path)
    described = parquet.schema.column(0)
    decoding = LeafColumn("SNAPPY", "DOUBLE", described.max_definition_level, 1, 2)
    with pytest.raises(Unsupported, match="does not decode"):
        row_of_page(bytes(300), None, decoding, 0, len(ROWS) * 3)
