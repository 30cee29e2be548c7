"""Task variance and unit clusters of a multi-task network. NumPy only.

Yang, G. R., Joglekar, M. R., Song, H. F., Newsome, W. T. and Wang, X.-J. (2019). Task
representations in neural networks trained to perform many cognitive tasks. Nature Neuroscience
22, 297-306.

The task variance of a unit in a task is the variance of its activity across the task's trials
(its stimulus conditions) at each time step of the chosen epoch, averaged over those steps.
Each unit's variances are divided by its largest (normalised task variance); units whose summed
variance is below a threshold are left out (cluster -1), as in the paper. The remaining units are
clustered by k-means on their normalised variances, the number of clusters chosen by the mean
silhouette score (Rousseeuw, P. J. 1987, J. Comput. Appl. Math. 20, 53-65) unless given.
Clusters are numbered by the task each cares most about (the largest entry of its centre), so the
same network gives the same numbering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_VARIANCE = 1e-3  # summed task variance below which a unit counts as inactive (Yang et al. 2019)
KMEANS_RESTARTS = 10
KMEANS_ITERATIONS = 100


def task_variance(activity: np.ndarray, task_index: np.ndarray, n_tasks: int, epoch: np.ndarray) -> np.ndarray:
    """Variance across trials, averaged over the epoch's steps, per unit and task: ``[N_rec, n_tasks]``.

    Args:
        activity: ``[B, N_steps, N_rec]`` unit activity (rates).
        task_index: ``[B]`` task of each trial, in ``0..n_tasks-1``.
        n_tasks: number of tasks.
        epoch: ``[B, N_steps]`` bool, the steps of each trial that count (e.g. its response epoch).
            At each step the variance is taken over the trials of the task whose epoch holds it;
            steps held by fewer than two trials are skipped.

    A task without such steps gets NaN.
    """
    variance = np.full((activity.shape[2], n_tasks), np.nan)
    for k in range(n_tasks):
        rows = task_index == k
        w = epoch[rows].astype(float)[:, :, None]  # [b, T, 1]
        counts = w.sum(axis=0)  # [T, 1]
        steps = counts[:, 0] >= 2
        if not steps.any():
            continue
        a, w, counts = activity[rows][:, steps], w[:, steps], counts[steps]
        mean = (w * a).sum(axis=0) / counts  # [t, N]
        per_step = (w * (a - mean) ** 2).sum(axis=0) / counts
        variance[:, k] = per_step.mean(axis=0)
    return variance


def normalise(variance: np.ndarray, min_variance: float = MIN_VARIANCE) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's variances divided by its largest, ``[N_rec, K]`` (NaN rows for inactive units), and the
    active units ``[N_rec]`` bool (summed variance >= ``min_variance``)."""
    filled = np.nan_to_num(variance)
    active = filled.sum(axis=1) >= min_variance
    normalised = np.full_like(filled, np.nan)
    normalised[active] = filled[active] / filled[active].max(axis=1, keepdims=True)
    return normalised, active


def kmeans(data: np.ndarray, k: int, rng: np.random.Generator, restarts: int = KMEANS_RESTARTS
           ) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ starts (Arthur & Vassilvitskii 2007); the best of ``restarts``.

    Args:
        data: ``[n, d]`` points, ``n >= k``.
    Returns:
        labels ``[n]`` in ``0..k-1`` and centres ``[k, d]``.
    """
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(restarts):
        centres = data[[rng.integers(len(data))]]
        while len(centres) < k:
            d2 = np.min(((data[:, None] - centres[None]) ** 2).sum(axis=2), axis=1)
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(data), 1 / len(data))
            centres = np.vstack([centres, data[rng.choice(len(data), p=p)]])
        for _ in range(KMEANS_ITERATIONS):
            labels = np.argmin(((data[:, None] - centres[None]) ** 2).sum(axis=2), axis=1)
            moved = np.array([data[labels == j].mean(axis=0) if np.any(labels == j) else centres[j] for j in range(k)])
            if np.allclose(moved, centres):
                break
            centres = moved
        inertia = float(((data - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, centres)
    return best[1], best[2]


def silhouette(data: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette score of a clustering, in [-1, 1] (0 for a single cluster).

    For a point, ``a`` is its mean distance to the other points of its cluster, ``b`` the lowest
    mean distance to another cluster's points, and its score ``(b - a) / max(a, b)`` (0 for a point
    alone in its cluster).
    """
    clusters = np.unique(labels)
    if len(clusters) < 2:
        return 0.0
    distance = np.sqrt(((data[:, None] - data[None]) ** 2).sum(axis=2))  # [n, n]
    mean_to = np.stack([distance[:, labels == c].sum(axis=1) for c in clusters], axis=1)  # [n, C] sums
    sizes = np.array([np.count_nonzero(labels == c) for c in clusters])
    own = np.searchsorted(clusters, labels)
    a = mean_to[np.arange(len(data)), own] / np.maximum(sizes[own] - 1, 1)
    others = mean_to / sizes
    others[np.arange(len(data)), own] = np.inf
    b = others.min(axis=1)
    score = np.where(sizes[own] > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(score.mean())


@dataclass
class Clusters:
    """Units clustered by their normalised task variance.

    Attributes:
        variance: ``[N_rec, K]`` task variance per unit and task.
        normalised: ``[N_rec, K]`` divided by each unit's largest (NaN for inactive units).
        cluster: ``[N_rec]`` cluster of each unit, ``-1`` for inactive units.
        k_values, scores: the numbers of clusters tried and their silhouette scores.
        k: the number of clusters.
    """

    variance: np.ndarray
    normalised: np.ndarray
    cluster: np.ndarray
    k_values: np.ndarray
    scores: np.ndarray
    k: int

    def order(self) -> np.ndarray:
        """Active units sorted by cluster, then by their preferred task: ``[n_active]`` indices."""
        active = np.flatnonzero(self.cluster >= 0)
        preferred = np.argmax(self.normalised[active], axis=1)
        return active[np.lexsort((preferred, self.cluster[active]))]


def cluster_units(variance: np.ndarray, k: int | None = None, max_k: int = 20, seed: int = 0,
                  min_variance: float = MIN_VARIANCE) -> Clusters:
    """Cluster the active units of ``variance [N_rec, K]``; ``k`` None picks 2..``max_k`` by silhouette."""
    normalised, active = normalise(variance, min_variance)
    data = normalised[active]
    if len(data) < 3:
        raise ValueError(f"only {len(data)} unit(s) vary across trials (summed task variance >= {min_variance:g}); "
                         "too few to cluster (a longer --epoch or more --trials may show more)")
    if k is not None and not 2 <= k < len(data):
        raise ValueError(f"--clusters {k}: give 2..{len(data) - 1} (there are {len(data)} active units)")
    k_values = np.array([k] if k is not None else range(2, min(max_k, len(data) - 1) + 1))
    fits, scores = [], []
    for n in k_values:
        labels, centres = kmeans(data, int(n), np.random.default_rng(seed))
        fits.append((labels, centres))
        scores.append(silhouette(data, labels))
    best = int(np.argmax(scores))
    labels, centres = fits[best]
    # number the clusters by the task each prefers, then by how much
    rank = np.lexsort((-centres.max(axis=1), np.argmax(centres, axis=1)))
    renumber = np.empty_like(rank)
    renumber[rank] = np.arange(len(rank))
    cluster = np.full(len(variance), -1)
    cluster[active] = renumber[labels]
    return Clusters(variance, normalised, cluster, k_values, np.asarray(scores), int(k_values[best]))


def tree(clusters: Clusters, labels: list[str], attrs: dict[str, Any]) -> dict[str, Any]:
    """The ``/analysis/task_variance`` group of the run file."""
    import json

    return {
        "attrs": {"tasks": json.dumps(labels), "k": clusters.k, **attrs},
        "variance": clusters.variance,
        "normalised": clusters.normalised,
        "cluster": clusters.cluster,
        "order": clusters.order(),
        "k_values": clusters.k_values,
        "silhouette": clusters.scores,
    }


def parse_epoch(text: str) -> str | tuple[float, float]:
    """``response``, ``all``, or a window ``T0-T1`` in ms (``T0-``: to the end); ValueError otherwise."""
    import re

    if text in ("response", "all"):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)?\s*", text)
    if not m:
        raise ValueError(f"--epoch {text!r}: use response, all, or a window T0-T1 in ms such as 500-1000")
    start, end = float(m[1]), float(m[2]) if m[2] else np.inf
    if end <= start:
        raise ValueError(f"--epoch {text!r}: the window must end after it starts (T0-T1 with T0 < T1, in ms)")
    return start, end


def epoch_steps(epoch: str | tuple[float, float], mask: np.ndarray, own_steps: np.ndarray, time_ms: np.ndarray
                ) -> np.ndarray:
    """``[B, N_steps]`` bool: the steps of each trial in ``epoch``.

    Args:
        epoch: ``response`` (steps with a nonzero loss mask), ``all`` (the trial's own steps,
            without padding) or a window ``(T0, T1)`` in ms within the trial's own steps.
        mask: ``[B, N_steps, N_out]`` loss mask; own_steps ``[B, N_steps]`` bool; time_ms ``[N_steps]``.
    """
    if epoch == "response":
        return mask.any(axis=2)
    if epoch == "all":
        return own_steps
    return own_steps & (time_ms >= epoch[0]) & (time_ms < epoch[1])


def task_variance_from_run(run: dict[str, Any], n_trials: int, seed: int, epoch: str | tuple[float, float],
                           k: int | None, max_k: int) -> tuple[Clusters, list[str], dict[str, Any]]:
    """Simulate ``n_trials`` fresh trials of each task of the run's multi-task, compute the task
    variance of every unit and cluster the units. Returns the clusters, the task labels and attrs.

    Raises:
        ValueError: not a multi-task run, or too few active units.
    """
    from psychrnn_cli.build import task_from_run
    from psychrnn_cli.simulator import network_from_run, simulate
    from psychrnn_cli.tasks.multitask import MultiTask

    network = network_from_run(run)
    task = task_from_run(run, n_trials, seed)
    if not isinstance(task, MultiTask):
        raise ValueError(f"--task-variance needs a multi-task run (task=multitask); this run's task is {task.name}")
    activity, index, steps = [], [], []
    for number, member in enumerate(task.members):
        task.weights = np.eye(len(task.members))[number]  # this task's trials only
        x, _, mask, _ = task.get_trial_batch(n_trials)
        own = np.broadcast_to(np.arange(task.N_steps) < member.task.N_steps, mask.shape[:2])
        activity.append(simulate(network, x, seed=seed + number).rates)
        index.append(np.full(n_trials, number))
        steps.append(epoch_steps(epoch, mask, own, task.time_ms))
        if not (steps[-1].sum(axis=0) >= 2).any():
            window = epoch if isinstance(epoch, str) else f"{epoch[0]:g}-{epoch[1]:g}"
            raise ValueError(f"--epoch {window}: no time step of task {member.label} (0 to {member.task.T:g} ms) is in "
                             f"the epoch of two or more of its {n_trials} trials, so it has no variance across "
                             "trials: give --trials 2 or more and an epoch within its trials")
    variance = task_variance(np.concatenate(activity), np.concatenate(index), len(task.members),
                             np.concatenate(steps))
    clusters = cluster_units(variance, k, max_k, seed)
    epoch_text = epoch if isinstance(epoch, str) else f"{epoch[0]:g}-{epoch[1]:g} ms"
    return clusters, task.labels, {"epoch": epoch_text, "n_trials_per_task": n_trials, "seed": seed}


def stored_clusters(run: dict[str, Any]) -> np.ndarray | None:
    """``[N_rec]`` cluster of each unit (-1: none) saved by ``psychrnn analyse --task-variance``, or None."""
    result = (run.get("analysis") or {}).get("task_variance")
    return None if result is None else np.asarray(result["cluster"])


def task_variance_figure(result: dict[str, Any]) -> Any:
    """The units-by-tasks map of a stored ``/analysis/task_variance`` group: normalised task variance
    of the active units (columns, sorted by cluster) in each task (rows), clusters marked."""
    import json

    from matplotlib.figure import Figure

    labels = json.loads(result["attrs"]["tasks"])
    order = np.asarray(result["order"], dtype=int)
    cluster = np.asarray(result["cluster"])[order]
    fig = Figure(figsize=(max(6.0, 0.04 * len(order) + 3), 0.35 * len(labels) + 2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.asarray(result["normalised"])[order].T, aspect="auto", cmap="hot", vmin=0, vmax=1,
                      interpolation="nearest")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    starts = np.flatnonzero(np.diff(cluster, prepend=-2))
    for c, start in zip(cluster[starts], starts):
        ax.axvline(start - 0.5, color="c", lw=1)
        ax.text(start, -0.7, str(c), fontsize=7, va="bottom")
    ax.set(xlabel=f"units, sorted by cluster (numbered at the top; {len(order)} active of {len(result['cluster'])})",
           xticks=[])
    fig.colorbar(image, ax=ax, label="normalised task variance")
    fig.suptitle(f"Task variance ({result['attrs'].get('epoch', '')} epoch; Yang et al. 2019)")
    return fig
