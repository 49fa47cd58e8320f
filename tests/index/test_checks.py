"""`index stats`'s checks: lake files rewritten since they were indexed; verify."""

import json
import os


def test_stale_files_detect_a_same_size_rewrite_by_its_mtime(rewritable_lake):
    from support.rewrites import swap_rows

    lake = rewritable_lake
    assert lake.index.stale_files(check_contents=True) == []
    lake.rewrite(swap_rows(lake.table, 3, 40), keep_mtime=False)
    assert lake.index.stale_files() == [lake.path]


def test_a_content_check_finds_rewrites_that_kept_size_and_mtime(rewritable_lake):
    from support.rewrites import swap_rows

    from fink_cutout_jupyter.index.build import build as build_index

    lake = rewritable_lake
    lake.rewrite(swap_rows(lake.table, 3, 40), keep_mtime=True)
    assert lake.index.stale_files() == []
    assert lake.index.stale_files(check_contents=True) == [lake.path]
    build_index(lake.index, lake.lake.nights(), progress=False)
    assert lake.index.stale_files(check_contents=True) == []


def test_stats_count_live_nights_and_their_parts_until_the_night_is_archived(demo, tmp_path):
    import datetime as dt

    from fink_cutout_jupyter.index.build import entries_of_file
    from fink_cutout_jupyter.index.deltas import IndexedNight, write_nights
    from fink_cutout_jupyter.index.lookup import AlertIndex
    from fink_cutout_jupyter.storage.lake import Lake

    lake = Lake(demo.root)
    night = lake.nights()[0]
    path = lake.night_files(night)[0]
    index = AlertIndex(lake, str(tmp_path / "index"))
    tonight = dt.date(2031, 1, 2)
    for batch in (0, 3):
        found = entries_of_file(lake, path, tonight, batch=batch)
        write_nights(
            index, [IndexedNight(tonight, found.entries, {path: found.identity}, batch)], "ztf"
        )
    stats = index.stats()
    assert (stats["nights"], stats["live_parts"], stats["live_nights"]) == (1, 2, {"20310102": 3})
    assert stats["entries"] == 2 * found.entries.num_rows
    archived = entries_of_file(lake, path, tonight)
    write_nights(index, [IndexedNight(tonight, archived.entries, {path: archived.identity})], "ztf")
    stats = index.stats()
    assert (stats["nights"], stats["live_parts"], stats["live_nights"]) == (1, 0, {})
    assert stats["entries"] == archived.entries.num_rows


def bucketed_rubin_index(rubin_lake, tmp_path, monkeypatch):
    """The real Rubin night indexed as a bucketed delta (2 entries a bucket at most); its index."""
    from fink_cutout_jupyter.index import buckets
    from fink_cutout_jupyter.index.build import build
    from fink_cutout_jupyter.index.lookup import AlertIndex

    monkeypatch.setattr(buckets, "DELTA_BUCKET_ROWS", 2)
    index = AlertIndex(rubin_lake, str(tmp_path / "index"))
    build(index, rubin_lake.nights(), progress=False)
    (delta,) = json.loads((tmp_path / "index" / "layout.json").read_text())["deltas"]
    assert delta["buckets"] >= 4
    assert index.verify() == []
    return index


def test_verify_finds_a_layout_that_gives_a_delta_fewer_buckets_than_it_has(
    rubin_lake, tmp_path, monkeypatch
):
    """Halved (still a power of two, sizes trimmed), the layout loses half the buckets: their
    alerts are not found, and verify says the delta's buckets hold fewer alerts than it."""
    index = bucketed_rubin_index(rubin_lake, tmp_path, monkeypatch)
    path = tmp_path / "index" / "layout.json"
    layout = json.loads(path.read_text())
    delta = layout["deltas"][0]
    delta["buckets"] //= 2
    delta["sizes"] = {table: sizes[: delta["buckets"]] for table, sizes in delta["sizes"].items()}
    path.write_text(json.dumps(layout))
    index.refresh()
    (problem,) = index.verify()
    assert problem.startswith(f"layout.json: delta {delta['name']} holds ")
    entries = delta["entries"]
    assert f"holds {entries} alerts, its {delta['buckets']} alerts buckets " in problem


def test_verify_finds_a_bucket_file_holding_another_buckets_keys(rubin_lake, tmp_path, monkeypatch):
    index = bucketed_rubin_index(rubin_lake, tmp_path, monkeypatch)
    files = sorted((tmp_path / "index" / "delta" / "objects").rglob("*.arrow"))
    first, second = files[0], files[1]
    first_bytes, second_bytes = first.read_bytes(), second.read_bytes()
    if len(first_bytes) != len(second_bytes):  # the layout's sizes follow the files
        path = tmp_path / "index" / "layout.json"
        layout = json.loads(path.read_text())
        sizes = layout["deltas"][0]["sizes"]["objects"]
        one, two = (int(f.stem.split("-")[1]) for f in (first, second))
        sizes[one], sizes[two] = sizes[two], sizes[one]
        path.write_text(json.dumps(layout))
    first.write_bytes(second_bytes)
    second.write_bytes(first_bytes)
    index.refresh()
    problems = index.verify()
    assert len(problems) == 2
    assert all("holds keys of other buckets than" in problem for problem in problems)


def test_verify_names_a_bucket_file_garbled_in_place_not_an_outage(
    rubin_lake, tmp_path, monkeypatch
):
    """Bytes that do not decode while the file is there at its size: damage, named."""
    index = bucketed_rubin_index(rubin_lake, tmp_path, monkeypatch)
    victim = max((tmp_path / "index" / "delta" / "alerts").rglob("*.arrow"), key=os.path.getsize)
    data = bytearray(victim.read_bytes())
    middle = len(data) // 2
    data[middle - 200 : middle + 200] = b"\xff" * 400
    victim.write_bytes(bytes(data))
    problems = index.verify()
    assert len(problems) == 1
    assert problems[0].startswith(str(victim.relative_to(tmp_path / "index")))
    assert "unreadable" in problems[0] or "malformed" in problems[0]
