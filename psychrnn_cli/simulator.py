"""NumPy forward model of trained networks, with perturbations. Never imports TensorFlow.

Runs the basic, LSTM and GRU models exactly as :mod:`psychrnn_cli.network` defines them (SPEC
section 2), from a run file or a PsychRNN ``.npz``, on any batch size and trial length::

    from psychrnn_cli.simulator import load_network, simulate, Silence, Clamp
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

from psychrnn_cli.masks import Constraints, effective_weights

ArrayFunction = Callable[[np.ndarray], np.ndarray]
GATES = {"basic": 1, "lstm": 4, "gru": 3}
MODEL_CLASSES = {
    "psychrnn_cli.network.basic.BasicRNN": "basic",
    "psychrnn_cli.network.gated.LSTM": "lstm",
    "psychrnn_cli.network.gated.GRU": "gru",
}
NOISE_GATE = 2  # LSTM and GRU: recurrent noise and injected current enter the candidate block


class SimulatorError(ValueError):
    """The simulator cannot run this network or perturbation; the message says why and what to do."""


# --- transfer functions ----------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _selu(x: np.ndarray) -> np.ndarray:
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))


# name -> (f, f'): the derivative is used by the fixed-point finder (Jacobians).
TRANSFER_FUNCTIONS: dict[str, tuple[ArrayFunction, ArrayFunction]] = {
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(x.dtype)),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
    "softplus": (lambda x: np.logaddexp(0.0, x), _sigmoid),
    "linear": (lambda x: x, np.ones_like),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
    "relu6": (lambda x: np.clip(x, 0.0, 6.0), lambda x: ((x > 0) & (x < 6)).astype(x.dtype)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2)),  # TF's alpha 0.2
    "silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x)))),
    "selu": (_selu, lambda x: 1.0507009873554805 * np.where(x > 0, 1.0, 1.6732632423543772 * np.exp(np.minimum(x, 0)))),
}
ALIASES = {"identity": "linear", "swish": "silu"}


def transfer_function(name: str) -> tuple[ArrayFunction, ArrayFunction]:
    """NumPy version ``(f, f')`` of a transfer function named as in the config.

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


# --- the network -------------------------------------------------------------------------------


@dataclass
class Network:
    """A trained network as the simulator runs it.

    Attributes:
        kind: ``basic``, ``lstm`` or ``gru``.
        weights: effective parameters (masks and Dale applied), float64: ``W_in [G*N_rec, N_in]``,
            ``W_rec [G*N_rec, N_rec]``, ``W_out [N_out, N_rec]``, ``b_rec [G*N_rec]``, ``b_out [N_out]``,
            ``init_state [N_rec]``, with G gate blocks (LSTM: i, f, g, o; GRU: update, reset, candidate).
        alpha: dt / tau.
        dt: simulation step (ms), used to turn perturbation windows in ms into steps.
        rec_noise: recurrent noise scale of the model.
        transfer_function: name of the unit nonlinearity.
        forget_bias: LSTM only, added to the forget gate's pre-activation.
        signs: Dale signs ``[N_rec]`` (+1 excitatory, -1 inhibitory), or None without Dale.
        regions: region index of each unit ``[N_rec]``, or None.
    """

    kind: str
    weights: dict[str, np.ndarray]
    alpha: float
    dt: float = 10.0
    rec_noise: float = 0.0
    transfer_function: str = "relu"
    forget_bias: float = 1.0
    signs: np.ndarray | None = None
    regions: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in GATES:
            raise SimulatorError(f"model kind {self.kind!r}: the simulator runs {', '.join(GATES)}")
        self.weights = {name: np.asarray(value, dtype=np.float64) for name, value in self.weights.items()}
        transfer_function(self.transfer_function)  # fail early on an unknown name

    @property
    def gates(self) -> int:
        return GATES[self.kind]

    @property
    def N_rec(self) -> int:
        return self.weights["W_rec"].shape[1]

    @property
    def N_in(self) -> int:
        return self.weights["W_in"].shape[1]

    @property
    def N_out(self) -> int:
        return self.weights["W_out"].shape[0]

    @classmethod
    def from_weights(cls, kind: str, weights: dict[str, np.ndarray], constraints: Constraints, alpha: float,
                     **kwargs: Any) -> "Network":
        """A network from raw (trainable) parameters and constraints, as a model object holds them.

        The effective weights come from :func:`psychrnn_cli.masks.effective_weights`, as in training.
        """
        signs = constraints.signs
        eff = effective_weights({k: np.asarray(v) for k, v in weights.items()}, constraints, gates=GATES[kind])
        return cls(kind, eff, alpha, signs=signs, **kwargs)


def check_model_arrays(model: dict[str, Any], source: str = "run file") -> None:
    """Raise RunFileError naming the first array of a loaded ``/model`` that is missing, not numeric,
    or of a shape that does not fit the sizes in ``/model``'s attributes (a damaged run file).

    Expected shapes, with G gate blocks (basic 1, GRU 3, LSTM 4): ``weights/W_in [G*N_rec, N_in]``,
    ``weights/W_rec [G*N_rec, N_rec]``, ``weights/W_out [N_out, N_rec]``, ``weights/b_rec [G*N_rec]``,
    ``weights/b_out [N_out]``, ``weights/init_state [N_rec]``, and the three connectivity masks
    ``[N_rec, N_in]``, ``[N_rec, N_rec]``, ``[N_out, N_rec]``.
    """
    from psychrnn_cli.runfile import RunFileError

    attrs = model.get("attrs", {})
    try:
        N_in, N_rec, N_out = (int(attrs[key]) for key in ("N_in", "N_rec", "N_out"))
        float(attrs["alpha"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunFileError(f"{source}: /model has no valid attributes N_in, N_rec, N_out and alpha ({err!r}): "
                           "a damaged run file") from None
    G = GATES.get(str(attrs.get("kind")), 1)
    expected = {
        "weights/W_in": (G * N_rec, N_in), "weights/W_rec": (G * N_rec, N_rec), "weights/W_out": (N_out, N_rec),
        "weights/b_rec": (G * N_rec,), "weights/b_out": (N_out,), "weights/init_state": (N_rec,),
        "constraints/input_connectivity": (N_rec, N_in), "constraints/rec_connectivity": (N_rec, N_rec),
        "constraints/output_connectivity": (N_out, N_rec),
    }
    for path, shape in expected.items():
        group, name = path.split("/")
        array = model[group].get(name) if isinstance(model.get(group), dict) else None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise RunFileError(f"{source}: /model/{path} is missing or not a numeric array: a damaged run file")
        if array.shape != shape:
            raise RunFileError(f"{source}: /model/{path} has shape {array.shape}, expected {shape} (from /model's "
                               f"N_in={N_in}, N_rec={N_rec}, N_out={N_out}): a damaged run file")


def network_from_run(run: dict[str, Any], source: str = "run file") -> Network:
    """The network stored in a loaded run file (see :func:`psychrnn_cli.runfile.load_run`).

    Raises:
        SimulatorError: no trained network in the file, or a model the simulator cannot run.
        RunFileError: a damaged ``/model`` (see :func:`check_model_arrays`).
    """
    model = run.get("model", {})
    if "weights" not in model or "constraints" not in model:
        status = run.get("attrs", {}).get("status", "unknown")
        raise SimulatorError(f"{source} holds no trained network (/model/weights missing; run status: {status})")
    attrs = model.get("attrs", {})
    model_cfg = (run.get("config") or {}).get("model", {})
    target = model_cfg.get("_target_")
    if target is not None and target not in MODEL_CLASSES:
        raise SimulatorError(
            f"{source}: model {target} is a custom class; the NumPy simulator runs only the built-in models "
            f"({', '.join(MODEL_CLASSES)})"
        )
    check_model_arrays(model, source)
    arrays = model["constraints"]
    constraints = Constraints(arrays["input_connectivity"], arrays["rec_connectivity"], arrays["output_connectivity"],
                              attrs.get("dale_ratio"))
    regions = ((run.get("config") or {}).get("constraints") or {}).get("regions")
    labels = np.repeat(np.arange(len(regions["sizes"])), regions["sizes"]) if regions else None
    return Network.from_weights(
        str(attrs.get("kind", "basic")), model["weights"], constraints, float(attrs["alpha"]),
        dt=float(attrs.get("dt", 10.0)), rec_noise=float(attrs.get("rec_noise", 0.0)),
        transfer_function=str(attrs.get("transfer_function", "relu")),
        forget_bias=float(attrs.get("forget_bias", model_cfg.get("forget_bias", 1.0))), regions=labels,
    )


def load_network(path: str | Path, **npz_options: Any) -> Network:
    """The network of a run directory, a run file, or a PsychRNN ``.npz`` weight file.

    ``npz_options`` (``dt``, ``tau``, ``transfer_function``, ``rec_noise``) describe a PsychRNN
    file's network, which the file itself does not record; see
    :func:`psychrnn_cli.interop.network_from_psychrnn`.
    """
    from psychrnn_cli.runfile import load_run

    if Path(path).suffix == ".npz":
        from psychrnn_cli.interop import network_from_psychrnn, read_psychrnn

        return network_from_psychrnn(read_psychrnn(path), **npz_options)
    return network_from_run(load_run(path), source=str(path))


# --- perturbations ---------------------------------------------------------------------------

Units = Sequence[int] | np.ndarray


@dataclass
class Silence:
    """Lesion: the units' activity (basic: rates f(x); LSTM/GRU: h) reaches neither the other
    units nor the readout, for the whole trial. Their own states are still computed and recorded."""

    units: Units


@dataclass
class Cut:
    """Multiply a weight matrix by a mask (0 cuts a connection).

    Args:
        matrix: ``W_in``, ``W_rec`` or ``W_out``.
        mask: the matrix's shape (``W_rec [N_rec, N_rec]``, rows = postsynaptic) for a static cut,
            or ``[N_steps, *shape]``: ``mask[t]`` applies at step ``t`` only. For LSTM/GRU a mask
            with ``N_rec`` rows applies to every gate's block.
    """

    matrix: str
    mask: np.ndarray


@dataclass
class Scale:
    """Multiply a weight matrix, or the block ``rows x cols`` of it, by ``factor``.

    Rows and columns are unit (or input/output channel) indices; None means all. For LSTM/GRU
    rows select units in every gate's block.
    """

    matrix: str
    factor: float
    rows: Units | None = None
    cols: Units | None = None


@dataclass
class InputNoise:
    """Add Gaussian noise of standard deviation ``std`` to every input channel at every step."""

    std: float


@dataclass
class RecurrentNoise:
    """Add recurrent noise ``sqrt(2 alpha) std xi[t]`` (as the model's rec_noise, independent of it)."""

    std: float


@dataclass
class Clamp:
    """Hold the units' state (basic: x; LSTM/GRU: h) at ``value`` during ``[start, end)`` ms."""

    units: Units
    value: float | np.ndarray
    start: float = 0.0
    end: float = math.inf


@dataclass
class Inject:
    """Add ``current`` to the units' input during ``[start, end)`` ms.

    Basic model: the current enters like ``W_in u + b_rec``, i.e. ``x += alpha * current`` per
    step; LSTM/GRU: it is added to the candidate's pre-activation.
    """

    units: Units
    current: float | np.ndarray
    start: float = 0.0
    end: float = math.inf


Perturbation = Silence | Cut | Scale | InputNoise | RecurrentNoise | Clamp | Inject
MATRICES = ("W_in", "W_rec", "W_out")


@dataclass
class _Plan:
    """Perturbations compiled for one simulation of ``n_steps`` steps."""

    weights: dict[str, np.ndarray]
    step_masks: dict[str, np.ndarray] = field(default_factory=dict)  # matrix -> [n_steps, *shape]
    input_noise: float = 0.0
    rec_noise: float = 0.0  # extra std, on top of the model's
    clamps: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # (steps, units, values)
    current: np.ndarray | None = None  # [n_steps, N_rec]


def _units(network: Network, units: Units, what: str, size: int | None = None) -> np.ndarray:
    size = network.N_rec if size is None else size
    idx = np.asarray(units, dtype=int).reshape(-1)
    if idx.size and (idx.min() < -size or idx.max() >= size):
        raise SimulatorError(f"{what}: indices {idx.tolist()} out of range for {size} (0..{size - 1})")
    return idx


def _window(network: Network, start: float, end: float, n_steps: int) -> np.ndarray:
    time = np.arange(n_steps) * network.dt
    return (time >= start) & (time < end)


def _tile_rows(network: Network, matrix: str, array: np.ndarray) -> np.ndarray:
    """Repeat a per-unit mask over the gate blocks of ``W_in`` / ``W_rec``."""
    if matrix != "W_out" and array.shape[-2] == network.N_rec and network.gates > 1:
        reps = (1,) * (array.ndim - 2) + (network.gates, 1)
        return np.tile(array, reps)
    return array


def _scale_block(network: Network, p: Scale, shape: tuple[int, ...]) -> np.ndarray:
    """Factors ``shape``: ``p.factor`` on the selected rows x cols (in every gate block), 1 elsewhere."""
    n_rows = shape[0] if p.matrix == "W_out" else shape[0] // network.gates
    rows = np.arange(n_rows) if p.rows is None else _units(network, p.rows, "Scale rows", n_rows)
    cols = np.arange(shape[1]) if p.cols is None else _units(network, p.cols, "Scale cols", shape[1])
    block = np.ones((n_rows, shape[1]))
    block[np.ix_(rows, cols)] = p.factor
    return _tile_rows(network, p.matrix, block)


def _compile(network: Network, perturbations: Sequence[Perturbation], n_steps: int) -> _Plan:
    plan = _Plan({name: value.copy() for name, value in network.weights.items()})
    w = plan.weights
    for p in perturbations:
        if isinstance(p, Silence):
            units = _units(network, p.units, "Silence")
            w["W_rec"][:, units] = 0.0
            w["W_out"][:, units] = 0.0
        elif isinstance(p, (Cut, Scale)):
            if p.matrix not in MATRICES:
                raise SimulatorError(f"{type(p).__name__}: matrix must be one of {', '.join(MATRICES)}, "
                                     f"got {p.matrix!r}")
            shape = w[p.matrix].shape
            if isinstance(p, Scale):
                w[p.matrix] = w[p.matrix] * _scale_block(network, p, shape)
                continue
            mask = _tile_rows(network, p.matrix, np.asarray(p.mask, dtype=np.float64))
            if mask.shape == shape:
                w[p.matrix] = w[p.matrix] * mask
            elif mask.shape == (n_steps, *shape):
                previous = plan.step_masks.get(p.matrix, 1.0)
                plan.step_masks[p.matrix] = previous * mask
            else:
                unit_shape = (shape[0] // network.gates, shape[1]) if p.matrix != "W_out" else shape
                raise SimulatorError(
                    f"Cut {p.matrix}: mask shape {np.shape(p.mask)} fits neither {unit_shape} (static) nor "
                    f"({n_steps}, {unit_shape[0]}, {unit_shape[1]}) (one mask per step of this {n_steps}-step trial)"
                )
        elif isinstance(p, InputNoise):
            plan.input_noise = math.hypot(plan.input_noise, float(p.std))
        elif isinstance(p, RecurrentNoise):
            plan.rec_noise = math.hypot(plan.rec_noise, float(p.std))
        elif isinstance(p, Clamp):
            units = _units(network, p.units, "Clamp")
            values = np.broadcast_to(np.asarray(p.value, dtype=np.float64), units.shape)
            plan.clamps.append((_window(network, p.start, p.end, n_steps), units, values))
        elif isinstance(p, Inject):
            units = _units(network, p.units, "Inject")
            if plan.current is None:
                plan.current = np.zeros((n_steps, network.N_rec))
            steps = _window(network, p.start, p.end, n_steps)
            plan.current[np.ix_(steps, units)] += np.broadcast_to(np.asarray(p.current, dtype=np.float64), units.shape)
        else:
            raise SimulatorError(f"unknown perturbation {p!r}: use Silence, Cut, Scale, InputNoise, RecurrentNoise, "
                                 "Clamp or Inject from psychrnn_cli.simulator")
    return plan


# --- the simulation --------------------------------------------------------------------------


@dataclass
class Simulation:
    """Result of :func:`simulate`.

    Attributes:
        outputs: ``[B, N_steps, N_out]``, z after each step.
        states: ``[B, N_steps, N_rec]``, basic: pre-activations x; LSTM/GRU: h.
        rates: ``[B, N_steps, N_rec]``, what the readout sees (basic: f(x); LSTM/GRU: h).
    """

    outputs: np.ndarray
    states: np.ndarray
    rates: np.ndarray


def simulate(network: Network, inputs: np.ndarray, *, noise: bool | np.ndarray = False, seed: int | None = None,
             perturbations: Sequence[Perturbation] = ()) -> Simulation:
    """Run ``network`` on a batch of inputs.

    Args:
        network: see :func:`load_network`.
        inputs: ``[B, N_steps, N_in]`` (any B >= 1 and any N_steps).
        noise: True adds the model's recurrent noise ``sqrt(2 alpha) rec_noise xi[t]`` with
            ``xi`` drawn from ``seed``; an array ``[B, N_steps, N_rec]`` gives ``xi`` itself;
            False (default) turns it off.
        seed: seeds every random draw (model noise, InputNoise, RecurrentNoise).
        perturbations: any number of Silence, Cut, Scale, InputNoise, RecurrentNoise, Clamp,
            Inject; they compose (weight changes multiply in order).
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 3 or inputs.shape[2] != network.N_in:
        raise SimulatorError(f"inputs must have shape [trials, steps, {network.N_in}], got {inputs.shape}")
    B, n_steps, _ = inputs.shape
    N, alpha = network.N_rec, network.alpha
    plan = _compile(network, perturbations, n_steps)
    rng = np.random.default_rng(seed)
    if isinstance(noise, np.ndarray):
        if noise.shape != (B, n_steps, N):
            raise SimulatorError(f"noise array must have shape {(B, n_steps, N)}, got {noise.shape}")
        xi = noise.astype(np.float64)
    else:
        xi = None
    model_noise = bool(noise is not False and network.rec_noise > 0)
    noise_scale = math.sqrt(2 * alpha)
    f, _ = transfer_function(network.transfer_function)
    w = plan.weights

    def weight(name: str, t: int) -> np.ndarray:
        return w[name] * plan.step_masks[name][t] if name in plan.step_masks else w[name]

    state = _initial_state(network, B)
    states, rates, outputs = (np.empty((B, n_steps, n)) for n in (N, N, network.N_out))
    for t in range(n_steps):
        u = inputs[:, t]
        if plan.input_noise:
            u = u + plan.input_noise * rng.standard_normal(u.shape)
        extra = np.zeros((B, N))  # noise and injected current on the noise block
        if model_noise:
            extra += noise_scale * network.rec_noise * (xi[:, t] if xi is not None else rng.standard_normal((B, N)))
        if plan.rec_noise:
            extra += noise_scale * plan.rec_noise * rng.standard_normal((B, N))
        if plan.current is not None:
            extra += (alpha if network.kind == "basic" else 1.0) * plan.current[t]
        drive = u @ weight("W_in", t).T + w["b_rec"]
        state = _STEPS[network.kind](network, f, state, drive, weight("W_rec", t), extra)
        for steps, units, values in plan.clamps:
            if steps[t]:
                state[0][:, units] = values
        states[:, t] = state[0]
        rates[:, t] = f(state[0]) if network.kind == "basic" else state[0]
        outputs[:, t] = rates[:, t] @ weight("W_out", t).T + w["b_out"]
    return Simulation(outputs, states, rates)


def _initial_state(network: Network, batch: int) -> list[np.ndarray]:
    h = np.broadcast_to(network.weights["init_state"], (batch, network.N_rec)).copy()
    return [h, np.zeros_like(h)] if network.kind == "lstm" else [h]


def _basic_step(net: Network, f: ArrayFunction, state: list[np.ndarray], drive: np.ndarray, W_rec: np.ndarray,
                extra: np.ndarray) -> list[np.ndarray]:
    """``x = (1 - alpha) x + alpha (W_rec f(x) + W_in u + b_rec) + extra``."""
    (x,) = state
    return [(1 - net.alpha) * x + net.alpha * (f(x) @ W_rec.T + drive) + extra]


def _lstm_step(net: Network, f: ArrayFunction, state: list[np.ndarray], drive: np.ndarray, W_rec: np.ndarray,
               extra: np.ndarray) -> list[np.ndarray]:
    """Gates i, f, g, o; ``c = sigmoid(f + forget_bias) c + sigmoid(i) f(g)``, ``h = sigmoid(o) f(c)``."""
    h, c = state
    i, fg, g, o = np.split(drive + h @ W_rec.T, 4, axis=-1)
    c = _sigmoid(fg + net.forget_bias) * c + _sigmoid(i) * f(g + extra)
    return [_sigmoid(o) * f(c), c]


def _gru_step(net: Network, f: ArrayFunction, state: list[np.ndarray], drive: np.ndarray, W_rec: np.ndarray,
              extra: np.ndarray) -> list[np.ndarray]:
    """``u, r = sigmoid(.)``, ``h~ = f(x_h + r * (W_rec_h h))``, ``h = u h + (1 - u) h~``."""
    (h,) = state
    x_u, x_r, x_h = np.split(drive, 3, axis=-1)
    h_u, h_r, h_h = np.split(h @ W_rec.T, 3, axis=-1)
    update = _sigmoid(x_u + h_u)
    candidate = f(x_h + extra + _sigmoid(x_r + h_r) * h_h)
    return [update * h + (1 - update) * candidate]


_STEPS = {"basic": _basic_step, "lstm": _lstm_step, "gru": _gru_step}


# --- fresh trials of a run's task ---------------------------------------------------------------


def task_from_run(run: dict[str, Any], n_trials: int, seed: int, overrides: Sequence[str] = ()) -> Any:
    """The run's task rebuilt from its stored config, with ``task.KEY=VALUE`` overrides applied.

    The task draws from ``numpy.random.default_rng(seed)``. Raises SimulatorError for a bad
    override or a task whose N_in, N_out, dt or tau no longer fit the network.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from psychrnn_cli.build import ConfigError, build_task

    if not run.get("config") or "task" not in run["config"]:
        raise SimulatorError("the run file has no stored config with a task; cannot generate fresh trials")
    cfg = OmegaConf.create({"task": run["config"]["task"]})
    for override in overrides:
        key, sep, _ = override.partition("=")
        if not sep or not key.startswith("task."):
            raise SimulatorError(f"override {override!r}: only task settings can change, as task.KEY=VALUE "
                                 "(for example task.coherence=0.1 or task.T=1500)")
    try:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        np.random.seed(seed)  # for PsychRNN-style tasks that draw from NumPy's global state
        task = build_task(cfg.task, n_trials, np.random.default_rng(seed))
    except (ConfigError, OmegaConfBaseException, TypeError, ValueError) as err:
        with_overrides = f" with {' '.join(overrides)}" if overrides else ""
        raise SimulatorError(f"cannot build the task{with_overrides}: {err}") from None
    attrs = run["model"]["attrs"]
    for key in ("N_in", "N_out", "dt", "tau"):
        if key in attrs and not math.isclose(float(getattr(task, key)), float(attrs[key])):
            raise SimulatorError(f"task.{key}={getattr(task, key)} does not fit the trained network "
                                 f"({key}={attrs[key]}): keep it as trained")
    return task
