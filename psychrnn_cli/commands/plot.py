"""``psychrnn plot RUN_DIR``: PNG figures of a trained network into RUN_DIR/plots/."""

from __future__ import annotations

import argparse
import sys

SUMMARY = "PNG figures: training curves, example trials, psychometric curve, weights, PCA (no TensorFlow)"

EPILOG = """\
figures (RUN_DIR/plots/):
  training.png            loss and accuracy over training (curriculum stages marked)
  example_trials.png      inputs, targets and outputs of stored test trials
  psychometric.png        choice vs signed coherence (perceptual discrimination), or
  accuracy_per_condition.png  accuracy per trial condition (other tasks)
  weights.png             effective W_rec with W_in and W_out; E/I and regions marked
  trajectories.png        states on the first principal components, coloured by condition

The psychometric curve and trajectories use fresh trials simulated with NumPy.

example:
  psychrnn plot outputs/2026-01-01/12-00-00 --trials 800
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="psychrnn plot", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holding run.h5) or the run file itself")
    p.add_argument("--out", metavar="DIR", help="where to write the PNG files (default RUN_DIR/plots)")
    p.add_argument("--trials", type=int, default=400, metavar="N", help="fresh trials to simulate (default 400)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh trials (default 0)")
    p.add_argument("--dpi", type=int, default=120, help="resolution of the PNG files (default 120)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.trials < 1:
        print("psychrnn plot: error: --trials must be at least 1", file=sys.stderr)
        return 2
    from psychrnn_cli.build import ConfigError
    from psychrnn_cli.plots import plot_run
    from psychrnn_cli.runfile import RunFileError
    from psychrnn_cli.simulator import SimulatorError

    try:
        paths = plot_run(args.run_dir, args.out, n_trials=args.trials, seed=args.seed, dpi=args.dpi)
    except (RunFileError, SimulatorError, ConfigError) as err:
        print(f"psychrnn plot: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"psychrnn plot: error: cannot write the figures: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
