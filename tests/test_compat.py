"""PsychRNN's Python API on the new engine (psychrnn_cli.compat): the calls PsychRNN's tutorial
notebooks make, in scripts of our own, with PsychRNN's return values, printing and file format.

One small network is trained once for the module (``trained``); the notebooks' own sizes run in
the slow tests."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli.compat.backend.curriculum import Curriculum, default_metric
from psychrnn_cli.compat.backend.initializations import CompatError
from psychrnn_cli.compat.backend.models.basic import Basic
from psychrnn_cli.compat.backend.rnn import RNN
from psychrnn_cli.compat.backend.simulation import BasicSimulator
from psychrnn_cli.compat.tasks.delayed_discrim import DelayedDiscrimination
from psychrnn_cli.compat.tasks.match_to_category import MatchToCategory
from psychrnn_cli.compat.tasks.perceptual_discrimination import PerceptualDiscrimination
from psychrnn_cli.compat.tasks.task import Task

REPO = Path(__file__).resolve().parents[1]
SMALL = {"dt": 10, "tau": 100, "T": 500, "N_batch": 16}  # 50 steps


def small_params(task: Task, **extra) -> dict:
    return {**task.get_task_params(), "name": "net", "N_rec": 16, **extra}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 16-unit network trained for 6 updates (training_iters = 5 batches + 1 trial), loss every
    2 updates, the last 4 rows of W_rec fixed, printing on, written as a run directory ``dir/run``;
    with its initial weights and printed output."""
    np.random.seed(1)
    task = PerceptualDiscrimination(**SMALL)
    model = Basic(small_params(task))
    initial = model.get_weights()
    fixed = np.zeros((16, 16))
    fixed[-4:] = 1
    printed = io.StringIO()
    folder = tmp_path_factory.mktemp("compat")
    with contextlib.redirect_stdout(printed):
        result = model.train(task, {"training_iters": 5 * 16 + 1, "loss_epoch": 2, "learning_rate": 0.01,
                                    "fixed_weights": {"W_rec": fixed}}, run_dir=folder / "run")
    return {"task": task, "model": model, "initial": initial, "result": result, "printed": printed.getvalue(),
            "dir": folder}


def test_train_returns_losses_and_times_and_counts_trials(trained):
    losses, training_time, initialization_time = trained["result"]
    assert len(losses) == 3  # ceil(81 / 16) = 6 updates, a loss every 2
    assert all(np.isfinite(losses)) and training_time > 0 and initialization_time > 0
    lines = trained["printed"].splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == ["Iter 32", "Iter 64", "Iter 96"]
    assert lines[0].startswith("Iter 32, Minibatch Loss= ") and lines[-1] == "Optimization finished!"


def test_fixed_weights_stay_and_the_others_train(trained):
    before, after = trained["initial"]["W_rec"], trained["model"].get_weights()["W_rec"]
    np.testing.assert_array_equal(after[-4:], before[-4:])
    assert not np.allclose(after[:-4], before[:-4])


def test_verbosity_false_prints_nothing(capsys):
    np.random.seed(2)
    task = PerceptualDiscrimination(**SMALL)
    losses, _, _ = Basic(small_params(task)).train(task, {"training_iters": 16, "loss_epoch": 1, "verbosity": False})
    assert len(losses) == 1
    assert capsys.readouterr().out == ""


def test_test_takes_any_batch_size_and_equals_the_simulator(trained):
    model, task = trained["model"], trained["task"]
    x = task.get_trial_batch()[0]
    for batch in (x[:1], x[:5]):
        outputs, states = model.test(batch)
        assert outputs.shape == (len(batch), 50, 2) and states.shape == (len(batch), 50, 16)
        sim_outputs, sim_states = BasicSimulator(rnn_model=model).run_trials(batch)
        np.testing.assert_allclose(sim_outputs, outputs, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(sim_states, states, rtol=1e-4, atol=1e-5)


def test_weights_keep_psychrnns_keys_and_load_back_equal(trained):
    model, task = trained["model"], trained["task"]
    weights = model.get_weights()
    assert {"W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state", "Dale_rec", "Dale_out", "input_connectivity",
            "rec_connectivity", "output_connectivity", "dale_ratio"} <= set(weights)
    assert weights["init_state"].shape == (1, 16) and weights["dale_ratio"] is None
    path = model.save(trained["dir"] / "weights" / "saved_weights")
    assert path.name == "saved_weights.npz"
    with np.load(path, allow_pickle=False) as data:  # no pickled objects
        stored = {key: data[key] for key in data.files}
    for key in ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state"):
        np.testing.assert_array_equal(stored[key], weights[key])
    from_file = Basic(small_params(task, load_weights_path=str(path)))
    from_dict = Basic({**small_params(task), **weights})  # PsychRNN's params.update(get_weights())
    with np.load(path) as data:  # params.update(np.load(file)): dale_ratio comes as a 0-d array when present
        Basic({**small_params(task), **data, "dale_ratio": np.array(None, dtype=object)})
    x = task.get_trial_batch()[0][:4]
    for other in (from_file, from_dict):
        for key in ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state"):
            np.testing.assert_array_equal(other.get_weights()[key], weights[key])
        np.testing.assert_allclose(other.test(x)[0], model.test(x)[0], atol=1e-6)
    sim = BasicSimulator(weights_path=str(path), params={"dt": 10, "tau": 100})
    np.testing.assert_allclose(sim.run_trials(x)[0], model.test(x)[0], rtol=1e-4, atol=1e-5)


def test_simulator_takes_a_numpy_transfer_function_of_ones_own(trained):
    model, task = trained["model"], trained["task"]
    x = task.get_trial_batch()[0][:2]
    weights = model.get_weights()
    params = {"dt": 10, "tau": 100}
    mine = BasicSimulator(weights=weights, params=params, transfer_function=lambda v: np.maximum(v, 0))
    np.testing.assert_allclose(mine.run_trials(x)[0], BasicSimulator(weights=weights, params=params).run_trials(x)[0])
    with pytest.raises(UserWarning, match="transfer function"):
        BasicSimulator(rnn_model=model, transfer_function=np.tanh)


def test_simulator_lesion_with_t_connectivity(trained):
    """Zeroing all recurrent weights at every step leaves the input-driven network: W_rec has no effect."""
    model, task = trained["model"], trained["task"]
    x = task.get_trial_batch()[0][:2]
    weights = {**model.get_weights(), "W_rec": np.zeros((16, 16))}
    no_recurrence = BasicSimulator(weights=weights, params={"dt": 10, "tau": 100}).run_trials(x)[0]
    lesioned = BasicSimulator(rnn_model=model).run_trials(x, t_connectivity=np.zeros((50, 16, 16)))[0]
    np.testing.assert_allclose(lesioned, no_recurrence, atol=1e-12)
    with pytest.raises(ValueError, match="t_connectivity must have shape"):
        BasicSimulator(rnn_model=model).run_trials(x, t_connectivity=np.zeros((3, 16, 16)))


def test_lstm_trains_saves_and_loads_back(trained, tmp_path):
    from psychrnn_cli.compat.backend.models.lstm import LSTM
    from psychrnn_cli.compat.backend.simulation import LSTMSimulator

    task = trained["task"]
    model = LSTM(small_params(task))
    model.train(task, {"training_iters": 32, "verbosity": False})
    path = model.save(tmp_path / "lstm")
    loaded = LSTM(small_params(task, load_weights_path=str(path)))
    x = task.get_trial_batch()[0][:3]
    np.testing.assert_allclose(loaded.test(x)[0], model.test(x)[0], atol=1e-6)
    np.testing.assert_allclose(LSTMSimulator(rnn_model=model).run_trials(x)[0], model.test(x)[0], rtol=1e-4, atol=1e-5)


def test_dale_ratio(trained):
    task = trained["task"]
    model = Basic(small_params(task, dale_ratio=0.75, autapses=False))
    weights = model.get_weights()
    assert (weights["W_rec"][:, :12] >= 0).all() and (weights["W_rec"][:, 12:] <= 0).all()
    assert np.diag(weights["W_rec"]).tolist() == [0.0] * 16
    assert np.diag(weights["Dale_rec"]).tolist() == [1.0] * 12 + [-1.0] * 4
    assert Basic(small_params(task, dale_ratio=1.0)).get_weights()["W_rec"].min() >= 0  # PsychRNN divided by zero
    for bad in (0, 1.5, -0.2):
        with pytest.raises(CompatError, match=f"dale_ratio={bad:g}"):
            Basic(small_params(task, dale_ratio=bad))


def test_missing_param_prints_and_raises_key_error(capsys):
    params = small_params(PerceptualDiscrimination(**SMALL))
    del params["N_rec"]
    with pytest.raises(KeyError):
        Basic(params)
    assert "N_rec" in capsys.readouterr().out


@pytest.mark.parametrize("key, value, message", [
    ("N_rec", 0, "params['N_rec'] must be a whole number >= 1, got 0"),
    ("N_rec", 2.5, "params['N_rec'] must be a whole number >= 1, got 2.5"),
    ("N_rec", "abc", "params['N_rec'] must be a whole number >= 1, got 'abc'"),
    ("N_batch", 0, "params['N_batch'] must be a whole number >= 1"),
    ("tau", 0, "params['tau'] must be a positive float, got 0"),
    ("dt", float("nan"), "params['dt'] must be a positive float, got nan"),
    ("dt", 200, "params['dt'] (200 ms) must not exceed params['tau'] (100 ms)"),
    ("rec_noise", -1, "params['rec_noise'] must be a number >= 0, got -1"),
    ("spec_rad", -1, "params['spec_rad'] must be a positive float"),
    ("L2_firing_rate", float("nan"), "params['L2_firing_rate'] must be a number >= 0"),
    ("W_rec_train", "no", "params['W_rec_train'] must be true or false, got 'no'"),  # bool('no') is True
    ("transfer_function", "relux", "params['transfer_function']: transfer function 'relux' has no NumPy version"),
])
def test_params_out_of_range_are_refused_naming_the_key(key, value, message):
    with pytest.raises(CompatError) as err:
        Basic(small_params(PerceptualDiscrimination(**SMALL), **{key: value}))
    assert message in str(err.value)


@pytest.mark.parametrize("settings, message", [
    ({"trainign_iters": 16}, "train_params['trainign_iters'] is not a PsychRNN training setting; did you mean "
                             "training_iters?"),
    ({"learning_rate": -1}, "train_params['learning_rate'] must be a positive float, got -1"),
    ({"training_iters": 0}, "train_params['training_iters'] must be a whole number >= 1, got 0"),
    ({"loss_epoch": 0}, "train_params['loss_epoch'] must be a whole number >= 1, got 0"),  # was a ZeroDivisionError
    ({"verbosity": "loud"}, "train_params['verbosity'] must be true or false"),
    ({"optimizer": "adam"}, "train_params['optimizer']: cannot use a str"),
    ({"curriculum": "ramp"}, "train_params['curriculum'] is a str; give a Curriculum"),
])
def test_train_params_out_of_range_are_refused_before_training(settings, message):
    task = PerceptualDiscrimination(**SMALL)
    model = Basic(small_params(task))
    before = model.get_weights()["W_rec"]
    with pytest.raises(CompatError) as err:
        model.train(task, {"training_iters": 16, "verbosity": False, **settings})
    assert message in str(err.value)
    np.testing.assert_array_equal(model.get_weights()["W_rec"], before)


def test_batches_of_the_wrong_shape_are_refused_naming_the_shape():
    task = PerceptualDiscrimination(**SMALL)
    model = Basic(small_params(task))
    with pytest.raises(CompatError, match=r"inputs must have shape \[trials, steps, 2\], got \(3, 50, 5\)"):
        model.test(np.zeros((3, 50, 5)))
    with pytest.raises(CompatError, match=r"inputs must have shape \[trials, steps, 2\], got \(50, 2\)"):
        model.test(np.zeros((50, 2)))
    x, y, mask, _ = task.get_trial_batch()
    with pytest.raises(CompatError, match=r"targets must have shape \[trials, steps, 2\] like the inputs"):
        model.train(iter([(x, y[:, :10], mask, None)]), {"training_iters": 16, "verbosity": False})


@pytest.mark.parametrize("key, value", [("dt", 0), ("tau", -100), ("T", float("inf")), ("N_batch", 0),
                                        ("N_batch", 2.5)])
def test_task_sizes_out_of_range_are_refused_by_the_task(key, value):
    from psychrnn_cli.task import TaskError

    with pytest.raises(TaskError, match=f"task PerceptualDiscrimination: {key} must be a positive"):
        PerceptualDiscrimination(**{**SMALL, key: value})


@pytest.mark.parametrize("key, value, message", [("direction", 3, "direction must be 0, 1 or None, got 3"),
                                                 ("coherence", -0.5, "coherence must be a finite number >= 0"),
                                                 ("coherence", float("nan"), "coherence must be a finite number")])
def test_perceptual_discrimination_options_out_of_range_are_refused(key, value, message):
    """direction=3 made trials whose stimulus favoured no channel."""
    with pytest.raises(ValueError, match=message):
        PerceptualDiscrimination(**SMALL, **{key: value})


def test_save_and_run_dir_keep_files_that_are_not_weight_files(tmp_path):
    task = PerceptualDiscrimination(**SMALL)
    model = Basic(small_params(task))
    notes = tmp_path / "notes.npz"
    notes.write_text("my notes")
    (tmp_path / "a_file").write_text("kept")
    for path in (notes, tmp_path / "notes"):  # ".npz" is appended, as PsychRNN does
        with pytest.raises(CompatError, match="notes.npz already exists and is not a weight file"):
            model.save(path)
    with pytest.raises(CompatError, match="already exists and is not a weight file"):  # before training
        model.train(task, {"training_iters": 16, "verbosity": False, "save_weights_path": str(notes)})
    with pytest.raises(CompatError, match="a_file is a file, not a directory"):
        model.train(task, {"training_iters": 16, "verbosity": False}, run_dir=tmp_path / "a_file")
    assert notes.read_text() == "my notes" and (tmp_path / "a_file").read_text() == "kept"
    assert model.save(tmp_path / "w") == model.save(tmp_path / "w.npz")  # a weight file is replaced, as in PsychRNN


def test_graph_code_models_are_refused_with_a_pointer_to_the_guide():
    class WithTimestep(Basic):
        def recurrent_timestep(self, rnn_in, state):
            return state

    class FromScratch(RNN):
        pass

    params = small_params(PerceptualDiscrimination(**SMALL))
    for cls, said in ((WithTimestep, "defines recurrent_timestep"), (FromScratch, "names no model kind")):
        with pytest.raises(CompatError, match=said) as err:
            cls(params)
        assert "psychrnn-compat.md" in str(err.value)


def test_tensorflow1_optimizers_are_converted():
    import tensorflow as tf

    from psychrnn_cli.network.tf1_optimizers import keras_optimizer

    adam = keras_optimizer(tf.compat.v1.train.AdamOptimizer(learning_rate=0.01, beta1=0.8), 0.001)
    assert type(adam).__name__ == "Adam" and float(adam.learning_rate) == pytest.approx(0.01)
    assert float(adam.beta_1) == pytest.approx(0.8)
    sgd = keras_optimizer(tf.compat.v1.train.GradientDescentOptimizer(0.5), 0.001)
    assert type(sgd).__name__ == "SGD" and float(sgd.learning_rate) == pytest.approx(0.5)
    assert keras_optimizer(tf.compat.v1.train.AdagradOptimizer(0.1), 0.001) is None


def test_an_optimizer_without_a_keras_twin_is_refused_before_training():
    import tensorflow as tf

    np.random.seed(3)
    task = PerceptualDiscrimination(**SMALL)
    model = Basic(small_params(task))
    before = model.get_weights()["W_rec"]
    with pytest.raises(CompatError, match="train_params\\['optimizer'\\]: cannot use a AdagradOptimizer"):
        model.train(task, {"training_iters": 16, "verbosity": False,
                           "optimizer": tf.compat.v1.train.AdagradOptimizer(0.1)})
    np.testing.assert_array_equal(model.get_weights()["W_rec"], before)


def test_run_dir_is_a_normal_run_directory(trained):
    from psychrnn_cli.runfile import load_run
    from tests.conftest import run_cli

    run_dir = trained["dir"] / "run"
    run = load_run(run_dir / "run.h5")
    assert run["attrs"]["status"] == "completed" and run["attrs"]["iterations"] == 6
    assert run["training"]["iteration"].tolist() == [2, 4, 6] and len(run["training"]["accuracy"]) == 3
    np.testing.assert_allclose(run["training"]["train_loss"], trained["result"][0], rtol=1e-6)
    np.testing.assert_allclose(run["model"]["effective"]["W_rec"], trained["model"].get_weights()["W_rec"], atol=1e-7)
    assert run["config"]["task"]["_target_"] == "psychrnn_cli.compat.tasks.perceptual_discrimination.PerceptualDiscrimination"
    done = run_cli("evaluate", str(run_dir), "--trials", "50")
    assert done.returncode == 0, done.stderr
    assert "accuracy" in done.stdout
    with pytest.raises(CompatError, match="already holds run.h5"):
        trained["model"].train(trained["task"], {"training_iters": 16, "verbosity": False}, run_dir=run_dir)
    assert load_run(run_dir / "run.h5")["attrs"]["iterations"] == 6  # untouched


# --- tasks -------------------------------------------------------------------------------------


def test_perceptual_discrimination_trial_by_hand():
    task = PerceptualDiscrimination(dt=10, tau=100, T=200, N_batch=1, direction=1)
    params = {"coherence": 0.5, "direction": 1, "stim_noise": 0.0, "onset_time": 50.0, "stim_duration": 60.0}
    assert task.generate_trial_params(1, 0)["direction"] == 1  # the constructor's direction is used
    x, y, mask = task.generate_trial(params)  # the per-step path, time 0, 10, ... 190 ms
    assert x[:, 1].tolist() == [0.0] * 6 + [1.5] * 5 + [0.0] * 9  # 50 < t < 110 (strict)
    assert x[:, 0].tolist() == [0.0] * 6 + [1.0] * 5 + [0.0] * 9
    assert mask[:, 0].tolist() == [0.0] * 11 + [1.0] * 9  # from t = 110 ms
    assert y[:, 1].tolist() == [0.0] * 14 + [1.0] * 6 and y[:, 0].tolist() == [0.0] * 14 + [0.2] * 6  # t > 130 ms
    xb, yb, mb = task.trials([params])
    np.testing.assert_array_equal(xb[0], x)
    np.testing.assert_array_equal(yb[0], y)
    np.testing.assert_array_equal(mb[0], mask)


def test_delayed_discrimination_trial_by_hand():
    task = DelayedDiscrimination(dt=10, tau=100, T=200, N_batch=1)
    params = {"stimulus_1": 20.0, "delay": 50.0, "stimulus_2": 100.0, "decision": 130.0, "end": 170.0,
              "stim_noise": 0.0, "f1": 34, "f2": 26, "choice": 0}
    x, y, mask = task.generate_trial(params)
    assert x[:, 0].round(6).tolist() == [0.0] * 2 + [1.2] * 3 + [0.0] * 5 + [round(0.4 + 0.8 * 16 / 24, 6)] * 3 + [0.0] * 7
    assert x[:, 1].round(6).tolist() == [0.0] * 2 + [0.4] * 3 + [0.0] * 5 + [round(0.4 + 0.8 * 8 / 24, 6)] * 3 + [0.0] * 7
    assert mask[:, 0].tolist() == [0.0] * 13 + [1.0] * 4 + [0.0] * 3
    assert y[13:17].tolist() == [[1.0, 0.2]] * 4
    np.testing.assert_array_equal(task.trials([params])[0][0], x)
    drawn = task.generate_trial_params(1, 0)
    assert (drawn["f1"] > drawn["f2"]) == (drawn["choice"] == 0)


def test_match_to_category_trial_by_hand():
    task = MatchToCategory(dt=100, tau=100, T=2000, N_batch=1, N_in=5, N_out=2)
    params = {"angle": np.pi / 2, "category": 0, "onset_time": 200.0, "input_dur": 1000.0, "output_dur": 800.0,
              "stim_noise": 0.0}
    x, y, mask = task.generate_trial(params)
    density = lambda d: np.exp(-d ** 2 / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    # channels at 0, pi/2, pi, 3pi/2, 2pi: circular distances to pi/2
    expected = [density(np.pi / 2), density(0), density(np.pi / 2), density(np.pi), density(np.pi / 2)]
    np.testing.assert_allclose(x[2], expected)
    assert not x[1].any() and not x[12].any()  # before 200 ms and from 1200 ms
    assert mask[:, 0].tolist() == [0.0] * 12 + [1.0] * 8 and y[12:, 0].tolist() == [1.0] * 8 and not y[:, 1].any()


def test_task_params_keep_psychrnns_names_and_are_a_copy():
    task = PerceptualDiscrimination(dt=10, tau=100, T=2000, N_batch=50)
    params = task.get_task_params()
    assert params == {"N_in": 2, "N_out": 2, "dt": 10, "tau": 100, "T": 2000, "N_batch": 50, "alpha": 0.1,
                      "N_steps": 200, "coherence": None, "direction": None, "lo": 0.2, "hi": 1.0}
    params["N_rec"] = 50
    assert not hasattr(task, "N_rec")
    np.random.seed(3)
    x, y, mask, trial_params = task.get_trial_batch()
    assert x.shape == (50, 200, 2) and len(trial_params) == 50
    assert set(trial_params[0]) == {"coherence", "direction", "stim_noise", "onset_time", "stim_duration"}
    np.random.seed(3)
    np.testing.assert_array_equal(task.get_trial_batch()[0], x)  # NumPy's global seed makes batches reproducible


def test_a_user_task_written_for_psychrnn_runs_unchanged():
    class Pulse(Task):
        def __init__(self, dt, tau, T, N_batch):
            super(Pulse, self).__init__(1, 1, dt, tau, T, N_batch)

        def generate_trial_params(self, batch, trial):
            return {"sign": np.random.choice([-1.0, 1.0])}

        def trial_function(self, time, params):
            return np.array([params["sign"]]), np.array([params["sign"]]), np.array([1.0 if time >= 50 else 0.0])

    x, y, mask, params = Pulse(10, 100, 100, 4).get_trial_batch()
    assert x.shape == (4, 10, 1) and (x[:, :, 0] == np.array([p["sign"] for p in params])[:, None]).all()
    assert mask[0, :, 0].tolist() == [0.0] * 5 + [1.0] * 5


# --- curriculum ------------------------------------------------------------------------------


def test_curriculum_advances_stops_and_saves_its_record(tmp_path):
    tasks = [PerceptualDiscrimination(**SMALL, coherence=c) for c in (0.7, 0.1)]
    accuracies = [lambda y, out, m: 0.95, lambda y, out, m: 0.5]
    curriculum = Curriculum(tasks, accuracies=accuracies, thresholds=[0.9, 0.9], metric_epoch=1,
                            output_file=str(tmp_path / "logs" / "curriculum"))
    arrays = (np.zeros((1, 50, 2)),) * 4
    assert curriculum.metric_test(*arrays, 1, []) is True and curriculum.stage == 1
    assert curriculum.metric_test(*arrays, 2, []) is False and not curriculum.stop_training
    np.testing.assert_array_equal(np.load(tmp_path / "logs" / "curriculum.npy"), [[0.95, 0], [0.5, 1]])
    curriculum.accuracies[1] = lambda y, out, m: 1.0
    assert curriculum.metric_test(*arrays, 3, []) is True and curriculum.stop_training
    assert default_metric(vars(curriculum) | {"stage": 0}, *arrays, 1, [], False) == (True, 0.95)


# --- the notebooks' outcomes at their own sizes --------------------------------------------------


@pytest.mark.slow
def test_minimal_example_final_loss_below_0_05(capsys):
    """Minimal_Example: default network and training on perceptual discrimination (128 trials per batch)."""
    np.random.seed(0)
    task = PerceptualDiscrimination(dt=10, tau=100, T=2000, N_batch=128)
    model = Basic({**task.get_task_params(), "name": "basic", "N_rec": 50})
    losses, _, _ = model.train(task)
    printed = capsys.readouterr().out.splitlines()
    assert len(losses) == 39 and printed[0].startswith("Iter 1280, Minibatch Loss=")
    assert printed[-1] == "Optimization finished!"
    assert losses[-1] < 0.05


@pytest.mark.slow
def test_curriculum_stops_before_the_baseline():
    """curriculum_learning: coherence 0.7 -> 0.5 -> 0.3 -> 0.1 against training on 0.1 alone until 90%."""
    np.random.seed(0)
    tasks = [PerceptualDiscrimination(dt=10, tau=100, T=2000, N_batch=50, coherence=c) for c in (0.7, 0.5, 0.3, 0.1)]
    params = {**tasks[0].get_task_params(), "name": "curriculum", "N_rec": 50}
    curriculum = Curriculum(tasks, metric_epoch=1)
    curriculum_losses, _, _ = Basic(params).train(None, {"curriculum": curriculum, "verbosity": False,
                                                         "loss_epoch": 1, "training_iters": 100000})
    assert curriculum.stop_training

    def measure(x, y, mask, output, epoch, losses, verbosity):
        return tasks[-1].accuracy_function(y, output, mask)

    baseline_losses, _, _ = Basic({**params, "name": "baseline"}).train(
        tasks[-1], {"performance_measure": measure, "performance_cutoff": 0.9, "verbosity": False, "loss_epoch": 1,
                    "training_iters": 100000})
    assert len(curriculum_losses) < len(baseline_losses)


@pytest.mark.slow
def test_saved_weights_load_in_psychrnn_and_give_the_same_outputs(tmp_path):
    """save() writes a file PsychRNN 1.0.0 loads (in its own venv, as benchmarks/compare_psychrnn.py
    makes it); its outputs on the same inputs equal ours within 1e-5."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import compare_psychrnn

    compare_psychrnn.ensure_psychrnn_env()
    np.random.seed(4)
    task = PerceptualDiscrimination(dt=10, tau=100, T=1000, N_batch=8)
    model = Basic({**task.get_task_params(), "name": "ours", "N_rec": 32, "dale_ratio": 0.8})
    model.train(task, {"training_iters": 8 * 20, "verbosity": False})
    x = task.get_trial_batch()[0]
    np.save(tmp_path / "x.npy", x)
    ours = model.test(x)[0]
    path = model.save(tmp_path / "ours")
    script = f"""
import numpy as np
from psychrnn.backend.models.basic import Basic
x = np.load({str(tmp_path / 'x.npy')!r})
model = Basic(dict(name='theirs', N_in=2, N_rec=32, N_out=2, N_steps=100, dt=10, tau=100, N_batch=8,
                   load_weights_path={str(path)!r}))
np.save({str(tmp_path / 'theirs.npy')!r}, model.test(x)[0])
"""
    done = subprocess.run([compare_psychrnn.THEIRS["python"], "-c", script], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "theirs.npy"), ours, atol=1e-5)
