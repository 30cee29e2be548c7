"""``psychrnn simulate RUN_DIR``: run a trained network with perturbations (NumPy simulator)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from psychrnn_cli.commands import OVERWRITE_HELP, count, non_negative, rng_seed, task_override

SUMMARY = "simulate a trained network with lesions, cuts, noise, clamps, currents; save to HDF5 (no TensorFlow)"

EPILOG = """\
{language}
Perturbations can be repeated and combined; Python has the same language:
psychrnn_cli.perturbations.parse("cut", "exc>inh@500-1000", network, n_steps).

examples:
  psychrnn simulate RUN_DIR --lesion 0-9 --out lesion.h5
  psychrnn simulate RUN_DIR --cut 'exc>inh@500-1000' --rec-noise 0.1
  psychrnn simulate RUN_DIR --clamp 3,4=0@800- --inject region1=0.5@200-400 task.coherences=[0.1]

The output file holds /trials (inputs, targets, mask, time_ms, trial parameters), /perturbed and
/baseline (outputs, states, and the state components the model records, such as stp's u and x),
with both accuracies as root attributes; read it with psychrnn_cli.load_run(FILE). An existing
output file is replaced only if an earlier psychrnn simulate wrote it and --overwrite is given;
the output folder is created.
"""


def parser() -> argparse.ArgumentParser:
    from psychrnn_cli.perturbations import LANGUAGE

    p = argparse.ArgumentParser(prog="psychrnn simulate", description=SUMMARY, epilog=EPILOG.format(language=LANGUAGE),
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


def perturbations(args: argparse.Namespace, network: Any, n_steps: int) -> tuple[list[Any], list[str]]:
    """Simulator perturbations from the command-line arguments, and a description of each."""
    from psychrnn_cli.perturbations import Cut, parse

    out: list[Any] = []
    text: list[str] = []
    for flag in ("lesion", "cut", "scale", "clamp", "inject"):
        for spec in getattr(args, flag):
            out.append(parse(flag, spec, network, n_steps))
            text.append(f"{flag} {spec}")
    for flag in ("input-noise", "rec-noise"):
        value = getattr(args, flag.replace("-", "_"))
        if value:
            out.append(parse(flag, str(value), network, n_steps))
            text.append(f"{flag.replace('-', ' ')} {value}")
    if args.mask_file:
        out.append(Cut("W_rec", read_mask_file(args.mask_file)))
        text.append(f"mask file {args.mask_file}")
    return out, text


def read_mask_file(path: str) -> Any:
    """The finite numeric array in the ``.npy`` file ``path``, or a SimulatorError naming the file and the problem."""
    import zipfile

    import numpy as np

    from psychrnn_cli.simulator import SimulatorError

    try:
        mask = np.load(path, allow_pickle=False)
    except EOFError:
        raise SimulatorError(f"--mask-file {path}: the file is empty; give a .npy array") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise SimulatorError(f"--mask-file {path}: cannot read it as a .npy array ({err})") from None
    if not isinstance(mask, np.ndarray):
        mask.close()  # an .npz archive
        raise SimulatorError(f"--mask-file {path}: an .npz archive, not a .npy array; save the mask with numpy.save")
    if mask.dtype.kind not in "biuf":
        raise SimulatorError(f"--mask-file {path}: holds {mask.dtype} values, not numbers")
    if not np.all(np.isfinite(mask)):
        raise SimulatorError(f"--mask-file {path}: holds NaN or infinite values; give finite factors "
                             "(0 cuts a connection, 1 keeps it)")
    return mask


# --- the command ----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    args = parser().parse_intermixed_args(argv)
    from psychrnn_cli.build import ConfigError, task_from_run
    from psychrnn_cli.rewards import acts_on_feedback
    from psychrnn_cli.runfile import (OutputError, RunFileError, load_run, prepare_output, require_finite_weights,
                                      resolve_run_path, write_run)
    from psychrnn_cli.sequences import feedback_attrs, layout, param_arrays
    from psychrnn_cli.simulator import SimulatorError, network_from_run, simulate
    from psychrnn_cli.task_variance import stored_clusters
    from psychrnn_cli.tasks.multitask import accuracy_by_task

    try:
        run_file = resolve_run_path(args.run_dir)
        out = prepare_output(args.out or run_file.with_name("simulation.h5"), "simulation file", args.overwrite)
        run = load_run(run_file)
        require_finite_weights(run, run_file)
        network = network_from_run(run, str(run_file))
        network.clusters = stored_clusters(run)  # for --lesion cluster<k>
        task = task_from_run(run, args.trials, args.seed, args.overrides)
        if acts_on_feedback(task):
            raise SimulatorError("this run was trained with task.feedback=reward: its inputs depend on the actions "
                                 "the network samples, which simulate does not do (perturbations are defined over "
                                 "fixed inputs); use psychrnn evaluate, which samples them, or simulate a run "
                                 "without that feedback")
        perturbation_list, described = perturbations(args, network, task.N_steps)
        if not perturbation_list:
            print("psychrnn simulate: note: no perturbation given; both runs are the unperturbed network",
                  file=sys.stderr)
        x, y, mask, params = task.get_trial_batch(args.trials)
        baseline = simulate(network, x, noise=args.noise, seed=args.seed)
        perturbed = simulate(network, x, noise=args.noise, seed=args.seed, perturbations=perturbation_list)
    except (RunFileError, SimulatorError, OutputError, ConfigError) as err:
        print(f"psychrnn simulate: error: {err}", file=sys.stderr)
        return 2
    accuracy = {name: float(task.accuracy_function(y, r.outputs, mask))
                for name, r in (("baseline", baseline), ("perturbed", perturbed))}
    per_task = {name: accuracy_by_task(task, y, r.outputs, mask, params)
                for name, r in (("baseline", baseline), ("perturbed", perturbed))}
    tree = {
        "attrs": {"kind": "simulation", "run_file": str(run_file), "perturbations": "; ".join(described),
                  "overrides": " ".join(args.overrides), "seed": args.seed, "n_trials": args.trials,
                  "noise": bool(args.noise and network.rec_noise > 0),
                  "accuracy": accuracy["perturbed"], "baseline_accuracy": accuracy["baseline"],
                  **{f"accuracy_{label}": value for label, (value, _) in per_task["perturbed"].items()},
                  **{f"baseline_accuracy_{label}": value for label, (value, _) in per_task["baseline"].items()}},
        "trials": {"inputs": x, "targets": y, "mask": mask, "time_ms": task.time_ms, **param_arrays(task, params),
                   "attrs": {**layout(task), **feedback_attrs(task)}},
        **{name: {"outputs": r.outputs, "states": r.states,
                  **{k: v.astype(network.model.recorded[k][1]) for k, v in r.recorded.items()}}
           for name, r in (("perturbed", perturbed), ("baseline", baseline))},
    }
    try:
        write_run(out, tree)
    except OSError as err:
        print(f"psychrnn simulate: error: cannot write {out}: {err}", file=sys.stderr)
        return 1
    per_sequence = layout(task)["trials_per_sequence"]
    trials = f"{args.trials} sequences of {per_sequence} trials" if per_sequence > 1 else f"{args.trials} trials"
    print(f"{trials} of {run_file}; perturbations: {'; '.join(described) or 'none'}")
    print(f"accuracy without perturbation {accuracy['baseline']:.4f}, with perturbation {accuracy['perturbed']:.4f}")
    for label, (value, n) in per_task["perturbed"].items():
        print(f"  {label}: {per_task['baseline'][label][0]:.4f} -> {value:.4f} ({n} trials)")
    print(f"wrote {out}")
    return 0
