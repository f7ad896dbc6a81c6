"""Site boilerplate caught on its first repeat: the part of a body that a source's earlier body
starts or ends with, word for word.

Scraped feed summaries are often partly or wholly page furniture (sign-in prompts, newsletter
offers, video playlists, time stamps) that a site puts at the same place on every page, and a
site's second story would be linked to its first by the template alone. Here a body's longest
common *prefix* and *suffix* (at least
``MIN_RUN`` words) with any of the same source's ``KEEP_RECENT`` earlier bodies are cut: two
different pages of one site that open or close with the same eight words are sharing a template,
not news (a reprint of the same story is caught earlier, by :mod:`monitor.stories.dedup`).

The design in full: docs/modules.md, `monitor/stories/boilerplate.py`.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from monitor.stories.textfeatures import words

MIN_RUN = 8
KEEP_RECENT = 50
EDGE = 200  # words kept of each end of a remembered body


class BodyHistory(Protocol):
    """The latest bodies seen from each source."""

    def recent_bodies(self, source: str) -> Sequence[str]: ...
    def add_body(self, source: str, text: str) -> None: ...


class MemoryBodyHistory:
    """In-memory :class:`BodyHistory` keeping ``keep`` bodies per source, of at most
    ``max_sources`` sources (the least recently seen are forgotten). A body is kept only by
    its first and last ``EDGE`` words: a template is a prefix or a suffix."""

    def __init__(self, keep: int = KEEP_RECENT, max_sources: int | None = None) -> None:
        self.keep = keep
        self.max_sources = max_sources
        self._bodies: OrderedDict[str, deque[str]] = OrderedDict()

    def recent_bodies(self, source: str) -> Sequence[str]:
        return tuple(self._bodies.get(source, ()))

    def add_body(self, source: str, text: str) -> None:
        if not source or not text.strip():
            return
        bodies = self._bodies.get(source)
        if bodies is None:
            bodies = self._bodies[source] = deque(maxlen=self.keep)
            if self.max_sources is not None and len(self._bodies) > self.max_sources:
                self._bodies.popitem(last=False)
        else:
            self._bodies.move_to_end(source)
        tokens = text.split()
        bodies.append(text if len(tokens) <= 2 * EDGE else " ".join(tokens[:EDGE] + tokens[-EDGE:]))


@functools.lru_cache(maxsize=8192)
def _body_keys(text: str) -> tuple[str, ...]:
    """The comparison key of each whitespace token of a body (cached: a source's recent bodies
    are compared with each new one)."""
    return tuple(map(_token_key, text.split()))


@functools.lru_cache(maxsize=65536)
def _token_key(token: str) -> str:
    """A whitespace token as compared: its words, casefolded (most tokens recur)."""
    return " ".join(words(token))


def _keys(tokens: Sequence[str]) -> list[str]:
    return list(map(_token_key, tokens))


def _common(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def strip_template(text: str, earlier: Iterable[str], min_run: int = MIN_RUN) -> str:
    """``text`` without the longest prefix and suffix (of ``min_run`` words or more) that it shares
    with one of the ``earlier`` bodies of its source. Punctuation and case are ignored when
    comparing words; what is kept is the original text."""
    tokens = text.split()
    if len(tokens) < min_run:
        return text
    keys = _keys(tokens)
    rkeys = keys[::-1]
    head = tail = 0
    for other in earlier:
        other_keys = _body_keys(other)
        head = max(head, _common(keys, other_keys))
        tail = max(tail, _common(rkeys, other_keys[::-1]))
    head = head if head >= min_run else 0
    tail = tail if tail >= min_run else 0
    if head + tail >= len(tokens):
        return ""
    return " ".join(tokens[head : len(tokens) - tail])


_STAMP = re.compile(
    r"\b(?-i:(?:Last\s+[Uu]pdated|Updated|Posted|Published|UPDATED|POSTED|PUBLISHED))"
    r"(?:\s+(?:on|at))?\s*:?\s*"
    r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"  # a weekday
    r"(?:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?"
    r",?\s*(?:\d{4})?|\d{1,2}/\d{1,2}/\d{2,4})"  # a date: "Aug. 2, 2015", "8/2/15"
    r",?\s*(?:(?:at\s+)?\d{1,2}:\d{2}\s*(?:[ap]\.?m\.?)?\s*(?:[ECMP][SD]T|GMT|UTC)?)?",  # a time
    re.IGNORECASE,
)


_STAMP_MARK = re.compile(r"^\w+\s*:|\d{4}|\d:\d\d|/")


def _stamp(m: re.Match[str]) -> str:
    return " " if _STAMP_MARK.search(m.group(0)) else m.group(0)


def strip_stamps(text: str) -> str:
    """``text`` without the page's publication stamps ("Posted: Sunday, August 2, 2015 11:49 AM
    EDT", "Updated: 8/3/15 at 7:00 PM", "Published on Mar 14, 2013"): a date after a
    capitalised "Posted", "Updated" or "Published", with a colon, a year or a clock time
    ("the video was posted Aug. 3 at 4 p.m." is news and stays)."""
    return _STAMP.sub(_stamp, text) if _STAMP.search(text) else text


# A page's video playlist: "1:17 Kansas wildfire update Pause 1:17 Drone video captures ...
# 0:33 Festival-goers brave cold": the durations and titles of the site's latest videos,
# other news, to the end of the text.
_PLAYLIST = re.compile(r"(?<!\S)\d{1,2}:\d{2}\s+\S.{0,200}?\sPause\s+\d{1,2}:\d{2}\s.*", re.DOTALL)


def strip_playlist(text: str) -> str:
    """``text`` without a video playlist (a duration, a title, "Pause", a duration...) and
    what follows it."""
    return _PLAYLIST.sub(" ", text) if "Pause" in text else text


def strip_and_remember(history: BodyHistory, source: str, text: str) -> str:
    """Strip ``text`` against ``source``'s recent bodies, and of its page stamps and video
    playlist, then remember the full ``text``."""
    cleaned = strip_playlist(strip_stamps(strip_template(text, history.recent_bodies(source))))
    history.add_body(source, text)
    return cleaned


_TITLE_SEPARATOR = re.compile(r"\s+[-\u2013\u2014|]\s+|\s*\|\s*")


@functools.lru_cache(maxsize=8192)
def _title_segments(title: str) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]]:
    """The spans of a headline's segments between separators, and their comparison keys."""
    spans = []
    start = 0
    for sep in _TITLE_SEPARATOR.finditer(title):
        spans.append((start, sep.start()))
        start = sep.end()
    spans.append((start, len(title)))
    return tuple(spans), tuple(_token_key(title[a:b]) for a, b in spans)


def strip_title_template(title: str, earlier: Iterable[str]) -> str:
    """``title`` without the leading and trailing segments (between separators: " - ", " | ",
    a dash) that it shares with one of the ``earlier`` headlines of its source: the site's
    name, never the whole headline. What is kept is the original text."""
    spans, keys = _title_segments(title)
    if len(keys) < 2:
        return title
    head = tail = 0
    for other in earlier:
        other_keys = _title_segments(other)[1]
        if len(other_keys) > 1:
            head = max(head, _common(keys, other_keys))
            tail = max(tail, _common(keys[::-1], other_keys[::-1]))
    if head + tail >= len(keys) or not head + tail:
        return title
    return title[spans[head][0] : spans[len(keys) - 1 - tail][1]]


def strip_title_and_remember(history: BodyHistory, source: str, title: str) -> str:
    """Strip ``title`` against ``source``'s recent headlines, then remember it."""
    cleaned = strip_title_template(title, history.recent_bodies(source))
    history.add_body(source, title)
    return cleaned


class SiteTemplates:
    """Recent bodies and headlines per source (two :class:`MemoryBodyHistory`), and the
    cleaning a story's headline and body go through before its development is decided."""

    def __init__(self, keep: int = KEEP_RECENT, max_sources: int | None = None) -> None:
        self.bodies = MemoryBodyHistory(keep, max_sources)
        self.titles = MemoryBodyHistory(keep, max_sources)

    def clean(self, source: str, title: str, text: str) -> tuple[str, str]:
        """(headline, body) stripped against ``source``'s recent ones, which then remember
        them: see :func:`strip_title_and_remember` and :func:`strip_and_remember`."""
        return (
            strip_title_and_remember(self.titles, source, title),
            strip_and_remember(self.bodies, source, text),
        )
