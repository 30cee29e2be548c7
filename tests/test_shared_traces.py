"""One traced training step per model shape: shared by an ensemble's members and by in-process runs.

Each test trains a shape (``model.N_rec``) no other test trains, so the traces it counts are its own
however the tests are ordered; the members and solo runs compared bit for bit run in this process.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from psychrnn_cli import load_run, train
from tests.conftest import FAST

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

    namespace: dict = {}
    exec("def loss(outputs, targets, mask):\n    return outputs", namespace)  # a notebook cell ...
    old = namespace["loss"]
    exec("def loss(outputs, targets, mask):\n    return 2 * outputs", namespace)  # ... run again, edited
    assert (old.__module__, old.__qualname__) == (namespace["loss"].__module__, namespace["loss"].__qualname__)
    assert describe(old) != describe(namespace["loss"])

    from psychrnn_cli.network.reinforce import ActorCritic

    assert describe(ActorCritic()) == describe(ActorCritic())  # dataclasses by their fields
    assert describe(ActorCritic()) != describe(ActorCritic(discount=0.9))


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


def arrays_of(node: dict) -> dict[str, np.ndarray]:
    """The arrays of a loaded run-file group and its subgroups, by path (attributes and the curves'
    wall time left out)."""
    out = {}
    for name, value in node.items():
        if isinstance(value, dict) and name != "attrs":
            out.update({f"{name}/{key}": array for key, array in arrays_of(value).items()})
        elif isinstance(value, np.ndarray) and value.dtype.kind in "fiub" and name != "wall_time":
            out[name] = value
    return out


def members_trace_once_and_equal_solo_runs(run: list[str], tmp_path, traces) -> dict[str, int]:
    """Train seeds 1 and 2 as an ensemble, then seed 2 alone in this process: the solo run traces
    nothing, and its weights (and critic's), curves and test trials equal the member's bit for bit.
    Returns the traces the ensemble made, by kind."""
    before = dict(traces)
    ensemble = train([*run, "seed=1", "train.ensemble=2"], run_dir=tmp_path / "ensemble")
    made = {kind: count - before.get(kind, 0) for kind, count in traces.items() if count != before.get(kind, 0)}
    after = dict(traces)
    solo = load_run(train([*run, "seed=2"], run_dir=tmp_path / "solo"))
    assert dict(traces) == after, "a later run of the shape traces nothing"
    member = load_run(ensemble / "seed_2")
    for group in ("model", "training", "trials"):
        expected, got = arrays_of(solo[group]), arrays_of(member[group])
        assert expected and got.keys() == expected.keys(), group
        for name, value in expected.items():
            np.testing.assert_array_equal(got[name], value, err_msg=f"{group}/{name}")
    return made


REWARD = [*FAST, "algorithm=actor_critic", "model.rec_noise=0.05", "task.T=200", "train.batch_size=16",
          "train.eval_trials=32", "train.test_trials=32", "train.iterations=4", "train.eval_every=2",
          "train.stop_accuracy=null"]


@pytest.mark.parametrize("critic", [["model.N_rec=15"], ["model.N_rec=16", "algorithm.critic=network",
                                                         "algorithm.critic_N_rec=6"]], ids=["readout", "network"])
def test_reward_training_traces_its_step_and_evaluation_once(critic, traces, tmp_path):
    made = members_trace_once_and_equal_solo_runs([*REWARD, *critic], tmp_path, traces)
    assert made == {"train": 1, "evaluate": 1}, made


@pytest.mark.parametrize("overrides", [
    ["task=multitask", "task.tasks=[perceptual_discrimination,delayed_discrimination]", "task.T=400",
     "model.N_rec=17"],
    ["task=block_prior", "task.T=400", "task.trials_per_sequence=3", "train.batch_size=8", "train.eval_trials=8",
     "train.test_trials=8", "model.N_rec=18"],
    ["model=adapting", "model.N_rec=19", "model.train_strength=true"],
    ["model=stp", "model.N_rec=21"],
    ["model=plastic", "model.N_rec=24"],
    ["model=spiking", "model.N_rec=25"],
], ids=["multitask", "sequences", "adapting", "stp", "plastic", "spiking"])
def test_tasks_and_models_of_other_kinds_trace_once(overrides, traces, tmp_path):
    """Multi-task batches, trial sequences and models that record state components (adapting: a
    trained strength too; plastic: trained Hebbian parameters; spiking: loop pieces recomputed in
    the backward pass) share their traces like the basic model on one task."""
    run = [*RUN, "model.rec_noise=0.05", *overrides]
    made = members_trace_once_and_equal_solo_runs(run, tmp_path, traces)
    assert made == {"train": 1, "predict": 1}, made


def test_each_member_keeps_its_own_fixed_entries(traces, tmp_path):
    """Fixed entries are reset to the network's own initial values after every step (weight decay
    would move them), not to those of the network the step was traced for."""
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build

    run = [*RUN, "model.N_rec=9", "constraints.fixed_outgoing=0.3", "optimizer._target_=keras.optimizers.AdamW",
           "+optimizer.weight_decay=0.5", "optimizer.learning_rate=0.01"]
    made = members_trace_once_and_equal_solo_runs(run, tmp_path, traces)
    assert made == {"train": 1, "predict": 1}, made
    for seed in (1, 2):
        initial = build(compose_config([*run, f"seed={seed}"])).steps
        trained = load_run(tmp_path / "ensemble" / f"seed_{seed}")["model"]["weights"]
        for name, plastic in initial.model.constraints.plastic.items():
            fixed, start = plastic == 0, initial.model.numpy_weights()[name]
            assert fixed.any() and np.all(start[fixed] != 0)
            np.testing.assert_array_equal(trained[name][fixed], start[fixed], err_msg=f"seed {seed} {name}")
            assert not np.array_equal(trained[name][~fixed], start[~fixed])


@functools.cache
def _scale():
    import tensorflow as tf

    with tf.init_scope():  # made eagerly, outside the trace that first calls for it
        return tf.fill([200], 1e-4)  # large enough to be captured as an input of the trace, not as a constant


def captured_tensor_penalty(weights, rates, outputs):
    """A custom regularizer that reads a tensor of its own, outside every network's state."""
    import tensorflow as tf

    return tf.reduce_sum(_scale()) * tf.reduce_mean(tf.square(rates))


def test_a_step_that_reads_a_tensor_outside_the_networks_state_is_traced_per_network(traces, tmp_path):
    """It cannot be shared safely: each network traces its own (the fallback), with the same results."""
    run = [*RUN, "model.N_rec=22", "regularizer.custom=tests.test_shared_traces.captured_tensor_penalty"]
    before = traces["train"]
    ensemble = train([*run, "seed=1", "train.ensemble=2"], run_dir=tmp_path / "ensemble")
    assert traces["train"] == before + 2
    solo = load_run(train([*run, "seed=2"], run_dir=tmp_path / "solo"))
    assert traces["train"] == before + 3
    member = load_run(ensemble / "seed_2")
    assert "custom" in member["training"]
    for name, value in solo["model"]["weights"].items():
        np.testing.assert_array_equal(member["model"]["weights"][name], value, err_msg=name)


def test_compat_networks_of_one_shape_trace_once(traces):
    """PsychRNN-style scripts build a new network (and compiled steps) for every ``train`` call."""
    from psychrnn_cli.compat.backend.models.basic import Basic
    from psychrnn_cli.compat.tasks.perceptual_discrimination import PerceptualDiscrimination

    np.random.seed(3)
    task = PerceptualDiscrimination(dt=10, tau=100, T=300, N_batch=8)
    params = {**task.get_task_params(), "name": "first", "N_rec": 23}
    before = traces["train"]
    first = Basic(params)
    first.train(task, {"training_iters": 24, "verbosity": False})
    assert traces["train"] == before + 1
    second = Basic({**params, "name": "second"})
    second.train(task, {"training_iters": 24, "verbosity": False})
    first.train(task, {"training_iters": 24, "verbosity": False})  # (continued: new compiled steps, same shape)
    assert traces["train"] == before + 1
    assert not np.array_equal(first.get_weights()["W_rec"], second.get_weights()["W_rec"])
