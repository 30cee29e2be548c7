"""The config schema: the type and range of every fixed key, checked before anything is built.

:func:`check_config` runs on the composed config before any object is built (and before
TensorFlow is imported): every key of a closed section (``train``, ``constraints``,
``regularizer``, ``curriculum``, ``schedule``, the top level) must be in :data:`SCHEMA`, and every
key in :data:`SCHEMA` that is present must hold a value of its type and range (numbers finite in
float32), and ``algorithm.*`` options need ``algorithm.kind=actor_critic``. Keys of the groups
that are passed to a constructor (``task``, ``model``, ``initializer``, ``optimizer``, ``loss``)
are checked against the target's signature when it is imported (:func:`check_arguments`), so a
user's own ``_target_`` may take any argument it declares. Unknown keys get a "did you mean"
suggestion. No TensorFlow, no Hydra.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """An invalid config value; the message names the key, the value and what is allowed."""


@dataclass(frozen=True)
class Rule:
    """What one config key may hold: ``accepts(value)`` decides, ``allowed`` says it in words."""

    allowed: str
    accepts: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


FLOAT32_MAX = 3.4028234663852886e38  # the largest float32: the network computes in float32


def _is_number(value: Any) -> bool:
    """An int or float (not a bool) that stays finite in float32."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= FLOAT32_MAX


def integer(low: int, high: int | None = None) -> Rule:
    """An int (not a bool) in ``[low, high]``."""
    if high is not None:
        allowed = f"an int in [{low}, {high}]"
    else:
        allowed = "a positive int" if low == 1 else f"an int >= {low}"
    return Rule(allowed, lambda v: _is_int(v) and v >= low and (high is None or v <= high))


def number(low: float, high: float | None = None, low_open: bool = False) -> Rule:
    """A finite int or float (not a bool) in ``[low, high]``, or ``(low, high]`` if ``low_open``."""
    if high is None:
        allowed = "a positive float" if low_open and low == 0 else f"a number {'>' if low_open else '>='} {low:g}"
    else:
        allowed = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"
    return Rule(allowed, lambda v: _is_number(v) and (v > low if low_open else v >= low) and (high is None or v <= high))


def optional(rule: Rule) -> Rule:
    """``rule`` or null."""
    return Rule(f"{rule.allowed} or null", lambda v: v is None or rule.accepts(v))


def one_of(*choices: str) -> Rule:
    return Rule(f"one of {', '.join(choices)}", lambda v: v in choices)


BOOL = Rule("true or false", lambda v: isinstance(v, bool))
TEXT = Rule("a string", lambda v: isinstance(v, str))
MAPPING = Rule("a mapping {key: value}", lambda v: isinstance(v, dict))
NUMBER = Rule("a number", _is_number)
POSITIVE_INT = integer(1)
POSITIVE = number(0, low_open=True)
NON_NEGATIVE = number(0)
FRACTION = number(0, 1)
# a correct choice earns 1: a penalty a million times larger already makes the value loss (its
# square) swamp everything, and one near float32's square root overflows it
ABORT_PENALTY = number(0, 1e6)
INDEX_LIST = Rule("a list of ints", lambda v: isinstance(v, list) and all(_is_int(i) for i in v))
STAGES = Rule("a list of stages {task: {...}, threshold: 0.9, metric: accuracy}", lambda v: isinstance(v, list) and all(
    isinstance(s, dict) and isinstance(s.get("task") or {}, dict) for s in v))
TASK_LIST = Rule("a list of tasks (names, or mappings with name: or _target_: and options)", lambda v: isinstance(
    v, list) and all(isinstance(t, (str, dict)) for t in v))
WEIGHTS = Rule("a list of numbers >= 0, one per task", lambda v: isinstance(v, list) and all(
    NON_NEGATIVE.accepts(w) for w in v))

# Every fixed key: its type and range. Keys of the groups built by a constructor are listed when
# the code itself relies on them; their other keys are checked against the target's signature.
SCHEMA: dict[str, Rule] = {
    "seed": integer(0, 2**32 - 1),
    "task": MAPPING, "model": MAPPING, "constraints": MAPPING, "initializer": MAPPING, "loss": MAPPING,
    "regularizer": MAPPING, "optimizer": MAPPING, "schedule": MAPPING, "curriculum": MAPPING, "train": MAPPING,
    "algorithm": MAPPING, "algorithm.kind": one_of("supervised", "actor_critic"),
    "algorithm.discount": number(0, 1, low_open=True), "algorithm.entropy_weight": NON_NEGATIVE,
    "algorithm.value_weight": NON_NEGATIVE, "algorithm.abort_penalty": ABORT_PENALTY,
    "algorithm.fixation_bias": NUMBER,
    "algorithm.critic": one_of("readout", "network"), "algorithm.critic_N_rec": POSITIVE_INT,
    "task._target_": TEXT, "task.dt": POSITIVE, "task.tau": POSITIVE, "task.T": optional(POSITIVE),
    "task.N_in": POSITIVE_INT, "task.N_out": POSITIVE_INT, "task.stim_noise": NON_NEGATIVE,
    "task.trials_per_sequence": POSITIVE_INT, "task.iti": NON_NEGATIVE,
    "task.feedback": one_of("none", "correct_side", "reward"),
    "task.tasks": TASK_LIST, "task.share_channels": BOOL, "task.mixing": one_of("trial", "batch"),
    "task.proportions": optional(WEIGHTS),
    "model._target_": TEXT, "model.N_rec": POSITIVE_INT, "model.transfer_function": TEXT,
    "model.rec_noise": NON_NEGATIVE, "model.load_weights": optional(TEXT), "model.trainable": optional(MAPPING),
    **{f"model.trainable.{name}": BOOL for name in ("W_in", "W_rec", "W_out", "b_rec", "b_out", "init_state",
                                                     "A", "eta_logit")},
    # options of the built-in models adapting, stp, plastic and spiking (their ranges; dt-relative limits in the models)
    "model.tau_adapt": POSITIVE, "model.strength": NON_NEGATIVE, "model.train_strength": BOOL,
    "model.synapses": one_of("alternating", "facilitating", "depressing", "static"),
    "model.dale_ratio": optional(FRACTION),
    **{f"model.{kind}_{name}": POSITIVE for kind in ("facilitating", "depressing") for name in ("tau_x", "tau_u")},
    **{f"model.{kind}_U": number(0, 1, low_open=True) for kind in ("facilitating", "depressing")},
    "model.eta_init": Rule("a number in (0, 1)", lambda v: _is_number(v) and 0 < v < 1),
    **{f"model.{name}": POSITIVE for name in ("tau_mem", "tau_syn", "tau_out", "theta", "surrogate_slope")},
    "constraints.autapses": BOOL, "constraints.dale_ratio": optional(FRACTION),
    "constraints.density": number(0, 1, low_open=True), "constraints.regions": optional(MAPPING),
    "constraints.regions.sizes": Rule("a list of positive ints", lambda v: isinstance(v, list) and all(
        _is_int(s) and s > 0 for s in v)),
    "constraints.regions.within": FRACTION, "constraints.regions.between": FRACTION,
    "constraints.regions.input_regions": optional(INDEX_LIST), "constraints.regions.output_regions": optional(INDEX_LIST),
    "constraints.mask_file": optional(TEXT), "constraints.mask_seed": optional(integer(0)),
    "constraints.plastic_file": optional(TEXT), "constraints.fixed_outgoing": FRACTION,
    "initializer._target_": TEXT, "initializer._partial_": BOOL, "initializer.path": TEXT,
    "initializer.spec_rad": POSITIVE, "initializer.std": NON_NEGATIVE, "initializer.init_state_std": NON_NEGATIVE,
    **{f"initializer.{name}": NUMBER for name in ("alpha_init", "mean", "min", "max", "init_state_mean")},
    "loss._target_": TEXT, "loss._partial_": BOOL,
    **{f"regularizer.{name}": NON_NEGATIVE for name in ("L1_in", "L1_rec", "L1_out", "L2_in", "L2_rec", "L2_out",
                                                         "L2_rate", "custom_weight")},
    "regularizer.custom": optional(TEXT),
    "optimizer._target_": TEXT, "optimizer.learning_rate": POSITIVE,
    "schedule.kind": one_of("constant", "exponential_decay"), "schedule.decay_steps": POSITIVE_INT,
    "schedule.decay_rate": POSITIVE, "schedule.staircase": BOOL,
    "curriculum.stages": STAGES, "curriculum.metric_every": POSITIVE_INT, "curriculum.metric_trials": POSITIVE_INT,
    "curriculum.after_last": one_of("continue", "stop"),
    "train.iterations": POSITIVE_INT, "train.batch_size": POSITIVE_INT, "train.eval_every": POSITIVE_INT,
    "train.eval_trials": POSITIVE_INT, "train.stop_accuracy": optional(FRACTION), "train.test_trials": POSITIVE_INT,
    "train.save_trials": integer(0), "train.clip": one_of("per_tensor", "global_norm", "none"),
    "train.clip_norm": POSITIVE, "train.checkpoint_every": POSITIVE_INT, "train.resume": BOOL,
    "train.progress": BOOL, "train.ensemble": POSITIVE_INT, "train.overwrite": BOOL,
    "train.device": one_of("auto", "cpu", "gpu"), "train.tensorboard": BOOL,
    "train.objective": one_of("final_accuracy", "neg_iterations_to_criterion", "final_loss"),
}
# Sections whose keys must all be in SCHEMA ("" is the top level).
CLOSED = ("", "train", "constraints", "constraints.regions", "regularizer", "curriculum", "schedule", "model.trainable",
          "algorithm")
# Keys Hydra's instantiate reads itself; never constructor arguments.
HYDRA_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


def suggestion(key: str, candidates: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the candidate key closest to ``key`` (difflib), or ``""``.

    Keys of the same section are compared by their last part; keys elsewhere must be closer.
    """
    section, _, name = key.rpartition(".")
    others = [c for c in candidates if c != key]
    siblings = {c.rpartition(".")[2]: c for c in others if c.rpartition(".")[0] == section}
    close = [siblings[c] for c in difflib.get_close_matches(name, list(siblings), n=1, cutoff=0.75)]
    close = close or difflib.get_close_matches(key, others, n=1, cutoff=0.8)
    return f"; did you mean {close[0]}?" if close else ""


def flat_keys(tree: Any, prefix: str = "", lists: bool = False) -> list[str]:
    """Every dotted key of a plain nested dict; with ``lists``, list items too, by index
    (``curriculum.stages.0.threshold``)."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if lists and isinstance(tree, list) else ()
    keys = []
    for name, value in items:
        key = f"{prefix}{name}"
        keys.append(key)
        keys.extend(flat_keys(value, f"{key}.", lists))
    return keys


def as_tree(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain dicts and lists with interpolations resolved (``???`` kept as a string)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{getattr(err, 'full_key', '') or 'config'}: {str(err).splitlines()[0]}") from None


def check_config(cfg: DictConfig, values: bool = True) -> None:
    """Raise :class:`ConfigError` for the first unknown key of a closed section in ``cfg`` or, if
    ``values``, the first value outside its key's rule."""
    tree = as_tree(cfg)
    known = sorted(set(SCHEMA) | set(flat_keys(tree)))
    for key in flat_keys(tree):
        section, _, _ = key.rpartition(".")
        if section in CLOSED and key not in SCHEMA:
            siblings = [k for k in SCHEMA if k.rpartition(".")[0] == section]
            hint = suggestion(key, known) or f"; {section or 'the top level'} has {', '.join(s.rpartition('.')[2] for s in siblings)}"
            raise ConfigError(f"unknown config key {key}{hint}")
        value = _value(tree, key)
        rule = SCHEMA.get(key)
        if values and rule is not None and value != "???" and not rule.accepts(value):
            huge = isinstance(value, float) and math.isfinite(value) and rule.accepts(math.copysign(FLOAT32_MAX, value))
            raise ConfigError(f"{key} must be {rule.allowed}, got {value!r}"
                              f"{' (beyond float32, in which the network computes)' if huge else ''}")
    algorithm = tree.get("algorithm") or {}
    if values and algorithm.get("kind", "supervised") == "supervised" and set(algorithm) - {"kind"}:
        option = sorted(set(algorithm) - {"kind"})[0]
        raise ConfigError(f"algorithm.{option} is an option of reward-based training, but this run is supervised "
                          f"(algorithm.kind=supervised): add algorithm=actor_critic, or drop algorithm.{option}")


def _value(tree: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        tree = tree[part]
    return tree


# --- constructor arguments --------------------------------------------------------------------------


def parameters(target: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """The keyword arguments ``target`` (a class or a function) declares, and whether it takes ``**kwargs``.

    A class's ``__init__`` that takes ``**kwargs`` is followed up its base classes (where it
    usually passes them on), so the arguments of its base classes count too.
    """
    functions = [c.__dict__["__init__"] for c in target.__mro__ if "__init__" in c.__dict__ and c is not object] \
        if isinstance(target, type) else [target]
    declared: dict[str, inspect.Parameter] = {}
    takes_any = None
    for function in functions:
        try:
            signature = inspect.signature(function, eval_str=True)
        except (TypeError, ValueError, NameError):
            return declared, True  # cannot tell: accept anything
        for name, parameter in signature.parameters.items():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and name != "self":
                declared.setdefault(name, parameter)
        var_keyword = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
        takes_any = var_keyword if takes_any is None else takes_any
        if not var_keyword:
            break
    return declared, bool(takes_any)


def not_an_argument(key: str, target: Any, argument: str) -> ConfigError:
    """The error for a config key ``key.argument`` that ``target`` does not take, with a suggestion."""
    declared, _ = parameters(target)
    hint = suggestion(f"{key}.{argument}", [f"{key}.{a}" for a in declared]) or f"; it takes {', '.join(declared)}"
    return ConfigError(f"{key}.{argument} is not an argument of {getattr(target, '__qualname__', target)}{hint}")


def unexpected_argument(key: str, target: Any, error: BaseException) -> ConfigError | None:
    """:func:`not_an_argument` for an ``error`` that refuses a keyword argument (or a ConfigError for
    one the target sets itself: "got multiple values"), else None.

    A target that takes ``**kwargs`` is only known to refuse a key once it is called: Python says
    "unexpected keyword argument 'x'", Keras "Argument(s) not recognized: {'x': ...}".
    """
    if fixed := re.search(r"got multiple values for (?:keyword )?argument '(\w+)'", str(error)):
        name = getattr(target, "__qualname__", repr(target))
        return ConfigError(f"{key}.{fixed.group(1)} is set by {name} itself and cannot be changed: drop "
                           f"{key}.{fixed.group(1)} from the overrides")
    match = re.search(r"unexpected keyword argument '(\w+)'|Argument\(s\) not recognized: \{'(\w+)'", str(error))
    return not_an_argument(key, target, match.group(1) or match.group(2)) if match else None


def check_arguments(key: str, target: Any, arguments: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` unless ``target`` takes each of ``arguments`` with a value of its type.

    A target that takes ``**kwargs`` may take any key (see :func:`unexpected_argument`).

    Args:
        key: the config node the arguments come from, for messages (e.g. ``task``).
        target: the class or function its ``_target_`` names.
        arguments: the node's keys and values, Hydra's own keys (``_target_``...) left out.
    """
    declared, takes_any = parameters(target)
    name = getattr(target, "__qualname__", repr(target))
    for argument, value in arguments.items():
        parameter = declared.get(argument)
        if parameter is None:
            if takes_any:
                continue
            raise not_an_argument(key, target, argument)
        if _matches(parameter.annotation, value) is False:
            raise ConfigError(f"{key}.{argument} must be {inspect.formatannotation(parameter.annotation)} "
                              f"(an argument of {name}), got {value!r}")


def _matches(annotation: Any, value: Any) -> bool | None:
    """Whether ``value`` (plain YAML data) fits a simple ``annotation``; None when it cannot tell."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        results = [_matches(a, value) for a in typing.get_args(annotation)]
        return True if True in results else None if None in results else False
    simple = {type(None): lambda v: v is None, bool: lambda v: isinstance(v, bool), int: _is_int,
              float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v),
              str: lambda v: isinstance(v, str)}
    if annotation in simple:
        return simple[annotation](value)
    base = origin or annotation
    if base in (list, tuple, collections.abc.Sequence):
        items = typing.get_args(annotation)
        if not isinstance(value, list) or len(items) != 1:  # tuple[int, float] and the like: the list only
            return isinstance(value, list)
        results = [_matches(items[0], item) for item in value]
        return False if False in results else None if None in results else True
    if base in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    return None
