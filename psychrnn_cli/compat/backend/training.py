"""Training a compat network: PsychRNN's ``train_params`` on the engine's compiled step and outer loop.

:func:`compile_steps` maps the settings onto :class:`psychrnn_cli.network.step.CompiledSteps`
(optimizer, loss, regularizers, per-tensor gradient clipping, fixed weights); :func:`train_loop`
runs :func:`psychrnn_cli.training.run_trainers` with :class:`PsychRNNLoop`, which keeps
PsychRNN's rules: ``training_iters`` counts trials, the loss is recorded (and printed with
``verbosity``) every ``loss_epoch`` updates, the curriculum is checked every ``metric_epoch``
updates and ``performance_measure`` after every update, each on a fresh batch.
"""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from psychrnn_cli.compat.backend.initializations import CompatError
from psychrnn_cli.training import run_trainers

if TYPE_CHECKING:
    from psychrnn_cli.compat.backend.run_dir import RNN, CurveRecorder

REGULARIZERS = {"L1_in": "L1_in", "L1_rec": "L1_rec", "L1_out": "L1_out", "L2_in": "L2_in", "L2_rec": "L2_rec",
                "L2_out": "L2_out", "L2_firing_rate": "L2_rate"}  # PsychRNN's params key -> ours
MODEL_GUIDE = "see docs/guides/psychrnn-compat.md, section \"Models written for PsychRNN\""

_started = False  # TensorFlow's thread settings and seed are set once per process


def objective(params: dict[str, Any]) -> Any:
    """The loss (``loss_function``: mean_squared_error, binary_cross_entropy, or the name of a
    callable ``(predictions, y, output_mask)`` in ``params``) and the regularizer coefficients."""
    from psychrnn_cli.network.losses import bce, mse
    from psychrnn_cli.network.step import Objective

    name = params.get("loss_function", "mean_squared_error")
    loss = {"mean_squared_error": mse, "binary_cross_entropy": bce}.get(name) or params.get(name)
    if not callable(loss):
        raise UserWarning(f"loss_function {name!r}: give params[{name!r}] as a function (predictions, y, output_mask)")
    if params.get("custom_regularization") is not None:
        raise CompatError("custom_regularization(model, params) builds TensorFlow 1 graph code, which the new engine "
                          f"cannot run; give a regularizer of weights, rates and outputs instead ({MODEL_GUIDE})")
    coefficients = {ours: float(params.get(theirs, 0.0) or 0.0) for theirs, ours in REGULARIZERS.items()}
    return Objective(loss, coefficients)


def compile_steps(rnn: RNN, settings: dict[str, Any]) -> tuple[Any, Any, int]:
    """The TensorFlow model (from ``rnn``'s current weights), its compiled steps for ``settings``,
    and the seed of their noise streams."""
    global _started
    from psychrnn_cli.network import start
    from psychrnn_cli.network.base import RecurrentModel
    from psychrnn_cli.network.step import CompiledSteps
    from psychrnn_cli.network.tf1_optimizers import keras_optimizer

    seed = int(np.random.randint(2**31))  # from NumPy's global state, which PsychRNN users seed
    if not _started:
        start(seed)
        _started = True
    constraints = dataclasses.replace(rnn.constraints, plastic=_plastic(rnn, settings.get("fixed_weights")))
    model = RecurrentModel(rnn.definition, rnn._weights, constraints, rnn.trainable)
    clip = ("per_tensor", 1.0) if settings["clip_grads"] else ("none", 0.0)
    optimizer = keras_optimizer(settings["optimizer"], float(settings["learning_rate"]))
    if optimizer is None:
        raise CompatError(f"train_params['optimizer']: cannot use a {type(settings['optimizer']).__name__}; give a "
                          "Keras optimizer (keras.optimizers.Adam(...)) or a tf.compat.v1.train "
                          "Adam/GradientDescent/Momentum/RMSProp one")
    return model, CompiledSteps(model, optimizer, objective(rnn.params), clip, seed), seed


def _plastic(rnn: RNN, fixed: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """PsychRNN's ``fixed_weights`` (per parameter, 1 = frozen) as plastic masks (1 = trained)."""
    masks = {}
    for name, value in (fixed or {}).items():
        if name not in rnn._weights:
            raise CompatError(f"train_params['fixed_weights'] names {name!r}; the network's parameters are "
                              f"{', '.join(rnn._weights)}")
        frozen = np.broadcast_to(np.asarray(value, np.float32), rnn._weights[name].shape)
        masks[name] = (frozen < 1).astype(np.float32)
    return masks


class PsychRNNLoop:
    """One network's side of :func:`psychrnn_cli.training.run_trainers` with PsychRNN's rules.

    Args:
        rnn: the network (its :meth:`~psychrnn_cli.compat.backend.rnn.RNN.test` runs the checks).
        steps: its compiled steps.
        batches: where training batches come from (``(x, y, mask, trial_params)``).
        settings: the full ``train_params``.
        recorder: keeps accuracy curves for a run directory, or None.
    """

    def __init__(self, rnn: RNN, batches: Iterator, settings: dict[str, Any], recorder: CurveRecorder | None = None) -> None:
        self.rnn, self.batches, self.settings, self.recorder = rnn, batches, settings, recorder
        self.started = time.perf_counter()
        self.curriculum = settings["curriculum"]
        self.verbose = bool(settings["verbosity"])
        self.state = SimpleNamespace(iteration=0)
        self.losses: list[float] = []
        self.running, self.batch_size, self.doing = True, None, ""

    def next_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y, mask = (np.asarray(a, np.float32) for a in next(self.batches)[:3])
        check_batch_shapes(self.rnn, x, y, mask)
        self.batch_size = x.shape[0]
        self.state.iteration += 1
        return x, y, mask

    def after_step(self, terms: dict[str, float]) -> None:
        epoch, s = self.state.iteration, self.settings
        if epoch % int(s["loss_epoch"]) == 0:
            self.losses.append(float(sum(terms.values())))
            if self.verbose:
                print(f"Iter {epoch * self.batch_size}, Minibatch Loss= {self.losses[-1]:.6f}")
            if self.recorder is not None:
                stage = self.curriculum.stage if self.curriculum is not None else 0
                self.recorder.record(epoch, stage, self.losses[-1], time.perf_counter() - self.started)
        if self.curriculum is not None and epoch % self.curriculum.metric_epoch == 0 and self._check_curriculum(epoch):
            return self._end()
        path, every = s["training_weights_path"], int(s["save_training_weights_epoch"])
        if path is not None and epoch % every == 0:
            self.rnn._weights = self.rnn._model.numpy_weights()
            saved = self.rnn.save(f"{path}{epoch}")
            if self.verbose:
                print(f"Training weights saved in file: {saved}")
        if s["performance_measure"] is not None:
            x, y, mask, _ = next(self.batches)
            value = s["performance_measure"](x, y, mask, self.rnn.test(x)[0], epoch, self.losses, self.verbose)
            if self.verbose:
                print(f"performance: {value}")
            if value >= s["performance_cutoff"]:
                return self._end()
        if epoch * self.batch_size >= int(s["training_iters"]):
            self._end()

    def _check_curriculum(self, epoch: int) -> bool:
        """Test the current stage on a fresh batch of its task; True once the last stage is passed."""
        curriculum = self.curriculum
        x, y, mask, _ = curriculum.tasks[curriculum.stage].get_trial_batch()
        if curriculum.metric_test(x, y, mask, self.rnn.test(x)[0], epoch, self.losses, self.verbose):
            if curriculum.stop_training:
                return True
            self.batches = curriculum.batch_generator()
        return False

    def _end(self) -> None:
        if self.verbose:
            print("Optimization finished!")
        self.running = False

    def stop(self, message: str) -> None:
        print(message)
        self.running = False

    def interrupted(self) -> None:
        self.running = False

    def close(self) -> None:
        pass

    def result(self) -> list[float]:
        return self.losses


def check_batch_shapes(rnn: RNN, x: np.ndarray, *others: np.ndarray) -> None:
    """CompatError unless inputs ``x`` are ``[B, N_steps, N_in]`` of ``rnn`` (any B and N_steps) and
    targets and mask, if given, ``[B, N_steps, N_out]``."""
    expected = [(x, "inputs", rnn.N_in), *((a, name, rnn.N_out) for a, name in zip(others, ("targets", "mask")))]
    for array, name, channels in expected:
        if array.ndim != 3 or array.shape[2] != channels or array.shape[:2] != x.shape[:2]:
            raise CompatError(f"{name} must have shape [trials, steps, {channels}]"
                              f"{'' if array is x else f' like the inputs {x.shape[:2]}'}, got {array.shape}")


def batches_of(source: Any, curriculum: Any) -> Iterator:
    """Training batches: the curriculum's, a task's ``batch_generator()``, or a generator as given."""
    if curriculum is not None:
        return curriculum.batch_generator()
    if hasattr(source, "batch_generator"):
        return source.batch_generator()
    if source is None:
        raise UserWarning("train() needs a task or a batch generator, or train_params['curriculum']")
    return iter(source)


def train_loop(rnn: RNN, source: Any, settings: dict[str, Any],
               recorder: CurveRecorder | None = None) -> tuple[list[float], int]:
    """Train ``rnn`` (compiled) with PsychRNN's rules; returns the recorded losses and the number of updates."""
    loop = PsychRNNLoop(rnn, batches_of(source, settings["curriculum"]), settings, recorder)
    steps = rnn._steps
    run_trainers({0: loop}, lambda batches: {0: steps.train_step(*batches[0])}, lambda key, result: None)
    return loop.losses, loop.state.iteration
