"""Online clustering of a topic's stories into developments (one real-world event each).

Method: single-link nearest-neighbour clustering in a TF-IDF space, first-story-detection style.

- Each story becomes a weighted bag of terms (:func:`monitor.textfeatures.term_vector`): stemmed
  words plus multiword names; names and numbers weigh more, the headline counts twice, since only
  specifics (who, where, how many) tell look-alike incidents apart. IDF is learned online.
- Words that occur only inside 3-word phrases already seen in two or more *different*
  developments are dropped first: such phrases are site boilerplate ("sign in to your
  profile") or stock news phrasing ("was taken to a local hospital"), not evidence of an event.
  Wire copies of one event share phrases within one development, so they are kept.
- A story is compared with earlier stories that share at least one fairly rare term (document
  frequency at most ``RARE_DF_SHARE`` of the stream): a story sharing only common words cannot
  be linked. The ``TOP_CANDIDATES`` best by partial score get an exact cosine.
- Whether it joins an earlier story's development is decided by a small logistic *link model*
  (:func:`link_features`, :data:`LINK_WEIGHTS`): the cosine, log(1 + days apart) and their
  product, how many rare (document frequency at most ``RARE_SPECIFIC_DF`` or 0.2% of the
  stream) *person* names, other multiword names (places, organisations) and numbers the two
  share, whether they come from the same source, and whether either is thin (under
  ``THIN_TERMS`` terms, e.g. a headline with a boilerplate body). A person's full name links a
  court follow-up months later, while a city is shared by unrelated incidents; the age term
  makes an old development need more evidence. The story joins the development of the most
  probable link if that probability is at least ``LINK_THRESHOLD``, else opens a new one. The
  nine weights were fitted offline (`bench/fit_links.py`, L2-regularised logistic
  regression over every (story, candidate) pair) on the first half of the labelled stream only,
  and the threshold chosen there (alert F1 was flat within 0.003 for 0.3-0.4; the higher one
  keeps more alerts, as missing a new development is worse for a monitor than an extra alert);
  the second half was only scored.
- ``weights=None`` restores the previous rule, an age-dependent similarity bar (:meth:`bar`):
  ``SIM_OPEN`` for a same-day report, rising with log(1 + days) to halfway towards
  ``SIM_FOLLOWUP`` at ``OPEN_DAYS``; ``SIM_FOLLOWUP`` for an older development.
- A duplicate (see :mod:`monitor.dedup`) joins its original's development.
- "What is new": the headline and sentences whose content words are not mostly
  (``COVERED_SHARE``) among the words of the development's earlier stories. A new development
  is new in full.

State lives behind :class:`DevelopmentStore` so it can move to a database.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Protocol

import numpy as np
import numpy.typing as npt

from monitor.dedup import StoryText
from monitor.textfeatures import TextInfo, content_words, idf, term_counts, text_info

OPEN_DAYS = 7.0
FOLLOWUP_DAYS = 730.0
SIM_OPEN = 0.12
SIM_FOLLOWUP = 0.5
RARE_DF_SHARE = 0.05
TOP_CANDIDATES = 100
COVERED_SHARE = 0.6
THIN_TERMS = 12
RARE_SPECIFIC_DF = 5
# Logistic link model over LINK_FEATURES, fitted by bench/fit_links.py on the first half of the
# labelled development stream (2013-01 to 2015-08) only; LINK_THRESHOLD chosen there too.
LINK_WEIGHTS: tuple[float, ...] | None = (
    -2.138,  # bias
    12.099,  # cos
    -1.218,  # log_age
    0.133,  # cos_x_log_age
    2.116,  # person
    1.416,  # place
    0.293,  # number
    0.309,  # same_source
    -0.434,  # thin
)
LINK_THRESHOLD = 0.4


@dataclass(frozen=True, slots=True)
class StoryState:
    id: str
    published: datetime
    development_id: str
    vector: Mapping[str, float]  # term -> weight before IDF
    source: str = ""  # the publisher's host, for the same-source link feature


@dataclass(frozen=True, slots=True)
class DevelopmentState:
    id: str
    first_published: datetime
    last_published: datetime
    size: int


@dataclass(frozen=True, slots=True)
class Assignment:
    development_id: str
    is_new: bool
    similarity: float  # cosine with the closest earlier story (1.0 for a duplicate)
    what_is_new: tuple[str, ...]
    matched_story: str | None = None


class DevelopmentStore(Protocol):
    """Per-topic state of the tracker."""

    def n_docs(self) -> int: ...
    def doc_freq(self, term: str) -> int: ...
    def postings(self, term: str) -> Sequence[str]:
        """Ids of earlier stories containing ``term``, oldest first."""
        ...

    def story(self, story_id: str) -> StoryState | None: ...
    def add_story(self, story: StoryState) -> None: ...
    def development(self, development_id: str) -> DevelopmentState | None: ...
    def developments(self) -> list[str]:
        """Ids of the developments held (those within the window)."""
        ...

    def save_development(self, development: DevelopmentState) -> None: ...
    def phrase_developments(self, shingle: int) -> int:
        """In how many developments (0, 1 or 2 meaning "two or more") a 3-shingle occurred."""
        ...

    def add_phrases(self, development_id: str, shingles: Iterable[int]) -> None: ...
    def seen_words(self, development_id: str) -> set[str]: ...
    def add_seen_words(self, development_id: str, seen: set[str]) -> None: ...


class TermIndex:
    """The stories' vectors as numbers, for scoring many candidates at once
    (:meth:`cosines`): a term id per term, each story's term ids and weights (in the order of
    its vector) and the document frequency of every term id."""

    MIN_TERMS = 200  # fewer candidates' terms than this are scored faster one by one

    def __init__(self) -> None:
        self.term_ids: dict[str, int] = {}
        self._df = np.zeros(1024, dtype=np.int64)
        self._rows: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        self._query = np.zeros(0)  # scratch: the query's weight by term id

    def add(self, story_id: str, vector: Mapping[str, float]) -> None:
        term_ids = self.term_ids
        ids = []
        for term in vector:
            tid = term_ids.get(term)
            if tid is None:
                tid = term_ids[term] = len(term_ids)
            ids.append(tid)
        if len(term_ids) > len(self._df):
            grown = np.zeros(max(2 * len(self._df), len(term_ids)), dtype=np.int64)
            grown[: len(self._df)] = self._df
            self._df = grown
        row = np.array(ids, dtype=np.int64)
        self._df[row] += 1  # a vector's terms are distinct
        self._rows[story_id] = (row, np.fromiter(vector.values(), np.float64, len(row)))

    def cosines(
        self, story_ids: Sequence[str], weights: Mapping[str, float], norm: float, n: int
    ) -> list[float]:
        """The cosine of each story with the query ``weights`` (term -> weight with IDF, of
        norm ``norm``), IDF from ``n`` documents: exactly as summing term by term in the
        order of each story's vector (:meth:`DevelopmentTracker.nearest`)."""
        if not story_ids:
            return []
        rows = [self._rows[sid] for sid in story_ids]
        ids = np.concatenate([r[0] for r in rows])
        lens = np.fromiter((len(r[0]) for r in rows), np.int64, len(rows))
        # the IDF of each distinct document frequency, with math.log (as :func:`idf`)
        dfs = self._df[ids]
        table = np.zeros(int(dfs.max()) + 1)
        table[dfs] = 1.0
        distinct = np.flatnonzero(table)
        n1 = 1.0 + n
        log = math.log
        table[distinct] = [log(n1 / (1.0 + d)) + 1.0 for d in distinct.tolist()]
        ow = np.concatenate([r[1] for r in rows]) * table[dfs]
        # the query's weight of each term (0 where the query lacks it), through a scratch
        # array by term id that is all zeros between calls
        term_ids = self.term_ids
        if len(self._query) < len(self._df):
            self._query = np.zeros(len(self._df))
        query = self._query
        qids = [term_ids[t] for t in weights if t in term_ids]
        query[qids] = [weights[t] for t in weights if t in term_ids]
        qw = query[ids]
        query[qids] = 0.0
        # sums in order, one row per story (padded with zeros, which add nothing): cumsum
        # adds left to right as a Python loop does, unlike sum's pairwise summation
        k, width = len(rows), max(1, int(lens.max()))
        row_start = np.arange(0, k * width, width) - (lens.cumsum() - lens)
        at = np.arange(len(ids)) + np.repeat(row_start, lens)
        grid = np.zeros((2, k * width))
        grid[0, at] = ow * ow
        grid[1, at] = ow * qw
        sums = np.cumsum(grid.reshape(2, k, width), axis=2)[:, :, -1]
        onorm = np.sqrt(sums[0])
        onorm[onorm == 0.0] = 1.0
        sims: list[float] = (sums[1] / (norm * onorm)).tolist()
        return sims


class MemoryDevelopmentStore:
    """In-memory :class:`DevelopmentStore`, with a :class:`TermIndex` of its stories unless
    ``term_index`` is false."""

    def __init__(self, *, term_index: bool = True) -> None:
        self._df: Counter[str] = Counter()
        self._postings: dict[str, list[str]] = defaultdict(list)
        self._stories: dict[str, StoryState] = {}
        self._developments: dict[str, DevelopmentState] = {}
        self._seen: dict[str, set[str]] = defaultdict(set)
        self._phrases: dict[int, list[str]] = {}
        self.term_index = TermIndex() if term_index else None

    def n_docs(self) -> int:
        return len(self._stories)

    def doc_freq(self, term: str) -> int:
        return self._df[term]

    def postings(self, term: str) -> Sequence[str]:
        return self._postings.get(term, ())

    def story(self, story_id: str) -> StoryState | None:
        return self._stories.get(story_id)

    def add_story(self, story: StoryState) -> None:
        if story.id in self._stories:
            return
        self._stories[story.id] = story
        for term in story.vector:
            self._df[term] += 1
            self._postings[term].append(story.id)
        if self.term_index is not None:
            self.term_index.add(story.id, story.vector)

    def development(self, development_id: str) -> DevelopmentState | None:
        return self._developments.get(development_id)

    def developments(self) -> list[str]:
        return list(self._developments)

    def save_development(self, development: DevelopmentState) -> None:
        self._developments[development.id] = development

    def phrase_developments(self, shingle: int) -> int:
        devs = self._phrases.get(shingle)
        return len(devs) if devs else 0

    def add_phrases(self, development_id: str, shingles: Iterable[int]) -> None:
        for sh in shingles:
            devs = self._phrases.setdefault(sh, [])
            if len(devs) < 2 and development_id not in devs:
                devs.append(development_id)

    def seen_words(self, development_id: str) -> set[str]:
        return self._seen.get(development_id, set())

    def add_seen_words(self, development_id: str, seen: set[str]) -> None:
        self._seen[development_id] |= seen


__all__ = ["content_words"]  # re-exported: what "what is new" compares


def new_sentences(title: str, text: str, seen: set[str]) -> tuple[str, ...]:
    """Sentences of the title and text not covered by ``seen`` words (see module doc)."""
    out = []
    head = ((title, text_info(title).content()),) if title.strip() else ()
    for sentence, content in head + text_info(text).sentences():
        if content and len(content & seen) < COVERED_SHARE * len(content):
            out.append(sentence)
    return tuple(out)


def _seen_words(title: TextInfo, body: TextInfo) -> set[str]:
    return set(title.content() | body.content())


def _days(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds() / 86400.0


LINK_FEATURES = (
    "bias",
    "cos",
    "log_age",
    "cos_x_log_age",
    "person",
    "place",
    "number",
    "same_source",
    "thin",
)


def link_features(
    vector: Mapping[str, float],
    source: str,
    other: StoryState,
    cosine: float,
    age_days: float,
    rare: Callable[[str], bool],
    specifics: Sequence[str] | None = None,
) -> tuple[float, ...]:
    """Features of a (new story, earlier story) pair, in the order of :data:`LINK_FEATURES`.
    ``specifics``: :func:`link_specifics` of ``vector``, when the caller has them."""
    kinds = _rare_specifics(specifics if specifics is not None else link_specifics(vector), rare)
    return _link_features(kinds, len(vector), source, other, cosine, age_days)


def _rare_specifics(
    specifics: Iterable[str], rare: Callable[[str], bool]
) -> tuple[list[str], list[str], list[str]]:
    """The rare ones of :func:`link_specifics`: (person names, other names, numbers)."""
    person: list[str] = []
    place: list[str] = []
    number: list[str] = []
    for term in specifics:
        if term.startswith("p:"):
            kind = person
        elif term.startswith("n:"):
            kind = place
        elif term.isdigit() and len(term) >= 2:
            kind = number
        else:
            continue
        if rare(term):
            kind.append(term)
    return person, place, number


def _link_features(
    kinds: tuple[list[str], list[str], list[str]],
    size: int,
    source: str,
    other: StoryState,
    cosine: float,
    age_days: float,
) -> tuple[float, ...]:
    """:func:`link_features` given the new story's :func:`_rare_specifics` and its number of
    terms (``size``): what depends on the earlier story only."""
    la = math.log1p(max(0.0, age_days))
    other_vector = other.vector
    person = place = number = 0
    for term in kinds[0]:
        person += term in other_vector
    for term in kinds[1]:
        place += term in other_vector
    for term in kinds[2]:
        number += term in other_vector
    return (
        1.0,
        cosine,
        la,
        cosine * la,
        float(min(person, 2)),
        float(min(place, 2)),
        float(min(number, 2)),
        float(bool(source) and source == other.source),
        float(min(size, len(other_vector)) < THIN_TERMS),
    )


def link_specifics(vector: Mapping[str, float]) -> list[str]:
    """The terms of ``vector`` that :func:`link_features` counts when shared: person names,
    other multiword names and numbers of two or more digits."""
    return [t for t in vector if t.startswith(("p:", "n:")) or (t.isdigit() and len(t) >= 2)]


def link_probability(features: Sequence[float], weights: Sequence[float]) -> float:
    return _sigmoid(_link_score(features, weights))


def _link_score(features: Sequence[float], weights: Sequence[float]) -> float:
    return sum(f * w for f, w in zip(features, weights, strict=True))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# rounding slack of a bound on the link score (scores are sums of nine products of size < 100)
_SCORE_SLACK = 1e-9


def _score_bound(
    weights: Sequence[float], kinds: tuple[list[str], list[str], list[str]], size: int, source: str
) -> tuple[float, float, float, float] | None:
    """For pruning candidates: (c0, wc, wl, wx) such that the link score of a candidate of
    cosine c and log age la is at most ``c0 + wc * c + (wl + wx * c) * la``: the shared
    specifics, same source and thin features at their best for the new story. None for
    weights that are not :data:`LINK_FEATURES`'."""
    if len(weights) != len(LINK_FEATURES):
        return None
    bias, wc, wl, wx, wp, wn, wnum, ws, wt = weights
    c0 = bias
    c0 += max(0.0, wp * min(2, len(kinds[0])))
    c0 += max(0.0, wn * min(2, len(kinds[1])))
    c0 += max(0.0, wnum * min(2, len(kinds[2])))
    c0 += max(0.0, ws) if source else 0.0
    c0 += wt if size < THIN_TERMS else max(0.0, wt)
    return c0, wc, wl, wx


class DevelopmentTracker:
    """Assigns each new story of one topic to a development (see module doc)."""

    def __init__(
        self,
        store: DevelopmentStore | None = None,
        *,
        weights: Sequence[float] | None = LINK_WEIGHTS,
        threshold: float = LINK_THRESHOLD,
        observer: Callable[[str, str, tuple[float, ...]], None] | None = None,
        ignore: Iterable[str] = (),
        ignore_prefixes: Iterable[str] = (),
    ) -> None:
        self.store: DevelopmentStore = store if store is not None else MemoryDevelopmentStore()
        self.weights = tuple(weights) if weights is not None else None
        self.threshold = threshold
        self.observer = observer
        # the topic's own vocabulary (stemmed terms, and stem prefixes): every story of the
        # topic has it, so it tells none of its events apart
        self.ignore = frozenset(ignore)
        self.ignore_prefixes = tuple(ignore_prefixes)

    def _idf(self, term: str, n: int) -> float:
        return idf(self.store.doc_freq(term), n)

    @staticmethod
    def bar(age_days: float) -> float:
        """Similarity needed to join a development whose last story is ``age_days`` old."""
        if age_days > OPEN_DAYS:
            return SIM_FOLLOWUP
        cooling = math.log1p(max(0.0, age_days)) / math.log1p(OPEN_DAYS)
        return SIM_OPEN + 0.5 * (SIM_FOLLOWUP - SIM_OPEN) * cooling

    def nearest(self, story: StoryText, vector: Mapping[str, float]) -> list[tuple[float, str]]:
        """Earlier stories by cosine similarity, best first (only plausible candidates)."""
        store = self.store
        n = store.n_docs()
        if not n:
            return []
        doc_freq = store.doc_freq
        log = math.log
        n1 = 1.0 + n
        # the IDF of each term met, once per call (as :func:`idf`)
        idfs: dict[str, float] = {}
        dfs = {t: doc_freq(t) for t in vector}
        weights = {}
        for t, w in vector.items():
            term_idf = idfs[t] = log(n1 / (1.0 + dfs[t])) + 1.0
            weights[t] = w * term_idf
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        rare_df = max(3.0, RARE_DF_SHARE * n)
        partial: dict[str, float] = defaultdict(float)
        for term, w in weights.items():
            if dfs[term] > rare_df:
                continue
            for sid in store.postings(term):
                partial[sid] += w
        # the TOP_CANDIDATES best, the first met first among equals (as heapq.nlargest); their
        # order does not matter (scored is sorted by similarity, then id)
        best = list(partial)
        if len(best) > TOP_CANDIDATES:
            ranked = sorted(partial.items(), key=itemgetter(1), reverse=True)
            best = [sid for sid, _ in ranked[:TOP_CANDIDATES]]
        published = story.published
        # a second inside FOLLOWUP_DAYS: surely within it, no need to compute the age
        recent = published - timedelta(days=FOLLOWUP_DAYS, seconds=-1)
        get_story = store.story
        candidates = []
        for sid in best:
            other = get_story(sid)
            if other is not None and (
                other.published >= recent or _days(published, other.published) <= FOLLOWUP_DAYS
            ):
                candidates.append(other)
        index: TermIndex | None = getattr(store, "term_index", None)
        if index is not None and sum(len(c.vector) for c in candidates) >= index.MIN_TERMS:
            sims = index.cosines([c.id for c in candidates], weights, norm, n)
        else:
            sims = self._cosines(candidates, weights, norm, n, idfs)
        scored = list(zip(sims, (c.id for c in candidates), strict=True))
        scored.sort(reverse=True)
        return scored

    def _cosines(
        self,
        candidates: Sequence[StoryState],
        weights: Mapping[str, float],
        norm: float,
        n: int,
        idfs: dict[str, float],
    ) -> list[float]:
        """The cosine of each candidate with the query ``weights`` (of norm ``norm``), term
        by term (a store without a :class:`TermIndex`); ``idfs``: IDFs known so far."""
        doc_freq = self.store.doc_freq
        log = math.log
        n1 = 1.0 + n
        get_idf = idfs.get
        get_weight = weights.get
        sims = []
        for other in candidates:
            dot = onorm = 0.0
            for term, w in other.vector.items():
                known = get_idf(term)
                if known is None:
                    known = idfs[term] = log(n1 / (1.0 + doc_freq(term))) + 1.0
                ow = w * known
                onorm += ow * ow
                qw = get_weight(term)
                if qw is not None:
                    dot += ow * qw
            sims.append(dot / (norm * (math.sqrt(onorm) or 1.0)))
        return sims

    def _by_bar(
        self, story: StoryText, near: list[tuple[float, str]]
    ) -> tuple[float, str, str] | None:
        store = self.store
        best: dict[str, tuple[float, str]] = {}
        for sim, sid in near:
            other = store.story(sid)
            if other is not None and sim > best.get(other.development_id, (0.0, ""))[0]:
                best[other.development_id] = (sim, sid)
        ranked = []
        for did, (sim, sid) in best.items():
            dev = store.development(did)
            if dev is not None:
                bar = self.bar(_days(story.published, dev.last_published))
                if sim >= bar:
                    ranked.append((sim - bar, sim, did, sid))
        if not ranked:
            return None
        _, sim, did, sid = max(ranked)
        return sim, did, sid

    def _by_link(
        self, story: StoryText, vector: Mapping[str, float], near: list[tuple[float, str]]
    ) -> tuple[float, str, str] | None:
        store = self.store
        rare_df = max(RARE_SPECIFIC_DF, 0.002 * store.n_docs())

        def rare(term: str) -> bool:
            return store.doc_freq(term) <= rare_df

        best: tuple[float, float, str, str] | None = None
        kinds = _rare_specifics(link_specifics(vector), rare)
        size = len(vector)
        source, published = story.source, story.published
        get_story = store.story
        weights, threshold, observer = self.weights, self.threshold, self.observer
        # exact pruning (the observer sees every pair): a candidate whose score cannot reach
        # the threshold's, nor beat the best so far, cannot change the result
        bound = None
        cut = -math.inf
        if weights is not None and observer is None and 0.0 < threshold < 1.0:
            bound = _score_bound(weights, kinds, size, source)
            cut = math.log(threshold / (1.0 - threshold)) - _SCORE_SLACK
        for sim, sid in near:
            other = get_story(sid)
            if other is None:
                continue
            age = _days(published, other.published)
            if bound is not None:
                c0, wc, wl, wx = bound
                if c0 + wc * sim + (wl + wx * sim) * math.log1p(max(0.0, age)) < cut:
                    continue
            feats = _link_features(kinds, size, source, other, sim, age)
            if observer is not None:
                observer(story.id, sid, feats)
            if weights is None:
                continue
            z = _link_score(feats, weights)
            p = _sigmoid(z)
            if p >= threshold and (best is None or p > best[0]):
                best = (p, sim, other.development_id, sid)
                cut = max(cut, z - _SCORE_SLACK)
        return None if best is None else (best[1], best[2], best[3])

    def replay(
        self,
        story: StoryText,
        development_id: str,
        vector: Mapping[str, float],
    ) -> None:
        """Put back a story assigned earlier (from the store, at start): the state changes
        as :meth:`assign` made them, without deciding anything."""
        store = self.store
        dev = store.development(development_id)
        if dev is None:
            dev = DevelopmentState(development_id, story.published, story.published, 0)
        last = max(dev.last_published, story.published)
        store.save_development(replace(dev, last_published=last, size=dev.size + 1))
        title, body = text_info(story.title), text_info(story.text)
        store.add_seen_words(development_id, _seen_words(title, body))
        store.add_phrases(development_id, title.shingles() | body.shingles())
        store.add_story(StoryState(story.id, story.published, development_id, vector, story.source))

    def revise(self, development_id: str, title: str, text: str) -> tuple[str, ...]:
        """A story of the development changed (a new revision): the sentences of `title`
        and `text` (what the revision added) not covered yet; they count as covered now."""
        seen = self.store.seen_words(development_id)
        what = new_sentences(title, text, set(seen))
        self.store.add_seen_words(development_id, _seen_words(text_info(title), text_info(text)))
        return what

    def assign(
        self, story: StoryText, *, duplicate_of: str | None = None, template: bool = False
    ) -> Assignment:
        """Assign ``story`` (newer than every story seen so far) to a development.

        ``duplicate_of``: an earlier story it duplicates, whose development it joins.
        ``template``: its body is site boilerplate, so only the headline describes it.
        """
        store = self.store
        body = "" if template else story.text
        title_info, body_info = text_info(story.title), text_info(body)

        def recurrent(sh: int) -> bool:
            return store.phrase_developments(sh) >= 2

        drop = title_info.recurrent_words(recurrent) | body_info.recurrent_words(recurrent)
        vector = term_counts(story.title, body).vector(drop)
        if self.ignore or self.ignore_prefixes:
            vector = {
                t: w
                for t, w in vector.items()
                if t not in self.ignore and not t.startswith(self.ignore_prefixes or ("\0",))
            }
        dev_id: str | None = None
        similarity = 0.0
        matched: str | None = None
        original = store.story(duplicate_of) if duplicate_of else None
        if original is not None:
            dev_id, similarity, matched = original.development_id, 1.0, original.id
        else:
            near = self.nearest(story, vector)
            linked = None
            if self.weights is not None or self.observer is not None:
                linked = self._by_link(story, vector, near)
            picked = linked if self.weights is not None else self._by_bar(story, near)
            if picked is not None:
                similarity, dev_id, matched = picked
        seen_now = _seen_words(title_info, body_info)
        if dev_id is None:
            dev_id = story.id
            store.save_development(DevelopmentState(dev_id, story.published, story.published, 1))
            what = new_sentences(story.title, body, set())
            is_new = True
        else:
            dev = store.development(dev_id)
            assert dev is not None
            last = max(dev.last_published, story.published)
            store.save_development(replace(dev, last_published=last, size=dev.size + 1))
            what = new_sentences(story.title, body, store.seen_words(dev_id))
            is_new = False
        store.add_seen_words(dev_id, seen_now)
        store.add_phrases(dev_id, title_info.shingles() | body_info.shingles())
        store.add_story(StoryState(story.id, story.published, dev_id, vector, story.source))
        return Assignment(dev_id, is_new, similarity, what, matched)
