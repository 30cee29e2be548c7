"""Supervised NeuroGym environments as tasks: ``task=neurogym task.env=PerceptualDecisionMaking-v0``.

Molano-Mazon, M., Barbosa, J., Pastor-Ciurana, J., Fradera, M., Zhang, R.-Y., Forest, J.,
del Pozo Lerida, J., Ji-An, L., Cueva, C. J., de la Rocha, J., Narain, D. and Yang, G. R. (2022).
NeuroGym: An open resource for developing and sharing neuroscience tasks. PsyArXiv aqc9n.

NeuroGym is an optional dependency (``pip install 'psychrnn-cli[neurogym]'``), imported only
when such a task is built or listed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import Any

import numpy as np

from psychrnn_cli.rewards import ABORT, CORRECT, WRONG
from psychrnn_cli.task import Task, TrialParams

INSTALL_HINT = "NeuroGym is not installed: pip install 'psychrnn-cli[neurogym]'"
RESPONSE_PERIOD_NAMES = ("decision", "test", "test1", "test2", "test3", "production", "response")
RESPONSE_PERIODS = {"DelayMatchSample-v0": ("decision",)}  # where a name above is not a response
TIMING_ENVS = ("ReadySetGo-v0", "MotorTiming-v0")  # the answer is *when* to leave fixation
ACCURACY_MODES = ("choice", "timing", "continuous")
DEFAULT_TOLERANCE = {"timing": 0.2, "continuous": 0.1}
ESTIMATE_TRIALS = 200  # trials sampled to choose T when it is not given
MAX_REDRAWS = 100


def import_neurogym() -> Any:
    """The ``neurogym`` module, or an ImportError that says how to install it."""
    try:
        import neurogym
    except ImportError as err:
        if err.name not in ("neurogym", None):  # neurogym is there but one of its imports is not
            raise ImportError(f"cannot import NeuroGym: {err}; reinstall with pip install "
                              "'psychrnn-cli[neurogym]'") from None
        raise ImportError(INSTALL_HINT) from None
    return neurogym


def supervised_env_ids() -> list[str]:
    """Ids of NeuroGym's supervised environments (those with a ground truth), sorted."""
    import_neurogym()
    from neurogym.envs.registration import all_envs

    return sorted(all_envs(tag="supervised"))


def yang19_env_ids() -> list[str]:
    """Ids of NeuroGym's collection of the 20 tasks of Yang et al. (2019, Nature Neuroscience), e.g.
    ``yang19.go-v0``: supervised, with the same inputs (fixation and two rings) and outputs."""
    import_neurogym()
    from neurogym.envs.registration import all_envs

    return sorted(e for e in all_envs(collections=True) if e.startswith("yang19."))


def neurogym_env_summaries() -> dict[str, str]:
    """Supervised environment id -> the first line of its class docstring."""
    import gymnasium

    summaries = {}
    for env_id in supervised_env_ids():
        module, _, name = gymnasium.spec(env_id).entry_point.partition(":")
        cls = getattr(import_module(module), name)
        lines = (cls.__doc__ or "").strip().splitlines()
        summaries[env_id] = lines[0] if lines else ""
    return summaries


def _plain(value: Any) -> Any:
    """Mappings and lists from a config (e.g. OmegaConf nodes) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def make_env(env_id: str, dt: float, env_kwargs: Mapping[str, Any] | None = None) -> Any:
    """The unwrapped NeuroGym environment ``env_id`` with our ``dt`` (ms) and its own arguments."""
    ngym = import_neurogym()
    kwargs = _plain(env_kwargs or {})
    if "dt" in kwargs:
        raise ValueError("neurogym: set the step with task.dt, not task.env_kwargs.dt")
    known = supervised_env_ids()
    if env_id not in known and not (env_id.startswith("yang19.") and env_id in yang19_env_ids()):
        raise ValueError(f"neurogym: {env_id!r} is not a supervised NeuroGym environment; choose one of "
                         f"{', '.join(known)}, or of the Yang et al. (2019) collection (yang19.go-v0 ...)")
    try:
        with warnings.catch_warnings():  # gymnasium's note that NeuroGym lists no render modes
            warnings.filterwarnings("ignore", message=".*render_modes", category=UserWarning)
            env = ngym.make(env_id, dt=dt, **kwargs).unwrapped
    except TypeError as err:
        raise ValueError(f"neurogym: cannot build {env_id} with env_kwargs {kwargs}: {err}") from None
    env.seed(0)
    if hasattr(env, "new_block"):  # HierarchicalReasoning drew its first block length unseeded
        env.new_block()
    if len(env.observation_space.shape) != 1:
        raise ValueError(f"neurogym: {env_id} has observations of shape {env.observation_space.shape}; "
                         "only flat (1-D) observations are supported")
    return env


class NeuroGymTask(Task):
    """A supervised NeuroGym environment, one fresh NeuroGym trial per trial.

    The environment runs at our ``dt``. Inputs ``[N_steps, N_in]`` are its observations
    (``N_in`` = observation size). Targets are its ground truth: one-hot over its ``N_out``
    actions for a discrete action space (action 0 is NeuroGym's "fixate"), the ground-truth
    vector itself for a continuous one. Each trial is padded with zeros to ``T``; the mask is 1 in
    the response periods and 0 elsewhere, padding included. A trial longer than ``T`` is redrawn.

    Each trial reseeds the environment with a seed drawn from ``self.rng``, so our generator
    alone fixes the trials. Trial parameters are the numbers NeuroGym reports for the trial
    (``ground_truth``, ``coh`` ...), plus ``seed`` and ``trial_ms`` (its length before padding).

    Accuracy modes (``accuracy``; default: ``timing`` for ReadySetGo and MotorTiming,
    ``continuous`` for continuous actions, else ``choice``), judged in each response epoch (a run
    of consecutive masked steps) of a trial; a trial is correct when all its epochs are:
      - ``choice``: the channel with the largest mean output is the target's (NeuroGym's choice).
      - ``timing``: the first step whose largest output is not "fixate" is within
        ``tolerance * interval`` of the target's (the interval runs from the epoch's start to the
        target's step); an epoch whose target only fixates must only fixate.
      - ``continuous``: every channel's mean output is within ``tolerance`` of the target's.

    Args:
        env: a supervised NeuroGym environment id, e.g. ``PerceptualDecisionMaking-v0``.
        env_kwargs: the environment's own arguments (``timing``, ``sigma`` ...), not ``dt``.
        dt, tau, N_batch: see :class:`~psychrnn_cli.task.Task` (ms, ms, trials).
        T: trial length in ms; ``None`` takes 110 % of the longest of 200 sampled trials.
        response_periods: names of the environment's periods with loss and accuracy, or
            ``"all"`` for the whole trial; ``None`` takes its periods named like a response
            (decision, test, test1-3, production, response; DelayMatchSample: decision only),
            or the whole trial if it has none.
        accuracy: ``choice``, ``timing`` or ``continuous``; ``None`` for the default above.
        tolerance: for ``timing`` a fraction of the interval (default 0.2), for ``continuous`` an
            absolute error (default 0.1).
    """

    param_units = {"trial_ms": "ms"}  # trial parameter -> units, for figures

    def __init__(
        self,
        env: str = "PerceptualDecisionMaking-v0",
        env_kwargs: Mapping[str, Any] | None = None,
        dt: float = 10.0,
        tau: float = 100.0,
        T: float | None = None,
        N_batch: int = 50,
        response_periods: Sequence[str] | str | None = None,
        accuracy: str | None = None,
        tolerance: float | None = None,
        **kwargs,
    ) -> None:
        self.env_id = str(env)
        self.env = make_env(self.env_id, float(dt), env_kwargs)
        self.discrete = hasattr(self.env.action_space, "n")
        n_out = int(self.env.action_space.n) if self.discrete else int(np.prod(self.env.action_space.shape))
        steps = [self._new_trial(seed)[0].shape[0] for seed in range(ESTIMATE_TRIALS)]  # sampled trial lengths
        if T is None:
            T = (max(steps) + math.ceil(max(steps) / 10)) * float(dt)
        elif min(steps) * float(dt) > float(T):
            raise ValueError(f"neurogym: {self.env_id} trials are longer than task.T = {float(T):g} ms (the "
                             f"shortest of {ESTIMATE_TRIALS} took {min(steps) * float(dt):g} ms); raise task.T "
                             "or set it to null")
        super().__init__(int(self.env.observation_space.shape[0]), n_out, dt, tau, T, N_batch, **kwargs)
        self.response_periods = self._check_periods(response_periods)
        self.accuracy = self._check_accuracy(accuracy)
        self.tolerance = DEFAULT_TOLERANCE.get(self.accuracy, 0.0) if tolerance is None else float(tolerance)

    # --- configuration checks ------------------------------------------------------------

    def _check_periods(self, periods: Sequence[str] | str | None) -> tuple[str, ...] | None:
        """The response periods as names, or ``None`` for the whole trial."""
        names = list(self.env.start_ind)  # periods of the last sampled trial
        if periods is None:
            chosen = RESPONSE_PERIODS.get(self.env_id) or tuple(p for p in names if p in RESPONSE_PERIOD_NAMES)
            return chosen or None
        if isinstance(periods, str):
            if periods == "all":
                return None
            periods = [periods]
        unknown = [p for p in periods if p not in names]
        if unknown or not periods:
            raise ValueError(f"neurogym: {self.env_id} has no period(s) {unknown or '[]'}; its periods are "
                             f"{', '.join(names)} (or use response_periods=all)")
        return tuple(periods)

    def _check_accuracy(self, accuracy: str | None) -> str:
        if accuracy is None:
            return "continuous" if not self.discrete else "timing" if self.env_id in TIMING_ENVS else "choice"
        if accuracy not in ACCURACY_MODES:
            raise ValueError(f"neurogym: accuracy must be one of {', '.join(ACCURACY_MODES)}, got {accuracy!r}")
        if accuracy != "continuous" and not self.discrete:
            raise ValueError(f"neurogym: {self.env_id} has continuous actions; use accuracy=continuous")
        return accuracy

    # --- trials --------------------------------------------------------------------------

    def _new_trial(self, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Observations ``[n, N_in]``, ground truth ``[n]`` or ``[n, N_out]`` and info of one trial."""
        self.env.seed(seed)
        info = self.env.new_trial() or {}
        if not getattr(self.env, "_gt_built", True) or not hasattr(self.env, "gt"):
            raise ValueError(f"neurogym: {self.env_id} gives no ground truth, so it cannot be trained supervised")
        return np.asarray(self.env.ob, dtype=float), np.asarray(self.env.gt), info

    def _response_steps(self, n_steps: int) -> np.ndarray:
        """``[n_steps]`` bool: steps of the last trial inside a response period."""
        if self.response_periods is None:
            return np.ones(n_steps, dtype=bool)
        response = np.zeros(n_steps, dtype=bool)
        for period in self.response_periods:
            response[self.env.start_ind[period]:self.env.end_ind[period]] = True
        return response

    def generate_trial_params(self, batch: int, trial: int) -> TrialParams:
        for _ in range(MAX_REDRAWS):
            seed = int(self.rng.integers(2**31))
            ob, gt, info = self._new_trial(seed)
            if ob.shape[0] <= self.N_steps:
                break
        else:
            raise ValueError(f"neurogym: {self.env_id} trials are longer than task.T = {self.T:g} ms; "
                             f"raise task.T (or leave it null to size it from the environment)")
        targets = np.eye(self.N_out)[gt.astype(int)] if self.discrete else gt.reshape(len(gt), self.N_out)
        numbers = {k: v.item() if isinstance(v, np.generic) else v for k, v in info.items()
                   if isinstance(v, (int, float, bool, np.integer, np.floating, np.bool_))}
        return {**numbers, "seed": seed, "trial_ms": ob.shape[0] * self.dt,
                "_inputs": ob, "_targets": targets.astype(float), "_response": self._response_steps(ob.shape[0])}

    def trial_function(self, time: float, params: TrialParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = int(round(time / self.dt))
        if t >= params["_inputs"].shape[0]:  # padding
            return np.zeros(self.N_in), np.zeros(self.N_out), np.zeros(self.N_out)
        mask = np.full(self.N_out, 1.0 if params["_response"][t] else 0.0)
        return params["_inputs"][t].copy(), params["_targets"][t].copy(), mask

    def trials(self, params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        B = len(params)
        x, y = np.zeros((B, self.N_steps, self.N_in)), np.zeros((B, self.N_steps, self.N_out))
        mask = np.zeros((B, self.N_steps, self.N_out))
        for b, p in enumerate(params):
            n = p["_inputs"].shape[0]
            x[b, :n], y[b, :n] = p["_inputs"], p["_targets"]
            mask[b, :n] = p["_response"][:, None]
        return x, y, mask

    # --- reward-based training -------------------------------------------------------------

    @property
    def fixation_output(self) -> int | None:
        """Action 0 is NeuroGym's "fixate" (discrete actions only)."""
        return 0 if self.discrete else None

    def reward_tables(self, targets: np.ndarray, mask: np.ndarray,
                      params: list[TrialParams]) -> tuple[np.ndarray, np.ndarray]:
        """The environment's own outcomes and rewards ``[B, N_steps, N_out]`` of each action at each step.

        Each trial is replayed (from its ``seed``) and the environment's step is asked what every
        action does at the first step of each stretch of constant period and ground truth: its
        reward, and whether it ends the trial (correct if NeuroGym scores it a success, wrong in a
        response period, abort before). The answer holds for the whole stretch, as it does for
        environments whose step depends on the period and the ground truth only (observations do
        not depend on actions, so the trials can be made in advance). Padding continues at reward 0.
        """
        if not self.discrete:
            raise ValueError(f"neurogym: {self.env_id} has continuous actions; reward-based training "
                             "(algorithm=actor_critic) samples discrete actions")
        outcomes = np.zeros((len(params), self.N_steps, self.N_out), dtype=int)
        table = np.zeros((len(params), self.N_steps, self.N_out))
        for b, p in enumerate(params):
            env, (ob, gt, _) = self.env, self._new_trial(p["seed"])
            period = np.zeros(len(ob), dtype=int)
            for k, name in enumerate(env.start_ind, start=1):
                period[env.start_ind[name]:env.end_ind[name]] = k
            starts = np.flatnonzero(np.diff(period, prepend=-1) | np.diff(gt, prepend=-1))
            for start, end in zip(starts, [*starts[1:], len(ob)]):
                for action in range(self.N_out):
                    env.t, env.t_ind, env.performance = start * self.dt, start, 0
                    _, reward, terminated, truncated, info = env._step(action)
                    if info.get("new_trial") or terminated or truncated:
                        code = CORRECT if env.performance == 1 else WRONG if p["_response"][start] else ABORT
                        outcomes[b, start:end, action] = code
                    table[b, start:end, action] = reward
        return outcomes, table

    # --- accuracy ------------------------------------------------------------------------

    def accuracy_function(self, correct_output: np.ndarray, test_output: np.ndarray, output_mask: np.ndarray) -> float:
        """Fraction of trials correct in every response epoch; arrays are ``[B, N_steps, N_out]``."""
        judge = {"choice": self._choice_correct, "timing": self._timing_correct,
                 "continuous": self._continuous_correct}[self.accuracy]
        correct = [all(judge(target[s:e], output[s:e]) for s, e in epochs(mask[:, 0] > 0))
                   for target, output, mask in zip(correct_output, test_output, output_mask)]
        return float(np.mean(correct))

    @staticmethod
    def _choice_correct(target: np.ndarray, output: np.ndarray) -> bool:
        return bool(np.argmax(output.mean(axis=0)) == np.argmax(target.mean(axis=0)))

    def _timing_correct(self, target: np.ndarray, output: np.ndarray) -> bool:
        wanted, produced = first_action(target), first_action(output)
        if wanted is None or produced is None:
            return wanted is None and produced is None
        return abs(produced - wanted) <= self.tolerance * wanted

    def _continuous_correct(self, target: np.ndarray, output: np.ndarray) -> bool:
        return bool(np.all(np.abs(output.mean(axis=0) - target.mean(axis=0)) <= self.tolerance))


def epochs(active: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` step indices of each run of True in ``active [N_steps]``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def first_action(output: np.ndarray) -> int | None:
    """First step of ``output [n, N_out]`` whose largest channel is not 0 ("fixate"); None if none."""
    acting = np.flatnonzero(np.argmax(output, axis=1) != 0)
    return int(acting[0]) if acting.size else None
