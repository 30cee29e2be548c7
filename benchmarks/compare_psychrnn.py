"""psychrnn-cli against PsychRNN 1.0.0: same machine, TensorFlow, task and network, measured interleaved.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/compare_psychrnn.py [--repeats 3] [--seeds 5]

The first run creates benchmarks/.venv-psychrnn with ``pip<24.1`` (PsychRNN 1.0.0's wheel has
metadata that newer pip rejects), the TensorFlow version this project uses, and
``psychrnn==1.0.0`` without its dependencies; later runs reuse it. Every measurement is its own
process (PsychRNN's import switches TensorFlow out of eager mode), and the two tools alternate
(A B, then B A, ...) so that a machine whose load drifts treats both alike. Task: perceptual
discrimination, dt 10 ms, tau 100 ms, T 2000 ms, Adam with learning rate 1e-3, no recurrent noise.

Prints one table with the ratio PsychRNN / psychrnn-cli per row and writes it, with the machine,
versions, load and command, into benchmarks/results/RESULTS.md (its own section; the folder is
ignored by git) and the raw numbers into benchmarks/results/compare_psychrnn.json. With
``--update-results`` both go to the tracked benchmarks/RESULTS.md and
benchmarks/compare_psychrnn.json instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-psychrnn"
LOCAL_RESULTS = HERE / "results"  # ignored by git; the tracked files change only with --update-results
OURS = {"python": sys.executable, "script": str(HERE / "ours_side.py"), "name": "psychrnn-cli"}
THEIRS = {"python": str(VENV / "bin" / "python"), "script": str(HERE / "psychrnn_side.py"), "name": "PsychRNN 1.0.0"}
SIZES = [(50, 50, 40), (50, 128, 30), (256, 50, 20), (256, 128, 12)]  # N_rec, batch, timed iterations
TASKS = ["perceptual_discrimination", "delayed_discrimination", "match_to_category"]  # built into both tools
OURS_ONLY_TASKS = ["context_dependent_integration", "ready_set_go", "anti_saccade"]
TO_ACCURACY = {"kind": "to_accuracy", "accuracy": 0.9, "eval_every": 10, "eval_trials": 500, "max_iterations": 1500}


def tensorflow_version() -> tuple[str, str]:
    """The TensorFlow distribution this environment uses and its version."""
    for name in ("tensorflow-cpu", "tensorflow"):
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    raise SystemExit("TensorFlow is not installed in this environment")


def ensure_psychrnn_env() -> None:
    """Create (or complete) benchmarks/.venv-psychrnn with PsychRNN 1.0.0 on our TensorFlow version."""
    tf_name, tf_version = tensorflow_version()
    python = Path(THEIRS["python"])
    check = [str(python), "-c", f"import importlib.metadata as m; print(m.version('{tf_name}'), m.version('psychrnn'))"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.split() == [tf_version, "1.0.0"]:
        return
    print(f"creating {VENV} (PsychRNN 1.0.0, {tf_name}=={tf_version}) ...", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "pip<24.1"], check=True)
    subprocess.run([*pip, f"{tf_name}=={tf_version}"], check=True)
    subprocess.run([*pip, "--no-deps", "psychrnn==1.0.0"], check=True)


def measure(side: dict, spec: dict, loads: list[float], timeout: float = 1800) -> dict:
    """Run one measurement in a fresh process of ``side``; its RESULT, plus ``wall_s`` of the process."""
    loads.append(os.getloadavg()[0])
    spec = {**spec, "launch": time.time()}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([side["python"], side["script"], json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=HERE)
    wall = time.time() - spec["launch"]
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{side['name']} {spec['kind']} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(lines[-1][len("RESULT "):]), "wall_s": wall}


def help_seconds() -> float:
    """Wall time of ``psychrnn --help``."""
    start = time.time()
    subprocess.run([str(Path(sys.executable).parent / "psychrnn"), "--help"], capture_output=True, check=True)
    return time.time() - start


def collect(repeats: int, seeds: int) -> tuple[dict, list[float]]:
    """All measurements, interleaved: {row: {"PsychRNN 1.0.0": [...], "psychrnn-cli": [...]}}."""
    rows: dict[str, dict[str, list]] = {}
    loads: list[float] = []

    def both(row: str, spec: dict, turn: int) -> None:
        for side in (THEIRS, OURS) if turn % 2 == 0 else (OURS, THEIRS):
            rows.setdefault(row, {}).setdefault(side["name"], []).append(measure(side, spec, loads))
            print(f"  {row:45s} {side['name']:15s} done (load {loads[-1]:.2f})", file=sys.stderr)

    for turn in range(repeats):
        print(f"repetition {turn + 1} of {repeats}", file=sys.stderr)
        for n_rec, batch, iterations in SIZES:
            both(f"iteration {n_rec} {batch}", {"kind": "iteration", "N_rec": n_rec, "batch": batch, "seed": turn,
                                                "warmup": 3, "iterations": iterations}, turn)
        for task in TASKS:
            both(f"generation {task}", {"kind": "generation", "task": task, "batch": 50, "seed": turn,
                                        "repeats": 20}, turn)
        for task in OURS_ONLY_TASKS:
            spec = {"kind": "generation", "task": task, "batch": 50, "seed": turn, "repeats": 20}
            rows.setdefault(f"generation {task}", {}).setdefault(OURS["name"], []).append(measure(OURS, spec, loads))
        both("first iteration", {"kind": "first_iteration", "seed": turn}, turn)
        rows.setdefault("help", {}).setdefault(OURS["name"], []).append({"seconds": help_seconds()})
    for seed in range(seeds):
        print(f"time to 90%: seed {seed}", file=sys.stderr)
        both("to accuracy", {**TO_ACCURACY, "seed": seed}, seed)
    return rows, loads


def summarize(rows: dict) -> list[tuple[str, float | None, float | None, str]]:
    """Table rows: (what, PsychRNN value, our value, unit)."""
    def per_process(row: str, side: dict, key: str, reduce=np.median) -> list[float]:
        return [float(reduce(r[key])) for r in rows[row].get(side["name"], []) if r.get(key) is not None]

    def value_and_spread(values: list[float]) -> tuple[float | None, str]:
        if not values:
            return None, ""
        return float(np.median(values)), f"{min(values):.4g}-{max(values):.4g}"

    table = []
    for n_rec, batch, _ in SIZES:
        row = f"iteration {n_rec} {batch}"
        (a, sa), (b, sb) = (value_and_spread([1e3 * v for v in per_process(row, side, "per_iteration_s")])
                            for side in (THEIRS, OURS))
        table.append((f"ms per iteration, N_rec {n_rec}, batch {batch}", a, b, f"ms (range {sa} / {sb})"))
    for key, label, unit in (("seconds_from_launch", "s from command to 90% accuracy", "s"),
                             ("iterations", "iterations to 90% accuracy", "iterations")):
        (a, sa), (b, sb) = (value_and_spread(per_process("to accuracy", side, key, reduce=float))
                            for side in (THEIRS, OURS))
        table.append((f"{label} (median of seeds)", a, b, f"{unit} (range {sa} / {sb})"))
    for task in TASKS + OURS_ONLY_TASKS:
        row = f"generation {task}"
        (a, sa), (b, sb) = (value_and_spread([1e3 * v for v in per_process(row, side, "per_batch_s")])
                            for side in (THEIRS, OURS))
        table.append((f"ms per 50-trial batch, {task}", a, b, f"ms (range {sa} / {sb})"))
    (a, sa), (b, sb) = (value_and_spread(per_process("first iteration", side, "seconds_from_launch", reduce=float))
                        for side in (THEIRS, OURS))
    table.append(("s from command to first training iteration", a, b, f"s (range {sa} / {sb})"))
    help_s, help_range = value_and_spread(per_process("help", OURS, "seconds", reduce=float))
    table.append(("s for `psychrnn --help` (PsychRNN has no command line)", None, help_s, f"s (range {help_range})"))
    for row, label in (("iteration 50 50", "training N_rec 50, batch 50"), ("to accuracy", "training to 90%")):
        (a, sa), (b, sb) = (value_and_spread(per_process(row, side, "peak_rss_mb", reduce=float))
                            for side in (THEIRS, OURS))
        table.append((f"peak resident memory (MB), {label}", a, b, f"MB (range {sa} / {sb})"))
    return table


def format_table(table: list) -> str:
    lines = ["| measurement | PsychRNN 1.0.0 | psychrnn-cli | ratio PsychRNN / ours | unit (range PsychRNN / ours) |",
             "|---|---:|---:|---:|---|"]
    for what, a, b, unit in table:
        ratio = f"{a / b:.1f}x" if a is not None and b else "-"
        lines.append(f"| {what} | {'-' if a is None else f'{a:.4g}'} | {'-' if b is None else f'{b:.4g}'} | "
                     f"{ratio} | {unit} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "?")
    tf_name, tf_version = tensorflow_version()
    return (f"{cpu}, {os.cpu_count()} cores, {int(memory) / 1e6:.0f} GB RAM; {platform.platform()}; Python "
            f"{platform.python_version()}; {tf_name} {tf_version} (both tools); NumPy {metadata.version('numpy')}; "
            f"psychrnn-cli {metadata.version('psychrnn-cli')}; PsychRNN 1.0.0")


def add_update_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--update-results`` option shared by the benchmark scripts."""
    parser.add_argument("--update-results", action="store_true",
                        help="write into the tracked benchmarks/RESULTS.md (default: benchmarks/results/, "
                             "ignored by git)")


def results_dir(update: bool) -> Path:
    """Where results go: benchmarks/ with ``--update-results``, else benchmarks/results/ (created)."""
    if update:
        return HERE
    LOCAL_RESULTS.mkdir(exist_ok=True)
    return LOCAL_RESULTS


def write_section(name: str, text: str, folder: Path) -> None:
    """Replace (or add) the section ``name`` of ``folder/RESULTS.md``."""
    path = folder / "RESULTS.md"
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    old = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by the scripts in benchmarks/.\n"
    block = f"{begin}\n{text.strip()}\n{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions of each timing (>= 3)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds trained to 90%% accuracy by each tool")
    add_update_flag(parser)
    args = parser.parse_args()
    folder = results_dir(args.update_results)
    ensure_psychrnn_env()
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    rows, loads = collect(args.repeats, args.seeds)
    table = format_table(summarize(rows))
    print(table)
    command = f".venv/bin/python benchmarks/compare_psychrnn.py --repeats {args.repeats} --seeds {args.seeds}"
    write_section("compare_psychrnn", f"""
## psychrnn-cli and PsychRNN 1.0.0, side by side

Measured {started} with `{command}`.
Machine: {machine()}.
Load average (1 min) seen before each measurement: median {np.median(loads):.2f}, range {min(loads):.2f}-{max(loads):.2f}
(other jobs shared the machine; the tools were measured alternately, so both saw it alike).

Task: perceptual discrimination, dt 10 ms, tau 100 ms, T 2000 ms (200 steps); basic RNN; Adam, learning
rate 1e-3; no recurrent noise. Per iteration: median of each process's iterations after 3 warm-up iterations
(trial generation included), then the median over {args.repeats} processes per tool (range: their spread).
Time to 90%: evaluation every 10 iterations on 500 fresh trials, each tool with its own code (PsychRNN's test
batches of 50 trials), timed from the command (the process start) until that evaluation; median over seeds
0-{args.seeds - 1}. Trial generation: one 50-trial batch, median of 20 per process. Start-up: from the command
to the end of the first training iteration (`psychrnn train` itself, in-process, for psychrnn-cli).

{table}
""", folder)
    (folder / "compare_psychrnn.json").write_text(json.dumps({"rows": rows, "loads": loads}, indent=1))


if __name__ == "__main__":
    main()
