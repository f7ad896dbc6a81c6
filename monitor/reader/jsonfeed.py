"""JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/) -> raw entries.

Plain-text fields (`title`, `summary`, `content_text`) are HTML-escaped so that normalize,
which reads every field as HTML, gives back exactly their text.
"""

from __future__ import annotations

import html
import json
from typing import Any

from monitor.reader.fastparse import decode, parse_date
from monitor.reader.rawfeed import ParsedFeed, ParseError, RawEntry


def looks_like_json(body: bytes) -> bool:
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # JSON Feed 1.0 publishers sometimes give numeric ids
    return ""


def _author(item: dict[str, Any], feed: dict[str, Any]) -> str | None:
    for holder in (item, feed):
        authors = holder.get("authors")
        if not isinstance(authors, list):
            authors = [holder.get("author")]  # 1.0
        for a in authors:
            if isinstance(a, dict) and _str(a.get("name")).strip():
                return _str(a.get("name")).strip()
    return None


def parse_json_feed(
    body: bytes, *, url: str = "", content_type: str | None = None, max_entries: int = 1000
) -> ParsedFeed:
    text, _ = decode(body, content_type)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError("parse", f"broken JSON document: {exc}") from None
    version = _str(doc.get("version")) if isinstance(doc, dict) else ""
    if not version.startswith(("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")):
        raise ParseError(
            "not_a_feed",
            "the document is JSON but not a JSON Feed (no jsonfeed.org version; content type "
            f"{content_type or 'unknown'})",
        )
    assert isinstance(doc, dict)
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("parse", "broken JSON Feed: no items list")
    entries: list[RawEntry] = []
    for item in items:
        if len(entries) >= max_entries:
            break
        if not isinstance(item, dict):
            continue
        content_html = _str(item.get("content_html"))
        content_text = html.escape(_str(item.get("content_text")), quote=False)
        published = _str(item.get("date_published")).strip()
        updated = _str(item.get("date_modified")).strip()
        entries.append(
            RawEntry(
                guid=_str(item.get("id")).strip() or None,
                link=(_str(item.get("url")) or _str(item.get("external_url"))).strip() or None,
                title=html.escape(_str(item.get("title")), quote=False),
                summary=html.escape(_str(item.get("summary")), quote=False),
                content=max(content_html, content_text, key=len),
                published=parse_date(published) if published else None,
                updated=parse_date(updated) if updated else None,
                author=_author(item, doc),
            )
        )
    tail = version.rsplit("/", 1)[-1]
    hubs = doc.get("hubs")
    websub = [
        _str(h.get("url")).strip()
        for h in (hubs if isinstance(hubs, list) else [])
        if isinstance(h, dict) and _str(h.get("type")).strip().lower() == "websub"
    ]
    return ParsedFeed(
        title=_str(doc.get("title")).strip() or None,
        entries=tuple(entries),
        warning=None,
        version=f"json{tail.replace('.', '')}",
        parser="json",
        hub=next((h for h in websub if h), None),
        self_url=_str(doc.get("feed_url")).strip() or None,
    )
