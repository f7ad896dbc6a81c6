"""A synthetic corpus of realistic news feeds for the parse benchmark: the shapes real
publishers serve (RSS 2.0 with HTML descriptions, WordPress-style content:encoded, Atom with
HTML content, RSS 1.0, documents with bare ampersands and HTML entities, Latin-1), sized like
them (20-50 entries, 0.3-8 KB of HTML each). Text comes from templates (bench/feeds.py), never
from a publisher."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from bench.feeds import ACTORS, PLACES, TOPICS, VERBS, _sentence


def _html(rng: random.Random, paragraphs: int) -> str:
    out = []
    for i in range(paragraphs):
        s = _sentence(rng).replace("&amp;", "&amp;amp;")
        if i == 1:
            out.append(
                f'<figure><img src="/img/{rng.randint(1, 9999)}.jpg" alt="{rng.choice(PLACES)}" '
                f'width="800" height="450" loading="lazy"><figcaption>{rng.choice(PLACES)}'
                "</figcaption></figure>"
            )
        if i % 3 == 2:
            out.append(
                "<ul>" + "".join(f"<li>{rng.choice(TOPICS)}</li>" for _ in range(3)) + "</ul>"
            )
        out.append(
            f'<p>{s} <a href="https://x.example/{i}" rel="noopener">{rng.choice(ACTORS)}</a> '
            f"<em>{rng.choice(VERBS)}</em> <strong>{rng.choice(TOPICS)}</strong>.</p>"
        )
    if rng.random() < 0.3:
        out.append('<script async src="https://platform.example/widgets.js"></script>')
    return "".join(out)


def _title(rng: random.Random) -> str:
    return f"{rng.choice(PLACES)}: {rng.choice(ACTORS)} {rng.choice(VERBS)} {rng.choice(TOPICS)}"


def rss(rng: random.Random, n: int, full: bool) -> str:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for i in range(n):
        when = start + timedelta(minutes=13 * i)
        body = _html(rng, rng.randint(8, 20) if full else rng.randint(1, 3))
        teaser = _sentence(rng)
        extra = (
            f"<content:encoded><![CDATA[{body}]]></content:encoded><dc:creator>"
            f"{rng.choice(ACTORS).title()}</dc:creator>"
            if full
            else ""
        )
        items.append(
            f"<item><title>{escape(_title(rng))}</title>"
            f"<link>https://news.example/{when:%Y/%m/%d}/story-{i}</link>"
            f'<guid isPermaLink="false">news-{rng.randint(1, 10**9)}</guid>'
            f"<description>{escape(teaser if full else body)}</description>{extra}"
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<category>World</category><category>{rng.choice(PLACES)}</category>"
            f'<media:thumbnail url="https://news.example/t/{i}.jpg" width="240"/></item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>News - World</title>'
        "<link>https://news.example/world</link><description>World</description>"
        "<language>en</language><ttl>5</ttl>" + "".join(items) + "</channel></rss>"
    )


def atom(rng: random.Random, n: int) -> str:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    entries = []
    for i in range(n):
        when = (start + timedelta(minutes=29 * i)).isoformat()
        entries.append(
            f"<entry><title type='html'>{escape(escape(_title(rng)))}</title>"
            f"<link rel='alternate' type='text/html' href='/posts/{i}.html'/>"
            f"<id>tag:blog.example,2026:{rng.randint(1, 10**9)}</id><published>{when}</published>"
            f"<updated>{when}</updated><author><name>{rng.choice(ACTORS)}</name></author>"
            f"<summary>{escape(_sentence(rng))}</summary>"
            f"<content type='html'>{escape(_html(rng, rng.randint(4, 10)))}</content></entry>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom' "
        "xml:base='https://blog.example/'><title>Blog</title><id>tag:blog.example,2026:f</id>"
        "<updated>2026-11-01T00:00:00Z</updated>" + "".join(entries) + "</feed>"
    )


def rdf(rng: random.Random, n: int) -> str:
    items = "".join(
        f'<item rdf:about="https://science.example/a/{i}"><title>{escape(_title(rng))}</title>'
        f"<link>https://science.example/a/{i}</link><description>{escape(_html(rng, 2))}"
        f"</description><dc:date>2026-11-{1 + i % 28:02d}T10:00:00+02:00</dc:date></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="https://science.example/"><title>Science</title>'
        "<link>https://science.example/</link><description>d</description></channel>"
        + items
        + "</rdf:RDF>"
    )


def corpus(documents: int = 40, seed: int = 7) -> list[tuple[bytes, str]]:
    """(body, content type) pairs, in the proportions of a news monitor's subscriptions."""
    rng = random.Random(seed)
    out: list[tuple[bytes, str]] = []
    for i in range(documents):
        n = rng.randint(20, 50)
        kind = i % 20
        if kind < 8:
            out.append((rss(rng, n, full=False).encode(), "application/rss+xml"))
        elif kind < 13:
            out.append((rss(rng, n, full=True).encode(), "application/rss+xml; charset=utf-8"))
        elif kind < 17:
            out.append((atom(rng, n).encode(), "application/atom+xml"))
        elif kind == 17:
            out.append((rdf(rng, n).encode(), "application/rdf+xml"))
        elif kind == 18:  # bare ampersands and HTML entities, as hand-made feeds have them
            text = rss(rng, n, full=False).replace("&amp;amp;", "&").replace("Kyiv", "K&yacute;iv")
            out.append((text.encode(), "text/xml"))
        else:  # Latin-1, declared
            text = rss(rng, n, full=False).replace("UTF-8", "ISO-8859-1")
            text = text.replace("Paris", "Paris-Orléans").replace("Madrid", "Madrid, España")
            out.append((text.encode("latin-1"), "application/rss+xml"))
    return out
