"""The scrubbing the doors share, as they import it (doors.scrubbing)."""


def test_the_scrubbing_both_doors_share_needs_only_the_standard_library():
    """The Jupyter door scrubs with it (no private jupyter_server function, whose arguments
    change between versions) without importing aiohttp; extra parameter names are honoured as
    jupyter_server's ``extra_log_scrub_param_keys``."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fink_cutout_jupyter.doors.scrubbing import scrub_secrets\n"
        "print(scrub_secrets('GET /x?session_id=s1&token=t1&kind=All', keys=['session']))\n"
        "print(sorted({'aiohttp', 'tornado', 'jupyter_server'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    scrubbed, imported = done.stdout.splitlines()
    assert scrubbed == "GET /x?session_id=[secret]&token=[secret]&kind=All"
    assert imported == "[]"
