"""Milliseconds per training iteration: a 4-task network next to a single-task one of the same size.

Usage: python benchmarks/multitask.py [OUT.json] [ROUNDS]

Both networks are basic RNNs of ``N_REC`` units, batch ``BATCH``, T 2000 ms, dt 10 ms, built
through the normal config path. Single: perceptual discrimination (2 inputs, 2 outputs). Four
tasks: ``task=multitask`` with perceptual discrimination, delayed discrimination, anti-saccade and
context-dependent integration side by side (17 inputs with the rule, 8 outputs). Per round and
network: 5 warm-up steps, then ``ITERATIONS`` training steps on pre-made batches (wall and CPU
ms per step), and the time to make one batch (made in a background thread during training
steps). Each measurement runs in its own process, alternating between the two, so load from other
processes hits both alike; on a busy machine compare CPU ms, which barely depends on that load.
Writes medians over the rounds and the ratios four / single as JSON with the date, the machine
and the command.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time

N_REC, BATCH, ITERATIONS = 128, 64, 30
FOUR = "task.tasks=[perceptual_discrimination,delayed_discrimination,anti_saccade,context_dependent_integration]"
CONFIGS = {"single_task": ["task=perceptual_discrimination"], "four_tasks": ["task=multitask", FOUR]}


def measure(name: str) -> dict[str, float]:
    """Wall and CPU ms per training step, and ms to make one batch, of the network ``name``."""
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build

    exp = build(compose_config([*CONFIGS[name], "task.T=2000", f"model.N_rec={N_REC}", f"train.batch_size={BATCH}"]))
    start = time.perf_counter()
    batches = [exp.task.get_trial_batch()[:3] for _ in range(4)]
    batch_ms = 1e3 * (time.perf_counter() - start) / 4
    for i in range(5):
        exp.steps.train_step(*batches[i % 4])
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(ITERATIONS):
        exp.steps.train_step(*batches[i % 4])
    return {"wall_ms": 1e3 * (time.perf_counter() - wall) / ITERATIONS,
            "cpu_ms": 1e3 * (time.process_time() - cpu) / ITERATIONS, "batch_ms": batch_ms,
            "N_in": exp.task.N_in, "N_out": exp.task.N_out}


def main(out: str, rounds: int) -> None:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    for _ in range(rounds):
        for name in CONFIGS:
            result = subprocess.run([sys.executable, __file__, "measure", name], capture_output=True, text=True,
                                    check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            runs[name].append(json.loads(result.stdout.strip().splitlines()[-1]))
    medians = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "settings": {"N_rec": N_REC, "batch_size": BATCH, "T_ms": 2000, "dt_ms": 10, "iterations": ITERATIONS,
                     "rounds": rounds},
        "median": medians,
        "four_over_single": {key: medians["four_tasks"][key] / medians["single_task"][key]
                             for key in ("wall_ms", "cpu_ms", "batch_ms")},
    }
    with open(out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(json.dumps(report["median"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        print(json.dumps(measure(sys.argv[2])))
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/multitask.json",
             int(sys.argv[2]) if len(sys.argv) > 2 else 3)
