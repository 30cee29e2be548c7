"""Per-iteration training speed of two checkouts, measured alternately in the same session.

Usage: python before_after.py OLD_CHECKOUT NEW_CHECKOUT [ROUNDS]

For each (N_rec, batch), runs this file's ``measure`` in each checkout's ``.venv`` in turn (old,
new, old, new, ...), so load from other processes hits both alike. A measurement builds the default
network (perceptual discrimination, T 2000 ms, dt 10 ms) through the normal config path, takes 5
training steps to warm up, then times ``ITERATIONS`` steps on pre-made batches: wall time and the
process's CPU time per step (CPU time barely depends on what else the machine runs). Prints the
medians over rounds and the ratios new / old.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from models import SIZES, measure  # (this folder: the script's own, first on sys.path)

ITERATIONS = {50: 60, 256: 15}


def run_in(checkout: Path, N_rec: int, batch: int) -> dict[str, float]:
    out = subprocess.run([str(checkout / ".venv/bin/python"), __file__, "measure", str(N_rec), str(batch)],
                         cwd="/tmp", capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(old: str, new: str, rounds: int = 5) -> None:
    checkouts = {"old": Path(old).resolve(), "new": Path(new).resolve()}
    for N_rec, batch in SIZES:
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for _ in range(rounds):
            for name, checkout in checkouts.items():
                runs[name].append(run_in(checkout, N_rec, batch))
        line = [f"N_rec {N_rec}, batch {batch}:"]
        for metric in ("cpu_ms", "wall_ms"):
            median = {name: statistics.median(r[metric] for r in runs[name]) for name in runs}
            line.append(f"{metric} old {median['old']:.2f} new {median['new']:.2f} (new/old "
                        f"{median['new'] / median['old']:.3f});")
        print(" ".join(line), flush=True)
        print("  runs:", json.dumps(runs), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        N_rec, batch = int(sys.argv[2]), int(sys.argv[3])
        print(json.dumps(measure("basic", N_rec, batch, ITERATIONS[N_rec])))
    else:
        compare(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
