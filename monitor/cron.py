"""Cron expressions of digest schedules, evaluated as crontab evaluates them.

Pure: `next_fire(expr, tz, after)` is the first fire time strictly after `after`, so a
schedule is tested with fixed datetimes and the due times can live in the store (a digest
missed while the daemon was down goes out when it starts again). APScheduler remains the
daemon's scheduler; only the next fire time of a digest is computed here, by cronsim, which
follows Vixie/Debian cron:

The design in full: docs/modules.md, `monitor/cron.py`.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names numbered from `lowest`)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_TERM = re.compile(
    r"(?P<range>\*|(?P<a>[0-9]+|[a-z]+)(?:-(?P<b>[0-9]+|[a-z]+))?)(?:/(?P<step>.*))?"
)
_DAYS_IN = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # the most a month can have


def zone(name: str) -> tzinfo:
    """A time zone by IANA name ("UTC", "Europe/Paris"); ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone (use an IANA name such as 'UTC' or 'Europe/Paris')"
        ) from None


def _value(text: str, field: int) -> int:
    name, low, high, names = _FIELDS[field]
    if text.isdigit():
        n = int(text)
    elif text in names:
        n = names.index(text) + low
    else:
        known = f" or a name ({names[0]}-{names[-1]})" if names else ""
        raise ValueError(f"{name} {text!r} is not a number{known}")
    if not low <= n <= high:
        raise ValueError(f"{name} {n} is out of range {low}-{high}")
    return n


def _values(text: str, field: int) -> set[int]:
    """The values one crontab field allows (ValueError naming the field and why)."""
    name, low, high, _names = _FIELDS[field]
    out: set[int] = set()
    for term in text.split(","):
        m = _TERM.fullmatch(term)
        if m is None:
            raise ValueError(f"{name} {term!r} is not a value, range or step")
        step = 1
        if m["step"] is not None:
            if not m["step"].isdigit() or int(m["step"]) == 0:
                raise ValueError(f"{name} step {m['step']!r} is not a whole number above 0")
            step = int(m["step"])
        if m["range"] == "*":
            start, end = low, high
        else:
            start = _value(m["a"], field)
            end = _value(m["b"], field) if m["b"] is not None else start
            if m["b"] is None and m["step"] is not None:
                end = high  # "5/15": from 5 to the end, as cron reads it
            if end < start:
                raise ValueError(f"{name} range {term!r} runs backwards")
        out.update(range(start, end + 1, step))
    return out


def parse(expr: str) -> str:
    """The five-field crontab text of `expr` (an alias expanded, names lower-cased), checked
    field by field; ValueError with a readable reason."""
    text = expr.strip().lower()
    if text.startswith("@"):
        if text not in ALIASES:
            raise ValueError(
                f"{expr!r} is not a cron expression: unknown shortcut {text!r} "
                f"(use one of {', '.join(ALIASES)})"
            )
        text = ALIASES[text]
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expr!r} is not a cron expression: expected 5 fields (minute hour day month "
            f'weekday, e.g. "0 7 * * *" for 07:00 every day), got {len(fields)}'
        )
    try:
        days, months = _values(fields[2], 2), _values(fields[3], 3)
        for i in (0, 1, 4):
            _values(fields[i], i)
    except ValueError as exc:
        raise ValueError(f"{expr!r} is not a cron expression: {exc}") from None
    either_day = not fields[2].startswith("*") and not fields[4].startswith("*")
    if not either_day and min(days) > max(_DAYS_IN[m - 1] for m in months):
        names = ", ".join(calendar.month_abbr[m] for m in sorted(months))
        raise ValueError(f"{expr!r} is not a cron expression: it never fires (no month of "
                         f"{names} has day {min(days)})")  # fmt: skip
    return " ".join(fields)


def validate(expr: str) -> str:
    parse(expr)
    return expr.strip()


def next_fire(expr: str, tz: str, after: datetime) -> datetime:
    """The first time the schedule fires strictly after `after` (timezone-aware), in the
    time zone `tz`."""
    local = after.astimezone(zone(tz))
    try:
        for when in CronSim(parse(expr), local):
            # cronsim answers a fixed-time job in the repeated autumn hour with its first
            # occurrence, which is earlier than `after` when `after` is in the second.
            # Compared as instants: datetimes of one tzinfo compare by wall time, fold aside.
            if when.timestamp() > after.timestamp():
                return when
    except CronSimError as exc:  # parse() has refused what cronsim refuses; defensive
        raise ValueError(f"{expr!r} is not a cron expression: {exc}") from None
    raise ValueError(f"{expr!r} never fires")  # cronsim gives up after 50 years
