"""structlog set-up: JSON lines when stdout is not a terminal, a console renderer when it is.

Events have fixed wording and stable keys (feed_url, feed_id, topic, alert_id, sink, error).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_generation = 0  # counts configurations: a Logger binds anew after a change
_level = logging.NOTSET  # the configured level (structlog's defaults drop nothing)


def configure(level: str = "info", stream: TextIO | None = None, json: bool | None = None) -> None:
    global _generation, _level
    _generation += 1
    _level = LEVELS.get(level, logging.INFO)
    out = stream or sys.stdout
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def set_level(level: str) -> None:
    """Change the level of the loggers made from now on and of those already made (each
    binds anew on its next event)."""
    global _generation, _level
    _generation += 1
    _level = LEVELS.get(level, logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(_level))


class Logger:
    """A logger that follows `configure` and `set_level`, binding structlog's logger once
    per configuration: structlog's lazy proxy (cache_logger_on_first_use off) binds a new
    one for every event, a few microseconds each, even for an event its level drops."""

    __slots__ = ("_bound", "_context", "_generation", "_name")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = context or {}
        self._generation = -1
        self._bound: Any = None

    def bind(self, **values: Any) -> Logger:
        return Logger(self._name, {**self._context, **values})

    def is_enabled_for(self, level: int) -> bool:
        """Would an event at `level` be written? (As structlog's filtering loggers: to skip
        building an event on a hot path that its level would drop.)"""
        return level >= _level

    def __getattr__(self, method: str) -> Any:  # info, warning, error, ...
        if self._generation != _generation:
            self._bound = structlog.get_logger(self._name).bind(**self._context)
            self._generation = _generation
        return getattr(self._bound, method)


def get(name: str) -> Logger:
    return Logger(name)
