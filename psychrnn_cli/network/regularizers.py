"""Regularization terms (docs/concepts/networks.md), each its own training curve."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

WEIGHT_TERMS = {  # config name -> (effective matrix, penalty)
    "L1_in": ("W_in", tf.abs), "L1_rec": ("W_rec", tf.abs), "L1_out": ("W_out", tf.abs),
    "L2_in": ("W_in", tf.square), "L2_rec": ("W_rec", tf.square), "L2_out": ("W_out", tf.square),
}
CustomTerm = Callable[[dict[str, tf.Tensor], tf.Tensor, tf.Tensor], tf.Tensor]


def regularization_terms(coefficients: dict[str, float], weights: dict[str, tf.Tensor], rates: tf.Tensor,
                         outputs: tf.Tensor, custom: CustomTerm | None = None,
                         custom_weight: float = 1.0) -> dict[str, tf.Tensor]:
    """The active (non-zero) terms, each already multiplied by its coefficient.

    ``L1_x`` = coef * mean |W_x_eff|, ``L2_x`` = coef * mean W_x_eff^2, ``L2_rate`` = coef * mean
    rate^2 over batch, time and units, ``custom`` = custom_weight * custom(weights, rates, outputs).
    """
    terms = {}
    for name, (matrix, penalty) in WEIGHT_TERMS.items():
        if coefficients.get(name, 0.0):
            terms[name] = coefficients[name] * tf.reduce_mean(penalty(weights[matrix]))
    if coefficients.get("L2_rate", 0.0):
        terms["L2_rate"] = coefficients["L2_rate"] * tf.reduce_mean(tf.square(rates))
    if custom is not None:
        terms["custom"] = custom_weight * custom(weights, rates, outputs)
    return terms
