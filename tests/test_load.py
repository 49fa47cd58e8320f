"""Load and slow clients against `fink-cutouts serve` as a real process (loopback, bounded).

Speed is measured by benchmarks/load.py, not here: these tests hold it to what must never
happen (an unexpected status, memory that keeps growing, a server held by slow clients).
"""

import re
import socket
import subprocess
import sys
import time
import urllib.request

from support.real_data import REPOSITORY
from support.servers import free_port, start_service, wait_for_http


def test_mixed_load_at_16_way_gives_no_errors_and_memory_levels_off():
    """Two consecutive runs of 5,000 mixed requests (valid and invalid) at 16-way concurrency,
    the client in its own process; then the heavy PNG flood of issue 21 (All, gauss, zscale)
    against render processes and threads, whose PNGs must be answered in both."""
    completed = subprocess.run(
        [sys.executable, str(REPOSITORY / "benchmarks" / "load.py"), "--requests", "5000"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    figures = dict(re.findall(r"(\w+)=(-?[\d.]+)", completed.stdout.splitlines()[-1]))
    assert figures["errors"] == "0", completed.stdout
    assert float(figures["rss_growth_pct"]) < 10, completed.stdout
    assert float(figures["png_per_s"]) > 0, completed.stdout
    assert float(figures["png_per_s_threads"]) > 0, completed.stdout
    assert float(figures["openapi_p99_heavy_flood_ms"]) > 0, completed.stdout


def test_half_open_connections_do_not_hold_the_server_and_are_closed(demo):
    port = free_port()
    server = start_service(str(demo.root), port, "--idle-timeout", "2")
    url = f"http://127.0.0.1:{port}/api/v1/cutouts?objectId=ZTF24abssjsb&kind=Science"
    slow = []
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v1/openapi.json")
        for _ in range(200):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"GET /api/v1/cutouts?objectId=ZTF")  # and never the rest
            slow.append(connection)
        for _ in range(20):
            start = time.monotonic()
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
            assert time.monotonic() - start < 2
        deadline = time.monotonic() + 10
        for connection in slow:
            connection.settimeout(max(0.1, deadline - time.monotonic()))
            assert connection.recv(1) == b"", "the server closes a connection without headers"
    finally:
        for connection in slow:
            connection.close()
        server.terminate()
        server.wait(timeout=30)
