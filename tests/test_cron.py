"""Digest schedules read as crontab reads them (Vixie/Debian cron, evaluated by cronsim), with
fixed datetimes: the two day fields, Sunday as 7, steps, names, shortcuts, daylight-saving
gaps and repeats, and the errors a bad expression gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.cron import next_fire, validate


def fires(expr: str, tz: str, after: datetime, n: int) -> list[str]:
    """The next `n` fire times after `after`, as local ISO times."""
    out = []
    for _ in range(n):
        after = next_fire(expr, tz, after)
        out.append(after.isoformat(timespec="minutes"))
    return out


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_both_day_fields_restricted_fire_on_either() -> None:
    # crontab: every 1st of the month AND every Monday (CronTrigger wanted both at once)
    assert fires("0 8 1 * 1", "UTC", utc(2027, 3, 28), 4) == [
        "2027-03-29T08:00+00:00",  # a Monday
        "2027-04-01T08:00+00:00",  # a Thursday, the 1st
        "2027-04-05T08:00+00:00",
        "2027-04-12T08:00+00:00",
    ]
    assert fires("0 8 1,15 * fri", "UTC", utc(2027, 1, 1, 9), 3) == [
        "2027-01-08T08:00+00:00",
        "2027-01-15T08:00+00:00",  # the 15th and a Friday: once
        "2027-01-22T08:00+00:00",
    ]


def test_a_day_field_starting_with_a_star_makes_the_days_and() -> None:
    assert fires("0 8 1 * *", "UTC", utc(2027, 3, 28), 2) == [
        "2027-04-01T08:00+00:00",
        "2027-05-01T08:00+00:00",
    ]
    # Debian: `*/2` starts with a star, so it is "odd days AND Mondays" (1st, 15th of Feb)
    assert fires("0 8 */2 * 1", "UTC", utc(2027, 1, 31), 3) == [
        "2027-02-01T08:00+00:00",
        "2027-02-15T08:00+00:00",
        "2027-03-01T08:00+00:00",
    ]


def test_sunday_is_0_and_7() -> None:
    assert fires("0 7 * * 7", "UTC", utc(2027, 1, 1), 2) == fires("0 7 * * 0", "UTC",
        utc(2027, 1, 1), 2) == ["2027-01-03T07:00+00:00", "2027-01-10T07:00+00:00"]  # fmt: skip
    assert [d[:10] for d in fires("0 7 * * 5-7", "UTC", utc(2027, 1, 4), 4)] == [
        "2027-01-08",  # Friday
        "2027-01-09",
        "2027-01-10",  # Sunday
        "2027-01-15",
    ]
    assert fires("0 8 * * 1-5", "UTC", utc(2027, 1, 1, 9), 2) == [
        "2027-01-04T08:00+00:00",  # a Friday at 09:00: Monday next
        "2027-01-05T08:00+00:00",
    ]


def test_steps() -> None:
    assert fires("*/15 * * * *", "UTC", utc(2027, 1, 1, 9, 40), 3) == [
        "2027-01-01T09:45+00:00",
        "2027-01-01T10:00+00:00",
        "2027-01-01T10:15+00:00",
    ]
    assert [d[11:16] for d in fires("0 8-18/4 * * *", "UTC", utc(2027, 1, 1), 4)] == [
        "08:00", "12:00", "16:00", "08:00",
    ]  # fmt: skip
    assert [d[11:16] for d in fires("5/20 9 * * *", "UTC", utc(2027, 1, 1), 3)] == [
        "09:05", "09:25", "09:45",
    ]  # fmt: skip
    # weekdays 0,2,4,6: Sunday, Tuesday, Thursday, Saturday
    assert [d[:10] for d in fires("0 0 * * */2", "UTC", utc(2027, 1, 3, 1), 4)] == [
        "2027-01-05", "2027-01-07", "2027-01-09", "2027-01-10",
    ]  # fmt: skip


def test_names_of_months_and_days_in_any_case() -> None:
    assert [d[:10] for d in fires("0 9 * jan,JUL Mon", "UTC", utc(2027, 1, 20), 3)] == [
        "2027-01-25", "2027-07-05", "2027-07-12",
    ]  # fmt: skip
    assert fires("0 9 * * mon-fri", "UTC", utc(2027, 1, 1, 10), 1) == fires(
        "0 9 * * 1-5", "UTC", utc(2027, 1, 1, 10), 1
    )
    assert [d[:10] for d in fires("0 0 1 jan-mar *", "UTC", utc(2027, 2, 2), 2)] == [
        "2027-03-01", "2028-01-01",
    ]  # fmt: skip


def test_shortcuts() -> None:
    assert fires("@weekly", "UTC", utc(2027, 1, 1), 1) == ["2027-01-03T00:00+00:00"]
    assert fires("@yearly", "UTC", utc(2027, 1, 1), 1) == ["2028-01-01T00:00+00:00"]
    assert fires("@hourly", "UTC", utc(2027, 1, 1, 7, 30), 1) == ["2027-01-01T08:00+00:00"]


def test_the_next_fire_is_strictly_after() -> None:
    at8 = utc(2027, 1, 1, 8)
    assert next_fire("0 8 * * *", "UTC", at8) == utc(2027, 1, 2, 8)
    assert next_fire("0 8 * * *", "UTC", at8 - timedelta(microseconds=1)) == at8
    assert next_fire("0 8 * * *", "UTC", at8 + timedelta(microseconds=1)) == utc(2027, 1, 2, 8)
    assert next_fire("0 7 * * *", "Europe/Paris", at8) == utc(2027, 1, 2, 6)


@pytest.mark.parametrize(
    ("tz", "start", "expected"),
    [
        ("Europe/Berlin", utc(2027, 3, 27), ["2027-03-27T02:30+01:00",
         "2027-03-28T03:00+02:00", "2027-03-29T02:30+02:00"]),
        ("America/New_York", utc(2027, 3, 13), ["2027-03-13T02:30-05:00",
         "2027-03-14T03:00-04:00", "2027-03-15T02:30-04:00"]),
    ],
)  # fmt: skip
def test_a_time_the_spring_gap_skips_fires_when_the_gap_ends(
    tz: str, start: datetime, expected: list[str]
) -> None:
    # 02:30 does not exist on the day clocks go from 02:00 to 03:00: cron runs it at 03:00
    assert fires("30 2 * * *", tz, start, 3) == expected


def test_a_time_the_autumn_repeats_fires_once() -> None:
    # Europe/Berlin, 2027-10-31: 03:00 CEST becomes 02:00 CET, 02:30 happens twice
    assert fires("30 2 * * *", "Europe/Berlin", utc(2027, 10, 30, 12), 2) == [
        "2027-10-31T02:30+02:00",  # the first 02:30 (00:30 UTC) ...
        "2027-11-01T02:30+01:00",  # ... and not the second (01:30 UTC)
    ]
    in_the_second = utc(2027, 10, 31, 1, 10)  # 02:10 CET, after the first 02:30
    assert next_fire("30 2 * * *", "Europe/Berlin", in_the_second) == utc(2027, 11, 1, 1, 30)
    # America/New_York, 2027-11-07: 01:30 happens twice
    assert fires("30 1 * * *", "America/New_York", utc(2027, 11, 6, 12), 2) == [
        "2027-11-07T01:30-04:00",
        "2027-11-08T01:30-05:00",
    ]


def test_hourly_jobs_follow_real_time_across_both_changes() -> None:
    # repeated hour: both 02:30s (two instants an hour apart)
    autumn = [d[11:] for d in fires("30 * * * *", "Europe/Berlin", utc(2027, 10, 30, 23), 4)]
    assert autumn == ["01:30+02:00", "02:30+02:00", "02:30+01:00", "03:30+01:00"]
    # skipped hour: there is no 02:30
    spring = [d[11:] for d in fires("30 * * * *", "Europe/Berlin", utc(2027, 3, 27, 23), 3)]
    assert spring == ["00:30+01:00", "01:30+01:00", "03:30+02:00"]


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("every morning", "expected 5 fields"),
        ("0 8 * *", "got 4"),
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("60 * * * *", "minute 60 is out of range 0-59"),
        ("0 8 0 * *", "day of month 0 is out of range 1-31"),
        ("0 8 * 13 *", "month 13 is out of range 1-12"),
        ("0 8 * * 8", "day of week 8 is out of range 0-7"),
        ("0 8 * foo *", "month 'foo' is not a number or a name (jan-dec)"),
        ("0 8 * * monday", "day of week 'monday' is not a number or a name (sun-sat)"),
        ("0 8 * * fri-mon", "day of week range 'fri-mon' runs backwards"),
        ("*/0 * * * *", "minute step '0' is not a whole number above 0"),
        ("0 8 L * *", "day of month 'l' is not a number"),
        ("0 8 * * 1#2", "day of week '1#2' is not a value, range or step"),
        ("0 8 31 2 *", "it never fires (no month of Feb has day 31)"),
        ("0 8 31 2,4,6 *", "no month of Feb, Apr, Jun has day 31"),
        ("@reboot", "unknown shortcut '@reboot'"),
    ],
)
def test_a_bad_expression_says_which_field_and_why(expr: str, why: str) -> None:
    with pytest.raises(ValueError, match="is not a cron expression") as err:
        validate(expr)
    assert why in str(err.value)
    assert repr(expr) in str(err.value)


def test_a_day_that_exists_only_with_the_weekday_is_valid() -> None:
    # either-day semantics: "30 February or any Monday" fires on Mondays
    assert validate(" 0 8 30 2 mon ") == "0 8 30 2 mon"
    assert next_fire("0 8 30 2 mon", "UTC", utc(2027, 1, 1)) == utc(2027, 2, 1, 8)
