"""HTTP header values about time (monitor.reader.httpdates), against RFC 9110 10.2.3 (Retry-After)
and RFC 9111 (freshness), with a fixed `now`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.reader.httpdates import freshness, retry_after

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Thu, 26 Nov 2026 09:01:00 GMT", 60.0),  # IMF-fixdate
        ("Thursday, 26-Nov-26 09:02:00 GMT", 120.0),  # obsolete RFC 850 form
        ("Thu Nov 26 09:03:00 2026", 180.0),  # obsolete asctime form
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # in the past: no wait
    ],
)
def test_retry_after_is_delta_seconds_or_an_http_date(value: str, seconds: float) -> None:
    assert retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [None, "", "  ", "-5", "1.5", "+30", "30s", "soon", "30, 60", "\u00b2", "\u0661\u0662",
     "Thu, 31 Feb 2026 09:01:00 GMT", "Thu, 26 Nov 99999 09:01:00 GMT", "Thu,"],
)  # fmt: skip
def test_retry_after_ignores_what_is_neither(value: str | None) -> None:
    assert retry_after(value, NOW) is None


def test_freshness_prefers_max_age_to_expires() -> None:
    assert freshness("public, max-age=300", "Thu, 26 Nov 2026 10:00:00 GMT", NOW) == 300.0
    assert freshness(None, "Thu, 26 Nov 2026 10:00:00 GMT", NOW) == 3600.0
    assert freshness("no-cache", "Thu, 26 Nov 2026 10:00:00 GMT", NOW) is None
    assert freshness(None, "Sun, 06 Nov 1994 08:49:37 GMT", NOW) == 0.0
