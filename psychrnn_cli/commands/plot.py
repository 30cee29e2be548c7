"""``psychrnn plot RUN_DIR``: PNG figures of a trained network into RUN_DIR/plots/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from psychrnn_cli.commands import count, rng_seed

SUMMARY = "PNG figures: training curves, example trials, psychometric curve, weights, PCA (no TensorFlow)"

EPILOG = """\
figures (RUN_DIR/plots/):
  training.png            loss and accuracy over training (curriculum stages marked)
  example_trials.png      inputs, targets and outputs of stored test trials
  psychometric.png        choice vs signed coherence (perceptual discrimination), or
  accuracy_per_condition.png  accuracy per trial condition (other tasks)
  psychometric_blocks.png one psychometric curve per block prior (block_prior task)
  task_variance.png       units by tasks, normalised task variance sorted by cluster (after
                          psychrnn analyse --task-variance; multi-task runs)
  weights.png             effective W_rec with W_in and W_out; E/I and regions marked
  trajectories.png        states on the first principal components, coloured by condition
  spikes.png              spiking models: spike raster of one trial and population rates (Hz)

The psychometric curves and trajectories use fresh trials simulated with NumPy (with
task.trials_per_sequence > 1, --trials counts sequences, and figures show their trials one by one). Existing figures
are replaced only with --overwrite, and only if they are PNG files; the folder is created.

example:
  psychrnn plot outputs/2026-01-01/12-00-00 --trials 800
"""
FIGURES = ("training", "example_trials", "psychometric", "accuracy_per_condition", "psychometric_blocks",
           "task_variance", "weights", "trajectories", "spikes")
MAX_DPI = 600  # a figure of about 12 x 8 inches is then about 7200 x 4800 pixels


def dpi(text: str) -> int:
    """argparse type: a resolution in dots per inch, 1 to ``MAX_DPI``."""
    value = count(text)
    if value > MAX_DPI:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_DPI}, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="psychrnn plot", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holding run.h5) or the run file itself")
    p.add_argument("--out", metavar="DIR", help="where to write the PNG files (default RUN_DIR/plots)")
    p.add_argument("--overwrite", action="store_true", help="replace figures an earlier psychrnn plot wrote there")
    p.add_argument("--trials", type=count, default=400, metavar="N", help="fresh trials to simulate (default 400)")
    p.add_argument("--seed", type=rng_seed, default=0, help="seed of the fresh trials (default 0)")
    p.add_argument("--dpi", type=dpi, default=120, help=f"resolution of the PNG files, at most {MAX_DPI} (default 120)")
    return p


def check_figures(out: Path, overwrite: bool) -> None:
    """OutputError unless every figure ``plot_run`` may write into the folder ``out`` is new, or an
    existing PNG and ``overwrite`` is given (see :func:`psychrnn_cli.runfile.prepare_output`)."""
    from psychrnn_cli.runfile import OutputError, prepare_output

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file: give a folder for the figures")
    for path in (out / f"{name}.png" for name in FIGURES):
        if path.exists():  # (the folder itself is made once the figures are drawn)
            prepare_output(path, "PNG figure", overwrite)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from psychrnn_cli.build import ConfigError
    from psychrnn_cli.plots import plot_run
    from psychrnn_cli.runfile import OutputError, RunFileError, load_run, require_finite_weights, resolve_run_path
    from psychrnn_cli.simulator import SimulatorError

    try:
        run_file = resolve_run_path(args.run_dir)
        check_figures(Path(args.out) if args.out else run_file.parent / "plots", args.overwrite)
        require_finite_weights(load_run(run_file), run_file)
        paths = plot_run(args.run_dir, args.out, n_trials=args.trials, seed=args.seed, dpi=args.dpi)
    except (RunFileError, SimulatorError, OutputError, ConfigError) as err:
        print(f"psychrnn plot: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"psychrnn plot: error: cannot write the figures: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
