"""The training steps of several independent networks as one compiled graph (``train.ensemble``).

Each member keeps its own model, optimizer, noise generator and plastic masks (its own
:class:`~psychrnn_cli.network.step.CompiledSteps`); one ``tf.function`` trains them all.

Members of a built-in model (basic, LSTM, GRU) with the same dynamics and batches of the same
shape are *stacked*: their prepared weights, initial states and drives (each member's own, with
its own noise) become ``[K, ...]`` tensors and one time loop steps them all, its recurrent products
batched (``[K, B, N] x [K, N, N]``) and its element-wise ops shared. Each 10-step piece of that loop
is compiled with XLA, which fuses a step's element-wise ops into one pass over the stack (without
XLA the stacked loop measured no faster than separate ops: the element-wise work on ``[K, B, N]``
then runs op by op on one core). Readout, losses, gradients, clipping and optimizer steps stay per
member. Other members (custom models, a member alone with its batch shape, as when members are on
curriculum stages of different trial lengths) run their own training step as separate ops, sharing
one compiled loop that is not inlined, so TensorFlow optimizes it once instead of once per member
and per call site.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import tensorflow as tf

from psychrnn_cli.network.base import RecurrentModel, pieces
from psychrnn_cli.network.basic import BasicRNN
from psychrnn_cli.network.gated import GRU, LSTM
from psychrnn_cli.network.step import CompiledSteps
from psychrnn_cli.prefetch import TrainingBatch

STACKABLE = (BasicRNN, LSTM, GRU)  # models whose step works unchanged on stacked [K, B, N] states


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
        loops, self.stacked_loops = {}, {}
        for model in (member.model for member in members):
            key = model.dynamics_key()
            if key not in loops:
                loops[key] = model.compiled_loop()
                self.stacked_loops[key] = stacked_loop(model)
            model.loop = loops[key]
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
        members = [self.members[k] for k in indices]

        def step(*arrays: tf.Tensor) -> list[dict[str, tf.Tensor]]:
            batches = [arrays[3 * i:3 * i + 3] for i in range(len(members))]
            terms: list[dict[str, tf.Tensor] | None] = [None] * len(members)
            for group in self._stacks(members, batches):
                loop = self.stacked_loops[members[group[0]].model.dynamics_key()]
                stacked_terms = train_stacked([members[i] for i in group], [batches[i] for i in group], loop)
                for i, member_terms in zip(group, stacked_terms):
                    terms[i] = member_terms
            for i, member in enumerate(members):
                if terms[i] is None:
                    terms[i] = member._train_step(*batches[i])
            return terms

        return tf.function(step, autograph=False)

    @staticmethod
    def _stacks(members: list[CompiledSteps], batches: list[tuple[tf.Tensor, ...]]) -> list[list[int]]:
        """Positions of the members to stack: groups of two or more members of a built-in model with
        equal dynamics and equal batch shapes (static shapes of the traced batches).

        One stack per group: split into two stacks run side by side (one per core) measured no
        faster, and a member's results then depended in the last bits on the other members of its
        stack, which a resumed ensemble whose finished members are gone would not reproduce.
        """
        groups = defaultdict(list)
        for i, (member, batch) in enumerate(zip(members, batches)):
            if type(member.model) in STACKABLE:
                groups[(member.model.dynamics_key(), *(tuple(a.shape) for a in batch))].append(i)
        return [group for group in groups.values() if len(group) > 1]


def stacked_loop(model: RecurrentModel) -> Callable:
    """``model``'s :meth:`~RecurrentModel.run_steps` on K stacked members (weights ``[K, ...]``,
    states ``[K, B, N_rec]``, drive ``[K, B, n, G*N_rec]``), compiled with XLA."""
    return tf.function(lambda w, state, drive: model.run_steps(w, state, drive, time_axis=2), autograph=False,
                       jit_compile=True)


def stacked_forward(members: list[CompiledSteps], inputs: list[tf.Tensor],
                    loop: Callable) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
    """Each member's outputs ``[B, N_steps, N_out]`` and states ``[B, N_steps, N_rec]`` as its
    model's ``__call__`` computes them with training noise, the time loop run once on the stack.

    Weights, initial states, drives (with each member's own noise draws) and the readout are each
    member's own; only the loop over time is shared.
    """
    models = [member.model for member in members]
    weights = [model.prepare(model.effective()) for model in models]
    batch_size = tf.shape(inputs[0])[0]
    starts = [model.initial_state(w, batch_size) for model, w in zip(models, weights)]
    drives = [model.drive(w, x, member._noise(x, member.noise["train"]))
              for model, w, x, member in zip(models, weights, inputs, members)]
    w = {name: tf.stack([member_w[name] for member_w in weights]) for name in weights[0]}
    state = tuple(tf.stack(parts) for parts in zip(*starts))
    drive = tf.stack(drives)
    recorded = []
    for piece in tf.split(drive, pieces(drive.shape[2]), axis=2):
        state, states = loop(w, state, piece)
        recorded.append(states)
    states = tf.unstack(tf.concat(recorded, axis=2))
    outputs = [model.readout(member_w, s) for model, s, member_w in zip(models, states, weights)]
    return outputs, states


def train_stacked(members: list[CompiledSteps], batches: list[tuple[tf.Tensor, ...]],
                  loop: Callable) -> list[dict[str, tf.Tensor]]:
    """One optimizer step of each member on its batch ``(x, y, mask)``, the time loop stacked;
    every member's loss terms and update are its own (:meth:`CompiledSteps.loss_terms`,
    :meth:`CompiledSteps.apply_gradients`)."""
    with tf.GradientTape() as tape:
        outputs, states = stacked_forward(members, [batch[0] for batch in batches], loop)
        terms = [member.loss_terms(member_outputs, member_states, targets, mask)
                 for member, (_, targets, mask), member_outputs, member_states in zip(members, batches, outputs, states)]
        # members share no variables: the gradient of the sum is each member's own gradient
        total = tf.add_n([tf.add_n(list(member_terms.values())) for member_terms in terms])
    grads = tape.gradient(total, [[*member.variables.values()] for member in members])
    for member, member_grads in zip(members, grads):
        member.apply_gradients(member_grads)
    return terms
