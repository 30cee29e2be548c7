"""Sweep summaries: one row per run directory, and mean and spread per parameter value.

NumPy and h5py only (run files are read with :func:`psychrnn_cli.runfile.load_run`). A run
directory is any folder under the sweep directory that holds ``run.h5`` or Hydra's
``.hydra/overrides.yaml``; a job whose run file is absent or cannot be read still gets a row,
with status ``missing`` or ``unreadable``. An ensemble (``train.ensemble=K``) is K run
directories ``seed_<seed>/`` inside the job's directory: one row each, with the job's overrides
and the member's own seed.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from psychrnn_cli.runfile import RUN_FILE, RunFileError, load_run

OVERRIDES = Path(".hydra") / "overrides.yaml"
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
METRICS = ("accuracy", "mean_reward", "loss", "iterations", "time_s")  # the numeric columns of a run row
RUN_COLUMNS = ("status", *METRICS, "requeues", "requeued_by", "message")


class SummaryError(Exception):
    """A sweep directory that cannot be summarized; the message says why and what to give instead."""


@dataclass
class RunSummary:
    """One run of a sweep.

    Attributes:
        path: the run directory relative to the sweep directory ("." for the sweep directory itself).
        overrides: Hydra overrides of the job, key -> value as typed (``seed`` -> ``"3"``); empty
            when the run directory has no ``.hydra/overrides.yaml``.
        config: the run file's resolved config flattened to dotted keys (``model.N_rec`` -> 64).
        status: the run file's status (running | requeued | completed | stopped | failed), or missing | unreadable.
        accuracy, loss: on the final test batch (``/evaluation``); NaN when absent.
        mean_reward: reward per trial on that batch after reward-based training; NaN otherwise.
        iterations: training iterations done; NaN when unknown.
        time_s: training wall time (s), the last entry of ``/training/wall_time``, summed over the
            run's restarts; NaN when absent.
        requeues: how many times SLURM requeued the run's job (0 outside SLURM).
        requeued_by: why, one reason per requeue (time limit, preemption, node failure).
        message: the run's message (why it stopped or failed), or why the file could not be read.
        task_accuracy: a multi-task run's test accuracy per task (``accuracy_<task>`` columns).
    """

    path: str
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "missing"
    accuracy: float = math.nan
    mean_reward: float = math.nan
    loss: float = math.nan
    iterations: float = math.nan
    time_s: float = math.nan
    requeues: int = 0
    requeued_by: str = ""
    message: str = ""
    task_accuracy: dict[str, float] = field(default_factory=dict)

    def param(self, key: str) -> str | None:
        """The run's value of ``key``: its override if it has one, else its config value, else None."""
        if key in self.overrides:
            return self.overrides[key]
        if key in self.config:
            return _as_text(self.config[key])
        return None


def _natural_key(text: str) -> list[Any]:
    """Sort key that orders ``2`` before ``10`` in paths and values."""
    return [(0, float(part), "") if re.fullmatch(r"-?\d+(\.\d+)?", part) else (1, 0.0, part)
            for part in re.split(r"(-?\d+(?:\.\d+)?)", text) if part]


def _as_text(value: Any) -> str:
    return "null" if value is None else str(value)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict with dotted keys; lists and scalars are leaves."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Run directories under ``sweep_dir`` (itself included), in natural order of their paths.

    Hidden folders (``.submitit``, ``.hydra``) are not searched, nor folders inside a run directory.
    """
    found = []
    for root, dirs, files in os.walk(sweep_dir):
        here = Path(root)
        if RUN_FILE in files or (here / OVERRIDES).is_file():
            found.extend(ensemble_members(here) or [here])
            dirs.clear()
        else:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
    return sorted(found, key=lambda p: _natural_key(p.relative_to(sweep_dir).as_posix()))


def ensemble_members(job_dir: Path) -> list[Path]:
    """The member run directories ``seed_<seed>/`` of an ensemble job (from ``.hydra/config.yaml``:
    ``train.ensemble`` > 1 and ``seed``); [] for any other run directory."""
    if (job_dir / RUN_FILE).exists():
        return []
    try:
        config = yaml.safe_load((job_dir / HYDRA_CONFIG).read_text())
        size, first = config["train"].get("ensemble", 1), config["seed"]
    except (OSError, yaml.YAMLError, TypeError, KeyError, AttributeError):
        return []
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (size, first)) or size < 2:
        return []
    return [job_dir / f"seed_{seed}" for seed in range(first, first + size)]


def job_overrides(run_dir: Path) -> dict[str, str]:
    """The Hydra overrides of the job that made ``run_dir``: its own, or for an ensemble member
    (``JOB/seed_<seed>``) the job's, with the member's ``seed``."""
    if run_dir in ensemble_members(run_dir.parent):
        return {**read_overrides(run_dir.parent), "seed": run_dir.name.removeprefix("seed_")}
    return read_overrides(run_dir)


def read_overrides(run_dir: Path) -> dict[str, str]:
    """``.hydra/overrides.yaml`` as key -> value (``+``/``++`` prefixes dropped); {} if absent or unreadable."""
    try:
        items = yaml.safe_load((run_dir / OVERRIDES).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    out = {}
    for item in items if isinstance(items, list) else []:
        key, _, value = str(item).partition("=")
        out[key.lstrip("+")] = value
    return out


def _attr_float(attrs: dict[str, Any], key: str) -> float:
    value = attrs.get(key)
    return float(value) if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) else math.nan


def summarize_run(run_dir: Path, sweep_dir: Path) -> RunSummary:
    """The row of one run directory. Never raises for a missing or damaged run file."""
    row = RunSummary(path=run_dir.relative_to(sweep_dir).as_posix(), overrides=job_overrides(run_dir))
    if not (run_dir / RUN_FILE).exists():
        row.message = f"no {RUN_FILE} (the job did not start, or died before writing it)"
        return row
    try:
        run = load_run(run_dir / RUN_FILE)
    except RunFileError as err:
        row.status, row.message = "unreadable", str(err)
        return row
    except Exception as err:  # a damaged file can fail in h5py or YAML in many ways; one row, not a crash
        row.status, row.message = "unreadable", f"{run_dir / RUN_FILE}: {type(err).__name__}: {err}"
        return row
    attrs = run.get("attrs", {})
    row.status = str(attrs.get("status", "unknown"))
    row.message = str(attrs.get("message") or "")
    row.iterations = _attr_float(attrs, "iterations")
    requeues = attrs.get("requeues")
    row.requeues = int(requeues) if isinstance(requeues, (int, np.integer)) and not isinstance(requeues, bool) else 0
    row.requeued_by = str(attrs.get("requeue_reasons") or "")
    evaluation = run.get("evaluation", {}).get("attrs", {})
    row.accuracy, row.loss = _attr_float(evaluation, "accuracy"), _attr_float(evaluation, "loss")
    row.mean_reward = _attr_float(evaluation, "mean_reward")
    row.task_accuracy = {k: _attr_float(evaluation, k) for k in evaluation if k.startswith("accuracy_")}
    wall_time = np.asarray(run.get("training", {}).get("wall_time", []), dtype=float)
    row.time_s = float(wall_time[-1]) if wall_time.size else math.nan
    row.config = _flatten(run.get("config") or {})
    return row


def collect_runs(sweep_dir: Path | str) -> list[RunSummary]:
    """One :class:`RunSummary` per run directory under ``sweep_dir``.

    Raises:
        SummaryError: ``sweep_dir`` is not a directory, or holds no run directory.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SummaryError(f"no such directory: {sweep_dir} (give a sweep directory such as outputs/multirun/DATE/TIME)")
    run_dirs = find_run_dirs(sweep_dir)
    if not run_dirs:
        raise SummaryError(f"no runs found under {sweep_dir}: no folder holds {RUN_FILE} or {OVERRIDES.as_posix()} "
                           "(give the directory a sweep `psychrnn train -m ...` wrote)")
    return [summarize_run(d, sweep_dir) for d in run_dirs]


def param_columns(runs: Sequence[RunSummary]) -> list[str]:
    """The parameters that tell the runs apart.

    The override keys of all runs in first-seen order; when no run has Hydra overrides (runs made
    from Python), the config keys whose values differ between runs.
    """
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.overrides))
    if keys:
        return list(keys)
    all_keys: dict[str, None] = {}
    for run in runs:
        all_keys.update(dict.fromkeys(run.config))
    return [k for k in all_keys if len({_as_text(r.config.get(k)) for r in runs}) > 1]


def common_params(runs: Sequence[RunSummary], params: Sequence[str]) -> dict[str, str]:
    """Those of ``params`` that have the same value in every run, with that value."""
    values = {p: {_as_text(r.param(p)) for r in runs} for p in params}
    return {p: v.pop() for p, v in values.items() if len(v) == 1}


def run_table(runs: Sequence[RunSummary], params: Sequence[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the per-run table: path, ``params`` (default: all), status, metrics, message."""
    params = param_columns(runs) if params is None else params
    tasks = list(dict.fromkeys(k for r in runs for k in r.task_accuracy))  # multi-task runs: one column per task
    header = ["run", *params, *RUN_COLUMNS[:2], *tasks, *RUN_COLUMNS[2:]]
    rows = [[r.path, *(r.param(p) or "" for p in params), r.status, r.accuracy,
             *(r.task_accuracy.get(t, math.nan) for t in tasks), r.mean_reward, r.loss,
             int(r.iterations) if math.isfinite(r.iterations) else math.nan, r.time_s, r.requeues, r.requeued_by,
             r.message] for r in runs]
    return header, rows


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of the finite values; NaN where undefined."""
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return mean, std


def group_table(runs: Sequence[RunSummary], by: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """Mean and spread of the metrics per value (or combination of values) of the parameters ``by``.

    Statistics use the completed runs of each group: ``n`` counts them, ``runs`` counts all runs of
    the group, ``*_std`` is the sample standard deviation (NaN for fewer than two runs). Runs without
    the parameter (an unreadable run file) form the group ``-``.

    Raises:
        SummaryError: a parameter that no run has, naming those that exist.
    """
    for key in by:
        if all(r.param(key) is None for r in runs):
            known = ", ".join(param_columns(runs)) or "none"
            raise SummaryError(f"--group-by {key}: no run has this parameter (parameters of this sweep: {known}; "
                               "any dotted config key such as model.N_rec also works)")
    groups: dict[tuple[str, ...], list[RunSummary]] = {}
    for run in runs:
        groups.setdefault(tuple("-" if run.param(k) is None else run.param(k) for k in by), []).append(run)
    header = [*by, "runs", "n"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    rows = []
    for values in sorted(groups, key=lambda vs: [_natural_key(v) for v in vs]):
        done = [r for r in groups[values] if r.status == "completed"]
        stats = [x for m in METRICS for x in _mean_std([getattr(r, m) for r in done])]
        rows.append([*values, len(groups[values]), len(done), *stats])
    return header, rows


def format_cell(value: Any, column: str) -> str:
    """Text of one table cell: 3 decimals for accuracy, 4 significant digits for loss, '-' for NaN
    and for an empty ``requeued_by``."""
    if column == "requeued_by" and not value:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if column.startswith("iterations"):
            return f"{value:.0f}" if column == "iterations" else f"{value:.1f}"
        if column.startswith(("accuracy", "mean_reward")):
            return f"{value:.3f}"
        if column.startswith("time_s"):
            return f"{value:.1f}"
        return f"{value:.4g}"
    return str(value)


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    """An aligned text table; numbers right-aligned, text left-aligned and cut at ``max_width``."""
    cells = [[format_cell(v, c) for v, c in zip(row, header)] for row in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 3] + "..." for c in row] for row in cells]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(header))]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(header)]

    def line(items: Sequence[str]) -> str:
        return "  ".join(s.rjust(w) if num else s.ljust(w) for s, w, num in zip(items, widths, numeric)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def write_csv(path: Path | str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write the table as CSV with full precision; NaN becomes an empty cell."""
    path = Path(path)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if isinstance(v, float) and not math.isfinite(v) else v for v in row])
    return path
