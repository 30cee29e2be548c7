"""Milliseconds per training iteration: ``algorithm=actor_critic`` next to supervised training.

Usage (from the repository root)::

    .venv/bin/python benchmarks/reward_training.py [--rounds 5] [--iterations 40] [--out FILE]

Every setting of :data:`SETTINGS` trains the default network (N_rec 50, batch 50): both
algorithms on perceptual discrimination (T 2000 ms, dt 10 ms), and both on the ``block_prior``
task's default sequences (20 trials with 100 ms intervals), actor-critic also with
``task.feedback=reward`` (the network run segment by segment, its previous reward and choice fed
back). Each measurement runs in its own process, the settings alternating round by round so that
load from other processes hits all alike. A measurement
builds the run through the normal config path, makes ``--iterations`` batches ahead (supervised:
inputs, targets, mask; actor-critic: inputs and reward tables), takes 5 untimed steps, then times
the steps: wall and process CPU time per step. Batch making is timed apart (ms per batch), since
training makes the next batch in a background thread during the step. Prints the medians and
writes them, with date, machine and command, as JSON (default benchmarks/reward_training.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {  # name -> overrides
    "supervised": ["algorithm=supervised", "task.T=2000"],
    "actor_critic": ["algorithm=actor_critic", "task.T=2000"],
    "supervised, block_prior sequences": ["algorithm=supervised", "task=block_prior"],
    "actor_critic, block_prior sequences": ["algorithm=actor_critic", "task=block_prior"],
    "actor_critic, block_prior sequences, feedback=reward": ["algorithm=actor_critic", "task=block_prior",
                                                             "task.feedback=reward"],
}


def measure(setting: str, iterations: int) -> dict[str, float]:
    """Milliseconds per training step and per batch of one of :data:`SETTINGS`, in this process."""
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build

    exp = build(compose_config(SETTINGS[setting]))
    start = time.perf_counter()
    batches = [exp.steps.make_batch(exp.task) for _ in range(iterations)]
    batch_ms = 1e3 * (time.perf_counter() - start) / iterations
    for batch in batches[:5]:
        exp.steps.train_step(*batch)
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        exp.steps.train_step(*batch)
    return {"wall_ms": 1e3 * (time.perf_counter() - wall) / iterations,
            "cpu_ms": 1e3 * (time.process_time() - cpu) / iterations, "batch_ms": batch_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reward_training.json")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name in SETTINGS:
            out = subprocess.run([sys.executable, __file__, "measure", name, str(args.iterations)],
                                 capture_output=True, text=True, check=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    for name, values in medians.items():
        print(f"{name:>52}: " + ", ".join(f"{k} {v:.1f}" for k, v in values.items()))
    ratio = medians["actor_critic"]["cpu_ms"] / medians["supervised"]["cpu_ms"]
    print(f"actor_critic / supervised, CPU time per step: {ratio:.2f}")
    sequences = {name: medians[name]["cpu_ms"] / medians["supervised, block_prior sequences"]["cpu_ms"]
                 for name in SETTINGS if "block_prior" in name}
    print("block_prior sequences, CPU time per step / supervised: "
          + ", ".join(f"{name.split(',')[0]}{name.split('sequences')[1]} {r:.2f}" for name, r in sequences.items()))
    record = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"host": platform.node(), "processor": platform.processor() or platform.machine(),
                          "cores": os.cpu_count(), "python": platform.python_version(),
                          "load_average": os.getloadavg()},
              "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "setup": "N_rec 50, batch 50; perceptual discrimination, T 2000 ms, dt 10 ms; block_prior with its "
                       "defaults (sequences of 20 trials, 100 ms intervals)",
              "settings": SETTINGS, "medians": medians, "actor_critic_over_supervised_cpu": ratio,
              "block_prior_over_supervised_cpu": sequences, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
