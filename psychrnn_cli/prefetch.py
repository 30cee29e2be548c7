"""Training batches made one iteration ahead, in a background thread. NumPy only.

While TensorFlow runs a training step (without holding Python's global interpreter lock), a
worker thread makes the next batch, so the loop does not wait for trial generation (which then
costs no time at all where the step leaves a core free). The batch sequence stays exactly what it
would be without the thread:

- the loop asks for a batch ahead only when it will be the next draw from that task's random
  stream (not before a curriculum check, which draws from the same stream, nor after the last
  iteration: see :meth:`psychrnn_cli.training.Trainer.next_batch`);
- only tasks that draw from their own ``rng`` are made ahead: a task whose first batch changes
  NumPy's global random state (PsychRNN-style tasks using ``np.random``) is always made in the main
  thread, in order with everything else that draws from that state;
- checkpoints see the random state as of the last batch the loop used
  (:meth:`BatchSource.as_of_last_used`), and :meth:`BatchSource.close` puts a batch that was made
  but never used back (its draws undone).

A task's random state here means what checkpoints save: its ``rng`` and ``batch_count``.

The worker is a daemon thread (:class:`BatchWorker`), so a task that hangs in it never keeps the
process alive: a second Ctrl-C ends the run at once (:meth:`BatchSource.drop` leaves the batch).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from psychrnn_cli.task import Task

TrainingBatch = tuple[np.ndarray, np.ndarray, np.ndarray]  # inputs, targets, mask as float32


@dataclass
class _Pending:
    task: Task
    future: Future
    rng_state: dict[str, Any]  # the task's state before the batch was drawn
    batch_count: int


def make_batch(task: Task) -> TrainingBatch:
    """A training batch of ``task`` as float32 arrays (what the compiled step takes)."""
    x, y, mask, _ = task.get_trial_batch()
    return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False), mask.astype(np.float32, copy=False)


def global_state_key() -> tuple[int, bytes]:
    """NumPy's global random state, comparable: it changed if and only if something drew from it."""
    _, keys, position, *_ = np.random.get_state()
    return position, keys.tobytes()


class BatchWorker:
    """One daemon thread that runs submitted functions in order (an executor with ``submit``).

    Unlike ``ThreadPoolExecutor``'s thread, it is never joined: not when the block ends, not when
    the interpreter exits, so a function that never returns cannot hang the process.
    """

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._work, name="psychrnn-batches", daemon=True).start()

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Run ``function(*args)`` after the jobs already submitted; its future."""
        future: Future = Future()
        self.jobs.put((future, function, args))
        return future

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            future, function, args = job
            try:
                future.set_result(function(*args))
            except BaseException as err:  # handed to the thread that waits for the result
                future.set_exception(err)

    def __enter__(self) -> BatchWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.jobs.put(None)  # the thread ends after its current job, if that ever returns


class BatchSource:
    """Training batches of one run; :meth:`prefetch` makes the next one in ``executor``'s thread.

    Args:
        executor: the worker thread (a :class:`BatchWorker`, may be shared by the members of an
            ensemble), or None to make every batch in the calling thread.
        make: makes a batch of a task (default :func:`make_batch`; reward-based training makes
            inputs and reward tables).

    Attributes:
        waiting: the task whose batch :meth:`get` is waiting for (None when it is not), kept when
            the wait is interrupted, so that messages can say what was stuck.
    """

    def __init__(self, executor: BatchWorker | None, make: Callable[[Task], TrainingBatch] = make_batch) -> None:
        self.executor = executor
        self.make = make
        self.pending: _Pending | None = None
        self.own_rng: dict[int, bool] = {}  # id(task) -> its batches leave NumPy's global state alone
        self.waiting: Task | None = None

    def get(self, task: Task) -> TrainingBatch:
        """The next batch of ``task``: the one made ahead if there is one, else made now."""
        self.waiting = task
        batch = self._get(task)
        self.waiting = None
        return batch

    def _get(self, task: Task) -> TrainingBatch:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            if pending.task is task:
                return pending.future.result()
            self._undo(pending)
        if id(task) in self.own_rng:
            return self.make(task)
        before = global_state_key()
        batch = self.make(task)
        self.own_rng[id(task)] = global_state_key() == before
        return batch

    def prefetch(self, task: Task) -> None:
        """Start making the next batch of ``task`` (if it draws only from its own ``rng``)."""
        if self.executor is None or not self.own_rng.get(id(task)) or self.pending is not None:
            return
        rng_state, batch_count = task.rng.bit_generator.state, task.batch_count  # before the thread starts
        self.pending = _Pending(task, self.executor.submit(self.make, task), rng_state, batch_count)

    @contextlib.contextmanager
    def as_of_last_used(self) -> Iterator[None]:
        """Inside the block, the task of a batch made ahead has its random state from before that batch."""
        pending = self.pending
        if pending is None:
            yield
            return
        with contextlib.suppress(Exception):
            pending.future.result()
        task = pending.task
        ahead = task.rng.bit_generator.state, task.batch_count
        task.rng.bit_generator.state, task.batch_count = pending.rng_state, pending.batch_count
        try:
            yield
        finally:
            task.rng.bit_generator.state, task.batch_count = ahead

    def drop(self) -> None:
        """Forget a batch being made ahead without waiting for it (its draws stay done): after a
        second Ctrl-C, when no checkpoint follows."""
        self.pending = None

    def close(self) -> None:
        """Drop a batch made ahead and never used, undoing its draws."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self._undo(pending)

    @staticmethod
    def _undo(pending: _Pending) -> None:
        with contextlib.suppress(Exception):  # a failure in a batch nobody uses is nobody's error
            pending.future.result()
        pending.task.rng.bit_generator.state = pending.rng_state
        pending.task.batch_count = pending.batch_count
