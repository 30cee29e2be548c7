"""``psychrnn simulate RUN_DIR``: run a trained network with perturbations (NumPy simulator)."""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Any

from psychrnn_cli.commands import OVERWRITE_HELP, count, non_negative, rng_seed, task_override

SUMMARY = "simulate a trained network with lesions, cuts, noise, clamps, currents; save to HDF5 (no TensorFlow)"

EPILOG = """\
UNITS: indices and inclusive ranges such as 0-9,20; or all, exc, inh (Dale's principle),
region0, region1, ... (multi-region networks). Input and output channels: indices or all.
MATRIX: W_in (sources are input channels), W_rec (default) or W_out (targets are outputs).
WINDOW: @T0-T1 in ms selects the steps with T0 <= t*dt < T1; @T0- runs to the end of the trial.
Perturbations can be repeated and combined.

examples:
  psychrnn simulate RUN_DIR --lesion 0-9 --out lesion.h5
  psychrnn simulate RUN_DIR --cut 'exc>inh@500-1000' --rec-noise 0.1
  psychrnn simulate RUN_DIR --clamp 3,4=0@800- --inject region1=0.5@200-400 task.coherences=[0.1]

The output file holds /trials (inputs, targets, mask, time_ms, trial parameters), /perturbed and
/baseline (outputs, states), with both accuracies as root attributes; read it with
psychrnn_cli.load_run(FILE). An existing output file is replaced only if an earlier psychrnn
simulate wrote it and --overwrite is given; the output folder is created.
"""


class SpecError(ValueError):
    """A perturbation argument that does not parse."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="psychrnn simulate", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holding run.h5) or the run file itself")
    p.add_argument("overrides", nargs="*", type=task_override, metavar="task.KEY=VALUE",
                   help="task settings for these trials")
    p.add_argument("--out", metavar="FILE.h5", help="output file (default RUN_DIR/simulation.h5)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--trials", type=count, default=200, metavar="N", help="number of fresh trials (default 200)")
    p.add_argument("--seed", type=rng_seed, default=0, help="seed of the trials and all noise (default 0)")
    p.add_argument("--noise", action=argparse.BooleanOptionalAction, default=True,
                   help="the model's own recurrent noise, if it has any (default on)")
    group = p.add_argument_group("perturbations")
    add = group.add_argument
    add("--lesion", action="append", default=[], metavar="UNITS",
        help="silence units: their activity reaches no unit and no output")
    add("--cut", action="append", default=[], metavar="[MATRIX:]SRC>DST[@WINDOW]",
        help="remove the connections from SRC to DST (only during WINDOW, if given)")
    add("--scale", action="append", default=[], metavar="[MATRIX:][SRC>DST=]FACTOR",
        help="multiply a weight matrix, or its SRC>DST block, by FACTOR")
    add("--clamp", action="append", default=[], metavar="UNITS=VALUE[@WINDOW]", help="hold the units' state at VALUE")
    add("--inject", action="append", default=[], metavar="UNITS=CURRENT[@WINDOW]",
        help="add CURRENT to the units' input")
    add("--input-noise", type=non_negative, default=0.0, metavar="STD", help="Gaussian noise on every input channel")
    add("--rec-noise", type=non_negative, default=0.0, metavar="STD", help="extra recurrent noise sqrt(2 alpha) STD xi")
    add("--mask-file", metavar="FILE.npy", help="multiply W_rec by a [N_rec, N_rec] or [N_steps, N_rec, N_rec] array")
    return p


# --- argument parsing --------------------------------------------------------------------------


def parse_units(text: str, network: Any, size: int | None = None, what: str = "units") -> list[int]:
    """Indices from ``0-9,20`` or ``all``; for units (``size`` None) also ``exc``, ``inh``, ``region<k>``."""
    import numpy as np

    units_side = size is None
    size = network.N_rec if size is None else size
    text = text.strip()
    if text == "all":
        return list(range(size))
    if units_side and text in ("exc", "inh"):
        if network.signs is None:
            raise SpecError(f"{what} {text!r}: the network has no Dale's principle, so no E/I units")
        return np.flatnonzero(network.signs > 0 if text == "exc" else network.signs < 0).tolist()
    if units_side and text.startswith("region"):
        if network.regions is None:
            raise SpecError(f"{what} {text!r}: the network has no regions")
        k = text[len("region"):]
        if not k.isdigit() or int(k) > network.regions.max():
            raise SpecError(f"{what} {text!r}: regions are region0..region{network.regions.max()}")
        return np.flatnonzero(network.regions == int(k)).tolist()
    units: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            names = "all, exc, inh, region0" if units_side else "all"
            raise SpecError(f"{what} {text!r}: use indices and ranges like 0-9,20, or {names}")
        first, last = int(m[1]), int(m[2] or m[1])
        if last < first or last >= size:
            raise SpecError(f"{what} {text!r}: indices must lie in 0..{size - 1} (ranges low-high)")
        units.extend(range(first, last + 1))
    return units


def _split_window(text: str) -> tuple[str, float, float]:
    body, at, window = text.partition("@")
    if not at:
        return body, 0.0, math.inf
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)?\s*", window)
    if not m:
        raise SpecError(f"window @{window}: write @T0-T1 in ms, e.g. @500-800, or @500- for the rest of the trial")
    start, end = float(m[1]), float(m[2]) if m[2] else math.inf
    if end <= start:
        raise SpecError(f"window @{window} holds no time: T1 must exceed T0 (@T0-T1 is T0 <= t*dt < T1, in ms)")
    return body, start, end


def _matrix(text: str) -> tuple[str, str]:
    name, colon, rest = text.partition(":")
    if colon and name in ("W_in", "W_rec", "W_out"):
        return name, rest
    if colon and name.startswith("W_"):
        raise SpecError(f"matrix {name!r}: choose W_in, W_rec or W_out")
    return "W_rec", text


def _endpoints(text: str, network: Any, matrix: str, what: str) -> tuple[list[int], list[int]]:
    """(targets, sources): the rows and columns of ``matrix``, which is always ``[targets, sources]``."""
    src, arrow, dst = text.partition(">")
    if not arrow:
        raise SpecError(f"{what} {text!r}: write SRC>DST, e.g. 0-9>10-19 or exc>inh")
    src_size = network.N_in if matrix == "W_in" else None
    dst_size = network.N_out if matrix == "W_out" else None
    return (parse_units(dst, network, dst_size, f"{what} target"),
            parse_units(src, network, src_size, f"{what} source"))


def _unit_shape(network: Any, matrix: str) -> tuple[int, int]:
    """Shape of one gate block of ``matrix``: ``[targets, sources]``."""
    return {"W_in": (network.N_rec, network.N_in), "W_rec": (network.N_rec, network.N_rec),
            "W_out": (network.N_out, network.N_rec)}[matrix]


def _value(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SpecError(f"{what}: {text!r} is not a finite number")
    return value


def perturbations(args: argparse.Namespace, network: Any, n_steps: int) -> tuple[list[Any], list[str]]:
    """Simulator perturbations from the command-line arguments, and a description of each."""
    import numpy as np

    from psychrnn_cli import simulator as sim

    out: list[Any] = []
    text: list[str] = []
    for spec in args.lesion:
        out.append(sim.Silence(parse_units(spec, network, what="--lesion")))
        text.append(f"lesion {spec}")
    for spec in args.cut:
        matrix, body = _matrix(spec)
        body, start, end = _split_window(body)
        rows, cols = _endpoints(body, network, matrix, "--cut")
        mask = np.ones(_unit_shape(network, matrix))
        mask[np.ix_(rows, cols)] = 0.0
        if (start, end) != (0.0, math.inf):
            time = np.arange(n_steps) * network.dt
            mask = np.where(((time >= start) & (time < end))[:, None, None], mask[None], 1.0)
        out.append(sim.Cut(matrix, mask))
        text.append(f"cut {spec}")
    for spec in args.scale:
        matrix, body = _matrix(spec)
        block, eq, factor = body.rpartition("=")
        rows, cols = _endpoints(block, network, matrix, "--scale") if eq else (None, None)
        out.append(sim.Scale(matrix, _value(factor, "--scale factor"), rows, cols))
        text.append(f"scale {spec}")
    for flag, cls in (("clamp", sim.Clamp), ("inject", sim.Inject)):
        for spec in getattr(args, flag):
            body, start, end = _split_window(spec)
            units, eq, value = body.partition("=")
            if not eq:
                raise SpecError(f"--{flag} {spec!r}: write UNITS=VALUE[@T0-T1], e.g. 0-4=0.5@500-800")
            out.append(cls(parse_units(units, network, what=f"--{flag}"), _value(value, f"--{flag}"), start, end))
            text.append(f"{flag} {spec}")
    if args.input_noise:
        out.append(sim.InputNoise(args.input_noise))
        text.append(f"input noise {args.input_noise}")
    if args.rec_noise:
        out.append(sim.RecurrentNoise(args.rec_noise))
        text.append(f"recurrent noise {args.rec_noise}")
    if args.mask_file:
        try:
            mask = np.load(args.mask_file, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise SpecError(f"--mask-file {args.mask_file}: cannot read it as a .npy array ({err})") from None
        if not np.all(np.isfinite(mask)):
            raise SpecError(f"--mask-file {args.mask_file}: holds NaN or infinite values; give finite factors "
                            "(0 cuts a connection, 1 keeps it)")
        out.append(sim.Cut("W_rec", mask))
        text.append(f"mask file {args.mask_file}")
    return out, text


# --- the command ----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    args = parser().parse_intermixed_args(argv)
    from psychrnn_cli.runfile import (OutputError, RunFileError, load_run, prepare_output, require_finite_weights,
                                      resolve_run_path, write_run)
    from psychrnn_cli.simulator import SimulatorError, network_from_run, simulate, task_from_run

    try:
        run_file = resolve_run_path(args.run_dir)
        out = prepare_output(args.out or run_file.with_name("simulation.h5"), "simulation file", args.overwrite)
        run = load_run(run_file)
        require_finite_weights(run, run_file)
        network = network_from_run(run, str(run_file))
        task = task_from_run(run, args.trials, args.seed, args.overrides)
        perturbation_list, described = perturbations(args, network, task.N_steps)
        if not perturbation_list:
            print("psychrnn simulate: note: no perturbation given; both runs are the unperturbed network",
                  file=sys.stderr)
        x, y, mask, params = task.get_trial_batch(args.trials)
        baseline = simulate(network, x, noise=args.noise, seed=args.seed)
        perturbed = simulate(network, x, noise=args.noise, seed=args.seed, perturbations=perturbation_list)
    except (RunFileError, SimulatorError, SpecError, OutputError) as err:
        print(f"psychrnn simulate: error: {err}", file=sys.stderr)
        return 2
    from psychrnn_cli.run import trial_param_arrays

    accuracy = {name: float(task.accuracy_function(y, r.outputs, mask))
                for name, r in (("baseline", baseline), ("perturbed", perturbed))}
    tree = {
        "attrs": {"kind": "simulation", "run_file": str(run_file), "perturbations": "; ".join(described),
                  "overrides": " ".join(args.overrides), "seed": args.seed, "n_trials": args.trials,
                  "noise": bool(args.noise and network.rec_noise > 0),
                  "accuracy": accuracy["perturbed"], "baseline_accuracy": accuracy["baseline"]},
        "trials": {"inputs": x, "targets": y, "mask": mask, "time_ms": task.time_ms, **trial_param_arrays(params)},
        "perturbed": {"outputs": perturbed.outputs, "states": perturbed.states},
        "baseline": {"outputs": baseline.outputs, "states": baseline.states},
    }
    try:
        write_run(out, tree)
    except OSError as err:
        print(f"psychrnn simulate: error: cannot write {out}: {err}", file=sys.stderr)
        return 1
    print(f"{args.trials} trials of {run_file}; perturbations: {'; '.join(described) or 'none'}")
    print(f"accuracy without perturbation {accuracy['baseline']:.4f}, with perturbation {accuracy['perturbed']:.4f}")
    print(f"wrote {out}")
    return 0
