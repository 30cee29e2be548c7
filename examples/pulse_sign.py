"""A complete task in plain NumPy: report the sign of a brief pulse.

Train it from this folder with

    psychrnn train task=custom task._target_=pulse_sign.PulseSign

One input channel carries a 100 ms pulse of +1 or -1 at a random time. After the pulse ends,
output channel 0 should go high for a positive pulse and channel 1 for a negative one.
"""

import numpy as np

from psychrnn_cli.task import Task


class PulseSign(Task):
    def __init__(self, dt=10, tau=100, T=1000, N_batch=50, pulse_ms=100.0):
        super().__init__(1, 2, dt, tau, T, N_batch)  # N_in=1, N_out=2
        self.pulse_ms = pulse_ms

    def generate_trial_params(self, batch, trial):
        # Draw from self.rng (seeded by psychrnn), never from np.random directly.
        return {
            "onset": self.rng.uniform(100.0, self.T / 2),
            "sign": int(self.rng.choice([-1, 1])),
        }

    def trial_function(self, time, params):
        x = np.zeros(self.N_in)
        y = np.zeros(self.N_out)
        mask = np.zeros(self.N_out)
        end = params["onset"] + self.pulse_ms
        if params["onset"] <= time < end:
            x[0] = params["sign"]
        if time >= end:
            y[0 if params["sign"] > 0 else 1] = 1.0
            mask[:] = 1.0
        return x, y, mask
