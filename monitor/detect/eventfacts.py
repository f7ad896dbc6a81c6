"""The facts of an event a news text states: the days and clock times it names, the streets,
and the ages of the people in it; how a story's facts are read, kept and compared.

Reports of one incident name the same day ("Tuesday", "last night", "on Jan. 8") and often the
same time ("about 10:30 p.m."); a follow-up weeks later names the day of the event it follows
("charged in the Dec. 8 shooting"), while a look-alike incident in the same city happened on
another day. Temporal expressions are a classic signal of event identity (TDT, event
coreference); the link model (:mod:`monitor.detect.linkmodel`) reads whether two stories' days meet.

The design in full: docs/modules.md, `monitor/detect/eventfacts.py`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What a story states of its event, as the tracker keeps it."""

    days: frozenset[int] = frozenset()  # days its text names (date ordinals)
    times: frozenset[int] = frozenset()  # clock times it names (minutes after midnight)
    ages: frozenset[int] = frozenset()  # ages of the people it names
    streets: frozenset[str] = frozenset()  # streets it names (lower case)
    stage: int = 0  # words of a later stage of an event in its headline and lead (at most 3)


NO_FACTS = EventFacts()


@functools.lru_cache(maxsize=1024)
def read_facts(title: str, body: str, published: date) -> EventFacts:
    """A story's facts, read once for all the topics it matches."""
    text = f"{title}\n{body}"
    return EventFacts(
        event_days(text, published), clock_times(text), ages(text), addresses(text),
        stage(title, body),
    )  # fmt: skip


_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {d: i for i, d in enumerate(_WEEKDAY_NAMES)}
_MONTH_DAY = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(?:uary|ruary|ch|il|e|y|ust|t|tember"
    r"|ober|ember)?\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I)
_DAY_BEFORE = ("last night", "yesterday", "overnight")
_RELATIVE = re.compile(
    r"\b(last night|yesterday|overnight|today|tonight|this morning)\b", re.IGNORECASE
)
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b", re.IGNORECASE)


def event_days(text: str, published: date) -> frozenset[int]:
    """The days ``text`` names (as :meth:`date.toordinal`), read against ``published``."""
    days: set[int] = set()
    for m in _MONTH_DAY.finditer(text):
        month, day = _MONTHS[m.group(1).lower()], int(m.group(2))
        year = int(m.group(3)) if m.group(3) else published.year
        try:
            when = date(year, month, day)
            if not m.group(3) and when > published + timedelta(days=1):
                when = date(year - 1, month, day)  # "Dec. 30" read in January
        except ValueError:  # "Feb. 30", or Feb. 29 of the year before
            continue
        days.add(when.toordinal())
    today = published.toordinal()
    for m in _WEEKDAY.finditer(text):
        days.add(today - (published.weekday() - _WEEKDAYS[m.group(1).lower()]) % 7)
    for m in _RELATIVE.finditer(text):
        days.add(today - 1 if m.group(1).lower() in _DAY_BEFORE else today)
    return frozenset(days)


def clock_times(text: str) -> frozenset[int]:
    """The clock times ``text`` names, in minutes after midnight."""
    times: set[int] = set()
    for m in _CLOCK.finditer(text):
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if 1 <= hour <= 12 and minute < 60:
            times.add((hour % 12 + (12 if m.group(3).lower() == "p" else 0)) * 60 + minute)
    return frozenset(times)


def days_meet(day: int, days: frozenset[int], other_day: int, other_days: frozenset[int]) -> bool:
    """Whether two stories (each its day published and the days it names) name one day: a day
    one names is a day the other names, or the other's day published or the day before (a
    report of the morning after: "last night")."""
    if days and (days & other_days or other_day in days or other_day - 1 in days):
        return True
    return bool(other_days) and (day in other_days or day - 1 in other_days)


_AGE = re.compile(
    r"\b(\d{1,3})[- ]years?[- ]olds?\b"  # a 9-year-old, 30 years old
    r"|\b[A-Z][a-z]+(?: [A-Z]\.)? [A-Z][a-z'-]+,? (?:aged? )?(\d{1,2})\b(?!,? \d)"  # Ann Lee, 24
)


def ages(text: str) -> frozenset[int]:
    """The ages of people ``text`` names ("a 9-year-old", "Jonathan Austin, 24")."""
    out: set[int] = set()
    for m in _AGE.finditer(text):
        n = int(m.group(1) or m.group(2))
        if 0 < n < 110:
            out.add(n)
    return frozenset(out)


_STREET_TYPES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|drive|dr|lane|ln|way|court|ct|place|pl"
    r"|parkway|pkwy|highway|hwy|terrace|circle|trail"
)
_ADDRESS = re.compile(
    r"\b((?:(?:[A-Z][\w'-]*|\d+(?:st|nd|rd|th))\.? ){1,3}(?i:" + _STREET_TYPES + r"))\b"
)


_STREET_TYPE_NAMES = {
    "st": "street",
    "ave": "avenue",
    "rd": "road",
    "blvd": "boulevard",
    "dr": "drive",
    "ln": "lane",
    "ct": "court",
    "pl": "place",
    "pkwy": "parkway",
    "hwy": "highway",
}
_DIRECTIONS = frozenset(
    {"north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"}
    | {"n", "s", "e", "w", "ne", "nw", "se", "sw"}
)


def addresses(text: str) -> frozenset[str]:
    """The streets a text names, as one key however written: "the 1300 block of N. 22nd St."
    and "North 22nd Street" -> "22nd street" (a leading direction dropped, the street type
    spelt out)."""
    out: set[str] = set()
    for m in _ADDRESS.finditer(text):
        ws = m.group(1).lower().replace(".", "").split()
        ws[-1] = _STREET_TYPE_NAMES.get(ws[-1], ws[-1])
        if len(ws) > 2 and ws[0] in _DIRECTIONS:
            ws.pop(0)
        out.add(" ".join(ws))
    return frozenset(out)


STAGE_WORDS = (
    "charged|charges|sentenced|sentencing|pleads?|pleaded|guilty|trial|jury|verdict|convicted"
    "|arraigned|indicted|court|judge|bond|bail|hearing|prosecutors?|arrested|arrests?|funeral"
    "|vigil|lawsuit"
)
_STAGE = re.compile(r"\b(?:" + STAGE_WORDS + r")\b", re.IGNORECASE)
LEAD_CHARS = 200


def stage(title: str, body: str) -> int:
    """How many words of a later stage of an event (an arrest, a charge, a court hearing, a
    sentence, a funeral) the headline and the lead (the first ``LEAD_CHARS`` of the body)
    carry, at most 3."""
    return min(3, len(_STAGE.findall(f"{title}\n{body[:LEAD_CHARS]}")))


def streets_meet(mine: frozenset[str], theirs: frozenset[str]) -> tuple[float, float]:
    """(both name one street, both name some and none in common)."""
    if not (mine and theirs):
        return 0.0, 0.0
    return (1.0, 0.0) if mine & theirs else (0.0, 1.0)


def ages_differ(mine: frozenset[int], theirs: frozenset[int]) -> float:
    """Both name ages, and none in common."""
    return float(bool(mine and theirs and not mine & theirs))
