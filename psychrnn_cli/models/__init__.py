"""What a model kind is: parameters, initial state, one time step and readout, written once.

A model kind is a subclass of :class:`Model` in one module (built-ins: :mod:`.basic`, :mod:`.lstm`,
:mod:`.gru`, :mod:`.adapting`, :mod:`.stp`; yours: any importable module, selected with
``model._target_=my_module.MyModel``; :mod:`.adapting` is a short pattern to start from).
Its methods compute with an array-operations namespace ``ops`` that they receive as an argument,
so the same code runs in the TensorFlow trainer (:mod:`psychrnn_cli.network`, float32) and in the
NumPy simulator (:mod:`psychrnn_cli.simulator`, float64); a model module imports neither.

``ops`` provides ``f`` (the configured transfer function), ``matmul``, ``transpose`` (of a
matrix), ``sigmoid``, ``tanh``, ``exp``, ``maximum``, ``minimum``, ``zeros_like``, ``ones_like``,
``concat(list)`` and ``split(x, n)`` (both along the last axis), ``nonzero(x)`` (1.0 where ``x``
is not 0, else 0.0; no gradient) and ``spike(x, slope)``: the Heaviside step ``x > 0`` as 1.0 or
0.0, whose derivative in the TensorFlow engine is the fast-sigmoid surrogate
``1 / (1 + slope |x|)^2`` (Zenke and Ganguli 2018, Neural Computation). Arrays support NumPy-style
indexing with ``None`` (``r[:, :, None]``), so models may use batched ``[B, n, m]`` states.

Parameters are named as the run file stores them: ``W_in [G*N_rec, N_in]``, ``W_rec
[G*N_rec, N_rec]``, ``W_out [N_out, N_rec]``, ``b_rec [G*N_rec]``, ``b_out [N_out]``,
``init_state [N_rec]`` with G = :attr:`Model.gates` blocks of rows, plus any from
:meth:`Model.extra_weights`. Connectivity masks apply to every block of ``W_in`` and ``W_rec``.
Extra parameters are trained, checkpointed and stored in the run file like the standard six
(unmasked; :meth:`Model.check` checks their shapes against :meth:`Model.extra_weights`);
:meth:`Model.trainable_flags` keeps some of them fixed, as ``model.trainable`` does for the six.

The engines run, for inputs ``u [B, N_steps, N_in]``::

    w = model.prepare(ops, effective weights)
    drive[t] = gain (W_in u[t] + b_rec) + (noise and injected current on block ``noise_gate``)
    state = model.initial_state(ops, w, init_state broadcast to [B, N_rec])
    state = model.step(ops, w, state, drive[t])             for each t
    recorded[t] = state[0];  z[t] = W_out model.rates(ops, state[0]) + b_out

with gain = :meth:`Model.drive_gain`. The first state component ``[B, N_rec]`` is what is
recorded, clamped and read out (through :meth:`Model.rates`); perturbations act on it and on the
named weight matrices, so every model takes every perturbation. Other components may have any
shape (``[B, N_rec, N_rec]`` for a matrix per trial); those named in :attr:`Model.recorded` are
``[B, N_rec]`` and recorded beside the unit states, as ``/trials/<name>`` in the run file.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from typing import Any, Callable

BUILTIN = {"basic": "psychrnn_cli.models.basic.Basic", "lstm": "psychrnn_cli.models.lstm.LSTM",
           "gru": "psychrnn_cli.models.gru.GRU", "adapting": "psychrnn_cli.models.adapting.Adapting",
           "stp": "psychrnn_cli.models.stp.STP", "plastic": "psychrnn_cli.models.plastic.Plastic",
           "spiking": "psychrnn_cli.models.spiking.Spiking"}
ALIASES = {  # model classes stored in run files and checkpoints written before this layout
    "psychrnn_cli.network.basic.BasicRNN": BUILTIN["basic"],
    "psychrnn_cli.network.gated.LSTM": BUILTIN["lstm"],
    "psychrnn_cli.network.gated.GRU": BUILTIN["gru"],
}
ENGINE_KEYS = ("_target_", "load_weights", "trainable")  # model config keys that are not model options
PARAMETER_NAMES = ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state")  # every model's, as run files store them
State = tuple[Any, ...]
Weights = dict[str, Any]
Initializer = Callable[..., dict[str, Any]]


class ModelError(ValueError):
    """A model that cannot be found or built; the message names the option and the fix."""


class Model:
    """A model kind; subclasses define :meth:`step` and override what else differs.

    Args:
        N_rec: number of recurrent units.
        alpha: dt / tau.
        dt: the time step (ms), for models whose own time constants are in ms.
        rec_noise: recurrent noise scale; the noise ``sqrt(2 alpha) rec_noise xi[t]`` (xi standard
            normal ``[B, N_rec]``) is added to block ``noise_gate`` of the drive. 0 turns it off.
        transfer_function: name of the unit nonlinearity, ``ops.f``.

    Extra keyword arguments of a subclass are its options, set from the ``model:`` config; they
    are stored in the run file (:meth:`options`), so keep them plain numbers, strings or booleans.
    """

    kind = "model"  # the name the run file records
    gates = 1  # blocks of N_rec rows in W_in, W_rec and b_rec
    noise_gate = 0  # the block that receives recurrent noise and injected current
    supports_dale = False
    # extra state components to record: dataset name under /trials -> (index in the state, storage dtype
    # "float32" or "uint8"); each is [B, N_rec]
    recorded: dict[str, tuple[int, str]] = {}
    # True: the TensorFlow engine keeps only the state between pieces of the loop for the backward
    # pass and computes each piece again there (for large states such as a matrix per trial)
    recompute = False
    # False: the step is not differentiable (units spike), so fixed points and their Jacobian do not apply
    smooth = True

    def __init__(self, N_rec: int, alpha: float, rec_noise: float = 0.0, transfer_function: str = "relu",
                 dt: float = 10.0) -> None:
        self.N_rec = int(N_rec)
        self.alpha = float(alpha)
        self.rec_noise = float(rec_noise)
        self.transfer_function = str(transfer_function)
        self.dt = float(dt)

    # --- what a model defines ----------------------------------------------------------------

    def drive_gain(self) -> float:
        """The factor on ``W_in u + b_rec`` in the drive (the basic model folds alpha in)."""
        return 1.0

    def prepare(self, ops: Any, w: Weights) -> Weights:
        """Arrays computed once per pass from the effective weights (default: none extra)."""
        return w

    def initial_state(self, ops: Any, w: Weights, x0: Any) -> State:
        """The state before the first step; ``x0`` is ``init_state`` broadcast to ``[B, N_rec]``."""
        return (x0,)

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        """The state one step later, given this step's drive ``[B, G*N_rec]``."""
        raise NotImplementedError(f"{type(self).__name__} must define step(ops, w, state, drive)")

    def rates(self, ops: Any, x: Any) -> Any:
        """What the readout and the other units see, from the first state component ``[..., N_rec]``."""
        return ops.f(x)

    def extra_weights(self, rng: Any, N_in: int, N_out: int) -> Weights:
        """Initial values of parameters beyond the six standard ones (default: none)."""
        return {}

    def trainable_flags(self) -> dict[str, bool]:
        """Extra parameters this model's options keep fixed (False) or train (True); unnamed ones train."""
        return {}

    # --- shared -----------------------------------------------------------------------------

    def noise_scale(self) -> float:
        """Standard deviation of the noise added to the drive each step, per unit of ``xi``."""
        return math.sqrt(2 * self.alpha) * self.rec_noise

    def options(self) -> dict[str, Any]:
        """The subclass's own settings (e.g. ``forget_bias``), for the run file."""
        base = {"N_rec", "alpha", "rec_noise", "transfer_function", "dt"}
        return {k: v for k, v in vars(self).items() if k not in base and not k.startswith("_")}

    def initial_weights(self, initializer: Initializer, rng: Any, constraints: Any, N_in: int,
                        N_out: int) -> Weights:
        """Initial parameters (shapes in the module docstring). For G > 1 blocks the initializer
        fills each block, unless it returns all blocks at once (as loading a gated model's file does)."""
        import numpy as np

        weights = initializer(rng=rng, constraints=constraints, N_in=N_in, N_out=N_out)
        if weights["W_rec"].shape[0] != self.gates * self.N_rec:
            blocks = [weights] + [initializer(rng=rng, constraints=constraints, N_in=N_in, N_out=N_out)
                                  for _ in range(self.gates - 1)]
            for name in ("W_in", "W_rec", "b_rec"):
                weights[name] = np.concatenate([b[name] for b in blocks], axis=0)
        extra = {name: np.asarray(value, dtype=np.float32) for name, value in self.extra_weights(rng, N_in, N_out).items()}
        # a stored network (model.load_weights) gives its values of this kind's extra parameters; other arrays it
        # holds (another kind's extra parameters) are not this model's
        return {**{name: value for name, value in weights.items() if name in PARAMETER_NAMES},
                **{name: weights.get(name, value) for name, value in extra.items()}}

    def check(self, weights: Weights, dale_ratio: float | None = None) -> None:
        """Raise ModelError naming the parameter (extra ones included) whose shape does not fit this model, or Dale's
        principle (``dale_ratio`` not None) on a model that does not support it."""
        import numpy as np

        if dale_ratio is not None and not self.supports_dale:
            raise ModelError(f"Dale's principle (constraints.dale_ratio={dale_ratio}) applies only to model=basic "
                             f"and models that declare supports_dale; model={self.kind} does not support it: set "
                             "constraints.dale_ratio=null")
        G, N = self.gates, self.N_rec
        if "W_in" not in weights or "W_out" not in weights:
            raise ModelError(f"model={self.kind} needs W_in and W_out, got {sorted(weights)}")
        N_in, N_out = weights["W_in"].shape[-1], weights["W_out"].shape[0]
        expected = {"W_in": (G * N, N_in), "W_rec": (G * N, N), "W_out": (N_out, N), "b_rec": (G * N,),
                    "b_out": (N_out,), "init_state": (N,)}
        extra = self.extra_weights(np.random.default_rng(0), N_in, N_out)
        expected.update({name: tuple(np.shape(value)) for name, value in extra.items()})
        for name, shape in expected.items():
            found = tuple(weights[name].shape) if name in weights else "missing"
            if found != shape:
                raise ModelError(f"model={self.kind} with N_rec={N} needs {name} of shape {shape}, got {found}")


def model_class(target: str) -> type[Model]:
    """The :class:`Model` subclass at an import path (or a built-in name), stored names included."""
    path = ALIASES.get(target, BUILTIN.get(target, target))
    module_name, _, name = str(path).rpartition(".")
    if os.getcwd() not in sys.path:  # user models in the working directory, as for training
        sys.path.insert(0, os.getcwd())
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ModelError(f"model._target_: cannot import {target!r} ({err}); is its module on PYTHONPATH or in the "
                         "working directory?") from None
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ModelError(f"model._target_: {target!r} must be a subclass of psychrnn_cli.models.Model "
                         "(docs/guides/own-model.md)")
    return cls


def make_model(node: dict[str, Any], alpha: float, dt: float = 10.0) -> Model:
    """The model a ``model:`` config (as a plain dict) describes, for a task with ``alpha`` and time
    step ``dt`` (ms)."""
    cls = model_class(str(node.get("_target_", BUILTIN["basic"])))
    options = {k: v for k, v in node.items() if k not in ENGINE_KEYS}
    try:
        return cls(alpha=alpha, dt=dt, **options)
    except TypeError as err:
        raise ModelError(f"model: cannot build {cls.__module__}.{cls.__qualname__}: {err}") from None
