"""The speed work must not change results: batches made ahead in a thread, the loop traced in
pieces. (Timings are measured in benchmarks/, not asserted here.)"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from psychrnn_cli import compose_config
from psychrnn_cli.build import build
from psychrnn_cli.prefetch import BatchSource
from psychrnn_cli.task import Task
from tests.conftest import FAST

# noise, evaluations, and a curriculum whose accuracy stages draw from the training stream
PREFETCH_RUN = [*FAST, "task.T=300", "model.rec_noise=0.1", "train.iterations=30", "train.eval_every=5",
                "train.stop_accuracy=null", "curriculum=coherence_ramp", "curriculum.metric_every=4",
                "curriculum.metric_trials=50",
                "curriculum.stages=[{task:{coherence:0.7},threshold:0.6},{task:{coherence:0.3},threshold:0.7}]"]


class CountingSource(BatchSource):
    made_ahead = 0

    def prefetch(self, task: Task) -> None:
        super().prefetch(task)
        CountingSource.made_ahead += self.pending is not None


def _train(prefetch: bool, checkpoint_every: int = 1000) -> dict:
    """Train PREFETCH_RUN with or without prefetching; the weights, curves, curriculum, the random
    state each checkpoint would save, and how many batches were made ahead."""
    from unittest import mock

    from psychrnn_cli.training import train

    exp = build(compose_config(PREFETCH_RUN))
    exp.settings.prefetch = prefetch
    exp.settings.checkpoint_every = checkpoint_every
    saved = []

    def checkpoint(state):
        saved.append((state.iteration, exp.task.rng.bit_generator.state, exp.task.batch_count,
                      [stage.task.batch_count for stage in exp.curriculum.stages]))

    CountingSource.made_ahead = 0
    with mock.patch("psychrnn_cli.training.BatchSource", CountingSource):
        result = train(exp.steps, exp.curriculum, exp.eval_task, exp.settings, checkpoint=checkpoint)
    return {"made_ahead": CountingSource.made_ahead,"weights": exp.model.numpy_weights(), "curves": result.state.curves.arrays(),
            "stages": list(exp.curriculum.start_iterations), "checkpoints": saved,
            "after": (exp.task.rng.bit_generator.state, [stage.task.batch_count for stage in exp.curriculum.stages])}


@pytest.fixture(scope="module")
def with_and_without_prefetch() -> tuple[dict, dict]:
    return _train(prefetch=True, checkpoint_every=7), _train(prefetch=False, checkpoint_every=7)


def test_prefetching_gives_the_same_run(with_and_without_prefetch):
    ahead, inline = with_and_without_prefetch
    assert ahead["made_ahead"] >= 20 and inline["made_ahead"] == 0
    assert ahead["stages"] == inline["stages"] and ahead["stages"][1] > 0  # the curriculum did advance
    for name, value in inline["weights"].items():
        np.testing.assert_array_equal(ahead["weights"][name], value, err_msg=name)
    for name, value in inline["curves"].items():
        if name != "wall_time":
            np.testing.assert_array_equal(ahead["curves"][name], value, err_msg=name)


def test_checkpoints_and_the_end_see_the_random_state_of_the_last_batch_used(with_and_without_prefetch):
    ahead, inline = with_and_without_prefetch
    assert [c[0] for c in ahead["checkpoints"]] == [7, 14, 21, 28]
    assert ahead["checkpoints"] == inline["checkpoints"]
    assert ahead["after"] == inline["after"]


class GlobalStateTask(Task):
    """Draws from NumPy's global random state, as PsychRNN's tasks do."""

    def __init__(self) -> None:
        super().__init__(1, 1, T=50, N_batch=4)

    def generate_trial_params(self, batch, trial):
        return {"level": np.random.rand()}

    def trial_function(self, time, params):
        return np.array([params["level"]]), np.array([params["level"]]), np.ones(1)


class OwnRngTask(GlobalStateTask):
    def generate_trial_params(self, batch, trial):
        return {"level": self.rng.random()}


@pytest.mark.parametrize("task_class, made_ahead", [(OwnRngTask, True), (GlobalStateTask, False)])
def test_only_tasks_with_their_own_generator_are_made_ahead(task_class, made_ahead):
    with ThreadPoolExecutor(1) as executor:
        source = BatchSource(executor)
        task = task_class()
        source.get(task)
        source.prefetch(task)
        assert (source.pending is not None) == made_ahead
        source.get(task)
        source.close()


def test_a_batch_made_ahead_and_not_used_is_put_back():
    reference = OwnRngTask()
    reference.rng = np.random.default_rng(3)
    reference.get_trial_batch()
    expected = reference.get_trial_batch()
    task = OwnRngTask()
    task.rng = np.random.default_rng(3)
    with ThreadPoolExecutor(1) as executor:
        source = BatchSource(executor)
        source.get(task)
        source.prefetch(task)
        with source.as_of_last_used():
            assert task.batch_count == 1
        source.close()
    assert task.batch_count == 1
    np.testing.assert_array_equal(task.get_trial_batch()[0], expected[0])


@pytest.mark.parametrize("n_steps", [7, 23])
def test_loop_in_pieces_equals_stepping_one_step_at_a_time(n_steps):
    """The model runs its time loop in traced pieces of CHUNK_STEPS; a trial length that is not a
    multiple of it still gives the plain step-by-step result."""
    import tensorflow as tf

    from psychrnn_cli.network.base import CHUNK_STEPS

    assert n_steps % CHUNK_STEPS
    exp = build(compose_config(["model.transfer_function=tanh"]))
    model = exp.model
    inputs = tf.constant(np.random.default_rng(0).normal(size=(3, n_steps, model.N_in)), tf.float32)
    outputs, states = model(inputs)
    definition, ops = model.definition, model.ops
    w = definition.prepare(ops, model.effective())
    state, recorded = definition.initial_state(ops, w, tf.broadcast_to(w["init_state"], [3, model.N_rec])), []
    for drive_t in tf.unstack(model.drive(w, inputs, None), axis=1):
        state = definition.step(ops, w, state, drive_t)
        recorded.append(state[0])
    np.testing.assert_allclose(states.numpy(), tf.stack(recorded, axis=1).numpy(), rtol=1e-6, atol=1e-7)
    assert outputs.shape == (3, n_steps, model.N_out)


def test_matplotlib_works_after_tensorflow_was_imported_without_it(tmp_path):
    """psychrnn_cli.network hides matplotlib while TensorFlow imports (a faster start); a plot
    made in the same process afterwards must still work."""
    script = ("import sys, psychrnn_cli.network, tensorflow; assert 'matplotlib' not in sys.modules; "
              "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
              "plt.plot([0, 1]); plt.savefig(sys.argv[1])")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "figure.png")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "figure.png").stat().st_size > 1000
