"""Perturbations of a simulated network, and the text language that describes them.

Each perturbation is one class whose ``apply(plan, network)`` edits the simulation's
:class:`~psychrnn_cli.simulator.Plan`. They act on what every model kind shares (see
:mod:`psychrnn_cli.models`): the named weight matrices and the first state component, so every
model takes every perturbation. :func:`parse` reads the command line's language
(``psychrnn simulate --lesion 0-9 --cut 'exc>inh@500-1000'``), the same from Python::

    from psychrnn_cli.perturbations import parse
    perturbations = [parse("lesion", "0-9", net, n_steps), parse("cut", "W_in:0>all@200-", net, n_steps)]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from psychrnn_cli.simulator import Network, Plan, SimulatorError

Units = Sequence[int] | np.ndarray


# --- helpers -------------------------------------------------------------------------------------


def _units(network: Network, units: Units, what: str, size: int | None = None) -> np.ndarray:
    size = network.N_rec if size is None else size
    idx = np.asarray(units, dtype=int).reshape(-1)
    if idx.size and (idx.min() < -size or idx.max() >= size):
        raise SimulatorError(f"{what}: indices {idx.tolist()} out of range for {size} (0..{size - 1})")
    return idx


def _window(network: Network, start: float, end: float, n_steps: int) -> np.ndarray:
    time = np.arange(n_steps) * network.dt
    return (time >= start) & (time < end)


def _matrix(plan: Plan, network: Network, matrix: str, what: str) -> np.ndarray:
    """The effective weight matrix ``matrix`` of the plan, or an error naming the model's matrices."""
    matrices = sorted(name for name, value in plan.weights.items() if np.ndim(value) == 2)
    if matrix not in matrices:
        raise SimulatorError(f"{what}: model={network.kind} has no matrix {matrix!r}; the matrix must be one of "
                             f"{', '.join(matrices)}")
    return plan.weights[matrix]


def _tile_rows(network: Network, shape: tuple[int, ...], array: np.ndarray) -> np.ndarray:
    """Repeat a per-unit array (rows N_rec) over the gate blocks of a ``[G*N_rec, n]`` matrix."""
    if network.gates > 1 and shape[0] == network.gates * network.N_rec and array.shape[-2] == network.N_rec:
        return np.tile(array, (1,) * (array.ndim - 2) + (network.gates, 1))
    return array


def _unit_shape(network: Network, shape: tuple[int, ...]) -> tuple[int, int]:
    """Shape of one gate block of a matrix: ``[targets, sources]``."""
    if network.gates > 1 and shape[0] == network.gates * network.N_rec:
        return network.N_rec, shape[1]
    return shape[0], shape[1]


# --- the perturbations ---------------------------------------------------------------------------


@dataclass
class Silence:
    """Lesion: the units' activity (what the readout sees) reaches neither the other units nor
    the readout, for the whole trial: their columns of ``W_rec`` and ``W_out`` are zero. Their
    own states are still computed and recorded."""

    units: Units

    def apply(self, plan: Plan, network: Network) -> None:
        units = _units(network, self.units, "Silence")
        plan.weights["W_rec"][:, units] = 0.0
        plan.weights["W_out"][:, units] = 0.0


@dataclass
class Cut:
    """Multiply a weight matrix by a mask (0 cuts a connection).

    Args:
        matrix: a weight matrix of the model (``W_in``, ``W_rec``, ``W_out`` or one of its own).
        mask: the matrix's shape (``W_rec [N_rec, N_rec]``, rows = postsynaptic) for a static cut,
            or ``[N_steps, *shape]``: ``mask[t]`` applies at step ``t`` only. For a matrix with
            gate blocks (LSTM, GRU) a mask with ``N_rec`` rows applies to every block.
    """

    matrix: str
    mask: np.ndarray

    def apply(self, plan: Plan, network: Network) -> None:
        weight = _matrix(plan, network, self.matrix, "Cut")
        mask = _tile_rows(network, weight.shape, np.asarray(self.mask, dtype=np.float64))
        if mask.shape == weight.shape:
            plan.weights[self.matrix] = weight * mask
        elif mask.shape == (plan.n_steps, *weight.shape):
            plan.step_masks[self.matrix] = plan.step_masks.get(self.matrix, 1.0) * mask
        else:
            rows, cols = _unit_shape(network, weight.shape)
            raise SimulatorError(
                f"Cut {self.matrix}: mask shape {np.shape(self.mask)} fits neither {(rows, cols)} (static) nor "
                f"({plan.n_steps}, {rows}, {cols}) (one mask per step of this {plan.n_steps}-step trial)")


@dataclass
class Scale:
    """Multiply a weight matrix, or the block ``rows x cols`` of it, by ``factor``.

    Rows and columns are unit (or input/output channel) indices; None means all. For a matrix
    with gate blocks (LSTM, GRU) rows select units in every block.
    """

    matrix: str
    factor: float
    rows: Units | None = None
    cols: Units | None = None

    def apply(self, plan: Plan, network: Network) -> None:
        weight = _matrix(plan, network, self.matrix, "Scale")
        n_rows, n_cols = _unit_shape(network, weight.shape)
        rows = np.arange(n_rows) if self.rows is None else _units(network, self.rows, "Scale rows", n_rows)
        cols = np.arange(n_cols) if self.cols is None else _units(network, self.cols, "Scale cols", n_cols)
        block = np.ones((n_rows, n_cols))
        block[np.ix_(rows, cols)] = self.factor
        plan.weights[self.matrix] = weight * _tile_rows(network, weight.shape, block)


@dataclass
class InputNoise:
    """Add Gaussian noise of standard deviation ``std`` to every input channel at every step."""

    std: float

    def apply(self, plan: Plan, network: Network) -> None:
        plan.input_noise = math.hypot(plan.input_noise, float(self.std))


@dataclass
class RecurrentNoise:
    """Add recurrent noise ``sqrt(2 alpha) std xi[t]`` (as the model's rec_noise, independent of it)."""

    std: float

    def apply(self, plan: Plan, network: Network) -> None:
        plan.rec_noise = math.hypot(plan.rec_noise, float(self.std))


@dataclass
class Clamp:
    """Hold the units' first state component (basic: x; LSTM/GRU: h) at ``value`` during ``[start, end)`` ms."""

    units: Units
    value: float | np.ndarray
    start: float = 0.0
    end: float = math.inf

    def apply(self, plan: Plan, network: Network) -> None:
        units = _units(network, self.units, "Clamp")
        values = np.broadcast_to(np.asarray(self.value, dtype=np.float64), units.shape)
        plan.clamps.append((_window(network, self.start, self.end, plan.n_steps), units, values))


@dataclass
class Inject:
    """Add ``current`` to the units' input during ``[start, end)`` ms.

    The current enters like ``W_in u + b_rec`` on the block that receives noise: basic model
    ``x += alpha * current`` per step; LSTM/GRU: added to the candidate's pre-activation.
    """

    units: Units
    current: float | np.ndarray
    start: float = 0.0
    end: float = math.inf

    def apply(self, plan: Plan, network: Network) -> None:
        units = _units(network, self.units, "Inject")
        if plan.current is None:
            plan.current = np.zeros((plan.n_steps, network.N_rec))
        steps = _window(network, self.start, self.end, plan.n_steps)
        plan.current[np.ix_(steps, units)] += np.broadcast_to(np.asarray(self.current, dtype=np.float64), units.shape)


Perturbation = Silence | Cut | Scale | InputNoise | RecurrentNoise | Clamp | Inject


# --- the text language ---------------------------------------------------------------------------

LANGUAGE = """\
UNITS: indices and inclusive ranges such as 0-9,20; or all, exc, inh (Dale's principle),
region0, region1, ... (multi-region networks); cluster0, cluster1, ... (the unit clusters of
psychrnn analyse --task-variance). Input and output channels: indices or all.
MATRIX: W_in (sources are input channels), W_rec (default), W_out (targets are outputs), or
another weight matrix of the model.
WINDOW: @T0-T1 in ms selects the steps with T0 <= t*dt < T1; @T0- runs to the end of the trial."""


def parse_units(text: str, network: Network, size: int | None = None, what: str = "units") -> list[int]:
    """Indices from ``0-9,20`` or ``all``; for units (``size`` None) also ``exc``, ``inh``, ``region<k>`` and
    ``cluster<k>`` (from ``network.clusters``, ``[N_rec]`` cluster per unit, -1 for none, when set)."""
    units_side = size is None
    size = network.N_rec if size is None else size
    text = text.strip()
    if text == "all":
        return list(range(size))
    if units_side and text in ("exc", "inh"):
        if network.signs is None:
            raise SimulatorError(f"{what} {text!r}: the network has no Dale's principle, so no E/I units")
        return np.flatnonzero(network.signs > 0 if text == "exc" else network.signs < 0).tolist()
    if units_side and text.startswith("region"):
        if network.regions is None:
            raise SimulatorError(f"{what} {text!r}: the network has no regions")
        return _group_units(text, "region", network.regions, what)
    if units_side and text.startswith("cluster"):
        clusters = getattr(network, "clusters", None)
        if clusters is None:
            raise SimulatorError(f"{what} {text!r}: the run has no unit clusters; run psychrnn analyse RUN_DIR "
                                 "--task-variance first")
        return _group_units(text, "cluster", clusters, what)
    units: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            names = "all, exc, inh, region0" if units_side else "all"
            raise SimulatorError(f"{what} {text!r}: use indices and ranges like 0-9,20, or {names}")
        first, last = int(m[1]), int(m[2] or m[1])
        if last < first or last >= size:
            raise SimulatorError(f"{what} {text!r}: indices must lie in 0..{size - 1} (ranges low-high)")
        units.extend(range(first, last + 1))
    return units


def _group_units(text: str, prefix: str, groups: np.ndarray, what: str) -> list[int]:
    """The units of group ``<prefix><k>`` (``cluster1``), from ``groups [N_rec]`` (each unit's group,
    -1 for none); SimulatorError naming the groups there are for another ``text``."""
    k = text[len(prefix):]
    if not k.isdigit() or int(k) > groups.max():
        single = "" if k.isdigit() else f"; name one {prefix} (lists take unit indices only)"
        raise SimulatorError(f"{what} {text!r}: {prefix}s are {prefix}0..{prefix}{groups.max()}{single}")
    return np.flatnonzero(groups == int(k)).tolist()


def _split_window(text: str) -> tuple[str, float, float]:
    body, at, window = text.partition("@")
    if not at:
        return body, 0.0, math.inf
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)?\s*", window)
    if not m:
        raise SimulatorError(f"window @{window}: write @T0-T1 in ms, e.g. @500-800, or @500- for the rest of "
                             "the trial")
    start, end = float(m[1]), float(m[2]) if m[2] else math.inf
    if end <= start:
        raise SimulatorError(f"window @{window} holds no time: T1 must exceed T0 (@T0-T1 is T0 <= t*dt < T1, in ms)")
    return body, start, end


def _split_matrix(text: str, network: Network, what: str) -> tuple[str, str]:
    name, colon, rest = text.partition(":")
    if not colon or not name.startswith("W_"):
        return "W_rec", text
    matrices = sorted(k for k, v in network.weights.items() if np.ndim(v) == 2)
    if name not in matrices:
        raise SimulatorError(f"{what} {text!r}: model={network.kind} has no matrix {name!r}; choose "
                             f"{', '.join(matrices)}")
    return name, rest


def _endpoints(text: str, network: Network, matrix: str, what: str) -> tuple[list[int], list[int]]:
    """(targets, sources): the rows and columns of ``matrix``, which is always ``[targets, sources]``."""
    src, arrow, dst = text.partition(">")
    if not arrow:
        raise SimulatorError(f"{what} {text!r}: write SRC>DST, e.g. 0-9>10-19 or exc>inh")
    rows, cols = _unit_shape(network, network.weights[matrix].shape)
    return (parse_units(dst, network, None if rows == network.N_rec else rows, f"{what} target"),
            parse_units(src, network, None if cols == network.N_rec else cols, f"{what} source"))


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SimulatorError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SimulatorError(f"{what}: {text!r} is not a finite number")
    return value


def parse(flag: str, text: str, network: Network, n_steps: int) -> Perturbation:
    """The perturbation ``--FLAG TEXT`` of ``psychrnn simulate`` describes, for ``n_steps`` steps.

    Flags: ``lesion UNITS``, ``cut [MATRIX:]SRC>DST[@WINDOW]``, ``scale [MATRIX:][SRC>DST=]FACTOR``,
    ``clamp UNITS=VALUE[@WINDOW]``, ``inject UNITS=CURRENT[@WINDOW]``, ``input-noise STD``,
    ``rec-noise STD`` (see :data:`LANGUAGE`). Raises SimulatorError naming the flag and the text.
    """
    if flag == "lesion":
        return Silence(parse_units(text, network, what="--lesion"))
    if flag in ("input-noise", "rec-noise"):
        std = _number(text, f"--{flag}")
        if not std >= 0:
            raise SimulatorError(f"--{flag} {text}: the standard deviation must be >= 0")
        return (InputNoise if flag == "input-noise" else RecurrentNoise)(std)
    if flag == "cut":
        matrix, body = _split_matrix(text, network, "--cut")
        body, start, end = _split_window(body)
        rows, cols = _endpoints(body, network, matrix, "--cut")
        mask = np.ones(_unit_shape(network, network.weights[matrix].shape))
        mask[np.ix_(rows, cols)] = 0.0
        if (start, end) != (0.0, math.inf):
            mask = np.where(_window(network, start, end, n_steps)[:, None, None], mask[None], 1.0)
        return Cut(matrix, mask)
    if flag == "scale":
        matrix, body = _split_matrix(text, network, "--scale")
        block, eq, factor = body.rpartition("=")
        rows, cols = _endpoints(block, network, matrix, "--scale") if eq else (None, None)
        return Scale(matrix, _number(factor, "--scale factor"), rows, cols)
    if flag in ("clamp", "inject"):
        body, start, end = _split_window(text)
        units, eq, value = body.partition("=")
        if not eq:
            raise SimulatorError(f"--{flag} {text!r}: write UNITS=VALUE[@T0-T1], e.g. 0-4=0.5@500-800")
        cls = Clamp if flag == "clamp" else Inject
        return cls(parse_units(units, network, what=f"--{flag}"), _number(value, f"--{flag}"), start, end)
    raise SimulatorError(f"unknown perturbation --{flag}: use lesion, cut, scale, clamp, inject, input-noise or "
                         "rec-noise")
