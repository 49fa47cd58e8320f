"""Each benchmark's figures as JSON, recorded beside the lines it prints.

`Figures.print(line, **figures)` prints `line` unchanged and records the numbers it shows under
names that carry their unit (``p50_ms``, ``alerts_per_s``...); `Figures.write()` saves them once,
at the end, as ``benchmarks/results/<benchmark>.json`` (or in ``$FINK_BENCHMARK_RESULTS``)::

    {"benchmark": "render", "finished": "2026-12-03T10:30:00+00:00",
     "arguments": {"requests": 200}, "python": "3.11.7", "cpus": 2,
     "figures": {"matplotlib_p50_ms": 1.52, "png_linear_p50_ms": 0.08}}

The file is written to a temporary name in its directory and renamed: a reader never sees half.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

RESULTS = Path(os.environ.get("FINK_BENCHMARK_RESULTS", Path(__file__).parent / "results"))


class Figures:
    """The figures of one run of the benchmark `name`, with the `arguments` it ran with."""

    def __init__(self, name: str, arguments: object = None) -> None:
        self.name = name
        self.arguments = dict(vars(arguments)) if arguments is not None else {}
        self.figures: dict[str, object] = {}

    def add(self, **figures: object) -> None:
        """Record `figures` (name -> number, or a list or dict of numbers)."""
        self.figures.update(figures)

    def print(self, line: str, **figures: object) -> None:
        """Print `line` as it always was, and record the `figures` it shows."""
        print(line, flush=True)
        self.add(**figures)

    def write(self) -> Path:
        """Save the figures as JSON (named on stderr: stdout keeps the benchmark's own lines)."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        document = {
            "benchmark": self.name,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "arguments": self.arguments,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "figures": self.figures,
        }
        target = RESULTS / f"{self.name}.json"
        with tempfile.NamedTemporaryFile(
            "w", dir=RESULTS, prefix=f".{self.name}.", suffix=".tmp", delete=False
        ) as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
        os.replace(stream.name, target)
        print(f"figures: {target}", file=sys.stderr)
        return target
