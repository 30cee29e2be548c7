"""Per curriculum arm: iterations and training time to reach the stop criterion, mean and spread.

Usage: python benchmarks/curriculum_vs_baseline.py SWEEP_DIR
(SWEEP_DIR from `psychrnn train -m +experiment=curriculum_vs_baseline curriculum=none,coherence_ramp seed=0,1,2,3,4`)
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from psychrnn_cli import load_run


def time_to_criterion(run: dict) -> tuple[float, float] | None:
    """Iterations and wall time (s of training) at the first evaluation that met stop_accuracy."""
    criterion = run["config"]["train"]["stop_accuracy"]
    curves = run["training"]
    reached = np.flatnonzero(curves["accuracy"] >= criterion)
    if not len(reached):
        return None
    return float(curves["iteration"][reached[0]]), float(curves["wall_time"][reached[0]])


def main(sweep_dir: str) -> None:
    arms: dict[str, list] = defaultdict(list)
    for path in sorted(Path(sweep_dir).glob("*/run.h5")):
        run = load_run(path)
        stages = run["config"]["curriculum"]["stages"]
        arm = f"curriculum ({len(stages)} stages)" if stages else "baseline (hard task only)"
        arms[arm].append((run["attrs"]["seed"], time_to_criterion(run)))
    print(f"{'arm':28s} {'seeds':>5s} {'reached':>7s} {'iterations mean ± sd':>22s} {'time (s) mean ± sd':>20s}  per seed")
    for arm, results in sorted(arms.items()):
        done = [r for _, r in results if r is not None]
        its, secs = np.array([r[0] for r in done]), np.array([r[1] for r in done])
        per_seed = ", ".join(f"{s}:{int(r[0]) if r else '-'}" for s, r in sorted(results))
        print(f"{arm:28s} {len(results):5d} {len(done):7d} {its.mean():12.0f} ± {its.std(ddof=1) if len(its) > 1 else 0:6.0f}"
              f" {secs.mean():11.1f} ± {secs.std(ddof=1) if len(secs) > 1 else 0:5.1f}  {per_seed}")


if __name__ == "__main__":
    main(sys.argv[1])
