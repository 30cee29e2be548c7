"""Figures of a trained network, written as PNG files (matplotlib, headless; no TensorFlow).

Each ``*_figure`` function takes plain arrays and returns a ``matplotlib.figure.Figure`` (no
pyplot, so nothing needs a display); :func:`plot_run` makes all of them for a run directory::

    from psychrnn_cli.plots import plot_run
    paths = plot_run("outputs/2026-01-01/12-00-00")     # -> RUN_DIR/plots/*.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from psychrnn_cli.analysis import (block_choices, condition_accuracy, condition_parameters, pca, psychometric,
                                   signed_coherence)
from psychrnn_cli.simulator import Network
from psychrnn_cli.task_variance import task_variance_figure

PSYCHOMETRIC_COHERENCES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7)
COLOUR_PREFERENCE = ("signed_coherence", "choice", "category", "direction", "interval")
MAX_LEVELS = 12  # a trial parameter with at most this many values is a discrete condition


def training_figure(training: dict[str, np.ndarray], stage_starts: Sequence[int] = ()) -> Figure:
    """Loss and accuracy over iterations (``/training`` columns).

    ``stage_starts`` (``/curriculum/start_iteration``: the iteration where each curriculum stage
    began, -1 for stages not reached) marks the stages with dotted lines when more than one was
    reached.
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    it = training["iteration"]
    if "train_loss" in training:
        loss_ax.plot(it, training["train_loss"], color="0.6", label="training batches (mean)")
    loss_ax.plot(it, training["loss"], color="C0", label="fresh evaluation trials")
    loss_ax.set(xlabel="iteration", ylabel="loss", yscale="log", title="Loss")
    loss_ax.legend(fontsize=8)
    per_task = [n for n in training if n.startswith("accuracy_")]  # a multi-task's tasks
    acc_ax.plot(it, training["accuracy"], color="k" if per_task else "C1", lw=2 if per_task else 1.5,
                label="all trials")
    for number, name in enumerate(per_task):
        acc_ax.plot(it, training[name], color=f"C{number}", lw=1, label=name[len("accuracy_"):])
    if per_task:
        acc_ax.legend(fontsize=7)
    acc_ax.set(xlabel="iteration", ylabel="accuracy (fraction correct)", title="Accuracy", ylim=(-0.02, 1.02))
    reached = [(stage, int(start)) for stage, start in enumerate(stage_starts) if start >= 0]
    if len(reached) > 1:
        for ax in (loss_ax, acc_ax):
            for stage, start in reached:
                ax.axvline(start, color="k", ls=":", lw=1)
                ax.text(start, 0.98, f" stage {stage}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    fig.suptitle("Training: loss and accuracy on fresh trials" + (" (dotted: curriculum stage begins)"
                                                                  if len(reached) > 1 else ""))
    return fig


def example_trials_figure(inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, outputs: np.ndarray,
                          time_ms: np.ndarray, labels: Sequence[str]) -> Figure:
    """Inputs (top row) and outputs with targets (bottom row) of a few trials ``[n, N_steps, .]``.

    Grey shading marks times where the loss mask is 0 on every output.
    """
    n = len(inputs)
    fig = Figure(figsize=(3.2 * n, 5), layout="constrained")
    axes = np.array(fig.subplots(2, n, sharex=True, squeeze=False))
    for k in range(n):
        top, bottom = axes[0, k], axes[1, k]
        for c in range(inputs.shape[2]):
            top.plot(time_ms, inputs[k, :, c], lw=0.8, label=f"input {c}")
        ignored = np.all(mask[k] == 0, axis=1)
        for ax in (top, bottom):
            ax.fill_between(time_ms, 0, 1, where=ignored, transform=ax.get_xaxis_transform(), color="0.9", lw=0)
        for c in range(outputs.shape[2]):
            bottom.plot(time_ms, outputs[k, :, c], color=f"C{c}", label=f"output {c}")
            bottom.plot(time_ms, targets[k, :, c], color=f"C{c}", ls="--", lw=1, label=f"target {c}")
        top.set_title(labels[k], fontsize=9)
        bottom.set_xlabel("time (ms)")
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("output (solid), target (dashed)")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.suptitle("Example trials: inputs, targets and network outputs (grey: not in the loss)")
    return fig


def psychometric_figure(levels: np.ndarray, p_choice: np.ndarray, counts: np.ndarray) -> Figure:
    """Fraction of choices of output 1 against signed coherence, with binomial standard errors."""
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    error = np.sqrt(p_choice * (1 - p_choice) / np.maximum(counts, 1))
    ax.errorbar(levels, p_choice, yerr=error, marker="o", capsize=3)
    ax.axhline(0.5, color="0.7", lw=0.8)
    ax.axvline(0.0, color="0.7", lw=0.8)
    ax.set(xlabel="signed coherence (+: evidence for output 1)", ylabel="P(choice = output 1)", ylim=(-0.02, 1.02),
           title=f"Psychometric curve ({int(counts.sum())} fresh trials)")
    return fig


def psychometric_blocks_figure(blocks: dict[str, Any]) -> Figure:
    """One psychometric curve per block prior (:func:`~psychrnn_cli.analysis.block_choices`), with
    binomial standard errors: a prior shifts the curve towards the side it favours."""
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    levels = blocks["signed_coherence"]
    for prior, p_choice, counts in zip(blocks["prior"], blocks["p_choice_1"], blocks["n_trials"]):
        held = counts > 0
        error = np.sqrt(p_choice[held] * (1 - p_choice[held]) / counts[held])
        ax.errorbar(levels[held], p_choice[held], yerr=error, marker="o", capsize=3,
                    label=f"block P(output 1 correct) = {prior:.2g}")
    ax.axhline(0.5, color="0.7", lw=0.8)
    ax.axvline(0.0, color="0.7", lw=0.8)
    ax.legend(fontsize="small", loc="upper left")
    ax.set(xlabel="signed coherence (+: evidence for output 1)", ylabel="P(choice = output 1)", ylim=(-0.02, 1.02),
           title=f"Psychometric curve per block ({int(blocks['n_trials'].sum())} fresh trials)")
    return fig


def condition_accuracy_figure(conditions: dict[str, tuple[Sequence[str], np.ndarray, np.ndarray]]) -> Figure:
    """Accuracy per group of trials of each condition (axis label -> group labels, accuracy, trial counts);
    each bar is labelled with its accuracy and trial count, so that a bar at 0 still shows."""
    fig = Figure(figsize=(4 * len(conditions), 3.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(conditions)))
    for ax, (name, (labels, accuracy, counts)) in zip(axes, conditions.items()):
        bars = ax.bar(list(labels), accuracy, color="C0")
        ax.bar_label(bars, [f"{a:.2f}\nn={n}" for a, n in zip(accuracy, counts)], fontsize=7)
        ax.set(xlabel=name, ylabel="accuracy", ylim=(0, 1.15))
        ax.tick_params(axis="x", labelsize=8, labelrotation=30 if len(labels) > 4 else 0)
    fig.suptitle(f"Accuracy per condition ({int(np.sum(counts))} fresh trials)")
    return fig


def weights_figure(network: Network) -> Figure:
    """The effective ``W_rec`` (with ``W_in`` and ``W_out`` beside it), E/I and regions marked.

    Units are in index order; under Dale's principle the excitatory units come first.
    """
    w = network.weights
    N = network.N_rec
    rec = w["W_rec"][:N] if network.gates == 1 else w["W_rec"][2 * N:3 * N]  # candidate block for gated models
    fig = Figure(figsize=(8, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, 3, width_ratios=[max(network.N_in, 2), N, 2], height_ratios=[N, max(network.N_out, 2)])
    ax_rec = fig.add_subplot(grid[0, 1])
    ax_in = fig.add_subplot(grid[0, 0], sharey=ax_rec)
    ax_out = fig.add_subplot(grid[1, 1], sharex=ax_rec)
    limit = float(np.percentile(np.abs(rec), 99)) or 1.0
    norm = TwoSlopeNorm(0.0, -limit, limit)
    image = ax_rec.imshow(rec, cmap="RdBu_r", norm=norm, interpolation="nearest", aspect="auto")
    in_limit = float(np.abs(w["W_in"][:N]).max()) or 1.0
    ax_in.imshow(w["W_in"][:N], cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -in_limit, in_limit), aspect="auto",
                 interpolation="nearest")
    out_limit = float(np.abs(w["W_out"]).max()) or 1.0
    ax_out.imshow(w["W_out"], cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -out_limit, out_limit), aspect="auto",
                  interpolation="nearest")
    ax_in.set(xlabel="input", ylabel="postsynaptic unit", title="W_in", xticks=range(network.N_in))
    ax_out.set(xlabel="presynaptic unit", ylabel="output", title="W_out", yticks=range(network.N_out))
    ax_rec.tick_params(labelleft=False, labelbottom=False)
    fig.colorbar(image, cax=fig.add_subplot(grid[0, 2]),
                 label="W_rec weight (colours saturate at the 99th percentile of |w|)")
    structure = []
    if network.signs is not None:
        n_exc = int((network.signs > 0).sum())
        _boundaries(ax_rec, [n_exc], N, "k", "-")
        ax_rec.text(n_exc / 2, -0.5, "E", ha="center", va="bottom", fontsize=11, color="C3", weight="bold")
        ax_rec.text((n_exc + N) / 2, -0.5, "I", ha="center", va="bottom", fontsize=11, color="C0", weight="bold")
        structure.append(f"{n_exc} E | {N - n_exc} I (solid line)")
    if network.regions is not None:
        starts = list(np.flatnonzero(np.diff(network.regions)) + 1)
        _boundaries(ax_rec, starts, N, "0.3", "--")
        for r, (a, b) in enumerate(zip([0, *starts], [*starts, N])):
            ax_rec.text(1.01, (a + b) / 2, f"region {r}", rotation=90, va="center", ha="left", fontsize=9,
                        transform=ax_rec.get_yaxis_transform())
        structure.append(f"{len(starts) + 1} regions (dashed lines)")
    block = "" if network.gates == 1 else " (candidate block)"
    fig.suptitle(f"Recurrent weights W_rec{block}, effective; rows postsynaptic, columns presynaptic"
                 + (f"\n{', '.join(structure)}" if structure else ""))
    return fig


def spikes_figure(spikes: np.ndarray, time_ms: np.ndarray, dt: float, signs: np.ndarray | None = None) -> Figure:
    """Spike raster of the first trial and population rates of a spiking network.

    Args:
        spikes: ``[B, N_steps, N_rec]`` 0/1.
        time_ms: ``[N_steps]`` time of each step (ms).
        dt: time step (ms), turning spikes per step into rates (Hz).
        signs: ``[N_rec]`` Dale signs (+1 excitatory, -1 inhibitory) for separate E and I rates, or None.
    """
    fig = Figure(figsize=(8, 6), layout="constrained")
    raster, rates = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    steps, units = np.nonzero(spikes[0])
    raster.scatter(time_ms[steps], units, s=2, marker="|", color="black")
    raster.set(ylabel="unit", title="spike raster (trial 0)", ylim=(-0.5, spikes.shape[2] - 0.5))
    groups = {"all units": np.ones(spikes.shape[2], bool)} if signs is None else {
        "excitatory": signs > 0, "inhibitory": signs < 0}
    for label, chosen in groups.items():
        if chosen.any():
            rates.plot(time_ms, spikes[:, :, chosen].mean(axis=(0, 2)) * 1000.0 / dt, label=label)
    rates.set(xlabel="time (ms)", ylabel="rate (Hz)", title=f"population rate, mean of {len(spikes)} trials")
    rates.legend(frameon=False)
    return fig


def _boundaries(ax: Any, positions: Sequence[int], N: int, colour: str, style: str) -> None:
    for p in positions:
        if 0 < p < N:
            ax.axhline(p - 0.5, color=colour, ls=style, lw=1.2)
            ax.axvline(p - 0.5, color=colour, ls=style, lw=1.2)


def trajectories_figure(states: np.ndarray, time_ms: np.ndarray, colour: np.ndarray | None, colour_label: str,
                        max_trials: int = 80) -> Figure:
    """State trajectories ``[B, N_steps, N_rec]`` on the first two principal components (PCA over
    all trials and times), one line per trial coloured by a trial parameter ``colour [B]``.

    A parameter with at most ``MAX_LEVELS`` values gets one colour per value and a legend; a
    continuous one a colour bar; ``None`` one colour for all trials.
    """
    fit = pca(states, 3)
    projected = fit.project(states[:max_trials])
    colours, key = _trial_colours(colour, len(projected))
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax, ax_time = fig.subplots(1, 2, width_ratios=[1.1, 1])
    for trajectory, c in zip(projected, colours):
        ax.plot(trajectory[:, 0], trajectory[:, 1], color=c, lw=0.8, alpha=0.8)
        ax_time.plot(time_ms, trajectory[:, 0], color=c, lw=0.8, alpha=0.8)
    ax.plot(*projected[:, 0, :2].T, "k.", ms=4, label="start")
    ax.plot(*projected[:, -1, :2].T, "kx", ms=5, label="end")
    ax.legend(fontsize=8)
    ratio = fit.explained_variance_ratio
    ax.set(xlabel=f"PC1 ({100 * ratio[0]:.0f}% variance)", ylabel=f"PC2 ({100 * ratio[1]:.0f}% variance)",
           title="PC1 vs PC2")
    ax_time.set(xlabel="time (ms)", ylabel="PC1", title="PC1 over time")
    if isinstance(key, ScalarMappable):
        fig.colorbar(key, ax=ax_time, label=colour_label)
    elif key:
        ax_time.legend(handles=key, fontsize=8, title=colour_label, title_fontsize=8)
    coloured = f", coloured by {colour_label}" if colour is not None else ""
    fig.suptitle(f"State trajectories on the first principal components{coloured} ({len(projected)} trials)")
    return fig


def _trial_colours(colour: np.ndarray | None, n: int) -> tuple[list[Any], Any]:
    """One colour per trial for the first ``n`` trials, and their key: legend handles (discrete
    values), a ScalarMappable for a colour bar (continuous values) or None (no parameter)."""
    if colour is None:
        return ["C0"] * n, None
    colour = np.asarray(colour, dtype=float)[:n]
    levels = np.unique(colour)
    if levels.size <= MAX_LEVELS:
        index = np.searchsorted(levels, colour)
        handles = [Line2D([], [], color=f"C{k % 10}", label=_format_value(v)) for k, v in enumerate(levels)]
        return [f"C{k % 10}" for k in index], handles
    low, high = float(levels[0]), float(levels[-1])
    diverging = low < 0 < high
    norm = TwoSlopeNorm(0.0, low, high) if diverging else Normalize(low, high)
    mappable = ScalarMappable(norm, colormaps["coolwarm" if diverging else "viridis"])
    return [mappable.to_rgba(v) for v in colour], mappable


def _format_value(value: float, units: str = "") -> str:
    """A parameter value as short text, without exponent for everyday magnitudes: ``1283 ms``, ``0.05``."""
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {units}".rstrip()


def _with_units(name: str, units: dict[str, str]) -> str:
    """Axis label of a trial parameter: ``interval (ms)``."""
    label = name.replace("_", " ")
    return f"{label} ({units[name]})" if name in units else label


def condition_groups(values: dict[str, np.ndarray], units: dict[str, str], n_trials: int, bins: int = 4
                     ) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Groups of ``n_trials`` trials to score separately: axis label -> (group index per trial
    ``[n_trials]``, group labels), from the trial parameters ``values`` (name -> ``[n_trials]``).

    Each discrete trial parameter (2 to ``MAX_LEVELS`` values) groups by value; when there is
    none, each continuous numeric parameter groups into ``bins`` quantile bins (ranges in its
    ``units``); with neither, one group holds all trials.
    """
    discrete = condition_parameters(values, MAX_LEVELS)
    groups = {}
    for name in discrete:
        levels, index = np.unique(values[name], return_inverse=True)
        groups[_with_units(name, units)] = (index, [_format_value(v) for v in levels])
    for name, value in values.items() if not discrete else ():
        value = np.asarray(value, dtype=float)
        if value.ndim == 1 and np.unique(value).size > MAX_LEVELS:
            edges = np.unique(np.quantile(value, np.linspace(0, 1, bins + 1)))
            index = np.clip(np.searchsorted(edges, value, side="right") - 1, 0, edges.size - 2)
            labels = [f"{_format_value(a)}-{_format_value(b)}" for a, b in zip(edges[:-1], edges[1:])]
            groups[_with_units(name, units)] = (index, labels)
    if not groups:
        groups["all trials"] = (np.zeros(n_trials, dtype=int), ["all"])
    return groups


# --- one run ------------------------------------------------------------------------------------


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, n_trials: int = 400, seed: int = 0,
             dpi: int = 120) -> list[Path]:
    """Write every figure of a run (:func:`run_figures`) as PNG into ``out_dir`` (default
    ``RUN_DIR/plots``); return the paths."""
    from psychrnn_cli.runfile import resolve_run_path

    run_file = resolve_run_path(run_dir)
    figures = run_figures(run_file, n_trials, seed)
    out = Path(out_dir) if out_dir is not None else run_file.parent / "plots"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for figure_name, fig in figures.items():
        path = out / f"{figure_name}.png"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def run_figures(run_file: str | Path, n_trials: int = 400, seed: int = 0) -> dict[str, Figure]:
    """Every figure of a run, by file name without ``.png``.

    Example trials come from the run file's ``/trials``; the psychometric curve (or accuracy per
    condition) and the trajectories from ``n_trials`` fresh trials simulated with NumPy (perceptual
    discrimination: coherences spread over ``PSYCHOMETRIC_COHERENCES``; sequences with
    ``task.feedback=reward``: a closed loop that samples the network's actions,
    :func:`~psychrnn_cli.rewards.closed_loop`).
    """
    from psychrnn_cli.build import task_from_run
    from psychrnn_cli.rewards import acts_on_feedback, closed_loop
    from psychrnn_cli.runfile import load_run
    from psychrnn_cli.sequences import per_trial
    from psychrnn_cli.simulator import network_from_run, simulate
    from psychrnn_cli.task import trial_param_arrays

    run = load_run(run_file)
    network = network_from_run(run, str(run_file))
    task_config = (run.get("config") or {}).get("task", {})
    discrimination = {"coherences", "coherence"} <= set(task_config)  # perceptual discrimination's options
    grid = ",".join(str(c) for c in PSYCHOMETRIC_COHERENCES)
    overrides = [f"task.coherences=[{grid}]", "task.coherence=null"] if discrimination else []
    task = task_from_run(run, n_trials, seed, overrides)
    units = getattr(task, "param_units", {})
    figures: dict[str, Figure] = {}
    if run.get("training") and "iteration" in run["training"]:
        figures["training"] = training_figure(run["training"],
                                              run.get("curriculum", {}).get("start_iteration", ()))
    if len(run.get("trials", {}).get("outputs", ())):  # none with train.save_trials=0
        figures["example_trials"] = _example_trials(run["trials"], units)

    x, y, mask, params = task.get_trial_batch(n_trials)
    if acts_on_feedback(task):
        x, result = closed_loop(network, task, x, y, mask, params, run["config"].get("algorithm") or {}, False, seed)
    else:
        result = simulate(network, x, seed=seed)
    # trial sequences: every figure below scores and draws trial by trial (spikes included)
    names = list(result.recorded)
    task, (y, outputs, mask, states, *recorded), params = per_trial(
        task, [y, result.outputs, mask, result.states, *(result.recorded[n] for n in names)], params)
    recorded = dict(zip(names, recorded))
    values = trial_param_arrays(params)
    if discrimination and {"coherence", "direction"} <= set(values) and network.N_out == 2:
        values["signed_coherence"] = signed_coherence(values["coherence"], values["direction"])
        figures["psychometric"] = psychometric_figure(*psychometric(values["signed_coherence"], outputs, mask))
    else:
        figures["accuracy_per_condition"] = condition_accuracy_figure(
            {name: _scored(index, labels, y, outputs, mask, task.accuracy_function)
             for name, (index, labels) in condition_groups(values, units, len(params)).items()})
    if (blocks := block_choices(values, outputs, mask)) is not None:
        figures["psychometric_blocks"] = psychometric_blocks_figure(blocks)
    if "task_variance" in run.get("analysis", {}):
        figures["task_variance"] = task_variance_figure(run["analysis"]["task_variance"])
    figures["weights"] = weights_figure(network)
    name = next((n for n in COLOUR_PREFERENCE if n in values), None) or next(iter(values), None)
    colour = values[name] if name else None
    figures["trajectories"] = trajectories_figure(states, task.time_ms, colour, _with_units(name, units) if name else "")
    if "spikes" in recorded:  # spiking models
        figures["spikes"] = spikes_figure(recorded["spikes"], task.time_ms, network.dt, network.signs)
    return figures


def _scored(index: np.ndarray, labels: Sequence[str], targets: np.ndarray, outputs: np.ndarray, mask: np.ndarray,
            accuracy_function: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labels, accuracy and trial counts of the groups that hold trials (``index [B]`` into ``labels``)."""
    levels, accuracy, counts = condition_accuracy(index, targets, outputs, mask, accuracy_function)
    return [labels[k] for k in levels], accuracy, counts


def _example_trials(trials: dict[str, np.ndarray], units: dict[str, str], n: int = 4) -> Figure:
    n = min(n, len(trials["inputs"]))
    skip = {"inputs", "targets", "mask", "outputs", "states", "time_ms"}
    labels = []
    for k in range(n):
        parts = [f"{key} {_format_value(trials[key][k], units.get(key, ''))}" for key in trials
                 if key not in skip and np.ndim(trials[key]) == 1]
        labels.append(f"trial {k}: " + ", ".join(parts[:2]) + "\n" + ", ".join(parts[2:4]))
    return example_trials_figure(trials["inputs"][:n], trials["targets"][:n], trials["mask"][:n],
                                 trials["outputs"][:n], trials["time_ms"], labels)
