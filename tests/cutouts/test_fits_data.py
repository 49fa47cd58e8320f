"""`image_pixels` against astropy (the independent source): every real stamp, generated files."""

import gzip
import io
import warnings

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.real_data import SHARED_DATA

from fink_cutout_jupyter.cutouts.fits_data import image_pixels, stored_pixels
from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.errors import CorruptData
from fink_cutout_jupyter.surveys import KINDS

BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
GENERATED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def astropy_pixels(fits_bytes: bytes) -> np.ndarray | None:
    """What astropy gives: the first HDU's data that is not None."""
    for hdu in fits.open(io.BytesIO(fits_bytes), ignore_missing_simple=True):
        if hdu.data is not None:
            return hdu.data
    return None


def assert_same(got: np.ndarray | None, expected: np.ndarray) -> None:
    assert got is not None
    assert got.dtype == expected.dtype.newbyteorder("=")
    assert got.dtype.isnative
    assert got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=got.dtype.kind == "f")


def assert_stored_pixels_as_astropy(fits_bytes: bytes, expected: np.ndarray) -> None:
    """`stored_pixels` is a copy-free view equal to astropy's data, or None where astropy
    scales the stored values."""
    stored = stored_pixels(fits_bytes)
    if stored is None:
        return
    assert not stored.flags.writeable
    assert stored.dtype == expected.dtype
    assert stored.shape == expected.shape
    assert np.array_equal(stored, expected, equal_nan=stored.dtype.kind == "f")


def assert_astropy_through_stamp(fits_bytes: bytes) -> None:
    """`Stamp.data` gives astropy's pixels, or CorruptData where astropy finds none or fails
    (astropy's warnings on such files are not the point here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = astropy_pixels(fits_bytes)
        except Exception:
            expected = None
        if expected is None:
            with pytest.raises(CorruptData):
                Stamp("Science", fits_bytes).data  # noqa: B018 - the property raises
        else:
            assert_same(Stamp("Science", fits_bytes).data, expected)


# --- every real stamp -------------------------------------------------------------------


def ztf_avro_stamps() -> list[bytes]:
    import fastavro

    stamps = []
    for avro in sorted((SHARED_DATA / "ztf" / "alerts").glob("*.avro")):
        with avro.open("rb") as stream:
            for record in fastavro.reader(stream):
                stamps += [gzip.decompress(record[f"cutout{k}"]["stampData"]) for k in KINDS]
    return stamps


def test_every_real_stamp_is_read_here_as_astropy_reads_it(ztf_rows, rubin_records):
    parquet = [row["fits"][kind] for row in ztf_rows for kind in KINDS]
    avro = ztf_avro_stamps()
    rubin = [record[f"cutout{kind}"] for record in rubin_records for kind in KINDS]
    rubin = [stamp for stamp in rubin if stamp is not None]
    assert (len(parquet), len(avro), len(rubin)) == (378, 93, 27)
    dtypes, shapes = set(), set()
    for stamp in parquet + avro + rubin:
        expected = astropy_pixels(stamp)
        assert expected is not None
        assert_same(image_pixels(stamp), expected)
        assert_same(image_pixels(memoryview(stamp)), expected)
        assert_same(Stamp("Science", stamp).data, expected)
        assert_stored_pixels_as_astropy(stamp, expected)
        dtypes.add(expected.dtype.str)
        shapes.add(expected.shape)
    assert {(63, 63), (63, 62), (30, 30)} <= shapes
    assert any(np.isnan(astropy_pixels(stamp)).any() for stamp in parquet)


def test_rubin_stamps_hold_a_long_wcs_header_read_here(rubin_records):
    stamp = rubin_records[0]["cutoutScience"]
    header = fits.open(io.BytesIO(stamp))[0].header
    assert "CRVAL1" in header
    assert len(header) > 20
    assert_same(image_pixels(stamp), astropy_pixels(stamp))


# --- generated files: hand-written cards -------------------------------------------------


def card(text: str) -> bytes:
    assert len(text) <= 80
    return text.ljust(80).encode("ascii")


def value_card(keyword: str, value: str, style: int, comment: str = "") -> bytes:
    """A ``keyword = value`` card: fixed format (column 30), free format, or a D exponent."""
    text = f"{keyword:<8}= {value:>20}" if style == 0 else f"{keyword:<8}= {value}"
    if comment:
        text += f" / {comment}"
    return card(text)


def number_text(number: float, style: int) -> str:
    if isinstance(number, int):
        return str(number)
    if style == 2:
        return f"{number:.17E}".replace("E", "D")
    return repr(float(number)).upper()


def header_bytes(cards: list[bytes]) -> bytes:
    header = b"".join([*cards, card("END")])
    return header.ljust(-(-len(header) // 2880) * 2880, b" ")


def data_bytes(raw: np.ndarray) -> bytes:
    data = raw.tobytes()
    return data.ljust(-(-len(data) // 2880) * 2880, b"\0")


TRICKY = [
    "COMMENT END",
    "COMMENT " + "END" + " " * 69,
    "HISTORY BZERO   =                 1000 / not a card",
    "COMMENT NAXIS1  =                   99",
    "HISTORY    BSCALE  = 3",
    "OBJECT  = 'END     BLANK   = 7' / a string value",
    "CONTINUE  'BZERO   = 5 END'",
    "ENDTIME =                  5.0 / a keyword starting END",
    "COMMENT",
    "",
]


# other keywords starting as the data's do: legal, left to astropy (None) or read the same
OTHERS = ["BZEROX  =                  100 / another keyword", "NAXIS9  =                    3"]


@st.composite
def hand_written(draw):
    """A FITS file whose image HDU's cards are written by hand, values in every format."""
    bitpix = draw(st.sampled_from(list(BITPIX)))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=1, max_size=3)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dtype = np.dtype(BITPIX[bitpix])
    if bitpix < 0:  # finite values: no overflow in the scaling
        raw = (rng.normal(0, 1e3, shape)).astype(dtype)
        raw[rng.random(shape) < 0.2] = np.nan
    else:
        raw = np.frombuffer(rng.bytes(int(np.prod(shape)) * dtype.itemsize), dtype)
        raw = raw.reshape(shape)
    scaling = draw(st.sampled_from(["none", "unsigned", "int8", "scaled", "ones"]))
    cards = {}
    if scaling == "unsigned" and bitpix > 8:
        cards["BZERO"] = draw(st.sampled_from([2 ** (bitpix - 1), float(2 ** (bitpix - 1))]))
        cards["BSCALE"] = draw(st.sampled_from([1, 1.0]))
    elif scaling == "int8" and bitpix == 8:
        cards["BZERO"] = -128
    elif scaling == "scaled":
        cards["BZERO"] = draw(st.one_of(st.integers(-1000, 1000), st.floats(-1e4, 1e4)))
        cards["BSCALE"] = draw(st.one_of(st.integers(-3, 3), st.floats(-10, 10)))
    elif scaling == "ones":
        cards["BZERO"], cards["BSCALE"] = 0, 1.0
    if bitpix > 0 and scaling != "int8" and draw(st.booleans()):
        cards["BLANK"] = draw(st.sampled_from([0, int(raw.flat[0]), int(raw.flat[-1])]))
    style = draw(st.integers(0, 2))
    image = [
        value_card("BITPIX", str(bitpix), style, "bits"),
        value_card("NAXIS", str(len(shape)), style),
        *[
            value_card(f"NAXIS{axis + 1}", str(length), style)
            for axis, length in enumerate(reversed(shape))
        ],
    ]
    others = draw(st.lists(st.sampled_from(OTHERS), max_size=1))
    extra = [card(text) for text in draw(st.lists(st.sampled_from(TRICKY), max_size=80)) + others]
    scale_cards = [
        value_card(name, number_text(value, style), style, draw(st.sampled_from(["", "a/b"])))
        for name, value in cards.items()
    ]
    tail = extra + scale_cards
    order = draw(st.permutations(range(len(tail))))
    image += [tail[i] for i in order]
    layout = draw(st.sampled_from(["primary", "extension", "second extension"]))
    simple = card(draw(st.sampled_from(["SIMPLE  =  T", "SIMPLE  =                    T"])))
    if layout == "primary":
        hdus = header_bytes([simple, *image]) + data_bytes(raw)
    else:
        empty = header_bytes([simple, value_card("BITPIX", "8", 0), value_card("NAXIS", "0", 0)])
        extension = [
            card("XTENSION= 'IMAGE   '           / Image extension"),
            *image,
            value_card("PCOUNT", "0", 0),
            value_card("GCOUNT", "1", 0),
        ]
        hdus = empty
        if layout == "second extension":
            hdus += header_bytes(
                [
                    card("XTENSION= 'IMAGE   '"),
                    value_card("BITPIX", "16", 0),
                    value_card("NAXIS", "0", 0),
                    *[card(text) for text in draw(st.lists(st.sampled_from(TRICKY), max_size=40))],
                ]
            )
        hdus += header_bytes(extension) + data_bytes(raw)
    if draw(st.booleans()):
        hdus += header_bytes(
            [
                card("XTENSION= 'IMAGE   '"),
                value_card("BITPIX", "16", 0),
                value_card("NAXIS", "1", 0),
                value_card("NAXIS1", "2", 0),
            ]
        ) + data_bytes(np.zeros(2, ">i2"))
    return hdus, not others


@GENERATED
@given(hand_written())
def test_hand_written_files_are_read_as_astropy_reads_them(written):
    fits_bytes, read_here = written
    expected = astropy_pixels(fits_bytes)
    assert expected is not None
    assert_stored_pixels_as_astropy(fits_bytes, expected)
    got = image_pixels(fits_bytes)
    if read_here or got is not None:
        assert_same(got, expected)
    assert_same(Stamp("Science", fits_bytes).data, expected)


# --- generated files: written by astropy -------------------------------------------------


@st.composite
def astropy_written(draw):
    """A FITS file astropy writes from an array of any type, in the primary or an extension."""
    dtype = np.dtype(
        draw(
            st.sampled_from(
                ["u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8", ">f4", ">i2"]
            )
        )
    )
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pixels = np.frombuffer(rng.bytes(int(np.prod(shape)) * dtype.itemsize), dtype).reshape(shape)
    if dtype.kind == "f":
        pixels = pixels.copy()
        pixels[rng.random(shape) < 0.3] = np.nan
    header = fits.Header()
    for number in range(draw(st.integers(0, 120))):
        header.add_comment(draw(st.sampled_from(["END", "BZERO   = 3", f"wcs {number}"])))
        header[f"CRVAL{number % 9}"] = float(rng.normal())
    header.add_history("END" + " " * 70)
    if draw(st.booleans()):
        hdus = [fits.PrimaryHDU(data=pixels, header=header)]
    else:
        hdus = [fits.PrimaryHDU()]
        if draw(st.booleans()):
            hdus.append(fits.ImageHDU(name="EMPTY"))
        hdus.append(fits.ImageHDU(data=pixels, header=header, name="IMAGE"))
    if draw(st.booleans()):
        hdus.append(fits.BinTableHDU.from_columns([fits.Column("a", "J", array=[1, 2])]))
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


@GENERATED
@given(astropy_written())
def test_astropy_written_files_are_read_as_astropy_reads_them(fits_bytes):
    expected = astropy_pixels(fits_bytes)
    assert_same(image_pixels(fits_bytes), expected)
    assert_same(Stamp("Science", fits_bytes).data, expected)
    assert_stored_pixels_as_astropy(fits_bytes, expected)


def test_scaled_integers_take_astropy_float_types():
    for bitpix, dtype in ((8, np.float32), (16, np.float32), (32, np.float64), (64, np.float64)):
        raw = np.arange(6, dtype=BITPIX[bitpix]).reshape(2, 3)
        fits_bytes = header_bytes(
            [
                card("SIMPLE  =                    T"),
                value_card("BITPIX", str(bitpix), 0),
                value_card("NAXIS", "2", 0),
                value_card("NAXIS1", "3", 0),
                value_card("NAXIS2", "2", 0),
                value_card("BSCALE", "0.5D0", 1),
                value_card("BLANK", "4", 0),
            ]
        ) + data_bytes(raw)
        got = image_pixels(fits_bytes)
        assert got is not None
        assert got.dtype == dtype
        assert_same(got, astropy_pixels(fits_bytes))
        assert np.isnan(got[1, 1])
        assert got[0, 2] == 1.0


@pytest.mark.parametrize(
    "scaling",
    [
        "bzero   =                   10",
        "BZERO   =                 1D1 / a D exponent",
        "BZERO   = 10.0/no space",
        "BZERO   =          +1.0e+1",
        "BSCALE  = .5",
    ],
)
def test_free_format_and_lower_case_cards_are_read_as_astropy_reads_them(scaling):
    fits_bytes = primary(*FOUR, scaling, data=SHORT)
    assert_same(image_pixels(fits_bytes), astropy_pixels(fits_bytes))


def test_blank_zero_is_no_nan_as_in_astropy():
    """astropy converts to floats when BLANK is set, but puts NaN only where BLANK is true."""
    fits_bytes = primary(*FOUR, "BLANK   =                    0", data=SHORT)
    got = image_pixels(fits_bytes)
    assert got is not None
    assert got.dtype == np.float32
    assert got[0] == 0
    assert_same(got, astropy_pixels(fits_bytes))


def test_a_header_read_before_gives_each_file_its_own_pixels():
    first, second = np.arange(4, dtype=">i2"), np.arange(4, 8, dtype=">i2")
    for raw in (first, second, first):
        fits_bytes = primary(*FOUR, "BZERO   =                    3", data=data_bytes(raw))
        assert_same(image_pixels(fits_bytes), astropy_pixels(fits_bytes))
    refused = primary(*FOUR, "BZERO= 3", data=SHORT)
    assert image_pixels(refused) is None
    assert image_pixels(refused) is None


# --- what is left to astropy ---------------------------------------------------------------


def primary(*texts: str, data: bytes = b"") -> bytes:
    return header_bytes([card(text) for text in texts]) + data


SHORT = data_bytes(np.arange(4, dtype=">i2"))
IMAGE = ("SIMPLE  =                    T", "BITPIX  =                   16", "NAXIS   = 1")
FOUR = (*IMAGE, "NAXIS1  =                    4")
LEFT_TO_ASTROPY = {
    "a duplicated keyword (astropy takes the last)": primary(
        *FOUR, "BZERO   =                   10", "BZERO   =                   20", data=SHORT
    ),
    "a keyword after spaces": primary(*FOUR, " BZERO  =                   10", data=SHORT),
    "an axis again after spaces (astropy takes the last)": primary(
        *IMAGE, "NAXIS1  =                    4", " NAXIS1 =                    2", data=SHORT
    ),
    "a standard-looking record across two cards": primary(
        *FOUR, "HISTOBZERO 10", "   = not a value", data=SHORT
    ),
    "a value indicator early": primary(*FOUR, "BZERO= 10", data=SHORT),
    "a value with a space in its exponent": primary(*FOUR, "BZERO   = 1.0 E1", data=SHORT),
    "no value indicator": primary(*FOUR, "BZERO    10", data=SHORT),
    "BLANK on floats": primary(
        "SIMPLE  = T",
        "BITPIX  = -32",
        "NAXIS   = 1",
        "NAXIS1  = 2",
        "BLANK   = 1",
        data=data_bytes(np.ones(2, ">f4")),
    ),
    "int8 with a float BZERO (astropy fails)": primary(
        "SIMPLE  = T",
        "BITPIX  = 8",
        "NAXIS   = 1",
        "NAXIS1  = 2",
        "BZERO   = -128.0",
        data=data_bytes(np.ones(2, "u1")),
    ),
    "int8 with BLANK (astropy fails)": primary(
        "SIMPLE  = T",
        "BITPIX  = 8",
        "NAXIS   = 1",
        "NAXIS1  = 2",
        "BZERO   = -128",
        "BLANK   = 1",
        data=data_bytes(np.ones(2, "u1")),
    ),
    "four axes": primary(
        "SIMPLE  = T",
        "BITPIX  = 16",
        "NAXIS   = 4",
        "NAXIS1  = 1",
        "NAXIS2  = 1",
        "NAXIS3  = 2",
        "NAXIS4  = 2",
        data=SHORT,
    ),
    "no NAXIS1": primary(*IMAGE, data=SHORT),
    "truncated data": primary(*IMAGE, "NAXIS1  = 4000", data=SHORT),
    "an unknown BITPIX": primary("SIMPLE  = T", "BITPIX  = 24", "NAXIS   = 1", "NAXIS1  = 1"),
    "a non-ASCII comment": header_bytes(
        [*map(card, FOUR), "COMMENT caf\xe9".ljust(80).encode("latin-1")]
    )
    + SHORT,
    "an invalid END card": primary(*FOUR, "END     / end", data=SHORT),
    "SIMPLE false": primary("SIMPLE  = F", *FOUR[1:], data=SHORT),
}


def compressed_image() -> bytes:
    buffer = io.BytesIO()
    pixels = np.arange(12, dtype=np.int32).reshape(3, 4)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(pixels)]).writeto(buffer)
    return buffer.getvalue()


def random_groups() -> bytes:
    """Two groups of one parameter and four pixels (astropy writing them fails on BytesIO)."""
    return primary(
        "SIMPLE  =                    T",
        "BITPIX  =                  -32",
        "NAXIS   =                    2",
        "NAXIS1  =                    0",
        "NAXIS2  =                    4",
        "GROUPS  =                    T",
        "PCOUNT  =                    1",
        "GCOUNT  =                    2",
        "PTYPE1  = 'P       '",
        data=data_bytes(np.arange(10, dtype=">f4")),
    )


@pytest.mark.parametrize("case", sorted(LEFT_TO_ASTROPY))
def test_what_is_not_read_here_is_left_to_astropy(case):
    fits_bytes = LEFT_TO_ASTROPY[case]
    assert image_pixels(fits_bytes) is None
    assert_astropy_through_stamp(fits_bytes)


@pytest.mark.parametrize("make", [compressed_image, random_groups])
def test_compressed_images_and_random_groups_are_left_to_astropy(make):
    fits_bytes = make()
    assert image_pixels(fits_bytes) is None
    assert_astropy_through_stamp(fits_bytes)


def test_a_table_before_the_image_is_left_to_astropy():
    buffer = io.BytesIO()
    table = fits.BinTableHDU.from_columns([fits.Column("a", "J", array=[1, 2])])
    fits.HDUList([fits.PrimaryHDU(), table, fits.ImageHDU(np.ones((2, 2)))]).writeto(buffer)
    assert image_pixels(buffer.getvalue()) is None


def test_a_file_without_an_image_is_left_to_astropy():
    fits_bytes = primary("SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0")
    assert image_pixels(fits_bytes) is None
    with pytest.raises(CorruptData, match="holds no image"):
        Stamp("Science", fits_bytes).data  # noqa: B018 - the property raises


def test_stored_pixels_are_given_only_where_astropy_does_not_scale():
    raw = np.arange(6, dtype=">i2").reshape(2, 3)
    texts = ["SIMPLE  =  T", "BITPIX  =  16", "NAXIS   =  2", "NAXIS1  =  3", "NAXIS2  =  2"]
    plain = header_bytes([card(text) for text in texts])
    scaled = header_bytes([card(text) for text in [*texts, "BZERO   =  32768"]])
    assert np.array_equal(stored_pixels(plain + data_bytes(raw)), raw)
    assert stored_pixels(scaled + data_bytes(raw)) is None
    assert stored_pixels(plain + data_bytes(raw)[:-2880]) is None  # truncated data
