"""Cron expressions of digest schedules, evaluated by APScheduler's CronTrigger.

Pure: `next_fire(expr, tz, after)` is the first fire time strictly after `after`, so a
schedule is tested with fixed datetimes and the due times can live in the store (a digest
missed while the daemon was down goes out when it starts again).

Expressions are the standard five crontab fields (minute hour day-of-month month
day-of-week, 0 or 7 = Sunday) or one of @hourly, @daily, @midnight, @weekly, @monthly.
APScheduler 3 numbers weekdays from Monday; numeric weekdays are translated to names here so
that `0 8 * * 1-5` means Monday to Friday, as in crontab.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMBER = re.compile(r"(?<![/\d])\d+")


def zone(name: str) -> tzinfo:
    """A time zone by IANA name ("UTC", "Europe/Paris"); ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone (use an IANA name such as 'UTC' or 'Europe/Paris')"
        ) from None


def _weekdays(field: str) -> str:
    def name(m: re.Match[str]) -> str:
        n = int(m.group(0))
        if n > 7:
            raise ValueError(f"day of week {n} is out of range 0-7")
        return _DAYS[n % 7]

    return _NUMBER.sub(name, field)


def trigger(expr: str, tz: str = "UTC") -> CronTrigger:
    """The CronTrigger of a crontab expression; ValueError with a readable reason."""
    text = ALIASES.get(expr.strip(), expr.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expr!r} is not a cron expression: expected 5 fields (minute hour day month "
            f'weekday, e.g. "0 7 * * *" for 07:00 every day), got {len(fields)}'
        )
    try:
        return CronTrigger(
            minute=fields[0],
            hour=fields[1],
            day=fields[2],
            month=fields[3],
            day_of_week=_weekdays(fields[4]),
            timezone=zone(tz),
        )
    except ValueError as exc:
        raise ValueError(f"{expr!r} is not a cron expression: {exc}") from None


def validate(expr: str) -> str:
    trigger(expr)
    return expr.strip()


def next_fire(expr: str, tz: str, after: datetime) -> datetime:
    """The first time the schedule fires strictly after `after` (timezone-aware)."""
    when = trigger(expr, tz).get_next_fire_time(None, after + timedelta(seconds=1))
    if when is None:  # a schedule that never fires again (e.g. 30 February)
        raise ValueError(f"{expr!r} never fires")
    return when  # type: ignore[no-any-return]
