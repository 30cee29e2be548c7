"""The training steps of several independent networks, run side by side (``train.ensemble``).

Each member keeps its own model, optimizer, noise generator and plastic masks (its own
:class:`~psychrnn_cli.network.step.CompiledSteps`). Members of the same shape run one traced step
(:mod:`psychrnn_cli.network.shared`), each on its own state, so TensorFlow traces and optimizes
it once however many members there are. One thread per core calls its share of the members' steps
(TensorFlow releases Python's lock while a step runs), so the members' small operations keep every
core busy, which a single small network does not. (Stacking the members into rank-3 batched
products, with or without XLA, measured slower on 2 cores; one graph calling every member's step
measured as fast per iteration but had to be rebuilt and optimized again, seconds each time,
whenever a member stopped: benchmarks/NOTES.md.)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tensorflow as tf

from psychrnn_cli.network.step import CompiledSteps
from psychrnn_cli.prefetch import TrainingBatch


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class EnsembleSteps:
    """The training steps of a group of members, one call per iteration; a context manager (its
    threads end on exit).

    Only the members given a batch step: a member that stopped costs nothing from the next
    iteration on. A member's results do not depend on which other members train beside it.

    Args:
        members: each member's compiled steps (same model settings, different seeds).
        threads: threads calling the members' steps (default: one per core).
    """

    def __init__(self, members: list[CompiledSteps], threads: int | None = None) -> None:
        self.members = members
        self.threads = max(1, min(threads or cores(), len(members)))
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ensemble-step")

    def __enter__(self) -> EnsembleSteps:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pool.shutdown()

    def train_step(self, batches: dict[int, TrainingBatch]) -> dict[int, dict[str, float]]:
        """One optimizer step of each member ``k`` in ``batches`` on its batch ``(x, y, mask)``
        (float32, ``[B, N_steps, N_in|N_out]``).

        Returns each of those members' loss terms, as :meth:`CompiledSteps.train_step` does.
        """
        keys = sorted(batches)
        arrays = {k: [tf.constant(a, tf.float32) for a in batches[k]] for k in keys}
        for k in keys:  # traced here, in this thread, when a member's shape is new to the process
            self.members[k].prepare_train(tuple(tuple(a.shape) for a in arrays[k]))

        def run(share: list[int]) -> dict[int, dict[str, float]]:
            return {k: {name: float(value) for name, value in self.members[k].call_train(arrays[k]).items()}
                    for k in share}

        terms: dict[int, dict[str, float]] = {}
        for done in self.pool.map(run, [keys[i::self.threads] for i in range(self.threads)]):
            terms.update(done)
        return terms
