"""One cutout from one file: the seed's method against CutoutReader, timed in the same run.

The seed (fink-cutout-api) runs ``pq.read_table(path, columns=[objectId, cutoutX],
filters=[objectId == X])``, gunzips, opens the FITS with astropy and serialises ``data.tolist()``
to JSON. We do the same request through CutoutReader + to_array + json. Both read the whole
column chunk of the stamp (the page-level reader is issue 7); ours also reads the small id, time
and display columns so that it can return the *latest* alert.

Run: python benchmarks/reader.py  (uses ../shared/data and a fresh demo lake)
"""

import gzip
import io
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import p50_p95_ms, timed

from fink_cutout_jupyter.demo import make_demo_lake
from fink_cutout_jupyter.lake import Lake
from fink_cutout_jupyter.reader import CutoutReader
from fink_cutout_jupyter.stamps import to_array

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def seed_method(path: str, object_id: str, kind: str) -> str:
    import pyarrow.parquet as pq
    from astropy.io import fits

    column = f"cutout{kind}"
    table = pq.read_table(
        path, columns=["objectId", column], filters=[("objectId", "=", object_id)]
    )
    stored = table.to_pydict()[column][0]["stampData"]
    with fits.open(io.BytesIO(gzip.decompress(stored)), ignore_missing_simple=True) as hdul:
        return json.dumps([hdul[0].data.tolist()])


def our_method(reader: CutoutReader, path: str, object_id: str, kind: str) -> str:
    alert = reader.read(path, object_id=object_id, kinds=(kind,))
    return json.dumps([to_array(alert.stamps[kind])], allow_nan=False)


def compare(label: str, lake: Lake, requests: list[tuple[str, str]], repeat: int) -> float:
    reader = CutoutReader(lake)
    rng = random.Random(1)
    chosen = [rng.choice(requests) for _ in range(repeat)]
    seed_calls = iter(chosen * 2)
    our_calls = iter(chosen * 2)

    def seed_call():
        path, object_id = next(seed_calls)
        return seed_method(lake.resolve(path), object_id, "Science")

    def our_call():
        path, object_id = next(our_calls)
        return our_method(reader, path, object_id, "Science")

    seed, ours = timed(seed_call, repeat), timed(our_call, repeat)
    seed50, seed95 = p50_p95_ms(seed)
    our50, our95 = p50_p95_ms(ours)
    print(
        f"{label}: seed p50 {seed50:.2f} ms p95 {seed95:.2f} ms | ours p50 {our50:.2f} ms "
        f"p95 {our95:.2f} ms | ratio {seed50 / our50:.2f}x"
    )
    return seed50 / our50


def requests_of(lake: Lake) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    pairs = []
    for night in lake.nights():
        for path in lake.night_files(night):
            ids = pq.read_table(lake.resolve(path), columns=["objectId"]).column(0).to_pylist()
            pairs += [(path, object_id) for object_id in set(ids)]
    return pairs


def main() -> None:
    real = Lake(SHARED / "ztf" / "lake", science_dir="archive/science")
    real_ratio = compare("real ZTF lake (2.9 MB files)", real, requests_of(real), 200)
    with tempfile.TemporaryDirectory() as directory:
        demo = Lake(make_demo_lake(directory).root)
        demo_ratio = compare("demo lake (1.5 MB files)", demo, requests_of(demo), 200)
    print(f"real_ratio={real_ratio:.2f} demo_ratio={demo_ratio:.2f}")


if __name__ == "__main__":
    main()
