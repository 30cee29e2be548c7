"""Per-iteration training speed of two checkouts, measured alternately in the same session.

Usage: python before_after.py OLD_CHECKOUT NEW_CHECKOUT [ROUNDS]

Each checkout runs ``ours_side.py`` (kind ``iteration``) with its own ``.venv``, alternating
old, new, old, new... for each (N_rec, batch), so load from other processes hits both alike.
Prints the median seconds per iteration of each and the ratio new / old.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

SIZES = [(50, 50, 40), (256, 128, 15)]  # (N_rec, batch, timed iterations)


def per_iteration(checkout: Path, N_rec: int, batch: int, iterations: int) -> float:
    spec = {"kind": "iteration", "N_rec": N_rec, "batch": batch, "seed": 0, "warmup": 5, "iterations": iterations}
    out = subprocess.run([str(checkout / ".venv/bin/python"), "ours_side.py", json.dumps(spec)],
                         cwd=checkout / "benchmarks", capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    return statistics.median(result["per_iteration_s"])


def main(old: str, new: str, rounds: int = 5) -> None:
    checkouts = {"old": Path(old).resolve(), "new": Path(new).resolve()}
    for N_rec, batch, iterations in SIZES:
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(rounds):
            for name, checkout in checkouts.items():
                times[name].append(per_iteration(checkout, N_rec, batch, iterations))
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(f"N_rec {N_rec}, batch {batch}: old {1e3 * medians['old']:.2f} ms, new {1e3 * medians['new']:.2f} ms "
              f"per iteration, new/old {medians['new'] / medians['old']:.3f} "
              f"(runs: old {[round(1e3 * t, 2) for t in times['old']]}, new {[round(1e3 * t, 2) for t in times['new']]})",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
