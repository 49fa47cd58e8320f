"""Secrets blanked out of text before it is logged or answered (standard library only).

Both doors use it: the standalone door's access log and error texts (`connections`), and the
Jupyter door's warnings naming a request and its lake (`jupyter`), without either importing the
other's web framework. The scrubbing lives in `storage.redaction`, below every layer that shows
a lake's URI.
"""

from __future__ import annotations

from fink_cutout_jupyter.storage.redaction import (
    SECRET,
    SECRET_PARAMETER_KEYS,
    redacted,
    scrub_secrets,
)

__all__ = ["SECRET", "SECRET_PARAMETER_KEYS", "redacted", "scrub_secrets"]
