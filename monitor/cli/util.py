"""Helpers shared by the command-line modules (monitor/cli/main.py and the subcommands that
register themselves from their own packages)."""

from __future__ import annotations

import sys

from monitor.config import Config, ConfigError, load
from monitor.logs import PRIORITIES, writes_to_journal


def load_or_report(path: str) -> Config | None:
    """The configuration at `path`, or None after printing one line per problem to stderr
    (the caller exits 2). When stderr is systemd's journal stream (`check-config` as the
    unit's ExecReload=), each line carries the error priority."""
    try:
        return load(path)
    except ConfigError as exc:
        prefix = PRIORITIES["error"] if writes_to_journal(sys.stderr) else ""
        for problem in exc.problems:
            print(f"{prefix}{problem}", file=sys.stderr)
        return None
