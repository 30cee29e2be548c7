"""The TensorFlow engine that trains any model kind: parameters, constraints and the loop over time.

:class:`RecurrentModel` is a ``tf.Module`` holding a model kind's definition
(:class:`psychrnn_cli.models.Model`) and its named ``tf.Variable`` parameters; the definition's
step runs with :class:`~psychrnn_cli.network.ops.TensorOps`. The loop is unrolled in Python while
``tf.function`` traces it, so a compiled graph, not Python, steps through time during training.
It is unrolled in pieces of ``CHUNK_STEPS`` steps, each piece one nested ``tf.function``
(:attr:`RecurrentModel.loop` over :meth:`RecurrentModel.run_steps`) that is traced once and called
for every piece, not inlined: tracing, differentiating and optimizing 10 steps instead of all of
them makes the first iteration seconds sooner, at about the speed of a fully unrolled graph
(benchmarks/NOTES.md). The drive of all steps (input, bias and noise, with the model's gain folded
into the input weights) is computed time-major in one product before the loop, and the readout in
one product after it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from psychrnn_cli.masks import Constraints, effective_weights
from psychrnn_cli.models import Model, State
from psychrnn_cli.network.ops import TensorOps

CHUNK_STEPS = 10  # time steps per traced piece of the loop


class RecurrentModel(tf.Module):
    """A model kind's parameters, constraints and time loop in TensorFlow.

    Args:
        definition: the model kind and its settings (N_rec, alpha, rec_noise, transfer function,
            options).
        weights: initial raw parameters, named and shaped as in :mod:`psychrnn_cli.models`.
        constraints: connectivity masks, Dale signs and plastic masks.
        trainable: per-parameter flag; False keeps a parameter at its initial value (the model's
            :meth:`~psychrnn_cli.models.Model.trainable_flags` first, then these).
    """

    def __init__(self, definition: Model, weights: dict[str, np.ndarray], constraints: Constraints,
                 trainable: dict[str, bool] | None = None) -> None:
        super().__init__(name=definition.kind)
        definition.check(weights, constraints.dale_ratio)
        trainable = {**definition.trainable_flags(), **(trainable or {})}
        self.params = {
            name: tf.Variable(value, name=name, trainable=trainable.get(name, True), dtype=tf.float32)
            for name, value in weights.items()
        }
        self.definition = definition
        self.ops = TensorOps(definition.transfer_function)
        self.constraints = constraints
        self.N_in, self.N_out = weights["W_in"].shape[1], weights["W_out"].shape[0]
        self.loop = self.compiled_loop()

    @property
    def kind(self) -> str:
        return self.definition.kind

    @property
    def gates(self) -> int:
        return self.definition.gates

    @property
    def N_rec(self) -> int:
        return self.definition.N_rec

    @property
    def rec_noise(self) -> float:
        return self.definition.rec_noise

    @property
    def trainable_params(self) -> dict[str, tf.Variable]:
        return {name: v for name, v in self.params.items() if v.trainable}

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """Raw parameters as NumPy arrays."""
        return {name: v.numpy() for name, v in self.params.items()}

    def effective(self) -> dict[str, tf.Tensor]:
        """Parameters as the forward pass uses them: connectivity masks applied to every gate."""
        return effective_weights(self.params, self.constraints, gates=self.gates)

    def rates(self, states: tf.Tensor) -> tf.Tensor:
        """What the readout sees, from the recorded states ``[..., N_rec]``."""
        return self.definition.rates(self.ops, states)

    def drive(self, w: dict[str, tf.Tensor], inputs: tf.Tensor, noise: tf.Tensor | None) -> tf.Tensor:
        """Drive of all steps at once, time-major ``[N_steps, B, G*N_rec]`` from inputs
        ``[N_steps, B, N_in]``: ``gain (W_in u[t] + b_rec)``, plus ``noise_scale * xi[t]`` (noise
        ``[N_steps, B, N_rec]``) on block ``noise_gate`` when noise is given."""
        definition = self.definition
        gain = definition.drive_gain()
        kernel, bias = (w["W_in"], w["b_rec"]) if gain == 1 else (gain * w["W_in"], gain * w["b_rec"])
        drive = dense(inputs, kernel, bias)
        if noise is not None and definition.rec_noise > 0:
            noise = definition.noise_scale() * noise
            if self.gates > 1:
                before = definition.noise_gate * self.N_rec
                noise = tf.pad(noise, [[0, 0], [0, 0], [before, (self.gates - 1) * self.N_rec - before]])
            drive += noise
        return drive

    def run_steps(self, w: dict[str, tf.Tensor], state: State, drive: tf.Tensor) -> tuple[State, tuple[tf.Tensor, ...]]:
        """Step through one piece of the trial: time-major ``drive [n, B, G*N_rec]`` -> the state
        after the last step and the recorded components ``[n, B, N_rec]`` each: the first one,
        then those of the model's ``recorded`` in order. Compiled as :attr:`loop`."""
        indices = [0, *(index for index, _ in self.definition.recorded.values())]
        recorded: list[list[tf.Tensor]] = [[] for _ in indices]
        for drive_t in tf.unstack(drive):
            state = self.definition.step(self.ops, w, state, drive_t)
            for series, index in zip(recorded, indices):
                series.append(state[index])
        return state, tuple(tf.stack(series) for series in recorded)

    def compiled_loop(self) -> Callable:
        """:meth:`run_steps` as a ``tf.function``, the model's :attr:`loop`, called (not inlined)
        for every piece of the trial.

        Inlining (TensorFlow's default: a copy of the traced piece at every call site) measured at
        most 10% faster steps but a first step about 1 s later; a loop that is called is optimized
        once.
        """
        return tf.function(self.run_steps, autograph=False, experimental_attributes={"_noinline": True})

    def __call__(self, inputs: tf.Tensor, noise: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Run the network over a batch of trials.

        Args:
            inputs: ``[B, N_steps, N_in]``.
            noise: standard normal ``[B, N_steps, N_rec]``, or None for a noiseless pass.

        Returns:
            outputs ``[B, N_steps, N_out]`` (z[1..T]) and states ``[B, N_steps, N_rec]``
            (the first state component after each step).
        """
        outputs, states, _ = self.forward(inputs, noise)
        return outputs, states

    def forward(self, inputs: tf.Tensor, noise: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor,
                                                                                    dict[str, tf.Tensor]]:
        """:meth:`__call__`, plus the model's ``recorded`` state components by name, ``[B, N_steps, N_rec]`` each."""
        outputs, states, extra, _ = self.forward_from(None, inputs, noise)
        return outputs, states, extra

    def forward_from(self, state: State | None, inputs: tf.Tensor, noise: tf.Tensor | None = None
                     ) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor], State]:
        """:meth:`forward` from ``state`` (the model's state tuple, as this returns it; None: the
        initial state), plus the state after the last step: to run a trial in pieces."""
        w = self.definition.prepare(self.ops, self.effective())
        if state is None:
            x0 = tf.broadcast_to(w["init_state"], tf.stack([tf.shape(inputs)[0], self.N_rec]))
            state = self.definition.initial_state(self.ops, w, x0)
        drive = self.drive(w, time_major(inputs), None if noise is None else time_major(noise))
        loop = recomputing(self.loop) if self.definition.recompute else self.loop
        recorded = []
        for piece in tf.split(drive, pieces(inputs.shape[1])):
            state, series = loop(w, state, piece)
            recorded.append(series)
        states, *extra = (tf.concat(parts, axis=0) for parts in zip(*recorded))
        outputs = dense(self.rates(states), w["W_out"], w["b_out"])
        extra = {name: time_major(series) for name, series in zip(self.definition.recorded, extra)}
        return time_major(outputs), time_major(states), extra, state


def describe(model: RecurrentModel) -> dict[str, Any]:
    """Model attributes for the run file, the model's own options (e.g. ``forget_bias``) included."""
    definition = model.definition
    return {**definition.options(), "kind": definition.kind,
            "model_class": f"{type(definition).__module__}.{type(definition).__qualname__}",
            "N_in": model.N_in, "N_rec": model.N_rec, "N_out": model.N_out, "alpha": definition.alpha,
            "rec_noise": definition.rec_noise, "transfer_function": definition.transfer_function,
            "dale_ratio": model.constraints.dale_ratio}


def recomputing(loop: Callable) -> Callable:
    """``loop(w, state, piece)`` that keeps only its inputs for the backward pass and runs the
    piece again there (``tf.recompute_grad``): memory for the state at each piece's start instead
    of every step's intermediate tensors, for about one more forward pass."""

    def call(w: dict[str, tf.Tensor], state: State, piece: tf.Tensor) -> tuple[State, tuple[tf.Tensor, ...]]:
        names, n = list(w), len(state)

        def flat(*args: tf.Tensor) -> tuple[tf.Tensor, ...]:
            end, recorded = loop(dict(zip(names, args)), tuple(args[len(names):len(names) + n]), args[-1])
            return (*end, *recorded)

        out = tf.recompute_grad(flat)(*(tf.convert_to_tensor(v) for v in w.values()), *state, piece)
        return tuple(out[:n]), tuple(out[n:])

    return call


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
