"""HTTP header values about time: Retry-After, Cache-Control max-age, Expires."""

from __future__ import annotations

import re
from datetime import UTC
from email.utils import parsedate_to_datetime

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_DELTA_SECONDS = re.compile(r"[0-9]+")  # RFC 9110: 1*DIGIT, ASCII digits only


def http_date(value: str) -> float | None:
    """An HTTP date as epoch seconds, or None."""
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds from now (RFC 9110 10.2.3), the one reading of the header for
    feeds, article pages and alert sinks: delta-seconds (ASCII digits) as they are, an
    HTTP date as the seconds until then (0 when it is past); None for anything else
    (negative or fractional numbers, non-ASCII digits, garbage), which callers ignore."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    when = http_date(value)
    return None if when is None else max(0.0, when - now)


def freshness(cache_control: str | None, expires: str | None, now: float) -> float | None:
    """How long the server says the response stays fresh: Cache-Control max-age wins over
    Expires (RFC 9111 4.2.1); no-cache/no-store mean no hint."""
    if cache_control:
        if re.search(r"no-(cache|store)", cache_control, re.IGNORECASE):
            return None
        m = _MAX_AGE.search(cache_control)
        if m:
            return float(m.group(1))
    if expires:
        when = http_date(expires)
        if when is not None:
            return max(0.0, when - now)
    return None
