"""Reward-based training (``algorithm=actor_critic``): reward rules, episodes, gradients, runs, resume."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build, build_task
from psychrnn_cli.rewards import ABORT, CONTINUE, CORRECT, WRONG, RewardRule, choice_rule, n_actions, outcome_table
from psychrnn_cli.tasks.perceptual_discrimination import PerceptualDiscrimination
from tests.conftest import FAST, REPO

# small and quick: 20 steps of 10 ms, a small network, an evaluation every 4 iterations
SMALL = [*FAST, "task.T=200", "model.N_rec=20", "train.batch_size=16", "train.eval_every=4", "train.eval_trials=32",
         "train.test_trials=32", "train.stop_accuracy=null", "train.checkpoint_every=4"]
ACTOR_CRITIC = ["algorithm=actor_critic", "algorithm.discount=0.9", "model.rec_noise=0.05", *SMALL,
                "train.eval_every=2", "train.checkpoint_every=2"]
BUILTIN_TASKS = sorted(p.stem for p in (REPO / "configs" / "task").glob("*.yaml") if p.stem not in ("custom", "neurogym"))


def test_outcome_table_by_hand():
    """Three actions (0 fixate), 4 steps; the response epoch of trial 0 is steps 1..2, correct action 2."""
    rule = RewardRule(correct=np.array([2]), start=np.array([1]), end=np.array([3]),
                      rewards={"correct": 1.0, "wrong": 0.0, "abort": -0.5})
    outcomes, table = outcome_table(rule, n_steps=4, n_actions=3, fixation=0)
    F, C, W, A = CONTINUE, CORRECT, WRONG, ABORT
    np.testing.assert_array_equal(outcomes[0], [[F, A, A], [F, W, C], [F, W, C], [F, W, W]])
    np.testing.assert_array_equal(table[0], [[0, -0.5, -0.5], [0, 0, 1], [0, 0, 1], [0, 0, 0]])


def test_episode_rewards_termination_and_returns_by_hand():
    """Actions -> when each trial ends, its reward, outcome and discounted returns (discount 0.5)."""
    from psychrnn_cli.network.episodes import episode

    rule = RewardRule(correct=np.array([1, 1, 2, 2]), start=np.array([2, 2, 1, 1]), end=np.array([4, 4, 5, 3]),
                      rewards={"correct": 1.0, "wrong": 0.0, "abort": -1.0})
    outcomes, table = outcome_table(rule, n_steps=5, n_actions=3, fixation=0)
    actions = np.array([[0, 0, 0, 2, 1],   # acts at step 3, in the epoch, the wrong side: 0
                        [0, 2, 0, 1, 1],   # acts at step 1, before the epoch: abort, -1
                        [0, 0, 0, 0, 0],   # never acts: no reward, alive to the end
                        [0, 0, 2, 1, 1]])  # acts at step 2, correct: +1
    out = {k: v.numpy() for k, v in episode(actions, outcomes.astype(np.float32), table.astype(np.float32),
                                             discount=0.5).items()}
    np.testing.assert_array_equal(out["alive"], [[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(out["reward"], [0, -1, 0, 1])
    np.testing.assert_array_equal(out["outcome"], [WRONG, ABORT, CONTINUE, CORRECT])
    np.testing.assert_array_equal(out["end"], [3, 1, 5, 2])
    np.testing.assert_allclose(out["returns"], [[0, 0, 0, 0, 0], [-0.5, -1, 0, 0, 0], [0, 0, 0, 0, 0],
                                                [0.25, 0.5, 1, 0, 0]])


def test_episode_with_rewards_that_do_not_end_the_trial_by_hand():
    """A fixation break that costs 0.1 and goes on (as in NeuroGym), then a correct choice: returns
    sum the discounted rewards of the steps ahead."""
    from psychrnn_cli.network.episodes import episode

    outcomes = np.array([[[CONTINUE, CONTINUE], [CONTINUE, CONTINUE], [CONTINUE, CORRECT], [CONTINUE, CORRECT]]])
    table = np.array([[[0, -0.1], [0, -0.1], [0, 1], [0, 1]]])
    out = {k: v.numpy() for k, v in episode(np.array([[1, 0, 1, 1]]), outcomes.astype(np.float32),
                                             table.astype(np.float32), discount=0.5).items()}
    np.testing.assert_array_equal(out["alive"], [[1, 1, 1, 0]])
    np.testing.assert_allclose(out["reward"], [0.9])
    np.testing.assert_array_equal(out["outcome"], [CORRECT])
    np.testing.assert_allclose(out["returns"], [[-0.1 + 0.25, 0.5, 1, 0]], rtol=1e-6)


@pytest.mark.parametrize("name", BUILTIN_TASKS)
def test_every_builtin_task_has_a_reward_rule(name):
    """The rule derived from the targets: the correct action is the target's choice (+1 for the
    fixation action), and the response epoch lies inside the trial."""
    cfg = compose_config([f"task={name}"])
    task = build_task(cfg.task, 8, np.random.default_rng(0))
    x, y, mask, params = task.get_trial_batch()
    rule = choice_rule(task, y, mask, abort_penalty=1.0)
    choices = np.argmax(np.mean(y * mask, axis=1), axis=1)
    np.testing.assert_array_equal(rule.correct, choices + 1)
    assert np.all((0 <= rule.start) & (rule.start < rule.end) & (rule.end <= task.N_steps))
    outcomes, _ = outcome_table(rule, task.N_steps, n_actions(task), 0)
    assert outcomes.shape == (8, task.N_steps, task.N_out + 1)


def test_perceptual_discrimination_epoch_starts_with_the_target():
    cfg = compose_config(["task=perceptual_discrimination"])
    task = build_task(cfg.task, 4, np.random.default_rng(1))
    x, y, mask, params = task.get_trial_batch()
    rule = choice_rule(task, y, mask, abort_penalty=2.0)
    stim_end = np.array([p["onset"] + p["duration"] for p in params])
    np.testing.assert_array_equal(rule.start, np.floor((stim_end + 20) / task.dt).astype(int) + 1)
    assert rule.rewards["abort"] == -2.0 and list(rule.end) == [task.N_steps] * 4


@pytest.mark.parametrize("override, message", [
    ("algorithm.discount=0", r"algorithm.discount must be a number in \(0, 1\], got 0"),
    ("algorithm.discount=1.5", r"algorithm.discount must be a number in \(0, 1\], got 1.5"),
    ("algorithm.entropy_weight=-0.1", r"algorithm.entropy_weight must be a number >= 0, got -0.1"),
    ("algorithm.critic=gru", r"algorithm.critic must be one of readout, network, got 'gru'"),
    ("algorithm.critic_N_rec=0", r"algorithm.critic_N_rec must be a positive int, got 0"),
    ("+algorithm.gamma=0.9", r"unknown config key algorithm.gamma"),
])
def test_bad_algorithm_settings_are_refused(override, message):
    from psychrnn_cli.schema import check_config

    with pytest.raises(ConfigError, match=message):
        check_config(compose_config(["algorithm=actor_critic", override]))


class WrongTables(PerceptualDiscrimination):
    """A task whose own reward tables forget the fixation action."""

    def reward_tables(self, targets, mask, params):
        return np.zeros(targets.shape, dtype=int), np.zeros(targets.shape)


def test_a_task_s_own_reward_tables_of_the_wrong_shape_are_refused_before_training():
    with pytest.raises(ConfigError, match=r"algorithm=actor_critic: task WrongTables: reward tables gave outcomes of "
                                          r"shape \(2, 20, 2\), expected \(2, 20, 3\)"):
        build(compose_config(["algorithm=actor_critic", "task.T=200",
                              "task._target_=tests.test_reward_training.WrongTables"]))


def _gradients(steps, batch) -> list[np.ndarray]:
    """Gradients of one training step's total on ``batch``, leaving every random stream as it was."""
    import tensorflow as tf

    saved = [g.state.numpy() for g in (*steps.noise.values(), *getattr(steps, "actions", {}).values())]
    with tf.GradientTape() as tape:
        _, total = steps._terms(*(tf.constant(a, tf.float32) for a in batch))
    grads = tape.gradient(total, list(steps.variables.values()))
    for generator, state in zip((*steps.noise.values(), *getattr(steps, "actions", {}).values()), saved):
        generator.state.assign(state)
    return [np.zeros(v.shape) if g is None else g.numpy() for g, v in zip(grads, steps.variables.values())]


def test_changing_the_targets_without_changing_the_reward_rule_leaves_the_gradient_unchanged():
    """Targets hi/lo 1/0.2 or 0.7/0: the same correct side and epochs, so the same rule; the
    actor-critic gradient is the same bit for bit, while the supervised one changes."""
    overrides = [*ACTOR_CRITIC, "task.T=300"]
    exp = build(compose_config(overrides))
    other = build_task(compose_config([*overrides, "task.hi=0.7", "task.lo=0"]).task, 16, np.random.default_rng(5))
    exp.task.rng = np.random.default_rng(5)
    batches = [exp.steps.reward_batch(task) for task in (exp.task, other)]
    (x1, (y1, mask1, _), *tables1), (x2, (y2, mask2, _), *tables2) = batches
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(y1, y2)
    for a, b in zip(tables1, tables2):
        np.testing.assert_array_equal(a, b)
    first, second = (_gradients(exp.steps, (x, table, outcomes)) for x, _, table, outcomes in batches)
    assert any(np.any(g != 0) for g in first)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    import keras

    from psychrnn_cli.network.step import CompiledSteps, Objective
    from psychrnn_cli.network.losses import mse

    supervised = CompiledSteps(exp.model, keras.optimizers.Adam(), Objective(mse), ("none", 1.0), 0)
    grads = [_gradients(supervised, (x, y, mask)) for x, y, mask in ((x1, y1, mask1), (x2, y2, mask2))]
    assert any(not np.array_equal(a, b) for a, b in zip(*grads))


def test_supervised_step_is_the_step_before_reward_training():
    """algorithm=supervised (the default) takes the same steps, bit for bit, as the training step
    written out as it was before the algorithm group existed."""
    import tensorflow as tf

    from psychrnn_cli.network.regularizers import regularization_terms
    from psychrnn_cli.network.step import CompiledSteps

    exp = build(compose_config([*SMALL, "model.rec_noise=0.1", "regularizer.L2_rate=0.01", "algorithm=supervised"]))
    assert type(exp.steps) is CompiledSteps and type(build(compose_config(SMALL)).steps) is CompiledSteps

    def step_before(self, inputs, targets, mask):  # CompiledSteps._train_step before this change
        names, variables = list(self.variables), list(self.variables.values())
        objective = self.objective
        with tf.GradientTape() as tape:
            outputs, states = self.model(inputs, self._noise(inputs, self.noise["train"]))
            terms = {"loss": objective.loss(outputs, targets, mask)}
            terms.update(regularization_terms(objective.coefficients, self.model.effective(),
                                              self.model.rates(states), outputs, objective.custom,
                                              objective.custom_weight))
            total = tf.add_n(list(terms.values()))
        grads = tape.gradient(total, variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        grads = [g * tf.cast(self.plastic[n], g.dtype) if n in self.plastic else g for n, g in zip(names, grads)]
        self.optimizer.apply_gradients(zip(self._clip(grads), variables))
        return terms

    start = exp.steps.snapshot()
    batches = [exp.steps.make_batch(exp.task) for _ in range(3)]
    for batch in batches:
        exp.steps.train_step(*batch)
    now = exp.model.numpy_weights()
    exp.steps.restore(start)
    before = tf.function(lambda *batch: step_before(exp.steps, *batch), autograph=False)
    for batch in batches:
        before(*(tf.constant(a) for a in batch))
    for name, value in exp.model.numpy_weights().items():
        assert not np.array_equal(value, start["params"][name]) or name == "init_state", name
        np.testing.assert_array_equal(value, now[name], err_msg=name)


@pytest.fixture(scope="module")
def uninterrupted_path(tmp_path_factory):
    return train([*ACTOR_CRITIC, "train.iterations=4"], run_dir=tmp_path_factory.mktemp("whole"))


@pytest.fixture(scope="module")
def uninterrupted(uninterrupted_path) -> dict:
    return load_run(uninterrupted_path)


def test_actor_critic_run_records_rewards_and_actions(uninterrupted_path, uninterrupted):
    run = uninterrupted
    curves, trials, evaluation = run["training"], run["trials"], run["evaluation"]["attrs"]
    np.testing.assert_array_equal(curves["iteration"], [2, 4])
    for name in ("mean_reward", "aborted", "accuracy", "train_reward", "policy", "value", "entropy"):
        assert np.all(np.isfinite(curves[name])), name
    assert {"mean_reward", "aborted", "accuracy"} <= set(evaluation)
    critic = run["model"]["critic"]  # the value readout's weights, as trained
    assert critic["attrs"]["kind"] == "readout" and critic["W_value"].shape == (1, 20) and critic["b_value"].shape == (1,)
    assert np.any(critic["W_value"] != 0)  # (they start at zero)
    with h5py.File(uninterrupted_path) as f:  # every array with its units and axes
        missing: list[str] = []
        f.visititems(lambda name, item: missing.append(name) if isinstance(item, h5py.Dataset) and not (
            "units" in item.attrs and "axes" in item.attrs) else None)
        assert missing == []
        assert f["model/critic/W_value"].attrs["axes"] == "value, unit"
    n, n_steps = trials["inputs"].shape[:2]
    assert trials["actions"].shape == (n, n_steps) and set(np.unique(trials["actions"])) <= {0, 1, 2}
    # the recorded outcome is what the first non-fixation action did, and the reward follows it
    for actions, outcome, reward, end in zip(trials["actions"], trials["outcome"], trials["reward"],
                                             trials["end_step"]):
        acting = np.flatnonzero(actions != 0)
        assert end == (acting[0] if acting.size else n_steps)
        assert reward == {CONTINUE: 0.0, CORRECT: 1.0, WRONG: 0.0, ABORT: -1.0}[int(outcome)]


def test_actor_critic_resume_is_bit_identical(uninterrupted, tmp_path):
    train([*ACTOR_CRITIC, "train.iterations=2"], run_dir=tmp_path)
    resumed = load_run(train([*ACTOR_CRITIC, "train.iterations=4"], run_dir=tmp_path))
    assert "resuming from" in (tmp_path / "train.log").read_text()
    for name, value in uninterrupted["model"]["weights"].items():
        np.testing.assert_array_equal(value, resumed["model"]["weights"][name], err_msg=name)
    for name in ("mean_reward", "aborted", "accuracy", "train_loss", "train_reward"):
        np.testing.assert_array_equal(uninterrupted["training"][name], resumed["training"][name], err_msg=name)
    np.testing.assert_array_equal(uninterrupted["trials"]["actions"], resumed["trials"]["actions"])


def test_summarize_shows_mean_reward_next_to_accuracy(uninterrupted_path, uninterrupted):
    from psychrnn_cli.sweep_summary import collect_runs, run_table

    header, rows = run_table(collect_runs(uninterrupted_path.parent))
    assert header.index("mean_reward") == header.index("accuracy") + 1
    assert rows[0][header.index("mean_reward")] == uninterrupted["evaluation"]["attrs"]["mean_reward"]


# critic=network: a separate critic network of 8 units
NETWORK = [*ACTOR_CRITIC, "algorithm.critic=network", "algorithm.critic_N_rec=8"]


def test_critic_network_reads_the_rates_and_the_action_before():
    """The critic network's inputs are the policy's rates and the one-hot action of the step before:
    changing the action of step 5 changes the values from step 6 on, not before."""
    import tensorflow as tf

    steps = build(compose_config(NETWORK)).steps
    critic = steps.critic
    params = {name: v.shape for name, v in critic.params.items()}
    assert params == {"W_in": (8, 20 + 3), "W_rec": (8, 8), "W_out": (1, 8), "b_rec": (8,), "b_out": (1,),
                      "init_state": (8,)}
    assert set(steps.variables) >= {f"critic/{name}" for name in params}
    rates = tf.random.stateless_uniform([2, 20, 20], seed=[1, 2])
    actions = np.zeros((2, 20), dtype=np.int32)
    changed = actions.copy()
    changed[:, 5] = 2
    value, other = critic(rates, actions).numpy(), critic(rates, changed).numpy()
    assert value.shape == (2, 20)
    np.testing.assert_array_equal(value[:, :6], other[:, :6])
    assert np.all(value[:, 6] != other[:, 6])
    other_rates = critic(rates + 0.5, actions).numpy()
    assert np.all(other_rates != value)


def test_critic_network_learns_from_the_value_loss_only():
    """The value loss sends no gradient into the policy network, and the critic network gets its
    whole gradient from the value loss (none from the policy and entropy terms)."""
    import tensorflow as tf

    steps = build(compose_config(NETWORK)).steps
    batch = [tf.constant(a, tf.float32) for a in steps.make_batch(build_task(compose_config(NETWORK).task, 16,
                                                                            np.random.default_rng(3)))]
    policy = list(steps.model.trainable_params.values())
    critic = list(steps.critic.params.values())
    seeds = [g.state.numpy() for g in (*steps.noise.values(), *steps.actions.values())]

    def grads(term: str | None):
        for generator, state in zip((*steps.noise.values(), *steps.actions.values()), seeds):
            generator.state.assign(state)  # the same noise and actions every time
        with tf.GradientTape() as tape:
            terms, total, _ = steps._objective(*batch, "train")
        return tape.gradient(total if term is None else terms[term], policy + critic)

    value, total = grads("value"), grads(None)
    assert all(g is None for g in value[:len(policy)])
    assert all(g is not None and np.any(g.numpy() != 0) for g in value[len(policy):])
    for name, from_value, from_total in zip(steps.critic.params, value[len(policy):], total[len(policy):]):
        np.testing.assert_array_equal(from_value.numpy(), from_total.numpy(), err_msg=name)
    assert any(np.any(g.numpy() != 0) for g in total[:len(policy)] if g is not None)


def test_critic_network_resume_is_bit_identical_and_its_weights_are_in_the_run_file(tmp_path):
    whole = load_run(train([*NETWORK, "train.iterations=4"], run_dir=tmp_path / "whole"))
    train([*NETWORK, "train.iterations=2"], run_dir=tmp_path / "parts")
    resumed = load_run(train([*NETWORK, "train.iterations=4"], run_dir=tmp_path / "parts"))
    assert "resuming from" in (tmp_path / "parts" / "train.log").read_text()
    critic = whole["model"]["critic"]
    assert critic["attrs"]["kind"] == "network" and critic["attrs"]["N_rec"] == 8 and critic["W_in"].shape == (8, 23)
    with h5py.File(tmp_path / "whole" / "run.h5") as f:
        assert f["model/critic/W_in"].attrs["axes"] == "critic unit, critic input"
        assert f["model/critic/W_out"].attrs["axes"] == "value, critic unit"
    for group in ("weights", "critic"):
        for name, value in whole["model"][group].items():
            if name != "attrs":
                np.testing.assert_array_equal(value, resumed["model"][group][name], err_msg=f"{group}/{name}")
    np.testing.assert_array_equal(whole["training"]["value"], resumed["training"]["value"])
    np.testing.assert_array_equal(whole["trials"]["actions"], resumed["trials"]["actions"])
    # trained: the critic network moved from its initial weights, which depend only on the seed
    initial = build(compose_config(NETWORK)).steps.critic_weights()
    assert not np.array_equal(initial["W_rec"], critic["W_rec"])
    np.testing.assert_array_equal(initial["W_rec"], build(compose_config(NETWORK)).steps.critic_weights()["W_rec"])


@pytest.mark.slow
def test_actor_critic_learns_perceptual_discrimination_to_80_percent(tmp_path):
    """The issue's acceptance command, with the preset's defaults (stops at 90% sampled accuracy)."""
    from tests.conftest import run_cli

    result = run_cli("train", "algorithm=actor_critic", "task=perceptual_discrimination", "train.progress=false",
                     f"hydra.run.dir={tmp_path}", timeout=3600)
    assert result.returncode == 0, result.stderr[-2000:]
    run = load_run(tmp_path)
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.8
    assert run["evaluation"]["attrs"]["mean_reward"] >= 0.7


@pytest.mark.slow
def test_actor_critic_with_a_critic_network_learns_perceptual_discrimination_to_80_percent(tmp_path):
    """As above with the separate critic network of Song, Yang and Wang (2017)."""
    from tests.conftest import run_cli

    result = run_cli("train", "algorithm=actor_critic", "algorithm.critic=network", "task=perceptual_discrimination",
                     "train.progress=false", f"hydra.run.dir={tmp_path}", timeout=3600)
    assert result.returncode == 0, result.stderr[-2000:]
    run = load_run(tmp_path)
    assert run["model"]["critic"]["attrs"]["kind"] == "network"
    assert run["evaluation"]["attrs"]["accuracy"] >= 0.8
    assert run["evaluation"]["attrs"]["mean_reward"] >= 0.7
