"""Reward rules of cognitive tasks for reward-based training (``algorithm=actor_critic``). NumPy only.

The convention of Song, Yang and Wang (2017, eLife 6:e21492, "Reward-based training of recurrent
neural networks for cognitive and value-based tasks"): at every step the network takes one
action; action "fixate" continues the trial, and the trial ends at the first other action. That
action is

- an **abort** before the response epoch (reward ``-abort_penalty``),
- **correct** in the response epoch if it is the task's correct choice (reward +1),
- **wrong** otherwise, in or after the response epoch (reward 0).

A trial without any action gets no reward (0). Because the inputs of the built-in tasks do not
depend on the actions, every trial is generated in advance and the rule becomes two tables over
(step, action) that the compiled training step looks the sampled actions up in
(:func:`outcome_table`): what taking action ``a`` at step ``t`` would do (an outcome code:
``CONTINUE`` goes on, the others end the trial), and its reward (a ``CONTINUE`` may earn one too,
as a NeuroGym environment's fixation break that does not end its trial).

Actions: a task whose output channel ``task.fixation_output`` means "fixate" (NeuroGym's action 0)
has one action per output channel. Any other task gets an extra fixation action: action 0 is
fixate (its logit a constant, ``algorithm.fixation_bias``) and action ``k >= 1`` chooses output
channel ``k - 1``.

The rule of a batch comes from the task's targets and loss mask (:func:`choice_rule`): the
correct choice is the channel with the largest masked time average of the target (the rule
:func:`psychrnn_cli.task.choice_accuracy` scores), and the response epoch runs from the first to
the last step where the mask scores a non-zero target. A task overrides it with a method
``reward_tables(targets, mask, params) -> (outcomes, rewards)`` returning both tables
``[B, N_steps, A]`` (as NeuroGym environments do, with their own rewards).

Trial sequences (:class:`~psychrnn_cli.sequences.SequenceTask`) are scored trial by trial: each
trial's tables come from the rule of the sequence's trial task, in the trial's own steps; in the
inter-trial intervals every action continues (``CONTINUE``, reward 0) and no trial is running
(:func:`sequence_tables`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from psychrnn_cli.task import Task, trial_choices

CONTINUE, CORRECT, WRONG, ABORT = 0, 1, 2, 3  # outcome codes of taking an action at a step
OUTCOMES = ("continue", "correct", "wrong", "abort")  # (a trial that never ends: "continue" = no response)


@dataclass
class RewardRule:
    """What ends a batch's trials and what they earn; actions indexed as in the module docstring.

    Attributes:
        correct: ``[B]`` int, the correct action of each trial.
        start: ``[B]`` int, the first step of the response epoch (an action before it aborts).
        end: ``[B]`` int, one past its last step (an action at or after it is wrong).
        rewards: reward of each outcome: ``{"correct": 1.0, "wrong": 0.0, "abort": -penalty}``.
    """

    correct: np.ndarray
    start: np.ndarray
    end: np.ndarray
    rewards: dict[str, float]


def fixation_action(task: Task) -> int | None:
    """The output channel that means "fixate" (``task.fixation_output``), or None (an extra action 0)."""
    channel = getattr(task, "fixation_output", None)
    return None if channel is None else int(channel)


def n_actions(task: Task) -> int:
    """How many actions the policy chooses from: ``N_out``, plus one without a fixation output."""
    return task.N_out + (fixation_action(task) is None)


def choice_rule(task: Task, targets: np.ndarray, mask: np.ndarray, abort_penalty: float) -> RewardRule:
    """The generic rule from targets and mask ``[B, N_steps, N_out]`` (see the module docstring).

    The response epoch is where the mask scores a non-zero target (a masked target of zeros, as
    in the anti-saccade task before the go cue, asks to hold fixation); a trial without such a
    step responds at any time.
    """
    responding = (mask > 0).any(axis=2) & (targets != 0).any(axis=2)  # [B, N_steps]
    start = np.argmax(responding, axis=1)
    end = np.where(responding.any(axis=1), responding.shape[1] - np.argmax(responding[:, ::-1], axis=1),
                   responding.shape[1])
    correct = trial_choices(targets, mask) + (fixation_action(task) is None)
    return RewardRule(correct, start, end, {"correct": 1.0, "wrong": 0.0, "abort": -float(abort_penalty)})


def reward_tables(task: Task, targets: np.ndarray, mask: np.ndarray, params: list[dict[str, Any]],
                  abort_penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Outcome codes and rewards ``[B, N_steps, A]`` of a batch: the task's own
    ``reward_tables(targets, mask, params)`` if it has one, else those of :func:`choice_rule`;
    for trial sequences, those of :func:`sequence_tables`."""
    from psychrnn_cli.sequences import SequenceTask

    if isinstance(task, SequenceTask):
        return sequence_tables(task, targets, mask, params, abort_penalty)
    own = getattr(task, "reward_tables", None)
    if callable(own):
        return own(targets, mask, params)
    rule = choice_rule(task, targets, mask, abort_penalty)
    fixation = fixation_action(task)
    return outcome_table(rule, task.N_steps, n_actions(task), 0 if fixation is None else fixation)


def sequence_tables(task: Any, targets: np.ndarray, mask: np.ndarray, params: list[dict[str, Any]],
                    abort_penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Outcome codes and rewards ``[B, N_steps, A]`` of a batch of ``B`` sequences
    (:class:`~psychrnn_cli.sequences.SequenceTask`): the tables of each of its ``B * K`` trials by
    the trial task's rule (:func:`reward_tables` of the trial task on the trials alone), placed at
    the trial's steps; ``CONTINUE`` and reward 0 in every inter-trial interval."""
    from psychrnn_cli.sequences import layout, per_trial

    trial_task, (y, m), trials = per_trial(task, [targets, mask], params)
    outcomes, table = reward_tables(trial_task, y, m, trials, abort_penalty)
    check_tables(trial_task, outcomes, table, len(trials))
    places = layout(task)
    K, iti, N = places["trials_per_sequence"], places["iti_steps"], places["trial_steps"]
    B, A = len(params), outcomes.shape[-1]
    sequence_outcomes = np.full((B, K, iti + N, A), CONTINUE, dtype=np.asarray(outcomes).dtype)
    sequence_rewards = np.zeros((B, K, iti + N, A))
    sequence_outcomes[:, :, iti:] = np.reshape(outcomes, (B, K, N, A))
    sequence_rewards[:, :, iti:] = np.reshape(table, (B, K, N, A))
    return sequence_outcomes.reshape(B, K * (iti + N), A), sequence_rewards.reshape(B, K * (iti + N), A)


def outcome_table(rule: RewardRule, n_steps: int, n_actions: int, fixation: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcome codes and rewards of taking action ``a`` at step ``t``, both ``[B, n_steps, n_actions]``.

    Args:
        rule: the batch's rule.
        n_steps: steps per trial.
        n_actions: actions per step.
        fixation: the fixation action's index.
    """
    t = np.arange(n_steps)[None, :, None]
    a = np.arange(n_actions)[None, None, :]
    start, end, correct = (rule.start[:, None, None], rule.end[:, None, None], rule.correct[:, None, None])
    outcome = np.where(t < start, ABORT, np.where((t < end) & (a == correct), CORRECT, WRONG))
    outcome = np.where(a == fixation, CONTINUE, outcome)
    values = np.array([0.0, rule.rewards["correct"], rule.rewards["wrong"], rule.rewards["abort"]])
    return outcome, values[outcome]


def check_tables(task: Task, outcomes: np.ndarray, table: np.ndarray, n_trials: int) -> None:
    """ValueError naming the task unless the reward tables fit ``n_trials`` trials of ``task``."""
    shape = (n_trials, task.N_steps, n_actions(task))
    for name, array in (("outcomes", outcomes), ("rewards", table)):
        if np.shape(array) != shape:
            raise ValueError(f"task {task.name}: reward tables gave {name} of shape {np.shape(array)}, expected "
                             f"{shape} (trials, N_steps, actions: N_out, plus 1 without a fixation output)")
    if not np.isin(outcomes, (CONTINUE, CORRECT, WRONG, ABORT)).all() or not np.isfinite(table).all():
        raise ValueError(f"task {task.name}: reward tables hold outcome codes other than 0..3 "
                         f"({', '.join(OUTCOMES)}) or non-finite rewards")


def acts_on_feedback(task: Task) -> bool:
    """True for sequences whose inputs depend on the network's actions (``task.feedback=reward``,
    more than one trial): simulating them needs the actions sampled as it runs (:func:`closed_loop`)."""
    return getattr(task, "feedback", "none") == "reward" and getattr(task, "K", 1) > 1


def closed_loop(network: Any, task: Task, x: np.ndarray, y: np.ndarray, mask: np.ndarray,
                params: list[dict[str, Any]], algorithm: dict[str, Any], noise: bool = True,
                seed: int | None = None) -> tuple[np.ndarray, Any]:
    """Simulate (NumPy) a trained network on sequences with ``task.feedback=reward``, sampling its actions.

    As the actor-critic step trains it (:mod:`psychrnn_cli.network.reinforce`): segment ``k`` (its
    ITI, then trial ``k``) runs from the state segment ``k - 1`` left; one action per step of
    trial ``k`` is drawn from ``softmax`` of the outputs with ``algorithm["fixation_bias"]`` added
    to the fixation action; the trial ends at its first action whose outcome (the reward tables of
    :func:`reward_tables`) is not ``CONTINUE``; its reward and choice (one channel per choice
    action, 1 on the action that ended it if the outcome was correct or wrong) go into the
    feedback inputs of segment ``k + 1``'s ITI.

    Args:
        network: a :class:`~psychrnn_cli.simulator.Network`.
        task: the :class:`~psychrnn_cli.sequences.SequenceTask`; ``x``, ``y``, ``mask``, ``params``
            a batch of it (``x`` ``[B, N_steps, N_in]``, its feedback channels 0).
        algorithm: the run's ``algorithm`` config (``fixation_bias``, ``abort_penalty``).
        noise: the model's recurrent noise on (if it has any).
        seed: seeds the noise and the actions.

    Returns:
        the inputs with the feedback filled in ``[B, N_steps, N_in]`` and the
        :class:`~psychrnn_cli.simulator.Simulation` of the whole sequences.
    """
    from psychrnn_cli.sequences import layout
    from psychrnn_cli.simulator import Simulation, simulate

    rng = np.random.default_rng(seed)
    outcomes, table = reward_tables(task, y, mask, params, float(algorithm.get("abort_penalty", 1.0)))
    places = layout(task)
    K, iti, N = places["trials_per_sequence"], places["iti_steps"], places["trial_steps"]
    S, B, A = iti + N, x.shape[0], n_actions(task)
    fixation = fixation_action(task)
    first = network.N_in - A  # the first feedback channel
    xi = rng.standard_normal((B, x.shape[1], network.N_rec)) if noise and network.rec_noise > 0 else None
    x, state, parts = np.array(x, dtype=np.float64), None, []
    rows = np.arange(B)
    for k in range(K):
        steps = slice(k * S, (k + 1) * S)
        part = simulate(network, x[:, steps], noise=False if xi is None else xi[:, steps], state=state)
        state = part.final_state
        parts.append(part)
        if k == K - 1:
            break
        logits = part.outputs[:, iti:]
        if fixation is None:
            logits = np.concatenate([np.full((*logits.shape[:2], 1), float(algorithm.get("fixation_bias", 5.0))),
                                     logits], axis=-1)
        else:
            logits = logits + float(algorithm.get("fixation_bias", 5.0)) * np.eye(A)[fixation]
        actions = np.argmax(logits - np.log(-np.log(rng.uniform(np.finfo(float).tiny, 1.0, logits.shape))), axis=-1)
        trial_steps = np.arange(k * S + iti, (k + 1) * S)
        taken = outcomes[rows[:, None], trial_steps, actions]  # [B, N]
        ending = taken != CONTINUE
        ended = ending.any(axis=1)
        end = np.where(ended, np.argmax(ending, axis=1), N)
        alive = np.arange(N)[None, :] <= end[:, None]
        reward = np.sum(alive * table[rows[:, None], trial_steps, actions], axis=1)
        outcome = np.where(ended, taken[rows, np.minimum(end, N - 1)], CONTINUE)
        choice = np.eye(A)[actions[rows, np.minimum(end, N - 1)]] * np.isin(outcome, (CORRECT, WRONG))[:, None]
        feedback = np.concatenate([reward[:, None], np.delete(choice, 0 if fixation is None else fixation, axis=1)],
                                  axis=1)
        x[:, (k + 1) * S:(k + 1) * S + iti, first:] = feedback[:, None, :]
    joined = [np.concatenate(arrays, axis=1) for arrays in
              zip(*((p.outputs, p.states, p.rates, p.full_states) for p in parts))]
    recorded = {name: np.concatenate([p.recorded[name] for p in parts], axis=1) for name in parts[0].recorded}
    return x, Simulation(*joined, recorded, state)
