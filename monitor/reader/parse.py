"""Parse: bytes of one response -> raw entries. The only importer of feedparser.

Three readers, chosen per document (see README, *Parsing*):

- JSON Feed 1.0/1.1 (a body that starts with `{`): a small dedicated reader (jsonfeed.py);
- RSS 0.9x/1.0/2.0 and Atom 1.0: lxml in strict mode (fastparse.py), repaired and parsed
  again when not well-formed, giving the same raw fields as feedparser;
- everything the fast path is unsure of (markup too broken to repair, entity declarations,
  Atom 0.3, CDF, base64 content, (X)HTML pages, which may wrap a feed): feedparser, with
  HTML sanitizing and relative-URI resolution inside content turned off (the monitor
  reduces entries to plain text and resolves links itself, so that work would be thrown
  away). A document is refused as "not a feed" only when feedparser finds none either.
"""

from __future__ import annotations

import calendar
import dataclasses
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.reader.fastparse import Unsure, fast_parse
from monitor.reader.jsonfeed import looks_like_json, parse_json_feed
from monitor.reader.rawfeed import ParsedFeed, ParseError, RawEntry, interval_hint

__all__ = ["ParseError", "ParsedFeed", "RawEntry", "interval_hint", "parse_feed"]


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _not_a_feed(body: bytes, content_type: str | None) -> ParseError:
    head = body[:2048].lower()
    looks = (
        "an HTML page"
        if b"<html" in head or b"<!doctype html" in head
        else ("empty" if not body.strip() else "neither RSS nor Atom")
    )
    return ParseError(
        "not_a_feed",
        f"the document is not an RSS or Atom feed ({looks}; "
        f"content type {content_type or 'unknown'})",
    )


def parse_feed(
    body: bytes, *, url: str = "", content_type: str | None = None, max_entries: int = 1000
) -> ParsedFeed:
    """The document's raw entries (at most `max_entries`); raises ParseError."""
    if looks_like_json(body):
        return parse_json_feed(body, url=url, content_type=content_type, max_entries=max_entries)
    try:
        return fast_parse(body, url=url, content_type=content_type, max_entries=max_entries)
    except Unsure as unsure:
        try:
            parsed = parse_with_feedparser(
                body, url=url, content_type=content_type, max_entries=max_entries
            )
        except ParseError as refused:  # neither reader found a feed: say what each saw
            raise ParseError(
                refused.kind, f"{refused}; neither reader could read it (fast reader: {unsure})"
            ) from None
        why = f"read by feedparser: {unsure}"
        warning = f"{parsed.warning}; {why}" if parsed.warning else why
        return dataclasses.replace(parsed, warning=warning)


def parse_with_feedparser(
    body: bytes,
    *,
    url: str = "",
    content_type: str | None = None,
    max_entries: int = 1000,
    sanitize: bool = False,
) -> ParsedFeed:
    """The full parser: feedparser, without sanitizing nor resolving URIs inside content
    (`sanitize=True`: feedparser's defaults, the benchmark's baseline)."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        d = feedparser.parse(
            body, response_headers=headers, sanitize_html=sanitize, resolve_relative_uris=sanitize
        )
    except Exception as exc:  # feedparser is robust, but a stage must never raise raw errors
        raise ParseError("parse", f"parser failed: {type(exc).__name__}: {exc}") from exc
    version = d.get("version") or ""
    problem = d.get("bozo_exception")
    if not version and not d.entries:
        head = body[:2048].lower()
        if any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf", b"<channel")):
            raise ParseError("parse", f"broken feed document: {problem or 'no entries found'}")
        raise _not_a_feed(body, content_type)
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
    links = [lk for lk in d.feed.get("links", []) if isinstance(lk, dict)]
    return ParsedFeed(
        title=_text(d.feed.get("title")).strip() or None,
        entries=tuple(entries),
        warning=warning,
        version=version,
        min_interval=interval_hint(d.feed),
        parser="feedparser",
        hub=_link(links, "hub"),
        self_url=_link(links, "self"),
    )


def _link(links: list[dict[str, Any]], rel: str) -> str | None:
    """The first feed-level link with relation `rel` (feedparser resolved it already)."""
    for link in links:
        if rel in _text(link.get("rel")).split() and _text(link.get("href")).strip():
            return _text(link.get("href")).strip()
    return None
