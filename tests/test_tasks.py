"""The built-in task definitions (PsychRNN's, README "Built-in tasks")."""

from __future__ import annotations

import numpy as np
import pytest

from psychrnn_cli.task import Task, choice_accuracy
from psychrnn_cli.tasks.delayed_discrimination import DelayedDiscrimination, frequency_drive
from psychrnn_cli.tasks.match_to_category import MatchToCategory
from psychrnn_cli.tasks.perceptual_discrimination import PerceptualDiscrimination

BUILTINS = [PerceptualDiscrimination, DelayedDiscrimination, MatchToCategory]


def make(cls, seed=0, **kwargs) -> Task:
    return cls(N_batch=200, seed=seed, **kwargs)


@pytest.mark.parametrize("cls", BUILTINS)
def test_shapes_and_channel_counts(cls):
    task = make(cls)
    x, y, mask, params = task.get_trial_batch()
    assert task.N_steps == 200
    assert x.shape == (200, 200, task.N_in)
    assert y.shape == mask.shape == (200, 200, task.N_out)
    assert len(params) == 200
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_channel_counts_per_task():
    assert (make(PerceptualDiscrimination).N_in, make(PerceptualDiscrimination).N_out) == (2, 2)
    assert (make(DelayedDiscrimination).N_in, make(DelayedDiscrimination).N_out) == (2, 2)
    mtc = make(MatchToCategory, N_in=12, N_out=3)
    assert (mtc.N_in, mtc.N_out) == (12, 3)


@pytest.mark.parametrize("cls", BUILTINS)
def test_vectorized_and_per_step_paths_agree(cls):
    """Same parameters and random state: the batch path equals the trial_function loop bit for bit."""
    task_a, task_b = make(cls, seed=5), make(cls, seed=5)
    params = [task_a.generate_trial_params(1, i) for i in range(20)]
    assert params == [task_b.generate_trial_params(1, i) for i in range(20)]
    fast = task_a.trials(params)
    slow = Task.trials(task_b, params)  # the base class's per-step loop
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", BUILTINS)
def test_accuracy_of_target_is_one_and_random_is_chance(cls):
    task = make(cls)
    x, y, mask, _ = task.get_trial_batch(2000)
    assert task.accuracy_function(y, y, mask) == 1.0
    random_output = np.random.default_rng(1).random(y.shape)
    chance = 1.0 / task.N_out
    # trials whose mask is empty count as correct (argmax of zeros), so allow for them
    empty = np.mean(mask.sum(axis=(1, 2)) == 0)
    assert abs(task.accuracy_function(y, random_output, mask) - (chance + empty * (1 - chance))) < 0.05


def test_same_seed_same_batch_different_seed_different_batch():
    a = make(PerceptualDiscrimination, seed=3).get_trial_batch()[0]
    b = make(PerceptualDiscrimination, seed=3).get_trial_batch()[0]
    c = make(PerceptualDiscrimination, seed=4).get_trial_batch()[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_perceptual_discrimination_epochs_targets_and_mask():
    task = make(PerceptualDiscrimination, stim_noise=0.0)
    x, y, mask, params = task.get_trial_batch()
    time = task.time_ms
    for b, p in enumerate(params[:50]):
        d, coh, start, end = p["direction"], p["coherence"], p["onset"], p["onset"] + p["duration"]
        stim = (time > start) & (time < end)
        np.testing.assert_allclose(x[b, stim, d], 1 + coh)
        np.testing.assert_allclose(x[b, stim, 1 - d], 1.0)
        assert np.all(x[b, ~stim] == 0)
        late = time > end + 20
        assert np.all(y[b, late, d] == 1.0) and np.all(y[b, late, 1 - d] == 0.2)
        assert np.all(y[b, ~late] == 0)
        assert np.all(mask[b, time < end] == 0) and np.all(mask[b, time >= end] == 1)
        assert 0 <= start <= task.T / 2 and task.T / 8 <= p["duration"] <= 3 * task.T / 8


def test_perceptual_discrimination_statistics_and_noise():
    task = make(PerceptualDiscrimination)
    params = [task.generate_trial_params(1, i) for i in range(4000)]
    coherences = np.array([p["coherence"] for p in params])
    directions = np.array([p["direction"] for p in params])
    assert set(coherences) == {0.1, 0.3, 0.5, 0.7}
    for c in (0.1, 0.3, 0.5, 0.7):
        assert abs(np.mean(coherences == c) - 0.25) < 0.03
    assert abs(directions.mean() - 0.5) < 0.03
    x, *_ = task.get_trial_batch()
    before_any_stimulus = x[:, :1, :]  # time 0 is never inside a stimulus (onset < time)
    assert abs(before_any_stimulus.std() - np.sqrt(2 * 0.01 * np.sqrt(10) * np.sqrt(10) * 0.01)) < 0.01


def test_perceptual_discrimination_fixed_coherence_and_direction():
    task = make(PerceptualDiscrimination, coherence=0.3, direction=1)
    params = [task.generate_trial_params(1, i) for i in range(100)]
    assert {p["coherence"] for p in params} == {0.3}
    assert {p["direction"] for p in params} == {1}


@pytest.mark.parametrize("bad", [{"direction": 2}, {"coherences": []}])
def test_perceptual_discrimination_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="perceptual_discrimination"):
        make(PerceptualDiscrimination, **bad)


def test_delayed_discrimination_epochs_inputs_and_choice():
    task = make(DelayedDiscrimination, stim_noise=0.0)
    x, y, mask, params = task.get_trial_batch()
    time = task.time_ms
    for b, p in enumerate(params[:50]):
        assert p["choice"] == (0 if p["f1"] > p["f2"] else 1)
        assert (max(p["f1"], p["f2"]), min(p["f1"], p["f2"])) in [(18, 10), (22, 14), (26, 18), (30, 22), (34, 26)]
        s1 = (time >= p["stimulus_1"]) & (time < p["delay"])
        s2 = (time >= p["stimulus_2"]) & (time < p["decision"])
        dec = (time >= p["decision"]) & (time < p["end"])
        np.testing.assert_allclose(x[b, s1], np.broadcast_to(frequency_drive(p["f1"]), x[b, s1].shape))
        np.testing.assert_allclose(x[b, s2], np.broadcast_to(frequency_drive(p["f2"]), x[b, s2].shape))
        assert np.all(x[b, ~(s1 | s2)] == 0)
        assert np.all(mask[b, dec] == 1) and np.all(mask[b, ~dec] == 0)
        assert np.all(y[b, dec, p["choice"]] == 1.0) and np.all(y[b, dec, 1 - p["choice"]] == 0.2)
        assert p["stimulus_1"] <= task.T / 8 and p["end"] <= task.T
    np.testing.assert_allclose(frequency_drive(10), [0.4, 1.2])
    np.testing.assert_allclose(frequency_drive(34), [1.2, 0.4])


def test_delayed_discrimination_fixed_epochs():
    task = make(DelayedDiscrimination, onset_time=100, stim_duration_1=200, delay_duration=300,
                stim_duration_2=200, decision_duration=250)
    p = task.generate_trial_params(1, 0)
    assert (p["stimulus_1"], p["delay"], p["stimulus_2"], p["decision"], p["end"]) == (100, 300, 600, 800, 1050)
    choices = [task.generate_trial_params(1, i)["choice"] for i in range(2000)]
    assert abs(np.mean(choices) - 0.5) < 0.04


def test_match_to_category_bump_category_and_epochs():
    task = make(MatchToCategory, N_in=16, N_out=4, stim_noise=0.0)
    x, y, mask, params = task.get_trial_batch()
    time = task.time_ms
    stim = (time >= 200) & (time < 1200)
    resp = (time >= 1200) & (time < 2000)
    for b, p in enumerate(params[:50]):
        assert p["category"] == int(p["angle"] / (np.pi / 2))
        nearest = int(np.round(p["angle"] / (2 * np.pi / 16))) % 16
        assert np.argmax(x[b, stim][0]) == nearest
        assert np.all(x[b, ~stim] == 0)
        assert np.all(y[b, resp, p["category"]] == 1.0) and np.all(y[b, resp].sum(axis=1) == 1.0)
        assert np.all(mask[b, resp] == 1) and np.all(mask[b, ~resp] == 0)
    # evenly spaced preferred angles: an angle midway between the last and the first channel
    # drives both equally (PsychRNN's layout would put both on angle 0)
    bump = task.ring_input(2 * np.pi * 15.5 / 16)
    assert bump[15] == pytest.approx(bump[0])


def test_choice_accuracy_rule():
    y = np.zeros((2, 3, 2)); y[0, :, 0] = 1; y[1, :, 1] = 1
    mask = np.ones_like(y)
    z = np.zeros_like(y); z[0, :, 0] = 0.6; z[1, :, 0] = 0.6  # second trial wrong
    assert choice_accuracy(y, z, mask) == 0.5
