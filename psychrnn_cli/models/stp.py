"""Short-term synaptic plasticity (Mongillo, Barak and Tsodyks 2008, Science 319:1543), in the form
Masse et al. (2019, Nature Neuroscience 22:1159) trained.

Each presynaptic unit j has available resources ``x_j`` and utilisation ``u_j`` in [0, 1]; with
rates r in 1/s and the step dt in s, each step

    x'_j = clip(x_j + dt ((1 - x_j) / tau_x - u_j x_j r_j), 0, 1)
    u'_j = clip(u_j + dt ((U - u_j) / tau_u + U (1 - u_j) r_j), 0, 1)
    h[t+1] = (1 - alpha) h[t] + alpha (W_rec (u' * x' * r) + W_in u[t] + b_rec) + noise
    r = f(h[t]),  z[t] = W_out r[t] + b_out

starting at rest, ``x = 1``, ``u = U``. The recurrent input uses the synaptic state after this
step's update, as Masse et al. do. Units: the rate ``r = f(h)`` is read as spikes per second
(relu rates of order 1 to 100), dt and the time constants are given in ms and converted to s.
With dt = 10 ms and the default constants a step changes ``x`` by at most 5% of its distance to 1
plus ``0.01 u x r``; clipping to [0, 1] (as Masse et al. do) keeps high rates from driving the
variables out of range.

Synapse kinds (option ``synapses``): ``facilitating`` (default tau_x 200 ms, tau_u 1500 ms,
U 0.15), ``depressing`` (tau_x 1500 ms, tau_u 200 ms, U 0.45), ``static``, or ``alternating``
(the default, Masse et al.'s): even-numbered excitatory units facilitating, odd-numbered
depressing. Under Dale's principle (``dale_ratio``, which the preset takes from
``constraints.dale_ratio``) the inhibitory units' synapses are static; without it every unit
follows ``synapses``. A static synapse holds ``u = x = 1``, so it passes ``W_rec r`` unchanged: a
plain synapse of the basic model. The state is ``(h, u, x)``; ``h`` is recorded, clamped and read
out, and ``u`` and ``x`` are recorded in the run file as ``/trials/u`` and ``/trials/x``.
"""

from __future__ import annotations

from typing import Any

from psychrnn_cli.models import ModelError, State, Weights
from psychrnn_cli.models.basic import Basic

SYNAPSES = ("alternating", "facilitating", "depressing", "static")


class STP(Basic):
    """The basic leaky rate network with short-term plasticity on its recurrent synapses.

    Args:
        synapses: kind of the (excitatory) units' synapses: alternating, facilitating,
            depressing or static.
        dale_ratio: fraction of excitatory units under Dale's principle (the first ones), whose
            synapses follow ``synapses`` while the others' are static; None: all follow ``synapses``.
        facilitating_tau_x, facilitating_tau_u, facilitating_U: constants of facilitating synapses
            (ms, ms, in (0, 1]).
        depressing_tau_x, depressing_tau_u, depressing_U: constants of depressing synapses.
        Other arguments: see :class:`~psychrnn_cli.models.Model`.
    """

    kind = "stp"
    recorded = {"u": (1, "float32"), "x": (2, "float32")}

    def __init__(self, *args: Any, synapses: str = "alternating", dale_ratio: float | None = None,
                 facilitating_tau_x: float = 200.0, facilitating_tau_u: float = 1500.0, facilitating_U: float = 0.15,
                 depressing_tau_x: float = 1500.0, depressing_tau_u: float = 200.0, depressing_U: float = 0.45,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if synapses not in SYNAPSES:
            raise ModelError(f"model.synapses must be one of {', '.join(SYNAPSES)}, got {synapses!r}")
        self.synapses = str(synapses)
        self.dale_ratio = None if dale_ratio is None else float(dale_ratio)
        self.facilitating_tau_x, self.facilitating_tau_u = float(facilitating_tau_x), float(facilitating_tau_u)
        self.depressing_tau_x, self.depressing_tau_u = float(depressing_tau_x), float(depressing_tau_u)
        self.facilitating_U, self.depressing_U = float(facilitating_U), float(depressing_U)
        constants = {"facilitating": (self.facilitating_tau_x, self.facilitating_tau_u, self.facilitating_U),
                     "depressing": (self.depressing_tau_x, self.depressing_tau_u, self.depressing_U)}
        for kind, (tau_x, tau_u, U) in constants.items():
            for name, tau in (("tau_x", tau_x), ("tau_u", tau_u)):
                if not tau >= self.dt:
                    raise ModelError(f"model.{kind}_{name} ({tau:g} ms) must be at least the time step task.dt "
                                     f"({self.dt:g} ms)")
            if not 0 < U <= 1:
                raise ModelError(f"model.{kind}_U must be in (0, 1], got {U:g}")
        # per presynaptic unit: (dt/tau_x, dt/tau_u, U, dt in s where plastic); static: no change, u = x = 1
        n_plastic = self.N_rec if self.dale_ratio is None else int(round(self.dale_ratio * self.N_rec))
        kinds = [self.synapses if self.synapses != "alternating" else ("facilitating", "depressing")[j % 2]
                 for j in range(n_plastic)] + ["static"] * (self.N_rec - n_plastic)
        per_unit = {kind: (self.dt / tau_x, self.dt / tau_u, U, self.dt / 1000.0)
                    for kind, (tau_x, tau_u, U) in constants.items()}
        per_unit["static"] = (0.0, 0.0, 1.0, 0.0)
        self._constants = list(zip(*(per_unit[kind] for kind in kinds)))

    def check(self, weights: Weights, dale_ratio: Any = ...) -> None:
        """:meth:`Model.check`; given the constraints' ``dale_ratio`` (None: no Dale's principle), also
        that ``model.dale_ratio`` equals it (the simulator, which has no constraints, passes none)."""
        super().check(weights, None if dale_ratio is ... else dale_ratio)
        if dale_ratio is not ... and dale_ratio != self.dale_ratio:
            model, constraints = ("null" if r is None else r for r in (self.dale_ratio, dale_ratio))
            raise ModelError(f"model.dale_ratio ({model}) must equal constraints.dale_ratio ({constraints}), "
                             "which decides the static inhibitory synapses: use model=stp, whose preset sets "
                             "dale_ratio: ${constraints.dale_ratio}")

    def prepare(self, ops: Any, w: Weights) -> Weights:
        one = ops.ones_like(w["init_state"])  # the per-unit constants [N_rec] as the engine's arrays
        names = ("recover_x", "recover_u", "U", "dt_s")
        return {**super().prepare(ops, w), **{name: one * list(c) for name, c in zip(names, self._constants)}}

    def initial_state(self, ops: Any, w: Weights, x0: Any) -> State:
        ones = ops.ones_like(x0)
        return x0, ones * w["U"], ones

    def step(self, ops: Any, w: Weights, state: State, drive: Any) -> State:
        h, u, x = state
        r = ops.f(h)
        release = w["dt_s"] * r  # dt (s) times the rate (1/s); 0 for static synapses
        x = ops.minimum(ops.maximum(x + w["recover_x"] * (1 - x) - release * u * x, 0.0), 1.0)
        u = ops.minimum(ops.maximum(u + w["recover_u"] * (w["U"] - u) + release * w["U"] * (1 - u), 0.0), 1.0)
        return (1 - self.alpha) * h + ops.matmul(u * x * r, w["rec_kernel"]) + drive, u, x
