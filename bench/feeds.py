"""Synthetic but realistic news feeds for benchmarks: RSS 2.0 documents shaped like a
major outlet's (guid, link, HTML description with entities, RFC 822 dates, categories),
with text built from templates and a small vocabulary (no publisher's text)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

PLACES = [
    "Kyiv",
    "Warsaw",
    "Berlin",
    "Paris",
    "Brussels",
    "Lisbon",
    "Odesa",
    "Vilnius",
    "Madrid",
    "Rome",
    "Helsinki",
    "Prague",
    "Bucharest",
    "Kharkiv",
    "Riga",
    "Oslo",
]
ACTORS = [
    "the defence ministry",
    "a government spokesperson",
    "the prime minister",
    "opposition leaders",
    "the central bank",
    "union representatives",
    "the mayor",
    "European officials",
    "NATO diplomats",
    "the foreign minister",
    "local police",
]
TOPICS = [
    "energy prices",
    "a rail strike",
    "grain exports",
    "air defence systems",
    "troops for a peacekeeping mission",
    "a new budget",
    "storm damage",
    "elections",
    "security guarantees for Ukraine",
    "a corruption inquiry",
    "housing costs",
    "a football final",
    "drone attacks",
    "wildfires",
    "a trade agreement",
]
VERBS = [
    "announced",
    "criticised",
    "proposed",
    "rejected",
    "confirmed",
    "warned about",
    "debated",
    "postponed",
    "welcomed",
    "questioned",
]


def _sentence(rng: random.Random) -> str:
    return (
        f"{rng.choice(ACTORS).capitalize()} in {rng.choice(PLACES)} {rng.choice(VERBS)} "
        f"{rng.choice(TOPICS)} on {rng.choice(['Monday', 'Tuesday', 'Friday'])}, "
        f"citing {rng.randint(2, 950)} &amp; {rng.randint(2, 99)}% figures."
    )


def entry_xml(feed: int, n: int, when: datetime) -> str:
    rng = random.Random(feed * 100_003 + n)
    title = f"{rng.choice(PLACES)}: {rng.choice(ACTORS)} {rng.choice(VERBS)} {rng.choice(TOPICS)}"
    body = "".join(f"<p>{_sentence(rng)}</p>" for _ in range(rng.randint(2, 5)))
    link = f"https://news{feed}.example/world/{when:%Y/%m/%d}/story-{n}"
    return (
        f"<item><title>{escape(title)}</title><link>{link}</link>"
        f'<guid isPermaLink="false">news{feed}-{n}</guid>'
        f"<description>{escape(body)}</description>"
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<category>World</category><category>{rng.choice(PLACES)}</category></item>"
    )


def news_feed(feed: int, entries: int = 50, round: int = 0, new_per_round: int = 10) -> bytes:
    """A feed of `entries` items, newest first; each round adds `new_per_round` new items at
    the top and drops as many old ones."""
    top = round * new_per_round + entries
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = "".join(
        entry_xml(feed, n, start + timedelta(minutes=17 * n))
        for n in range(top - 1, top - entries - 1, -1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>News {feed} - World</title><link>https://news{feed}.example/world</link>"
        f"<description>World news</description><language>en</language>{items}"
        "</channel></rss>"
    ).encode()
