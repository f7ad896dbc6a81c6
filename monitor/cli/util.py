"""Helpers shared by the command-line modules (monitor/cli/main.py and the subcommands that
register themselves from their own packages)."""

from __future__ import annotations

import sys

from monitor.config import Config, ConfigError
from monitor.logs import PRIORITIES, writes_to_journal
from monitor.topics.compiled import Settings, load


def settings_or_report(path: str) -> Settings | None:
    """The configuration at `path` with its topics compiled, or None after printing one line
    per problem to stderr (the caller exits 2). When stderr is systemd's journal stream
    (`check-config` as the unit's ExecReload=), each line carries the error priority."""
    try:
        return load(path)
    except ConfigError as exc:
        prefix = PRIORITIES["error"] if writes_to_journal(sys.stderr) else ""
        for problem in exc.problems:
            print(f"{prefix}{problem}", file=sys.stderr)
        return None


def load_or_report(path: str) -> Config | None:
    """The configuration at `path`, checked as `settings_or_report` checks it."""
    settings = settings_or_report(path)
    return settings.config if settings is not None else None
