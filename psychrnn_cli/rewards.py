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
(:func:`outcome_table`): what taking action ``a`` at step ``t`` would mean, and its reward.

Actions: a task whose output channel ``task.fixation_output`` means "fixate" (NeuroGym's action 0)
has one action per output channel. Any other task gets an extra fixation action: action 0 is
fixate (its logit fixed at 0) and action ``k >= 1`` chooses output channel ``k - 1``.

The rule of a batch comes from the task's targets and loss mask (:func:`choice_rule`): the
correct choice is the channel with the largest masked time average of the target (the rule
:func:`psychrnn_cli.task.choice_accuracy` scores), and the response epoch runs from the first to
the last step where the mask scores a non-zero target. A task overrides it with a method
``reward_rule(targets, mask, params) -> RewardRule``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from psychrnn_cli.task import Task, trial_choices

FIXATE, CORRECT, WRONG, ABORT = 0, 1, 2, 3  # outcome codes of taking an action at a step
OUTCOMES = ("fixate", "correct", "wrong", "abort")


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


def reward_rule(task: Task, targets: np.ndarray, mask: np.ndarray, params: list[dict[str, Any]],
                abort_penalty: float) -> RewardRule:
    """The task's own ``reward_rule(targets, mask, params)`` if it has one, else :func:`choice_rule`."""
    own = getattr(task, "reward_rule", None)
    if callable(own):
        return own(targets, mask, params)
    return choice_rule(task, targets, mask, abort_penalty)


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
    outcome = np.where(a == fixation, FIXATE, outcome)
    values = np.array([0.0, rule.rewards["correct"], rule.rewards["wrong"], rule.rewards["abort"]])
    return outcome, values[outcome]


def episode(actions: np.ndarray, outcomes: np.ndarray, rewards: np.ndarray) -> dict[str, np.ndarray]:
    """What the sampled ``actions [B, N_steps]`` did in trials with these tables ``[B, N_steps, A]``.

    Returns:
        ``alive [B, N_steps]`` (1 up to and including the step the trial ended), ``reward [B]``,
        ``outcome [B]`` (a code of :data:`OUTCOMES`; ``FIXATE`` for a trial without any action) and
        ``end [B]`` (the step of the first action, ``N_steps`` without one).
    """
    taken = np.take_along_axis(outcomes, actions[:, :, None], axis=2)[:, :, 0]  # [B, N_steps]
    acting = taken != FIXATE
    n_steps = actions.shape[1]
    end = np.where(acting.any(axis=1), np.argmax(acting, axis=1), n_steps)
    alive = (np.arange(n_steps)[None, :] <= end[:, None]).astype(float)
    rows = np.arange(len(actions))
    last = np.minimum(end, n_steps - 1)
    outcome = np.where(end < n_steps, taken[rows, last], FIXATE)
    reward = np.where(end < n_steps, np.take_along_axis(rewards, actions[:, :, None], axis=2)[rows, last, 0], 0.0)
    return {"alive": alive, "reward": reward, "outcome": outcome, "end": end}


def discounted_returns(reward: np.ndarray, end: np.ndarray, n_steps: int, discount: float) -> np.ndarray:
    """``G[b, t] = discount ** (end_b - t) * reward_b`` for ``t <= end_b``, else 0: ``[B, n_steps]``.

    The return of each step of a trial whose only reward comes when it ends (step ``end_b``; a trial
    without an action ends after its last step with reward 0).
    """
    t = np.arange(n_steps)[None, :]
    alive = t <= end[:, None]
    return np.where(alive, float(discount) ** np.maximum(end[:, None] - t, 0) * reward[:, None], 0.0)


def check_rule(task: Task, rule: RewardRule, n_trials: int) -> None:
    """ValueError naming the task unless ``rule`` fits ``n_trials`` trials of ``task``."""
    actions = n_actions(task)
    for name in ("correct", "start", "end"):
        if np.shape(getattr(rule, name)) != (n_trials,):
            raise ValueError(f"task {task.name}: reward_rule gave {name} of shape {np.shape(getattr(rule, name))}, "
                             f"expected ({n_trials},) (one per trial)")
    if not np.all((rule.correct >= 0) & (rule.correct < actions)):
        raise ValueError(f"task {task.name}: reward_rule gave correct actions {sorted(set(rule.correct.tolist()))}; "
                         f"actions are 0..{actions - 1} (0 = fixate when the task has no fixation output)")
    if not np.all((0 <= rule.start) & (rule.start < rule.end) & (rule.end <= task.N_steps)):
        raise ValueError(f"task {task.name}: reward_rule gave response epochs outside 0 <= start < end <= N_steps "
                         f"({task.N_steps})")
    missing = {"correct", "wrong", "abort"} - set(rule.rewards)
    if missing:
        raise ValueError(f"task {task.name}: reward_rule gave no reward for {', '.join(sorted(missing))}")
