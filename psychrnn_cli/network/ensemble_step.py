"""The training steps of several independent networks as one compiled graph (``train.ensemble``).

Each member keeps its own model, optimizer, noise generator and plastic masks (its own
:class:`~psychrnn_cli.network.step.CompiledSteps`); one ``tf.function`` calls every member's
training step, so a single graph call trains them all. The members' small matrix products are
independent operations that TensorFlow runs in parallel on the CPU's cores, which a single small
network leaves idle. (Stacking the members into rank-3 batched products, with or without XLA,
measured slower on 2 cores: benchmarks/NOTES.md.)

Members of the same shape call one traced step (:mod:`psychrnn_cli.network.shared`), each with
its own state, called (not inlined): TensorFlow traces and optimizes it once, and a member's
results do not depend on which other members share the graph.
"""

from __future__ import annotations

import tensorflow as tf

from psychrnn_cli.network.step import CompiledSteps
from psychrnn_cli.prefetch import TrainingBatch


class EnsembleSteps:
    """One compiled training step for a group of members.

    The graph holds exactly the members still training: when one stops (or a member's batches
    change shape: a curriculum stage of another trial length), the next step is a new graph of
    the others (cheap to build, since it only calls the members' shared traced steps), so a
    finished member costs nothing more.

    Args:
        members: each member's compiled steps (same model settings, different seeds).
    """

    def __init__(self, members: list[CompiledSteps]) -> None:
        self.members = members
        self.compiled: tuple = ()  # the members in the current graph and their batches' shapes
        self.graph = None

    def train_step(self, batches: dict[int, TrainingBatch]) -> dict[int, dict[str, float]]:
        """One optimizer step of each member ``k`` in ``batches`` on its batch ``(x, y, mask)``
        (float32, ``[B, N_steps, N_in|N_out]``).

        Returns each of those members' loss terms, as :meth:`CompiledSteps.train_step` does.
        """
        training = tuple(sorted(batches))
        shapes = tuple(tuple(a.shape for a in batches[k]) for k in training)
        if (training, shapes) != self.compiled:
            for k, member_shapes in zip(training, shapes):
                self.members[k].prepare_train(member_shapes)  # (eagerly: traced once per shape, or found shared)
            self.compiled, self.graph = (training, shapes), self._trace(training)
        terms = self.graph(*(tf.constant(a, tf.float32) for k in training for a in batches[k]))
        return {k: {name: float(value) for name, value in member_terms.items()}
                for k, member_terms in zip(training, terms)}

    def _trace(self, indices: tuple[int, ...]):
        members = [self.members[k] for k in indices]

        def step(*arrays: tf.Tensor) -> list[dict[str, tf.Tensor]]:
            return [member.call_train(list(arrays[3 * i:3 * i + 3])) for i, member in enumerate(members)]

        return tf.function(step, autograph=False)
