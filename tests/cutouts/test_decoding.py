"""Stored bytes that do not decode: corrupt data (502) told from a failing lake (503)."""

import pytest

from fink_cutout_jupyter.cutouts.reader import CutoutReader


def _as_indexed(location, page_spans: bool):
    import dataclasses

    return location if page_spans else dataclasses.replace(location, page_spans=None)


@pytest.mark.parametrize("page_spans", [True, False])
def test_garbage_pages_at_the_same_size_and_mtime_are_corrupt_data(rewritable_lake, page_spans):
    """pyarrow cannot decode the rewritten page either: 502 naming the file, not 503 (the
    filesystem answers) nor 500; the other kinds, on intact pages, are still served."""
    import os

    from support.rewrites import stored_stamps

    from fink_cutout_jupyter.contract.api import CutoutAPI
    from fink_cutout_jupyter.errors import CorruptData

    lake = rewritable_lake
    candid = lake.table.column("candid")[10].as_py()
    location = _as_indexed(lake.index.alert(candid), page_spans)
    expected = stored_stamps(lake.file, candid)
    before = lake.file.stat()
    with open(lake.file, "r+b") as stream:
        stream.seek(lake.index.alert(candid).page_spans["Science"][0].offset)
        stream.write(b"\x15\x00\x00")
    os.utime(lake.file, ns=(before.st_atime_ns, before.st_mtime_ns))
    reader = CutoutReader(lake.lake)
    with pytest.raises(CorruptData, match=f"hdfsPath: {lake.path} does not decode as Parquet"):
        reader.read_location(location, ("Science",))
    alert = reader.read_location(location, ("Template", "Difference"))
    assert {k: s.fits_bytes for k, s in alert.stamps.items()} == {
        kind: expected[kind] for kind in ("Template", "Difference")
    }
    reply = CutoutAPI(lake.lake).handle("cutouts", {"candid": candid, "kind": "Science"})
    assert reply.status == 502, reply.body


_FAILING_READS = r"""
import ctypes, json, platform, struct, sys
from fink_cutout_jupyter.contract.api import CutoutAPI
from fink_cutout_jupyter.storage.lake import Lake

api = CutoutAPI(Lake(sys.argv[1], science_dir="archive/science"))
params = {"hdfsPath": sys.argv[2], "objectId": "ZTF18aaqfhlj", "kind": "Science"}
assert api.handle("cutouts", params).status == 200
# From here on the kernel fails every pread(2) of every thread with EIO, as a failing disk
# does; stat(2) still answers. pyarrow reads local files with pread.
arch, pread, seccomp = {"x86_64": (0xC000003E, 17, 317), "aarch64": (0xC00000B7, 67, 277)}[
    platform.machine()]
program = b"".join(struct.pack("HBBI", *op) for op in [
    (0x20, 0, 0, 4), (0x15, 0, 3, arch), (0x20, 0, 0, 0), (0x15, 0, 1, pread),
    (0x06, 0, 0, 0x00050000 | 5), (0x06, 0, 0, 0x7FFF0000)])
buffer = ctypes.create_string_buffer(program)
class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # no new privileges
flags = 1  # SECCOMP_FILTER_FLAG_TSYNC: pyarrow's threads too
fprog = Program(len(program) // 8, ctypes.addressof(buffer))
assert libc.syscall(seccomp, 1, flags, ctypes.byref(fprog)) == 0, ctypes.get_errno()
reply = CutoutAPI(Lake(sys.argv[1], science_dir="archive/science")).handle("cutouts", params)
print(json.dumps({"status": reply.status, "body": reply.body.decode()}))
"""


def test_a_read_failing_while_stat_answers_is_an_outage_not_corrupt_data(ztf_lake):
    """A disk (or an HDFS DataNode) that fails reads while the file still answers a stat: 503,
    worth retrying, never 502 'does not decode'. The failure is the kernel's own EIO on every
    read (a seccomp filter in a subprocess), pyarrow and the lake untouched."""
    import json
    import platform
    import subprocess
    import sys

    from support.real_data import SHARED_DATA

    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip("the failing reads are made with a Linux seccomp filter")
    path = ztf_lake.night_files("19881103")[0]
    done = subprocess.run(
        [sys.executable, "-c", _FAILING_READS, str(SHARED_DATA / "ztf" / "lake"), path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["status"] == 503, reply
    assert "does not decode" not in reply["body"]
    assert f"failed reading hdfsPath: {path}" in reply["body"]
    assert "Input/output error" in reply["body"]
    assert str(SHARED_DATA) not in reply["body"]
