"""Reward-based training on trial sequences: each trial its own episode, and ``task.feedback=reward``
(the previous trial's reward and choice as inputs during the inter-trial interval)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build
from psychrnn_cli.task import Task
from tests.conftest import FAST, run_cli

ABORT_PENALTY = 0.5


class Tiny(Task):
    """4 steps per trial (dt 10, T 40), 2 outputs, no fixation output (action 0 fixates, action
    ``c + 1`` chooses output ``c``). Steps 0-1 ask to hold fixation (mask 1, target 0: a choice
    there aborts), steps 2-3 are the response epoch (target 1 on output ``side``). The input is 1
    in the response epoch. ``side`` alternates 0, 1, 0, ... along a sequence."""

    def __init__(self, N_batch: int = 2, **kwargs) -> None:
        super().__init__(1, 2, dt=10, tau=100, T=40, N_batch=N_batch, **kwargs)

    def generate_trial_params(self, batch, trial):
        return self.next_trial_params(batch, trial, [])

    def next_trial_params(self, batch, trial, history):
        return {"side": len(history) % 2}

    def trials(self, params):
        side = np.array([p["side"] for p in params])
        x = np.zeros((len(params), 4, 1))
        x[:, 2:] = 1.0
        y = np.zeros((len(params), 4, 2))
        y[np.arange(len(params)), 2:, side] = 1.0
        return x, y, np.ones_like(y)


def tiny_steps(feedback: str, fixation_bias: float = 1.0, K: int = 4, seed: int = 0):
    """The actor-critic steps of a 6-unit network for sequences of K Tiny trials after ITIs of 2 steps."""
    import keras

    from psychrnn_cli.initializers import gaussian_spectral_radius
    from psychrnn_cli.masks import Constraints
    from psychrnn_cli.models.basic import Basic
    from psychrnn_cli.network.base import RecurrentModel
    from psychrnn_cli.network.losses import mse
    from psychrnn_cli.network.reinforce import ActorCritic, ActorCriticSteps
    from psychrnn_cli.network.step import Objective
    from psychrnn_cli.sequences import SequenceTask, layout

    task = SequenceTask(Tiny(seed=seed), trials_per_sequence=K, iti=20, feedback=feedback)
    ones = functools.partial(np.ones, dtype=np.float32)
    constraints = Constraints(ones((6, task.N_in)), ones((6, 6)), ones((2, 6)))
    weights = gaussian_spectral_radius(np.random.default_rng(seed), constraints, task.N_in, 2)
    weights["W_in"] = 2.0 * weights["W_in"]  # (inputs that move the network visibly)
    model = RecurrentModel(Basic(6, 0.5), weights, constraints)
    settings = ActorCritic(abort_penalty=ABORT_PENALTY, fixation_bias=fixation_bias)
    steps = ActorCriticSteps(model, keras.optimizers.Adam(0.01), Objective(mse), ("none", 1.0), seed, settings,
                             None, layout(task), feedback)
    return task, steps


def by_hand(actions: np.ndarray, side: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reward ``[B, K]``, outcome ``[B, K]`` (0 none, 1 correct, 2 wrong, 3 abort) and the step of
    the sequence where each trial ended (``N_steps``: never), from the actions ``[B, K*6]`` of
    sequences of Tiny trials after ITIs of 2 steps, by the rule in Tiny's docstring."""
    B, n_steps = actions.shape
    reward, outcome, end = np.zeros((B, K)), np.zeros((B, K), dtype=int), np.full((B, K), n_steps)
    for b in range(B):
        for k in range(K):
            for step in range(4):
                t = 6 * k + 2 + step
                a = actions[b, t]
                if a == 0:
                    continue
                end[b, k] = t
                if step < 2:
                    reward[b, k], outcome[b, k] = -ABORT_PENALTY, 3
                elif a - 1 == side[b, k]:
                    reward[b, k], outcome[b, k] = 1.0, 1
                else:
                    reward[b, k], outcome[b, k] = 0.0, 2
                break
    return reward, outcome, end


@pytest.fixture(scope="module")
def closed_loop_batch():
    """An evaluation batch of 48 sequences of 4 Tiny trials with task.feedback=reward, after 3 training steps."""
    task, steps = tiny_steps("reward")
    for _ in range(3):
        steps.train_step(*steps.make_batch(task))
    accuracy, loss, batch, scores = steps.evaluate_policy(task, 48)
    return task, steps, accuracy, batch, scores


def test_feedback_inputs_are_the_previous_trial_s_reward_and_choice_by_hand(closed_loop_batch):
    task, steps, accuracy, (x, y, mask, params, outputs, states, _), scores = closed_loop_batch
    assert task.N_in == 1 + 1 + 2 and x.shape == (48, 24, 4)  # cue, reward, choice of output 0, choice of output 1
    side = np.array([[p["side"] for p in sequence["trials"]] for sequence in params])
    reward, outcome, end = by_hand(scores["actions"], side, 4)
    assert {0, 1, 2, 3} <= set(outcome.ravel())  # every kind of outcome occurs, so each is checked
    expected = np.zeros((48, 24, 3))
    for k in range(1, 4):  # the ITI of trial k (steps 6k, 6k + 1) tells trial k - 1's reward and choice
        for b in range(48):
            expected[b, 6 * k:6 * k + 2, 0] = reward[b, k - 1]
            if outcome[b, k - 1] in (1, 2):
                expected[b, 6 * k:6 * k + 2, scores["actions"][b, end[b, k - 1]]] = 1.0  # action a: channel a
    np.testing.assert_array_equal(x[:, :, 1:], expected)
    np.testing.assert_array_equal(x[:, :, 0], np.tile([0, 0, 0, 0, 1, 1], 4)[None].repeat(48, 0))  # the task's own
    # the recorded per-trial scores are the same
    np.testing.assert_allclose(scores["reward"], reward)
    np.testing.assert_array_equal(scores["outcome"], outcome)
    np.testing.assert_array_equal(scores["end_step"], end)
    assert accuracy == pytest.approx(np.mean(outcome == 1))
    assert scores["aborted"] == pytest.approx(np.mean(outcome == 3))
    # the network saw these inputs, without a reset between trials: one pass over the whole
    # sequences (no noise in this network) gives the outputs it had while acting
    again, _, _ = steps.predict(x.astype(np.float32), noise=False)
    np.testing.assert_allclose(again, outputs, rtol=1e-5, atol=1e-5)


def test_sequences_score_each_trial_as_its_own_episode():
    """Without feedback, too: B*K trials, each ending in its own segment at its first choice there;
    actions in the ITIs end nothing."""
    task, steps = tiny_steps("none", fixation_bias=0.0, K=3)
    accuracy, _, (x, y, mask, params, *_), scores = steps.evaluate_policy(task, 40)
    assert task.N_in == 1 and scores["reward"].shape == scores["outcome"].shape == scores["end_step"].shape == (40, 3)
    side = np.array([[p["side"] for p in sequence["trials"]] for sequence in params])
    reward, outcome, end = by_hand(scores["actions"], side, 3)
    np.testing.assert_array_equal(scores["outcome"], outcome)
    np.testing.assert_array_equal(scores["end_step"], end)
    np.testing.assert_allclose(scores["reward"], reward)
    ended = end < 18
    segment = np.arange(3)[None, :].repeat(40, 0)
    assert ended.sum() > 60 and np.all(end[ended] // 6 == segment[ended]) and np.all(end[ended] % 6 >= 2)
    assert np.any(scores["actions"][:, [0, 1, 6, 7, 12, 13]] != 0)  # choices in ITIs, which ended no trial
    assert accuracy == pytest.approx(np.mean(outcome == 1)) and scores["mean_reward"] == pytest.approx(reward.mean())


def test_trial_episodes_by_hand():
    """2 trials after ITIs of 1 step, 2 steps each; discount 0.5."""
    import tensorflow as tf

    from psychrnn_cli.network.episodes import trial_episodes
    from psychrnn_cli.rewards import CONTINUE, CORRECT, WRONG

    # step:              ITI  t0  t0   ITI  t1  t1
    actions = tf.constant([[1, 0, 2, 2, 0, 0]])
    outcomes = np.full((1, 6, 3), CONTINUE)
    outcomes[0, [2, 4, 5], 2] = [CORRECT, WRONG, WRONG]
    table = np.where(outcomes == CORRECT, 1.0, 0.0)
    happened = trial_episodes(actions, tf.constant(outcomes, tf.float32), tf.constant(table, tf.float32), 0.5,
                              (2, 1, 2))
    np.testing.assert_array_equal(happened["alive"], [[0, 1, 1, 0, 1, 1]])
    np.testing.assert_array_equal(happened["returns"], [[0, 0.5, 1, 0, 0, 0]])
    np.testing.assert_array_equal(happened["reward"], [[1, 0]])
    np.testing.assert_array_equal(happened["outcome"], [[CORRECT, CONTINUE]])
    np.testing.assert_array_equal(happened["end"], [[2, 6]])


@pytest.mark.parametrize("overrides,message", [
    (["task.feedback=reward"],
     "task.feedback=reward needs algorithm=actor_critic (in supervised training the inputs are made before the "
     "network acts); use task.feedback=correct_side"),
    (["algorithm=actor_critic", "task.feedback=reward", "task.iti=0"],
     "task.feedback=reward is shown during the inter-trial interval: set task.iti > 0 (ms), e.g. task.iti=200"),
    *[(["algorithm=actor_critic", f"task.feedback={feedback}", "task.trials_per_sequence=1"],
       f"task.feedback={feedback} tells the network about the previous trial of a sequence, and with "
       "task.trials_per_sequence=1 there is none: set task.trials_per_sequence to 2 or more (or train with "
       "task.feedback=none)")
      for feedback in ("reward", "correct_side")],
    (["task.trials_per_sequence=1"],  # (supervised, the preset's correct_side; its channels would stay 0)
     "task.feedback=correct_side tells the network about the previous trial of a sequence, and with "
     "task.trials_per_sequence=1 there is none: set task.trials_per_sequence to 2 or more (or train with "
     "task.feedback=none)"),
])
def test_feedback_without_actor_critic_iti_or_previous_trial_is_refused(overrides, message, tmp_path):
    cfg = compose_config(["task=block_prior", *overrides])
    with pytest.raises(ConfigError) as err:
        build(cfg)
    assert str(err.value) == message
    result = run_cli("train", "task=block_prior", *overrides, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("stages,message", [
    ("[{task:{T:400},threshold:0.6,metric:loss},{task:{T:400}}]",
     "curriculum stage 1: metric accuracy runs the network on inputs made in advance, but with task.feedback=reward "
     "they depend on its actions; use metric: loss or metric: iterations"),
    ("[{task:{T:400},threshold:0.6,metric:loss},{task:{T:500},metric:loss}]",
     "algorithm=actor_critic: every curriculum stage must keep task.trials_per_sequence, task.iti, task.feedback and "
     "the trial length of a sequence task (a network acts on one sequence layout); change them in a new run that "
     "loads the weights"),
])
def test_curricula_that_reward_feedback_cannot_follow_are_refused(stages, message):
    with pytest.raises(ConfigError) as err:
        build(compose_config(["algorithm=actor_critic", "task=block_prior", "task.trials_per_sequence=3",
                              "task.feedback=reward", f"curriculum.stages={stages}"]))
    assert str(err.value) == message


def test_actor_critic_without_sequences_takes_the_step_it_took_before_sequences_were_scored_per_trial():
    """A single-trial task's actor-critic step, bit for bit, is the step written out as it was
    before per-trial episodes and reward feedback (one forward pass, then the actions)."""
    import tensorflow as tf

    from psychrnn_cli.network.regularizers import regularization_terms
    from psychrnn_cli.network.episodes import action_logits, episode, sample
    from psychrnn_cli.network.reinforce import _masked_mean
    from tests.test_reward_training import ACTOR_CRITIC

    exp = build(compose_config([*ACTOR_CRITIC, "regularizer.L2_rate=0.01"]))
    steps = exp.steps

    def objective_before(self, inputs, reward_table, outcomes):  # ActorCriticSteps._objective before this change
        settings = self.settings
        outputs, states = self.model(inputs, self._noise(inputs, self.noise["train"]))
        logits = action_logits(outputs, self.fixation, settings.fixation_bias)
        rates = self.model.rates(states)
        actions = sample(tf.stop_gradient(logits), self.actions["train"])
        value = self.critic(rates, actions)
        happened = episode(actions, outcomes, reward_table, settings.discount)
        alive, returns = happened["alive"], happened["returns"]
        log_pi = tf.nn.log_softmax(logits)
        taken_log_pi = tf.gather(log_pi, actions, batch_dims=2)
        entropy = -tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1)
        terms = {"policy": -_masked_mean(taken_log_pi * tf.stop_gradient(returns - value), alive),
                 "value": settings.value_weight * _masked_mean(tf.square(returns - value), alive),
                 "entropy": -settings.entropy_weight * _masked_mean(entropy, alive)}
        terms.update(regularization_terms(self.objective.coefficients, self.model.effective(), rates, outputs,
                                          self.objective.custom, self.objective.custom_weight))
        return tf.add_n(list(terms.values()))

    def step_before(*batch):
        variables = list(steps.variables.values())
        with tf.GradientTape() as tape:
            total = objective_before(steps, *batch)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(tape.gradient(total, variables), variables)]
        steps.optimizer.apply_gradients(zip(steps._clip(grads), variables))

    start = steps.snapshot()
    batches = [steps.make_batch(exp.task) for _ in range(3)]
    for batch in batches:
        steps.train_step(*batch)
    now = {**exp.model.numpy_weights(), **steps.critic_weights()}
    steps.restore(start)
    before = tf.function(step_before, autograph=False)
    for batch in batches:
        before(*(tf.constant(a) for a in batch))
    for name, value in {**exp.model.numpy_weights(), **steps.critic_weights()}.items():
        np.testing.assert_array_equal(value, now[name], err_msg=name)
    assert not np.array_equal(now["W_rec"], start["params"]["W_rec"])


def test_the_shared_trace_key_holds_the_sequence_layout_and_feedback():
    _, with_feedback = tiny_steps("reward")
    _, other = tiny_steps("reward", K=3)
    assert with_feedback.graph_key("train", ()) != other.graph_key("train", ())
    assert with_feedback.graph_key("train", ()) == tiny_steps("reward", seed=1)[1].graph_key("train", ())
    with_feedback.feedback = "correct_side"
    assert with_feedback.graph_key("train", ()) != tiny_steps("reward", seed=1)[1].graph_key("train", ())


# block_prior in sequences of 3 trials with reward feedback: 25 steps per trial, a small network
FEEDBACK = [*FAST, "algorithm=actor_critic", "task=block_prior", "task.trials_per_sequence=3", "task.feedback=reward",
            "model.N_rec=16", "model.rec_noise=0.05", "train.batch_size=8", "train.eval_every=2", "train.eval_trials=8",
            "train.test_trials=8", "train.save_trials=4", "train.checkpoint_every=2", "train.stop_accuracy=null"]


@pytest.fixture(scope="module")
def feedback_run(tmp_path_factory):
    return train([*FEEDBACK, "train.iterations=4"], run_dir=tmp_path_factory.mktemp("whole"))


def test_feedback_run_resumes_bit_identical(feedback_run, tmp_path):
    train([*FEEDBACK, "train.iterations=2"], run_dir=tmp_path)
    resumed = load_run(train([*FEEDBACK, "train.iterations=4"], run_dir=tmp_path))
    assert "resuming from" in (tmp_path / "train.log").read_text()
    whole = load_run(feedback_run)
    for name, value in whole["model"]["weights"].items():
        np.testing.assert_array_equal(value, resumed["model"]["weights"][name], err_msg=name)
    for name in ("mean_reward", "aborted", "accuracy", "train_loss", "train_reward"):
        np.testing.assert_array_equal(whole["training"][name], resumed["training"][name], err_msg=name)
    for name in ("actions", "inputs", "reward"):
        np.testing.assert_array_equal(whole["trials"][name], resumed["trials"][name], err_msg=name)


def test_ensemble_members_with_feedback_share_the_trace_and_equal_solo_runs(feedback_run, tmp_path):
    """The closed-loop step is traced once in the process (by the fixture's run) and shared by
    both members; member seed 0 is the solo run of seed 0 bit for bit."""
    from psychrnn_cli.network.shared import TRACES

    traced = TRACES["train"]
    train([*FEEDBACK, "train.iterations=4", "train.ensemble=2"], run_dir=tmp_path)
    assert TRACES["train"] == traced
    solo, member, other = (load_run(path) for path in (feedback_run, tmp_path / "seed_0", tmp_path / "seed_1"))
    for name, value in solo["model"]["weights"].items():
        np.testing.assert_array_equal(member["model"]["weights"][name], value, err_msg=name)
    np.testing.assert_array_equal(member["trials"]["inputs"], solo["trials"]["inputs"])
    assert not np.array_equal(other["model"]["weights"]["W_rec"], solo["model"]["weights"]["W_rec"])


def test_feedback_run_records_its_channels_and_works_after_training(feedback_run, tmp_path):
    from psychrnn_cli.commands.evaluate import evaluate_run
    from psychrnn_cli.plots import run_figures
    from psychrnn_cli.sweep_summary import collect_runs, run_table

    run = load_run(feedback_run)
    trials = run["trials"]
    attrs = trials["attrs"]
    assert attrs["feedback"] == "reward" and attrs["feedback_first_input"] == 2
    assert attrs["feedback_inputs"] == ("input 2: reward earned on the previous trial; input 3: chose output 0 "
                                        "(action 1) on the previous trial; input 4: chose output 1 (action 2) on the "
                                        "previous trial")
    assert trials["inputs"].shape == (4, 75, 5) and trials["reward"].shape == (4, 3)
    # the recorded inputs hold the rewards the network earned, in the ITI (5 steps) before trials 1 and 2
    np.testing.assert_allclose(trials["inputs"][:, 25:30, 2], trials["reward"][:, :1].repeat(5, 1))
    np.testing.assert_allclose(trials["inputs"][:, 50:55, 2], trials["reward"][:, 1:2].repeat(5, 1))
    result = evaluate_run(run, 10, 0, [], noise=True)
    assert result["attrs"]["trials_per_sequence"] == 3 and 0 <= result["attrs"]["accuracy"] <= 1
    assert "example_trials" in run_figures(feedback_run, n_trials=6)
    header, rows = run_table(collect_runs(feedback_run.parent))
    assert rows[0][header.index("mean_reward")] == run["evaluation"]["attrs"]["mean_reward"]
    result = run_cli("simulate", str(feedback_run), "--out", str(tmp_path / "s.h5"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "task.feedback=reward" in result.stderr and "use psychrnn evaluate" in result.stderr


def test_numpy_closed_loop_fills_in_the_feedback_of_its_own_actions(feedback_run):
    """evaluate's NumPy closed loop: with the network's outputs replayed from the inputs it
    returns, the feedback in each ITI is the reward and choice of the trial before, and the
    outputs are those of the whole sequence run at once."""
    from psychrnn_cli.build import task_from_run
    from psychrnn_cli.rewards import closed_loop
    from psychrnn_cli.simulator import network_from_run, simulate

    run = load_run(feedback_run)
    network = network_from_run(run)
    task = task_from_run(run, 60, 0)
    x, y, mask, params = task.get_trial_batch(60)
    seen, result = closed_loop(network, task, x, y, mask, params, {"fixation_bias": 3.0, "abort_penalty": 1.0},
                               noise=False, seed=1)
    np.testing.assert_array_equal(seen[..., :2], x[..., :2])
    np.testing.assert_allclose(simulate(network, seen).outputs, result.outputs, atol=1e-10)
    feedback = seen[:, 25:30, 2:]  # ITI before trial 1: [reward, chose 1, chose 2], constant over the ITI
    assert np.all(feedback == feedback[:, :1])
    reward, choice = feedback[:, 0, 0], feedback[:, 0, 1:]
    assert set(np.unique(reward)) <= {-1.0, 0.0, 1.0} and len(np.unique(reward)) > 1
    assert np.all(choice.sum(axis=1) <= 1) and np.all(choice[reward < 0] == 0)  # aborted: no choice
    correct = np.array([s["trials"][0]["direction"] for s in params])  # block_prior: the correct output
    rewarded = reward == 1
    assert rewarded.any() and np.all(choice[rewarded].argmax(axis=1) == correct[rewarded])


class Reversal(Task):
    """A two-armed reversal task (as the bandits of Wang et al. 2018, Nature Neuroscience 21:860,
    with deterministic rewards): 3 steps per trial, a choice may come at any step, the input a
    constant cue that says nothing about the side. The correct output of a sequence's first trial
    is drawn 50/50; each later trial keeps the one before with probability ``1 - hazard``, else it
    switches. Only the outcome of the trial before tells where the reward is."""

    def __init__(self, dt: float = 20, tau: float = 40, T: float = 60, N_batch: int = 2, hazard: float = 0.1,
                 **kwargs) -> None:
        super().__init__(1, 2, dt=dt, tau=tau, T=T, N_batch=N_batch, **kwargs)
        self.hazard = hazard

    def generate_trial_params(self, batch, trial):
        return self.next_trial_params(batch, trial, [])

    def next_trial_params(self, batch, trial, history):
        if not history:
            return {"side": int(self.rng.random() < 0.5)}
        side = history[-1]["side"]
        return {"side": 1 - side if self.rng.random() < self.hazard else side}

    def trials(self, params):
        side = np.array([p["side"] for p in params])
        y = np.zeros((len(params), 3, 2))
        y[np.arange(len(params)), :, side] = 1.0
        return np.ones((len(params), 3, 1)), y, np.ones_like(y)


@pytest.mark.slow
def test_reward_feedback_learns_win_stay_lose_shift_in_a_reversal_task(tmp_path):
    """Sequences of 10 reversal trials (hazard 0.1), 300 iterations each with and without reward feedback.

    Without feedback no policy can beat 50% in expectation: every input is the same whatever the
    side, and each trial's side is 0 or 1 with probability 1/2. Win-stay/lose-shift on the
    feedback is right on every trial but the first unless the side just switched: (0.5 + 9 x 0.9)
    / 10 = 86%. The trained network must reach 75% on 200 fresh sequences (2000 trials; 50% would
    be 16 standard errors below) and, on its recorded trials, repeat a rewarded choice and leave an
    unrewarded one at least 80% of the time.
    """
    from psychrnn_cli.commands.evaluate import evaluate_run

    overrides = ["algorithm=actor_critic", "task=custom", "task._target_=tests.test_reward_feedback.Reversal",
                 "task.dt=20", "task.tau=40", "task.T=60", "task.trials_per_sequence=10", "task.iti=40",
                 "algorithm.fixation_bias=0", "model.N_rec=32", "train.batch_size=32", "train.iterations=300",
                 "train.eval_every=100", "train.eval_trials=100", "train.test_trials=200", "train.save_trials=200",
                 "train.stop_accuracy=null", "train.progress=false", "optimizer.learning_rate=0.003"]
    runs = {feedback: load_run(train([*overrides, f"task.feedback={feedback}"], run_dir=tmp_path / feedback))
            for feedback in ("none", "reward")}
    accuracy = {feedback: run["evaluation"]["attrs"]["accuracy"] for feedback, run in runs.items()}
    trials = runs["reward"]["trials"]
    assert not np.any(trials["outcome"] == 3)  # (a choice at any step never aborts)
    made = trials["outcome"] > 0  # a choice, correct or wrong; otherwise none
    chose = np.take_along_axis(trials["actions"], np.minimum(trials["end_step"], trials["actions"].shape[1] - 1), axis=1) - 1  # output index
    pairs = made[:, :-1] & made[:, 1:]  # consecutive trials that both made a choice
    stay = chose[:, 1:] == chose[:, :-1]
    won = trials["outcome"][:, :-1] == 1
    win_stay, lose_shift = stay[pairs & won].mean(), (~stay[pairs & ~won]).mean()
    assert pairs.mean() > 0.9
    numpy_accuracy = evaluate_run(runs["reward"], 200, 0, [], noise=True)["attrs"]["accuracy"]
    print(f"reversal: accuracy without feedback {accuracy['none']:.3f}, with {accuracy['reward']:.3f}; "
          f"win-stay {win_stay:.3f}, lose-shift {lose_shift:.3f}; psychrnn evaluate {numpy_accuracy:.3f}")
    assert accuracy["reward"] >= 0.75 and accuracy["none"] <= 0.56
    assert win_stay >= 0.8 and lose_shift >= 0.8
    assert numpy_accuracy >= 0.75  # the NumPy closed loop of psychrnn evaluate agrees


@pytest.mark.parametrize("overrides,refused", [
    (["algorithm=actor_critic", "task.trials_per_sequence=2", "task.iti=20"], True),
    (["algorithm=actor_critic"], False),  # (single trials: one episode each, before as now)
    (["task.trials_per_sequence=2", "task.iti=20"], False),  # (supervised sequences: unchanged)
], ids=["actor_critic_sequences", "actor_critic_trials", "supervised_sequences"])
def test_a_checkpoint_from_before_per_trial_episodes_resumes_only_if_its_objective_is_unchanged(overrides, refused,
                                                                                                tmp_path):
    """A checkpoint written before each trial of a sequence was an episode of its own lacks the
    attribute ``reward_episodes``: an actor-critic run on sequences is refused (it trained whole
    sequences as one episode) and left as it was; every other run resumes."""
    import h5py

    args = [*FAST, "model.N_rec=8", "task.T=200", "train.batch_size=4", "train.checkpoint_every=1", *overrides]
    train([*args, "train.iterations=1"], run_dir=tmp_path)
    with h5py.File(tmp_path / "checkpoint.h5", "a") as file:
        assert file.attrs["reward_episodes"] == "trial"
        del file.attrs["reward_episodes"]
    before = {name: (tmp_path / name).read_bytes() for name in ("run.h5", "checkpoint.h5")}
    result = run_cli("train", *args, "train.iterations=2", f"hydra.run.dir={tmp_path}")
    assert "Traceback" not in result.stderr
    if refused:
        assert result.returncode == 2 and "scored a whole sequence of trials as one episode" in result.stderr
        assert "train.overwrite=true" in result.stderr
        assert before == {name: (tmp_path / name).read_bytes() for name in before}
    else:
        assert result.returncode == 0 and "resuming from" in (tmp_path / "train.log").read_text()


class FixatingTiny(Tiny):
    """Tiny with output 0 meaning "fixate": reward feedback then has 1 + 1 channels, as many as
    correct_side's 2."""

    fixation_output = 0


@pytest.mark.parametrize("trained,asked", [("reward", "correct_side"), ("correct_side", "reward")])
def test_after_training_task_feedback_stays_as_trained_even_with_as_many_channels(trained, asked):
    """The two kinds of feedback give FixatingTiny the same N_in (3): only task.feedback tells them apart."""
    from psychrnn_cli.build import task_from_run

    task = {"_target_": "tests.test_reward_feedback.FixatingTiny", "trials_per_sequence": 2, "iti": 20}
    run = {"config": {"task": {**task, "feedback": trained}},
           "model": {"attrs": {"N_in": 3, "N_out": 2, "dt": 10.0, "tau": 100.0, "N_rec": 6}}}
    assert task_from_run(run, 2, 0).N_in == task_from_run(run, 2, 0, [f"task.feedback={trained}"]).N_in == 3
    with pytest.raises(ConfigError) as err:
        task_from_run(run, 2, 0, [f"task.feedback={asked}"])
    assert str(err.value) == (f"task.feedback={asked} does not fit the trained network (task.feedback={trained}: its "
                              "feedback inputs were trained to mean that): keep it as trained")


@pytest.mark.parametrize("command", [["evaluate", "--no-save"], ["simulate"]])
def test_after_training_commands_refuse_another_task_feedback_in_one_line(feedback_run, command, tmp_path):
    result = run_cli(*command, str(feedback_run), "--trials", "2", "task.feedback=none",
                     *(["--out", str(tmp_path / "sim.h5")] if command[0] == "simulate" else []))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "task.feedback=none does not fit the trained network (task.feedback=reward" in result.stderr
    assert not (tmp_path / "sim.h5").exists()


def test_after_training_a_feedback_run_keeps_sequences_of_two_trials_or_more(feedback_run):
    result = run_cli("evaluate", str(feedback_run), "--no-save", "--trials", "2", "task.trials_per_sequence=1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "with task.trials_per_sequence=1 there is none: set task.trials_per_sequence to 2 or more" in result.stderr
