"""The NeuroGym adapter (``task=neurogym``). Most tests need the optional extra and skip without it."""

from __future__ import annotations

import sys
from importlib.util import find_spec

import numpy as np
import pytest

from psychrnn_cli.task import Task
from psychrnn_cli.tasks.neurogym_env import NeuroGymTask, epochs, first_action

REASON = "NeuroGym is not installed: pip install 'psychrnn-cli[neurogym]'"
INSTALLED = find_spec("neurogym") is not None
PDM = "PerceptualDecisionMaking-v0"
STATEFUL = {"HierarchicalReasoning-v0"}  # its rule alternates in blocks of trials


def supervised_ids() -> list:
    if not INSTALLED:
        return [pytest.param("none", marks=pytest.mark.skip(reason=REASON))]
    from psychrnn_cli.tasks.neurogym_env import supervised_env_ids

    return supervised_env_ids()


@pytest.fixture(scope="module")
def ngym():
    return pytest.importorskip("neurogym", reason=REASON)


def reference_trial(ngym, env_id: str, seed: int, dt: float = 10.0, **env_kwargs):
    """The same trial straight from NeuroGym: ``(env, observations, ground truth)``."""
    env = ngym.make(env_id, dt=dt, **env_kwargs).unwrapped
    env.seed(seed)
    env.new_trial()
    return env, env.ob, env.gt


# --- without NeuroGym (these always run) ---------------------------------------------------

def test_without_neurogym_the_task_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym", None)  # makes `import neurogym` fail
    with pytest.raises(ImportError, match=r"pip install 'psychrnn-cli\[neurogym\]'"):
        NeuroGymTask(PDM)


def test_without_neurogym_train_config_error_says_how_to_install_it(monkeypatch):
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import ConfigError, build_task

    monkeypatch.setitem(sys.modules, "neurogym", None)
    cfg = compose_config(["task=neurogym", f"task.env={PDM}"])
    with pytest.raises(ConfigError, match=r"NeuroGym is not installed: pip install 'psychrnn-cli\[neurogym\]'"):
        build_task(cfg.task, 5, np.random.default_rng(0))


def test_without_neurogym_psychrnn_tasks_says_how_to_add_them(monkeypatch, capsys):
    from psychrnn_cli.commands.tasks import main

    monkeypatch.setitem(sys.modules, "neurogym", None)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "perceptual_discrimination" in out and "pip install 'psychrnn-cli[neurogym]'" in out
    assert "PerceptualDecisionMaking-v0" not in out


def test_epochs_and_first_action_helpers():
    assert epochs(np.array([0, 1, 1, 0, 0, 1, 0, 1], bool)) == [(1, 3), (5, 6), (7, 8)]
    assert epochs(np.zeros(4, bool)) == []
    fixate, act = [1.0, 0.0, 0.0], [0.1, 0.2, 0.9]
    assert first_action(np.array([fixate, fixate, act, fixate])) == 2
    assert first_action(np.array([fixate, fixate])) is None


# --- every supervised environment ----------------------------------------------------------

@pytest.mark.parametrize("env_id", supervised_ids())
def test_every_supervised_env_gives_batches_in_our_format(ngym, env_id):
    try:
        ngym.make(env_id, dt=10)
    except Exception as err:  # e.g. AnnubesEnv needs arguments
        pytest.skip(f"{env_id} does not construct with default arguments: {type(err).__name__}: {err}")
    task = NeuroGymTask(env_id, seed=1)
    x, y, mask, params = task.get_trial_batch(24)
    env = task.env
    assert env.dt == 10
    assert x.shape == (24, task.N_steps, env.observation_space.shape[0]) and y.shape == mask.shape
    discrete = hasattr(env.action_space, "n")
    assert y.shape[2] == task.N_out == (env.action_space.n if discrete else env.action_space.shape[0])
    assert set(np.unique(mask)) <= {0.0, 1.0} and np.all(mask == mask[:, :, :1])
    for b, p in enumerate(params):
        n = round(p["trial_ms"] / task.dt)
        assert n <= task.N_steps
        assert np.all(x[b, n:] == 0) and np.all(y[b, n:] == 0) and np.all(mask[b, n:] == 0)  # padding
        assert mask[b, :n, 0].any()

    def same_trial(b, ob, gt):
        np.testing.assert_array_equal(x[b, :len(ob)], ob)
        np.testing.assert_array_equal(y[b, :len(gt)], np.eye(task.N_out)[gt] if discrete else gt)

    same_trial(-1, env.ob, env.gt)  # the last trial is the environment's current one
    if env_id not in STATEFUL:  # and NeuroGym gives trial 0 again from the seed we drew
        fresh = ngym.make(env_id, dt=10).unwrapped
        fresh.seed(params[0]["seed"])
        fresh.new_trial()
        same_trial(0, fresh.ob, fresh.gt)
    assert task.accuracy_function(y, y, mask) == 1.0
    for fast, slow in zip(task.trials(params[:4]), Task.trials(task, params[:4])):
        np.testing.assert_array_equal(fast, slow)


# --- behaviour of the adapter --------------------------------------------------------------

def test_seeded_from_our_generator(ngym):
    a, b, c = (NeuroGymTask(PDM, seed=s).get_trial_batch(10) for s in (5, 5, 6))
    np.testing.assert_array_equal(a[0], b[0])
    assert [p["seed"] for p in a[3]] == [p["seed"] for p in b[3]] != [p["seed"] for p in c[3]]
    assert not np.array_equal(a[0], c[0])


def test_default_mask_is_the_decision_period_and_choice_accuracy_is_at_chance_for_noise(ngym):
    task = NeuroGymTask(PDM, seed=0)
    x, y, mask, params = task.get_trial_batch(1500)
    env, _, gt = reference_trial(ngym, PDM, params[0]["seed"])
    decision = np.zeros(task.N_steps)
    decision[env.start_ind["decision"]:env.end_ind["decision"]] = 1
    np.testing.assert_array_equal(mask[0, :, 0], decision)
    assert np.all(y[mask[:, :, 0] > 0].argmax(axis=1) > 0)  # the answer is a choice, not "fixate"
    chance = task.accuracy_function(y, np.random.default_rng(0).random(y.shape), mask)
    assert abs(chance - 1 / 3) < 0.05  # three channels: fixate and two choices


def test_response_periods_and_env_kwargs_are_configurable(ngym):
    timing = {"fixation": 200, "stimulus": 500, "decision": 300}
    task = NeuroGymTask(PDM, env_kwargs={"timing": timing}, response_periods=["stimulus", "decision"], seed=0)
    x, y, mask, params = task.get_trial_batch(5)
    assert task.T == pytest.approx(1.1 * 1000) and {p["trial_ms"] for p in params} == {1000}
    stimulus_and_decision = (task.time_ms >= 200) & (task.time_ms < 1000)
    np.testing.assert_array_equal(mask[:, :, 0], np.broadcast_to(stimulus_and_decision, (5, 110)))
    whole = NeuroGymTask(PDM, env_kwargs={"timing": timing}, response_periods="all", T=1500, seed=0)
    mask = whole.get_trial_batch(5)[2]
    np.testing.assert_array_equal(mask[:, :, 0], np.broadcast_to(whole.time_ms < 1000, (5, 150)))


def test_variable_trials_are_padded_to_a_t_that_fits_them(ngym):
    task = NeuroGymTask("ReadySetGo-v0", seed=0)
    params = task.get_trial_batch(200)[3]
    lengths = {p["trial_ms"] for p in params}
    assert len(lengths) > 5 and max(lengths) <= task.T


def test_timing_accuracy_for_ready_set_go(ngym):
    task = NeuroGymTask("ReadySetGo-v0", seed=0)
    assert task.accuracy == "timing" and task.tolerance == 0.2
    x, y, mask, params = task.get_trial_batch(50)

    def acting_late_by(fraction):  # fixate, then act at the target step + fraction * interval
        out = np.zeros_like(y)
        out[:, :, 0] = 1
        for b in range(len(y)):
            (start, end), = epochs(mask[b, :, 0] > 0)
            wanted = start + first_action(y[b, start:end])
            acted = wanted + int(round(fraction * (wanted - start)))
            out[b, acted, 1] = 2
        return out

    assert task.accuracy_function(y, acting_late_by(0.1), mask) == 1.0
    assert task.accuracy_function(y, acting_late_by(-0.1), mask) == 1.0
    assert task.accuracy_function(y, acting_late_by(0.4), mask) == 0.0
    never = np.zeros_like(y)
    never[:, :, 0] = 1
    assert task.accuracy_function(y, never, mask) == 0.0


def test_continuous_targets_pass_through(ngym):
    task = NeuroGymTask("ReachingDelayResponse-v0", seed=0)
    assert task.accuracy == "continuous" and task.tolerance == 0.1
    x, y, mask, params = task.get_trial_batch(50)
    _, _, gt = reference_trial(ngym, "ReachingDelayResponse-v0", params[0]["seed"])
    np.testing.assert_array_equal(y[0, :len(gt)], gt.astype(float))
    assert task.accuracy_function(y, y + 0.05, mask) == 1.0
    assert task.accuracy_function(y, y + 0.3, mask) == 0.0


@pytest.mark.parametrize("kwargs, message", [
    ({"env": "PerceptualDecisionMakin-v0"}, "not a supervised NeuroGym environment; choose one of .*GoNogo-v0"),
    ({"env": "Bandit-v0"}, "not a supervised NeuroGym environment"),
    ({"env_kwargs": {"dt": 20}}, "task.dt"),
    ({"env_kwargs": {"colour": 1}}, "cannot build PerceptualDecisionMaking-v0 with env_kwargs"),
    ({"response_periods": ["choice"]}, "no period.*'choice'.*its periods are fixation, stimulus"),
    ({"accuracy": "best"}, "accuracy must be one of choice, timing, continuous"),
    ({"T": 1000}, "longer than task.T = 1000 ms"),
])
def test_bad_settings_give_clear_errors(ngym, kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeuroGymTask(**{"env": PDM, **kwargs}, seed=0).get_trial_batch(3)


def test_psychrnn_tasks_lists_neurogym_tasks(ngym, capsys):
    from psychrnn_cli.commands.tasks import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "anti_saccade" in out and "PerceptualDecisionMaking-v0" in out and "task=neurogym task.env=ID" in out
    assert "Bandit-v0" not in out  # not supervised


def test_train_config_builds_the_adapter(ngym):
    from psychrnn_cli import compose_config
    from psychrnn_cli.build import build_task

    cfg = compose_config(["task=neurogym", "task.env=GoNogo-v0", "+task.env_kwargs.timing={decision: 300}"])
    task = build_task(cfg.task, 6, np.random.default_rng(0))
    x, y, mask, params = task.get_trial_batch()
    assert x.shape[0] == 6 and task.env.timing["decision"] == 300
    assert np.all(mask.sum(axis=1)[:, 0] == 30)  # 300 ms of decision at dt 10


def test_reward_tables_follow_the_environment_s_own_rewards(ngym):
    """PerceptualDecisionMaking: a fixation break costs rewards['abort'] and goes on (abort=False),
    the stimulus is free, and in the decision the ground truth earns rewards['correct'] and ends
    the trial, the other choice rewards['fail']."""
    from psychrnn_cli.rewards import CONTINUE, CORRECT, WRONG, reward_tables

    task = NeuroGymTask(PDM, seed=0)
    x, y, mask, params = task.get_trial_batch(3)
    outcomes, table = reward_tables(task, y, mask, params, abort_penalty=5.0)
    assert task.fixation_output == 0 and outcomes.shape == table.shape == (3, task.N_steps, 3)
    env = task.env
    assert not env.abort and env.rewards["abort"] < 0
    for b, p in enumerate(params):
        task._new_trial(p["seed"])
        fixation, decision = slice(env.start_ind["fixation"], env.end_ind["fixation"]), slice(
            env.start_ind["decision"], env.end_ind["decision"])
        stimulus = slice(env.end_ind["fixation"], env.start_ind["decision"])
        correct = int(env.gt[decision.start])
        assert np.all(outcomes[b, fixation] == CONTINUE)
        np.testing.assert_array_equal(table[b, fixation], np.broadcast_to([0, *[env.rewards["abort"]] * 2],
                                                                          table[b, fixation].shape))
        assert np.all(outcomes[b, stimulus] == CONTINUE) and np.all(table[b, stimulus] == 0)
        wanted = [CONTINUE, *(CORRECT if a == correct else WRONG for a in (1, 2))]
        np.testing.assert_array_equal(outcomes[b, decision], np.broadcast_to(wanted, outcomes[b, decision].shape))
        assert np.all(table[b, decision, correct] == env.rewards["correct"])
        assert np.all(table[b, decision, 3 - correct] == env.rewards["fail"])


# --- training (slow) -----------------------------------------------------------------------

@pytest.mark.slow
def test_perceptual_decision_making_trains_to_80_percent(ngym, tmp_path):
    from psychrnn_cli import load_run, train

    path = train(["task=neurogym", f"task.env={PDM}", "train.progress=false", "train.stop_accuracy=0.85"],
                 run_dir=tmp_path)
    run = load_run(path)
    # 0-coherence trials (1 in 5) are a coin flip, so about 90 % is the ceiling
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.8, run["training"]["accuracy"]
    assert "coh" in run["trials"] and "ground_truth" in run["trials"]


@pytest.mark.slow
def test_actor_critic_improves_mean_reward_above_chance(ngym, tmp_path):
    """Reward-based training with the environment's own rewards: after 200 iterations the mean
    reward is well above chance, the reward of a policy that picks uniformly among the actions at
    every step (about -0.2: fixation breaks cost 0.1 each; a decision earns 1 or 0)."""
    from psychrnn_cli import load_run, train
    from psychrnn_cli.rewards import CONTINUE, reward_tables

    task = NeuroGymTask(PDM, seed=1)
    x, y, mask, params = task.get_trial_batch(200)
    outcomes, table = reward_tables(task, y, mask, params, abort_penalty=0.0)
    rng, earned = np.random.default_rng(0), []
    for trial_outcomes, trial_rewards in zip(outcomes, table):
        total = 0.0
        for t, action in enumerate(rng.integers(trial_outcomes.shape[1], size=trial_outcomes.shape[0])):
            total += trial_rewards[t, action]
            if trial_outcomes[t, action] != CONTINUE:
                break
        earned.append(total)
    chance = float(np.mean(earned))
    # the preset's entropy bonus (0.005): most steps of this environment cost nothing whatever the
    # action, and a bonus of 0.05 there pulled the policy toward uniform (and its fixation breaks)
    path = train(["algorithm=actor_critic", "task=neurogym", f"task.env={PDM}", "train.iterations=200",
                  "train.progress=false"], run_dir=tmp_path)
    run = load_run(path)
    assert run["evaluation"]["attrs"]["mean_reward"] > chance + 0.4, (chance, run["training"]["mean_reward"])
    assert run["trials"]["actions"].shape == run["trials"]["inputs"].shape[:2]
YANG19 = ("yang19.go-v0", "yang19.anti-v0", "yang19.dm1-v0", "yang19.dlygo-v0")


@pytest.mark.slow
def test_multitask_network_on_four_tasks_of_the_yang_et_al_collection_beats_chance(ngym, tmp_path):
    from psychrnn_cli import load_run, train
    from psychrnn_cli.commands.evaluate import evaluate_run

    path = train(["train.progress=false", "task=multitask", f"task.tasks=[{','.join(YANG19)}]", "task.dt=20",
                  "task.share_channels=true", "model.N_rec=128", "train.iterations=3000", "train.eval_every=100",
                  "train.stop_accuracy=0.8"], run_dir=tmp_path)
    run = load_run(path)
    for k, label in enumerate(YANG19):
        only = ",".join("1" if j == k else "0" for j in range(len(YANG19)))
        attrs = evaluate_run(run, 300, 1, [f"task.proportions=[{only}]"], noise=True)["attrs"]
        # chance: 1 in 16 directions (a choice among 17 outputs with "fixate")
        assert attrs[f"accuracy_{label}"] > 0.3, (label, attrs)
