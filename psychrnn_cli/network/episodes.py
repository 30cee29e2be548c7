"""What sampled actions do in reward-based training: action logits, Gumbel-max sampling, episodes
(a trial ends at its first non-fixation action; returns), trial by trial in sequences, and the
feedback inputs of ``task.feedback=reward``. Used by :mod:`psychrnn_cli.network.reinforce`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from psychrnn_cli import rewards


def action_logits(outputs: tf.Tensor, fixation: int | None, bias: float) -> tf.Tensor:
    """Logits ``[B, N_steps, A]`` of the actions from outputs ``[B, N_steps, N_out]``: the outputs
    with ``bias`` added to the fixation output, or, for a task without one, a fixation logit
    ``bias`` in front of them."""
    if fixation is None:
        return tf.pad(outputs, [[0, 0], [0, 0], [1, 0]], constant_values=bias)
    return outputs + bias * tf.one_hot(fixation, outputs.shape[-1])


def sample(logits: tf.Tensor, generator: tf.random.Generator) -> tf.Tensor:
    """One action per step ``[B, N_steps]`` (int32) from ``softmax(logits)``, by the Gumbel-max trick."""
    return gumbel_max(logits, uniforms(generator, tf.shape(logits)))


def uniforms(generator: tf.random.Generator, shape: tf.Tensor) -> tf.Tensor:
    """Uniform draws in (0, 1) of ``shape`` ``[B, N_steps, A]``, one per step and action, for :func:`gumbel_max`."""
    return generator.uniform(shape, minval=np.finfo(np.float32).tiny, maxval=1.0)


def gumbel_max(logits: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """The actions ``[B, n]`` (int32) that logits ``[B, n, A]`` choose with the uniform draws ``u`` of the same shape."""
    return tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)


def episode(actions: tf.Tensor, outcomes: tf.Tensor, reward_table: tf.Tensor, discount: float) -> dict[str, tf.Tensor]:
    """What sampled ``actions [B, N_steps]`` did, given the tables ``[B, N_steps, A]``.

    A trial ends at its first action whose outcome is not ``CONTINUE``; every step up to and
    including that one earns its table reward.

    Returns:
        ``alive [B, N_steps]`` (1 up to and including the step a trial ends; every step of a trial
        that never ends), ``reward [B]`` (the trial's total), ``outcome [B]`` (the code of
        :data:`psychrnn_cli.rewards.OUTCOMES` it ended with, ``CONTINUE`` if it never did), ``end [B]``
        (the step it ended, N_steps if never) and ``returns [B, N_steps]``: ``G_t = sum over k >= t of
        discount ** (k - t) * r_k`` while alive, else 0.
    """
    taken = tf.gather(outcomes, actions, batch_dims=2)  # [B, N_steps]
    ending = tf.cast(tf.not_equal(taken, rewards.CONTINUE), tf.float32)
    alive = tf.cast(tf.equal(tf.cumsum(ending, axis=1, exclusive=True), 0), tf.float32)
    ending *= alive  # one-hot at the step a trial ends, zero for a trial that never ends
    earned = alive * tf.gather(reward_table, actions, batch_dims=2)  # [B, N_steps]
    n_steps = tf.shape(actions)[1]
    t = tf.range(n_steps, dtype=tf.float32)
    delay = t[:, None] - t[None, :]  # [k, t]: k - t
    weights = tf.where(delay >= 0, tf.pow(tf.cast(discount, tf.float32), tf.maximum(delay, 0.0)), 0.0)
    ended = tf.reduce_sum(ending, axis=1) > 0
    return {"alive": alive, "reward": tf.reduce_sum(earned, axis=1), "outcome": tf.reduce_sum(ending * taken, axis=1),
            "end": tf.where(ended, tf.reduce_sum(alive, axis=1) - 1.0, tf.cast(n_steps, tf.float32)),
            "returns": alive * tf.matmul(earned, weights)}


def trial_episodes(actions: tf.Tensor, outcomes: tf.Tensor, reward_table: tf.Tensor, discount: float,
                   places: tuple[int, int, int]) -> dict[str, tf.Tensor]:
    """:func:`episode` of every trial of a batch of sequences, each trial an episode of its own.

    Args:
        actions: ``[B, N_steps]`` sampled actions; ``outcomes``, ``reward_table``: ``[B, N_steps, A]``.
        discount: per-step discount of the return.
        places: ``(K, I, N)``: trials per sequence, ITI steps and steps per trial
            (:func:`psychrnn_cli.sequences.layout`); ``N_steps = K (I + N)``.

    Returns:
        as :func:`episode` for single trials (``(1, 0, N_steps)``: :func:`episode` itself). For
        sequences ``alive`` and ``returns`` ``[B, N_steps]`` are 0 in every ITI; ``reward``,
        ``outcome`` and ``end`` are ``[B, K]``, one per trial, ``end`` the step of the sequence
        where the trial ended (``N_steps`` if it never did).
    """
    K, iti, N = places
    if (K, iti) == (1, 0):
        return episode(actions, outcomes, reward_table, discount)
    S = iti + N

    def trials(array: tf.Tensor) -> tf.Tensor:  # [B, K S, ...] -> [B K, N, ...], the ITIs left out
        return tf.reshape(array, tf.concat([[-1, S], tf.shape(array)[2:]], axis=0))[:, iti:]

    def sequences(array: tf.Tensor) -> tf.Tensor:  # [B K, N] -> [B, K S], zeros in the ITIs
        return tf.reshape(tf.pad(array, [[0, 0], [iti, 0]]), [-1, K * S])

    happened = episode(trials(actions), trials(outcomes), trials(reward_table), discount)
    start = tf.range(K, dtype=tf.float32) * S + iti  # first step of each trial in its sequence
    end = tf.reshape(happened["end"], [-1, K])
    return {"alive": sequences(happened["alive"]), "returns": sequences(happened["returns"]),
            "reward": tf.reshape(happened["reward"], [-1, K]), "outcome": tf.reshape(happened["outcome"], [-1, K]),
            "end": tf.where(end < N, start + end, float(K * S))}


def feedback_inputs(actions: tf.Tensor, happened: dict[str, tf.Tensor], fixation: int, n_actions: int) -> tf.Tensor:
    """The feedback inputs ``[B, A]`` after a trial (``task.feedback=reward``): the reward it earned
    (its total, :func:`episode`: +1 correct, 0 wrong, ``-abort_penalty`` aborted, 0 without a
    response, for the generic rule), then one channel per choice action (the ``A - 1`` actions but
    ``fixation``, in order), 1 on the action that ended the trial if it was a choice (outcome
    correct or wrong), all 0 if the network aborted (broke fixation before the response epoch) or
    never chose.

    Args:
        actions: the trial's actions ``[B, N]`` (int).
        happened: its :func:`episode`.
        fixation: the index of the fixation action.
        n_actions: A.
    """
    n_steps = actions.shape[1]
    made = tf.logical_or(tf.equal(happened["outcome"], rewards.CORRECT), tf.equal(happened["outcome"], rewards.WRONG))
    chosen = tf.gather(actions, tf.cast(tf.minimum(happened["end"], n_steps - 1), tf.int32), batch_dims=1)
    choice = tf.one_hot(chosen, n_actions) * tf.cast(made, tf.float32)[:, None]
    choice = tf.concat([choice[:, :fixation], choice[:, fixation + 1:]], axis=1)
    return tf.concat([happened["reward"][:, None], choice], axis=1)
