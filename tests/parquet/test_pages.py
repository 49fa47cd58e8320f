"""The page reader against pyarrow, byte for byte, on every row of real and generated files."""

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.parquet.columns import leaf
from fink_cutout_jupyter.parquet.pages import (
    Unsupported,
    decode_hybrid,
    page_map,
    read_value,
    read_values,
    spans_of_rows,
)
from fink_cutout_jupyter.parquet.spans import ColumnInfo, PageSpan

ZTF_CUTOUTS = ["cutoutScience.stampData", "cutoutTemplate.stampData", "cutoutDifference.stampData"]


def compare_every_row(path: Path, columns: list[str]) -> int:
    """Read every value of `columns` through the page reader and compare with pyarrow."""
    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata
    names = [metadata.row_group(0).column(i).path_in_schema for i in range(metadata.num_columns)]
    compared = 0
    with pa.OSFile(str(path)) as source:
        for group in range(metadata.num_row_groups):
            table = parquet.read_row_group(group, columns=columns)
            for column in columns:
                number = names.index(column)
                chunk = metadata.row_group(group).column(number)
                info = ColumnInfo(
                    chunk.compression,
                    parquet.schema.column(number).max_definition_level,
                    chunk.physical_type,
                )
                pages, dictionary = page_map(source, chunk)
                spans = spans_of_rows(pages, dictionary, chunk.num_values)
                values = leaf(table, column).to_pylist()
                for span, expected in zip(spans, values, strict=True):
                    assert read_value(source, span, info) == expected, (
                        path.name,
                        group,
                        column,
                        span,
                    )
                    compared += 1
                compare_pages_at_once(source, spans, values, info)
    return compared


def compare_pages_at_once(source, spans: list[PageSpan], values: list, info: ColumnInfo) -> None:
    """`read_values`: every page's rows in one read, and every other row (gaps between them)."""
    by_page: dict[int, list[tuple[PageSpan, object]]] = {}
    for span, expected in zip(spans, values, strict=True):
        by_page.setdefault(span.offset, []).append((span, expected))
    for rows in by_page.values():
        for chosen in (rows, rows[::2], rows[-1:]):
            found = read_values(source, chosen[0][0], info, [s.index_in_page for s, _ in chosen])
            assert found == {span.index_in_page: expected for span, expected in chosen}


@pytest.mark.parametrize(
    "path", sorted(SHARED_DATA.glob("ztf/lake*/**/*.parquet")), ids=lambda p: p.name[:10]
)
def test_every_real_stamp_and_alert_id_equals_pyarrow(path):
    rows = pq.ParquetFile(path).metadata.num_rows
    assert compare_every_row(path, [*ZTF_CUTOUTS, "candid"]) == 4 * rows


def stamp_chunk(path: Path):
    """Footer metadata of the cutoutScience.stampData chunk of the first row group."""
    metadata = pq.ParquetFile(path).metadata
    group = metadata.row_group(0)
    return next(
        group.column(i)
        for i in range(group.num_columns)
        if group.column(i).path_in_schema == "cutoutScience.stampData"
    )


@pytest.fixture(scope="module")
def with_nulls() -> pa.Table:
    """The real part-00002 rows, one Science stamp in seven set to null, plus repeated stamps."""
    path = next(SHARED_DATA.glob("ztf/lake/**/part-00002-*.parquet"))
    table = pq.read_table(path, columns=["objectId", "cutoutScience"])
    science = table.column("cutoutScience")
    nulls = pa.array([i % 7 == 3 for i in range(table.num_rows)])
    science = pc.if_else(nulls, pa.scalar(None, science.type), science)
    table = table.set_column(1, "cutoutScience", science)
    ids = pq.read_table(path, columns=["candid"]).column(0)
    table = table.append_column("candid", pc.if_else(nulls, pa.scalar(None, pa.int64()), ids))
    # Compressible values: every codec really compresses these pages (stamps are gzip already).
    note = pa.array([f"alert {i % 5} ".encode() * 200 for i in range(table.num_rows)])
    table = table.append_column("note", note)
    return pa.concat_tables([table, table.slice(0, 20)])  # repeats make dictionaries pay


CASES = list(
    itertools.product(
        ["snappy", "gzip", "zstd", "lz4", "none"],
        ["1.0", "2.0"],
        [True, False],
        [True, False],
        [64 * 1024, 1024 * 1024],
        [None, 10],
    )
)


@pytest.mark.parametrize(
    ("codec", "version", "dictionary", "page_index", "page_size", "group_rows"), CASES
)
def test_generated_files_equal_pyarrow(
    tmp_path, with_nulls, codec, version, dictionary, page_index, page_size, group_rows
):
    flat = pa.table({"cutout": pc.struct_field(with_nulls.column("cutoutScience"), "stampData")})
    for name, table, columns in [
        ("nested", with_nulls, ["cutoutScience.stampData", "candid", "note"]),
        ("flat", flat, ["cutout"]),
    ]:
        path = tmp_path / f"{name}.parquet"
        pq.write_table(
            table,
            path,
            compression=codec,
            data_page_version=version,
            use_dictionary=dictionary,
            write_page_index=page_index,
            data_page_size=page_size,
            row_group_size=group_rows or table.num_rows,
            write_batch_size=4,  # pages close near data_page_size, not every 1024 rows
        )
        assert compare_every_row(path, columns) == len(columns) * table.num_rows
        if name == "nested" and version == "2.0" and codec != "none" and not dictionary:
            assert compressed_v2_pages(path, "note"), "no v2 page was really compressed"


def compressed_v2_pages(path: Path, column: str) -> int:
    """How many data pages v2 of `column` hold compressed values (``is_compressed``)."""
    from fink_cutout_jupyter.parquet.pages import DATA_PAGE_V2, read_page_header

    metadata = pq.ParquetFile(path).metadata
    found = 0
    with pa.OSFile(str(path)) as source:
        for group in range(metadata.num_row_groups):
            chunk = next(
                metadata.row_group(group).column(i)
                for i in range(metadata.num_columns)
                if metadata.row_group(group).column(i).path_in_schema == column
            )
            for _, offset, _ in page_map(source, chunk)[0]:
                header = read_page_header(source, offset)
                found += header.type == DATA_PAGE_V2 and header.is_compressed
    return found


def test_dictionary_pages_are_really_exercised(tmp_path, with_nulls):
    path = tmp_path / "dictionary.parquet"
    pq.write_table(with_nulls, path, use_dictionary=True, dictionary_pagesize_limit=64 << 20)
    chunk = stamp_chunk(path)
    assert chunk.has_dictionary_page
    with pa.OSFile(str(path)) as source:
        _, dictionary = page_map(source, chunk)
    assert dictionary[0] >= 0
    assert compare_every_row(path, ["cutoutScience.stampData"]) == with_nulls.num_rows


def test_many_small_pages_are_mapped_to_the_right_rows(tmp_path, with_nulls):
    path = tmp_path / "small.parquet"
    pq.write_table(
        with_nulls, path, data_page_size=16 * 1024, use_dictionary=False, write_batch_size=1
    )
    chunk = stamp_chunk(path)
    with pa.OSFile(str(path)) as source:
        pages, _ = page_map(source, chunk)
    assert len(pages) > 20
    assert [first for first, *_ in pages] == sorted({first for first, *_ in pages})


def test_a_span_that_does_not_match_the_file_is_refused(tmp_path, with_nulls):
    path = tmp_path / "x.parquet"
    pq.write_table(with_nulls, path, use_dictionary=False)
    chunk = stamp_chunk(path)
    info = ColumnInfo(chunk.compression, 2)
    with pa.OSFile(str(path)) as source:
        pages, dictionary = page_map(source, chunk)
        span = spans_of_rows(pages, dictionary, chunk.num_values)[0]
        with pytest.raises(Unsupported, match="not where the index says"):
            read_value(source, PageSpan(span.offset, span.length - 1, 0), info)
        with pytest.raises(Unsupported, match="past the end of the page"):
            read_value(source, PageSpan(span.offset, span.length, 10**6), info)
        with pytest.raises(Unsupported, match="codec"):
            read_value(source, span, ColumnInfo("LZO", 2))


def test_hybrid_runs_decode_as_the_spec_says():
    # RLE run: header (3 << 1), value 5 in one byte; then a bit-packed group of 8 values of 3 bits.
    packed = sum(v << (3 * i) for i, v in enumerate([0, 1, 2, 3, 4, 5, 6, 7])).to_bytes(3, "little")
    data = bytes([3 << 1, 5, (1 << 1) | 1]) + packed
    assert decode_hybrid(data, 0, len(data), 3, 11) == [5, 5, 5, 0, 1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(Unsupported, match="end early"):
        decode_hybrid(data, 0, len(data), 3, 12)


@pytest.mark.parametrize("bit_width", [0, 1, 2, 3, 7, 8, 13, 17, 24, 31, 32])
def test_bit_packed_runs_of_every_width_decode_as_packed(bit_width):
    """The expectation is packed here with Python integers, as the Parquet spec writes it."""
    import random

    rng = random.Random(bit_width)
    groups = 9
    values = [rng.getrandbits(bit_width) if bit_width else 0 for _ in range(8 * groups)]
    packed = sum(v << (bit_width * i) for i, v in enumerate(values))
    data = bytes([(groups << 1) | 1]) + packed.to_bytes(groups * bit_width, "little")
    assert decode_hybrid(data, 0, len(data), bit_width, len(values)) == values
    assert decode_hybrid(b"\x00" * 3 + data, 3, len(data) + 3, bit_width, 5) == values[:5]


def test_a_failed_page_read_falls_back_to_pyarrow_and_is_counted(demo, caplog):
    import dataclasses

    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    lake = Lake(demo.root)
    location = AlertIndex(lake).latest("ZTF24abssjsb")
    reader = CutoutReader(lake)
    good = reader.read_location(location)
    assert (reader.page_reads, reader.page_fallbacks) == (3, 0)
    span, column = location.page_spans["Science"]
    wrong = dataclasses.replace(span, length=span.length + 1)
    broken = dataclasses.replace(
        location, page_spans={**location.page_spans, "Science": (wrong, column)}
    )
    with caplog.at_level("WARNING"):
        again = reader.read_location(broken)
    assert reader.page_fallbacks == 1
    assert "reading its row group" in caplog.text
    assert {k: s.fits_bytes for k, s in again.stamps.items()} == {
        k: s.fits_bytes for k, s in good.stamps.items()
    }


@pytest.mark.parametrize(
    "encodings",
    [
        {"candid": "DELTA_BINARY_PACKED"},
        {"cutoutScience.stampData": "DELTA_LENGTH_BYTE_ARRAY"},
        {"cutoutScience.stampData": "DELTA_BYTE_ARRAY"},
    ],
    ids=["delta id", "delta-length stamps", "delta stamps"],
)
def test_pages_the_reader_cannot_decode_fall_back_to_pyarrow(tmp_path, ztf_rows, encodings):
    """The index maps any file's pages; what the page reader cannot decode, pyarrow reads."""
    from fink_cutout_jupyter.cutouts.reader import CutoutReader
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    rows = [row for row in ztf_rows if row["path"] == ztf_rows[0]["path"]]
    source = rows[0]["lake"].resolve(rows[0]["path"])
    night = tmp_path / "science/year=2021/month=11/day=21"
    night.mkdir(parents=True)
    pq.write_table(
        pq.read_table(source),
        night / "part-00000-delta.parquet",
        use_dictionary=False,
        column_encoding=encodings,
    )
    lake = Lake(tmp_path)
    index = AlertIndex(lake)
    build(index, lake.nights(), progress=False)
    reader = CutoutReader(lake)
    for row in rows:
        location = index.alert(row["candid"])
        assert location.page_spans is not None
        alert = reader.read_location(location)
        assert {kind: stamp.fits_bytes for kind, stamp in alert.stamps.items()} == row["fits"]
    assert (reader.page_fallbacks, reader.page_reads, reader.stale_reads) == (len(rows), 0, 0)


def test_values_the_reader_does_not_know_are_refused(tmp_path, with_nulls):
    path = tmp_path / "x.parquet"
    pq.write_table(with_nulls, path, use_dictionary=False)
    chunk = stamp_chunk(path)
    with pa.OSFile(str(path)) as source:
        pages, dictionary = page_map(source, chunk)
        span = spans_of_rows(pages, dictionary, chunk.num_values)[0]
        with pytest.raises(Unsupported, match="physical type DOUBLE"):
            read_value(source, span, ColumnInfo(chunk.compression, 2, "DOUBLE"))
    pq.write_table(with_nulls, path, use_dictionary=True)
    chunk = stamp_chunk(path)
    with pa.OSFile(str(path)) as source:
        pages, _ = page_map(source, chunk)
        _, offset, length = pages[0]
        with pytest.raises(Unsupported, match="without a dictionary page"):
            read_value(source, PageSpan(offset, length, 0), ColumnInfo(chunk.compression, 2))


@pytest.mark.parametrize(
    "header",
    [b"\x15\x00\x00", b"\x15", b"\xff" * 8, b"\x19\x1c" + b"\x00" * 6],
    ids=["missing fields", "cut short", "unknown type", "empty list of structs"],
)
def test_bytes_that_are_not_the_indexed_page_raise_unsupported(tmp_path, header):
    """A page header rewritten in place (same size) never escapes as the parser's own error."""
    path = tmp_path / "page.bin"
    path.write_bytes(header + bytes(200))
    span, column = PageSpan(0, len(header) + 200, 0), ColumnInfo("UNCOMPRESSED", 0)
    with pa.OSFile(str(path)) as source, pytest.raises(Unsupported):
        read_values(source, span, column, [0])


def test_a_run_claiming_more_values_than_asked_gives_only_those():
    """An RLE run of 2**40 values (garbage levels) gives the values asked for, at once."""
    run = bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1])  # varint 2**41: repeat 2**40, value 1
    assert decode_hybrid(run, 0, len(run), 1, 5) == [1] * 5
    with pytest.raises(Unsupported):
        decode_hybrid(bytes([0x7F, 0xFF]), 0, 2, 1, 5)  # a bit-packed run past its data
