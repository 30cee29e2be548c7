"""The base class of recurrent models: parameters, constraints and the loop over time.

A model is a ``tf.Module`` holding named ``tf.Variable`` parameters. Subclasses say how one time
step updates the state (:meth:`RecurrentModel.step`); the base class runs the loop. The loop is
unrolled in Python while ``tf.function`` traces it, so a compiled graph, not Python, steps through
time during training. It is unrolled in pieces of ``CHUNK_STEPS`` steps, each piece one nested
``tf.function`` (:attr:`RecurrentModel.loop` over :meth:`RecurrentModel.run_steps`) that is traced
once and called for every piece, not inlined: tracing, differentiating and optimizing 10 steps
instead of all of them makes the first iteration seconds sooner, at about the speed of a fully
unrolled graph (benchmarks/NOTES.md). Input (and noise) terms of all steps are computed in one
product before the loop and the readout in one after it.

To write your own model, subclass :class:`~psychrnn_cli.network.basic.BasicRNN` (or this class),
override what differs, and select it with ``model._target_=my_module.MyModel``; extra keys of the
``model:`` config become constructor arguments.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from psychrnn_cli.masks import Constraints, effective_weights
from psychrnn_cli.network import functions

PARAMETER_NAMES = ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state")
CHUNK_STEPS = 10  # time steps per traced piece of the loop
State = tuple[tf.Tensor, ...]
Initializer = Callable[..., dict[str, np.ndarray]]


class RecurrentModel(tf.Module):
    """Parameters, constraints and the time loop shared by all models.

    Args:
        N_rec: number of recurrent units (must match ``weights``).
        weights: initial raw parameters, see :meth:`initial_weights` for names and shapes.
        constraints: connectivity masks, Dale signs and plastic masks.
        alpha: dt / tau.
        rec_noise: recurrent noise scale (0 turns noise off).
        transfer_function: name of the unit nonlinearity
            (see :func:`~psychrnn_cli.network.functions.transfer_function`).
        trainable: per-parameter flag; False keeps a parameter at its initial value.
    """

    kind = "base"
    gates = 1  # blocks of N_rec rows stacked in W_in, W_rec and b_rec
    noise_gate = 0  # the block that receives recurrent noise
    supports_dale = False

    def __init__(
        self,
        N_rec: int,
        weights: dict[str, np.ndarray],
        constraints: Constraints,
        alpha: float,
        rec_noise: float = 0.0,
        transfer_function: str = "relu",
        trainable: dict[str, bool] | None = None,
    ) -> None:
        super().__init__(name=self.kind)
        if constraints.dale_ratio is not None and not self.supports_dale:
            raise ValueError(
                f"Dale's principle (constraints.dale_ratio={constraints.dale_ratio}) applies only to "
                f"model=basic; model={self.kind} does not support it: set constraints.dale_ratio=null"
            )
        self.check_shapes(weights, N_rec)
        trainable = trainable or {}
        self.params = {
            name: tf.Variable(value, name=name, trainable=trainable.get(name, True), dtype=tf.float32)
            for name, value in weights.items()
        }
        self.constraints = constraints
        self.N_rec, self.N_in = N_rec, weights["W_in"].shape[1]
        self.N_out = weights["W_out"].shape[0]
        self.alpha = float(alpha)
        self.rec_noise = float(rec_noise)
        self.transfer_function_name = transfer_function
        self.f = functions.transfer_function(transfer_function)
        self.loop = self.compiled_loop()

    # --- parameters -----------------------------------------------------------------------

    @classmethod
    def initial_weights(cls, initializer: Initializer, rng: np.random.Generator, constraints: Constraints,
                        N_in: int, N_out: int) -> dict[str, np.ndarray]:
        """Initial parameters: ``W_in [G*N_rec, N_in]``, ``W_rec [G*N_rec, N_rec]``,
        ``W_out [N_out, N_rec]``, ``b_rec [G*N_rec]``, ``b_out [N_out]``, ``init_state [N_rec]``
        with G = ``cls.gates``. For gated models the initializer fills each gate's block, unless it
        returns all blocks at once (as loading a gated model's file does)."""
        weights = initializer(rng=rng, constraints=constraints, N_in=N_in, N_out=N_out)
        if weights["W_rec"].shape[0] == cls.gates * constraints.N_rec:
            return weights
        blocks = [weights] + [initializer(rng=rng, constraints=constraints, N_in=N_in, N_out=N_out)
                              for _ in range(cls.gates - 1)]
        for name in ("W_in", "W_rec", "b_rec"):
            weights[name] = np.concatenate([b[name] for b in blocks], axis=0)
        return weights

    def check_shapes(self, weights: dict[str, np.ndarray], N_rec: int) -> None:
        """Raise ValueError naming the parameter whose shape does not fit this model."""
        G, N_in, N_out = self.gates, weights["W_in"].shape[1], weights["W_out"].shape[0]
        expected = {"W_in": (G * N_rec, N_in), "W_rec": (G * N_rec, N_rec), "W_out": (N_out, N_rec),
                    "b_rec": (G * N_rec,), "b_out": (N_out,), "init_state": (N_rec,)}
        for name, shape in expected.items():
            if name not in weights or weights[name].shape != shape:
                found = weights[name].shape if name in weights else "missing"
                raise ValueError(f"model={self.kind} with N_rec={N_rec} needs {name} of shape {shape}, got {found}")

    @property
    def trainable_params(self) -> dict[str, tf.Variable]:
        return {name: v for name, v in self.params.items() if v.trainable}

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """Raw parameters as NumPy arrays."""
        return {name: v.numpy() for name, v in self.params.items()}

    def effective(self) -> dict[str, tf.Tensor]:
        """Parameters as the forward pass uses them: connectivity masks applied to every gate."""
        return effective_weights(self.params, self.constraints, gates=self.gates)

    # --- dynamics: what subclasses define ---------------------------------------------------

    def prepare(self, w: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Tensors computed once per pass from the effective weights (default: none extra)."""
        return w

    def initial_state(self, w: dict[str, tf.Tensor], batch_size: tf.Tensor) -> State:
        """The state before the first step, a tuple whose first entry is ``[B, N_rec]``."""
        return (tf.broadcast_to(w["init_state"], tf.stack([batch_size, self.N_rec])),)

    def drive(self, w: dict[str, tf.Tensor], inputs: tf.Tensor, noise: tf.Tensor | None) -> tf.Tensor:
        """Input terms of all steps at once, time-major ``[N_steps, B, G*N_rec]`` from inputs
        ``[N_steps, B, N_in]``: ``W_in u[t] + b_rec``, plus ``noise_scale * xi[t]`` (noise
        ``[N_steps, B, N_rec]``) on block ``noise_gate`` when noise is given."""
        drive = dense(inputs, w["W_in"], w["b_rec"])
        if noise is not None and self.rec_noise > 0:
            before, after = self.noise_gate * self.N_rec, (self.gates - 1 - self.noise_gate) * self.N_rec
            drive += tf.pad(self.noise_scale() * noise, [[0, 0], [0, 0], [before, after]])
        return drive

    def step(self, w: dict[str, tf.Tensor], state: State, drive: tf.Tensor) -> State:
        """The state one step later, given this step's slice of :meth:`drive` (``[B, G*N_rec]``)."""
        raise NotImplementedError

    def rates(self, states: tf.Tensor) -> tf.Tensor:
        """What the readout sees, from the recorded states ``[..., N_rec]``."""
        return self.f(states)

    def noise_scale(self) -> float:
        """Standard deviation of the noise added to the drive each step, per unit of ``xi``."""
        return math.sqrt(2 * self.alpha) * self.rec_noise

    # --- the loop -----------------------------------------------------------------------------

    def run_steps(self, w: dict[str, tf.Tensor], state: State, drive: tf.Tensor) -> tuple[State, tf.Tensor]:
        """Step through one piece of the trial: time-major ``drive [n, B, G*N_rec]`` -> the state
        after the last step and the recorded states ``[n, B, N_rec]``. Compiled as :attr:`loop`."""
        recorded = []
        for drive_t in tf.unstack(drive):
            state = self.step(w, state, drive_t)
            recorded.append(state[0])
        return state, tf.stack(recorded)

    def compiled_loop(self) -> Callable:
        """:meth:`run_steps` as a ``tf.function``, the model's :attr:`loop`, called (not inlined)
        for every piece of the trial.

        Inlining (TensorFlow's default: a copy of the traced piece at every call site) measured at
        most 10% faster steps but a first step about 1 s later; a loop that is called is optimized
        once, which also makes a graph of many networks (an ensemble sharing one loop) compile
        many times faster.
        """
        return tf.function(self.run_steps, autograph=False, experimental_attributes={"_noinline": True})

    def dynamics_key(self) -> tuple:
        """What :meth:`step` depends on besides the weights: the class and every plain attribute.
        Models with equal keys can run one shared :attr:`loop`."""
        plain = (bool, int, float, str, type(None))
        return (type(self), *sorted((k, v) for k, v in vars(self).items() if isinstance(v, plain)))

    def __call__(self, inputs: tf.Tensor, noise: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Run the network over a batch of trials.

        Args:
            inputs: ``[B, N_steps, N_in]``.
            noise: standard normal ``[B, N_steps, N_rec]``, or None for a noiseless pass.

        Returns:
            outputs ``[B, N_steps, N_out]`` (z[1..T]) and states ``[B, N_steps, N_rec]``
            (the first entry of the state after each step).
        """
        w = self.prepare(self.effective())
        state = self.initial_state(w, tf.shape(inputs)[0])
        drive = self.drive(w, time_major(inputs), None if noise is None else time_major(noise))
        recorded = []
        for piece in tf.split(drive, pieces(inputs.shape[1])):
            state, states = self.loop(w, state, piece)
            recorded.append(states)
        states = tf.concat(recorded, axis=0)
        outputs = dense(self.rates(states), w["W_out"], w["b_out"])
        return time_major(outputs), time_major(states)


def describe(model: RecurrentModel) -> dict[str, Any]:
    """Model attributes for the run file (with ``forget_bias`` for the LSTM)."""
    extra = {"forget_bias": model.forget_bias} if hasattr(model, "forget_bias") else {}
    return {**extra, "kind": model.kind, "N_in": model.N_in, "N_rec": model.N_rec, "N_out": model.N_out,
            "alpha": model.alpha, "rec_noise": model.rec_noise, "transfer_function": model.transfer_function_name,
            "dale_ratio": model.constraints.dale_ratio}


def time_major(x: tf.Tensor) -> tf.Tensor:
    """Swap the first two axes: ``[B, N_steps, n]`` <-> ``[N_steps, B, n]``."""
    return tf.transpose(x, [1, 0, 2])


def dense(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """``weight x + bias`` along the last axis: ``x [..., n]``, ``weight [m, n]``, ``bias [m]`` ->
    ``[..., m]``, as one 2-D product over all leading axes."""
    product = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), weight, transpose_b=True)
    return tf.reshape(tf.nn.bias_add(product, bias), tf.concat([tf.shape(x)[:-1], [weight.shape[0]]], 0))


def pieces(n_steps: int) -> list[int]:
    """Lengths of the traced pieces the loop over ``n_steps`` time steps runs in: ``CHUNK_STEPS``
    each, and the remainder last."""
    return [CHUNK_STEPS] * (n_steps // CHUNK_STEPS) + ([n_steps % CHUNK_STEPS] if n_steps % CHUNK_STEPS else [])
