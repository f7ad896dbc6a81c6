"""Near-duplicate detection: the same story reprinted under another URL, dateline or headline.

Method: MinHash over word 3-shingles of the story's lead
(128 permutations), LSH with 32 bands of 4 rows to find candidates, then an exact verification
on the candidates' texts, fetched through ``lookup``:

The design in full: docs/modules.md, `monitor/stories/dedup.py`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.stories.minhash import MinHasher, shingles, stable_hash64
from monitor.stories.textfeatures import STOPWORDS, words

BODY_CONTAINMENT = 0.8
TITLE_OVERLAP = 0.5
ABOUT_SHARE = 0.5
MIN_SHINGLES = 10
MIN_TITLE_WORDS = 6
LEAD_WORDS = 100  # the signature covers the lead, so a summary finds its full-text copy


@dataclass(frozen=True, slots=True)
class StoryText:
    """A story as the detectors see it. ``published`` is timezone-aware UTC."""

    id: str
    published: datetime
    title: str
    text: str
    source: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the index stores for a story: MinHash signature and band keys (incl. title key)."""

    story_id: str
    signature: tuple[int, ...]
    bands: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """``story_id`` is the earliest earlier story the new one duplicates."""

    story_id: str
    containment: float  # body 3-shingle containment (0.0 for a headline-only match)
    title_overlap: float  # share of the shorter title's content words found in the other title
    by_title_only: bool


@dataclass(frozen=True, slots=True)
class DedupResult:
    """``template``: the body matched an unrelated story's body, so it is site boilerplate and
    says nothing about the story (callers should then rely on the headline)."""

    match: DuplicateMatch | None
    template: bool


class NearDupIndex(Protocol):
    """Band-key index of earlier stories; a SQL version keeps (band, story_id) rows."""

    def add(self, story_id: str, bands: Sequence[int], signature: Sequence[int]) -> None: ...

    def candidates(self, bands: Sequence[int]) -> list[str]:
        """Ids sharing at least one band key, in insertion order, without repeats."""
        ...


class MemoryNearDupIndex:
    """In-memory :class:`NearDupIndex`."""

    def __init__(self) -> None:
        self._buckets: dict[int, list[str]] = defaultdict(list)
        self._order: dict[str, int] = {}
        self._signatures: dict[str, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self._order)

    def add(self, story_id: str, bands: Sequence[int], signature: Sequence[int]) -> None:
        if story_id in self._order:
            return
        self._order[story_id] = len(self._order)
        self._signatures[story_id] = tuple(signature)
        for key in bands:
            self._buckets[key].append(story_id)

    def candidates(self, bands: Sequence[int]) -> list[str]:
        found: set[str] = set()
        for key in bands:
            found.update(self._buckets.get(key, ()))
        return sorted(found, key=self._order.__getitem__)

    def signature(self, story_id: str) -> tuple[int, ...] | None:
        return self._signatures.get(story_id)


DEFAULT_HASHER = MinHasher()


def _title_words(title: str) -> list[str]:
    return [w for w in words(title) if w not in STOPWORDS]


def _content(ws: list[str]) -> set[str]:
    return {w for w in ws if len(w) > 2 or w.isdigit()}


_BODIES: dict[str, tuple[list[str], frozenset[int], frozenset[str]]] = {}
_BODIES_MAX = 4096  # an earlier story is a candidate for many new ones: analysed once


def _body(text: str) -> tuple[list[str], frozenset[int], frozenset[str]]:
    """(words, 3-shingle set, word set) of a body, from a bounded cache."""
    found = _BODIES.get(text)
    if found is None:
        if len(_BODIES) >= _BODIES_MAX:
            _BODIES.clear()
        ws = words(text)
        found = _BODIES[text] = (ws, shingles(ws), frozenset(ws))
    return found


def title_key(title: str) -> int | None:
    """Band key of a headline long enough to identify a story by itself, else None."""
    ws = words(title)
    if len(ws) < MIN_TITLE_WORDS:
        return None
    return stable_hash64("title:" + " ".join(ws)) >> 1


def fingerprint(story: StoryText, hasher: MinHasher = DEFAULT_HASHER) -> Fingerprint:
    """MinHash signature of the body's lead and its LSH band keys (plus the headline key)."""
    sig = hasher.signature(shingles(words(story.text)[:LEAD_WORDS]))
    bands = hasher.band_keys(sig) if len(set(sig)) > 1 else []
    key = title_key(story.title)
    if key is not None:
        bands.append(key)
    return Fingerprint(story.id, sig, tuple(bands))


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of the shorter title's content words in the other; 0 unless two or more shared."""
    shared = len(a & b)
    return shared / min(len(a), len(b)) if shared >= 2 else 0.0


def _about(title: AbstractSet[str], body: AbstractSet[str]) -> bool:
    return len(title & body) >= max(2.0, ABOUT_SHARE * len(title))


def find_duplicate(
    story: StoryText,
    index: NearDupIndex,
    lookup: Callable[[str], StoryText | None],
    *,
    fp: Fingerprint | None = None,
    hasher: MinHasher = DEFAULT_HASHER,
) -> DuplicateMatch | None:
    """The earliest earlier story that ``story`` near-duplicates, or None (see module doc)."""
    return check(story, index, lookup, fp=fp, hasher=hasher).match


def check(
    story: StoryText,
    index: NearDupIndex,
    lookup: Callable[[str], StoryText | None],
    *,
    fp: Fingerprint | None = None,
    hasher: MinHasher = DEFAULT_HASHER,
) -> DedupResult:
    """Like :func:`find_duplicate`, also telling whether the body is site boilerplate."""
    fp = fp or fingerprint(story, hasher)
    if not fp.bands:
        return DedupResult(None, False)
    _, body, body_set = _body(story.text)
    title_ws = words(story.title)
    title = _content(_title_words(story.title))
    body_matches: list[tuple[datetime, int, DuplicateMatch]] = []
    title_matches: list[tuple[datetime, int, DuplicateMatch]] = []
    template = False
    for rank, cid in enumerate(index.candidates(fp.bands)):
        if cid == story.id:
            continue
        other = lookup(cid)
        if other is None:
            continue
        _, other_body, other_words = _body(other.text)
        other_title = _content(_title_words(other.title))
        t_overlap = _overlap(title, other_title)
        containment = 0.0
        if len(body) >= MIN_SHINGLES and len(other_body) >= MIN_SHINGLES:
            containment = len(body & other_body) / min(len(body), len(other_body))
            if containment >= BODY_CONTAINMENT:
                if (
                    t_overlap >= TITLE_OVERLAP
                    or _about(title, other_words)
                    or _about(other_title, body_set)
                ):
                    match = DuplicateMatch(cid, containment, t_overlap, False)
                    body_matches.append((other.published, rank, match))
                else:
                    template = True
        # Headline evidence alone only where the bodies cannot speak: one is too short to
        # compare, or both are the same (boilerplate) text.
        mute = min(len(body), len(other_body)) < MIN_SHINGLES or containment >= BODY_CONTAINMENT
        if mute and len(title_ws) >= MIN_TITLE_WORDS and words(other.title) == title_ws:
            title_matches.append((other.published, rank, DuplicateMatch(cid, 0.0, 1.0, True)))
    matches = title_matches if template else body_matches + title_matches
    best = min(matches, key=lambda m: (m[0], m[1]))[2] if matches else None
    return DedupResult(best, template)
