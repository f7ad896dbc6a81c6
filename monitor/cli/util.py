"""Helpers shared by the command-line modules (monitor/cli/main.py and the subcommands that
register themselves from their own packages)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from monitor.config import Config, ConfigError
from monitor.logs import PRIORITIES, writes_to_journal
from monitor.topics.compiled import Settings, load

T = TypeVar("T")


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


def with_store(path: str, job: Callable[[Any, Config], Awaitable[T]]) -> T | int:
    """`job(store, config)` on the store of the configuration at `path`, opened and closed
    here; an exit code instead (after one line on stderr) when the configuration is bad (2),
    or the store is missing or fails (1). Other exceptions of `job` reach the caller."""
    from monitor.store import StoreError, open_store

    cfg = load_or_report(path)
    if cfg is None:
        return 2
    if cfg.storage.path is not None and not cfg.storage.path.exists():
        print(f"error: no store at {cfg.storage.path} (has the daemon run?)", file=sys.stderr)
        return 1

    async def go() -> T:
        store = await open_store(cfg.storage)
        try:
            return await job(store, cfg)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
