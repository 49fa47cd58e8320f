import pytest

from fink_cutout_jupyter.contract.retry_after import retry_after_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-5", 0.0),
        ("inf", 10.0),
        ("60", 10.0),
        ("nan", None),
        ("NaN", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_a_pause_between_0_and_the_most(value, seconds):
    assert retry_after_seconds(value, 10.0) == seconds
