"""PsychRNN's ``RNN`` base class (``psychrnn.backend.rnn.RNN``) on the psychrnn-cli engine.

A network is built from PsychRNN's ``params`` dict and trained with PsychRNN's ``train_params``;
the arithmetic is the engine's: the model kind from :mod:`psychrnn_cli.models`, the compiled step
of :mod:`psychrnn_cli.network.step` and the outer loop :func:`psychrnn_cli.training.run_trainers`
(driven by :class:`psychrnn_cli.compat.backend.training.PsychRNNLoop` with PsychRNN's stop rules,
loss records and printing). Differences from PsychRNN 1.0 are listed in
docs/guides/psychrnn-compat.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from psychrnn_cli.compat.backend.initializations import CompatError, GaussianSpectralRadius, WeightInitializer
from psychrnn_cli.compat.backend.run_dir import CurveRecorder, write_run_dir
from psychrnn_cli.compat.backend.training import MODEL_GUIDE, check_batch_shapes
from psychrnn_cli.masks import Constraints, effective_weights
from psychrnn_cli.models import PARAMETER_NAMES, Model, ModelError
from psychrnn_cli.runfile import RUN_FILE
from psychrnn_cli.schema import BOOL, NON_NEGATIVE, NUMBER, POSITIVE, Rule, optional, suggestion
from psychrnn_cli.simulator import NumpyOps

REQUIRED_PARAMS = ("name", "N_in", "N_rec", "N_out", "N_steps", "dt", "tau", "N_batch")
TF1_HOOKS = ("forward_pass", "recurrent_timestep", "output_timestep")  # PsychRNN's graph-building methods
TRAIN_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.001, "training_iters": 50000, "loss_epoch": 10, "verbosity": True,
    "save_weights_path": None, "save_training_weights_epoch": 100, "training_weights_path": None,
    "curriculum": None, "optimizer": None, "clip_grads": True, "fixed_weights": None,
    "performance_cutoff": None, "performance_measure": None,
}


# params and train_params keys with their config key's rule (psychrnn_cli.schema): the same ranges as on the
# command line; other params keys are ignored, as in PsychRNN
WHOLE = Rule("a whole number >= 1", lambda v: NUMBER.accepts(v) and v >= 1 and v == int(v))
PARAM_RULES: dict[str, Rule] = {
    **{key: WHOLE for key in ("N_in", "N_rec", "N_out", "N_steps", "N_batch")},
    "dt": POSITIVE, "tau": POSITIVE, "rec_noise": NON_NEGATIVE, "spec_rad": POSITIVE, "autapses": BOOL,
    "init_minval": NUMBER, "init_maxval": NUMBER,
    **{f"{name}_train": BOOL for name in PARAMETER_NAMES},
    **{key: NON_NEGATIVE for key in ("L1_in", "L1_rec", "L1_out", "L2_in", "L2_rec", "L2_out", "L2_firing_rate")},
}
TRAIN_RULES: dict[str, Rule] = {
    "learning_rate": POSITIVE, "training_iters": WHOLE, "loss_epoch": WHOLE, "verbosity": BOOL,
    "save_training_weights_epoch": WHOLE, "clip_grads": BOOL, "performance_cutoff": optional(NUMBER),
    "save_weights_path": optional(Rule("a path", lambda v: isinstance(v, (str, Path)))),
    "training_weights_path": optional(Rule("a path", lambda v: isinstance(v, (str, Path)))),
}


def check_values(name: str, values: dict[str, Any], rules: dict[str, Rule]) -> None:
    """CompatError for the first value of ``values`` (the dict called ``name``) outside its key's rule
    (NumPy scalars count as the Python numbers they hold)."""
    for key, rule in rules.items():
        value = values.get(key)
        value = value.item() if isinstance(value, np.generic) else value
        if key in values and not rule.accepts(value):
            raise CompatError(f"{name}['{key}'] must be {rule.allowed}, got {value!r}")


def weight_file(save_path: str | Path) -> Path:
    """The ``.npz`` path :meth:`RNN.save` writes for ``save_path``; CompatError if a file other than
    a weight file (an ``.npz`` holding ``W_in``, ``W_rec`` and ``W_out``) is there, which is kept."""
    path = Path(save_path)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
    if path.exists() or path.is_symlink():
        try:
            with np.load(path, allow_pickle=False) as data:
                weights = {"W_in", "W_rec", "W_out"} <= set(data.files)
        except (OSError, ValueError, EOFError):
            weights = False
        if not weights or not path.is_file():
            raise CompatError(f"{path} already exists and is not a weight file (an .npz with W_in, W_rec, W_out); "
                              "it is kept: choose another path")
    return path


def _transfer_name(function: Any) -> str:
    """The name of a transfer function given as a TensorFlow function (``tf.nn.relu``) or a name."""
    return function if isinstance(function, str) else getattr(function, "__name__", str(function))


def _dale_ratio(params: dict[str, Any]) -> float | None:
    dale_ratio = params.get("dale_ratio")
    if isinstance(dale_ratio, np.ndarray) and dale_ratio.ndim == 0:  # as np.load gives it from a weight file
        dale_ratio = dale_ratio.item()
    if dale_ratio is None:
        return None
    dale_ratio = float(dale_ratio)
    if not 0.0 < dale_ratio <= 1.0:
        raise CompatError(f"dale_ratio={dale_ratio:g}: the fraction of excitatory units must be in (0, 1]; use None "
                          "for no Dale's principle (PsychRNN 1.0 took 0 to mean none)")
    return dale_ratio


class RNN:
    """A recurrent network with PsychRNN's API. Subclasses name the model kind (:attr:`definition_class`).

    Args:
        params: PsychRNN's network parameters: required ``name, N_in, N_rec, N_out, N_steps, dt,
            tau, N_batch``; optional ``rec_noise``, ``transfer_function``, ``loss_function``,
            ``load_weights_path``, ``initializer``, the ``*_train`` flags, connectivity
            (``input_connectivity``, ``rec_connectivity``, ``output_connectivity``, ``autapses``,
            ``dale_ratio``), initial arrays (``W_in`` ... ``init_state``), the initializer options
            and the regularizer coefficients. Other keys are ignored, so ``get_task_params()`` and
            ``get_weights()`` dicts can be merged in.
    """

    definition_class: type[Model] | None = None

    def __init__(self, params: dict[str, Any]) -> None:
        self._refuse_graph_code()
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of PsychRNN's network parameters, got {type(params).__name__}")
        for key in REQUIRED_PARAMS:
            if key not in params:
                print(f"Error: params['{key}'] is required to build a network.")
                raise KeyError(key)
        check_values("params", params, PARAM_RULES)
        if params["dt"] > params["tau"]:
            raise CompatError(f"params['dt'] ({params['dt']:g} ms) must not exceed params['tau'] ({params['tau']:g} ms): "
                              "alpha = dt / tau > 1 is unstable")
        try:
            NumpyOps(_transfer_name(params.get("transfer_function", "relu")))
        except ValueError as err:
            raise CompatError(f"params['transfer_function']: {err}") from None
        self.params = params
        self.name = params["name"]
        self.N_in, self.N_rec, self.N_out = int(params["N_in"]), int(params["N_rec"]), int(params["N_out"])
        self.N_steps, self.N_batch = int(params["N_steps"]), int(params["N_batch"])
        self.dt, self.tau = float(params["dt"]), float(params["tau"])
        self.alpha = self.dt / self.tau
        self.rec_noise = float(params.get("rec_noise", 0.0))
        self.transfer_function = params.get("transfer_function", "relu")
        self.load_weights_path = params.get("load_weights_path")
        self.trainable = {name: bool(params.get(f"{name}_train", True)) for name in PARAMETER_NAMES}
        for name, flag in self.trainable.items():
            setattr(self, f"{name}_train", flag)
        try:
            self.definition = self.definition_class(N_rec=self.N_rec, alpha=self.alpha, rec_noise=self.rec_noise,
                                                    transfer_function=_transfer_name(self.transfer_function),
                                                    dt=self.dt)
            if self.load_weights_path:
                self.constraints, self._weights = self._from_file(Path(self.load_weights_path))
            else:
                self.constraints = self._constraints(params)
                self._weights = self.definition.initial_weights(self._initializer(params).weights,
                                                                np.random.default_rng(np.random.randint(2**31)),
                                                                self.constraints, self.N_in, self.N_out)
            self.definition.check(self._weights, self.constraints.dale_ratio)
        except ModelError as err:
            raise CompatError(str(err)) from None
        self.dale_ratio = self.constraints.dale_ratio
        self.is_initialized, self.is_built = True, False
        self._model = self._steps = None

    # --- construction -------------------------------------------------------------------------

    def _refuse_graph_code(self) -> None:
        """PsychRNN models written as TensorFlow 1 graph code cannot run on the new engine."""
        own = [klass for klass in type(self).__mro__ if not klass.__module__.startswith("psychrnn_cli.compat")]
        hooks = sorted({hook for klass in own for hook in TF1_HOOKS if hook in vars(klass)})
        if self.definition_class is None or hooks:
            defined = f"defines {', '.join(hooks)}" if hooks else "names no model kind"
            raise CompatError(f"{type(self).__name__} {defined}: PsychRNN models written as TensorFlow 1 graph code "
                              f"(tf.compat.v1.get_variable, forward_pass) cannot run on the new engine; write the "
                              f"model as a psychrnn_cli.models.Model subclass ({MODEL_GUIDE})")

    def _constraints(self, params: dict[str, Any]) -> Constraints:
        N_in, N_rec, N_out = self.N_in, self.N_rec, self.N_out
        masks = {}
        for key, shape in (("input_connectivity", (N_rec, N_in)), ("rec_connectivity", (N_rec, N_rec)),
                           ("output_connectivity", (N_out, N_rec))):
            value = params.get(key)
            masks[key] = np.ones(shape, np.float32) if value is None else np.array(value, dtype=np.float32)
            if masks[key].shape != shape:
                raise CompatError(f"params['{key}'] has shape {masks[key].shape}, expected {shape}")
        if params.get("autapses", True) is False:
            np.fill_diagonal(masks["rec_connectivity"], 0.0)
        return Constraints(masks["input_connectivity"], masks["rec_connectivity"], masks["output_connectivity"],
                           _dale_ratio(params))

    def _initializer(self, params: dict[str, Any]) -> WeightInitializer:
        initializer = params.get("initializer")
        if initializer is None:
            given = any(params.get(name) is not None for name in ("W_rec", "W_in", "W_out"))
            return WeightInitializer(**params) if given else GaussianSpectralRadius(**params)
        if not isinstance(initializer, WeightInitializer):
            raise CompatError(f"params['initializer'] is a {type(initializer).__name__}; use WeightInitializer, "
                              "GaussianSpectralRadius or AlphaIdentity from psychrnn_cli.compat.backend.initializations")
        return initializer

    def _from_file(self, path: Path) -> tuple[Constraints, dict[str, np.ndarray]]:
        """Constraints and parameters stored in a PsychRNN ``.npz`` (also what :meth:`save` writes)
        or a psychrnn-cli run file; every other initial setting is ignored, as in PsychRNN."""
        from psychrnn_cli.initializers import load_weights
        from psychrnn_cli.interop import InteropError, read_psychrnn
        from psychrnn_cli.masks import ConstraintError

        try:
            if path.suffix != ".npz":
                return self._constraints(self.params), load_weights(path, "load_weights_path")
            if self.definition.gates > 1:  # a gated model's own save(): its gate blocks, no PsychRNN layout
                with np.load(path, allow_pickle=False) as data:
                    weights = {name: np.asarray(data[name], np.float32) for name in PARAMETER_NAMES if name in data}
                weights["init_state"] = weights.get("init_state", np.zeros(self.N_rec)).reshape(-1)
                return self._constraints(self.params), weights
            stored = read_psychrnn(path)
        except (InteropError, ConstraintError) as err:
            raise CompatError(f"load_weights_path: {err}") from None
        masks = {key: stored.arrays[key] for key in ("input_connectivity", "rec_connectivity", "output_connectivity")
                 if key in stored.arrays}
        constraints = self._constraints({**masks, "dale_ratio": stored.dale_ratio})
        weights = {name: np.asarray(stored.arrays[name], np.float32) for name in PARAMETER_NAMES}
        weights["init_state"] = weights["init_state"].reshape(-1)
        return constraints, weights

    # --- PsychRNN's methods ------------------------------------------------------------------

    def build(self) -> None:
        """Make the TensorFlow model and its compiled steps (done lazily by train, test and get_weights)."""
        if not self.is_built:
            self._compile(dict(TRAIN_DEFAULTS))

    def _compile(self, train_params: dict[str, Any]) -> None:
        from psychrnn_cli.compat.backend.training import compile_steps

        self._model, self._steps, self._seed = compile_steps(self, train_params)
        self.is_built = True

    def destruct(self) -> None:
        """Free the TensorFlow objects; the network's weights stay (PsychRNN reset TensorFlow's graph)."""
        self._model = self._steps = None
        self.is_built = False

    def get_effective_W_rec(self) -> np.ndarray:
        return self._effective()["W_rec"]

    def get_effective_W_in(self) -> np.ndarray:
        return self._effective()["W_in"]

    def get_effective_W_out(self) -> np.ndarray:
        return self._effective()["W_out"]

    def _effective(self) -> dict[str, np.ndarray]:
        return effective_weights(self._weights, self.constraints, gates=self.definition.gates)

    def get_weights(self) -> dict[str, Any]:
        """The arrays of PsychRNN's weight files: effective ``W_in``, ``W_rec``, ``W_out``, the biases,
        ``init_state [1, N_rec]``, ``Dale_rec``, ``Dale_out`` (diagonal ``[N_rec, N_rec]``), the three
        connectivity masks and ``dale_ratio``; and any extra parameters of the model kind."""
        eff = {k: np.asarray(v, np.float32) for k, v in self._effective().items()}
        eff["init_state"] = eff["init_state"].reshape(1, -1)
        c = self.constraints
        signs = c.signs if c.signs is not None else np.ones(self.N_rec, np.float32)
        return {**eff, "Dale_rec": np.diag(signs).astype(np.float32),
                "Dale_out": np.diag((signs > 0).astype(np.float32)),
                "input_connectivity": c.input_mask, "rec_connectivity": c.rec_mask, "output_connectivity": c.output_mask,
                "dale_ratio": c.dale_ratio}

    def save(self, save_path: str | Path) -> Path:
        """Write :meth:`get_weights` as a PsychRNN ``.npz`` (``.npz`` appended if missing), with no
        pickled objects: PsychRNN 1.0 loads it (``load_weights_path``). An existing file there is
        replaced only if it is a PsychRNN weight file (as PsychRNN replaced it); any other file is
        kept (CompatError)."""
        from psychrnn_cli.interop import PsychRNNWeights, write_psychrnn

        path = weight_file(save_path)
        weights = self.get_weights()
        dale_ratio = weights.pop("dale_ratio")
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_psychrnn(path, PsychRNNWeights(weights, dale_ratio))

    def test(self, trial_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``[B, N_steps, N_out]`` and states ``[B, N_steps, N_rec]`` for inputs ``[B, N_steps, N_in]``,
        any batch size B, recurrent noise on (as PsychRNN's)."""
        x = np.asarray(trial_batch, np.float32)
        check_batch_shapes(self, x)
        self.build()
        return self._steps.predict(x, noise=self.rec_noise > 0)[:2]

    def train(self, trial_batch_generator: Any, train_params: dict[str, Any] | None = None,
              run_dir: str | Path | None = None) -> tuple[list[float], float, float]:
        """Train on batches from a task or a generator of ``(x, y, mask, trial_params)``.

        ``train_params`` keys and defaults are PsychRNN's (see :data:`TRAIN_DEFAULTS`);
        ``training_iters`` counts trials. Training continues from the current weights (PsychRNN
        re-initialised them at every call). With ``run_dir`` (a new directory) the run is also
        written as a psychrnn-cli run directory (:mod:`psychrnn_cli.compat.backend.run_dir`), with
        accuracy curves measured every ``loss_epoch`` updates on the task's fresh trials.

        Returns:
            ``(losses, training_time, initialization_time)``: the loss recorded every
            ``loss_epoch`` updates, and seconds.
        """
        from psychrnn_cli.compat.backend.training import train_loop

        unknown = sorted(set(train_params or {}) - set(TRAIN_DEFAULTS))
        if unknown:
            raise CompatError(f"train_params['{unknown[0]}'] is not a PsychRNN training setting"
                              f"{suggestion(unknown[0], TRAIN_DEFAULTS) or '; they are ' + ', '.join(TRAIN_DEFAULTS)}")
        settings = {**TRAIN_DEFAULTS, **(train_params or {})}
        check_values("train_params", settings, TRAIN_RULES)
        curriculum = settings["curriculum"]
        if curriculum is not None and not hasattr(curriculum, "batch_generator"):
            raise CompatError(f"train_params['curriculum'] is a {type(curriculum).__name__}; give a Curriculum from "
                              "psychrnn_cli.compat.backend.curriculum")
        if (settings["performance_cutoff"] is None) != (settings["performance_measure"] is None):
            raise UserWarning("train_params: performance_cutoff and performance_measure must be given together")
        if settings["save_weights_path"] is not None:  # refused before training rather than after
            weight_file(settings["save_weights_path"])
        task = self._run_task(trial_batch_generator, settings, run_dir)
        started = time.time()
        self._compile(settings)
        recorder = None if run_dir is None else CurveRecorder(self, task, self._seed)
        compiled = time.time()
        losses, updates = train_loop(self, trial_batch_generator, settings, recorder)
        self._weights = self._model.numpy_weights()
        finished = time.time()
        if recorder is not None:
            write_run_dir(run_dir, self, recorder, settings, self._seed, updates)
        if settings["save_weights_path"] is not None:
            path = self.save(settings["save_weights_path"])
            if settings["verbosity"]:
                print(f"Model saved in file: {path}")
        return losses, finished - compiled, compiled - started

    @staticmethod
    def _run_task(source: Any, settings: dict[str, Any], run_dir: str | Path | None) -> Any:
        """The task a run directory describes (the last curriculum stage's), checked before training."""
        if run_dir is None:
            return None
        if Path(run_dir).exists() and not Path(run_dir).is_dir():
            raise CompatError(f"run_dir {run_dir} is a file, not a directory; give a new directory")
        if (Path(run_dir) / RUN_FILE).exists():
            raise CompatError(f"run_dir {run_dir} already holds {RUN_FILE}; give a new directory")
        curriculum = settings["curriculum"]
        task = curriculum.tasks[-1] if curriculum is not None else source
        if not hasattr(task, "get_trial_batch"):
            raise CompatError("run_dir needs a task to train on (or a curriculum), not a batch generator: the run "
                              "file stores test trials of the task")
        return task

    def train_curric(self, train_params: dict[str, Any]) -> tuple[list[float], float, float]:
        """Train with ``train_params['curriculum']`` (required)."""
        if train_params.get("curriculum") is None:
            raise UserWarning("train_curric needs train_params['curriculum']")
        return self.train(None, train_params)
