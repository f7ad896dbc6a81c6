"""Normalize: raw entry -> Entry (identity key, absolute link, plain text, UTC date, hash).

Pure functions; no I/O.
"""

from __future__ import annotations

import hashlib
import html
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from monitor.models import Entry
from monitor.reader.parse import RawEntry

_SKIP = {"script", "style", "noscript", "template", "head", "title", "svg", "iframe", "object"}
_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "td",
    "th",
    "table",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "pre",
    "hr",
    "dd",
    "dt",
    "dl",
}
_WS = re.compile(r"\s+")
MAX_TITLE = 1000
MAX_SUMMARY = 20000


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


# The fast reading of common markup: well-formed tags (attribute values quoted, or unquoted
# without quotes), comments, script/style bodies. It gives exactly what the HTMLParser-based
# reading gives (a test holds them together); anything else, such as a `<!DOCTYPE`, a `<?`, an
# unterminated comment or a tag it cannot delimit, goes to that reading.
_ATTRS = r"""((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*(/?))>"""
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:_-]*)" + _ATTRS)
_MARKUP = re.compile(r"<[!?/a-zA-Z]")
_HARD = re.compile(r"<[!?]|<(?:{})(?![a-zA-Z0-9:_-])".format("|".join(sorted(_SKIP))), re.I)
_BLOCK_TAG = re.compile(
    r"</?(?:{})(?![a-zA-Z0-9:_-])".format("|".join(sorted(_BLOCK))) + _ATTRS, re.I
)
_COMMENT_END = re.compile(r"--\s*>")
_CDATA_END = {"script": re.compile(r"</\s*script\s*>", re.I),
              "style": re.compile(r"</\s*style\s*>", re.I)}  # fmt: skip


def _fast_text(markup: str) -> str | None:
    """The text of `markup`, or None when the fast reading is unsure."""
    parts: list[str] = []
    skipping = 0
    pos = 0
    n = len(markup)
    search = _MARKUP.search
    while pos < n:
        m = search(markup, pos)
        if m is None:
            break
        start = m.start()
        if start > pos and not skipping:
            parts.append(markup[pos:start])
        if markup.startswith("<!--", start):
            close = _COMMENT_END.search(markup, start + 4)
            if close is None:
                return None
            pos = close.end()
            continue
        tag = _TAG.match(markup, start)  # None for <!DOCTYPE, <?pi?>, </>, a broken tag
        if tag is None:
            return None
        pos = tag.end()
        name = tag.group(2).lower()
        if tag.group(1):  # an end tag
            if tag.group(3).strip():
                return None
            if name in _SKIP:
                skipping = max(0, skipping - 1)
            elif name in _BLOCK:
                parts.append(" ")
        elif tag.group(4):  # <br/>
            if name in _BLOCK:
                parts.append(" ")
        elif name in _SKIP:
            skipping += 1
            if name in _CDATA_END:  # script and style bodies are not markup
                close = _CDATA_END[name].search(markup, pos)
                if close is None:  # the rest is script
                    return _finish(parts)
                pos = close.end()
                skipping = max(0, skipping - 1)
        elif name in _BLOCK:
            parts.append(" ")
    if pos < n and not skipping:
        tail = markup[pos:]
        parts.append(tail)
    return _finish(parts)


def _finish(parts: list[str]) -> str:
    text = "".join(parts)
    if "&" in text:
        text = html.unescape(text)
    return _WS.sub(" ", text).strip()


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: entities decoded, tags and scripts dropped, blocks and
    line breaks as single spaces."""
    if "<" not in markup:
        if "&" in markup:
            markup = html.unescape(markup)
        return _WS.sub(" ", markup).strip()
    if _HARD.search(markup) is None:  # common markup: two substitutions in C, then a check
        text = _TAG.sub("", _BLOCK_TAG.sub(" ", markup))
        if _MARKUP.search(text) is None:
            return _finish([text])
    fast = _fast_text(markup)
    if fast is not None:
        return fast
    return html_to_text_reference(markup)


def html_to_text_reference(markup: str) -> str:
    """html_to_text by the standard library's HTMLParser: slower, reads anything."""
    if "<" not in markup and "&" not in markup:
        return _WS.sub(" ", markup).strip()
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient; this guards against the unforeseen
        return _WS.sub(" ", re.sub(r"<[^>]*>", " ", markup)).strip()
    return _WS.sub(" ", "".join(parser.parts)).strip()


def absolute_link(link: str | None, base: str) -> str | None:
    """The link resolved against the feed URL, or None unless it is http(s)."""
    if not link:
        return None
    try:
        full = urljoin(base, link.strip())
        parts = urlsplit(full)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return full


def content_hash(title: str, summary: str) -> str:
    return hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()[:32]


def identity_key(raw: RawEntry, link: str | None, title: str, summary: str) -> str:
    """guid, else link, else a hash of title and content (the usual fallback chain)."""
    if raw.guid:
        return raw.guid[:2000]
    if link:
        return link[:2000]
    return "sha256:" + hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()


def normalize_entry(raw: RawEntry, feed_url: str) -> Entry:
    title = html_to_text(raw.title)[:MAX_TITLE]
    # the fuller of the two: a description is often a teaser of content:encoded/atom:content
    summary = html_to_text(raw.summary)
    if raw.content and len(raw.content) > len(raw.summary):
        summary = html_to_text(raw.content) or summary
    summary = summary[:MAX_SUMMARY]
    link = absolute_link(raw.link, feed_url)
    if not title:
        title = summary[:120].rsplit(" ", 1)[0] if len(summary) > 120 else summary
    return Entry(
        key=identity_key(raw, link, title, summary),
        link=link,
        title=title,
        summary=summary,
        published=raw.published or raw.updated,
        author=html_to_text(raw.author)[:200] if raw.author else None,
        content_hash=content_hash(title, summary),
    )


def normalize_entries(entries: tuple[RawEntry, ...], feed_url: str) -> list[Entry]:
    """Normalized entries, the first of each identity key kept (feeds do repeat items)."""
    out: dict[str, Entry] = {}
    for raw in entries:
        entry = normalize_entry(raw, feed_url)
        out.setdefault(entry.key, entry)
    return list(out.values())
