"""Site boilerplate caught on its first repeat: the part of a body that a source's earlier body
starts or ends with, word for word.

Scraped feed summaries are often partly or wholly page furniture (sign-in prompts, newsletter
offers, video playlists, time stamps) that a site puts at the same place on every page, and a
site's second story would be linked to its first by the template alone. Here a body's longest
common *prefix* and *suffix* (at least
``MIN_RUN`` words) with any of the same source's ``KEEP_RECENT`` earlier bodies are cut: two
different pages of one site that open or close with the same eight words are sharing a template,
not news (a reprint of the same story is caught earlier, by :mod:`monitor.dedup`).

History lives behind :class:`BodyHistory` so that a store can keep it (recent bodies per source).
"""

from __future__ import annotations

import functools
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from monitor.textfeatures import words

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


def strip_and_remember(history: BodyHistory, source: str, text: str) -> str:
    """Strip ``text`` against ``source``'s recent bodies, then remember the full ``text``."""
    cleaned = strip_template(text, history.recent_bodies(source))
    history.add_body(source, text)
    return cleaned
