"""Secrets blanked out of text before it is logged or answered (standard library only).

Both doors use it: the standalone door's access log and error texts (`connections`), and the
Jupyter door's warnings naming a request (`extension`), without either importing the other's web
framework.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

SECRET = "[secret]"
# A query parameter whose name contains one of these (as jupyter_server's own request log scrubs).
SECRET_PARAMETER_KEYS = ("token", "auth", "key", "xsrf")


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
    for secret in secrets:
        if secret:
            text = text.replace(secret, SECRET)
    return _secret_parameter(tuple(keys)).sub(lambda match: match.group(1) + SECRET, text)


@lru_cache(maxsize=8)
def _secret_parameter(extra_keys: tuple[str, ...]) -> re.Pattern:
    names = "|".join(re.escape(key) for key in (*SECRET_PARAMETER_KEYS, *extra_keys) if key)
    return re.compile(rf"(?i)([?&;][^=&;\s\"'#?]*(?:{names})[^=&;\s\"'#?]*=)[^&;\s\"'#]*")
