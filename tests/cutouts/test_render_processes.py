"""Render worker processes: PNG renders away from the server's process, restarted when they die."""

import pytest

from fink_cutout_jupyter.cutouts.render import RenderOptions
from fink_cutout_jupyter.cutouts.stamps import Stamp
from fink_cutout_jupyter.surveys import KINDS


@pytest.fixture(scope="module")
def real_pixels(ztf_rows):
    return [Stamp(kind, row["fits"][kind]).data for row in ztf_rows for kind in KINDS]


@pytest.fixture
def render_processes():
    from fink_cutout_jupyter.cutouts.render_processes import RenderProcesses

    processes = RenderProcesses(1)
    assert processes.wait_ready(120)
    yield processes
    processes.close()


def test_a_door_thread_renders_in_a_worker_process_the_same_image(real_pixels, render_processes):
    """In a thread serving PNG requests, `stamps_png` renders in a worker process (another pid,
    a lower priority, none of the server's heavy modules), and the image is the one this
    thread would have made."""
    import os

    from fink_cutout_jupyter.cutouts.render import render_stamps_png, stamps_png

    options = RenderOptions(convolution_kernel="gauss", interval="zscale", colormap="viridis")
    stamps = real_pixels[:3]
    with render_processes.serving():
        image = stamps_png(stamps, options)
    assert image == render_stamps_png(stamps, options)
    assert render_processes.render(os.getpid) not in (os.getpid(), None)
    assert render_processes.render(os.nice, 0) >= min(19, os.nice(0) + 10)
    loaded = render_processes.render(
        eval,
        "sorted({m.split('.')[0] for m in __import__('sys').modules} & "
        "{'pyarrow', 'aiohttp', 'tornado', 'jupyter_server', 'pandas'})",
    )
    assert loaded == []
    assert stamps_png(stamps, options) == image  # outside the block: rendered here


def test_renders_do_not_wait_for_the_processes_to_start():
    """The first renders are done in the calling thread while the workers start (numpy, astropy
    and matplotlib take about a second to import); then they go to the workers."""
    import os

    from fink_cutout_jupyter.cutouts.render_processes import RenderProcesses

    processes = RenderProcesses(1)
    try:
        assert processes.render(os.getpid) == os.getpid()
        assert processes.wait_ready(120)
        assert processes.render(os.getpid) != os.getpid()
    finally:
        processes.close()


def test_a_killed_render_process_is_replaced(real_pixels, render_processes):
    import os
    import signal
    import time

    from fink_cutout_jupyter.cutouts.render import render_stamps_png

    options = RenderOptions(interval="zscale")
    first = render_processes.render(os.getpid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the pool has seen it die and reaped it
        try:
            os.kill(first, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    image = render_processes.render(render_stamps_png, real_pixels[:1], options)
    assert image == render_stamps_png(real_pixels[:1], options)
    assert render_processes.restarts == 1
    assert render_processes.wait_ready(120)
    assert render_processes.render(os.getpid) not in (first, os.getpid())


def test_renders_stay_in_threads_where_processes_cannot_start(tmp_path):
    """A main script that starts a server without ``if __name__ == "__main__"`` is run again
    by each spawned worker, where spawning is refused: there renders are done in the thread
    (with a warning), never an error. The script's own process renders in its workers."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import os\n"
        "from fink_cutout_jupyter.cutouts.render_processes import RenderProcesses\n"
        "processes = RenderProcesses(1)\n"
        "here = processes.render(os.getpid) == os.getpid()\n"
        "print('rendered here' if here else 'rendered away', processes.unavailable, flush=True)\n"
        "if processes.unavailable is None:\n"
        "    assert processes.wait_ready(120)\n"
        "    print('worker', processes.render(os.getpid) != os.getpid(), flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    )
    lines = sorted(done.stdout.splitlines())
    assert lines[0] == "rendered here An attempt has been made to start a new process before the"
    assert lines[1] == "rendered here None"
    assert lines[2] == "worker True"
    assert "render processes cannot start" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_that_die_at_start_are_not_respawned_on_every_render(monkeypatch, caplog):
    """Workers that cannot start (here their interpreter has no standard library: a broken
    PYTHONHOME) are started again after a pause, not on every render; renders are done in
    the calling thread meanwhile, each one right."""
    import os
    import time
    from multiprocessing import resource_tracker

    from fink_cutout_jupyter.cutouts import render_processes as module

    resource_tracker.ensure_running()  # multiprocessing's own helper process, started sound
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")  # only processes started from now on
    processes = module.RenderProcesses(1)
    try:
        start = time.monotonic()
        renders = 0
        while time.monotonic() - start < 0.9 * module.RESTART_PAUSE_SECONDS or renders < 5:
            processes.wait_ready(60)  # a new pool's start has failed (or none was started)
            assert processes.render(os.getpid) == os.getpid()
            renders += 1
        assert time.monotonic() - start < 0.9 * module.RESTART_PAUSE_SECONDS + 30
        assert processes.restarts == 1, f"{processes.restarts} pools for {renders} renders"
        assert "died before their first render" in caplog.text
        time.sleep(module.RESTART_PAUSE_SECONDS)
        processes.render(os.getpid)  # after the pause: workers started again
        processes.wait_ready(60)
        assert processes.render(os.getpid) == os.getpid()
        assert processes.restarts == 2
        assert processes._pause == 2 * module.RESTART_PAUSE_SECONDS, "the pause doubles"
    finally:
        processes.close()


@pytest.mark.parametrize("value", ["abc", "2.5", "-"])
def test_a_render_process_count_that_is_not_a_number_is_named_and_ignored(
    monkeypatch, caplog, value
):
    from fink_cutout_jupyter.cutouts.render_processes import ENVIRONMENT, default_processes

    monkeypatch.delenv(ENVIRONMENT, raising=False)
    default = default_processes()
    monkeypatch.setenv(ENVIRONMENT, value)
    assert default_processes() == default
    assert f"FINK_CUTOUTS_RENDER_PROCESSES={value!r} is not a whole number" in caplog.text
    monkeypatch.setenv(ENVIRONMENT, "0")
    assert default_processes() == 0
