"""Analyses of trained networks: PCA of states, psychometric data, accuracy per condition, and
fixed points of any model kind. NumPy only.

Fixed points (Sussillo and Barak 2013): the finder minimises the speed
``q(x) = 0.5 |F(x) - x|^2`` of the discrete-time update ``F`` with a constant input ``u`` (one
noiseless step of the model, e.g. for the basic model
``F(x) = (1 - alpha) x + alpha (W_rec f(x) + W_in u + b_rec)``), over the model's full state (all
its components side by side: ``x`` for the basic model and the GRU, ``(h, c)`` for the LSTM),
from many initial states (typically sampled along trajectories), with damped Newton
(Levenberg-Marquardt) steps, keeps the points with ``q <= q_tol``, removes duplicates, and
reports the Jacobian ``J = dF/dx`` at each (central finite differences), its eigenvalues, and
stability (all ``|eigenvalue| < 1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from psychrnn_cli.simulator import Network, SimulatorError
from psychrnn_cli.task import trial_choices

# --- PCA --------------------------------------------------------------------------------------


@dataclass
class PCA:
    """Principal components of states.

    Attributes:
        mean: ``[N_rec]``, subtracted before projecting.
        components: ``[k, N_rec]``, orthonormal rows, by decreasing variance.
        explained_variance_ratio: ``[k]``, fraction of the total variance per component.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    def project(self, states: np.ndarray) -> np.ndarray:
        """``[..., N_rec]`` -> ``[..., k]``."""
        return (np.asarray(states) - self.mean) @ self.components.T


def pca(states: np.ndarray, n_components: int = 3) -> PCA:
    """PCA of ``states [..., N_rec]`` (all leading axes are pooled as samples), by SVD."""
    samples = np.asarray(states, dtype=np.float64).reshape(-1, np.shape(states)[-1])
    mean = samples.mean(axis=0)
    _, singular, vt = np.linalg.svd(samples - mean, full_matrices=False)
    variance = singular ** 2
    total = variance.sum()
    k = min(n_components, vt.shape[0])
    ratio = variance[:k] / total if total > 0 else np.zeros(k)
    return PCA(mean, vt[:k], ratio)


# --- behaviour ----------------------------------------------------------------------------------


def signed_coherence(coherence: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Coherence signed by the evidence: positive when it favours output 1 (direction 1), ``[B]``."""
    return np.asarray(coherence, dtype=float) * np.where(np.asarray(direction) == 1, 1.0, -1.0)


def psychometric(stimulus: np.ndarray, outputs: np.ndarray, mask: np.ndarray, choice: int = 1
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fraction of trials choosing output ``choice`` per stimulus level.

    Args:
        stimulus: ``[B]``, e.g. :func:`signed_coherence`.
        outputs, mask: ``[B, N_steps, N_out]``; the choice is the channel with the largest mean of
            ``output * mask`` (PsychRNN's rule).

    Returns:
        levels ``[L]`` (sorted), fraction choosing ``choice`` ``[L]``, trials per level ``[L]``.
    """
    chosen = trial_choices(outputs, mask) == choice
    levels, index, counts = np.unique(np.asarray(stimulus), return_inverse=True, return_counts=True)
    return levels, np.bincount(index, weights=chosen) / counts, counts


def choice_by_block(prior: np.ndarray, stimulus: np.ndarray, outputs: np.ndarray, mask: np.ndarray, choice: int = 1
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Psychometric curves per block: fraction of trials choosing output ``choice`` by block prior
    and stimulus level (as in The International Brain Laboratory 2021, eLife).

    Args:
        prior: ``[B]`` each trial's block prior (e.g. the probability that output 1 is correct).
        stimulus: ``[B]`` e.g. :func:`signed_coherence`.
        outputs, mask: ``[B, N_steps, N_out]`` (choice rule of :func:`psychometric`).

    Returns:
        priors ``[P]`` and levels ``[L]`` (sorted), fraction choosing ``choice`` ``[P, L]`` (NaN
        where no trial), trials ``[P, L]``.
    """
    chosen = trial_choices(outputs, mask) == choice
    priors, p_index = np.unique(np.asarray(prior), return_inverse=True)
    levels, l_index = np.unique(np.asarray(stimulus), return_inverse=True)
    cell = p_index * levels.size + l_index
    counts = np.bincount(cell, minlength=priors.size * levels.size)
    chose = np.bincount(cell, weights=chosen, minlength=counts.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_choice = chose / counts
    shape = (priors.size, levels.size)
    return priors, levels, p_choice.reshape(shape), counts.reshape(shape)


def likely_side_choice(prior: np.ndarray, outputs: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of trials choosing the side their block favours (output 1 where ``prior > 0.5``,
    output 0 where ``prior < 0.5``; trials of ``prior == 0.5`` left out); NaN without such trials.

    ``prior [B]``: the probability that output 1 is correct; ``outputs, mask [B, N_steps, 2]``.
    """
    prior = np.asarray(prior, dtype=float)
    biased = prior != 0.5
    if not biased.any():
        return float("nan")
    return float(np.mean(trial_choices(outputs[biased], mask[biased]) == (prior[biased] > 0.5)))


def block_choices(values: dict[str, np.ndarray], outputs: np.ndarray, mask: np.ndarray) -> dict[str, Any] | None:
    """Choice probability by block and coherence, for trials with ``prior``, ``coherence`` and
    ``direction`` parameters (the block prior task) and 2 outputs; None for other trials.

    Args:
        values: trial parameter arrays, each ``[B]`` (one entry per trial, not per sequence).
        outputs, mask: ``[B, N_steps, 2]``.

    Returns:
        ``{"attrs": {"p_likely_side_zero_coherence": float}, "prior": [P], "signed_coherence": [L],
        "p_choice_1": [P, L], "n_trials": [P, L]}`` (see :func:`choice_by_block`; the fraction of
        zero-coherence trials that chose the side their block favours is NaN without any).
    """
    if not {"prior", "coherence", "direction"} <= set(values) or outputs.shape[-1] != 2:
        return None
    stimulus = signed_coherence(values["coherence"], values["direction"]) + 0.0  # (no -0.0)
    priors, levels, p_choice, counts = choice_by_block(values["prior"], stimulus, outputs, mask)
    zero = np.asarray(values["coherence"]) == 0
    likely = likely_side_choice(values["prior"][zero], outputs[zero], mask[zero]) if zero.any() else float("nan")
    return {"attrs": {"p_likely_side_zero_coherence": likely}, "prior": priors, "signed_coherence": levels,
            "p_choice_1": p_choice, "n_trials": counts}


def condition_parameters(params: dict[str, np.ndarray], max_levels: int = 12) -> list[str]:
    """Names of trial parameters that label conditions: numeric, 2..``max_levels`` distinct values."""
    names = []
    for name, values in params.items():
        values = np.asarray(values)
        if values.ndim == 1 and values.dtype.kind in "biuf" and 2 <= np.unique(values).size <= max_levels:
            names.append(name)
    return names


def condition_accuracy(values: np.ndarray, targets: np.ndarray, outputs: np.ndarray, mask: np.ndarray,
                       accuracy_function: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy per level of a trial parameter, with the task's own accuracy function.

    Returns levels ``[L]``, accuracy ``[L]`` and trials per level ``[L]``.
    """
    values = np.asarray(values)
    levels = np.unique(values)
    accuracy = np.array([accuracy_function(targets[values == v], outputs[values == v], mask[values == v])
                         for v in levels])
    return levels, accuracy, np.array([(values == v).sum() for v in levels])


# --- fixed points -----------------------------------------------------------------------------


@dataclass
class FixedPoints:
    """Fixed points of a model's update under a constant input.

    Attributes:
        xstar: ``[K, D]`` full states (D = components x N_rec; basic model: x) with ``F(x) = x`` up to ``q_tol``.
        qstar: ``[K]`` speed ``0.5 |F(x) - x|^2`` at each.
        J_xstar: ``[K, D, D]`` Jacobian ``dF/dx``.
        eigvals: ``[K, D]`` its eigenvalues (complex), by decreasing modulus.
        is_stable: ``[K]`` all ``|eigenvalue| < 1``.
        inputs: ``[N_in]`` the constant input.
        n_initial: number of initial states; n_slow: of them, how many ended with ``q > q_tol``.
    """

    xstar: np.ndarray
    qstar: np.ndarray
    J_xstar: np.ndarray
    eigvals: np.ndarray
    is_stable: np.ndarray
    inputs: np.ndarray
    n_initial: int = 0
    n_slow: int = 0

    def tree(self) -> dict[str, Any]:
        """The run-file group ``/analysis/fixed_points``."""
        return {"attrs": {"n_initial": self.n_initial, "n_slow": self.n_slow},
                "xstar": self.xstar, "qstar": self.qstar, "J_xstar": self.J_xstar, "eigvals": self.eigvals,
                "is_stable": self.is_stable, "inputs": self.inputs}


def step_function(network: Network, inputs: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``F``: one noiseless step of the model with the constant input ``inputs [N_in]`` (default
    zeros), on full states ``[M, D]`` -> ``[M, D]`` (D = state components x N_rec)."""
    model, ops, N = network.model, network.ops, network.N_rec
    if not getattr(model, "smooth", True):
        raise SimulatorError(f"fixed points need a differentiable step; model={model.kind}'s units spike (a step "
                             "function of the membrane potential), so its Jacobian is 0 or infinite and this analysis "
                             "does not apply to it")
    u = np.zeros(network.N_in) if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(-1)
    if u.shape != (network.N_in,):
        raise SimulatorError(f"the constant input must have {network.N_in} values, got {u.size}")
    w = model.prepare(ops, network.weights)
    drive = model.drive_gain() * (w["W_in"] @ u + w["b_rec"])
    initial = model.initial_state(ops, w, np.zeros((1, N)))
    if any(np.shape(component) != (1, N) for component in initial):
        shapes = ", ".join(str(tuple(np.shape(component)[1:])) for component in initial)
        raise SimulatorError(f"fixed points need a state made of vectors of the {N} units; model={model.kind}'s state "
                             f"components have shapes {shapes} per trial (a matrix among them), so this analysis does "
                             "not apply to it")
    components = len(initial)

    def F(states: np.ndarray) -> np.ndarray:
        states = np.atleast_2d(np.asarray(states, dtype=np.float64))
        if states.shape[-1] != components * N:
            raise SimulatorError(f"model={model.kind} has {components} state component(s) of {N} units: states need "
                                 f"{components * N} values, got {states.shape[-1]}")
        state = tuple(np.split(states, components, axis=-1))
        return np.concatenate(model.step(ops, w, state, np.broadcast_to(drive, (len(states), drive.size))), axis=-1)

    return F


def speed(network: Network, x: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """``q = 0.5 |F(x) - x|^2`` for full states ``x [M, D]``, ``[M]``."""
    x = np.atleast_2d(x)
    return 0.5 * np.sum((step_function(network, inputs)(x) - x) ** 2, axis=-1)


def jacobian(network: Network, x: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """``dF/dx`` at full states ``x [M, D]`` by central differences, ``[M, D, D]``."""
    return _jacobian(step_function(network, inputs), np.atleast_2d(np.asarray(x, dtype=np.float64)))


def _jacobian(F: Callable[[np.ndarray], np.ndarray], x: np.ndarray, chunk: int = 2 ** 22) -> np.ndarray:
    """Central-difference Jacobian of ``F`` at ``x [M, D]``, evaluated in chunks of about ``chunk`` numbers."""
    M, D = x.shape
    h = 1e-6 * (1.0 + np.abs(x))  # [M, D]: step per coordinate
    J = np.empty((M, D, D))
    per_chunk = max(1, chunk // (D * D))
    for i in range(0, M, per_chunk):
        xs, hs = x[i:i + per_chunk], h[i:i + per_chunk]
        shift = hs[:, :, None] * np.eye(D)  # [m, j, D]: row j moves coordinate j
        plus = F((xs[:, None, :] + shift).reshape(-1, D)).reshape(len(xs), D, D)
        minus = F((xs[:, None, :] - shift).reshape(-1, D)).reshape(len(xs), D, D)
        J[i:i + per_chunk] = np.transpose((plus - minus) / (2 * hs[:, :, None]), (0, 2, 1))
    return J


def sample_states(states: np.ndarray, n: int, rng: np.random.Generator, noise_std: float = 0.0) -> np.ndarray:
    """``n`` states drawn at random (trials and times) from ``states [B, N_steps, N_rec]``, plus
    Gaussian noise of ``noise_std``; ``[n, N_rec]``."""
    pool = np.asarray(states, dtype=np.float64).reshape(-1, np.shape(states)[-1])
    picked = pool[rng.choice(len(pool), size=n, replace=len(pool) < n)]
    return picked + noise_std * rng.standard_normal(picked.shape)


def find_fixed_points(network: Network, initial_states: np.ndarray, inputs: np.ndarray | None = None,
                      q_tol: float = 1e-12, max_iterations: int = 500, unique_tol: float = 1e-4) -> FixedPoints:
    """Fixed points of the model's update from ``initial_states [M, D]`` (full states).

    Args:
        network: any model kind (see :func:`psychrnn_cli.simulator.load_network`).
        initial_states: where the searches start, e.g. :func:`sample_states` of a batch's
            ``full_states`` (:class:`psychrnn_cli.simulator.Simulation`).
        inputs: the constant input ``[N_in]`` (default zeros: the network's autonomous dynamics).
        q_tol: a point with speed ``q <= q_tol`` counts as fixed.
        max_iterations: Levenberg-Marquardt iterations per search.
        unique_tol: two points closer than ``unique_tol * (1 + |x|)`` are the same.
    """
    F = step_function(network, inputs)
    x = np.array(initial_states, dtype=np.float64, ndmin=2)
    residual = F(x) - x
    D = x.shape[1]
    eye = np.eye(D)
    q = 0.5 * np.sum(residual ** 2, axis=-1)
    damping = np.full(len(x), 1e-3)
    active = np.ones(len(x), bool)  # searches go on past q_tol, to round-off, so duplicates coincide
    for _ in range(max_iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        A = _jacobian(F, x[idx]) - eye  # d(F(x) - x)/dx
        At = np.transpose(A, (0, 2, 1))
        H = At @ A
        g = (At @ residual[idx][:, :, None])[:, :, 0]
        scale = np.einsum("mii->m", H) / D + 1e-300  # mean curvature: damping is scale-free
        step = -np.linalg.solve(H + (damping[idx] * scale)[:, None, None] * eye, g[:, :, None])[:, :, 0]
        trial = x[idx] + step
        trial_residual = F(trial) - trial
        trial_q = 0.5 * np.sum(trial_residual ** 2, axis=-1)
        better = trial_q < q[idx]
        accepted = idx[better]
        x[accepted], residual[accepted], q[accepted] = trial[better], trial_residual[better], trial_q[better]
        damping[idx] = np.where(better, damping[idx] / 3, damping[idx] * 4)
        active = (q > 1e-30) & (damping < 1e12)
    converged = q <= q_tol
    xstar, qstar = _unique(x[converged], q[converged], unique_tol)
    J = _jacobian(F, xstar) if len(xstar) else np.zeros((0, D, D))
    eig = np.linalg.eigvals(J) if len(xstar) else np.zeros((0, D), complex)
    eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=-1), axis=-1)
    stable = np.all(np.abs(eig) < 1, axis=-1)
    u = np.zeros(network.N_in) if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(-1)
    return FixedPoints(xstar, qstar, J, eig.astype(complex), stable, u, len(x), int((~converged).sum()))


def _unique(x: np.ndarray, q: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy de-duplication, keeping the slowest point of each cluster."""
    kept: list[int] = []
    for i in np.argsort(q):
        if all(np.linalg.norm(x[i] - x[j]) > tol * (1 + np.linalg.norm(x[j])) for j in kept):
            kept.append(int(i))
    return x[kept].reshape(-1, x.shape[-1]), q[kept]
