"""structlog set-up: JSON lines when the output is not a terminal, a console renderer when it is.

Events have fixed wording and stable keys (feed_url, feed_id, topic, alert_id, sink, error).

Everything goes through one handler on the root logger of `logging`, formatted by
structlog's `ProcessorFormatter`: the project's structlog events and the records of the
libraries' stdlib loggers (APScheduler, aiohttp, asyncio, asyncpg, trafilatura) get the same
processors (timestamp, level, logger name) and the same renderer, one line per event.
Library records below warning are dropped (APScheduler alone writes two info lines a tick).

Under systemd, when the output is the journal's stream (`JOURNAL_STREAM` names its
device:inode, as systemd.exec(5) says), each line starts with the `<N>` priority prefix of
sd-daemon(3) that `SyslogLevelPrefix=` (on by default) reads: `journalctl -p warning` then
shows the warnings and errors.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# sd-daemon(3): the syslog priority of a line written to the journal's stream
PRIORITIES = {
    "critical": "<2>",
    "error": "<3>",
    "warning": "<4>",
    "info": "<6>",
    "debug": "<7>",
}

FOREIGN_FLOOR = logging.WARNING  # library records below this level are dropped


def writes_to_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Is `stream` the journal's stream systemd connected (StandardOutput=journal)?

    systemd sets JOURNAL_STREAM=DEVICE:INODE of that stream; a process whose output was
    redirected (`monitor run | tee`, a file) has another one, and gets no prefixes."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


class PriorityPrefix:
    """Wraps the renderer: the rendered line starts with the event's `<N>` priority."""

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer

    def __call__(self, logger: Any, method: str, event: structlog.typing.EventDict) -> str:
        prefix = PRIORITIES.get(str(event.get("level", "")), "<6>")
        return prefix + str(self.renderer(logger, method, event))


class _ForeignFloor(logging.Filter):
    """Lets structlog's records through (their level was checked by structlog) and the
    libraries' ones at `floor` or above."""

    def __init__(self, floor: int) -> None:
        super().__init__()
        self.floor = floor

    def filter(self, record: logging.LogRecord) -> bool:
        return hasattr(record, "_logger") or record.levelno >= self.floor


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler `configure` puts on the root logger (and replaces on the next call).
    It carries the configured level and counts its changes: what a Logger follows."""

    def __init__(self, stream: TextIO, level: int) -> None:
        super().__init__(stream)
        self.configured = level
        self.changes = 0


def _installed() -> _Handler | None:
    """The handler of the last `configure`, if any (structlog's defaults drop nothing)."""
    for handler in logging.root.handlers:
        if isinstance(handler, _Handler):
            return handler
    return None


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]


def configure(level: str = "info", stream: TextIO | None = None, json: bool | None = None) -> None:
    floor = LEVELS.get(level, logging.INFO)
    out = stream or sys.stdout
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    if writes_to_journal(out):
        renderer = PriorityPrefix(renderer)
    shared = _shared_processors()
    handler = _Handler(out, floor)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.addFilter(_ForeignFloor(max(floor, FOREIGN_FLOOR)))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    _levels(root, floor)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(floor),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def _levels(root: logging.Logger, level: int) -> None:
    """Our loggers ("monitor" and below) at the configured `level`; the root, and so every
    library's logger, at the floor of what is written of theirs: a library's debug record
    (aiosqlite logs every statement) is never even made, let alone kept by a handler."""
    root.setLevel(max(level, FOREIGN_FLOOR))
    logging.getLogger("monitor").setLevel(level)


def set_level(level: str) -> None:
    """Change the level of the loggers made from now on and of those already made (each
    binds anew on its next event), and of the libraries' records."""
    floor = LEVELS.get(level, logging.INFO)
    root = logging.getLogger()
    _levels(root, floor)
    handler = _installed()
    if handler is not None:
        handler.configured = floor
        handler.changes += 1
        for f in handler.filters:
            if isinstance(f, _ForeignFloor):
                f.floor = max(floor, FOREIGN_FLOOR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(floor))


class Logger:
    """A logger that follows `configure` and `set_level`, binding structlog's logger once
    per configuration: structlog's lazy proxy (cache_logger_on_first_use off) binds a new
    one for every event, even for an event its level drops."""

    __slots__ = ("_bound", "_changes", "_context", "_handler", "_name")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = context or {}
        self._handler: _Handler | None = None  # the configuration it was bound under
        self._changes = -1
        self._bound: Any = None

    def bind(self, **values: Any) -> Logger:
        return Logger(self._name, {**self._context, **values})

    def is_enabled_for(self, level: int) -> bool:
        """Would an event at `level` be written? (As structlog's filtering loggers: to skip
        building an event on a hot path that its level would drop.)"""
        handler = _installed()
        return level >= (handler.configured if handler is not None else logging.NOTSET)

    def __getattr__(self, method: str) -> Any:  # info, warning, error, ...
        handler = _installed()
        changes = handler.changes if handler is not None else 0
        if self._bound is None or handler is not self._handler or changes != self._changes:
            self._bound = structlog.get_logger(self._name).bind(**self._context)
            self._handler, self._changes = handler, changes
        return getattr(self._bound, method)


def get(name: str) -> Logger:
    return Logger(name)
