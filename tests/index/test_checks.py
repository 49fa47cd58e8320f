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
