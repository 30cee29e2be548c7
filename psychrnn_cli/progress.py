"""The progress bar on stderr, and log lines that do not collide with it.

The bar is drawn only when stderr is a terminal: redirected to a file (a SLURM job's log, ``2>
train.err``) each redraw would be one more carriage-return line, so there the log's line per
evaluation is the only progress report.
"""

from __future__ import annotations

import logging
import sys

from tqdm.auto import tqdm


def progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    """A bar over ``total`` iterations starting at ``initial``; disabled unless ``enabled`` and
    stderr is a terminal."""
    shown = enabled and sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=not shown, unit="it", dynamic_ncols=True, file=sys.stderr)


class BarSafeHandler(logging.StreamHandler):
    """A stderr log handler that writes through ``tqdm.write``: a log line clears the bar, prints on
    a line of its own, and the bar is redrawn below it (never glued to the end of the bar)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:
            self.handleError(record)
