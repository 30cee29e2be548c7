"""Command-line overrides checked before Hydra runs: misspelt keys get a "did you mean", bad values
are refused before a run directory is made.

Hydra refuses an override of a key that is not in the config (``model.Nrec=64``) with advice to
add it with ``+``, which would then fail later; :func:`compose` turns that into one line naming
the closest existing key. :func:`check_command_line` composes what ``psychrnn train ARGS`` will
run and checks it by the schema (:mod:`psychrnn_cli.schema`) first. No TensorFlow.
"""

from __future__ import annotations

import itertools
from importlib import resources
from typing import Any, Sequence

from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import DictConfig

from psychrnn_cli.app import CONFIG_MODULE
from psychrnn_cli.schema import CLOSED, ConfigError, as_tree, check_config, flat_keys, suggestion


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The training config of ``psychrnn train OVERRIDES``.

    Raises:
        ConfigError: an override of a key that is not in the config, or another composition error.
        hydra.errors.MissingConfigException: an option of a config group that does not exist.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        try:
            return hydra_compose("train", overrides=list(overrides))
        except MissingConfigException:
            raise
        except ConfigCompositionException as err:
            error = _unknown_key(list(overrides), hydra_compose) or ConfigError(" ".join(str(err).split()))
            raise error from None
        except ValueError as err:  # Hydra's check of a group override's value (task=null)
            raise ConfigError(" ".join(str(err).split())) from None


def _group_options(group: str) -> list[str]:
    """The options of a config group (``task`` -> ``anti_saccade, ...``)."""
    return sorted(path.name.removesuffix(".yaml") for path in resources.files(CONFIG_MODULE).joinpath(group).iterdir()
                  if path.name.endswith(".yaml"))


def _check_structure(parsed: list[Any]) -> None:
    """ConfigError for an override that removes a key of a closed section (``~train.batch_size``,
    ``~task``: the code needs every one of them), chooses no option of a group (``model=null``) or
    gives a key a sweep besides another value. (A key given twice as plain values takes the last
    one, Hydra's rule; with a sweep among them the Optuna sweeper kept the plain value, so the
    key's search space was silently dropped.)"""
    seen: dict[str, Any] = {}
    for override in parsed:
        key = override.key_or_group
        if key in seen and (override.is_sweep_override() or seen[key].is_sweep_override()):
            raise ConfigError(f"{key} is given twice ({seen[key].input_line} and {override.input_line}), one of them "
                              "a sweep: give it once")
        seen[key] = override
        if override.is_delete() and key.rpartition(".")[0] in CLOSED:
            raise ConfigError(f"{override.input_line}: {key} cannot be removed; set it to another value instead")
        if _is_group(key) and "/" not in key and override.value() is None:
            raise ConfigError(f"{override.input_line}: no such option; {key} has {', '.join(_group_options(key))}")


def _is_group(key: str) -> bool:
    """Whether an override's key chooses a config group option (``task=...``) rather than a value."""
    groups = {path.name for path in resources.files(CONFIG_MODULE).iterdir() if path.is_dir()}
    return "/" in key or key in groups


def _unknown_key(overrides: list[str], hydra_compose: Any) -> ConfigError | None:
    """A ConfigError for the first ``KEY=VALUE`` override whose key the config lacks, or None."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    parsed = OverridesParser.create().parse_overrides(overrides)
    kept = [o.input_line for o in parsed if _is_group(o.key_or_group) or o.key_or_group.startswith("hydra.")]
    try:
        tree = as_tree(hydra_compose("train", overrides=kept))
    except (ConfigCompositionException, ConfigError):
        return None
    for override in parsed:
        key = override.key_or_group
        if override.type == OverrideType.CHANGE and not _is_group(key) and not key.startswith("hydra.") \
                and not _exists(tree, key):
            options = _options_with(key)  # (an exact key of another preset before a near one of this config)
            hint = f"; it is an option of {' and '.join(options)}, not of the {key.partition('.')[0]} chosen: add " \
                f"{options[0]}" if options else suggestion(key, flat_keys(tree, lists=True)) or \
                f"; to pass a new argument to your own _target_, add it with +{override.input_line}"
            return ConfigError(f"unknown config key {key}{hint}")
    return None


def _options_with(key: str) -> list[str]:
    """The options of ``key``'s config group whose preset sets ``key`` (``model.tau_mem`` ->
    ``["model=spiking"]``), for keys that only another option of the group has."""
    from omegaconf import OmegaConf

    group, _, rest = key.partition(".")
    folder = resources.files(CONFIG_MODULE).joinpath(group)
    if not rest or not folder.is_dir():
        return []
    found = []
    for option in _group_options(group):
        text = folder.joinpath(f"{option}.yaml").read_text()
        tree = OmegaConf.to_container(OmegaConf.create(text))
        if _exists(tree or {}, key if "@package _global_" in text else rest):
            found.append(f"{group}={option}")
    return found


def _exists(tree: Any, key: str) -> bool:
    """Whether the dotted ``key`` (list items by index) is in a plain nested config."""
    for part in key.split("."):
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return False
    return True


def check_command_line(argv: Sequence[str]) -> None:
    """Raise ConfigError when the overrides of ``psychrnn train ARGV`` name an unknown key, remove a
    key of a closed section, choose no option of a group or, for a single run, hold a value outside
    the schema.

    A sweep (``-m``) is composed once per combination of its config group options (other swept
    values take their first value) and checked for keys only: each job checks its own values, so
    that one bad value fails one job (docs/guides/sweeps.md, "When a job fails").
    Help, ``--info`` and other special invocations are left to Hydra.
    """
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType
    from hydra.errors import HydraException

    args = get_args_parser().parse_args(list(argv))
    if args.help or args.hydra_help or args.info or args.shell_completion or args.config_path or args.config_name \
            or args.config_dir or args.experimental_rerun:
        return
    try:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
    except HydraException:
        return  # a syntax error: Hydra's own message says where
    if any(o.is_sweep_override() for o in parsed) and not args.multirun:
        return  # Hydra explains how to sweep
    _check_structure(parsed)
    choices = []
    for override in parsed:
        if not override.is_sweep_override():
            choices.append([override.input_line])
            continue
        if override.value_type == ValueType.INTERVAL_SWEEP:  # interval(a,b) of a sweeper such as Optuna's
            choices.append([f"{override.get_key_element()}={override.value().start}"])
            continue
        values = [f"{override.get_key_element()}={v}" for v in override.sweep_string_iterator()]
        choices.append(values if _is_group(override.key_or_group) else values[:1])
    for overrides in itertools.product(*choices):
        try:
            cfg = compose(overrides)
        except MissingConfigException as err:
            group, _, option = str(err.missing_cfg_file).rpartition("/")
            raise ConfigError(f"{group}={option}: no such option; {group} has {', '.join(err.options or [])}") from None
        if not args.cfg:
            check_config(cfg, values=not args.multirun)
