"""The results figures of the PsychRNN paper, reproduced with psychrnn-cli.

Ehrlich, D. B., Stone, J. T., Brandfonbrener, D., Atanasov, A. and Murray, J. D. (2021).
PsychRNN: an accessible and flexible Python package for training recurrent neural network models
on cognitive tasks. eNeuro 8(1), ENEURO.0427-20.2020.

Usage (from the repository root, with psychrnn-cli installed in the running Python):

    python paper/figures.py fig2                  # train the sweep(s), then draw docs/paper/fig2.png
    python paper/figures.py fig2 --plot-only      # draw from sweeps already trained
    python paper/figures.py fig2 --runs DIR --out FILE.png train.ensemble=2 train.iterations=50

Each figure trains ``psychrnn train -m +experiment=<name>`` (configs/experiment/) into
``RUNS/<name>`` (default ``outputs/paper/<name>``); extra arguments are passed to every sweep as
overrides. A sweep whose runs are already completed is not trained again. The figure shows every
seed (dots, thin lines) and their mean.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from psychrnn_cli import load_run  # noqa: E402
from psychrnn_cli.analysis import psychometric, signed_coherence  # noqa: E402
from psychrnn_cli.build import task_from_run  # noqa: E402
from psychrnn_cli.simulator import network_from_run, simulate  # noqa: E402
from psychrnn_cli.task import trial_param_arrays  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for benchmarks/
from benchmarks.curriculum_vs_baseline import time_to_criterion  # noqa: E402
PSYCHRNN = Path(sys.executable).parent / "psychrnn"  # the command installed beside this Python
COHERENCE_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7)  # unsigned; each drawn with both directions
Run = dict[str, Any]


# --- training and reading ------------------------------------------------------------------------


def train_sweep(experiment: str, runs: Path, overrides: Sequence[str]) -> None:
    """Train ``+experiment=<experiment>`` as a sweep into ``runs / experiment``; stop on failure."""
    command = [str(PSYCHRNN), "train", "-m", f"+experiment={experiment}", f"hydra.sweep.dir={runs / experiment}",
               *overrides]
    print("+", " ".join(command), flush=True)
    if subprocess.run(command, cwd=REPO).returncode != 0:
        sys.exit(f"paper/figures.py: the sweep {experiment} did not complete (see its train.log files)")


def read_sweep(sweep_dir: Path) -> list[list[Run]]:
    """The runs of a sweep, one list per job (its ensemble's members, or the single run), by job number."""
    jobs = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    if not jobs:
        sys.exit(f"paper/figures.py: no runs in {sweep_dir}; train them first (drop --plot-only)")
    sweep = []
    for job in jobs:
        files = sorted(job.glob("seed_*/run.h5"), key=lambda p: int(p.parent.name[5:])) or [job / "run.h5"]
        runs = [load_run(f) | {"path": f} for f in files if f.exists()]
        unfinished = [str(r["path"]) for r in runs if r["attrs"]["status"] != "completed"]
        if unfinished or not runs:
            print(f"paper/figures.py: left out job {job} (not completed: {', '.join(unfinished) or 'no run file'})",
                  file=sys.stderr)
            continue
        sweep.append(runs)
    return sweep


def iterations_to_criterion(run: Run) -> float:
    """Iteration of the first evaluation at or above ``train.stop_accuracy``; NaN if none reached it."""
    reached = time_to_criterion(run)
    return reached[0] if reached is not None else float("nan")


def test_accuracy(run: Run) -> float:
    """Accuracy on the fresh test trials written after training (``/evaluation``)."""
    return float(run["evaluation"]["attrs"]["accuracy"])


# --- drawing -------------------------------------------------------------------------------------


def seeds_plot(ax: Any, labels: Sequence[str], values: Sequence[Sequence[float]], ylabel: str) -> None:
    """One column per variant: each seed a dot, the mean a bar outline, the sd an error bar."""
    for k, vals in enumerate(values):
        vals = np.asarray(vals, dtype=float)
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(1)
        ax.scatter(k + jitter, vals, s=14, color="tab:blue", zorder=3)
        finite = vals[np.isfinite(vals)]
        if len(finite):
            sd = finite.std(ddof=1) if len(finite) > 1 else 0.0
            ax.errorbar(k, finite.mean(), yerr=sd, fmt="_", color="k", markersize=18, capsize=4, zorder=4)
        missing = int(np.sum(~np.isfinite(vals)))
        if missing:
            ax.annotate(f"{missing} not\nreached", (k, 0.02), xycoords=("data", "axes fraction"), ha="center",
                        fontsize=7, color="tab:red")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylabel(ylabel)


def curves_plot(ax: Any, groups: dict[str, list[Run]]) -> None:
    """Evaluation accuracy over training: one colour per group, one thin line per seed."""
    for colour, (label, runs) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], groups.items()):
        for k, run in enumerate(runs):
            ax.plot(run["training"]["iteration"], run["training"]["accuracy"], color=colour, lw=0.8, alpha=0.7,
                    label=label if k == 0 else None)
    ax.set_xlabel("iteration")
    ax.set_ylabel("accuracy (fresh trials)")
    ax.legend(fontsize=7)


def fresh_trials(run: Run, n_trials: int, overrides: Sequence[str] = ()) -> tuple[Any, dict[str, np.ndarray], Any]:
    """``n_trials`` fresh trials of the run's task simulated with NumPy (seed 0, noise off).

    Returns the task, the trial parameters (``[B]`` each) and the simulation (outputs ``[B, T, N_out]``,
    rates ``[B, T, N_rec]``).
    """
    task = task_from_run(run, n_trials, 0, overrides)
    x, _, mask, params = task.get_trial_batch(n_trials)
    result = simulate(network_from_run(run, str(run["path"])), x, seed=0)
    return task, trial_param_arrays(params) | {"mask": mask}, result


def variant_label(run: Run, keys: Sequence[str], names: Sequence[str], units: str = "") -> str:
    """E.g. ``stim 100, delay 200 ms`` from the run's config values at dotted ``keys``."""
    values = []
    for key in keys:
        value: Any = run["config"]
        for part in key.split("."):
            value = value[part]
        values.append(value)
    return ", ".join(f"{name} {value:g}" for name, value in zip(names, values)) + (f" {units}" if units else "")


# --- the figures ---------------------------------------------------------------------------------


def fig2(runs: Path) -> Figure:
    """Perceptual discrimination: example outputs, psychometric curves, unit activity, training."""
    members = read_sweep(runs / "paper_fig2")[0]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    grid = ",".join(str(c) for c in COHERENCE_GRID)
    overrides = [f"task.coherences=[{grid}]", "task.coherence=null"]

    task, params, result = fresh_trials(members[0], 700, overrides)
    signed = signed_coherence(params["coherence"], params["direction"])
    t = task.time_ms
    ax = axes[0, 0]
    for level, style in ((-0.1, ":"), (0.1, "-"), (0.4, "--")):
        k = int(np.flatnonzero(np.isclose(signed, level))[0])
        for channel, colour in ((0, "tab:orange"), (1, "tab:green")):
            ax.plot(t, result.outputs[k, :, channel], style, color=colour,
                    label=f"output {channel}, coherence {level:+g}")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("output")
    ax.set_title("A  outputs of seed 0 on three trials", loc="left", fontsize=10)
    ax.legend(fontsize=6)

    ax = axes[0, 1]
    curves = []
    for run in members:
        _, p, res = fresh_trials(run, 700, overrides)
        levels, p_choice, _ = psychometric(signed_coherence(p["coherence"], p["direction"]), res.outputs, p["mask"])
        curves.append(p_choice)
        ax.plot(levels, p_choice, color="tab:blue", lw=0.8, alpha=0.6)
    curves_arr = np.array(curves)
    ax.errorbar(levels, curves_arr.mean(0), yerr=curves_arr.std(0, ddof=1) if len(curves) > 1 else None,
                color="k", marker="o", ms=3, capsize=3, label=f"mean ± sd of {len(members)} seeds")
    ax.set_xlabel("signed coherence (positive favours output 1)")
    ax.set_ylabel("P(choose output 1)")
    ax.set_title("B  psychometric curves", loc="left", fontsize=10)
    ax.legend(fontsize=7)

    ax = axes[1, 0]
    rates = result.rates  # [B, T, N_rec] of seed 0
    choice_1 = params["direction"] == 1
    selectivity = rates[choice_1].mean((0, 1)) - rates[~choice_1].mean((0, 1))
    for unit, colour in zip(np.argsort(selectivity)[[0, -1]], ("tab:orange", "tab:green")):
        for level, style in ((0.05, ":"), (0.2, "--"), (0.7, "-")):
            for sign, width in ((-1, 0.8), (1, 1.6)):
                trials = np.isclose(signed, sign * level)
                ax.plot(t, rates[trials, :, unit].mean(0), style, color=colour, lw=width)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (mean over trials)")
    ax.set_title("C  two units of seed 0 (orange prefers output 0, green output 1);\n"
                 "thick: evidence for output 1; line style: coherence 0.05, 0.2, 0.7", loc="left", fontsize=8)

    curves_plot(axes[1, 1], {f"{len(members)} seeds": members})
    axes[1, 1].set_title("D  training", loc="left", fontsize=10)
    fig.tight_layout()
    return fig


def fig3(runs: Path) -> Figure:
    """Task variations: delayed discrimination (stimulus, delay) and match-to-category (inputs, categories)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for row, (experiment, keys, names, title) in enumerate((
            ("paper_fig3_delay", ("task.stim_duration_1", "task.delay_duration"), ("stimulus", "delay"),
             "delayed discrimination (ms)"),
            ("paper_fig3_category", ("task.N_in", "task.N_out"), ("inputs", "categories"), "match-to-category"))):
        sweep = read_sweep(runs / experiment)
        labels = [variant_label(job[0], keys, names).replace(", ", "\n") for job in sweep]
        seeds_plot(axes[row, 0], labels, [[test_accuracy(r) for r in job] for job in sweep], "test accuracy")
        axes[row, 0].set_title(f"{'AB'[row]}  {title}: accuracy after training", loc="left", fontsize=10)
        seeds_plot(axes[row, 1], labels, [[iterations_to_criterion(r) for r in job] for job in sweep],
                   "iterations to criterion")
        criterion = sweep[0][0]["config"]["train"]["stop_accuracy"]
        axes[row, 1].set_title(f"{'CD'[row]}  {title}: iterations to {criterion:.0%}", loc="left", fontsize=10)
    fig.tight_layout()
    return fig


def fig4(runs: Path) -> Figure:
    """Constraints: the effective recurrent weights of seed 0 per constraint, accuracy and training time."""
    sweep = read_sweep(runs / "paper_fig4")
    names = [constraint_name(job[0]) for job in sweep]
    fig = plt.figure(figsize=(max(12.0, 3.0 * len(sweep)), 7.5), layout="constrained")
    top = fig.subfigures(2, 1, height_ratios=[1.1, 1])
    mats = top[0].subplots(1, len(sweep))
    for k, (ax, job, name) in enumerate(zip(np.atleast_1d(mats), sweep, names)):
        w = job[0]["model"]["effective"]["W_rec"]
        bound = float(np.abs(w).max()) or 1.0
        image = ax.imshow(w, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_title(f"{name}: W_rec (seed 0)", fontsize=9)
        ax.set_xlabel("from unit")
        if k == 0:
            ax.set_ylabel("to unit")
        top[0].colorbar(image, ax=ax, shrink=0.7)
    bottom = top[1].subplots(1, 3)
    seeds_plot(bottom[0], names, [[test_accuracy(r) for r in job] for job in sweep], "test accuracy")
    seeds_plot(bottom[1], names, [[iterations_to_criterion(r) for r in job] for job in sweep],
               "iterations to criterion")
    curves_plot(bottom[2], dict(zip(names, sweep)))
    criterion = sweep[0][0]["config"]["train"]["stop_accuracy"]
    for ax, title in zip(bottom, ("test accuracy after training", f"iterations to {criterion:.0%}", "training")):
        ax.set_title(title, fontsize=9)
    return fig


def constraint_name(run: Run) -> str:
    """A short name of the run's constraints: ``none``, ``Dale``, ``no autapses``, ``two regions``."""
    c = run["config"]["constraints"]
    parts = [name for name, on in (("Dale", c["dale_ratio"] is not None), ("no autapses", not c["autapses"]),
                                   ("two regions", c["regions"] is not None)) if on]
    return " + ".join(parts) or "none"


def fig5(runs: Path) -> Figure:
    """Curriculum versus none: iterations to criterion on the hard task, per seed, and the curves."""
    arms: dict[str, list[Run]] = {}
    for job in read_sweep(runs / "curriculum_vs_baseline"):
        for run in job:
            stages = run["config"]["curriculum"]["stages"]
            arm = f"curriculum ({len(stages)} stages)" if stages else "no curriculum"
            arms.setdefault(arm, []).append(run)
    arms = dict(sorted(arms.items(), key=lambda kv: kv[0] != "no curriculum"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    values = [[iterations_to_criterion(r) for r in sorted(rs, key=lambda r: r["attrs"]["seed"])] for rs in arms.values()]
    seeds_plot(axes[0], list(arms), values, "iterations to criterion")
    if len(values) == 2 and len(values[0]) == len(values[1]) > 1:
        for shift, a, b in zip(np.linspace(-0.15, 0.15, len(values[0])), *values):  # seeds_plot's jitter
            axes[0].plot([shift, 1 + shift], [a, b], color="grey", lw=0.6)
    criterion = next(iter(arms.values()))[0]["config"]["train"]["stop_accuracy"]
    axes[0].set_title(f"A  iterations to {criterion:.0%} on coherence 0.1 (lines join seeds)", loc="left", fontsize=9)
    curves_plot(axes[1], arms)
    axes[1].set_title("B  accuracy on coherence-0.1 trials", loc="left", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES: dict[str, tuple[Callable[[Path], Figure], list[tuple[str, list[str]]]]] = {
    # figure -> (drawing function, [(experiment, its sweep overrides)])
    "fig2": (fig2, [("paper_fig2", [])]),
    "fig3": (fig3, [("paper_fig3_delay", []), ("paper_fig3_category", [])]),
    "fig4": (fig4, [("paper_fig4", [])]),
    "fig5": (fig5, [("curriculum_vs_baseline", ["curriculum=none,coherence_ramp", "train.ensemble=5"])]),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", choices=sorted(FIGURES))
    parser.add_argument("overrides", nargs="*", help="config overrides for every sweep, e.g. train.iterations=50")
    parser.add_argument("--runs", type=Path, default=REPO / "outputs" / "paper",
                        help="folder of the sweeps (default: outputs/paper)")
    parser.add_argument("--out", type=Path, help="PNG to write (default: docs/paper/<figure>.png)")
    parser.add_argument("--plot-only", action="store_true", help="draw from sweeps already trained")
    args = parser.parse_intermixed_args(argv)
    draw, sweeps = FIGURES[args.figure]
    runs = args.runs.resolve()
    if not args.plot_only:
        for experiment, sweep_overrides in sweeps:
            train_sweep(experiment, runs, [*sweep_overrides, *args.overrides])
    out = args.out or REPO / "docs" / "paper" / f"{args.figure}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    draw(runs).savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
