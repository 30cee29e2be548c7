"""What ``train.ensemble=K`` buys: time per iteration for K networks, and many seeds to 90% accuracy.

Usage (from the repository root)::

    .venv/bin/python benchmarks/ensembles.py scaling [--sizes 1 4 16 64] [--repeats 3]
    .venv/bin/python benchmarks/ensembles.py seeds [--seeds 100] [--solo 5]

``scaling``: seconds per training iteration of K networks of N_rec 50 on batches of 50 trials
(perceptual discrimination, T 2000 ms), each K in its own process, the Ks alternating between
repetitions; K = 1 is an ordinary run. ``seeds``: the wall time from the command
``psychrnn train train.ensemble=SEEDS train.stop_accuracy=0.9`` to the last run file, against
``--solo`` ordinary runs of single seeds timed the same way (command to run file) and scaled to
SEEDS. Both print their section and write it into benchmarks/results/RESULTS.md (ignored by
git), or with ``--update-results`` into the tracked benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCALING_RUN = ["model.N_rec=50", "train.batch_size=50", "train.progress=false", "train.eval_every=1000000",
               "train.checkpoint_every=1000000", "train.stop_accuracy=null", "train.test_trials=50",
               "train.save_trials=1"]
TO_90 = ["train.stop_accuracy=0.9", "train.progress=false"]


class Events(logging.Handler):
    """Wall-clock times of log messages."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.created, record.getMessage()))


def worker(spec: dict) -> dict:
    """In a fresh process: ``psychrnn train`` with timing hooks on the compiled steps and the log.

    Returns the times per iteration, when the first step ended, when the last member was built
    and each run finished (s from the command), and each run file's status, iterations and message.
    """
    from psychrnn_cli import load_run
    from psychrnn_cli.cli import main as psychrnn
    from psychrnn_cli.network.ensemble_step import EnsembleSteps
    from psychrnn_cli.network.step import CompiledSteps

    stamps: list[float] = []
    for cls in (CompiledSteps, EnsembleSteps):
        def timed(self, *args, _step=cls.train_step):
            terms = _step(self, *args)
            stamps.append(time.perf_counter())
            return terms
        cls.train_step = timed
    events, last_member = Events(), Events()
    logging.getLogger("psychrnn_cli").addHandler(events)
    size = next((int(o.split("=")[1]) for o in spec["overrides"] if o.startswith("train.ensemble=")), 1)
    seed = next((int(o.split("=")[1]) for o in spec["overrides"] if o.startswith("seed=")), 0)
    logging.getLogger(f"psychrnn_cli.ensemble.seed_{seed + size - 1}").addHandler(last_member)
    with tempfile.TemporaryDirectory() as run_dir:
        psychrnn(["train", *spec["overrides"], f"hydra.run.dir={run_dir}"])
        runs = [load_run(path)["attrs"] for path in sorted(Path(run_dir).rglob("run.h5"))]
    first_step = stamps[0] - time.perf_counter() + time.time() if stamps else None  # as wall-clock time
    built = [t for t, message in (last_member.seen if size > 1 else events.seen) if message.startswith("training ")]
    finished = [t for t, message in events.seen if " after " in message and ("completed" in message or "stopped" in message)]
    return {"per_iteration_s": np.diff(stamps[spec.get("warmup", 0):]).tolist(),
            "first_step_s": None if first_step is None else first_step - spec["launch"],
            "built_s": built[0] - spec["launch"] if built else None,
            "finished_s": [t - spec["launch"] for t in finished],
            "runs": [{k: run.get(k) for k in ("status", "iterations", "message")} for run in runs]}


def run_worker(spec: dict, timeout: float = 7200) -> dict:
    """``worker(spec)`` in a new process; its result plus ``wall_s`` from the command to its end."""
    start = time.time()
    spec = {**spec, "launch": start}
    done = subprocess.run([sys.executable, __file__, "worker", json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {spec} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(lines[-1][len("RESULT "):]), "wall_s": time.time() - start}


def scaling(sizes: list[int], repeats: int) -> str:
    results: dict[int, list[dict]] = {k: [] for k in sizes}
    loads = []
    for turn in range(repeats):
        for k in sizes if turn % 2 == 0 else sizes[::-1]:
            iterations = max(6, 120 // k)
            loads.append(os.getloadavg()[0])
            results[k].append(run_worker({"overrides": [*SCALING_RUN, f"train.ensemble={k}",
                                                        f"train.iterations={iterations + 3}"], "warmup": 2}))
            print(f"K={k}: {1e3 * np.median(results[k][-1]['per_iteration_s']):.1f} ms per iteration "
                  f"(load {loads[-1]:.2f})", file=sys.stderr)
    medians = {k: [float(np.median(r["per_iteration_s"])) for r in results[k]] for k in sizes}
    one = np.median(medians[sizes[0]]) if sizes[0] == 1 else None
    lines = ["| networks K | ms per iteration (median, range) | time / time of 1 network | throughput vs 1 network "
             "| s from command to first step |", "|---:|---:|---:|---:|---:|"]
    for k in sizes:
        t = np.median(medians[k])
        ratio = f"{t / one:.1f}x" if one else "-"
        gain = f"{k * one / t:.1f}x" if one else "-"
        first = np.median([r["first_step_s"] for r in results[k]])
        lines.append(f"| {k} | {1e3 * t:.1f} ({1e3 * min(medians[k]):.1f}-{1e3 * max(medians[k]):.1f}) | {ratio} | "
                     f"{gain} | {first:.1f} |")
    return (f"Load average (1 min) before each process: median {np.median(loads):.2f}, range "
            f"{min(loads):.2f}-{max(loads):.2f}.\n\n" + "\n".join(lines))


def seeds(n_seeds: int, n_solo: int) -> str:
    load_before = os.getloadavg()[0]
    ensemble = run_worker({"overrides": [*TO_90, f"train.ensemble={n_seeds}"]})
    print(f"{n_seeds} seeds as one ensemble: {ensemble['wall_s']:.0f} s", file=sys.stderr)
    solo = [run_worker({"overrides": [*TO_90, f"seed={seed}"]}) for seed in range(n_solo)]
    solo_s = [run["wall_s"] for run in solo]
    print(f"solo runs: {solo_s}", file=sys.stderr)
    reached = [run for run in ensemble["runs"] if str(run["message"]).startswith("reached accuracy")]
    iterations = [run["iterations"] for run in reached]
    finished = sorted(ensemble["finished_s"])
    return (f"`psychrnn train train.ensemble={n_seeds} train.stop_accuracy=0.9` (seeds 0-{n_seeds - 1}, every "
            f"member stopping at its own first evaluation at or above 90%): **{ensemble['wall_s']:.0f} s** from the "
            f"command to the last run file (load average {load_before:.2f} at the start). {len(reached)} of "
            f"{len(ensemble['runs'])} members reached 90%, after {min(iterations)}-{max(iterations)} iterations "
            f"(median {np.median(iterations):.0f}). Timeline (s from the command): last member built "
            f"{ensemble['built_s']:.0f}, first training step done {ensemble['first_step_s']:.0f}, first member "
            f"finished {finished[0]:.0f}, half {finished[len(finished) // 2]:.0f}, last {finished[-1]:.0f}.\n\n"
            f"One seed at a time (`psychrnn train seed=S train.stop_accuracy=0.9`, seeds 0-{n_solo - 1}): median "
            f"{np.median(solo_s):.1f} s from command to run file (range {min(solo_s):.1f}-{max(solo_s):.1f}), so "
            f"{n_seeds} seeds one after another would take about {n_seeds * np.median(solo_s):.0f} s: the ensemble is "
            f"{n_seeds * np.median(solo_s) / ensemble['wall_s']:.1f}x faster.")


def main() -> None:
    from compare_psychrnn import add_update_flag, results_dir, write_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    scale = sub.add_parser("scaling")
    scale.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16, 64])
    scale.add_argument("--repeats", type=int, default=3)
    many = sub.add_parser("seeds")
    many.add_argument("--seeds", type=int, default=100)
    many.add_argument("--solo", type=int, default=5)
    for part in (scale, many):
        add_update_flag(part)
    work = sub.add_parser("worker")
    work.add_argument("spec")
    args = parser.parse_args()
    if args.part == "worker":
        print("RESULT " + json.dumps(worker(json.loads(args.spec))), flush=True)
        return
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    if args.part == "scaling":
        command = f"benchmarks/ensembles.py scaling --sizes {' '.join(map(str, args.sizes))} --repeats {args.repeats}"
        text = (f"## Ensembles: K networks in one compiled step\n\nMeasured {started} with `.venv/bin/python {command}`"
                f" on the machine above. N_rec 50, batch 50, perceptual discrimination, T 2000 ms; median over "
                f"{args.repeats} processes per K of each process's median iteration after 2 warm-up iterations.\n\n"
                + scaling(args.sizes, args.repeats))
        section = "ensemble_scaling"
    else:
        command = f"benchmarks/ensembles.py seeds --seeds {args.seeds} --solo {args.solo}"
        text = (f"## Ensembles: {args.seeds} seeds to 90% accuracy\n\nMeasured {started} with "
                f"`.venv/bin/python {command}`. Defaults otherwise (N_rec 50, batch 50, evaluation every 25 "
                "iterations on 200 fresh trials).\n\n" + seeds(args.seeds, args.solo))
        section = "ensemble_seeds"
    print(text)
    write_section(section, text, results_dir(args.update_results))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
