"""What ``train.ensemble=K`` buys: time per iteration for K networks, and many seeds to 90% accuracy.

Usage (from the repository root)::

    .venv/bin/python benchmarks/ensembles.py scaling [--sizes 1 4 16 64] [--repeats 3]
    .venv/bin/python benchmarks/ensembles.py seeds [--seeds 100] [--solo 5] [--sweep 6]

``scaling``: seconds per training iteration of K networks of N_rec 50 on batches of 50 trials
(perceptual discrimination, T 2000 ms), each K in its own process, the Ks alternating between
repetitions; K = 1 is an ordinary run. ``seeds``: SEEDS seeds trained to 90% accuracy, as one
``psychrnn train train.ensemble=SEEDS train.stop_accuracy=0.9`` (measured: time from the command
to the last run file and to the first training step, peak resident memory, traces made), and
extrapolated to SEEDS from ``--solo`` ordinary runs one after another, from an in-process sweep
of ``--sweep`` jobs (``-m``, Hydra's basic launcher) and from a ``-m`` sweep of ``--sweep`` jobs
with ``hydra/launcher=local`` at 2 jobs at a time. Both print their section and write it into
benchmarks/results/RESULTS.md (ignored by git), or with ``--update-results`` into the tracked
benchmarks/RESULTS.md; ``seeds`` writes its raw numbers (with date, machine, command and the
load average before each measurement) into ``ensemble_seeds.json`` beside it.
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
    """In a fresh process: ``psychrnn train OVERRIDES`` with timing hooks on the compiled steps and the log.

    Returns the times per iteration, when the first step ended, when the last member was built,
    each run finished and the first and last run file was written (s from the command), the
    process's peak resident memory, the traces it made, and each run file's status, iterations and
    message. With ``-m`` among the overrides it is a sweep (its jobs may run in other processes).
    """
    import resource

    from psychrnn_cli import load_run
    from psychrnn_cli.cli import main as psychrnn
    from psychrnn_cli.network.ensemble_step import EnsembleSteps
    from psychrnn_cli.network.shared import TRACES
    from psychrnn_cli.network.step import CompiledSteps

    stamps: list[float] = []
    cpu_stamps: list[float] = []
    for cls in (CompiledSteps, EnsembleSteps):
        def timed(self, *args, _step=cls.train_step):
            terms = _step(self, *args)
            stamps.append(time.perf_counter())
            cpu_stamps.append(time.process_time())
            return terms
        cls.train_step = timed
    events, last_member = Events(), Events()
    logging.getLogger("psychrnn_cli").addHandler(events)
    size = next((int(o.split("=")[1]) for o in spec["overrides"] if o.startswith("train.ensemble=")), 1)
    seed = next((int(o.split("=")[1]) for o in spec["overrides"] if o.startswith("seed=") and "," not in o), 0)
    logging.getLogger(f"psychrnn_cli.ensemble.seed_{seed + size - 1}").addHandler(last_member)
    sweep = "-m" in spec["overrides"]
    with tempfile.TemporaryDirectory() as run_dir:
        psychrnn(["train", *spec["overrides"], f"hydra.{'sweep' if sweep else 'run'}.dir={run_dir}"])
        files = sorted(Path(run_dir).rglob("run.h5"))
        written = sorted(path.stat().st_mtime - spec["launch"] for path in files)
        runs = [load_run(path)["attrs"] for path in files]
    first_step = stamps[0] - time.perf_counter() + time.time() if stamps else None  # as wall-clock time
    usage = resource.getrusage(resource.RUSAGE_SELF)
    built = [t for t, message in (last_member.seen if size > 1 else events.seen) if message.startswith("training ")]
    finished = [t for t, message in events.seen if " after " in message and ("completed" in message or "stopped" in message)]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"per_iteration_s": np.diff(stamps[spec.get("warmup", 0):]).tolist(),
            "cpu_per_iteration_s": np.diff(cpu_stamps[spec.get("warmup", 0):]).tolist(),
            "first_step_s": None if first_step is None else first_step - spec["launch"],
            "built_s": built[0] - spec["launch"] if built else None,
            "finished_s": [t - spec["launch"] for t in finished],
            "run_files_s": written,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime,  # the process's CPU time, barely affected by other jobs
            "children_cpu_s": children.ru_utime + children.ru_stime,  # the local launcher's jobs
            "traces": dict(TRACES),
            "runs": [{k: run.get(k) for k in ("status", "iterations", "message")} for run in runs]}


def run_worker(spec: dict, timeout: float = 7200) -> dict:
    """``worker(spec)`` in a new process; its result plus ``wall_s`` from the command to its end."""
    start = time.time()
    spec = {**spec, "launch": start}
    done = subprocess.run([sys.executable, __file__, "worker", json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **spec.get("env", {})})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {spec} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(lines[-1][len("RESULT "):]), "wall_s": time.time() - start}


CORES = len(os.sched_getaffinity(0))  # the cores the benchmark's processes may run on (Linux)
ONE_THREAD = {"TF_NUM_INTEROP_THREADS": "1"}  # TensorFlow runs one operation at a time (and one thread per operation)


def scaling(sizes: list[int], repeats: int) -> str:
    """The table of ``scaling``: each K, and one network run by one TensorFlow thread, whose CPU time
    per iteration ``c`` (its trial generation included) sets the floor of K networks that share no
    work: ``K c / cores``."""
    runs: dict[str, list[dict]] = {str(k): [] for k in sizes} | {"1, one thread": []}
    loads = []
    for turn in range(repeats):
        for name in runs if turn % 2 == 0 else list(runs)[::-1]:
            k = int(name.split(",")[0])
            iterations = max(6, 120 // k)
            loads.append(os.getloadavg()[0])
            runs[name].append(run_worker({"overrides": [*SCALING_RUN, f"train.ensemble={k}",
                                                        f"train.iterations={iterations + 3}"], "warmup": 2,
                                          "env": ONE_THREAD if "thread" in name else {}}))
            print(f"K={name}: {1e3 * np.median(runs[name][-1]['per_iteration_s']):.1f} ms per iteration "
                  f"(load {loads[-1]:.2f})", file=sys.stderr)
    medians = {name: [float(np.median(r["per_iteration_s"])) for r in results] for name, results in runs.items()}
    cpu = {name: float(np.median([np.median(r["cpu_per_iteration_s"]) for r in results])) for name, results in runs.items()}
    one = np.median(medians["1"]) if "1" in runs else None
    floor_per_network = cpu["1, one thread"] / CORES
    lines = ["| networks K | ms per iteration (median, range) | time / time of 1 network | throughput vs 1 network "
             "| CPU ms per iteration | CPU time / CPU time of 1 network | floor without shared work (ms) "
             "| time / floor | s from command to first step |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in runs:
        k = int(name.split(",")[0])
        t = np.median(medians[name])
        ratio = f"{t / one:.1f}x" if one else "-"
        gain = f"{k * one / t:.1f}x" if one else "-"
        first = np.median([r["first_step_s"] for r in runs[name]])
        cpu_ratio = f"{cpu[name] / cpu['1']:.1f}x" if one else "-"
        floor = k * floor_per_network
        lines.append(f"| {name} | {1e3 * t:.1f} ({1e3 * min(medians[name]):.1f}-{1e3 * max(medians[name]):.1f}) | "
                     f"{ratio} | {gain} | {1e3 * cpu[name]:.1f} | {cpu_ratio} | {1e3 * floor:.1f} | {t / floor:.2f} | "
                     f"{first:.1f} |")
    return (f"Load average (1 min) before each process: median {np.median(loads):.2f}, range "
            f"{min(loads):.2f}-{max(loads):.2f}. Floor: K networks that share no work need at least K times the CPU "
            f"time of one network's iteration run by one TensorFlow thread (row \"1, one thread\", "
            f"`TF_NUM_INTEROP_THREADS=1`; its trial generation included), spread over the {CORES} cores.\n\n"
            + "\n".join(lines))



def seeds(n_seeds: int, n_solo: int, n_sweep: int) -> tuple[str, dict]:
    """``n_seeds`` seeds to 90% four ways: one ensemble (measured), and extrapolated from ``n_solo``
    separate processes, an in-process sweep of ``n_sweep`` jobs (Hydra's basic launcher) and a
    ``-m`` sweep of ``n_sweep`` jobs with the local launcher at 2 jobs at a time. Returns the
    section's text and the raw numbers."""
    record: dict = {}

    def measured(name: str, overrides: list[str]) -> dict:
        load = os.getloadavg()[0]
        result = {**run_worker({"overrides": overrides}), "load_before": load}
        record[name] = result
        print(f"{name}: {result['wall_s']:.1f} s (load {load:.2f})", file=sys.stderr)
        return result

    def reached(result: dict) -> list[dict]:
        return [run for run in result["runs"] if str(run["message"]).startswith("reached accuracy")]

    ensemble = measured("ensemble", [*TO_90, f"train.ensemble={n_seeds}"])
    solo = [measured(f"solo_{seed}", [*TO_90, f"seed={seed}"]) for seed in range(n_solo)]
    jobs = f"seed={','.join(map(str, range(n_sweep)))}"
    in_process = measured("sweep_in_process", ["-m", *TO_90, jobs])
    local = measured("sweep_local", ["-m", "hydra/launcher=local", "hydra.sweeper.max_batch_size=2", *TO_90, jobs])

    iterations = [run["iterations"] for run in reached(ensemble)]
    finished = sorted(ensemble["finished_s"])
    solo_last = [run["run_files_s"][-1] for run in solo]
    solo_first = [run["first_step_s"] for run in solo]
    job_ends = in_process["run_files_s"]
    per_job = float(np.median(np.diff(job_ends))) if len(job_ends) > 1 else float("nan")
    in_process_n = job_ends[0] + (n_seeds - 1) * per_job
    local_n = local["run_files_s"][-1] * n_seeds / n_sweep
    one = ensemble["run_files_s"][-1]
    rows = [
        ("one ensemble (`train.ensemble=%d`)" % n_seeds, f"**{one:.0f}**", "measured", f"{ensemble['first_step_s']:.1f}",
         ensemble["cpu_s"], ensemble["load_before"]),
        (f"{n_seeds} solo processes, one after another", f"{n_seeds * np.median(solo_last):.0f}",
         f"{n_seeds} x median of {n_solo} ({min(solo_last):.1f}-{max(solo_last):.1f} s each)",
         f"{np.median(solo_first):.1f}", n_seeds * np.median([run["cpu_s"] for run in solo]),
         np.median([run["load_before"] for run in solo])),
        ("in-process sweep (`-m`, basic launcher)", f"{in_process_n:.0f}",
         f"first job {job_ends[0]:.1f} s + {n_seeds - 1} x {per_job:.1f} s (median of the next {len(job_ends) - 1})",
         f"{in_process['first_step_s']:.1f}", in_process["cpu_s"] * n_seeds / n_sweep, in_process["load_before"]),
        ("`-m` sweep, `hydra/launcher=local`, 2 jobs at a time", f"{local_n:.0f}",
         f"{n_sweep} jobs took {local['run_files_s'][-1]:.1f} s, x {n_seeds}/{n_sweep}",
         f"{local['run_files_s'][0]:.1f} (first run file)",
         (local["cpu_s"] + local["children_cpu_s"]) * n_seeds / n_sweep, local["load_before"]),
    ]
    table = ["| how | s from the command to the last run file | how it was measured | s to the first training step "
             "| CPU s (scaled like the time) | load average before |", "|---|---:|---|---:|---:|---:|"]
    table += [f"| {a} | {b} | {c} | {d} | {cpu:.0f} | {load:.2f} |" for a, b, c, d, cpu, load in rows]
    text = (f"`psychrnn train train.ensemble={n_seeds} train.stop_accuracy=0.9` (seeds 0-{n_seeds - 1}, every member "
            f"stopping at its own first evaluation at or above 90%): **{one:.0f} s** from the command to the last run "
            f"file. {len(iterations)} of {len(ensemble['runs'])} members reached 90%, after "
            f"{min(iterations)}-{max(iterations)} iterations (median {np.median(iterations):.0f}). Timeline (s from the "
            f"command): last member built {ensemble['built_s']:.1f}, first training step done "
            f"{ensemble['first_step_s']:.1f}, first member finished {finished[0]:.1f}, half "
            f"{finished[len(finished) // 2]:.1f}, last {finished[-1]:.1f}. Traces of the process: "
            f"{ensemble['traces']}. Peak resident memory: {ensemble['peak_rss_mb']:.0f} MB.\n\n" + "\n".join(table)
            + f"\n\nThe ensemble is {n_seeds * np.median(solo_last) / one:.1f}x faster than solo processes one after "
            f"another, {in_process_n / one:.1f}x faster than the in-process sweep and {local_n / one:.1f}x faster than "
            "the local launcher at 2 jobs at a time.")
    return text, record


def main() -> None:
    from compare_psychrnn import add_update_flag, machine, results_dir, write_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    scale = sub.add_parser("scaling")
    scale.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16, 64])
    scale.add_argument("--repeats", type=int, default=3)
    many = sub.add_parser("seeds")
    many.add_argument("--seeds", type=int, default=100)
    many.add_argument("--solo", type=int, default=5)
    many.add_argument("--sweep", type=int, default=6, help="jobs of each sweep (extrapolated to --seeds)")
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
        text = (f"## Ensembles: K networks sharing one traced step\n\nMeasured {started} with `.venv/bin/python {command}`"
                f" on the machine above. N_rec 50, batch 50, perceptual discrimination, T 2000 ms; median over "
                f"{args.repeats} processes per K of each process's median iteration after 2 warm-up iterations.\n\n"
                + scaling(args.sizes, args.repeats))
        section = "ensemble_scaling"
    else:
        command = f"benchmarks/ensembles.py seeds --seeds {args.seeds} --solo {args.solo} --sweep {args.sweep}"
        body, record = seeds(args.seeds, args.solo, args.sweep)
        text = (f"## Ensembles: {args.seeds} seeds to 90% accuracy\n\nMeasured {started} with "
                f"`.venv/bin/python {command}` on {machine()}. Defaults otherwise (N_rec 50, batch 50, evaluation "
                "every 25 iterations on 200 fresh trials).\n\n" + body)
        section = "ensemble_seeds"
        (results_dir(args.update_results) / "ensemble_seeds.json").write_text(json.dumps(
            {"date": started, "machine": machine(), "command": command, **record}, indent=1))
    print(text)
    write_section(section, text, results_dir(args.update_results))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
