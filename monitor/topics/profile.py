"""Seed profiles of topics: what a topic's seed documents are about, as a weighted term vector.

A topic's seed documents (``seeds`` globs in the configuration: .txt, .md or .html files) are
read once when the configuration loads (and on reload) and compiled into a :class:`Profile`:

The design in full: docs/modules.md, `monitor/topics/profile.py`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from monitor.reader.normalize import html_to_text
from monitor.stories.textfeatures import WEEKDAYS_MONTHS, idf, stem, term_vector

PROFILE_TERMS = 200  # terms kept in a profile: enough for its vocabulary, few to compare
SEED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")


def _stems(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in text.split())


# Words found in a large share of news stories whatever they are about (not stopwords: those
# are dropped). Stemmed at import, so every inflection counts.
COMMON_NEWS_WORDS = _stems(
    """
    accept account act action add added ago agree agreed agreement ahead allow already
    although announce announced another area around ask asked attack back based become began
    begin best better big bill billion call called came case category center centre change
    chief city claim clear close come comment comments committee company concern country
    countries cut day days deal decision despite develop did director discuss earlier early
    east end even event expect expected face fact far few final first follow following force
    forces former found full further general get give given go going good government great
    group grow half head help high hold home hour hours house however include included
    including increase issue issues keep key know known large last late later latest lead
    leader leaders least leave left less like likely line live local long look lost made main
    major make making man many market matter may mean meet meeting member members men might
    million minister ministry month months move much must national need needed never new news
    next night north number office official officials one open order part party past people
    percent period photo place plan plans point policy political power press president
    public put question read really recent record report reported reports result return
    right rise run second see seen set share show side since small source sources south
    spokesman spokesperson start started state statement states still story support take
    taken talk talks team think third three time times today together top two under update
    updated use used video want war way week weeks well west whether woman women work world
    year years yesterday
    """
    # words of a topic brief about itself rather than about its subject
    """brief count counts coverage describe development developments example scope topic
    topics track tracks
    """
)
_BACKGROUND_DOCS = 1000  # the background's notional number of stories
COMMON_WEIGHT = idf(_BACKGROUND_DOCS // 10, _BACKGROUND_DOCS) / idf(1, _BACKGROUND_DOCS)
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


class SeedError(ValueError):
    """A seed document that cannot serve: unreadable, not text, or with no content words."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A topic's compiled seed profile: unit-length weights of at most PROFILE_TERMS terms."""

    weights: Mapping[str, float]
    seeds: int  # seed documents it was built from

    def top(self, n: int = 10) -> list[tuple[str, float]]:
        """The `n` heaviest terms, heaviest first (ties by term): what the profile is about."""
        return sorted(self.weights.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


@dataclass(frozen=True, slots=True)
class StoryVector:
    """One story's unit-length term weights (in text order), computed once per story."""

    weights: Mapping[str, float]


def is_match(mode: str, query_hit: bool, similarity: float | None, threshold: float) -> bool:
    """The match decision of one topic for one story."""
    close = similarity is not None and similarity >= threshold
    if mode == "query":
        return query_hit
    if mode == "profile":
        return close
    if mode == "both":
        return query_hit and close
    return query_hit or close


def background_weight(term: str) -> float:
    """The background IDF of `term`, relative to a rare word's (1.0)."""
    return COMMON_WEIGHT if term in COMMON_NEWS_WORDS else 1.0


def _unit(vec: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in vec.values()))
    return {t: w / norm for t, w in vec.items()} if norm else {}


def weighted_vector(title: str, text: str) -> dict[str, float]:
    """Unit-length, background-weighted term vector of a text (title counted twice). Dates and
    numbers are left out: they place an event, they do not say what a topic is about."""
    vec = term_vector(title, text, WEEKDAYS_MONTHS, name_boost=1.0)
    return _unit({t: w * background_weight(t) for t, w in vec.items() if not t.isdigit()})


def story_vector(title: str, text: str) -> StoryVector:
    return StoryVector(weighted_vector(title, text))


def build_profile(texts: Sequence[str], terms: int = PROFILE_TERMS) -> Profile:
    """The profile of seed `texts` (plain text): the centroid of their unit vectors, cut to the
    `terms` heaviest terms (ties broken by term, so the result is the same on every run)."""
    total: dict[str, float] = {}
    used = 0
    for text in texts:
        vec = weighted_vector("", text)
        used += bool(vec)
        for t, w in vec.items():
            total[t] = total.get(t, 0.0) + w
    if not total:
        raise SeedError("the seed documents have no content words")
    kept = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:terms]
    return Profile(_unit(dict(kept)), used)


def cosine(profile: Profile, story: StoryVector) -> float:
    """Cosine similarity of a story and a profile, 0 to 1 (both are unit length); summed in
    the story's term order, as ProfileIndex does, so both give the same float."""
    pw = profile.weights
    return min(1.0, sum(w * pw[t] for t, w in story.weights.items() if t in pw))


def similarity(profile: Profile, title: str, text: str) -> float:
    """Cosine of one story with one profile (to compare with many, use story_vector once)."""
    return cosine(profile, story_vector(title, text))


@dataclass(frozen=True, slots=True, eq=False)  # arrays: compared by identity
class ProfileIndex:
    """Many profiles inverted: term -> (profile numbers, weights), as in SIFT-style filtering
    (the profiles are the standing queries). A story's similarity to every profile costs one
    lookup per story term plus one multiply-add per profile that shares the term, however
    many profiles share none; the multiply-adds of a term are one numpy operation."""

    keys: tuple[str, ...]
    postings: Mapping[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]

    @classmethod
    def build(cls, profiles: Iterable[tuple[str, Profile]]) -> ProfileIndex:
        keys: list[str] = []
        lists: dict[str, tuple[list[int], list[float]]] = {}
        for number, (key, profile) in enumerate(profiles):
            keys.append(key)
            for term, weight in profile.weights.items():
                numbers, weights = lists.setdefault(term, ([], []))
                numbers.append(number)
                weights.append(weight)
        postings = {
            t: (np.array(ns, dtype=np.int64), np.array(ws, dtype=np.float64))
            for t, (ns, ws) in lists.items()
        }
        return cls(tuple(keys), postings)

    def scores(self, story: StoryVector) -> dict[str, float]:
        """Cosine of `story` with every profile, by key (equal to :func:`cosine`: each
        profile's sum is taken in the story's term order, one IEEE multiply-add per shared
        term, as a Python loop would; a term names a profile once)."""
        acc = np.zeros(len(self.keys))
        for term, sw in story.weights.items():
            found = self.postings.get(term)
            if found is not None:
                numbers, weights = found
                acc[numbers] += sw * weights
        if acc.size and acc.max() > 1.0:  # rounding, at most an ulp or two above the cosine
            np.minimum(acc, 1.0, out=acc)
        return dict(zip(self.keys, acc.tolist(), strict=True))


def seed_text(path: Path) -> str:
    """The plain text of a seed document: HTML without markup, Markdown without link
    targets, URLs dropped (their host and path words say nothing about the topic)."""
    suffix = path.suffix.lower()
    if suffix not in SEED_SUFFIXES:
        raise SeedError(f"{path.name}: not a seed document (use {', '.join(SEED_SUFFIXES)})")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SeedError(f"{path.name}: not UTF-8 text") from None
    except OSError as exc:
        raise SeedError(f"cannot read {path}: {exc.strerror or exc}") from None
    if suffix in (".html", ".htm"):
        raw = html_to_text(raw)
    elif suffix in (".md", ".markdown"):
        raw = html.unescape(_MD_LINK.sub(r"\1", raw))
    return _URL.sub(" ", raw)


def load_profile(paths: Iterable[Path], terms: int = PROFILE_TERMS) -> Profile:
    """Read seed documents and build their profile; SeedError names what is wrong."""
    return build_profile([seed_text(p) for p in paths], terms)
