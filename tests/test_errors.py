"""The package's errors: the HTTP status each carries, the built-in family each belongs to, and
a caller's value quoted short."""

import pytest

from fink_cutout_jupyter import errors
from fink_cutout_jupyter.errors import QUOTED_LENGTH, quote

# The statuses the house rules give each kind of failure (HTTP semantics, RFC 9110).
STATUSES = {
    "CutoutError": 500,
    "BadParameter": 400,
    "NotFound": 404,
    "OutsideLake": 403,
    "LakeUnavailable": 503,
    "TooLarge": 413,
    "CorruptData": 502,
    "IndexOutdated": 503,
    "IndexDamaged": 503,
    "IndexBusy": 409,
    "ServerBusy": 503,
}


def test_every_error_carries_its_status():
    defined = {
        name
        for name, item in vars(errors).items()
        if isinstance(item, type) and issubclass(item, errors.CutoutError)
    }
    assert defined == set(STATUSES)
    for name, status in STATUSES.items():
        assert getattr(errors, name).status == status, name


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (errors.BadParameter, ValueError),
        (errors.NotFound, LookupError),
        (errors.OutsideLake, PermissionError),
        (errors.LakeUnavailable, OSError),
    ],
)
def test_errors_are_caught_as_the_builtin_they_are(error, builtin):
    """Code that knows nothing of the package (``except ValueError``) still catches them."""
    with pytest.raises(builtin, match="said"):
        raise error("said")


def test_a_short_value_is_quoted_whole():
    assert quote("ZTF18aaqfhlj") == "'ZTF18aaqfhlj'"
    assert quote(12) == "12"
    assert quote("a'b") == '"a\'b"'


def test_a_long_value_is_cut_to_the_quoted_length_with_an_ellipsis():
    text = "x" * 500
    quoted = quote(text)
    assert len(quoted) == QUOTED_LENGTH
    assert quoted == "'" + "x" * (QUOTED_LENGTH - 2) + "…"
    exact = "y" * (QUOTED_LENGTH - 2)  # its repr is exactly QUOTED_LENGTH long
    assert quote(exact) == f"'{exact}'"
