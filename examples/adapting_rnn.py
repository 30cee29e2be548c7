"""A user-defined model: rate units with spike-frequency adaptation.

Each unit carries a slow adaptation variable ``a`` that follows its firing rate and is subtracted
from its input (Benda and Herz 2003, "A universal model for spike-frequency adaptation"):

    x[t+1] = (1 - alpha) x[t] + alpha (W_rec r[t] + W_in u[t] + b_rec - strength * a[t]) + noise
    a[t+1] = a[t] + adapt_rate (r[t] - a[t])          (adapt_rate = dt / tau_adapt)
    r[t] = f(x[t]),  z[t] = W_out r[t] + b_out

The state is ``(x, a)``: ``x`` is recorded, clamped and read out through ``f``. Written against the
model contract (docs/guides/own-model.md), it trains and then works in evaluate, simulate (with
perturbations), plot, analyse and the Python simulator. Train it from this folder with

    psychrnn train model._target_=adapting_rnn.AdaptingRNN +model.strength=0.5 +model.adapt_rate=0.02
"""

from psychrnn_cli.models.basic import Basic


class AdaptingRNN(Basic):
    """The basic model (its drive gain and recurrent kernel) plus one adaptation variable per unit."""

    kind = "adapting"

    def __init__(self, *args, strength: float = 0.5, adapt_rate: float = 0.02, **kwargs):
        super().__init__(*args, **kwargs)
        self.strength = float(strength)
        self.adapt_rate = float(adapt_rate)

    def initial_state(self, ops, w, x0):
        return x0, ops.zeros_like(x0)

    def step(self, ops, w, state, drive):
        x, adaptation = state
        rate = ops.f(x)
        x_next = ((1 - self.alpha) * x + ops.matmul(rate, w["rec_kernel"]) + drive
                  - self.alpha * self.strength * adaptation)
        return x_next, adaptation + self.adapt_rate * (rate - adaptation)
