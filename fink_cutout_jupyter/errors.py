"""Errors a caller can read: each carries the HTTP status the API answers with."""

QUOTED_LENGTH = 100


def quote(value: object) -> str:
    """`repr` of a caller's value for an error text, cut to about `QUOTED_LENGTH` characters."""
    text = repr(value)
    return text if len(text) <= QUOTED_LENGTH else f"{text[: QUOTED_LENGTH - 1]}…"


class CutoutError(Exception):
    """Base of every error this package raises on purpose."""

    status = 500


class BadParameter(CutoutError, ValueError):
    """A parameter is missing or has a value outside what is allowed (HTTP 400)."""

    status = 400


class NotFound(CutoutError, LookupError):
    """No such object, alert or file in the lake (HTTP 404)."""

    status = 404


class OutsideLake(CutoutError, PermissionError):
    """A path that would leave the lake root (HTTP 403)."""

    status = 403


class LakeUnavailable(CutoutError, OSError):
    """The lake's filesystem cannot be reached (HTTP 503)."""

    status = 503


class TooLarge(CutoutError):
    """A request body larger than the API accepts (HTTP 413)."""

    status = 413


class CorruptData(CutoutError):
    """Stored bytes that do not decode: a stamp, a lake file or an index file (HTTP 502).

    Not an outage (503, worth retrying) and not the caller's doing (4xx): the lake answered,
    with bytes that are not what they should be.
    """

    status = 502


class IndexOutdated(CutoutError):
    """The alert index was written by another version in another format (HTTP 503)."""

    status = 503


class IndexDamaged(CutoutError):
    """An alert index file that the layout names is missing, truncated or malformed (HTTP 503).

    The text names the file and the command that repairs the index.
    """

    status = 503
    file: str  # set by `index.layout.damaged`, with the reason
    reason: str


class IndexBusy(CutoutError):
    """Another writer holds the alert index, or published it while this one wrote (HTTP 409)."""

    status = 409


class ServerBusy(CutoutError):
    """The batches being answered hold the server's memory budget (HTTP 503): try again after
    `retry_after` seconds (the reply's ``Retry-After``)."""

    status = 503
    retry_after = 2
