"""A user-defined model: rate units with spike-frequency adaptation.

Each unit carries a slow adaptation variable ``a`` that follows its firing rate and is subtracted
from its input (Benda and Herz 2003, "A universal model for spike-frequency adaptation"):

    x[t+1] = (1 - alpha) x[t] + alpha (W_rec r[t] + W_in u[t] + b_rec - strength * a[t]) + noise
    a[t+1] = a[t] + adapt_rate (r[t] - a[t])          (adapt_rate = dt / tau_adapt)

Train it from this folder with

    psychrnn train model._target_=adapting_rnn.AdaptingRNN +model.strength=0.5 +model.adapt_rate=0.02
"""

import tensorflow as tf

from psychrnn_cli.network.basic import BasicRNN


class AdaptingRNN(BasicRNN):
    kind = "adapting"

    def __init__(self, *args, strength: float = 0.5, adapt_rate: float = 0.02, **kwargs):
        super().__init__(*args, **kwargs)
        self.strength = strength
        self.adapt_rate = adapt_rate

    def initial_state(self, w, batch_size):
        x, rate = super().initial_state(w, batch_size)
        return x, rate, tf.zeros_like(x)  # the state is (x, r, a); states recorded are x

    def step(self, w, state, drive):
        x, rate, adaptation = state
        x = (1 - self.alpha) * x + tf.matmul(rate, w["rec_kernel"]) + drive - self.alpha * self.strength * adaptation
        adaptation = adaptation + self.adapt_rate * (rate - adaptation)
        return x, self.f(x), adaptation
