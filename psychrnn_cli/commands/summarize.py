"""``psychrnn summarize SWEEP_DIR``: a table of the runs of a sweep, as text and CSV."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SUMMARY = "table of a sweep's runs (overrides, status, accuracy, mean reward, loss, time) as text and CSV; --group-by"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="psychrnn summarize",
        description="One row per run directory under SWEEP_DIR: its overrides, status, final test accuracy, "
                    "mean reward (reward-based training, algorithm=actor_critic; '-' otherwise) and loss, iterations "
                    "and training time (s). Printed, and written as CSV.",
    )
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", type=Path,
                   help="a sweep directory, e.g. outputs/multirun/2026-01-01/12-00-00")
    p.add_argument("--out", type=Path, default=None,
                   help="CSV file to write (default SWEEP_DIR/summary.csv; its folder is created); with --group-by "
                        "the grouped table goes next to it as <name>_by_<params>.csv")
    p.add_argument("--overwrite", action="store_true",
                   help="replace summary tables an earlier psychrnn summarize wrote at --out (never any other file; "
                        "the default SWEEP_DIR/summary.csv is always refreshed)")
    p.add_argument("--group-by", dest="group_by", action="append", default=[], metavar="PARAM",
                   help="mean and sample std of the completed runs per value of PARAM (an override key such "
                        "as model.N_rec, or any dotted config key); repeat to group by combinations")
    return p


def main(argv: list[str]) -> int:
    from psychrnn_cli.runfile import OutputError, prepare_output
    from psychrnn_cli.sweep_summary import (SummaryError, collect_runs, common_params, format_table, group_table,
                                        param_columns, run_table, write_csv)

    args = parser().parse_args(argv)
    out = args.out or args.sweep_dir / "summary.csv"
    try:
        runs = collect_runs(args.sweep_dir)
        params = param_columns(runs)
        common = common_params(runs, params) if len(runs) > 1 else {}
        shown = run_table(runs, [p for p in params if p not in common])
        tables = [("", *run_table(runs, params))]  # the CSV keeps every parameter
        if args.group_by:
            suffix = "_by_" + "_".join(re.sub(r"[^\w.-]", "_", key) for key in args.group_by)
            tables.append((suffix, *group_table(runs, args.group_by)))
        refresh = args.overwrite or args.out is None  # the default tables are refreshed as runs finish
        paths = [prepare_output(out.with_name(out.stem + suffix + out.suffix), "summary table", refresh)
                 for suffix, *_ in tables]
    except (SummaryError, OutputError) as err:
        print(f"psychrnn summarize: error: {err}", file=sys.stderr)
        return 2
    if common:
        print("same in every run: " + " ".join(f"{key}={value}" for key, value in common.items()))
    for (_, header, rows), printed, path in zip(tables, [shown, *tables[1:]], paths):
        print(format_table(printed[-2], printed[-1]), end="\n\n")
        try:
            write_csv(path, header, rows)
        except OSError as err:
            print(f"psychrnn summarize: error: cannot write {path} ({err.strerror}); choose another file with --out",
                  file=sys.stderr)
            return 2
        print(f"wrote {path}")
    return 0
