"""`index stats`'s checks: lake files rewritten since they were indexed."""


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
