"""The compiled training step and forward pass."""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from psychrnn_cli.network.basic import BasicRNN

LossFunction = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


class CompiledSteps:
    """A model's ``train_step`` and ``predict`` as ``tf.function`` graphs.

    Args:
        model: the network.
        optimizer: a Keras optimizer (clipping arguments unset: clipping happens here).
        loss: ``(outputs, targets, mask) -> scalar``.
        clip: ``("per_tensor" | "global_norm" | "none", norm)``.
        seed: seed of the recurrent-noise generator.
    """

    def __init__(self, model: BasicRNN, optimizer, loss: LossFunction, clip: tuple[str, float], seed: int) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.clip_mode, self.clip_norm = clip
        self.noise = tf.random.Generator.from_seed(seed)
        self._train_graph = tf.function(self._train_step, autograph=False)
        self._predict_graph = tf.function(self._predict, autograph=False)
        self._predict_shapes: set[tuple] = set()

    def _noise(self, inputs: tf.Tensor) -> tf.Tensor | None:
        if self.model.rec_noise == 0:
            return None
        shape = tf.concat([tf.shape(inputs)[:2], [self.model.N_rec]], axis=0)
        return self.noise.normal(shape)

    def _clip(self, grads: list[tf.Tensor]) -> list[tf.Tensor]:
        if self.clip_mode == "per_tensor":
            return [tf.clip_by_norm(g, self.clip_norm) for g in grads]
        if self.clip_mode == "global_norm":
            return tf.clip_by_global_norm(grads, self.clip_norm)[0]
        return grads

    def _train_step(self, inputs: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        variables = self.model.trainable_params
        with tf.GradientTape() as tape:
            outputs, _ = self.model(inputs, self._noise(inputs))
            loss = self.loss(outputs, targets, mask)
        grads = self._clip(tape.gradient(loss, variables))
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss

    def _predict(self, inputs: tf.Tensor, noise: bool) -> tuple[tf.Tensor, tf.Tensor]:
        return self.model(inputs, self._noise(inputs) if noise else None)

    def train_step(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
        """One optimizer step on a batch ``[B, N_steps, N_in|N_out]``; returns the batch loss."""
        return float(self._train_graph(*(tf.constant(a, tf.float32) for a in (inputs, targets, mask))))

    def predict(self, inputs: np.ndarray, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``[B, N_steps, N_out]`` and states ``[B, N_steps, N_rec]`` of a batch of inputs.

        Traced once per trial length with the batch size left open, so evaluation batches of
        any size share one graph.
        """
        key = (inputs.shape[1:], noise)
        if key not in self._predict_shapes:
            self._predict_graph.get_concrete_function(tf.TensorSpec([None, *inputs.shape[1:]], tf.float32), noise)
            self._predict_shapes.add(key)
        outputs, states = self._predict_graph(tf.constant(inputs, tf.float32), noise)
        return outputs.numpy(), states.numpy()
