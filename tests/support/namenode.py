"""The NameNode's audit log of ci/services.sh's HDFS: the calls clients made, counted."""

from __future__ import annotations

import os


def audit_mark() -> int:
    """Where the audit log ends now: count the calls made after it with `namenode_calls`."""
    return os.path.getsize(os.environ["HDFS_AUDIT_LOG"])


def namenode_calls(since: int) -> list[str]:
    """Client calls the NameNode logged since byte `since` of its audit log: 'cmd path'."""
    with open(os.environ["HDFS_AUDIT_LOG"]) as log:
        log.seek(since)
        lines = log.read().splitlines()
    fields = [dict(f.split("=", 1) for f in line.split("\t") if "=" in f) for line in lines]
    return [f"{f['cmd']} {f['src']}" for f in fields if "cmd" in f]
