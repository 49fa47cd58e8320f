"""The page spans the index stores: the documented 39-byte layout, read back as written.

Expectations come from pyarrow's footer metadata (offsets, codecs, definition levels) and from
the layout `pack_spans` documents, decoded here with numpy, not by `unpack_spans`.
"""

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.parquet.pages import page_map, spans_of_rows
from fink_cutout_jupyter.parquet.spans import (
    PHYSICAL_TYPES,
    ColumnInfo,
    PageSpan,
    pack_spans,
    unpack_spans,
)

# Parquet's CompressionCodec enumeration, as parquet.thrift numbers it.
PARQUET_CODECS = ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"]
# The layout `pack_spans` documents: little-endian, no padding.
DOCUMENTED = np.dtype(
    [
        ("offset", "<i8"),
        ("length", "<i8"),
        ("index_in_page", "<i4"),
        ("dictionary_offset", "<i8"),
        ("dictionary_length", "<i8"),
        ("codec", "u1"),
        ("max_definition_level", "u1"),
        ("physical_type", "u1"),
    ]
)
COLUMNS = ["cutoutScience.stampData", "cutoutDifference.stampData", "candid"]


@pytest.mark.parametrize(
    "path", sorted(SHARED_DATA.glob("ztf/lake*/**/*.parquet"))[:3], ids=lambda p: p.name[:10]
)
def test_spans_of_real_files_pack_as_documented_and_unpack_as_they_were(path):
    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata
    names = [metadata.row_group(0).column(i).path_in_schema for i in range(metadata.num_columns)]
    assert DOCUMENTED.itemsize == 39
    with pa.OSFile(str(path)) as source:
        for group, column in itertools.product(range(metadata.num_row_groups), COLUMNS):
            number = names.index(column)
            chunk = metadata.row_group(group).column(number)
            level = parquet.schema.column(number).max_definition_level
            info = ColumnInfo(chunk.compression, level, chunk.physical_type)
            spans = spans_of_rows(*page_map(source, chunk), chunk.num_values)
            packed = pack_spans([(span, info) for span in spans])

            fields = np.frombuffer(packed, DOCUMENTED)
            assert len(fields) == chunk.num_values
            first_page = chunk.dictionary_page_offset or chunk.data_page_offset
            if chunk.has_dictionary_page:
                assert set(fields["dictionary_offset"]) == {first_page}
            else:
                assert set(fields["dictionary_offset"]) == {-1}
                assert fields["offset"][0] == chunk.data_page_offset
            assert fields["offset"].max() + fields["length"].max() <= (
                first_page + chunk.total_compressed_size
            )
            assert set(fields["codec"]) == {PARQUET_CODECS.index(chunk.compression)}
            assert set(fields["max_definition_level"]) == {level}
            assert set(fields["physical_type"]) == {
                ["BYTE_ARRAY", "INT32", "INT64"].index(chunk.physical_type)
            }
            on_first_page = fields["offset"] == fields["offset"][0]
            assert fields["index_in_page"][on_first_page].tolist() == list(
                range(int(on_first_page.sum()))
            )
            assert unpack_spans(packed) == [(span, info) for span in spans]


@pytest.mark.parametrize(
    ("codec", "physical_type"), list(itertools.product(PARQUET_CODECS, PHYSICAL_TYPES))
)
def test_every_codec_and_physical_type_reads_back(codec, physical_type):
    spans = [
        (PageSpan(4, 1 << 40, 0), ColumnInfo(codec, 0, physical_type)),
        (PageSpan(2**62, 17, 2**31 - 1, 3, 1 << 33), ColumnInfo(codec, 255, physical_type)),
    ]
    packed = pack_spans(spans)
    assert len(packed) == 2 * 39
    fields = np.frombuffer(packed, DOCUMENTED)
    assert fields["offset"].tolist() == [4, 2**62]
    assert fields["length"].tolist() == [1 << 40, 17]
    assert fields["dictionary_length"].tolist() == [0, 1 << 33]
    assert fields["codec"].tolist() == [PARQUET_CODECS.index(codec)] * 2
    assert unpack_spans(packed) == spans


def test_nothing_packs_to_nothing_and_an_unknown_codec_is_refused():
    assert pack_spans([]) == b""
    assert unpack_spans(b"") == []
    with pytest.raises(ValueError, match="LZMA"):
        pack_spans([(PageSpan(0, 1, 0), ColumnInfo("LZMA", 0))])
