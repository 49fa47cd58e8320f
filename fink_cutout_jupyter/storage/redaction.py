"""Secrets blanked out of text before it is logged, shown or answered (standard library only).

Both doors scrub their log lines and error texts with `scrub_secrets` (through
`doors.scrubbing`); the lake shows its URI only `redacted`: a storage URI may carry credentials,
as pyarrow takes them (``s3://KEY:SECRET@bucket/prefix?endpoint_override=…``, a token in the
query).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote

SECRET = "[secret]"
# A query parameter whose name contains one of these (as jupyter_server's own request log scrubs).
SECRET_PARAMETER_KEYS = ("token", "auth", "key", "xsrf")
# Beside those, the query parameters of a storage URI whose values are secret (S3's secret_key
# and session_token are already covered by "key" and "token").
URI_SECRET_KEYS = ("secret", "password", "passwd", "credential", "signature")
# The userinfo of a URI: everything before the last "@" of the part before the query, so that a
# password with an unescaped "/" (which pyarrow refuses, quoting the URI) is still userinfo.
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^?#]*)@")


def scrub_secrets(text: str, secrets: Iterable[str] = (), keys: Iterable[str] = ()) -> str:
    """`text` with secret query values replaced by `SECRET`.

    Parameters
    ----------
    text : str
    secrets : iterable of str
        Values to blank wherever they appear (a request's own credentials).
    keys : iterable of str
        More fragments of query parameter names whose values are secret, beside
        `SECRET_PARAMETER_KEYS` (e.g. jupyter_server's ``extra_log_scrub_param_keys``).
    """
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, SECRET)
    return _secret_parameter(tuple(keys)).sub(lambda match: match.group(1) + SECRET, text)


def redacted(uri: str) -> str:
    """`uri` as it may be shown: its userinfo and its secret query values replaced by `SECRET`.

    ``s3://KEY:SECRET@bucket/ztf?endpoint_override=host:9000&session_token=T`` is shown as
    ``s3://[secret]@bucket/ztf?endpoint_override=host:9000&session_token=[secret]``; a local
    path or a URI without credentials is unchanged.
    """
    userinfo = _USERINFO.match(uri)
    if userinfo:
        uri = uri[: userinfo.start(1)] + SECRET + uri[userinfo.end(1) :]
    return scrub_secrets(uri, keys=URI_SECRET_KEYS)


def uri_secrets(uri: str) -> tuple[str, ...]:
    """The credentials `uri` carries, as given and percent-decoded: its userinfo, its password
    and the values of its secret query parameters (to blank them wherever a text quotes them)."""
    found = []
    userinfo = _USERINFO.match(uri)
    if userinfo:
        found.append(userinfo[1] + "@")
        found.append(userinfo[1].partition(":")[2])
    query = uri.partition("?")[2].partition("#")[0]
    names = (*SECRET_PARAMETER_KEYS, *URI_SECRET_KEYS)
    for parameter in re.split(r"[&;]", query):
        name, _, value = parameter.partition("=")
        if any(key in name.lower() for key in names):
            found.append(value)
    return tuple({form for secret in found if secret for form in (secret, unquote(secret))})


def scrub_uri(text: str, uri: str) -> str:
    """`text` with `uri` `redacted` and its credentials (`uri_secrets`) blanked wherever they
    appear, as in an error of the filesystem quoting them."""
    if uri in text:
        text = text.replace(uri, redacted(uri))
    return scrub_secrets(text, uri_secrets(uri), keys=URI_SECRET_KEYS)


@lru_cache(maxsize=8)
def _secret_parameter(extra_keys: tuple[str, ...]) -> re.Pattern:
    names = "|".join(re.escape(key) for key in (*SECRET_PARAMETER_KEYS, *extra_keys) if key)
    return re.compile(rf"(?i)([?&;][^=&;\s\"'#?]*(?:{names})[^=&;\s\"'#?]*=)[^&;\s\"'#]*")
