"""The days and clock times a news text names, read against the day it was published, and the
ages of the people it names."""

from datetime import date

import pytest

from monitor.detect.eventfacts import addresses, ages, clock_times, days_meet, event_days, stage

FRIDAY = date(2015, 1, 9)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("killed on the night of Thursday, January 8", {"2015-01-08"}),
        ("shot last night on Hewitt Avenue", {"2015-01-08"}),
        ("a shooting early today", {"2015-01-09"}),
        ("police said Friday", {"2015-01-09"}),  # a weekday: the last one on or before
        ("the gunfight on Saturday", {"2015-01-03"}),
        ("charged in the Dec. 30 shooting", {"2014-12-30"}),  # read in January: last year
        ("on Jan. 10, a day ahead", {"2015-01-10"}),  # a day ahead: this year still
        ("sentenced for the Sept. 30, 2013 killing", {"2013-09-30"}),
        ("on March 5th", {"2014-03-05"}),
        ("on Feb. 30", set()),  # no such day
        ("Mayor 12 said", set()),  # not a month
        ("he faces 12 counts", set()),
    ],
)
def test_event_days(text: str, days: set[str]) -> None:
    assert {date.fromordinal(d).isoformat() for d in event_days(text, FRIDAY)} == days


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("at about 10:30 p.m.", {22 * 60 + 30}),
        ("around 1 a.m. and again at 2:15 AM", {60, 2 * 60 + 15}),
        ("at 12 p.m.; at 12 a.m.", {12 * 60, 0}),
        ("a 9mm pistol, 13 p.m., 3:75 p.m.", set()),
    ],
)
def test_clock_times(text: str, minutes: set[int]) -> None:
    assert clock_times(text) == minutes


def test_days_meet() -> None:
    day = FRIDAY.toordinal()
    named = frozenset({day - 1})  # "last night", in a story of Friday
    assert days_meet(day, named, day, frozenset())  # a copy of the same day names the same
    assert days_meet(day + 10, frozenset({day - 1}), day, frozenset())  # a later story names it
    assert days_meet(day, frozenset(), day + 10, named)  # ... or the earlier one's own day
    assert not days_meet(day, frozenset(), day, frozenset())  # neither names a day
    assert not days_meet(day + 10, frozenset({day - 5}), day, named)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("A 9-year-old girl was grazed", {9}),
        ("Jonathan Austin, 24, died; Ann B. Lee, 31, was hurt", {24, 31}),
        ("the man, 30 years old, and two 17-year-olds", {30, 17}),
        ("Officers found Ravi Okonjo, 31, and Dale Pruitt, 28, in the lot", {31, 28}),
        ("Main Street, 12 30 shots", set()),  # a number that goes on is no age
        ("he faces 12 counts; 3 p.m.; a 5-2 vote", set()),
    ],
)
def test_ages(text: str, found: set[int]) -> None:
    assert ages(text) == found


@pytest.mark.parametrize(
    ("text", "streets"),
    [
        ("in the 1300 block of 22nd Street", {"22nd street"}),
        (
            "near Hewitt Avenue and Main St. on South Loomis Street",
            {"hewitt avenue", "main street", "loomis street"},
        ),
        # one street however written: a direction in front, the type abbreviated
        ("the 1300 block of N. 22nd St.", {"22nd street"}),
        ("at North 15th Street and West Meinecke Ave", {"15th street", "meinecke avenue"}),
        ("on North Avenue near East Street", {"north avenue", "east street"}),
        ("they went down the street to the store", set()),  # no name
    ],
)
def test_addresses(text: str, streets: set[str]) -> None:
    assert addresses(text) == streets


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("Man charged in Harlowe shooting", "He pleaded not guilty in court.", 3),
        ("Two wounded outside Harlowe bar", "Police said two men were shot.", 0),
        ("Vigil held for victim", "", 1),
        ("Shooting on Elm Street", "x" * 300 + " sentenced", 0),  # beyond the lead
    ],
)
def test_stage_words_of_the_headline_and_lead(title: str, body: str, expected: int) -> None:
    assert stage(title, body) == expected
