"""The training steps of several independent networks as one compiled graph (``train.ensemble``).

Each member keeps its own model, optimizer, noise generator and plastic masks (its own
:class:`~psychrnn_cli.network.step.CompiledSteps`); one ``tf.function`` calls every member's
training step, so a single graph call trains them all. The members' small matrix products are
independent operations that TensorFlow runs in parallel on the CPU's cores, which a single small
network leaves idle. (Stacking the members into rank-3 batched products, with or without XLA,
measured slower on 2 cores: benchmarks/NOTES.md.)

Members with the same dynamics share one compiled time loop (see
:meth:`~psychrnn_cli.network.base.RecurrentModel.compiled_loop`), so TensorFlow optimizes it
once instead of once per member.
"""

from __future__ import annotations

import tensorflow as tf

from psychrnn_cli.network.step import CompiledSteps
from psychrnn_cli.prefetch import TrainingBatch


class EnsembleSteps:
    """One compiled training step for a group of members.

    Members that stop training early (each has its own stopping rules) stay in the compiled
    graph, stepping on their last batch with results discarded, until at most half of the graph's
    members are still training; then a graph of the remaining ones is traced. That keeps the
    number of traces near log2(K) however the members finish.

    Args:
        members: each member's compiled steps (same model settings, different seeds).
    """

    def __init__(self, members: list[CompiledSteps]) -> None:
        self.members = members
        loops = {}
        for model in (member.model for member in members):
            key = model.dynamics_key()
            if key not in loops:
                loops[key] = model.compiled_loop()
            model.loop = loops[key]
        # each member's step is its own function, called (not inlined), so TensorFlow optimizes it
        # the same way whichever members share the graph: a member's results do not depend on them
        self.member_steps = [
            tf.function(member._train_step, autograph=False, experimental_attributes={"_noinline": True})
            for member in members
        ]
        self.compiled: tuple[int, ...] = ()  # the members in the current graph
        self.graph = None
        self.last_batch: dict[int, tuple[tf.Tensor, ...]] = {}

    def train_step(self, batches: dict[int, TrainingBatch]) -> dict[int, dict[str, float]]:
        """One optimizer step of each member ``k`` in ``batches`` on its batch ``(x, y, mask)``
        (float32, ``[B, N_steps, N_in|N_out]``).

        Returns each of those members' loss terms, as :meth:`CompiledSteps.train_step` does.
        """
        training = tuple(sorted(batches))
        if not set(training) <= set(self.compiled) or 2 * len(training) <= len(self.compiled):
            self.compiled, self.graph = training, self._trace(training)
        for k, batch in batches.items():
            self.last_batch[k] = tuple(tf.constant(a, tf.float32) for a in batch)
        terms = self.graph(*(a for k in self.compiled for a in self.last_batch[k]))
        return {k: {name: float(value) for name, value in member_terms.items()}
                for k, member_terms in zip(self.compiled, terms) if k in batches}

    def _trace(self, indices: tuple[int, ...]):
        member_steps = [self.member_steps[k] for k in indices]

        def step(*arrays: tf.Tensor) -> list[dict[str, tf.Tensor]]:
            return [member_step(*arrays[3 * i:3 * i + 3]) for i, member_step in enumerate(member_steps)]

        return tf.function(step, autograph=False)
