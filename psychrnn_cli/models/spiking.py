"""Leaky integrate-and-fire units trained with surrogate gradients (Zenke and Ganguli 2018, Neural
Computation; Neftci, Mostafa and Zenke 2019, IEEE Signal Processing Magazine).

With ``beta_x = exp(-dt / tau_x)`` for the membrane (``tau_mem``), synaptic (``tau_syn``) and
readout (``tau_out``) time constants, at each time step ``t`` (all in ms)::

    v[t+1] = beta_mem v[t] + (1 - beta_mem) I[t] - theta s[t]          (reset by subtraction)
    s[t+1] = H(v[t+1] - theta)                                         (spike: 1, else 0)
    I[t+1] = beta_syn I[t] + (1 - beta_syn) (W_rec s[t] + W_in u[t] + b_rec + noise)
    o[t+1] = beta_out o[t] + (1 - beta_out) s[t+1],   z[t+1] = W_out o[t+1] + b_out

``H`` is the Heaviside step; training replaces its derivative by the fast sigmoid
``1 / (1 + surrogate_slope |v - theta|)^2``. The state is ``(o, v, I, s)``: the first component,
recorded as ``/trials/states`` and read out, is the filtered spike train ``o`` (spikes per step,
in [0, 1]); spikes ``s`` are recorded as ``/trials/spikes`` (uint8). ``v`` starts at
``init_state``, the rest at 0. Lesions cut a unit's outgoing synapses (``W_rec`` and ``W_out``
columns), so its spikes reach neither the network nor the readout. Dale's principle and
connectivity masks act on ``W_rec`` as in the basic model.

``dt`` must be at most ``tau_mem / 2``: with coarser steps the membrane keeps less than
``exp(-2)`` (14%) of its potential from one step to the next, so units no longer integrate their
input over time but fire at most once per step on the current alone.
"""

from __future__ import annotations

import math
from typing import Any

from psychrnn_cli.models import Model, ModelError, State, Weights


class Spiking(Model):
    """Leaky integrate-and-fire network with exponential synaptic currents and a filtered readout.

    Args:
        tau_mem: membrane time constant (ms), at least ``2 dt``.
        tau_syn: synaptic time constant (ms).
        tau_out: time constant of the readout's spike filter (ms).
        theta: firing threshold (the membrane's units: those of the current).
        surrogate_slope: slope of the fast-sigmoid surrogate derivative (per unit of membrane potential).
        Other arguments: see :class:`~psychrnn_cli.models.Model`.
    """

    kind = "spiking"
    supports_dale = True
    recorded = {"spikes": (3, "uint8")}
    smooth = False

    def __init__(self, *args: Any, tau_mem: float = 20.0, tau_syn: float = 10.0,
                 tau_out: float = 50.0, theta: float = 0.2, surrogate_slope: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, value in (("tau_mem", tau_mem), ("tau_syn", tau_syn), ("tau_out", tau_out),
                            ("theta", theta), ("surrogate_slope", surrogate_slope)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < math.inf:
                raise ModelError(f"model.{name} must be a positive number, got {value!r}")
        if self.dt > tau_mem / 2:
            raise ModelError(f"task.dt={self.dt:g} ms is too coarse for model.tau_mem={tau_mem:g} ms: dt must be at "
                             f"most tau_mem / 2 = {tau_mem / 2:g} ms; set task.dt smaller or model.tau_mem larger")
        self.tau_mem, self.tau_syn, self.tau_out = float(tau_mem), float(tau_syn), float(tau_out)
        self.theta, self.surrogate_slope = float(theta), float(surrogate_slope)

    def prepare(self, ops: Any, w: Weights) -> Weights:
        return {**w, "rec_kernel": ops.transpose(w["W_rec"])}

    def initial_state(self, ops: Any, w: Weights, x0: Any) -> State:
        zeros = ops.zeros_like(x0)
        return zeros, x0, zeros, zeros

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        o, v, current, s = state
        beta_mem, beta_syn, beta_out = (math.exp(-self.dt / tau) for tau in (self.tau_mem, self.tau_syn, self.tau_out))
        v = beta_mem * v + (1 - beta_mem) * current - self.theta * s
        current = beta_syn * current + (1 - beta_syn) * (ops.matmul(s, w["rec_kernel"]) + drive)
        s = ops.spike(v - self.theta, self.surrogate_slope)
        return beta_out * o + (1 - beta_out) * s, v, current, s

    def rates(self, ops: Any, x: Any) -> Any:
        return x
