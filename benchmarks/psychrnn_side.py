"""PsychRNN 1.0.0's side of benchmarks/compare_psychrnn.py; runs in benchmarks/.venv-psychrnn.

Usage: python psychrnn_side.py '<json spec>'   (prints one line: RESULT <json>)

PsychRNN's import switches TensorFlow out of eager mode, so every measurement is its own process.
Its public API only: a task's batch_generator, the Basic model, model.train and model.test. Timing
hooks sit in a generator wrapped around the task's batches, which model.train pulls once per
iteration (plus once before its loop to learn the batch size).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import tensorflow as tf
from psychrnn.backend.models.basic import Basic
from psychrnn.tasks.delayed_discrim import DelayedDiscrimination
from psychrnn.tasks.match_to_category import MatchToCategory
from psychrnn.tasks.perceptual_discrimination import PerceptualDiscrimination
from timing import seconds_per_call

DT, TAU, T = 10, 100, 2000
TASKS = {"perceptual_discrimination": PerceptualDiscrimination, "delayed_discrimination": DelayedDiscrimination,
         "match_to_category": MatchToCategory}


class Reached(Exception):
    """Raised from the batch generator to end model.train once the criterion is met."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_model(n_rec: int, batch: int, seed: int) -> tuple[Basic, PerceptualDiscrimination]:
    np.random.seed(seed)
    tf.compat.v1.set_random_seed(seed)
    task = PerceptualDiscrimination(dt=DT, tau=TAU, T=T, N_batch=batch)
    params = task.get_task_params()
    params.update(name="benchmark", N_rec=n_rec, rec_noise=0.0)
    return Basic(params), task


def train(model: Basic, batches, iterations: int, batch: int) -> None:
    model.train(batches, {"learning_rate": 1e-3, "training_iters": (iterations + 1) * batch, "verbosity": False,
                          "loss_epoch": 10 ** 9})


def per_iteration(spec: dict) -> dict:
    """Seconds per training iteration (batch generation included), after ``warmup`` iterations."""
    model, task = make_model(spec["N_rec"], spec["batch"], spec["seed"])
    stamps = []

    def batches():
        for batch in task.batch_generator():
            stamps.append(time.perf_counter())
            yield batch

    train(model, batches(), spec["warmup"] + spec["iterations"], spec["batch"])
    # stamps[0] is the batch train() reads for its size; stamps[i + 1] - stamps[i] is iteration i
    return {"per_iteration_s": np.diff(stamps[1 + spec["warmup"]:]).tolist(), "peak_rss_mb": peak_rss_mb()}


def to_accuracy(spec: dict) -> dict:
    """Seconds from the command (``launch`` time) until an evaluation on ``eval_trials`` fresh trials
    every ``eval_every`` iterations reaches ``accuracy``; and the iterations it took."""
    model, task = make_model(50, 50, spec["seed"])
    reached: dict = {}

    def accuracy() -> float:
        correct = []
        for _ in range(spec["eval_trials"] // 50):  # PsychRNN tests batches of N_batch trials
            x, y, mask, _ = task.get_trial_batch()
            outputs, _ = model.test(x)
            correct.append(task.accuracy_function(y, outputs, mask))
        return float(np.mean(correct))

    def batches():
        iteration = 0
        for n, batch in enumerate(task.batch_generator()):
            if n >= 2:  # the previous iteration has run
                iteration += 1
                if iteration % spec["eval_every"] == 0 and accuracy() >= spec["accuracy"]:
                    reached.update(seconds=time.time() - spec["launch"], iterations=iteration)
                    raise Reached
            yield batch

    try:
        train(model, batches(), spec["max_iterations"], 50)
    except Reached:
        pass
    return {"seconds_from_launch": reached.get("seconds"), "iterations": reached.get("iterations"),
            "peak_rss_mb": peak_rss_mb()}


def generation(spec: dict) -> dict:
    """Seconds to make one batch of ``batch`` trials of a built-in task, ``repeats`` times."""
    np.random.seed(spec["seed"])
    task = TASKS[spec["task"]](dt=DT, tau=TAU, T=T, N_batch=spec["batch"])
    return {"per_batch_s": seconds_per_call(task.get_trial_batch, spec["repeats"])}


def first_iteration(spec: dict) -> dict:
    """Seconds from the command (``launch`` time) until the first training iteration has run."""
    model, task = make_model(50, 50, spec["seed"])
    done: dict = {}

    def batches():
        for n, batch in enumerate(task.batch_generator()):
            if n == 2:
                done["seconds"] = time.time() - spec["launch"]
                raise Reached
            yield batch

    try:
        train(model, batches(), 10, 50)
    except Reached:
        pass
    return {"seconds_from_launch": done["seconds"]}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    result = {"iteration": per_iteration, "to_accuracy": to_accuracy, "generation": generation,
              "first_iteration": first_iteration}[spec["kind"]](spec)
    print("RESULT " + json.dumps(result), flush=True)
