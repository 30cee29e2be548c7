"""One traced training step per model shape: shared by an ensemble's members and by in-process runs."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from psychrnn_cli import load_run, train
from tests.conftest import FAST

# a shape no other test trains (N_rec 13), so the first run here traces and the cache is not warm
RUN = [*FAST, "model.N_rec=13", "task.T=200", "train.iterations=4", "train.eval_every=2", "train.stop_accuracy=null"]


@pytest.fixture(scope="module")
def traces():
    from psychrnn_cli.network.shared import TRACES

    return TRACES


def test_ensemble_traces_once_and_later_runs_of_the_shape_reuse_it(traces, tmp_path):
    before = dict(traces)
    ensemble = train([*RUN, "train.ensemble=3"], run_dir=tmp_path / "ensemble")
    assert traces["train"] - before.get("train", 0) == 1, "3 members of one shape: one trace of the step"
    assert traces["predict"] - before.get("predict", 0) == 1, "evaluations of the 3 members: one trace"

    after_ensemble = dict(traces)
    solo = load_run(train([*RUN, "seed=1"], run_dir=tmp_path / "solo"))  # an in-process run of the same shape
    assert dict(traces) == after_ensemble
    member = load_run(ensemble / "seed_1")
    for name, value in solo["model"]["weights"].items():
        np.testing.assert_array_equal(member["model"]["weights"][name], value, err_msg=name)

    train([*RUN, "optimizer.learning_rate=0.002", "train.iterations=2"], run_dir=tmp_path / "rate")
    assert dict(traces) == after_ensemble, "a constant learning rate is a variable, not part of the graph"

    train([*RUN, "model.N_rec=14"], run_dir=tmp_path / "other")  # another shape: its own trace
    assert traces["train"] == after_ensemble["train"] + 1


def test_keys_tell_apart_what_changes_the_graph():
    from psychrnn_cli.network.losses import bce, mse
    from psychrnn_cli.network.shared import describe

    assert describe(functools.partial(mse)) == describe(functools.partial(mse))
    assert describe(functools.partial(mse)) != describe(functools.partial(bce))
    assert describe({"a": np.ones(3)}) == describe({"a": np.ones(3)})
    assert describe({"a": np.ones(3)}) != describe({"a": np.array([1.0, 1.0, 0.0])})
    assert describe(np.float32(0.5)) == describe(0.5)

    def closure(scale):
        return lambda x: scale * x

    first, second = closure(1.0), closure(2.0)
    assert describe(first) != describe(second)  # closures are told apart by identity


def test_a_shared_step_trains_as_the_networks_own_traced_step():
    """Two networks built alike; one steps through the shared trace, the other through a step traced
    for it alone: same weights after 3 steps, and the weights moved."""
    import tensorflow as tf

    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build

    config = compose_config(["model.N_rec=11", "task.T=200", "seed=3"])
    shared_run, own_run = build(config), build(config)
    batches = [shared_run.task.get_trial_batch()[:3] for _ in range(3)]
    initial = shared_run.model.numpy_weights()
    own_step = tf.function(own_run.steps._train_step, autograph=False)
    for batch in batches:
        shared_run.steps.train_step(*batch)
        own_step(*(tf.constant(a, tf.float32) for a in batch))
    for name, value in own_run.model.numpy_weights().items():
        np.testing.assert_array_equal(shared_run.model.numpy_weights()[name], value, err_msg=name)
    assert not np.array_equal(shared_run.model.numpy_weights()["W_rec"], initial["W_rec"])
    outputs, _, _ = shared_run.steps.predict(batches[0][0], noise=False)
    np.testing.assert_allclose(outputs, own_run.model(tf.constant(batches[0][0], tf.float32))[0].numpy(), rtol=1e-5,
                               atol=1e-6)
