"""The native classic paradigms: context-dependent integration, ready-set-go, anti-saccade."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra.utils import get_class

from psychrnn_cli.task import Task, trial_choices
from psychrnn_cli.tasks import BUILTIN_TASKS
from psychrnn_cli.tasks.anti_saccade import AntiSaccade
from psychrnn_cli.tasks.context_dependent_integration import ContextDependentIntegration
from psychrnn_cli.tasks.durations import draw_duration, duration_bounds
from psychrnn_cli.tasks.ready_set_go import ReadySetGo

NATIVE = {"context_dependent_integration": ContextDependentIntegration, "ready_set_go": ReadySetGo,
          "anti_saccade": AntiSaccade}
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "task"
NOISE_STD_PER_UNIT = np.sqrt(2 * 0.01 * np.sqrt(10) * np.sqrt(10))  # input noise std / stim_noise at dt 10


def make(cls, seed=0, **kwargs) -> Task:
    return cls(N_batch=200, seed=seed, **kwargs)


# --- every native task ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NATIVE)
def test_registered_with_a_config_naming_every_argument(name):
    cls = NATIVE[name]
    assert get_class(BUILTIN_TASKS[name]) is cls
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    assert config.pop("_target_") == BUILTIN_TASKS[name]
    arguments = set(inspect.signature(cls).parameters) - {"N_batch", "kwargs"}
    assert set(config) == arguments
    assert (config["dt"], config["tau"], config["T"]) == (10, 100, 2000)
    task = cls(**config)  # the config's values are valid and equal the defaults
    assert (task.N_steps, task.alpha) == (200, 0.1)
    assert re.search(r"[A-Z]\. \(\d{4}\)\. ", inspect.getmodule(cls).__doc__)  # a citation: "Name, A. (2013). "


@pytest.mark.parametrize("cls, n_in, n_out", [(ContextDependentIntegration, 4, 2), (ReadySetGo, 2, 1),
                                              (AntiSaccade, 5, 2)])
def test_shapes_and_channel_counts(cls, n_in, n_out):
    task = make(cls)
    x, y, mask, params = task.get_trial_batch()
    assert (task.N_in, task.N_out) == (n_in, n_out)
    assert x.shape == (200, 200, n_in) and y.shape == mask.shape == (200, 200, n_out)
    assert len(params) == 200 and set(np.unique(mask)) <= {0.0, 1.0}


@pytest.mark.parametrize("cls", NATIVE.values())
def test_vectorized_and_per_step_paths_agree(cls):
    task_a, task_b = make(cls, seed=5), make(cls, seed=5)
    params = [task_a.generate_trial_params(1, i) for i in range(20)]
    assert params == [task_b.generate_trial_params(1, i) for i in range(20)]
    for fast, slow in zip(task_a.trials(params), Task.trials(task_b, params)):
        np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize("cls", NATIVE.values())
def test_seed_reproduces_the_batch(cls):
    a, b, c = (make(cls, seed=s).get_trial_batch()[0] for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", NATIVE.values())
def test_accuracy_of_the_target_is_one(cls):
    task = make(cls)
    x, y, mask, _ = task.get_trial_batch(1000)
    assert task.accuracy_function(y, y, mask) == 1.0


@pytest.mark.parametrize("cls", NATIVE.values())
def test_input_noise_level(cls):
    noisy = make(cls, stim_noise=0.3).get_trial_batch()
    clean = make(cls, stim_noise=0.0).get_trial_batch()
    assert noisy[3] == clean[3]  # same trials: the noise is the only difference
    assert abs((noisy[0] - clean[0]).std() - 0.3 * NOISE_STD_PER_UNIT) < 0.002


# --- durations -----------------------------------------------------------------------------

def test_durations_fixed_or_drawn_from_a_range():
    rng = np.random.default_rng(0)
    assert duration_bounds("t", "d", 300) == (300.0, 300.0)
    assert draw_duration(rng, (300.0, 300.0)) == 300.0
    draws = [draw_duration(rng, duration_bounds("t", "d", [200, 500])) for _ in range(2000)]
    assert 200 <= min(draws) < 215 and 485 < max(draws) <= 500 and abs(np.mean(draws) - 350) < 8


@pytest.mark.parametrize("bad", [-1, [500, 200], [1, 2, 3], "long", None, True])
def test_durations_reject_bad_values_naming_them(bad):
    with pytest.raises(ValueError, match="my_task: delay must be a duration"):
        duration_bounds("my_task", "delay", bad)


# --- context-dependent integration ---------------------------------------------------------

def test_context_integration_inputs_targets_and_mask():
    task = make(ContextDependentIntegration, stim_noise=0.0)
    x, y, mask, params = task.get_trial_batch()
    time = task.time_ms
    for b, p in enumerate(params[:60]):
        stim = (time >= p["stim_onset"]) & (time < p["stim_end"])
        assert np.all(x[b, stim, 0] == p["motion_coherence"]) and np.all(x[b, stim, 1] == p["colour_coherence"])
        assert np.all(x[b, ~stim, :2] == 0)
        cue = time >= p["cue_onset"]
        assert np.all(x[b, cue, 2 + p["context"]] == 1) and np.all(x[b, :, 3 - p["context"]] == 0)
        assert np.all(x[b, ~cue, 2:] == 0)
        relevant = p["motion_coherence"] if p["context"] == 0 else p["colour_coherence"]
        assert p["choice"] == (0 if relevant > 0 else 1)
        response = time >= p["response"]
        assert np.all(mask[b, response] == 1) and np.all(mask[b, ~response] == 0)
        assert np.all(y[b, response, p["choice"]] == 1.0) and np.all(y[b, response, 1 - p["choice"]] == 0.2)
        assert np.all(y[b, ~response] == 0)
        assert p["stim_end"] - p["stim_onset"] == pytest.approx(800) and 200 <= p["response"] - p["stim_end"] <= 500


def test_context_integration_statistics():
    task = make(ContextDependentIntegration)
    params = [task.generate_trial_params(1, i) for i in range(4000)]
    motion = np.array([p["motion_coherence"] for p in params])
    colour = np.array([p["colour_coherence"] for p in params])
    context = np.array([p["context"] for p in params])
    assert set(np.abs(motion)) == set(np.abs(colour)) == {0.05, 0.1, 0.2, 0.4}
    for values in (motion, colour):
        assert abs(np.mean(values > 0) - 0.5) < 0.03
    assert abs(context.mean() - 0.5) < 0.03
    congruent = np.sign(motion) == np.sign(colour)
    assert abs(congruent.mean() - 0.5) < 0.03  # the irrelevant stream carries no information


def test_context_integration_random_output_is_at_chance_and_context_can_be_fixed():
    task = make(ContextDependentIntegration)
    x, y, mask, _ = task.get_trial_batch(2000)
    assert abs(task.accuracy_function(y, np.random.default_rng(1).random(y.shape), mask) - 0.5) < 0.04
    fixed = make(ContextDependentIntegration, context=1)
    assert {fixed.generate_trial_params(1, i)["context"] for i in range(50)} == {1}


@pytest.mark.parametrize("bad, message", [
    ({"coherences": []}, "coherences"), ({"coherences": [0.1, -0.2]}, "coherences"), ({"context": 2}, "context"),
    ({"T": 1500}, "T = 1500"), ({"delay_duration": [300, 100]}, "delay_duration"),
])
def test_context_integration_rejects_bad_arguments(bad, message):
    with pytest.raises(ValueError, match=f"context_dependent_integration: .*{message}"):
        make(ContextDependentIntegration, **bad)


# --- ready-set-go --------------------------------------------------------------------------

def test_ready_set_go_pulses_target_and_mask():
    task = make(ReadySetGo, stim_noise=0.0)
    x, y, mask, params = task.get_trial_batch()
    time = task.time_ms
    for b, p in enumerate(params[:60]):
        assert p["set"] == p["ready"] + p["interval"] and p["go"] == p["set"] + p["interval"]
        ready = (time >= p["ready"]) & (time < p["ready"] + 50)
        set_pulse = (time >= p["set"]) & (time < p["set"] + 50)
        np.testing.assert_array_equal(x[b, :, 0], ready.astype(float))
        np.testing.assert_array_equal(x[b, :, 1], set_pulse.astype(float))
        np.testing.assert_array_equal(y[b, :, 0], (time >= p["go"]).astype(float))
        np.testing.assert_array_equal(mask[b, :, 0], (time >= p["set"]).astype(float))


def test_ready_set_go_interval_statistics():
    task = make(ReadySetGo)
    params = [task.generate_trial_params(1, i) for i in range(4000)]
    intervals = np.array([p["interval"] for p in params])
    ready = np.array([p["ready"] for p in params])
    assert 480 <= intervals.min() < 490 and 790 < intervals.max() <= 800 and abs(intervals.mean() - 640) < 6
    assert 100 <= ready.min() and ready.max() <= 300
    assert max(p["go"] for p in params) < task.T


def test_ready_set_go_accuracy_is_a_tolerance_window_on_the_produced_interval():
    task = make(ReadySetGo, stim_noise=0.0)
    x, y, mask, params = task.get_trial_batch(300)
    intervals = np.array([p["interval"] for p in params])
    np.testing.assert_allclose(task.produced_intervals(y, mask), intervals, atol=task.dt)

    def answering_after(fraction_of_interval):  # "go" at set + (1 + fraction) * interval
        go = np.array([p["set"] + (1 + fraction_of_interval) * p["interval"] for p in params])
        return (task.time_ms[None, :] >= go[:, None])[:, :, None].astype(float)

    assert task.accuracy_function(y, answering_after(0.08), mask) == 1.0
    assert task.accuracy_function(y, answering_after(-0.08), mask) == 1.0
    assert task.accuracy_function(y, answering_after(0.25), mask) == 0.0
    assert task.accuracy_function(y, answering_after(-0.25), mask) == 0.0
    assert task.accuracy_function(y, np.zeros_like(y), mask) == 0.0  # never answers
    assert task.accuracy_function(y, np.random.default_rng(1).random(y.shape), mask) < 0.02


@pytest.mark.parametrize("bad, message", [({"T": 1800}, "T = 1800"), ({"interval": 0}, "interval"),
                                          ({"threshold": 1.5}, "threshold"), ({"tolerance": 0}, "tolerance"),
                                          ({"pulse_duration": 600}, "pulse_duration")])
def test_ready_set_go_rejects_bad_arguments(bad, message):
    with pytest.raises(ValueError, match=f"ready_set_go: .*{message}"):
        make(ReadySetGo, **bad)


# --- anti-saccade --------------------------------------------------------------------------

def test_anti_saccade_inputs_targets_and_mask():
    task = make(AntiSaccade, stim_noise=0.0)
    x, y, mask, params = task.get_trial_batch()
    time = task.time_ms
    assert np.all(mask == 1)
    for b, p in enumerate(params[:60]):
        assert p["choice"] == (1 - p["side"] if p["anti"] else p["side"])
        fixating = time < p["go"]
        np.testing.assert_array_equal(x[b, :, 0], fixating.astype(float))
        np.testing.assert_array_equal(x[b, :, 2 if p["anti"] else 1], fixating.astype(float))
        assert np.all(x[b, :, 1 if p["anti"] else 2] == 0)
        stim = (time >= p["stim_onset"]) & (time < p["stim_end"])
        np.testing.assert_array_equal(x[b, :, 3 + p["side"]], stim.astype(float))
        assert np.all(x[b, :, 4 - p["side"]] == 0)
        assert np.all(y[b, fixating] == 0)
        assert np.all(y[b, ~fixating, p["choice"]] == 1.0) and np.all(y[b, ~fixating, 1 - p["choice"]] == 0.2)
        assert p["stim_end"] - p["stim_onset"] == pytest.approx(200) and 100 <= p["go"] - p["stim_end"] <= 500


def test_anti_saccade_statistics_and_fixed_rules():
    task = make(AntiSaccade)
    params = [task.generate_trial_params(1, i) for i in range(4000)]
    assert abs(np.mean([p["anti"] for p in params]) - 0.5) < 0.03
    assert abs(np.mean([p["side"] for p in params]) - 0.5) < 0.03
    for fraction in (0.0, 1.0):
        only = make(AntiSaccade, anti_fraction=fraction)
        assert {only.generate_trial_params(1, i)["anti"] for i in range(100)} == {int(fraction)}


def test_anti_saccade_accuracy_needs_fixation_until_go_and_the_right_side():
    task = make(AntiSaccade)
    x, y, mask, params = task.get_trial_batch(500)
    assert task.accuracy_function(y, y[:, :, ::-1], mask) == 0.0  # wrong side after go
    glance = y.copy()
    for b, p in enumerate(params):  # a reflexive look at the stimulus, then the right answer
        glance[b, (task.time_ms >= p["stim_onset"]) & (task.time_ms < p["stim_end"]), p["side"]] = 0.8
    assert task.accuracy_function(y, glance, mask) == 0.0
    assert task.accuracy_function(y, 0.4 * y, mask) == 1.0  # weak but correct answers count
    assert task.accuracy_function(y, np.random.default_rng(1).random(y.shape), mask) < 0.02


@pytest.mark.parametrize("bad, message", [({"anti_fraction": 1.5}, "anti_fraction"), ({"T": 1400}, "T = 1400"),
                                          ({"lo": 2.0}, "lo < hi"), ({"stim_onset": "soon"}, "stim_onset")])
def test_anti_saccade_rejects_bad_arguments(bad, message):
    with pytest.raises(ValueError, match=f"anti_saccade: .*{message}"):
        make(AntiSaccade, **bad)


# --- the command and the configs through Hydra ---------------------------------------------

def test_psychrnn_tasks_lists_the_native_tasks(capsys):
    from psychrnn_cli.commands.tasks import main

    assert main([]) == 0
    out = capsys.readouterr().out
    for name in NATIVE:
        assert name in out
    assert "NeuroGym" in out


def test_configs_compose_and_build_through_hydra():
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build_task

    for name, cls in NATIVE.items():
        cfg = compose_config([f"task={name}", "task.delay_duration=[0, 100]"] if name != "ready_set_go"
                             else [f"task={name}", "task.interval=[300, 400]"])
        task = build_task(cfg.task, 7, np.random.default_rng(0))
        assert isinstance(task, cls) and task.N_batch == 7
        assert task.get_trial_batch()[0].shape == (7, 200, task.N_in)


# --- training with the default configs (slow) ----------------------------------------------

def train_default(task: str, run_dir: Path) -> dict:
    """Train ``task`` with its default config and the default network; the run file as a dict."""
    from psychrnn_cli import load_run, train

    return load_run(train([f"task={task}", "train.progress=false", "train.save_trials=300"], run_dir=run_dir))


@pytest.mark.slow
def test_context_dependent_integration_trains_to_80_percent(tmp_path):
    run = train_default("context_dependent_integration", tmp_path)
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.8, run["training"]["accuracy"]
    trials = run["trials"]
    correct = trial_choices(trials["outputs"], trials["mask"]) == trials["choice"]
    # the cue is used: trials whose streams point opposite ways are answered by the cued one
    incongruent = np.sign(trials["motion_coherence"]) != np.sign(trials["colour_coherence"])
    assert incongruent.sum() > 50 and correct[incongruent].mean() >= 0.75


@pytest.mark.slow
def test_ready_set_go_trains_to_80_percent(tmp_path):
    run = train_default("ready_set_go", tmp_path)
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.8, run["training"]["accuracy"]
    trials = run["trials"]
    produced = ReadySetGo().produced_intervals(trials["outputs"], trials["mask"])
    assert not np.any(np.isnan(produced))
    slope = np.polyfit(trials["interval"], produced, 1)[0]
    assert slope > 0.5  # the produced interval follows the measured one (1 is perfect, a fixed reply 0)


@pytest.mark.slow
def test_anti_saccade_trains_to_80_percent_on_pro_and_anti_trials(tmp_path):
    run = train_default("anti_saccade", tmp_path)
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.8, run["training"]["accuracy"]
    trials, task = run["trials"], AntiSaccade()
    for rule in (0, 1):
        chosen = trials["anti"] == rule
        assert chosen.sum() > 50
        accuracy = task.accuracy_function(trials["targets"][chosen], trials["outputs"][chosen], trials["mask"][chosen])
        assert accuracy >= 0.8, ("anti" if rule else "pro", accuracy)
