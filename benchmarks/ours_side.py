"""psychrnn-cli's side of benchmarks/compare_psychrnn.py (runs in the project's environment).

Usage: python ours_side.py '<json spec>'   (prints one line: RESULT <json>)

Every measurement goes through the normal paths: ``psychrnn train`` (the CLI's ``main``, in this
process, so that the time from the command counts Hydra, building and tracing) or the Python API
``psychrnn_cli.train``. Timing hooks: a wrapper around ``CompiledSteps.train_step`` (stamps
after every training step, so the time between stamps is a whole iteration: batch, step,
bookkeeping) and a logging handler that sees the evaluations.
"""

from __future__ import annotations

import json
import logging
import re
import resource
import sys
import tempfile
import time

import numpy as np

from psychrnn_cli.cli import main as psychrnn
from timing import seconds_per_call

SETTINGS = ["task=perceptual_discrimination", "task.dt=10", "task.tau=100", "task.T=2000", "optimizer=adam",
            "optimizer.learning_rate=0.001", "model.rec_noise=0.0", "train.progress=false"]


class Reached(BaseException):
    """Raised from the step hook to end training once the first iteration has run."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stamp_steps(stamps: list[float], stop_after: int | None = None) -> None:
    """Record the time after every training step (and stop training after ``stop_after`` steps)."""
    from psychrnn_cli.network.step import CompiledSteps

    step = CompiledSteps.train_step

    def timed(self, *args):
        terms = step(self, *args)
        stamps.append(time.perf_counter())
        if stop_after is not None and len(stamps) >= stop_after:
            raise Reached
        return terms

    CompiledSteps.train_step = timed


def per_iteration(spec: dict) -> dict:
    """Seconds per training iteration (trial generation included), after ``warmup`` iterations."""
    stamps: list[float] = []
    stamp_steps(stamps)
    with tempfile.TemporaryDirectory() as run_dir:
        psychrnn(["train", *SETTINGS, f"model.N_rec={spec['N_rec']}", f"train.batch_size={spec['batch']}",
                  f"seed={spec['seed']}", f"train.iterations={spec['warmup'] + spec['iterations'] + 1}",
                  "train.eval_every=1000000", "train.checkpoint_every=1000000", "train.stop_accuracy=null",
                  "train.test_trials=50", "train.save_trials=1", f"hydra.run.dir={run_dir}"])
    return {"per_iteration_s": np.diff(stamps[spec["warmup"]:]).tolist(), "peak_rss_mb": peak_rss_mb()}


class Evaluations(logging.Handler):
    """Times and values of the training loop's evaluations (its log lines)."""

    PATTERN = re.compile(r"iteration (\d+) \(stage \d+\): loss [\d.e+-]+, accuracy ([\d.]+)")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.match(record.getMessage())
        if match:
            self.seen.append((record.created, int(match[1]), float(match[2])))


def to_accuracy(spec: dict) -> dict:
    """Seconds from the command (``launch`` time) until an evaluation on ``eval_trials`` fresh
    trials every ``eval_every`` iterations reaches ``accuracy``; the iterations it took; and the
    time until the run file was written."""
    evaluations = Evaluations()
    logging.getLogger("psychrnn_cli").addHandler(evaluations)
    with tempfile.TemporaryDirectory() as run_dir:
        psychrnn(["train", *SETTINGS, "model.N_rec=50", "train.batch_size=50", f"seed={spec['seed']}",
                  f"train.iterations={spec['max_iterations']}", f"train.eval_every={spec['eval_every']}",
                  f"train.eval_trials={spec['eval_trials']}", f"train.stop_accuracy={spec['accuracy']}",
                  f"hydra.run.dir={run_dir}"])
        finished = time.time() - spec["launch"]
    reached = [(t, i) for t, i, accuracy in evaluations.seen if accuracy >= spec["accuracy"]]
    return {"seconds_from_launch": reached[0][0] - spec["launch"] if reached else None,
            "iterations": reached[0][1] if reached else None, "run_file_s": finished, "peak_rss_mb": peak_rss_mb()}


def generation(spec: dict) -> dict:
    """Seconds to make one batch of ``batch`` trials of a built-in task, ``repeats`` times."""
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build_task

    task = build_task(compose_config([f"task={spec['task']}"]).task, spec["batch"], np.random.default_rng(spec["seed"]))
    return {"per_batch_s": seconds_per_call(task.get_trial_batch, spec["repeats"])}


def first_iteration(spec: dict) -> dict:
    """Seconds from the command (``launch`` time) until the first training iteration has run."""
    stamps: list[float] = []
    stamp_steps(stamps, stop_after=1)
    with tempfile.TemporaryDirectory() as run_dir:
        try:
            psychrnn(["train", *SETTINGS, "model.N_rec=50", "train.batch_size=50", f"seed={spec['seed']}",
                      f"hydra.run.dir={run_dir}"])
        except Reached:
            pass
    return {"seconds_from_launch": stamps[0] - time.perf_counter() + time.time() - spec["launch"]}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    result = {"iteration": per_iteration, "to_accuracy": to_accuracy, "generation": generation,
              "first_iteration": first_iteration}[spec["kind"]](spec)
    print("RESULT " + json.dumps(result), flush=True)
