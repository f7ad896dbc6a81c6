"""Progress bars of the long commands (migrate, backtest, poll-once), drawn by tqdm.

One helper so that every bar behaves alike: on stderr, with a rate and an ETA, redrawn at
most a few times a second, and drawn only on a terminal. Off a terminal (cron, a pipe, a
log file) the bar is disabled: it writes nothing, so no carriage-return lines end up in
logs; the commands print their own one-line summaries instead.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm


def on_terminal(stream: TextIO) -> bool:
    """True when `stream` is an interactive terminal."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def bar(
    total: int | None,
    desc: str,
    *,
    unit: str = "it",
    show: bool | None = None,
    stream: TextIO | None = None,
) -> tqdm[Any]:
    """A progress bar of `total` steps (None: unknown, a counter) labelled `desc` on
    `stream` (stderr). `show` forces it on or off; by default it is drawn only when the
    stream is a terminal. Use it as a context manager and call `update(n)`."""
    out = stream if stream is not None else sys.stderr
    enabled = on_terminal(out) if show is None else show
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=False,
        file=out,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.25,
        leave=True,
    )
