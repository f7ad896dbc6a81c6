"""What the parse stage hands to normalize: raw entries of one document (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ParseError(Exception):
    """The document is not a feed; `kind` is "not_a_feed" or "parse"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str]]:  # crosses processes
        return (ParseError, (self.kind, str(self)))


@dataclass(frozen=True, slots=True)
class RawEntry:
    guid: str | None
    link: str | None
    title: str  # may hold markup and entities
    summary: str  # may hold markup
    content: str  # the longest content:encoded / atom:content, may hold markup
    published: datetime | None
    updated: datetime | None
    author: str | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    entries: tuple[RawEntry, ...]
    warning: str | None  # a recoverable problem (a repaired document, feedparser's bozo)
    version: str
    min_interval: float | None = None  # seconds the feed asks between polls (ttl, sy:*)
    parser: str = "feedparser"  # lxml | lxml-repaired | json | feedparser
    hub: str | None = None  # a WebSub hub the feed advertises (<link rel="hub">)
    self_url: str | None = None  # the feed's own URL as it states it (<link rel="self">)


_SY_PERIOD = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 604800.0,
    "monthly": 2592000.0,
    "yearly": 31536000.0,
}


def interval_hint(feed: Any) -> float | None:
    """The polling interval a feed document asks for: RSS <ttl> (minutes), or
    <sy:updatePeriod> divided by <sy:updateFrequency>; the longer when both are given."""
    hints = []
    try:
        ttl = float(str(feed.get("ttl", "")).strip() or "nan")
        if ttl > 0:
            hints.append(ttl * 60)
    except ValueError:
        pass
    period = _SY_PERIOD.get(str(feed.get("sy_updateperiod", "")).strip().lower())
    if period:
        try:
            frequency = max(1.0, float(str(feed.get("sy_updatefrequency", "1")).strip() or 1))
        except ValueError:
            frequency = 1.0
        hints.append(period / frequency)
    return max(hints) if hints else None
