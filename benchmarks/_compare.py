"""The seed's method against ours on one lake file, measured alike (reader.py, remote_lake.py).

Procedure (each object is timed once, on one side of each figure):
- warm-up: both methods run on the same `warm` objects (imports, allocator, footers, index
  batches); never timed.
- seed: its method on the `timed` objects.
- ours, warm index: our method on the `timed` objects; their index batches were decoded by the
  warm-up requests (other objects), which the printed count of batch reads during the timed
  requests checks (0); their data pages were not read before by either side's timed run.
- ours, cold index: on other objects (`cold`), each request after dropping every decoded index
  batch (footers stay parsed): what a server pays when its cache does not hold that part of
  a large index.
- ours, fresh index: on other objects again (`fresh`), a new `AlertIndex` per request (footers,
  layout and batch read): the first request of a new server.
- bytes: both methods again through a filesystem that counts the bytes its files return,
  untimed (Python counting would distort the timing).
"""

from __future__ import annotations

import gzip
import io
import json
import time
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from _timing import p50_p95_ms
from pyarrow import fs

from fink_cutout_jupyter.contract.formats import arrays_json
from fink_cutout_jupyter.cutouts.reader import CutoutReader
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.storage.lake import Lake


def lake_objects(lake: Lake) -> list[str]:
    """Every object id of the lake, sorted (read with pyarrow)."""
    return sorted(
        {
            object_id
            for night in lake.nights()
            for path in lake.night_files(night)
            for object_id in pq.read_table(lake.resolve(path), columns=["objectId"])[0].to_pylist()
        }
    )


def seed_method(lake: Lake, path: str, object_id: str, kinds) -> bytes:
    """fink-cutout-api: read the object's rows of the cutout columns, astropy, JSON lists."""
    from astropy.io import fits

    columns = [f"cutout{kind}" for kind in kinds]
    table = pq.read_table(
        lake.resolve(path),
        columns=["objectId", *columns],
        filters=[("objectId", "=", object_id)],
        filesystem=lake.filesystem,
    )
    row = table.to_pydict()
    arrays = []
    for column in columns:
        stored = row[column][0]["stampData"]
        with fits.open(io.BytesIO(gzip.decompress(stored)), ignore_missing_simple=True) as hdul:
            arrays.append(hdul[0].data.tolist())
    return json.dumps(arrays).encode()


def our_method(index: AlertIndex, reader: CutoutReader, object_id: str, kinds) -> bytes:
    """Index lookup, the stamps' pages (after the file identity and the row's alert id), JSON."""
    alert = reader.read_location(index.latest(object_id), kinds)
    return arrays_json([stamp.data for stamp in alert.stamps.values()])


@dataclass
class Side:
    p50_ms: float
    p95_ms: float
    bytes_per_request: float = 0.0


@dataclass
class Comparison:
    seed: Side
    warm: Side
    cold: Side
    fresh: Side
    warm_batch_reads: int
    cold_batch_reads: int

    def figures(self) -> dict:
        """Every figure of `line`, for the benchmark's JSON (`_results.Figures`)."""
        return asdict(self)

    def line(self, label: str, stamps: int) -> str:
        seed, warm, cold, fresh = self.seed, self.warm, self.cold, self.fresh
        per_stamp = 1e6 * stamps
        return (
            f"{label:14s} seed {seed.p50_ms:6.2f} ms "
            f"({seed.bytes_per_request / per_stamp:4.1f} MB/stamp)"
            f" | ours warm {warm.p50_ms:5.2f} ms (p95 {warm.p95_ms:5.2f}, "
            f"{warm.bytes_per_request / per_stamp:4.2f} MB/stamp) {seed.p50_ms / warm.p50_ms:4.1f}x"
            f" | cold index {cold.p50_ms:5.2f} ms {seed.p50_ms / cold.p50_ms:4.1f}x"
            f" | fresh index {fresh.p50_ms:5.2f} ms {seed.p50_ms / fresh.p50_ms:4.1f}x"
            f" | index batches read: warm {self.warm_batch_reads},"
            f" cold {self.cold_batch_reads}"
        )


def _time(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _side(seconds: list[float]) -> Side:
    return Side(*p50_p95_ms(seconds))


def compare(lake: Lake, path: str, objects: dict[str, list[str]], kinds) -> Comparison:
    """Run the procedure above; `objects` holds disjoint lists: warm, timed, cold, fresh."""
    index, reader = AlertIndex(lake), CutoutReader(lake)
    for object_id in objects["warm"]:
        seed_method(lake, path, object_id, kinds)
        our_method(index, reader, object_id, kinds)
    seed = [_time(lambda o=o: seed_method(lake, path, o, kinds)) for o in objects["timed"]]
    before = index.batch_reads
    warm = [_time(lambda o=o: our_method(index, reader, o, kinds)) for o in objects["timed"]]
    warm_reads = index.batch_reads - before
    cold, before = [], index.batch_reads
    for object_id in objects["cold"]:
        index.forget_decoded()
        cold.append(_time(lambda o=object_id: our_method(index, reader, o, kinds)))
    cold_reads = index.batch_reads - before
    fresh = [
        _time(lambda o=o: our_method(AlertIndex(lake), reader, o, kinds)) for o in objects["fresh"]
    ]
    comparison = Comparison(
        _side(seed), _side(warm), _side(cold), _side(fresh), warm_reads, cold_reads
    )
    comparison.seed.bytes_per_request, comparison.warm.bytes_per_request = _bytes_read(
        lake, path, objects, kinds
    )
    return comparison


def _bytes_read(lake: Lake, path: str, objects, kinds) -> tuple[float, float]:
    """Bytes each method's files return per request, through a counting filesystem."""
    counter = _CountingHandler(lake.filesystem)
    counted = Lake.on_filesystem(fs.PyFileSystem(counter), lake.base)
    index, reader = AlertIndex(counted), CutoutReader(counted)
    for object_id in objects["warm"]:  # footers and index batches, as in the timed run
        our_method(index, reader, object_id, kinds)
    totals = []
    for method in (
        lambda o: seed_method(counted, path, o, kinds),
        lambda o: our_method(index, reader, o, kinds),
    ):
        counter.bytes = 0
        for object_id in objects["timed"]:
            method(object_id)
        totals.append(counter.bytes / len(objects["timed"]))
    return totals[0], totals[1]


class _CountingReader:
    """A readable file that counts the bytes it returns."""

    def __init__(self, native: pa.NativeFile, handler: _CountingHandler) -> None:
        self.native, self.handler, self.closed = native, handler, False

    def read(self, size: int = -1) -> bytes:
        data = self.native.read() if size is None or size < 0 else self.native.read(size)
        self.handler.bytes += len(data)
        return data

    def seek(self, position: int, whence: int = 0) -> int:
        return self.native.seek(position, whence)

    def tell(self) -> int:
        return self.native.tell()

    def close(self) -> None:
        self.native.close()
        self.closed = True


class _CountingHandler(fs.FileSystemHandler):
    """Delegates to a pyarrow filesystem; counts what its input files return."""

    def __init__(self, filesystem: fs.FileSystem) -> None:
        self.filesystem, self.bytes = filesystem, 0

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    def get_type_name(self) -> str:
        return f"counting-{self.filesystem.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.filesystem.normalize_path(path)

    def get_file_info(self, paths):
        return self.filesystem.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.filesystem.get_file_info(selector)

    def open_input_file(self, path: str):
        return pa.PythonFile(_CountingReader(self.filesystem.open_input_file(path), self), "r")

    def open_input_stream(self, path: str):
        return self.open_input_file(path)

    def _read_only(self, *args, **kwargs):
        raise NotImplementedError("the counting filesystem only reads")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only
