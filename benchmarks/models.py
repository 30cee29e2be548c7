"""Milliseconds per training iteration of every built-in model kind, next to the basic RNN.

Usage: python benchmarks/models.py [--repeats R] [--kinds basic stp ...] [--update-results]

For each kind in ``psychrnn_cli.models.BUILTIN`` (basic, lstm, gru, adapting, stp and any added
since) and each (N_rec, batch) in ``SIZES``, a fresh process builds ``model=<kind>`` through the
normal config path (perceptual discrimination, T 2000 ms, dt 10 ms, the kind's own preset), takes
5 training steps to warm up, then times ``ITERATIONS`` steps on pre-made batches: wall time and the
process's CPU time per step (CPU time depends less on what else the machine runs). Prints the
medians over ``--repeats`` processes and writes them, with the date, machine and command, to
``models.json`` and a section of ``RESULTS.md`` in benchmarks/results/ (or, with
``--update-results``, in benchmarks/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = [(50, 50), (256, 128)]
ITERATIONS = {50: 20, 256: 5}


def measure(kind: str, N_rec: int, batch: int) -> dict[str, float]:
    """Milliseconds of wall and CPU time per training step of ``model=kind``."""
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build

    exp = build(compose_config([f"model={kind}", "task.T=2000", f"model.N_rec={N_rec}", f"train.batch_size={batch}"]))
    batches = [exp.task.get_trial_batch()[:3] for _ in range(4)]
    for i in range(5):
        exp.steps.train_step(*batches[i % 4])
    n = ITERATIONS[N_rec]
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        exp.steps.train_step(*batches[i % 4])
    return {"wall_ms": 1e3 * (time.perf_counter() - wall) / n, "cpu_ms": 1e3 * (time.process_time() - cpu) / n}


def machine() -> str:
    """CPU, cores, memory, system and versions, one line."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    packages = ("tensorflow", "tensorflow-cpu", "numpy", "psychrnn-cli")
    versions = "; ".join(f"{name} {metadata.version(name)}" for name in packages if _installed(name))
    return (f"{cpu}, {os.cpu_count()} cores, {int(memory) / 1e6:.0f} GB RAM; {platform.platform()}; "
            f"Python {platform.python_version()}; {versions}; load average {os.getloadavg()[0]:.1f} at the start")


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def main() -> None:
    from psychrnn_cli.models import BUILTIN

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per kind and size (default 3)")
    parser.add_argument("--kinds", nargs="+", default=list(BUILTIN), help="model kinds (default: every built-in)")
    parser.add_argument("--update-results", action="store_true",
                        help="write into the tracked benchmarks/ (default: benchmarks/results/, ignored by git)")
    args = parser.parse_args()
    command = f"benchmarks/models.py --repeats {args.repeats} --kinds {' '.join(args.kinds)}"
    started, where = time.strftime("%Y-%m-%d %H:%M %Z"), machine()
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for kind in args.kinds:
        for N_rec, batch in SIZES:
            runs = [json.loads(subprocess.run([sys.executable, __file__, "measure", kind, str(N_rec), str(batch)],
                                              cwd="/tmp", capture_output=True, text=True, check=True)
                               .stdout.strip().splitlines()[-1]) for _ in range(args.repeats)]
            medians = {metric: statistics.median(r[metric] for r in runs) for metric in ("cpu_ms", "wall_ms")}
            rows.setdefault(kind, {})[f"{N_rec} {batch}"] = medians
            print(f"{kind:10s} N_rec {N_rec:3d}, batch {batch:3d}: cpu {medians['cpu_ms']:8.1f} ms, "
                  f"wall {medians['wall_ms']:8.1f} ms per iteration", flush=True)
    table = ["| model | N_rec 50, batch 50 (ms, CPU / wall) | N_rec 256, batch 128 (ms, CPU / wall) |",
             "| --- | --- | --- |"]
    for kind, sizes in rows.items():
        cells = [f"{sizes[f'{n} {b}']['cpu_ms']:.0f} / {sizes[f'{n} {b}']['wall_ms']:.0f}" for n, b in SIZES]
        table.append(f"| {kind} | {' | '.join(cells)} |")
    text = (f"## Model kinds: ms per training iteration\n\nMeasured {started} with `.venv/bin/python {command}` on "
            f"{where}. Perceptual discrimination, T 2000 ms, dt 10 ms; median over {args.repeats} processes of "
            f"{ITERATIONS[50]} (N_rec 50) or {ITERATIONS[256]} (N_rec 256) timed iterations after 5 warm-up "
            "iterations.\n\n" + "\n".join(table))
    print(text)
    sys.path.insert(0, str(HERE))
    from compare_psychrnn import results_dir, write_section

    folder = results_dir(args.update_results)
    (folder / "models.json").write_text(json.dumps({"date": started, "machine": where, "command": command,
                                                    "rows": rows}, indent=1))
    write_section("models", text, folder)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "measure":
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
