"""Reward-based training: REINFORCE with a learned value baseline (``algorithm=actor_critic``).

In the style of Song, Yang and Wang (2017, eLife 6:e21492, "Reward-based training of recurrent
neural networks for cognitive and value-based tasks"): the network's outputs are action logits
(with a fixation action, see :mod:`psychrnn_cli.rewards`), one action is sampled at every step
inside the compiled step, and a trial ends at its first non-fixation action (or, for a task with its
own reward tables such as a NeuroGym environment, where they say). A critic predicts the
discounted return ``G_t`` (:class:`Critic`): a linear readout of the network's rates
(``critic=readout``) or, as in Song et al., a separate recurrent network (``critic=network``); it
is trained on the value loss alone, without a gradient into the network. The policy gradient weights
``log pi(a_t)`` by the advantage ``G_t - V_t``, and an entropy bonus keeps the policy exploring.
Per batch, with ``alive[b, t]`` = 1 up to and including the step a trial ends, and means taken
over those steps:

    policy  = -mean(log pi(a_t) * stop_gradient(G_t - V_t))
    value   = value_weight * mean((G_t - V_t)^2)
    entropy = -entropy_weight * mean(H(pi_t))
    loss    = policy + value + entropy (+ regularization terms)

The targets are never seen by the step: a batch is the inputs and the reward tables of
:func:`psychrnn_cli.rewards.reward_tables`. Actions come from Gumbel-max sampling with seeded
``tf.random.Generator`` streams (training, curriculum checks, other tests, as the recurrent noise),
saved in checkpoints, so runs repeat and resume bit for bit.

Trial sequences (``task.trials_per_sequence = K``, :mod:`psychrnn_cli.sequences`) run without
resetting the network, but each of their trials is an episode of its own, as Song, Yang and Wang
(2017) score trials separately: trial ``k`` is scored by its own reward tables in its own steps, it
ends at its first non-fixation action there, and its returns are discounted within it. Actions in
the inter-trial intervals (ITIs) do nothing: they belong to no trial, and no loss term counts them
(``alive`` is 0 there). Accuracy, mean reward and the aborted fraction are then over the ``B * K``
trials of a batch, as supervised training scores sequences trial by trial.

With ``task.feedback=reward``, as in the meta-reinforcement learning networks of Wang et al. (2018,
Nature Neuroscience 21:860, "Prefrontal cortex as a meta-reinforcement learning system"), the
network sees during the ITI before trial ``k > 0`` the reward it earned on trial ``k - 1`` and the
choice it made there (:func:`~psychrnn_cli.network.episodes.feedback_inputs`). Those inputs depend on the sampled actions, so the
step runs the network one segment (ITI and trial) at a time, from the state the segment before left,
samples the segment's actions, scores its trial, and writes the feedback into the next segment's
ITI (:meth:`ActorCriticSteps._closed_loop`). The feedback is data, not differentiated through;
the gradient is REINFORCE as above, through the whole sequence. Every other run takes the whole
batch in one forward pass and samples the actions afterwards.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from psychrnn_cli import rewards
from psychrnn_cli.initializers import gaussian_spectral_radius
from psychrnn_cli.masks import Constraints
from psychrnn_cli.models.basic import Basic
from psychrnn_cli.network.base import RecurrentModel, dense
from psychrnn_cli.network.episodes import action_logits, episode, feedback_inputs, gumbel_max, sample, trial_episodes, uniforms
from psychrnn_cli.network.regularizers import regularization_terms
from psychrnn_cli.network.shared import describe
from psychrnn_cli.network.step import NOISE_STREAMS, CompiledSteps, Objective
from psychrnn_cli.prefetch import TrainingBatch
from psychrnn_cli.sequences import layout
from psychrnn_cli.task import Task


@dataclass
class ActorCritic:
    """Settings of ``algorithm=actor_critic`` (``algorithm:`` in the config).

    Attributes:
        discount: per-step discount of the return, in (0, 1].
        entropy_weight: coefficient of the entropy bonus, >= 0.
        value_weight: coefficient of the value (critic) loss, >= 0.
        abort_penalty: a trial that breaks fixation before its response epoch earns ``-abort_penalty``.
        fixation_bias: added to the fixation action's logit, so that an untrained network fixates
            long enough to meet the response epoch (5: about 1 action in 75 steps with two choices).
        critic: ``readout``: the value is a linear readout of the network's rates; ``network``: the
            output of a separate basic RNN (:class:`Critic`).
        critic_N_rec: number of recurrent units of the critic network (``critic=network`` only).
    """

    discount: float = 1.0
    entropy_weight: float = 0.005
    value_weight: float = 0.5
    abort_penalty: float = 1.0
    fixation_bias: float = 5.0
    critic: str = "readout"
    critic_N_rec: int = 50


def _masked_mean(values: tf.Tensor, alive: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(alive * values) / tf.maximum(tf.reduce_sum(alive), 1.0)


def _stream_seed(seed: int) -> int:
    """A seed for the action streams that differs from the recurrent noise's (which uses ``seed``)."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1, np.uint32)[0])


class Critic:
    """The value ``V_t`` of every step, ``[B, N_steps]``, from the policy network's rates.

    ``readout``: ``V_t = W_value . rate_t + b_value`` (``W_value [1, N_rec]``, ``b_value [1]``).

    ``network``: a separate basic rate network (:class:`~psychrnn_cli.models.basic.Basic`, relu,
    the policy's alpha, no recurrent noise) with ``N_rec`` units and one linear output, the value,
    as the value network of Song, Yang and Wang (2017, eLife 6:e21492). Following them, its inputs
    are the policy network's rates and its chosen actions: at step ``t`` the rates ``rate_t
    [N_rec_policy]`` and the one-hot action of the step before, ``a_(t-1) [A]`` (zeros at the first
    step), so ``N_in = N_rec_policy + A``. The action of step ``t`` itself is left out: a value
    that depended on it would bias the policy gradient. Its weights start as PsychRNN's default
    initializer makes them (spectral radius 1.1) from their own seed.

    Neither critic sends a gradient into the policy network: both read ``stop_gradient(rates)``.

    Args:
        kind: ``readout`` or ``network``.
        policy: the policy network.
        n_actions: A, the number of actions.
        N_rec: units of the critic network.
        seed: the run's seed (the critic network's initial weights draw from a stream of their own).
    """

    def __init__(self, kind: str, policy: RecurrentModel, n_actions: int, N_rec: int, seed: int) -> None:
        self.kind, self.n_actions = kind, n_actions
        self.network: RecurrentModel | None = None
        if kind == "readout":
            self.params = {"W_value": tf.Variable(tf.zeros([1, policy.N_rec]), name="W_value"),
                           "b_value": tf.Variable(tf.zeros([1]), name="b_value")}
            return
        N_in = policy.N_rec + n_actions
        ones = functools.partial(np.ones, dtype=np.float32)
        constraints = Constraints(ones((N_rec, N_in)), ones((N_rec, N_rec)), ones((1, N_rec)))
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
        weights = gaussian_spectral_radius(rng, constraints, N_in, 1)
        self.network = RecurrentModel(Basic(N_rec, policy.definition.alpha), weights, constraints)
        self.params = self.network.params

    def __call__(self, rates: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
        """``V [B, N_steps]`` from the policy's rates ``[B, N_steps, N_rec]`` and sampled actions
        ``[B, N_steps]`` (int)."""
        rates = tf.stop_gradient(rates)
        if self.network is None:
            return dense(rates, self.params["W_value"], self.params["b_value"])[..., 0]
        before = tf.pad(tf.one_hot(actions, self.n_actions)[:, :-1], [[0, 0], [1, 0], [0, 0]])
        value, _ = self.network(tf.concat([rates, before], axis=-1))
        return value[..., 0]

    def attrs(self) -> dict[str, Any]:
        """What the run file records about the critic (``/model/critic`` attributes)."""
        if self.network is None:
            return {"kind": "readout", "inputs": "policy rates"}
        return {"kind": "network", "model": "basic", "N_rec": self.network.N_rec, "N_in": self.network.N_in,
                "alpha": self.network.definition.alpha, "transfer_function": self.network.definition.transfer_function,
                "inputs": f"policy rates [0, {self.network.N_in - self.n_actions}), then the one-hot action of the "
                          f"step before [{self.network.N_in - self.n_actions}, {self.network.N_in})"}


class ActorCriticSteps(CompiledSteps):
    """The compiled training step of ``algorithm=actor_critic`` (see the module docstring).

    A batch is ``(inputs [B, N_steps, N_in], rewards [B, N_steps, A], outcomes [B, N_steps, A])``
    (:meth:`make_batch`); the train step keeps the signature of the supervised one, so the loop,
    prefetching and ensembles run it unchanged. Its training step and evaluation are traced once
    per shape and settings and shared like the supervised ones (:mod:`psychrnn_cli.network.shared`):
    the critic's parameters and the action streams' generator states are part of each network's
    state.

    Args:
        model, optimizer, objective, clip, seed: as for :class:`CompiledSteps` (the objective's
            loss is not used; its regularizers are).
        settings: the algorithm's settings.
        fixation: the task's fixation output channel, or None (an extra action 0).
        places: where the trials of a batch element are, ``{"trials_per_sequence": K,
            "iti_steps": I, "trial_steps": N}`` (:func:`psychrnn_cli.sequences.layout`; None: one
            trial per element); every batch must have this layout.
        feedback: the sequences' ``task.feedback``; ``"reward"``: the last ``A`` inputs are the
            feedback channels of :func:`~psychrnn_cli.network.episodes.feedback_inputs`, filled in while the network acts.
    """

    def __init__(self, model: RecurrentModel, optimizer, objective: Objective, clip: tuple[str, float], seed: int,
                 settings: ActorCritic, fixation: int | None, places: dict[str, int] | None = None,
                 feedback: str = "none") -> None:
        self.settings, self.fixation = settings, fixation
        self.places = (1, 0, 0) if places is None else (places["trials_per_sequence"], places["iti_steps"],
                                                        places["trial_steps"])
        self.feedback = feedback
        n_actions = model.N_out + (fixation is None)
        self.critic = Critic(settings.critic, model, n_actions, settings.critic_N_rec, seed)
        root = tf.random.Generator.from_seed(_stream_seed(seed))
        self.actions = dict(zip(NOISE_STREAMS, [root, *tf.random.Generator.from_seed(_stream_seed(seed)).split(2)]))
        super().__init__(model, optimizer, objective, clip, seed)

    def _own_variables(self) -> dict[str, tf.Variable]:
        return {f"critic/{name}": v for name, v in self.critic.params.items()}

    def _own_state(self) -> list[tf.Variable]:
        return [*self.critic.params.values(), *(self.actions[name].state for name in NOISE_STREAMS)]

    def _own_key(self) -> tuple:
        return (describe(self.settings), self.fixation, self.places, self.feedback,
                tuple((name, tuple(v.shape)) for name, v in self.critic.params.items()))

    def make_batch(self, task: Task) -> TrainingBatch:
        """A training batch of ``task``: inputs, reward table and outcome table, float32 (the
        feedback inputs of ``task.feedback=reward`` still 0)."""
        x, _, rewards_table, outcomes = self.reward_batch(task)
        return x.astype(np.float32, copy=False), rewards_table.astype(np.float32), outcomes.astype(np.float32)

    def reward_batch(self, task: Task, n_trials: int | None = None) -> tuple:
        """A fresh batch ``(x, (y, mask, params), rewards, outcomes)`` with its reward tables ``[B, N_steps, A]``."""
        places = tuple(layout(task).values())
        if places != self.places and (places[:2], self.places[:2]) != ((1, 0), (1, 0)):  # (trials of any length)
            raise ValueError(f"task {task.name}: (trials per sequence, ITI steps, steps per trial) = {places}, but "
                             f"this network was built for {self.places}; reward-based training keeps one sequence "
                             "layout")
        x, y, mask, params = task.get_trial_batch(n_trials)
        outcomes, table = rewards.reward_tables(task, y, mask, params, self.settings.abort_penalty)
        return x, (y, mask, params), table, outcomes

    def _objective(self, inputs: tf.Tensor, reward_table: tf.Tensor, outcomes: tf.Tensor,
                   stream: str) -> tuple[dict[str, tf.Tensor], tf.Tensor, dict[str, tf.Tensor]]:
        """Loss terms, their total, and what happened (outputs, states, actions, episode)."""
        settings = self.settings
        seen, actions = {}, None
        if self.feedback == "reward" and self.places[0] > 1:
            outputs, states, actions, seen["inputs"] = self._closed_loop(inputs, reward_table, outcomes, stream)
        else:  # the inputs do not depend on the actions: one forward pass, then the actions
            outputs, states = self.model(inputs, self._noise(inputs, self.noise[stream]))
        logits = action_logits(outputs, self.fixation, settings.fixation_bias)
        rates = self.model.rates(states)
        if actions is None:
            actions = sample(tf.stop_gradient(logits), self.actions[stream])
        value = self.critic(rates, actions)  # [B, N_steps]
        happened = trial_episodes(actions, outcomes, reward_table, settings.discount, self.places)
        alive, returns = happened["alive"], happened["returns"]
        log_pi = tf.nn.log_softmax(logits)
        taken_log_pi = tf.gather(log_pi, actions, batch_dims=2)
        entropy = -tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1)
        terms = {
            "policy": -_masked_mean(taken_log_pi * tf.stop_gradient(returns - value), alive),
            "value": settings.value_weight * _masked_mean(tf.square(returns - value), alive),
            "entropy": -settings.entropy_weight * _masked_mean(entropy, alive),
        }
        objective = self.objective
        terms.update(regularization_terms(objective.coefficients, self.model.effective(), rates, outputs,
                                          objective.custom, objective.custom_weight))
        total = tf.add_n(list(terms.values()))
        terms = {"loss": total, **terms}
        return terms, total, {**seen, "outputs": outputs, "states": states, "actions": actions, **happened}

    def _closed_loop(self, inputs: tf.Tensor, reward_table: tf.Tensor, outcomes: tf.Tensor, stream: str
                     ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """Run a batch of sequences with reward feedback (``task.feedback=reward``) segment by segment.

        Segment ``k`` (its ITI, then trial ``k``) runs from the state segment ``k - 1`` left; its
        actions are sampled (Gumbel-max, the uniform draws of the whole batch made at once), trial
        ``k`` is scored (:func:`~psychrnn_cli.network.episodes.episode`) and its
        :func:`~psychrnn_cli.network.episodes.feedback_inputs` go, held constant, into the last
        ``A`` input channels of every ITI step of segment ``k + 1``.

        Returns:
            outputs ``[B, N_steps, N_out]``, states ``[B, N_steps, N_rec]``, actions ``[B, N_steps]``
            and the inputs the network saw ``[B, N_steps, N_in]`` (the feedback filled in).
        """
        K, iti, N = self.places
        S, n_actions = iti + N, self.critic.n_actions
        first = self.model.N_in - n_actions  # the first feedback channel
        fixation = 0 if self.fixation is None else self.fixation  # the fixation action
        noise = self._noise(inputs, self.noise[stream])
        u = uniforms(self.actions[stream], tf.concat([tf.shape(inputs)[:2], [n_actions]], axis=0))
        state, feedback = None, None
        seen, outputs, states, actions = [], [], [], []
        for k in range(K):
            steps = slice(k * S, (k + 1) * S)
            x = inputs[:, steps]
            if feedback is not None:  # (the batch holds zeros there)
                x += tf.pad(tf.tile(feedback[:, None, :], [1, iti, 1]), [[0, 0], [0, N], [first, 0]])
            out, st, _, state = self.model.forward_from(state, x, None if noise is None else noise[:, steps])
            logits = action_logits(out, self.fixation, self.settings.fixation_bias)
            taken = gumbel_max(tf.stop_gradient(logits), u[:, steps])
            trial = episode(taken[:, iti:], outcomes[:, steps][:, iti:], reward_table[:, steps][:, iti:],
                            self.settings.discount)
            feedback = tf.stop_gradient(feedback_inputs(taken[:, iti:], trial, fixation, n_actions))
            for parts, value in zip((seen, outputs, states, actions), (x, out, st, taken)):
                parts.append(value)
        return tuple(tf.concat(parts, axis=1) for parts in (outputs, states, actions, seen))

    def _terms(self, inputs: tf.Tensor, reward_table: tf.Tensor, outcomes: tf.Tensor) -> tuple[dict, tf.Tensor]:
        terms, total, happened = self._objective(inputs, reward_table, outcomes, "train")
        return {**terms, "train_reward": tf.reduce_mean(happened["reward"])}, total

    def _evaluate(self, inputs: tf.Tensor, reward_table: tf.Tensor, outcomes: tf.Tensor) -> tuple:
        terms, _, happened = self._objective(inputs, reward_table, outcomes, "test")
        return terms["loss"], happened

    def evaluate_policy(self, task: Task, n_trials: int) -> tuple[float, float, tuple, dict[str, Any]]:
        """Sample the policy on a fresh batch (noise and actions from the ``test`` streams).

        Returns:
            accuracy (fraction of trials that end with the correct choice), the actor-critic loss,
            ``(x, y, mask, params, outputs, states, {})`` (no recorded state components; ``x`` the
            inputs the network saw, with ``task.feedback=reward``'s feedback filled in) and
            ``{"mean_reward", "aborted"}`` (the
            fraction of trials that broke fixation early) with the arrays ``actions [B, N_steps]``
            (the sampled action at each step), ``reward [B]``, ``outcome [B]`` and ``end_step [B]``
            (trial sequences: ``[B, K]``, one per trial, ``end_step`` counted from the start of
            the sequence; accuracy and means over all ``B K`` trials).
        """
        x, (y, mask, params), table, outcomes = self.reward_batch(task, n_trials)
        arrays = [tf.constant(a, tf.float32) for a in (x, table, outcomes)]
        spec = self._prepare_exact("evaluate", self._evaluate, tuple(tuple(a.shape) for a in arrays))
        loss, happened = self._call(spec, arrays)
        outcome = happened["outcome"].numpy().astype(int)
        scores = {"mean_reward": float(np.mean(happened["reward"].numpy())),
                  "aborted": float(np.mean(outcome == rewards.ABORT)),
                  "actions": happened["actions"].numpy(), "reward": happened["reward"].numpy(),
                  "outcome": outcome, "end_step": happened["end"].numpy().astype(int)}
        if "inputs" in happened:  # the feedback the network saw (the rest as the task made it, float64)
            first = self.model.N_in - self.critic.n_actions
            x = x.copy()
            x[..., first:] = happened["inputs"].numpy()[..., first:]
        batch = (x, y, mask, params, happened["outputs"].numpy(), happened["states"].numpy(), {})
        return float(np.mean(outcome == rewards.CORRECT)), float(loss), batch, scores

    def critic_weights(self) -> dict[str, np.ndarray]:
        """The critic's parameters by name (readout: ``W_value``, ``b_value``; network: as a model's)."""
        return {name: v.numpy() for name, v in self.critic.params.items()}

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "critic": self.critic_weights(),
                **{f"{name}_actions": self.actions[name].state.numpy() for name in NOISE_STREAMS}}

    def restore(self, snapshot: dict) -> None:
        super().restore(snapshot)
        for name, value in snapshot["critic"].items():
            self.critic.params[name].assign(value)
        for name in NOISE_STREAMS:
            self.actions[name].state.assign(snapshot[f"{name}_actions"])
