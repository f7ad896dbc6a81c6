"""Helpers shared by the command-line modules (monitor/cli.py and the subcommands that
register themselves from their own packages)."""

from __future__ import annotations

import sys

from monitor.config import Config, ConfigError, load


def load_or_report(path: str) -> Config | None:
    """The configuration at `path`, or None after printing one line per problem to stderr
    (the caller exits 2)."""
    try:
        return load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None
