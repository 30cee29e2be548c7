"""Timing shared by both sides of benchmarks/compare_psychrnn.py (imported from each tool's own venv)."""

from __future__ import annotations

import time
from typing import Callable


def seconds_per_call(function: Callable[[], object], repeats: int) -> list[float]:
    """Wall time of ``repeats`` calls of ``function``, after one untimed warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times
