"""``psychrnn analyse RUN_DIR --fixed-points | --task-variance``: fixed points of a trained network (any
model kind); task variance and unit clusters of a multi-task network."""

from __future__ import annotations

import argparse
import sys

from psychrnn_cli.commands import count, finite_numbers, non_negative, positive, rng_seed

SUMMARY = ("fixed points (/analysis/fixed_points) or task-variance clusters of a multi-task network "
           "(/analysis/task_variance); no TensorFlow")

EPILOG = """\
The finder minimises q = 0.5 |F(x) - x|^2 (F: one step of the network with a constant input)
from states sampled along fresh trials, keeps points with q <= --q-tol, removes duplicates, and
reports the Jacobian dF/dx, its eigenvalues and stability (all |eigenvalue| < 1). Any model: the
state searched is the full state (the LSTM's h and c side by side).

--task-variance (a task=multitask run; Yang et al. 2019, Nature Neuroscience): per unit, the
variance of its rate across --trials fresh trials of each task, averaged over the --epoch steps;
normalised by the unit's largest; units with summed variance < 1e-3 left out; the others
clustered by k-means, the number of clusters chosen by silhouette score (2..--max-clusters) or
given by --clusters. Clusters are numbered from 0; psychrnn simulate RUN_DIR --lesion cluster0
silences one, and psychrnn plot draws the units-by-tasks map.

examples:
  psychrnn analyse RUN_DIR --fixed-points
  psychrnn analyse RUN_DIR --task-variance --trials 200 --epoch response
  psychrnn analyse RUN_DIR --fixed-points --input 1,1.3 --initial 512     (during a stimulus)

The result records the iteration and the SHA-256 of the weights it was computed from (attrs
run_iteration, weights_sha256). A saved result is kept unless --overwrite is given, and nothing is
saved while psychrnn train holds the run directory or if its weights changed meanwhile (exit 2).
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="psychrnn analyse", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holding run.h5) or the run file itself")
    p.add_argument("--fixed-points", action="store_true", help="find fixed points")
    p.add_argument("--task-variance", action="store_true",
                   help="task variance per unit and task, and unit clusters (multi-task runs)")
    p.add_argument("--epoch", type=epoch, default=None, metavar="EPOCH",
                   help="--task-variance steps: response (nonzero loss mask; default), all, or T0-T1 in ms")
    p.add_argument("--clusters", type=count, default=None, metavar="K",
                   help="--task-variance: number of clusters (default: best silhouette score)")
    p.add_argument("--max-clusters", type=at_least_two, default=None, metavar="K",
                   help="--task-variance: most clusters tried by the silhouette score (default 20)")
    p.add_argument("--input", type=finite_numbers, default=None, metavar="U1,U2,...",
                   help="the constant input (default all zero)")
    p.add_argument("--initial", type=count, default=None, metavar="N", help="number of searches (default 256)")
    p.add_argument("--trials", type=count, default=100, metavar="N",
                   help="fresh trials whose states seed the searches (default 100)")
    p.add_argument("--init-noise", type=non_negative, default=None, metavar="STD",
                   help="Gaussian noise added to the sampled initial states (default 0)")
    p.add_argument("--q-tol", type=positive, default=None, metavar="Q", help="speed below which a point is fixed")
    p.add_argument("--seed", type=rng_seed, default=0, help="seed of the trials and the sampling (default 0)")
    p.add_argument("--no-save", dest="save", action="store_false", help="print only; do not write the run file")
    p.add_argument("--overwrite", action="store_true", help="replace the fixed points already saved in the run file")
    return p


# options of one analysis only, and their defaults (None in the parser, so that a given one is seen)
OWN_OPTIONS = {
    "task_variance": {"epoch": "response", "clusters": None, "max_clusters": 20},
    "fixed_points": {"input": None, "initial": 256, "init_noise": 0.0, "q_tol": 1e-12},
}


def at_least_two(text: str) -> int:
    """argparse type of --max-clusters: a whole number of at least 2 (one cluster has no silhouette score)."""
    value = count(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (the silhouette score compares clusters), got {value}")
    return value


def epoch(text: str) -> str | tuple[float, float]:
    """argparse type of --epoch."""
    from psychrnn_cli.task_variance import parse_epoch

    try:
        return parse_epoch(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.fixed_points == args.task_variance:
        print("psychrnn analyse: error: choose an analysis: --fixed-points or --task-variance (one at a time)",
              file=sys.stderr)
        return 2
    analysis = "task_variance" if args.task_variance else "fixed_points"
    for other, options in OWN_OPTIONS.items():
        for name, default in options.items():
            if other != analysis and getattr(args, name) is not None:
                print(f"psychrnn analyse: error: --{name.replace('_', '-')} is an option of --{other.replace('_', '-')}, "
                      f"not of --{analysis.replace('_', '-')}: drop it", file=sys.stderr)
                return 2
            if getattr(args, name) is None:
                setattr(args, name, default)
    if args.task_variance:
        return task_variance(args)
    import numpy as np

    from psychrnn_cli.analysis import find_fixed_points, sample_states
    from psychrnn_cli.build import ConfigError, task_from_run
    from psychrnn_cli.runfile import (RunFileError, load_run, require_finite_weights, resolve_run_path,
                                      result_provenance, update_run)
    from psychrnn_cli.simulator import SimulatorError, network_from_run, simulate

    try:
        run = load_run(args.run_dir)
        require_finite_weights(run, resolve_run_path(args.run_dir))
        network = network_from_run(run, str(resolve_run_path(args.run_dir)))
        inputs = None if args.input is None else np.array(args.input)
        if inputs is not None and inputs.shape != (network.N_in,):
            raise SimulatorError(f"--input {','.join(f'{v:g}' for v in args.input)}: give {network.N_in} "
                                 f"comma-separated numbers, one per input channel of the network")
        task = task_from_run(run, args.trials, args.seed, [])
        states = simulate(network, task.get_trial_batch(args.trials)[0], seed=args.seed).full_states
        rng = np.random.default_rng(args.seed)
        found = find_fixed_points(network, sample_states(states, args.initial, rng, args.init_noise), inputs,
                                  q_tol=args.q_tol)
        print(f"{len(found.xstar)} fixed point(s) from {found.n_initial} searches "
              f"({found.n_slow} ended at slow points with q > {args.q_tol:g}); input {found.inputs.tolist()}")
        if len(found.xstar):
            print(f"\n{'#':>3}{'q':>11}{'stable':>8}{'max |eig|':>11}{'unstable dims':>15}{'|x*|':>9}")
            for k in range(len(found.xstar)):
                modulus = np.abs(found.eigvals[k])
                print(f"{k:>3}{found.qstar[k]:>11.2e}{'yes' if found.is_stable[k] else 'no':>8}{modulus.max():>11.4f}"
                      f"{int((modulus >= 1).sum()):>15d}{np.linalg.norm(found.xstar[k]):>9.3f}")
        if args.save:
            tree = found.tree()
            tree["attrs"].update(result_provenance(run))
            update_run(args.run_dir, {"analysis/fixed_points": tree}, weights_sha256=tree["attrs"]["weights_sha256"],
                       overwrite=args.overwrite)
            print("\nsaved under /analysis/fixed_points")
    except (RunFileError, SimulatorError, ConfigError) as err:
        print(f"psychrnn analyse: error: {err}", file=sys.stderr)
        return 2
    return 0


def task_variance(args: argparse.Namespace) -> int:
    """``--task-variance``: compute, print and save the clusters."""
    import numpy as np

    from psychrnn_cli.runfile import (RunFileError, load_run, require_finite_weights, resolve_run_path,
                                      result_provenance, update_run)
    from psychrnn_cli.task_variance import task_variance_from_run, tree

    try:
        run = load_run(args.run_dir)
        require_finite_weights(run, resolve_run_path(args.run_dir))
        clusters, labels, attrs = task_variance_from_run(run, args.trials, args.seed, args.epoch, args.clusters,
                                                         args.max_clusters)
        active = int(np.count_nonzero(clusters.cluster >= 0))
        print(f"{active} of {len(clusters.cluster)} units active; {clusters.k} clusters "
              f"(silhouette {clusters.scores.max():.3f}); epoch {attrs['epoch']}, {args.trials} trials per task")
        print(f"\n{'cluster':<9}{'units':>6}  " + "".join(f"{label[:14]:>15}" for label in labels))
        for c in range(clusters.k):
            rows = clusters.normalised[clusters.cluster == c]
            print(f"{'cluster' + str(c):<9}{len(rows):>6}  " + "".join(f"{v:>15.2f}" for v in rows.mean(axis=0)))
        if args.save:
            result = tree(clusters, labels, {**attrs, **result_provenance(run)})
            update_run(args.run_dir, {"analysis/task_variance": result},
                       weights_sha256=result["attrs"]["weights_sha256"], overwrite=args.overwrite)
            print("\nsaved under /analysis/task_variance")
    except (RunFileError, ValueError) as err:  # (ConfigError, SimulatorError: the run, the task, too few units)
        print(f"psychrnn analyse: error: {err}", file=sys.stderr)
        return 2
    return 0
