"""``psychrnn export RUN_DIR --format psychrnn``: write a trained network for another tool."""

from __future__ import annotations

import argparse
import sys

from psychrnn_cli.commands import OVERWRITE_HELP

SUMMARY = "export a trained basic network as a PsychRNN weight file (.npz)"

EPILOG = """\
The .npz holds PsychRNN's keys (Ehrlich et al. 2021): W_in, W_rec, W_out (effective matrices), b_rec,
b_out, init_state [1, N_rec], Dale_rec, Dale_out, input/rec/output_connectivity and dale_ratio.
Load it in PsychRNN with Basic(params) where params['load_weights_path'] is the file, or here
with initializer=from_file initializer.path=FILE (and the simulator: load_network(FILE)).

An existing output file is replaced only if it is a PsychRNN weight file and --overwrite is
given; the output folder is created. A run whose weights are not finite is not exported.

example:
  psychrnn export outputs/2026-01-01/12-00-00 --format psychrnn --out weights.npz
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="psychrnn export", description=SUMMARY, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holding run.h5) or the run file itself")
    p.add_argument("--format", choices=["psychrnn"], default="psychrnn", help="file format (default psychrnn)")
    p.add_argument("--out", metavar="FILE.npz", help="output file (default RUN_DIR/psychrnn_weights.npz)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from psychrnn_cli.interop import InteropError, export_run
    from psychrnn_cli.runfile import OutputError, RunFileError

    try:
        path = export_run(args.run_dir, args.out, args.overwrite)
    except (RunFileError, InteropError, OutputError) as err:
        print(f"psychrnn export: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"psychrnn export: error: cannot write {args.out}: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
