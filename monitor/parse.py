"""Parse: the only importer of the feed parser. Bytes of one response -> raw entries.

feedparser reads RSS 0.9x/1.0/2.0, Atom and CDF, repairs broken markup and guesses
encodings. HTML sanitizing and relative-URI resolution inside content are turned off: the
monitor reduces entries to plain text (normalize.py) and resolves links itself, so that work
would be thrown away.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser


class ParseError(Exception):
    """The document is not a feed; `kind` is "not_a_feed" or "parse"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


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
    warning: str | None  # a recoverable problem feedparser reported (bozo)
    version: str
    min_interval: float | None = None  # seconds the feed asks between polls (ttl, sy:*)


_SY_PERIOD = {"hourly": 3600.0, "daily": 86400.0, "weekly": 604800.0,
              "monthly": 2592000.0, "yearly": 31536000.0}


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


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_feed(
    body: bytes, *, url: str = "", content_type: str | None = None, max_entries: int = 1000
) -> ParsedFeed:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        d = feedparser.parse(
            body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser is robust, but a stage must never raise raw errors
        raise ParseError("parse", f"parser failed: {type(exc).__name__}: {exc}") from exc
    version = d.get("version") or ""
    problem = d.get("bozo_exception")
    if not version and not d.entries:
        head = body[:2048].lower()
        if any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf", b"<channel")):
            raise ParseError("parse", f"broken feed document: {problem or 'no entries found'}")
        looks = (
            "an HTML page"
            if b"<html" in head or b"<!doctype html" in head
            else ("empty" if not body.strip() else "neither RSS nor Atom")
        )
        raise ParseError(
            "not_a_feed",
            f"the document is not an RSS or Atom feed ({looks}; "
            f"content type {content_type or 'unknown'})",
        )
    entries = []
    for e in d.entries[:max_entries]:
        contents = [c.get("value", "") for c in e.get("content", []) if isinstance(c, dict)]
        entries.append(
            RawEntry(
                guid=_text(e.get("id")).strip() or None,
                link=_text(e.get("link")).strip() or None,
                title=_text(e.get("title")),
                summary=_text(e.get("summary")),
                content=max(contents, key=len) if contents else "",
                published=_when(dict.get(e, "published_parsed")),  # plain dict.get: no remapping
                updated=_when(dict.get(e, "updated_parsed")),
                author=_text(e.get("author")).strip() or None,
            )
        )
    warning = None if problem is None else f"{type(problem).__name__}: {problem}"
    return ParsedFeed(
        title=_text(d.feed.get("title")).strip() or None,
        entries=tuple(entries),
        warning=warning,
        version=version,
        min_interval=interval_hint(d.feed),
    )
