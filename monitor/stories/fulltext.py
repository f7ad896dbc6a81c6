"""Full text: a story's article page, fetched politely, and its text extracted.

The design in full: docs/modules.md, `monitor/stories/fulltext.py`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from protego import Protego

from monitor.reader.fetch import FetchLimits, fetch
from monitor.reader.htmlencoding import decode_page
from monitor.reader.politeness import HostLimiter

ROBOTS_TTL = 86400.0
ROBOTS_RETRY = 3600.0  # an unreachable robots.txt is asked again after this
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: at least 500 KiB must be parsed
ROBOTS_ORIGINS = 10_000  # origins whose rules are kept (least recently used forgotten)
MIN_WORDS = 60  # fewer words of text than this: not an article
HTML_TYPES = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
PRODUCT_TOKEN = "monitor"

# characters of scripts written without spaces between words: kana, CJK ideographs, Thai,
# Lao, Myanmar, Khmer
_UNSPACED = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]"
)

# phrases of paywall, consent and sign-in pages (matched in lower case)
_NOTICE = re.compile(
    r"subscribe (now|today|to (continue|read))|already a subscriber|sign in to (continue|read)"
    r"|log in to (continue|read)|create a free account|this content is for subscribers"
    r"|we value your privacy|accept (all )?cookies|cookie (settings|preferences|policy)"
    r"|your consent|manage (your )?(consent|privacy)|enable javascript"
    r"|unlock (this|full) (article|access)|to continue reading"
)


@dataclass(frozen=True, slots=True)
class Article:
    """What fetching a story's page gave: `state` ok (with `text`), not_article, blocked
    (robots.txt), or failed (with `retry_after` when the host asked to wait)."""

    state: str
    text: str | None = None
    error: str | None = None
    retry_after: float | None = None


class Robots:
    """robots.txt rules per origin, cached (see module doc)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        hosts: HostLimiter,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.hosts = hosts
        self.monotonic = monotonic  # the clock of the cache's expiry times
        self._rules: OrderedDict[str, tuple[float, Protego | bool]] = OrderedDict()

    async def allowed(self, url: str, limits: FetchLimits) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._rules.get(origin)
        now = self.monotonic()
        if cached is None or cached[0] < now:
            cached = await self._load(origin, limits, now)
            self._rules[origin] = cached
            if len(self._rules) > ROBOTS_ORIGINS:
                self._rules.popitem(last=False)
        self._rules.move_to_end(origin)
        rules = cached[1]
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(url, PRODUCT_TOKEN)

    async def _load(
        self, origin: str, limits: FetchLimits, now: float
    ) -> tuple[float, Protego | bool]:
        robots_limits = FetchLimits(
            timeout=limits.timeout, connect_timeout=limits.connect_timeout,
            max_bytes=ROBOTS_MAX_BYTES, max_redirects=limits.max_redirects,
            user_agent=limits.user_agent, allow_private=limits.allow_private,
        )  # fmt: skip
        async with self.hosts.slot(origin):
            res = await fetch(
                self.session, origin + "/robots.txt", robots_limits, accept="text/plain, */*"
            )
        if res.error_kind == "too_large" and res.status is not None and res.status < 300:
            return now + ROBOTS_RETRY, False
        if res.status is not None and 200 <= res.status < 300:
            text = res.body.decode("utf-8-sig", "replace")  # a byte-order mark is no rule
            return now + ROBOTS_TTL, Protego.parse(text)
        if res.status is not None and 400 <= res.status < 500:
            return now + ROBOTS_TTL, True  # no robots.txt: everything allowed
        return now + ROBOTS_RETRY, False  # unreachable: nothing, for now


def words(text: str) -> int:
    """About how many words `text` has: its space-separated tokens, and a word per two
    characters of scripts written without spaces."""
    return len(text.split()) + len(_UNSPACED.findall(text)) // 2


def is_notice(text: str) -> bool:
    """Whether `text` is a paywall, consent or sign-in notice rather than an article."""
    n_words = words(text)
    if n_words < MIN_WORDS:
        return True
    hits = len(_NOTICE.findall(text.lower()))
    return hits >= 2 and n_words < 4 * MIN_WORDS


def extract(html: bytes | str, url: str, content_type: str | None = None) -> str | None:
    """The article text of a page (trafilatura), or None when it finds none. Bytes are
    decoded by `content_type`'s charset, the page's declaration or detection."""
    import trafilatura  # imported on first use: it loads lxml-based models

    text = trafilatura.extract(
        decode_page(html, content_type)[0] if isinstance(html, bytes) else html,
        url=url,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        deduplicate=True,
    )
    return " ".join(text.split()) if text else None


async def fetch_article(
    session: aiohttp.ClientSession,
    url: str,
    limits: FetchLimits,
    hosts: HostLimiter,
    robots: Robots,
    proxy: str | None = None,
) -> Article:
    """Fetch and extract one story's page (see module doc); never raises but for
    cancellation."""
    try:
        if not await robots.allowed(url, limits):
            return Article("blocked", error=f"robots.txt of {urlsplit(url).netloc} disallows it")
        async with hosts.slot(url):
            res = await fetch(session, url, limits, proxy=proxy, accept=HTML_TYPES)
        if res.retry_after is not None:
            hosts.defer(url, res.retry_after)
        if not res.ok:
            return Article(
                "failed",
                error=res.error or f"HTTP {res.status}",
                retry_after=res.retry_after,
            )
        text = await asyncio.to_thread(extract, res.body, res.url, res.content_type)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a page that breaks the extractor is that page's failure
        return Article("failed", error=f"{type(exc).__name__}: {exc}")
    if text is None or is_notice(text):
        return Article("not_article", error="no article text (paywall, consent or index page)")
    return Article("ok", text=text)
