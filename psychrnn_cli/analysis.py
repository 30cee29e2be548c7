"""Analyses of trained networks: PCA of states, psychometric data, accuracy per condition, and
fixed points of the basic model. NumPy only.

Fixed points (Sussillo and Barak 2013): the finder minimises the speed
``q(x) = 0.5 |F(x) - x|^2`` of the discrete-time update with a constant input ``u``,

    F(x) = (1 - alpha) x + alpha (W_rec f(x) + W_in u + b_rec),

from many initial states (typically sampled along trajectories), with damped Newton
(Levenberg-Marquardt) steps, keeps the points with ``q <= q_tol``, removes duplicates, and
reports the Jacobian ``J = dF/dx = (1 - alpha) I + alpha W_rec diag(f'(x))`` at each, its
eigenvalues, and stability (all ``|eigenvalue| < 1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from psychrnn_cli.simulator import Network, SimulatorError, transfer_function
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
            ``output * mask`` (SPEC section 1).

    Returns:
        levels ``[L]`` (sorted), fraction choosing ``choice`` ``[L]``, trials per level ``[L]``.
    """
    chosen = trial_choices(outputs, mask) == choice
    levels, index, counts = np.unique(np.asarray(stimulus), return_inverse=True, return_counts=True)
    return levels, np.bincount(index, weights=chosen) / counts, counts


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
    """Fixed points of the basic model's update under a constant input.

    Attributes:
        xstar: ``[K, N_rec]`` states (pre-activations) with ``F(x) = x`` up to ``q_tol``.
        qstar: ``[K]`` speed ``0.5 |F(x) - x|^2`` at each.
        J_xstar: ``[K, N_rec, N_rec]`` Jacobian ``dF/dx``.
        eigvals: ``[K, N_rec]`` its eigenvalues (complex), by decreasing modulus.
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


def _check_basic(network: Network) -> None:
    if network.kind != "basic":
        raise SimulatorError(f"the fixed-point finder handles the basic model; this network is model={network.kind}")


def speed(network: Network, x: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
    """``q = 0.5 |F(x) - x|^2`` for states ``x [M, N_rec]``, ``[M]``."""
    residual, _ = _residual(network, np.atleast_2d(x), _drive(network, inputs))
    return 0.5 * np.sum(residual ** 2, axis=-1)


def jacobian(network: Network, x: np.ndarray) -> np.ndarray:
    """``dF/dx = (1 - alpha) I + alpha W_rec diag(f'(x))`` at states ``x [M, N_rec]``, ``[M, N_rec, N_rec]``."""
    _check_basic(network)
    _, df = transfer_function(network.transfer_function)
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    a = network.alpha
    return (1 - a) * np.eye(network.N_rec) + a * network.weights["W_rec"][None] * df(x)[:, None, :]


def _drive(network: Network, inputs: np.ndarray | None) -> np.ndarray:
    u = np.zeros(network.N_in) if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(-1)
    if u.shape != (network.N_in,):
        raise SimulatorError(f"the constant input must have {network.N_in} values, got {u.size}")
    return network.weights["W_in"] @ u + network.weights["b_rec"]


def _residual(network: Network, x: np.ndarray, drive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``F(x) - x`` ``[M, N]`` and ``f(x)``."""
    _check_basic(network)
    f, _ = transfer_function(network.transfer_function)
    rate = f(x)
    return network.alpha * (rate @ network.weights["W_rec"].T + drive - x), rate


def sample_states(states: np.ndarray, n: int, rng: np.random.Generator, noise_std: float = 0.0) -> np.ndarray:
    """``n`` states drawn at random (trials and times) from ``states [B, N_steps, N_rec]``, plus
    Gaussian noise of ``noise_std``; ``[n, N_rec]``."""
    pool = np.asarray(states, dtype=np.float64).reshape(-1, np.shape(states)[-1])
    picked = pool[rng.choice(len(pool), size=n, replace=len(pool) < n)]
    return picked + noise_std * rng.standard_normal(picked.shape)


def find_fixed_points(network: Network, initial_states: np.ndarray, inputs: np.ndarray | None = None,
                      q_tol: float = 1e-12, max_iterations: int = 500, unique_tol: float = 1e-4) -> FixedPoints:
    """Fixed points of the basic model from ``initial_states [M, N_rec]``.

    Args:
        network: a basic-model network (see :func:`psychrnn_cli.simulator.load_network`).
        initial_states: where the searches start, e.g. :func:`sample_states` of a batch's states.
        inputs: the constant input ``[N_in]`` (default zeros: the network's autonomous dynamics).
        q_tol: a point with speed ``q <= q_tol`` counts as fixed.
        max_iterations: Levenberg-Marquardt iterations per search.
        unique_tol: two points closer than ``unique_tol * (1 + |x|)`` are the same.
    """
    _check_basic(network)
    x = np.array(initial_states, dtype=np.float64, ndmin=2)
    drive = _drive(network, inputs)
    eye = np.eye(network.N_rec)
    residual, _ = _residual(network, x, drive)
    q = 0.5 * np.sum(residual ** 2, axis=-1)
    damping = np.full(len(x), 1e-3)
    active = np.ones(len(x), bool)  # searches go on past q_tol, to round-off, so duplicates coincide
    for _ in range(max_iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        A = jacobian(network, x[idx]) - eye  # d(F(x) - x)/dx
        At = np.transpose(A, (0, 2, 1))
        H = At @ A
        g = (At @ residual[idx][:, :, None])[:, :, 0]
        scale = np.einsum("mii->m", H) / network.N_rec + 1e-300  # mean curvature: damping is scale-free
        step = -np.linalg.solve(H + (damping[idx] * scale)[:, None, None] * eye, g[:, :, None])[:, :, 0]
        trial = x[idx] + step
        trial_residual, _ = _residual(network, trial, drive)
        trial_q = 0.5 * np.sum(trial_residual ** 2, axis=-1)
        better = trial_q < q[idx]
        accepted = idx[better]
        x[accepted], residual[accepted], q[accepted] = trial[better], trial_residual[better], trial_q[better]
        damping[idx] = np.where(better, damping[idx] / 3, damping[idx] * 4)
        active = (q > 1e-30) & (damping < 1e12)
    converged = q <= q_tol
    xstar, qstar = _unique(x[converged], q[converged], unique_tol)
    J = jacobian(network, xstar) if len(xstar) else np.zeros((0, network.N_rec, network.N_rec))
    eig = np.linalg.eigvals(J) if len(xstar) else np.zeros((0, network.N_rec), complex)
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
