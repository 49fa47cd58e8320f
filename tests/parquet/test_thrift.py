import pytest

from fink_cutout_jupyter.parquet.thrift import CompactReader


def test_varints_and_zigzag_as_the_compact_protocol_writes_them():
    # 300 = 0b1_0010_1100 -> 0xAC 0x02; zigzag: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3
    assert CompactReader(bytes([0xAC, 0x02])).varint() == 300
    assert [CompactReader(bytes([b])).zigzag() for b in (0, 1, 2, 3)] == [0, -1, 1, -2]


def test_a_struct_with_ints_a_nested_struct_a_list_and_a_skipped_binary():
    data = bytes(
        [
            0x15, 0x04,  # field 1, i32, zigzag 2
            0x1C,  # field 2, struct
            0x15, 0x06, 0x00,  # field 1 = 3, stop
            0x19, 0x25, 0x02, 0x04,  # field 3, list of 2 i32: 1, 2
            0x18, 0x03, 0x61, 0x62, 0x63,  # field 4, binary "abc", skipped
            0x11,  # field 5, bool true
            0x00,
        ]
    )  # fmt: skip
    reader = CompactReader(data)
    assert reader.struct() == {1: 2, 2: {1: 3}, 3: [1, 2], 4: None, 5: True}
    assert reader.position == len(data)


def test_cut_short_and_unknown_types_are_errors():
    with pytest.raises(EOFError):
        CompactReader(bytes([0x15])).struct()
    with pytest.raises(ValueError, match="unknown Thrift compact type 13"):
        CompactReader(bytes([0x1D, 0x00])).struct()


def test_skip_passes_over_what_struct_reads():
    data = bytes(
        [
            0x15, 0x04,  # field 1, i32
            0x1C, 0x15, 0x06, 0x00,  # field 2, struct {1: 3}
            0x19, 0x3C, 0x15, 0x02, 0x00, 0x00, 0x15, 0x04, 0x00,  # field 3, list of 3 structs
            0x18, 0x03, 0x61, 0x62, 0x63,  # field 4, binary
            0x19, 0x11, 0x01,  # field 5, list of one bool (a byte each in a list)
            0x17, 0, 0, 0, 0, 0, 0, 0, 0,  # field 6, double
            0x05, 0x80, 0x01, 0x06,  # field 64 by a zigzag id (delta 0), i32 = 3
            0x00,
        ]
    )  # fmt: skip
    for kind_of_read in ("skip", "fields"):
        reader = CompactReader(data)
        if kind_of_read == "skip":
            reader.skip(12)
        else:
            assert [field for field, kind in reader.fields() if reader.skip(kind) is None] == [
                1,
                2,
                3,
                4,
                5,
                6,
                64,
            ]
        assert reader.position == len(data)
    with pytest.raises(EOFError):
        CompactReader(data[:-4]).skip(12)
