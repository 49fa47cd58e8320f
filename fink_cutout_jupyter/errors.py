"""Errors a caller can read: each carries the HTTP status the API answers with."""


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


class IndexOutdated(CutoutError):
    """The alert index was written by another version in another format (HTTP 503)."""

    status = 503
