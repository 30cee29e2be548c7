"""PsychRNN's NumPy simulators (``psychrnn.backend.simulation``) on :mod:`psychrnn_cli.simulator`.

Any batch size works, including 1, and any number of input channels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from psychrnn_cli.simulator import Network, Plan, SimulatorError, simulate, transfer_function as numpy_transfer


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


class StepMask:
    """A perturbation for :func:`psychrnn_cli.simulator.simulate`: ``W_rec`` times a mask per step."""

    def __init__(self, masks: np.ndarray) -> None:
        self.masks = np.asarray(masks, dtype=np.float64)

    def apply(self, plan: Plan, network: Network) -> None:
        if self.masks.shape != (plan.n_steps, network.N_rec, network.N_rec):
            raise ValueError(f"t_connectivity must have shape {(plan.n_steps, network.N_rec, network.N_rec)} "
                             f"(N_steps, N_rec, N_rec), got {self.masks.shape}")
        plan.step_masks["W_rec"] = self.masks


def _known(name: str) -> bool:
    try:
        numpy_transfer(name)
    except SimulatorError:
        return False
    return True


class Simulator:
    """Run a network in NumPy, from exactly one of a compat model, a weight file or a weights dict.

    Args:
        rnn_model: a trained :class:`~psychrnn_cli.compat.backend.rnn.RNN` (its alpha, noise and
            transfer function are used).
        params: without ``rnn_model``: ``alpha`` (or ``dt`` and ``tau``) and ``rec_noise``.
        weights_path: a PsychRNN ``.npz`` (what ``save`` writes).
        weights: a dict as ``get_weights`` returns.
        transfer_function: the unit nonlinearity: a NumPy function such as :func:`relu` (one the
            simulator knows by name, or any function of your own).
    """

    kind = "basic"

    def __init__(self, rnn_model: Any = None, params: dict[str, Any] | None = None, weights_path: str | None = None,
                 weights: dict[str, Any] | None = None, transfer_function: Any = relu) -> None:
        given = sum(x is not None for x in (rnn_model, weights_path, weights))
        if given == 0:
            raise UserWarning("Either weights, rnn_model, or weights_path must be passed in.")
        if given > 1:
            raise UserWarning("Give only one of weights, rnn_model and weights_path.")
        name = getattr(transfer_function, "__name__", str(transfer_function))
        if rnn_model is not None:
            if params is not None:
                raise UserWarning("params are taken from rnn_model; do not give both.")
            if rnn_model.definition.transfer_function != name and self.kind == "basic":
                raise UserWarning(f"the model's transfer function is {rnn_model.definition.transfer_function}, "
                                  f"the simulator's {name}: give transfer_function to match")
            alpha, rec_noise, weights = rnn_model.alpha, rnn_model.rec_noise, rnn_model.get_weights()
        else:
            params = params or {}
            if "alpha" not in params and not {"dt", "tau"} <= set(params):
                raise UserWarning("params must give alpha, or dt and tau, to simulate the weights (and rec_noise, "
                                  "if any)")
            alpha = params["alpha"] if "alpha" in params else params["dt"] / params["tau"]
            rec_noise = params.get("rec_noise", 0.0)
            if weights_path is not None:
                with np.load(Path(weights_path), allow_pickle=False) as data:
                    weights = {key: data[key] for key in data.files if "/" not in key and data[key].dtype.kind in "biuf"}
        self.alpha, self.rec_noise = float(alpha), float(rec_noise)
        arrays = {key: np.asarray(weights[key], np.float64) for key in ("W_in", "W_rec", "W_out", "b_rec", "b_out")}
        arrays["init_state"] = np.asarray(weights["init_state"], np.float64).reshape(-1)
        known = self.kind != "basic" or _known(name)
        self.network = Network(self.kind, arrays, self.alpha, rec_noise=self.rec_noise,
                               transfer_function="tanh" if self.kind != "basic" else name if known else "linear")
        if not known:  # a NumPy function of the user's own, used as given
            if not callable(transfer_function):
                numpy_transfer(name)  # raises, naming the functions the simulator knows
            self.network.ops.f = transfer_function
        for key, value in arrays.items():
            setattr(self, key, value)

    def run_trials(self, trial_input: np.ndarray, t_connectivity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``[B, N_steps, N_out]`` and states ``[B, N_steps, N_rec]`` for inputs
        ``[B, N_steps, N_in]``; ``t_connectivity [N_steps, N_rec, N_rec]`` multiplies ``W_rec`` at each step."""
        perturbations = [] if t_connectivity is None else [StepMask(t_connectivity)]
        result = simulate(self.network, trial_input, noise=self.rec_noise > 0,
                          seed=int(np.random.randint(2**31)), perturbations=perturbations)
        return result.outputs, result.states


class BasicSimulator(Simulator):
    """PsychRNN's simulator of :class:`~psychrnn_cli.compat.backend.models.basic.Basic` networks."""

    def rnn_step(self, state: np.ndarray, rnn_in: np.ndarray, t_connectivity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step of states ``[B, N_rec]`` with inputs ``[B, N_in]`` and ``W_rec`` masked by
        ``t_connectivity [N_rec, N_rec]``: the new outputs ``[B, N_out]`` and states."""
        model, ops = self.network.model, self.network.ops
        w = model.prepare(ops, {**self.network.weights, "W_rec": self.network.weights["W_rec"] * t_connectivity})
        drive = model.drive_gain() * (np.asarray(rnn_in) @ w["W_in"].T + w["b_rec"])
        if self.rec_noise > 0:
            drive = drive + model.noise_scale() * np.random.standard_normal(np.shape(state))
        (new_state,) = model.step(ops, w, (np.asarray(state, np.float64),), drive)
        return model.rates(ops, new_state) @ w["W_out"].T + w["b_out"], new_state


class LSTMSimulator(Simulator):
    """PsychRNN's simulator of :class:`~psychrnn_cli.compat.backend.models.lstm.LSTM` networks."""

    kind = "lstm"

    def __init__(self, rnn_model: Any = None, params: dict[str, Any] | None = None, weights_path: str | None = None,
                 weights: dict[str, Any] | None = None) -> None:
        super().__init__(rnn_model, params, weights_path, weights, transfer_function="tanh")
