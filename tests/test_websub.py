"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/): the daemon as a subscriber,
against a local hub (a small aiohttp server playing the hub's part) and local feeds."""

from __future__ import annotations

import pytest

from monitor.fastparse import fast_parse
from monitor.parse import parse_feed, parse_with_feedparser

RSS_WITH_HUB = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>x</title>
<atom:link rel="hub" href="https://hub.example/"/>
<atom:link rel="self" href="https://news.example/feed.xml" type="application/rss+xml"/>
<item><title>a</title></item></channel></rss>"""
ATOM_WITH_HUB = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><link rel="alternate" href="/"/>
<link rel="hub" href="/hub"/><link rel="hub" href="https://second.example/"/>
<link rel="self" href="feed.atom"/><entry><title>a</title></entry></feed>"""


@pytest.mark.parametrize(
    ("doc", "hub", "self_url"),
    [
        (RSS_WITH_HUB, "https://hub.example/", "https://news.example/feed.xml"),
        (ATOM_WITH_HUB, "https://news.example/hub", "https://news.example/a/feed.atom"),
    ],
)
def test_both_parsers_read_the_hub_and_self_links(doc: bytes, hub: str, self_url: str) -> None:
    url = "https://news.example/a/b.xml"
    for parsed in (fast_parse(doc, url=url), parse_with_feedparser(doc, url=url)):
        assert (parsed.hub, parsed.self_url) == (hub, self_url), parsed.parser


def test_a_json_feed_names_its_websub_hub_and_its_own_url() -> None:
    doc = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "t", '
        b'"feed_url": "https://news.example/feed.json", "items": [], '
        b'"hubs": [{"type": "rssCloud", "url": "https://cloud.example/"}, '
        b'{"type": "WebSub", "url": "https://hub.example/"}]}'
    )
    parsed = parse_feed(doc, url="https://news.example/feed.json")
    assert (parsed.hub, parsed.self_url) == (
        "https://hub.example/",
        "https://news.example/feed.json",
    )


def test_a_feed_without_links_has_no_hub() -> None:
    parsed = parse_feed(b'<rss version="2.0"><channel><title>t</title></channel></rss>')
    assert (parsed.hub, parsed.self_url) == (None, None)
