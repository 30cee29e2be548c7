"""Rate units with spike-frequency adaptation (Benda and Herz 2003, Neural Computation 15:2523).

Each unit carries an adaptation variable ``a`` that follows its rate with time constant
``tau_adapt`` and is subtracted from the unit's input with a per-unit ``strength``:

    x[t+1] = (1 - alpha) x[t] + alpha (W_rec r[t] + W_in u[t] + b_rec - strength * a[t]) + noise
    a[t+1] = a[t] + (dt / tau_adapt) (r[t] - a[t]),   a[0] = 0
    r[t] = f(x[t]),  z[t] = W_out r[t] + b_out

The state is ``(x, a)``; ``x`` is recorded, clamped and read out, as in the basic model, whose
recurrent matrix (masks, Dale's principle) this model keeps. ``strength [N_rec]`` is an extra
parameter (``/model/weights/strength``), initialised to the option ``strength`` for every unit and
trained only with ``train_strength=true``; the step uses ``max(strength, 0)``, so training cannot
turn adaptation into facilitation.

This module is also the pattern for a model of your own: a subclass of a built-in model with its
own options (``__init__`` keywords), an extra state component (``initial_state``, ``step``) and
an extra parameter (``extra_weights``, ``trainable_flags``).
"""

from __future__ import annotations

from typing import Any

from psychrnn_cli.models import ModelError, State, Weights
from psychrnn_cli.models.basic import Basic


class Adapting(Basic):
    """The basic leaky rate network plus one adaptation variable per unit.

    Args:
        tau_adapt: adaptation time constant (ms), at least the time step ``dt``.
        strength: initial adaptation strength of every unit (>= 0; 0 is the basic model).
        train_strength: train the per-unit strengths with the other parameters.
        Other arguments: see :class:`~psychrnn_cli.models.Model`.
    """

    kind = "adapting"

    def __init__(self, *args: Any, tau_adapt: float = 500.0, strength: float = 0.5, train_strength: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tau_adapt = float(tau_adapt)
        self.strength = float(strength)
        self.train_strength = bool(train_strength)
        if not self.tau_adapt >= self.dt:
            raise ModelError(f"model.tau_adapt ({self.tau_adapt:g} ms) must be at least the time step task.dt "
                             f"({self.dt:g} ms): raise model.tau_adapt or lower task.dt")

    def extra_weights(self, rng: Any, N_in: int, N_out: int) -> Weights:
        return {"strength": [self.strength] * self.N_rec}  # [N_rec]; the engines make it an array

    def trainable_flags(self) -> dict[str, bool]:
        return {"strength": self.train_strength}

    def prepare(self, ops: Any, w: Weights) -> Weights:
        # alpha * max(strength, 0): the adaptation's share of the step, per unit [N_rec]
        return {**super().prepare(ops, w), "adapt_gain": self.alpha * ops.maximum(w["strength"], 0.0)}

    def initial_state(self, ops: Any, w: Weights, x0: Any) -> State:
        return x0, ops.zeros_like(x0)

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        x, a = state
        r = ops.f(x)
        x_next = (1 - self.alpha) * x + ops.matmul(r, w["rec_kernel"]) + drive - w["adapt_gain"] * a
        return x_next, a + (self.dt / self.tau_adapt) * (r - a)
