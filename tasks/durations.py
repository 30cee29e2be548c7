"""Epoch lengths of the native tasks: a fixed number of ms, or a ``[low, high]`` range drawn per trial.

A config writes ``delay_duration: 300`` for a fixed delay or ``delay_duration: [200, 500]`` for a
delay drawn uniformly per trial. Fixed values draw nothing from the generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Duration = float | Sequence[float]


def duration_bounds(task: str, name: str, value: Duration) -> tuple[float, float]:
    """``(low, high)`` in ms of a duration given as a number (``low == high``) or ``[low, high]``.

    Raises:
        ValueError: naming ``task`` and ``name`` when the value is not a number >= 0 or an
            ordered pair of them.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bounds = (float(value), float(value))
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        try:
            bounds = (float(value[0]), float(value[1]))
        except (TypeError, ValueError):
            bounds = (-1.0, -1.0)
    else:
        bounds = (-1.0, -1.0)
    if not 0 <= bounds[0] <= bounds[1]:
        raise ValueError(f"{task}: {name} must be a duration in ms (a number >= 0) or a range [low, high] "
                         f"with 0 <= low <= high, got {value!r}")
    return bounds


def draw_duration(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A duration in ms: ``low`` when fixed, else ``U(low, high)`` from ``rng``."""
    low, high = bounds
    # low + (high - low) * rng.random() is what rng.uniform(low, high) computes, draw for draw, at a third of the cost
    return low if low == high else low + (high - low) * rng.random()
