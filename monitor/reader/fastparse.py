"""The fast path of the parse stage: RSS 0.9x/1.0/2.0 and Atom 1.0 read with lxml in strict
mode, giving the same raw fields feedparser gives (so normalized entries, identity keys and
content hashes do not change with the parser), at 10-50 times feedparser's speed.

Strict, never "recover": libxml2's recover mode drops text it cannot place (`AT&T & M&A`
becomes `AT M`). When the strict parse fails, the document is repaired the way feedparser's
loose parser reads it (bare ampersands escaped, HTML entities made numeric, control
characters dropped) and parsed strictly again. A document that still fails, or that this
module is unsure of (entity declarations, Atom 0.3, base64 content, an unknown root, an
(X)HTML page), raises `Unsure`, and the caller falls back to feedparser: nothing is refused
as "not a feed" before feedparser had its chance.

The design in full: docs/modules.md, `monitor/reader/fastparse.py`.
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import functools
import html.entities
import re
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from monitor.reader.rawfeed import ParsedFeed, RawEntry, interval_hint


class Unsure(Exception):
    """The fast path cannot vouch for its reading of this document: use the full parser."""


# --- encodings ------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_MARKERS = (  # '<?' without a BOM, as in XML 1.0 appendix F
    (b"\x00\x00\x00\x3c", "utf-32-be"),
    (b"\x3c\x00\x00\x00", "utf-32-le"),
    (b"\x00\x3c\x00\x3f", "utf-16-be"),
    (b"\x3c\x00\x3f\x00", "utf-16-le"),
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
_SINGLE_BYTE = {"iso8859", "latin", "cp125", "windows125", "ascii", "usascii", "l1", "macroman"}


def _single_byte(encoding: str) -> bool:
    name = re.sub(r"[^a-z0-9]", "", encoding.lower())
    return any(name.startswith(prefix) for prefix in _SINGLE_BYTE)


def _cp1252_bytes(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bad.decode("cp1252", errors="ignore") if len(bad) == 1 and bad[0] not in (
        0x81, 0x8D, 0x8F, 0x90, 0x9D
    ) else bad.decode("latin-1"), exc.end  # fmt: skip


codecs.register_error("monitor-cp1252", _cp1252_bytes)


def http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _CHARSET.search(content_type)
    return m.group(1).lower() if m else None


def decode(body: bytes, content_type: str | None) -> tuple[str, str]:
    """The document as text and the encoding it was read in."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            if name.startswith("utf-16") and body[2:4] == b"\x00\x00":
                continue  # a UTF-32-LE BOM, checked below
            try:
                return body[len(bom) :].decode(name), name
            except UnicodeDecodeError:
                break  # a lying BOM: sniff like any other document
    for marker, name in _MARKERS:
        if body.startswith(marker):
            try:
                return body.decode(name), name
            except UnicodeDecodeError:
                break
    declared = _XML_ENCODING.match(body[:512])
    candidates = [http_charset(content_type), declared and declared.group(1).decode().lower()]
    for candidate in candidates:
        if not candidate:
            continue
        if candidate in ("gb2312", "gbk"):
            candidate = "gb18030"
        if candidate.startswith(("utf-16", "utf-32", "ucs", "iso-10646")):
            continue  # no BOM and no marker: the label is wrong
        try:
            codecs.lookup(candidate)
        except LookupError:
            continue
        if _single_byte(candidate) and not body.isascii():
            try:  # valid non-ASCII UTF-8 is UTF-8, whatever the label says
                return body.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
        try:
            return body.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if not any(candidates):
        return _undeclared(body)
    return body.decode("utf-8", errors="monitor-cp1252"), "utf-8"


_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_HIGH = re.compile(rb"[\x80-\xff]+")
_LONG_RUN = 4  # non-ASCII bytes in a row: whole words of a non-Latin script


def _undeclared(body: bytes) -> tuple[str, str]:
    """A document with no BOM, no label and not valid UTF-8: windows-1252, as browsers and
    feedparser read it, unless it is mostly UTF-8 (stray single bytes read as windows-1252
    one by one) or its non-ASCII bytes come in whole words (Cyrillic, Greek, Hebrew, Arabic
    code pages, CJK double-byte encodings: most of them in runs of 4 and more, where
    Western European text has isolated accented letters); only then, or where
    windows-1252 cannot decode the bytes, is the encoding guessed from the bytes."""
    runs = [len(m) for m in _HIGH.findall(body)]
    high = sum(runs)
    valid = sum(len(m) for m in _UTF8_SEQUENCE.findall(body))
    # mostly UTF-8 (3 bytes in 4 and more; double-byte CJK encodings reach about 2 in 5
    # by chance): keep it, and read the stray bytes as windows-1252
    if valid >= 3 * (high - valid):
        return body.decode("utf-8", errors="monitor-cp1252"), "utf-8"
    if sum(n for n in runs if n >= _LONG_RUN) * 2 <= high:
        try:
            return body.decode("cp1252"), "windows-1252"
        except UnicodeDecodeError:
            pass  # bytes windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)
    guess = _detect(body)
    if guess:
        try:
            return body.decode(guess), guess
        except (UnicodeDecodeError, LookupError):
            pass
    return body.decode("utf-8", errors="monitor-cp1252"), "utf-8"


def _detect(body: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(body[:65536]).best()
    if best is None or best.encoding in ("utf_8", "ascii"):
        return None
    return str(best.encoding)


# --- repairs --------------------------------------------------------------------------------

_DOCTYPE = re.compile(r"<!DOCTYPE\s[^>\[]*(\[.*?\]\s*)?>", re.S | re.I)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_AMPERSAND = re.compile(r"&(?!#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9._-]*;)")
_NAMED = re.compile(r"&([A-Za-z][A-Za-z0-9._-]*);")
_XML_NAMED = {"amp", "lt", "gt", "quot", "apos"}


def _numeric(m: re.Match[str]) -> str:
    name = m.group(1)
    if name in _XML_NAMED:
        return m.group(0)
    text = html.entities.html5.get(name + ";")
    if text is None:
        return "&amp;" + name + ";"
    return "".join(f"&#{ord(c)};" for c in text)


_BARE_LT = re.compile(r"<(?![A-Za-z_:/!?])")


def repair(text: str) -> str:
    """What feedparser's loose parser reads into a broken document, made well-formed."""
    text = _CONTROL.sub("", text)
    text = _BARE_LT.sub("&lt;", text)
    text = _AMPERSAND.sub("&amp;", text)
    return _NAMED.sub(_numeric, text)


# --- the tree -------------------------------------------------------------------------------

ATOM = "{http://www.w3.org/2005/Atom}"
RSS10 = "{http://purl.org/rss/1.0/}"
RSS090 = "{http://my.netscape.com/rdf/simple/0.9/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DC = "{http://purl.org/dc/elements/1.1/}"
DCTERMS = "{http://purl.org/dc/terms/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
XHTML = "{http://www.w3.org/1999/xhtml}"
SY = "{http://purl.org/rss/1.0/modules/syndication/}"
ITUNES = "{http://www.itunes.com/DTDs/PodCast-1.0.dtd}"
MEDIA = ("{http://search.yahoo.com/mrss/}", "{http://search.yahoo.com/mrss}")
PLAIN_NS = (
    "",
    ATOM,
    RSS10,
    RSS090,
    "{http://backend.userland.com/rss}",
    "{http://backend.userland.com/rss2}",
    "{http://blogs.law.harvard.edu/tech/rss}",
    "{http://purl.org/rss/1.0/modules/rss091#}",
)

(TITLE, MEDIA_TITLE, LINK, ID, DESCRIPTION, SUMMARY, CONTENT_EL, PUBLISHED, UPDATED, AUTHOR,
 SOURCE, SKIP) = range(12)  # fmt: skip
_KINDS: dict[str, int] = {}
for _ns in PLAIN_NS:
    _KINDS.update({
        _ns + "title": TITLE, _ns + "link": LINK, _ns + "guid": ID, _ns + "id": ID,
        _ns + "description": DESCRIPTION, _ns + "summary": SUMMARY, _ns + "content": CONTENT_EL,
        _ns + "pubDate": PUBLISHED, _ns + "pubdate": PUBLISHED, _ns + "published": PUBLISHED,
        _ns + "issued": PUBLISHED, _ns + "updated": UPDATED, _ns + "modified": UPDATED,
        _ns + "lastBuildDate": UPDATED, _ns + "author": AUTHOR, _ns + "managingEditor": AUTHOR,
        _ns + "source": SOURCE, _ns + "category": SKIP, _ns + "enclosure": SKIP,
        _ns + "comments": SKIP, _ns + "image": SKIP,
    })  # fmt: skip
_KINDS.update({
    DC + "title": TITLE, DC + "description": DESCRIPTION, DC + "creator": AUTHOR,
    DC + "author": AUTHOR, DC + "date": UPDATED, DCTERMS + "issued": PUBLISHED,
    DCTERMS + "modified": UPDATED, CONTENT + "encoded": CONTENT_EL, XHTML + "body": CONTENT_EL,
    ITUNES + "summary": SUMMARY, ITUNES + "author": AUTHOR,
})  # fmt: skip
for _ns in MEDIA:
    _KINDS.update({_ns + "title": MEDIA_TITLE, _ns + "description": DESCRIPTION})
_KINDS.update({"{http://purl.org/rss/1.0/modules/content/}items": SKIP})
_CONTENT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html",
                  "xhtml": "application/xhtml+xml"}  # fmt: skip
_TEXTUAL = {"text/plain", "text/html", "application/xhtml+xml"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}

_CP1252 = {
    c: bytes([c]).decode("cp1252") for c in range(0x80, 0xA0)
    if c not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}  # fmt: skip
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_LINK_ENTITY = re.compile(r"&([A-Za-z0-9_]+);")


def urljoin(base: str, uri: str) -> str:
    """feedparser's URI resolution (extra slashes after the scheme folded)."""
    uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def _fix_text(value: str) -> str:
    """feedparser's per-field repairs: UTF-8 read as Latin-1 (double encoding) is decoded once
    more; C1 controls become the Windows-1252 characters they were meant as."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    return value.translate(_CP1252)


def _inner(el: Any, xhtml: bool) -> str:
    """The element's content as text, or as markup when it holds elements."""
    if len(el) == 0:
        return el.text or ""
    parts = [el.text or ""]
    for child in el:
        parts.append(etree.tostring(child, encoding=str, with_tail=True))
    markup = "".join(parts)
    if xhtml:
        markup = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", markup)
    return markup


@functools.lru_cache(maxsize=8192)
def parse_date(value: str) -> datetime | None:
    """A date in any format feedparser reads, as UTC (same string: same answer, cached)."""
    if not value:
        return None
    if len(value) >= 20 and value[4] == "-" and value[10] in "Tt":
        try:
            when = datetime.fromisoformat(value)
            if when.tzinfo is not None and when.year > 1900:
                return when.astimezone(UTC)
        except ValueError:
            pass
    from feedparser.datetimes import _parse_date  # the many formats of the real world

    parsed = _parse_date(value)
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


class _Item:
    """One entry's fields, filled the way feedparser's handlers fill them."""

    __slots__ = (
        "author",
        "base",
        "content",
        "guid",
        "guid_is_link",
        "has_content",
        "link",
        "published",
        "summary",
        "summary_depth",
        "title",
        "title_depth",
        "updated",
    )

    def __init__(self, base: str) -> None:
        self.base = base
        self.title: str | None = None
        self.title_depth = -1
        self.link: str | None = None
        self.guid: str | None = None
        self.guid_is_link = False
        self.summary: str | None = None
        self.summary_depth = 1 << 30
        self.has_content = False
        self.content: list[str] = []
        self.published: str | None = None
        self.updated: str | None = None
        self.author: str | None = None

    def raw(self) -> RawEntry:
        return RawEntry(
            guid=(self.guid or "").strip() or None,
            link=(self.link or "").strip() or None,
            title=self.title or "",
            summary=self.summary or "",
            content=max(self.content, key=len) if self.content else "",
            published=parse_date(self.published) if self.published else None,
            updated=parse_date(self.updated) if self.updated else None,
            author=(self.author or "").strip() or None,
        )


class _Reader:
    def __init__(self, url: str, has_base: bool) -> None:
        self.url = url
        self.has_base = has_base

    def base_of(self, el: Any) -> str:
        if not self.has_base:
            return self.url
        return str(el.base or self.url)

    def entry(self, item: Any) -> RawEntry:
        it = _Item(self.url)
        about = item.get(RDF + "about")
        if about:
            it.guid = about
        self.walk(item, it, 1)
        return it.raw()

    def walk(self, el: Any, it: _Item, depth: int) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            kind = _KINDS.get(tag)
            if kind is None:
                if len(child):
                    self.walk(child, it, depth + 1)
                continue
            if kind in (SKIP, SOURCE):
                continue
            declared = child.get("type")
            if child.get("mode") == "base64" or (
                declared
                and _CONTENT_TYPES.get(declared, declared) not in _TEXTUAL
                and not declared.endswith("xml")
            ):
                raise Unsure("base64 content")
            if kind == AUTHOR:
                self.author(child, it)
                continue
            if kind == LINK:
                self.link(child, it)
                continue
            ctype = self.content_type(child, kind)
            value = _fix_text(_inner(child, ctype == "application/xhtml+xml").strip())
            if kind in (TITLE, MEDIA_TITLE):
                if -1 < it.title_depth <= depth:
                    continue
                it.title = value
                if value and kind == TITLE:
                    it.title_depth = depth
            elif kind == ID:
                is_link = child.get("isPermaLink", child.get("ispermalink", "true")) == "true"
                if value and is_link:
                    value = urljoin(self.base_of(child), value)
                it.guid = value
                if is_link and it.link is None:
                    it.link = value
            elif kind in (DESCRIPTION, SUMMARY):
                if it.summary is not None and not it.has_content:
                    self.content(it, value, ctype)
                elif depth <= it.summary_depth:
                    it.summary, it.summary_depth = value, depth
            elif kind == CONTENT_EL:
                if child.get("src"):
                    raise Unsure("content by reference")
                self.content(it, value, ctype)
            elif kind == PUBLISHED:
                it.published = value
            elif kind == UPDATED:
                it.updated = value

    @staticmethod
    def content_type(el: Any, kind: int) -> str:
        tag = el.tag
        if kind == CONTENT_EL:
            default = "text/html" if tag in (CONTENT + "encoded",) else "text/plain"
            if tag == XHTML + "body":
                default = "application/xhtml+xml"
        elif kind == DESCRIPTION and not tag.startswith(ATOM):
            default = "text/html"
        else:
            default = "text/plain"
        ctype = (el.get("type") or default).lower()
        return _CONTENT_TYPES.get(ctype, ctype)

    @staticmethod
    def content(it: _Item, value: str, ctype: str) -> None:
        it.has_content = True
        it.content.append(value)
        if it.summary is None and ctype in _TEXTUAL:
            it.summary = value

    def link(self, el: Any, it: _Item) -> None:
        href = el.get("href")
        if href is None:  # RSS: the text is the URL
            value = (el.text or "").strip()
            value = _LINK_ENTITY.sub(r"&\1", value.replace("&amp;", "&"))
            if value:
                value = urljoin(self.base_of(el), _fix_text(value))
            it.link = value
            return
        rel = el.get("rel", "alternate")
        ctype = el.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "alternate" and _CONTENT_TYPES.get(ctype, ctype).lower() in _HTML_TYPES:
            it.link = urljoin(self.base_of(el), href.strip())

    def author(self, el: Any, it: _Item) -> None:
        if len(el) == 0:
            it.author = _fix_text((el.text or "").strip())
            return
        name = email = ""
        for child in el:
            if not isinstance(child.tag, str):
                continue
            local = child.tag.rsplit("}", 1)[-1]
            if local == "name":
                name = (child.text or "").strip()
            elif local == "email":
                email = (child.text or "").strip()
        found = f"{name} ({email})" if name and email else name or email
        if found:
            it.author = _fix_text(found)


def _feed_fields(channel: Any, url: str) -> tuple[str | None, dict[str, str]]:
    """The feed's title, and its interval hints (ttl, sy_*) and WebSub links (hub, self:
    atom:link elements, in Atom and in RSS alike, the first of each relation)."""
    title = None
    hints: dict[str, str] = {}
    for child in channel:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if title is None and _KINDS.get(tag) == TITLE:
            title = _fix_text(_inner(child, False).strip())
        elif tag in ("ttl", RSS10 + "ttl"):
            hints["ttl"] = child.text or ""
        elif tag == SY + "updatePeriod":
            hints["sy_updateperiod"] = child.text or ""
        elif tag == SY + "updateFrequency":
            hints["sy_updatefrequency"] = child.text or ""
        elif tag == ATOM + "link" and (href := (child.get("href") or "").strip()):
            for rel in (child.get("rel") or "").split():
                if rel in ("hub", "self"):
                    hints.setdefault(rel, urljoin(url, href))
    return title, hints


_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}


_ITEM_START = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>]")
_ITEM_END = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")


def _truncated(text: str, error: Exception, url: str) -> Any:
    """The tree of a document cut short inside an entry (a dropped connection, a full disk
    on the publisher's side), or None when the error is anywhere but at the end."""
    lineno = getattr(error, "lineno", 0) or 0
    if lineno < text.count("\n", 0, len(text) - 1) + 1:
        return None
    ends = list(_ITEM_END.finditer(text))
    tail_from = ends[-1].end() if ends else 0
    if not _ITEM_START.search(text, tail_from):
        return None  # cut after the last entry: nothing is half-read, but be safe
    parser = etree.XMLParser(
        encoding="utf-8", recover=True, resolve_entities=False, no_network=True,
        load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True,
    )  # fmt: skip
    try:
        return etree.fromstring(text.encode("utf-8", "surrogatepass"), parser, base_url=url or None)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _parse_tree(data: bytes, url: str) -> Any:
    parser = etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    return etree.fromstring(data, parser, base_url=url or None)


def fast_parse(
    body: bytes,
    *,
    url: str = "",
    content_type: str | None = None,
    max_entries: int = 1000,
) -> ParsedFeed:
    """Raises Unsure when the full parser should read this document: also for an (X)HTML
    page, which may wrap a feed (feedparser reads an Atom feed inside an XHTML body) and
    which the full parser refuses when it holds none."""
    text, _encoding = decode(body, content_type)
    head = text[:4096]
    if "<!" in head and ("<!DOCTYPE" in head or "<!doctype" in head):
        doctype = _DOCTYPE.search(text, 0, 65536)
        if doctype and "<!ENTITY" in doctype.group(0):
            raise Unsure("entity declarations")
        if doctype:
            text = text[: doctype.start()] + text[doctype.end() :]
    if text.startswith("<?xml"):
        end = text.find("?>")
        text = text[end + 2 :] if end > 0 else text
    warning = None
    truncated = False
    try:
        root = _parse_tree(text.encode("utf-8", "surrogatepass"), url)
    except (etree.XMLSyntaxError, ValueError) as first:
        repaired = repair(text)
        try:
            root = _parse_tree(repaired.encode("utf-8", "surrogatepass"), url)
        except (etree.XMLSyntaxError, ValueError) as second:
            root = _truncated(repaired, second, url)
            if root is None:
                raise Unsure(f"not well-formed: {first}") from None
            truncated = True
        warning = f"repaired: {first}"
    tag = root.tag if isinstance(root.tag, str) else ""
    reader = _Reader(url, "xml:base" in text)
    ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
    if tag == ns + "rss" and ns in PLAIN_NS:
        attr = root.get("version", "")
        version = "rss20" if attr.startswith("2.") else _RSS_VERSIONS.get(attr, "rss")
        channel = root.find(ns + "channel")
        items = root.iter(ns + "item")
    elif tag == RDF + "RDF":
        ns = RSS10 if root.find(RSS10 + "channel") is not None else RSS090
        if root.find(ns + "channel") is None and root.find(ns + "item") is None:
            raise Unsure("RDF without an RSS channel")
        version = "rss10" if ns == RSS10 else "rss090"
        channel = root.find(ns + "channel")
        items = root.iter(ns + "item")
    elif tag == ATOM + "feed":
        version, channel, items = "atom10", root, root.iter(ATOM + "entry")
    elif tag.rsplit("}", 1)[-1].lower() == "html":
        raise Unsure("an (X)HTML page")
    else:
        raise Unsure(f"root element {tag or '?'}")
    if truncated:  # the last entry was cut short: drop it rather than store half of it
        items = iter(list(items)[:-1])
    entries: list[RawEntry] = []
    for item in items:
        if len(entries) >= max_entries:
            break
        entries.append(reader.entry(item))
    title, hints = _feed_fields(channel, url) if channel is not None else (None, {})
    return ParsedFeed(
        title=(title or "").strip() or None,
        entries=tuple(entries),
        warning=warning,
        version=version,
        min_interval=interval_hint(hints),
        parser="lxml" if warning is None else ("lxml-truncated" if truncated else "lxml-repaired"),
        hub=hints.get("hub") or None,
        self_url=hints.get("self") or None,
    )
