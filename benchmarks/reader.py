"""One cutout and all three from a ~100 MB Spark-like file: the seed's method against ours.

The file holds real ZTF alerts (part-00002 repeated 35 times with fresh ids): one row group,
snappy, ~1 MB pages, written twice, without and with a page index. The seed (fink-cutout-api) runs
``pq.read_table(path, columns=[objectId, cutoutX], filters=[objectId == X])``, gunzips, opens the
FITS with astropy and serialises ``data.tolist()`` to JSON. Ours looks the alert up in the index,
checks the file's identity (one stat) and the row's alert id (its own small page), reads the
stamps' data pages alone, decodes and serialises them. How each figure is measured (warm, cold
index, fresh index, bytes) is in _compare.py. Then the identity check's own cost, ``All`` as
arrays through `fink-cutouts serve`, and each kind's stamp against its floor: reading and
decompressing its data page alone.

The file is written just before it is read: the OS page cache holds it for both sides.

Run: python benchmarks/reader.py [--requests 100]
"""

import argparse
import http.client
import random
import tempfile
import time
import urllib.parse
from pathlib import Path

from _compare import compare
from _results import Figures
from _servers import serving
from _spark_like import NIGHT, spark_like_table, write_spark_like
from _timing import p50_p95_ms

from fink_cutout_jupyter.index.build import build
from fink_cutout_jupyter.index.lookup import AlertIndex
from fink_cutout_jupyter.locations import ALERT_ID_SPAN
from fink_cutout_jupyter.parquet.pages import read_value
from fink_cutout_jupyter.storage.lake import Lake

KINDS = ("Science", "Template", "Difference")
WARM_UP = 100


def object_sets(table, requests: int, seed: int) -> dict[str, list[str]]:
    """Disjoint random objects: warm-up, timed (warm index), cold index, fresh index."""
    objects = sorted(set(table.column("objectId").to_pylist()))
    chosen = random.Random(seed).sample(objects, WARM_UP + 3 * requests)
    sets, start = {"warm": chosen[:WARM_UP]}, WARM_UP
    for name in ("timed", "cold", "fresh"):
        sets[name], start = chosen[start : start + requests], start + requests
    return sets


def identity_check_cost(lake: Lake, objects: list[str]) -> tuple[float, float, int]:
    """p50 µs of the two checks alone: the file's stat, and reading the row's alert id."""
    index = AlertIndex(lake)
    locations = [index.latest(object_id) for object_id in objects]
    stats, ids = [], []
    with lake.open(locations[0].path) as source:
        for location in locations:
            start = time.perf_counter()
            lake.identity(location.path)
            stats.append(time.perf_counter() - start)
            span, column = location.page_spans[ALERT_ID_SPAN]
            start = time.perf_counter()
            assert read_value(source, span, column) == location.alert_id
            ids.append(time.perf_counter() - start)
    id_page = locations[0].page_spans[ALERT_ID_SPAN][0].length
    return p50_p95_ms(stats)[0] * 1e3, p50_p95_ms(ids)[0] * 1e3, id_page


def kind_costs(lake: Lake, objects: list[str]) -> dict[str, tuple[float, float]]:
    """Per kind, p50 µs of its stamp (its page read and decompressed, the value taken out,
    gunzipped and decoded to pixels) and of the floor (its page read and decompressed alone),
    on other objects for each, so that neither side reads a page the other just read."""
    from fink_cutout_jupyter.cutouts.stamps import stamp_from_stored
    from fink_cutout_jupyter.parquet.pages import _decompress, _read_span, parse_page_header

    index = AlertIndex(lake)
    half = len(objects) // 2
    costs = {}
    with lake.open(index.latest(objects[0]).path) as source:
        for kind in KINDS:
            stamp, floor = [], []
            for number, object_id in enumerate(objects):
                span, column = index.latest(object_id).page_spans[kind]
                start = time.perf_counter()
                if number < half:
                    _ = stamp_from_stored(kind, read_value(source, span, column), True).data
                    stamp.append(time.perf_counter() - start)
                else:
                    raw = _read_span(source, span.offset, span.length)
                    header = parse_page_header(raw)
                    body = raw[header.header_size :]
                    _decompress(body, column.codec, header.uncompressed_page_size)
                    floor.append(time.perf_counter() - start)
            costs[kind] = (p50_p95_ms(stamp)[0] * 1e3, p50_p95_ms(floor)[0] * 1e3)
    return costs


def http_all_p50(root: Path, objects: list[str]) -> float:
    with serving(str(root)) as (url, _):
        address = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        seconds = []
        for number, object_id in enumerate([objects[0], *objects]):
            query = urllib.parse.urlencode({"objectId": object_id, "kind": "All"})
            start = time.perf_counter()
            connection.request("GET", f"/api/v1/cutouts?{query}")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            if number:
                seconds.append(time.perf_counter() - start)
        return p50_p95_ms(seconds)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    figures = Figures("reader", args)
    table = spark_like_table()
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for page_index in (False, True):
            root = Path(directory) / f"lake-{page_index}"
            (root / NIGHT).mkdir(parents=True)
            path = f"{NIGHT}/part-00000-spark-like-c000.snappy.parquet"
            write_spark_like(table, root / path, page_index=page_index)
            lake = Lake(root)
            build(AlertIndex(lake), ["20241121"], progress=False)
            size = (root / path).stat().st_size / 1e6
            name = "with page index" if page_index else "no page index"
            key = "page_index" if page_index else "no_page_index"
            figures.print(
                f"{name}: {size:.0f} MB, {table.num_rows} alerts, 1 row group",
                **{f"{key}_file_mb": size, "alerts": table.num_rows},
            )
            for label, kinds, seed in (("one cutout", ("Science",), 11), ("All three", KINDS, 12)):
                comparison = compare(lake, path, object_sets(table, args.requests, seed), kinds)
                short = "single" if len(kinds) == 1 else "all"
                figures.print(
                    comparison.line(f"  {label}", len(kinds)),
                    **{f"{key}_{short}": comparison.figures()},
                )
                results[page_index, label] = comparison
            if not page_index:
                stat_us, id_us, id_page = identity_check_cost(
                    lake, object_sets(table, args.requests, 13)["timed"]
                )
                figures.print(
                    f"  identity check per request: stat p50 {stat_us:.1f} us + alert id from "
                    f"its page ({id_page / 1e3:.1f} kB) p50 {id_us:.1f} us",
                    identity_stat_p50_us=stat_us,
                    identity_alert_id_p50_us=id_us,
                    identity_alert_id_page_bytes=id_page,
                )
                http_all = http_all_p50(root, object_sets(table, args.requests, 14)["timed"])
                costs = kind_costs(lake, object_sets(table, 2 * args.requests, 15)["timed"])
                for kind, (stamp_us, floor_us) in costs.items():
                    figures.print(
                        f"  {kind}: its stamp p50 {stamp_us:.0f} us (page read, decompressed, "
                        f"value gunzipped and decoded) against the floor {floor_us:.0f} us "
                        f"(page read and decompressed alone): {stamp_us / floor_us:.2f}x",
                        **{f"{kind.lower()}_stamp_p50_us": stamp_us},
                        **{f"{kind.lower()}_floor_p50_us": floor_us},
                    )
    single, everything = results[False, "one cutout"], results[False, "All three"]
    figures.print(
        f"HTTP All as arrays through fink-cutouts serve (no page index): p50 {http_all:.2f} ms",
        http_all_p50_ms=http_all,
    )
    summary = {
        "single_ratio": single.seed.p50_ms / single.warm.p50_ms,
        "all_ratio": everything.seed.p50_ms / everything.warm.p50_ms,
        "worst_kind_over_floor": max(stamp / floor for stamp, floor in costs.values()),
        "cold_index_ratio": single.seed.p50_ms / single.cold.p50_ms,
        "fresh_index_ratio": single.seed.p50_ms / single.fresh.p50_ms,
        "identity_check_us": stat_us + id_us,
        "bytes_per_stamp": single.warm.bytes_per_request,
    }
    figures.print(
        f"single_ratio={summary['single_ratio']:.1f} "
        f"all_ratio={summary['all_ratio']:.1f} "
        f"worst_kind_over_floor={summary['worst_kind_over_floor']:.2f} "
        f"cold_index_ratio={summary['cold_index_ratio']:.1f} "
        f"fresh_index_ratio={summary['fresh_index_ratio']:.1f} "
        f"identity_check_us={summary['identity_check_us']:.1f} "
        f"bytes_per_stamp={summary['bytes_per_stamp']:.0f} http_all_p50_ms={http_all:.2f}",
        **summary,
    )
    figures.write()


if __name__ == "__main__":
    main()
