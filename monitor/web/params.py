"""Query and path parameters of the dashboard and the API, checked: a bad one is a 400 that
says which parameter and why."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiohttp import web

MAX_ID = 2**63 - 1

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


class ParamError(ValueError):
    """A parameter the request got wrong; the message names it."""


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_time(name: str, text: str) -> float:
    """An RFC 3339 date-time as Unix seconds (a leap second counts as :59)."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ParamError(f"{name}: {text!r} is not an RFC 3339 date-time (2026-11-26T09:00:00Z)")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo) and h < 24 and mi < 60 and s <= 60):
        raise ParamError(f"{name}: {text!r} is not a valid date-time")
    offset = 0
    if zone not in ("Z", "z"):
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh >= 24 or om >= 60:
            raise ParamError(f"{name}: {text!r} has an invalid UTC offset")
        offset = (oh * 60 + om) * 60 * (1 if zone[0] == "+" else -1)
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + min(s, 59) - offset
    return seconds + (float("0." + frac) if frac else 0.0)


class Params:
    def __init__(self, request: web.Request) -> None:
        self.query = request.query
        self.match = request.match_info

    def _one(self, name: str) -> str | None:
        values = self.query.getall(name, [])
        if len(values) > 1:
            raise ParamError(f"{name}: given {len(values)} times")
        return values[0] if values else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self._one(name)
        if text is None:
            return default
        return _integer(name, text, low, high)

    def choice(self, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
        text = self._one(name)
        if text is None:
            return default
        if text not in choices:
            raise ParamError(f"{name}: {text!r} is not one of {', '.join(choices)}")
        return text

    def text(self, name: str, max_length: int = 500) -> str | None:
        text = self._one(name)
        if text is None:
            return None
        if len(text) > max_length:
            raise ParamError(f"{name}: longer than {max_length} characters")
        return text

    def time(self, name: str) -> float | None:
        text = self._one(name)
        return None if text is None else parse_time(name, text)

    def path_id(self, name: str) -> int:
        return _integer(name, self.match[name], 1, MAX_ID)

    def path_text(self, name: str, max_length: int = 200) -> str:
        text = self.match[name]
        if not text or len(text) > max_length:
            raise ParamError(f"{name}: must be 1 to {max_length} characters")
        return text


def _integer(name: str, text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[+-]?\d{1,20}", text):
        raise ParamError(f"{name}: {text!r} is not an integer")
    value = int(text)
    if not low <= value <= high:
        raise ParamError(f"{name}: {value} is not between {low} and {high}")
    return value
