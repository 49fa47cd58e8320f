"""Prometheus metrics of the cutout service, in prometheus_client's default registry.

Inside Jupyter they appear on the server's own ``/metrics`` (jupyter_server serves the default
registry); `fink-cutouts serve` serves them at ``/metrics`` too. Nothing is counted, and
prometheus_client is not imported, until a door calls `enable` (a notebook reading stamps with
the library pays nothing): `add` is then one counter increment.

=========================================== ========================================================
``fink_cutouts_requests_total{route,status}`` answers, by route and HTTP status
``fink_cutouts_request_seconds{route}``       time from the door's call to the reply (histogram)
``fink_cutouts_queue_rejections_total{pool}`` requests refused 503 at once because a pool was full
``fink_cutouts_queue_held{pool}``             requests held (running or queued) by each pool
``fink_cutouts_lake_bytes_read_total``        bytes of the lake's data pages read for stamps
``fink_cutouts_page_fallbacks_total``         page reads that fell back to pyarrow's row group read
``fink_cutouts_stale_reads_total``            indexed reads of a file changed since it was indexed
``fink_cutouts_index_refreshes_total``        reads of the index's layout (every few seconds)
``fink_cutouts_render_process_restarts_total`` render process pools replaced after a worker died
``fink_cutouts_healthy``                      1 if the last /api/v1/health probe found all usable
``fink_cutouts_index_age_seconds``            the index's age at the last health probe
=========================================== ========================================================
"""

from __future__ import annotations

import threading
from typing import Any

PREFIX = "fink_cutouts_"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_COUNTERS = {
    "lake_bytes_read": "Bytes of the lake's data pages read for stamps",
    "page_fallbacks": "Page reads that fell back to reading the row group with pyarrow",
    "stale_reads": "Indexed reads of a file that changed since it was indexed (re-index it)",
    "index_refreshes": "Reads of the alert index's layout",
    "render_process_restarts": "Render process pools replaced after a worker died",
}

_metrics: dict[str, Any] | None = None
_lock = threading.Lock()


def enable() -> dict[str, Any]:
    """Create the metrics in the default registry (once per process) and start counting."""
    global _metrics
    with _lock:
        if _metrics is None:
            from prometheus_client import Counter, Gauge, Histogram

            made: dict[str, Any] = {
                name: Counter(PREFIX + name, text) for name, text in _COUNTERS.items()
            }
            made["requests"] = Counter(
                PREFIX + "requests", "Answers by route and HTTP status", ["route", "status"]
            )
            made["request_seconds"] = Histogram(
                PREFIX + "request_seconds",
                "Seconds from a request reaching the door to its reply",
                ["route"],
                buckets=LATENCY_BUCKETS,
            )
            made["queue_rejections"] = Counter(
                PREFIX + "queue_rejections",
                "Requests answered 503 at once because their pool was full",
                ["pool"],
            )
            made["queue_held"] = Gauge(
                PREFIX + "queue_held", "Requests held (running or queued) by a pool", ["pool"]
            )
            made["healthy"] = Gauge(
                PREFIX + "healthy", "1 if the last health probe found the lake and index usable"
            )
            made["index_age_seconds"] = Gauge(
                PREFIX + "index_age_seconds",
                "Seconds since the index was published, at the last health probe",
            )
            _metrics = made
        return _metrics


def add(name: str, amount: float = 1) -> None:
    """Add `amount` to the counter `name` (one of `_COUNTERS`) once metrics are enabled."""
    if _metrics is not None:
        _metrics[name].inc(amount)


def observe_request(route: str, status: int, seconds: float) -> None:
    """Count one answer of `route` and its latency (label unknown routes "other": a label per
    path would let any client make the server keep as many time series as it likes)."""
    if _metrics is not None:
        _metrics["requests"].labels(route, str(status)).inc()
        _metrics["request_seconds"].labels(route).observe(seconds)


def count_rejection(pool: str) -> None:
    """Count one request refused because `pool` was full."""
    if _metrics is not None:
        _metrics["queue_rejections"].labels(pool).inc()


def hold(pool: str, change: int) -> None:
    """Requests held by `pool` went up or down by `change`."""
    if _metrics is not None:
        _metrics["queue_held"].labels(pool).inc(change)


def observe_health(healthy: bool, index_age_seconds: float | None) -> None:
    """What the last health probe found (the gauges keep it until the next probe)."""
    if _metrics is not None:
        _metrics["healthy"].set(1 if healthy else 0)
        if index_age_seconds is not None:
            _metrics["index_age_seconds"].set(index_age_seconds)


def exposition() -> tuple[bytes, str]:
    """The default registry in Prometheus' text format, and its media type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
