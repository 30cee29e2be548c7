"""The compiled training step and forward pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from psychrnn_cli.network.base import RecurrentModel
from psychrnn_cli.network.regularizers import CustomTerm, regularization_terms
from psychrnn_cli.network.shared import SharedFunction, describe, handles, shared
from psychrnn_cli.prefetch import TrainingBatch, make_batch
from psychrnn_cli.task import Task

LossFunction = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]
NOISE_STREAMS = ("train", "check", "test")  # recurrent noise of training steps, curriculum checks, other tests


def exponential_decay(rate: float, decay_steps: int, decay_rate: float, staircase: bool) -> Any:
    """Keras's learning rate ``rate * decay_rate ** (step / decay_steps)`` (step rounded down with ``staircase``)."""
    import keras

    return keras.optimizers.schedules.ExponentialDecay(rate, decay_steps=decay_steps, decay_rate=decay_rate,
                                                       staircase=staircase)


@dataclass
class Objective:
    """What a training step minimises: the task loss plus regularization terms.

    Attributes:
        loss: ``(outputs, targets, mask) -> scalar``.
        coefficients: regularizer name (``L1_rec``, ``L2_rate``...) -> coefficient; 0 is off.
        custom: an extra term ``(effective weights, rates, outputs) -> scalar``, or None.
        custom_weight: its coefficient.
    """

    loss: LossFunction
    coefficients: dict[str, float] = field(default_factory=dict)
    custom: CustomTerm | None = None
    custom_weight: float = 1.0


def optimizer_settings(optimizer: Any) -> dict[str, Any]:
    """The optimizer's settings that its traced update bakes in: its config without its name and
    without a constant learning rate (Keras keeps that in a variable, read at every step)."""
    config = optimizer.get_config()
    return {k: v for k, v in config.items()
            if k != "name" and not (k == "learning_rate" and isinstance(v, (int, float)))}


class CompiledSteps:
    """A model's training step and forward pass as ``tf.function`` graphs.

    The graphs are traced once per :meth:`graph_key` in the process and shared by every network
    with that key (:mod:`psychrnn_cli.network.shared`), each reading and updating its own
    :attr:`state`: the members of an ensemble and the runs of an in-process sweep trace once.

    Fixed (non-plastic) entries get zero gradient and are reset to their initial value after
    every optimizer step, so no optimizer (momentum, weight decay) can move them.

    Args:
        model: the network.
        optimizer: a Keras optimizer (clipping arguments unset: clipping happens here).
        objective: loss and regularizers.
        clip: ``("per_tensor" | "global_norm" | "none", norm)``.
        seed: seed of the recurrent-noise generators. Training steps, curriculum checks and other
            tests draw from separate streams (:attr:`noise`), so an evaluation more or less (as when
            a run is continued with more iterations) changes neither training nor the curriculum.
    """

    def __init__(self, model: RecurrentModel, optimizer, objective: Objective, clip: tuple[str, float],
                 seed: int) -> None:
        self.model = model
        self.optimizer = optimizer
        self.objective = objective
        self.clip_mode, self.clip_norm = clip
        self.noise = dict(zip(NOISE_STREAMS, [tf.random.Generator.from_seed(seed),
                                              *tf.random.Generator.from_seed(seed).split(2)]))
        self.variables = {**model.trainable_params, **self._own_variables()}
        self.plastic = {
            name: tf.constant(np.tile(mask, (var.shape[0] // mask.shape[0],) + (1,) * (mask.ndim - 1)) > 0)
            for name, mask in model.constraints.plastic.items()
            if (var := self.variables.get(name)) is not None
        }
        # initial values of the fixed entries, as variables, so that a shared trace reads each
        # network's own through its handle (TensorFlow may capture a constant tensor of up to 128
        # elements by value, and a trace that did would reset every network to the template's)
        self.fixed_values = {name: tf.Variable(self.variables[name].numpy(), trainable=False, name=f"{name}_fixed")
                             for name in self.plastic}
        # optimizer slots made now, not on the first call: creating variables inside the traced
        # step would make tf.function trace it twice
        self.optimizer.build(list(self.variables.values()))
        # everything the traced step reads besides its arguments, in an order equal for equal keys
        self.state = [*model.params.values(), *self._own_state(), *self.optimizer.variables,
                      *(self.noise[name].state for name in NOISE_STREAMS), *self.plastic.values(),
                      *self.fixed_values.values()]
        self._handles = handles(self.state)
        self._functions: dict[tuple, Any] = {}

    def _noise(self, inputs: tf.Tensor, generator: tf.random.Generator) -> tf.Tensor | None:
        if self.model.rec_noise == 0:
            return None
        shape = tf.concat([tf.shape(inputs)[:2], [self.model.N_rec]], axis=0)
        return generator.normal(shape)

    def _clip(self, grads: list[tf.Tensor]) -> list[tf.Tensor]:
        if self.clip_mode == "per_tensor":
            return [tf.clip_by_norm(g, self.clip_norm) for g in grads]
        if self.clip_mode == "global_norm":
            return tf.clip_by_global_norm(grads, self.clip_norm)[0]
        return grads

    def _own_variables(self) -> dict[str, tf.Variable]:
        """Trainable variables of the algorithm beside the model's (none for supervised training)."""
        return {}

    def _own_state(self) -> list[tf.Variable]:
        """Variables of the algorithm that its traced graphs read besides the model's parameters,
        the optimizer's variables and the noise generators (none for supervised training)."""
        return []

    def _own_key(self) -> tuple:
        """The algorithm's settings that its traced graphs bake in (none for supervised training)."""
        return ()

    def make_batch(self, task: Task) -> TrainingBatch:
        """The next training batch of ``task``, as :meth:`train_step` takes it."""
        return make_batch(task)

    def _terms(self, inputs: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """The loss terms of a batch (:meth:`make_batch`) and the total to minimise."""
        objective = self.objective
        outputs, states = self.model(inputs, self._noise(inputs, self.noise["train"]))
        terms = {"loss": objective.loss(outputs, targets, mask)}
        terms.update(regularization_terms(objective.coefficients, self.model.effective(),
                                          self.model.rates(states), outputs, objective.custom,
                                          objective.custom_weight))
        return terms, tf.add_n(list(terms.values()))

    def _train_step(self, *batch: tf.Tensor) -> dict[str, tf.Tensor]:
        names, variables = list(self.variables), list(self.variables.values())
        with tf.GradientTape() as tape:
            terms, total = self._terms(*batch)
        grads = tape.gradient(total, variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        grads = [g * tf.cast(self.plastic[n], g.dtype) if n in self.plastic else g for n, g in zip(names, grads)]
        self.optimizer.apply_gradients(zip(self._clip(grads), variables))
        for name, plastic in self.plastic.items():
            self.variables[name].assign(tf.where(plastic, self.variables[name], self.fixed_values[name]))
        return terms

    def _predict(self, inputs: tf.Tensor, noise: str | None) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor]]:
        return self.model.forward(inputs, None if noise is None else self._noise(inputs, self.noise[noise]))

    def train_step(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        """One optimizer step on a batch ``[B, N_steps, N_in|N_out]``.

        Returns the batch's task ``loss`` and each active regularization term.
        """
        terms = self.call_train([tf.constant(a, tf.float32) for a in (inputs, targets, mask)])
        return {name: float(value) for name, value in terms.items()}

    def call_train(self, arrays: list[tf.Tensor]) -> dict[str, tf.Tensor]:
        """:meth:`train_step` on float32 tensors (a batch of :meth:`make_batch`), returning the
        terms as tensors; an ensemble's threads call it after :meth:`prepare_train`."""
        return self._call(self.prepare_train(tuple(tuple(a.shape) for a in arrays)), arrays)

    def prepare_train(self, shapes: tuple[tuple[int, ...], ...]) -> tuple:
        """Make sure the training step for batches of ``shapes`` (one shape per array of
        :meth:`make_batch`) is traced or found shared; returns its name in :meth:`_call`."""
        return self._prepare_exact("train", self._train_step, shapes)

    def _prepare_exact(self, name: str, function: Callable[..., Any], shapes: tuple[tuple[int, ...], ...]) -> tuple:
        """Prepare ``function`` of float32 arguments of exactly ``shapes`` as the graph ``name``;
        returns its name in :meth:`_call`."""
        spec = (name, shapes)
        self._prepare(spec, lambda: tf.function(function, autograph=False).get_concrete_function(
            *(tf.TensorSpec(shape, tf.float32) for shape in shapes)))
        return spec

    def graph_key(self, *spec: Any) -> tuple:
        """Everything that sets what a traced graph computes, besides the values of :attr:`state`:
        ``spec`` (the graph and its argument shapes), the training algorithm (this class and
        :meth:`_own_key`), the model's class and settings, parameter names, shapes and
        trainability, the constraint arrays, the optimizer's class and settings, the objective and
        the clipping."""
        model, optimizer, objective = self.model, self.optimizer, self.objective
        return (*spec, describe(type(self)), self._own_key(),
                describe(type(model.definition)), describe(vars(model.definition)),
                tuple((name, tuple(v.shape), v.trainable) for name, v in model.params.items()),
                describe(model.constraints.arrays()), tuple(self.plastic),
                describe(type(optimizer)), describe(optimizer_settings(optimizer)),
                describe(objective.loss), describe(objective.coefficients), describe(objective.custom),
                objective.custom_weight, self.clip_mode, self.clip_norm)

    def _prepare(self, spec: tuple, trace: Callable[[], Any]) -> None:
        """Find the graph ``spec`` shared, or trace it with ``trace()``. Eager only: a trace made
        while another ``tf.function`` traces would read that function's tensors, not this
        network's state."""
        if spec not in self._functions:
            if not tf.executing_eagerly():
                raise RuntimeError(f"{spec[0]} step for shapes {spec[1]} was not prepared before tracing the caller")
            self._functions[spec] = shared(self.graph_key(*spec), trace, self, self.state, spec[0])

    def _call(self, spec: tuple, arguments: list[tf.Tensor]) -> Any:
        """Run the prepared graph ``spec`` on this network's state."""
        function = self._functions[spec]
        if isinstance(function, SharedFunction):
            return function(self._handles, arguments)
        return function(*arguments)

    def snapshot(self) -> dict[str, dict[str, np.ndarray] | np.ndarray]:
        """Everything TensorFlow holds for training: parameters, optimizer slots, noise generator states."""
        return {
            "params": self.model.numpy_weights(),
            "optimizer": {f"{i:03d}": np.asarray(v) for i, v in enumerate(self.optimizer.variables)},
            "noise": self.noise["train"].state.numpy(),
            **{f"{name}_noise": self.noise[name].state.numpy() for name in NOISE_STREAMS[1:]},
        }

    def restore(self, snapshot: dict) -> None:
        """Load a :meth:`snapshot` into this model, optimizer and noise generator."""
        for name, value in snapshot["params"].items():
            self.model.params[name].assign(value)
        slots = snapshot["optimizer"]
        if len(slots) != len(self.optimizer.variables):
            raise ValueError(f"checkpoint holds {len(slots)} optimizer variables, this optimizer has "
                             f"{len(self.optimizer.variables)}")
        for key, variable in zip(sorted(slots), self.optimizer.variables):
            variable.assign(slots[key])
        self.noise["train"].state.assign(snapshot["noise"])
        for name in NOISE_STREAMS[1:]:  # (checkpoints written before tests had their own streams lack them)
            if f"{name}_noise" in snapshot:
                self.noise[name].state.assign(snapshot[f"{name}_noise"])

    def predict(self, inputs: np.ndarray, noise: bool = True,
                stream: str = "test") -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Outputs ``[B, N_steps, N_out]``, states ``[B, N_steps, N_rec]`` and the model's recorded
        state components (name -> ``[B, N_steps, N_rec]``) of a batch of inputs.

        ``noise`` comes from the noise stream ``stream`` (``test``, or ``check`` for curriculum
        checks). Traced once per trial length with the batch size left open, so evaluation batches
        of any size share one graph.
        """
        noise = stream if noise else None
        spec = ("predict", tuple(inputs.shape[1:]), noise)
        self._prepare(spec, lambda: tf.function(self._predict, autograph=False).get_concrete_function(
            tf.TensorSpec([None, *inputs.shape[1:]], tf.float32), noise))
        outputs, states, recorded = self._call(spec, [tf.constant(inputs, tf.float32)])
        return outputs.numpy(), states.numpy(), {name: value.numpy() for name, value in recorded.items()}
