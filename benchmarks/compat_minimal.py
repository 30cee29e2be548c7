"""PsychRNN's Minimal_Example notebook, timed: PsychRNN 1.0.0 against ``psychrnn_cli.compat``.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/compat_minimal.py [--repeats 3] [--update-results]

The same script (perceptual discrimination, dt 10 ms, tau 100 ms, T 2000 ms, 128 trials per batch,
a 50-unit basic network, PsychRNN's default training: 50000 trials = 391 updates, Adam 1e-3) runs
through each tool's Python API, each run in its own process (PsychRNN in benchmarks/.venv-psychrnn,
made as compare_psychrnn.py makes it), alternating the tools. Reported: the training time that
``train`` returns, the process's wall time, and the final recorded loss. Writes a section of
RESULTS.md (benchmarks/results/ unless ``--update-results``) and compat_minimal.json beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare_psychrnn as compare  # noqa: E402

SCRIPT = """
import json, sys, time
import numpy as np
from {prefix}.tasks.perceptual_discrimination import PerceptualDiscrimination
from {prefix}.backend.models.basic import Basic
np.random.seed({seed})
task = PerceptualDiscrimination(dt=10, tau=100, T=2000, N_batch=128)
params = task.get_task_params()
params['name'], params['N_rec'] = 'model', 50
model = Basic(params)
losses, a, b = model.train(task, {{'verbosity': False}})
# PsychRNN returns (losses, training_time, initialization_time); its notebooks swap the names
print(json.dumps({{'training_s': a, 'initialization_s': b, 'final_loss': float(losses[-1]), 'updates': len(losses) * 10}}))
"""


def run_once(python: str, prefix: str, seed: int) -> dict:
    started = time.perf_counter()
    done = subprocess.run([python, "-c", SCRIPT.format(prefix=prefix, seed=seed)], capture_output=True, text=True,
                          timeout=3600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0:
        raise SystemExit(f"{prefix} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": time.perf_counter() - started, "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tool, alternating")
    compare.add_update_flag(parser)
    args = parser.parse_args()
    compare.ensure_psychrnn_env()
    sides = {"PsychRNN 1.0.0": (compare.THEIRS["python"], "psychrnn"), "psychrnn_cli.compat": (sys.executable,
                                                                                              "psychrnn_cli.compat")}
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    for repeat in range(args.repeats):
        order = list(sides) if repeat % 2 == 0 else list(sides)[::-1]
        for name in order:
            runs[name].append(run_once(*sides[name], seed=repeat))
            print(name, runs[name][-1], file=sys.stderr)
    theirs, ours = (runs[name] for name in sides)
    median = lambda rows, key: float(np.median([r[key] for r in rows]))  # noqa: E731
    table = ["| measurement | PsychRNN 1.0.0 | psychrnn_cli.compat | ratio |", "|---|---:|---:|---:|"]
    for key, label in (("training_s", "training time returned by train() (s)"), ("wall_s", "process wall time (s)")):
        table.append(f"| {label} | {median(theirs, key):.1f} | {median(ours, key):.1f} | "
                     f"{median(theirs, key) / median(ours, key):.1f}x |")
    table.append(f"| final recorded loss (median) | {median(theirs, 'final_loss'):.4f} | {median(ours, 'final_loss'):.4f} | - |")
    loads = [r["load"] for rows in runs.values() for r in rows]
    command = f".venv/bin/python benchmarks/compat_minimal.py --repeats {args.repeats}"
    text = f"""
## PsychRNN's Minimal_Example through each tool's Python API

Measured {started} with `{command}`. Machine: {compare.machine()}.
Load average (1 min) after each run: median {np.median(loads):.2f}, range {min(loads):.2f}-{max(loads):.2f}.
Median over {args.repeats} processes per tool (seeds 0-{args.repeats - 1}), the tools alternating.

{chr(10).join(table)}
"""
    print(text)
    folder = compare.results_dir(args.update_results)
    compare.write_section("compat_minimal", text, folder)
    (folder / "compat_minimal.json").write_text(json.dumps({"measured": started, "command": command,
                                                            "machine": compare.machine(), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
