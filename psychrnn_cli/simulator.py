"""The NumPy engine: runs a trained network of any model kind, with perturbations. Never imports TensorFlow.

Runs any model kind (:mod:`psychrnn_cli.models`: the built-ins and your own) with the same step
code the TensorFlow trainer runs, from a run file or a PsychRNN ``.npz``, on any batch size and
trial length::

    from psychrnn_cli.simulator import load_network, simulate
    from psychrnn_cli.perturbations import Silence, Clamp
    net = load_network("outputs/2026-01-01/12-00-00")            # or run.h5, or weights.npz
    result = simulate(net, inputs, perturbations=[Silence([0, 1, 2]), Clamp([5], 0.0, 500, 800)])
    result.outputs, result.states                               # [B, N_steps, N_out], [B, N_steps, N_rec]

Time convention: step ``t`` (0-based) reads the input ``inputs[:, t]`` (task time ``t * dt`` ms)
and produces ``states[:, t]`` and ``outputs[:, t]``; a time window ``[start, end)`` in ms
selects the steps with ``start <= t * dt < end``. Computation is in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from psychrnn_cli.interop import PsychRNNWeights, psychrnn_effective, read_psychrnn
from psychrnn_cli.masks import Constraints, effective_weights
from psychrnn_cli.models import BUILTIN, Model, ModelError, make_model, model_class
from psychrnn_cli.runfile import check_model_arrays, load_run

ArrayFunction = Callable[[np.ndarray], np.ndarray]


class SimulatorError(ValueError):
    """The simulator cannot run this network or perturbation; the message says why and what to do."""


# --- transfer functions ----------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _selu(x: np.ndarray) -> np.ndarray:
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))


TRANSFER_FUNCTIONS: dict[str, ArrayFunction] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "linear": lambda x: x,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),  # TensorFlow's alpha 0.2
    "silu": lambda x: x * _sigmoid(x),
    "selu": _selu,
}
ALIASES = {"identity": "linear", "swish": "silu"}


def transfer_function(name: str) -> ArrayFunction:
    """NumPy version of a transfer function named as in the config.

    Accepts the short names (relu, tanh, sigmoid, softplus, linear) and TensorFlow names of the
    same functions such as ``tf.nn.elu`` or ``tf.math.tanh``.
    """
    short = name.rpartition(".")[2] if name.startswith("tf.") or name.startswith("tensorflow.") else name
    short = ALIASES.get(short, short)
    if short not in TRANSFER_FUNCTIONS:
        raise SimulatorError(
            f"transfer function {name!r} has no NumPy version in the simulator; it knows "
            f"{', '.join(sorted(TRANSFER_FUNCTIONS))} (and their tf.nn / tf.math names)"
        )
    return TRANSFER_FUNCTIONS[short]


class NumpyOps:
    """The operations namespace of a model (see :mod:`psychrnn_cli.models`), float64 NumPy arrays."""

    matmul = staticmethod(np.matmul)
    sigmoid = staticmethod(_sigmoid)
    tanh = staticmethod(np.tanh)
    exp = staticmethod(np.exp)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    zeros_like = staticmethod(np.zeros_like)
    ones_like = staticmethod(np.ones_like)

    def __init__(self, transfer: str) -> None:
        self.f = transfer_function(transfer)

    @staticmethod
    def transpose(matrix: np.ndarray) -> np.ndarray:
        return matrix.T

    @staticmethod
    def nonzero(x: np.ndarray) -> np.ndarray:
        return (x != 0).astype(x.dtype)

    @staticmethod
    def spike(x: np.ndarray, slope: float) -> np.ndarray:
        """Heaviside ``x > 0`` as 1.0 or 0.0 (``slope`` shapes only the trainer's surrogate derivative)."""
        return (x > 0).astype(x.dtype)

    @staticmethod
    def concat(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays, axis=-1)

    @staticmethod
    def split(x: np.ndarray, n: int) -> list[np.ndarray]:
        return np.split(x, n, axis=-1)


# --- the network -------------------------------------------------------------------------------


class Network:
    """A trained network as the simulator runs it.

    Args:
        model: the model kind with its settings, or a built-in kind's name (``basic``, ``lstm``,
            ``gru``) or a model class's import path, built with ``alpha``, ``rec_noise``,
            ``transfer_function`` and ``options``.
        weights: effective parameters (masks and Dale applied): ``W_in [G*N_rec, N_in]``,
            ``W_rec [G*N_rec, N_rec]``, ``W_out [N_out, N_rec]``, ``b_rec [G*N_rec]``, ``b_out [N_out]``,
            ``init_state [N_rec]`` and the model's extra parameters; stored as float64.
        dt: simulation step (ms), used to turn perturbation windows in ms into steps.
        signs: Dale signs ``[N_rec]`` (+1 excitatory, -1 inhibitory), or None without Dale.
        regions: region index of each unit ``[N_rec]``, or None.
    """

    def __init__(self, model: Model | str, weights: dict[str, np.ndarray], alpha: float | None = None, *,
                 dt: float = 10.0, rec_noise: float = 0.0, transfer_function: str = "relu",
                 signs: np.ndarray | None = None, regions: np.ndarray | None = None, **options: Any) -> None:
        self.weights = {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
        if isinstance(model, str):
            node = {"_target_": model, "N_rec": self.weights["W_rec"].shape[1], "rec_noise": rec_noise,
                    "transfer_function": transfer_function, **options}
            try:
                model = make_model(node, alpha, dt)
            except ModelError as err:
                raise SimulatorError(str(err)) from None
        self.model = model
        self.ops = NumpyOps(model.transfer_function)  # fails early on an unknown transfer function
        try:
            model.check(self.weights)
        except ModelError as err:
            raise SimulatorError(str(err)) from None
        self.dt = float(dt)
        self.signs = signs
        self.regions = regions

    kind = property(lambda self: self.model.kind)
    gates = property(lambda self: self.model.gates)
    alpha = property(lambda self: self.model.alpha)
    rec_noise = property(lambda self: self.model.rec_noise)
    transfer_function = property(lambda self: self.model.transfer_function)
    N_rec = property(lambda self: self.model.N_rec)
    N_in = property(lambda self: self.weights["W_in"].shape[1])
    N_out = property(lambda self: self.weights["W_out"].shape[0])

    @classmethod
    def from_weights(cls, model: Model | str, weights: dict[str, np.ndarray], constraints: Constraints,
                     alpha: float | None = None, **kwargs: Any) -> "Network":
        """A network from raw (trainable) parameters and constraints, as the trainer holds them.

        The effective weights come from :func:`psychrnn_cli.masks.effective_weights`, as in training.
        """
        try:
            if isinstance(model, Model):
                model.check(weights)
            gates = model.gates if isinstance(model, Model) else model_class(model).gates
            eff = effective_weights({k: np.asarray(v) for k, v in weights.items()}, constraints, gates=gates)
        except ModelError as err:
            raise SimulatorError(str(err)) from None
        except ValueError as err:  # (masks whose shapes do not fit the weights)
            raise SimulatorError(f"the connectivity masks do not fit the weights: {err}") from None
        return cls(model, eff, alpha, signs=constraints.signs, **kwargs)


def network_from_run(run: dict[str, Any], source: str = "run file") -> Network:
    """The network stored in a loaded run file (see :func:`psychrnn_cli.runfile.load_run`).

    Raises:
        SimulatorError: no trained network in the file, or a model the simulator cannot run.
        RunFileError: a damaged ``/model`` (see :func:`psychrnn_cli.runfile.check_model_arrays`).
    """
    model = run.get("model", {})
    if "weights" not in model or "constraints" not in model:
        status = run.get("attrs", {}).get("status", "unknown")
        raise SimulatorError(f"{source} holds no trained network (/model/weights missing; run status: {status})")
    attrs = model.get("attrs", {})
    config = run.get("config") or {}
    node = dict(config.get("model") or {})
    node.setdefault("_target_", attrs.get("model_class", BUILTIN.get(str(attrs.get("kind", "basic")), "")))
    if "forget_bias" in attrs:  # run files of the LSTM record it
        node.setdefault("forget_bias", float(attrs["forget_bias"]))
    check_model_arrays(model, source)
    node.update(N_rec=int(attrs["N_rec"]), rec_noise=float(attrs.get("rec_noise", 0.0)),
                transfer_function=str(attrs.get("transfer_function", "relu")))
    try:
        definition = make_model(node, float(attrs["alpha"]), float(attrs.get("dt", 10.0)))
    except ModelError as err:
        raise SimulatorError(f"{source}: {err}") from None
    arrays = model["constraints"]
    constraints = Constraints(arrays["input_connectivity"], arrays["rec_connectivity"], arrays["output_connectivity"],
                              attrs.get("dale_ratio"))
    regions = (config.get("constraints") or {}).get("regions")
    labels = np.repeat(np.arange(len(regions["sizes"])), regions["sizes"]) if regions else None
    return Network.from_weights(definition, model["weights"], constraints, dt=float(attrs.get("dt", 10.0)),
                                regions=labels)


def load_network(path: str | Path, **npz_options: Any) -> Network:
    """The network of a run directory, a run file, or a PsychRNN ``.npz`` weight file.

    ``npz_options`` (``dt``, ``tau``, ``transfer_function``, ``rec_noise``) describe a PsychRNN
    file's network, which the file itself does not record; see
    :func:`network_from_psychrnn`.
    """
    if Path(path).suffix == ".npz":
        return network_from_psychrnn(read_psychrnn(path), **npz_options)
    return network_from_run(load_run(path), source=str(path))


def network_from_psychrnn(weights: PsychRNNWeights, dt: float = 10.0, tau: float = 100.0,
                          transfer_function: str = "relu", rec_noise: float = 0.0) -> Network:
    """A simulator network from PsychRNN weights.

    The file does not record dt, tau, the transfer function or the noise; the defaults are
    PsychRNN's usual ones (dt 10 ms, tau 100 ms, relu, no noise).
    """
    signs = None
    if weights.dale_ratio and "Dale_rec" in weights.arrays:
        signs = np.diag(weights.arrays["Dale_rec"]).astype(np.float64)
    return Network("basic", psychrnn_effective(weights), alpha=dt / tau, dt=dt, rec_noise=rec_noise,
                   transfer_function=transfer_function, signs=signs)


# --- the simulation --------------------------------------------------------------------------


@dataclass
class Plan:
    """What perturbations change in one simulation of ``n_steps`` steps; each perturbation's
    ``apply(plan, network)`` edits it (see :mod:`psychrnn_cli.perturbations`).

    Attributes:
        n_steps: steps of this simulation.
        weights: the network's effective weights, copied (perturbations change the copy).
        step_masks: matrix name -> ``[n_steps, *shape]`` factors applied at each step.
        input_noise: std of Gaussian noise on every input channel.
        rec_noise: std of extra recurrent noise, on top of the model's.
        clamps: ``(steps [n_steps] bool, units, values)``: hold the first state component.
        current: ``[n_steps, N_rec]`` current added to the drive's ``noise_gate`` block (times the
            model's drive gain), or None.
    """

    n_steps: int
    weights: dict[str, np.ndarray]
    step_masks: dict[str, np.ndarray] = field(default_factory=dict)
    input_noise: float = 0.0
    rec_noise: float = 0.0
    clamps: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    current: np.ndarray | None = None


@dataclass
class Simulation:
    """Result of :func:`simulate`.

    Attributes:
        outputs: ``[B, N_steps, N_out]``, z after each step.
        states: ``[B, N_steps, N_rec]``, the first state component (basic: pre-activations x; LSTM/GRU: h).
        rates: ``[B, N_steps, N_rec]``, what the readout sees (basic: f(x); LSTM/GRU: h).
        full_states: ``[B, N_steps, C*N_rec]``, all C state components of ``[B, N_rec]`` side by
            side (the LSTM's ``(h, c)``; for one-component models the same as ``states``); components
            of other shapes (a plastic network's Hebbian matrix) are left out.
        recorded: the model's extra recorded components (:attr:`~psychrnn_cli.models.Model.recorded`,
            e.g. ``spikes``), each ``[B, N_steps, N_rec]``.
        final_state: the model's state tuple after the last step (to go on from it: ``state``).
    """

    outputs: np.ndarray
    states: np.ndarray
    rates: np.ndarray
    full_states: np.ndarray
    recorded: dict[str, np.ndarray] = field(default_factory=dict)
    final_state: tuple = ()


def simulate(network: Network, inputs: np.ndarray, *, noise: bool | np.ndarray = False, seed: int | None = None,
             perturbations: Sequence[Any] = (), state: tuple | None = None) -> Simulation:
    """Run ``network`` on a batch of inputs.

    Args:
        network: see :func:`load_network`.
        inputs: ``[B, N_steps, N_in]`` (any B >= 1 and any N_steps).
        noise: True adds the model's recurrent noise ``sqrt(2 alpha) rec_noise xi[t]`` with
            ``xi`` drawn from ``seed``; an array ``[B, N_steps, N_rec]`` gives ``xi`` itself;
            False (default) turns it off.
        seed: seeds every random draw (model noise, InputNoise, RecurrentNoise).
        perturbations: any number of the classes of :mod:`psychrnn_cli.perturbations`; they
            compose (weight changes multiply in order).
        state: the state to start from (a :attr:`Simulation.final_state`); None: the initial state.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 3 or inputs.shape[2] != network.N_in:
        raise SimulatorError(f"inputs must have shape [trials, steps, {network.N_in}], got {inputs.shape}")
    B, n_steps, _ = inputs.shape
    N = network.N_rec
    plan = Plan(n_steps, {name: value.copy() for name, value in network.weights.items()})
    for p in perturbations:
        if not callable(getattr(p, "apply", None)):
            raise SimulatorError(f"unknown perturbation {p!r}: use a class of psychrnn_cli.perturbations")
        p.apply(plan, network)
    if isinstance(noise, np.ndarray) and noise.shape != (B, n_steps, N):
        raise SimulatorError(f"noise array must have shape {(B, n_steps, N)}, got {noise.shape}")
    rng = np.random.default_rng(seed)
    model, ops = network.model, network.ops
    model_noise = (noise is not False) and model.rec_noise > 0
    gain = model.drive_gain()
    block = slice(model.noise_gate * N, (model.noise_gate + 1) * N)
    w = model.prepare(ops, plan.weights)
    if state is None:
        state = model.initial_state(ops, w, np.broadcast_to(w["init_state"], (B, N)).copy())
    vectors = [i for i, component in enumerate(state) if np.shape(component) == (B, N)]
    full = np.empty((B, n_steps, len(vectors) * N))
    recorded = {name: np.empty((B, n_steps, N)) for name in model.recorded}
    outputs = np.empty((B, n_steps, network.N_out))
    for t in range(n_steps):
        if plan.step_masks:
            w = model.prepare(ops, {k: v * plan.step_masks[k][t] if k in plan.step_masks else v
                                    for k, v in plan.weights.items()})
        u = inputs[:, t]
        if plan.input_noise:
            u = u + plan.input_noise * rng.standard_normal(u.shape)
        drive = gain * (u @ w["W_in"].T + w["b_rec"])
        if model_noise:
            xi = noise[:, t] if isinstance(noise, np.ndarray) else rng.standard_normal((B, N))
            drive[:, block] += model.noise_scale() * xi
        if plan.rec_noise:
            drive[:, block] += math.sqrt(2 * model.alpha) * plan.rec_noise * rng.standard_normal((B, N))
        if plan.current is not None:
            drive[:, block] += gain * plan.current[t]
        state = model.step(ops, w, state, drive)
        for steps, units, values in plan.clamps:
            if steps[t]:
                first = np.array(state[0])
                first[:, units] = values
                state = (first, *state[1:])
        full[:, t] = np.concatenate([state[i] for i in vectors], axis=-1)
        for name, (i, _) in model.recorded.items():
            recorded[name][:, t] = state[i]
        outputs[:, t] = model.rates(ops, state[0]) @ w["W_out"].T + w["b_out"]
    states = full[..., :N]
    return Simulation(outputs, states, model.rates(ops, states), full, recorded, state)
