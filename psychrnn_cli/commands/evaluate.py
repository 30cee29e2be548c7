"""``psychrnn evaluate RUN_DIR``: accuracy and loss of a trained network on fresh trials."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from typing import Any

from psychrnn_cli.commands import count, rng_seed, task_override

SUMMARY = "accuracy and loss on fresh trials, per condition; saved under /evaluation (no TensorFlow)"

EPILOG = """\
examples:
  psychrnn evaluate outputs/2026-01-01/12-00-00
  psychrnn evaluate RUN_DIR --trials 2000 --seed 3
  psychrnn evaluate RUN_DIR task.coherences=[0.05] task.T=3000    (a harder or longer task)

Task overrides change the stored task config for this evaluation only (task.dt, task.tau,
task.feedback, N_in and N_out must stay as trained). Results go into the run file under /evaluation/NAME
(default name "evaluate", or "evaluate <overrides>"), with the iteration and the SHA-256 of the
weights it was computed from (attrs run_iteration, weights_sha256); the training-time /evaluation
attributes are kept. A name already saved is kept unless --overwrite is given, and nothing is
saved while psychrnn train holds the run directory or if its weights changed meanwhile (exit 2).
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="psychrnn evaluate", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holding run.h5) or the run file itself")
    p.add_argument("overrides", nargs="*", type=task_override, metavar="task.KEY=VALUE",
                   help="task settings for this evaluation")
    p.add_argument("--trials", type=count, default=500, metavar="N", help="number of fresh trials, or sequences of trials (task.trials_per_sequence > 1) (default 500)")
    p.add_argument("--seed", type=rng_seed, default=0, help="seed of the trials and the noise (default 0)")
    p.add_argument("--noise", action=argparse.BooleanOptionalAction, default=True,
                   help="recurrent noise as in training, if the model has any (default on)")
    p.add_argument("--name", type=result_name,
                   help="group name under /evaluation, without '/' (default: from the overrides)")
    p.add_argument("--no-save", dest="save", action="store_false", help="print only; do not write the run file")
    p.add_argument("--overwrite", action="store_true", help="replace a result already saved under this name")
    return p


def result_name(text: str) -> str:
    """argparse type: the name of one group under /evaluation (not empty, no '/', not '.' or '..')."""
    if not text.strip() or "/" in text or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} is not a group name: give a name without '/', e.g. --name harder")
    return text


def evaluate_run(run: dict[str, Any], n_trials: int, seed: int, overrides: list[str], noise: bool,
                 source: str = "run file") -> dict[str, Any]:
    """Simulate ``n_trials`` fresh trials of the run's task; return the /evaluation tree.

    ``source`` names the run file in error messages. Sequences with ``task.feedback=reward`` run
    in a closed loop: the network's actions are sampled as it goes, and its feedback inputs come
    from them (:func:`~psychrnn_cli.rewards.closed_loop`, seeded by ``seed``).
    """
    import numpy as np

    from psychrnn_cli.analysis import block_choices, condition_accuracy, condition_parameters
    from psychrnn_cli.build import task_from_run
    from psychrnn_cli.rewards import acts_on_feedback, closed_loop
    from psychrnn_cli.runfile import result_provenance
    from psychrnn_cli.sequences import per_trial
    from psychrnn_cli.simulator import SimulatorError, network_from_run, simulate
    from psychrnn_cli.task import trial_param_arrays
    from psychrnn_cli.tasks.multitask import accuracy_by_task

    network = network_from_run(run, source)
    task = task_from_run(run, n_trials, seed, overrides)
    x, y, mask, params = task.get_trial_batch(n_trials)
    with np.errstate(over="ignore", invalid="ignore"):  # (a diverging network is refused below)
        if acts_on_feedback(task):
            outputs = closed_loop(network, task, x, y, mask, params, run["config"].get("algorithm") or {}, noise,
                                  seed)[1].outputs
        else:
            outputs = simulate(network, x, noise=noise, seed=seed).outputs
        loss = float(np.mean(np.square(mask * (outputs.astype(np.float64) - y))))
    if not math.isfinite(loss):
        raise SimulatorError(f"the network's outputs are not finite or too large to score on {n_trials} trials of its "
                             "task (its activity grows without bound with these weights): nothing to score")
    accuracy = float(task.accuracy_function(y, outputs, mask))
    per_task = accuracy_by_task(task, y, outputs, mask, params)  # a multi-task's tasks
    trial_task, (y, outputs, mask), params = per_trial(task, [y, outputs, mask], params)  # sequences: trial by trial
    values = trial_param_arrays(params)
    conditions = {}
    for name in condition_parameters(values):
        levels, acc, counts = condition_accuracy(values[name], y, outputs, mask, trial_task.accuracy_function)
        conditions[name] = {"values": levels, "accuracy": acc, "n_trials": counts}
    attrs = {"accuracy": accuracy, **{f"accuracy_{label}": value for label, (value, _) in per_task.items()},
             **{f"n_trials_{label}": n for label, (_, n) in per_task.items()},
             "loss": loss, "loss_kind": "mse", "n_trials": n_trials,
             "trials_per_sequence": len(params) // n_trials, "seed": seed,
             "noise": bool(noise and network.rec_noise > 0), "overrides": " ".join(overrides),
             "evaluated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **result_provenance(run)}
    result = {"attrs": attrs, "conditions": conditions}
    blocks = block_choices(values, outputs, mask)
    if blocks is not None:
        result["blocks"] = blocks
    return result


def table(result: dict[str, Any]) -> str:
    """The evaluation as printable text."""
    a = result["attrs"]
    settings = f"seed {a['seed']}, noise {'on' if a['noise'] else 'off'}"
    if a["overrides"]:
        settings += f", {a['overrides']}"
    per_sequence = a.get("trials_per_sequence", 1)
    trials = (f"{a['n_trials']} fresh sequences of {per_sequence} trials" if per_sequence > 1
              else f"{a['n_trials']} fresh trials")
    lines = [f"accuracy {a['accuracy']:.4f}   loss (MSE) {a['loss']:.5f}   on {trials} ({settings})"]
    tasks = [key[len("accuracy_"):] for key in a if key.startswith("accuracy_")]  # a multi-task's
    lines += [f"  {label}: accuracy {a['accuracy_' + label]:.4f} on {a['n_trials_' + label]} trials"
              for label in tasks if a["n_trials_" + label]]
    if result["conditions"]:
        lines += ["", f"{'condition':<14}{'value':>10}{'trials':>9}{'accuracy':>10}"]
        for name, c in result["conditions"].items():
            for value, n, acc in zip(c["values"], c["n_trials"], c["accuracy"]):
                lines.append(f"{name:<14}{value:>10.4g}{n:>9d}{acc:>10.4f}")
    if "blocks" in result:
        lines += ["", block_table(result["blocks"])]
    return "\n".join(lines)


def block_table(blocks: dict[str, Any]) -> str:
    """Choice probability by block prior (rows) and signed coherence (columns), as text."""
    lines = ["P(choose output 1) by block prior (rows) and signed coherence (columns; > 0 favours output 1)",
             f"{'prior':<8}" + "".join(f"{c:>8.3g}" for c in blocks["signed_coherence"])]
    for prior, row in zip(blocks["prior"], blocks["p_choice_1"]):
        lines.append(f"{prior:<8.3g}" + "".join(f"{p:>8.3f}" for p in row))
    lines.append(f"zero coherence: P(choose the side the block favours) = "
                 f"{blocks['attrs']['p_likely_side_zero_coherence']:.3f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = parser().parse_intermixed_args(argv)
    from psychrnn_cli.build import ConfigError
    from psychrnn_cli.runfile import RunFileError, load_run, require_finite_weights, resolve_run_path, update_run
    from psychrnn_cli.simulator import SimulatorError

    try:
        run = load_run(args.run_dir)
        require_finite_weights(run, resolve_run_path(args.run_dir))
        status = run.get("attrs", {}).get("status")
        if status not in ("completed", "stopped"):
            iteration = run["attrs"].get("weights_from_iteration", run["attrs"].get("iterations"))
            print(f"psychrnn evaluate: note: the run's status is {status!r}; evaluating the weights it saved "
                  f"(from iteration {iteration})", file=sys.stderr)
        result = evaluate_run(run, args.trials, args.seed, args.overrides, args.noise,
                              str(resolve_run_path(args.run_dir)))
        print(f"evaluation of {resolve_run_path(args.run_dir)}")
        print(table(result))
        if args.save:
            name = args.name or " ".join(["evaluate", *args.overrides]).replace("/", "|")
            update_run(args.run_dir, {f"evaluation/{name}": result},
                       weights_sha256=result["attrs"]["weights_sha256"], overwrite=args.overwrite)
            print(f"\nsaved under /evaluation/{name}")
    except (RunFileError, SimulatorError, ConfigError) as err:
        print(f"psychrnn evaluate: error: {err}", file=sys.stderr)
        return 2
    return 0
