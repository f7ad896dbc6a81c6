"""Parse (feedparser) and normalize: identity keys, links, plain text, UTC dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.reader.normalize import absolute_link, html_to_text, normalize_entries
from monitor.reader.parse import ParseError, parse_feed

BASE = "http://feeds.example/news/rss.xml"


def entries(doc: bytes):  # type: ignore[no-untyped-def]
    return normalize_entries(parse_feed(doc, url=BASE).entries, BASE)


def test_rss_item_becomes_a_normalized_entry() -> None:
    doc = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
      <item><guid isPermaLink="false">abc-1</guid><title>AT&amp;T &amp; M&amp;A: Caf&#233;</title>
      <link>/story/1?x=1</link>
      <description><![CDATA[<p>First&nbsp;para.</p><script>evil()</script><p>Second &mdash; para.</p>]]></description>
      <pubDate>Tue, 24 Nov 2026 10:00:00 +0200</pubDate><author>desk@example.org (Desk)</author>
      </item></channel></rss>"""
    [e] = entries(doc)
    assert e.key == "abc-1"
    assert e.title == "AT&T & M&A: Café"
    assert e.link == "http://feeds.example/story/1?x=1"
    assert e.summary == "First para. Second — para."
    assert e.published == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert len(e.content_hash) == 32


def test_identity_falls_back_from_guid_to_link_to_hash() -> None:
    doc = b"""<rss version="2.0"><channel><title>T</title>
      <item><title>Only link</title><link>http://x.example/a</link></item>
      <item><title>Nothing else</title><description>text</description></item>
      </channel></rss>"""
    first, second = entries(doc)
    assert first.key == "http://x.example/a"
    assert second.key.startswith("sha256:")
    assert second.link is None


def test_atom_with_content_and_updated_date() -> None:
    doc = b"""<?xml version="1.0" encoding="utf-8"?>
      <feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:a</id>
      <updated>2026-11-25T09:00:00Z</updated>
      <entry><id>urn:a:1</id><title type="html">S&amp;P &lt;b&gt;up&lt;/b&gt;</title>
      <link href="http://a.example/1"/><updated>2026-11-25T09:00:00Z</updated>
      <content type="html">&lt;p&gt;Body &lt;em&gt;text&lt;/em&gt;&lt;/p&gt;</content></entry></feed>"""
    [e] = entries(doc)
    assert (e.key, e.title, e.summary) == ("urn:a:1", "S&P up", "Body text")
    assert e.published == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_changed_text_changes_the_hash_and_repeated_items_are_kept_once() -> None:
    item = "<item><guid>g</guid><title>{}</title></item>"
    doc = (
        '<rss version="2.0"><channel><title>T</title>'
        + item.format("one")
        + item.format("one again")
        + "</channel></rss>"
    ).encode()
    [e] = entries(doc)
    assert e.title == "one"
    doc2 = (
        '<rss version="2.0"><channel><title>T</title>' + item.format("two") + "</channel></rss>"
    ).encode()
    assert entries(doc2)[0].content_hash != e.content_hash


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\x01\x02garbage\xff",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"hello, this is plain text",
    ],
)
def test_garbage_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse_feed(body, url=BASE, content_type="text/html")
    assert err.value.kind in ("not_a_feed", "parse")
    assert str(err.value)


def test_max_entries() -> None:
    items = "".join(f"<item><guid>{i}</guid><title>t{i}</title></item>" for i in range(50))
    doc = f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()
    assert len(parse_feed(doc, url=BASE, max_entries=10).entries) == 10


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("", None),
        ("//cdn.example/x", "http://cdn.example/x"),
        ("https://a.example/b", "https://a.example/b"),
    ],
)
def test_only_http_links_survive(link: str, expected: str | None) -> None:
    assert absolute_link(link, BASE) == expected


def test_html_to_text_drops_styles_and_keeps_breaks_as_spaces() -> None:
    assert html_to_text("<style>p{}</style>a<br>b<div>c</div>") == "a b c"
