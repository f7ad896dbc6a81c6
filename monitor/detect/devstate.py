"""A topic tracker's state: the stories and developments it holds, behind
:class:`DevelopmentStore` so that it can move to a database; :class:`MemoryDevelopmentStore`
keeps it in memory, with a :class:`TermIndex` of the stories' vectors for scoring many
candidates at once."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from monitor.detect.eventfacts import NO_FACTS, EventFacts
from monitor.detect.evidence import GeneralFacts


@dataclass(frozen=True, slots=True)
class StoryState:
    id: str
    published: datetime
    development_id: str
    vector: Mapping[str, float]  # term -> weight before IDF
    source: str = ""  # the publisher's host, for the same-source link feature
    facts: EventFacts = NO_FACTS  # days, times, ages, streets, stage (the incident evidence)
    general: GeneralFacts | None = None  # figures, quotes, headline (the general evidence)


@dataclass(frozen=True, slots=True)
class DevelopmentState:
    id: str
    first_published: datetime
    last_published: datetime
    size: int


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

    def seen_words(self, development_id: str) -> set[str]:
        return self._seen.get(development_id, set())

    def add_seen_words(self, development_id: str, seen: set[str]) -> None:
        self._seen[development_id] |= seen
