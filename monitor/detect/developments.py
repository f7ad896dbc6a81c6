"""Online clustering of a topic's stories into developments (one real-world event each).

Method: nearest-neighbour linking in a TF-IDF space, first-story-detection style, with a
learned link model deciding.

The design in full: docs/modules.md, `monitor/detect/developments.py`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import itemgetter

from monitor.detect.devstate import (
    DevelopmentState,
    DevelopmentStore,
    MemoryDevelopmentStore,
    StoryState,
    TermIndex,
)
from monitor.detect.eventfacts import read_facts
from monitor.detect.evidence import (
    ACTOR_SHARE,
    EVIDENCE_SETS,
    RECENCY_HOURS,
    GeneralModel,
    general_facts,
    general_features,
    load_general_model,
)
from monitor.detect.linkmodel import (
    RARE_SPECIFIC_DF,
    LinkModel,
    day_shares,
    eligible,
    link_specifics,
    load_model,
    pair_features,
    rare_specifics,
    rare_words,
)
from monitor.stories.dedup import StoryText
from monitor.stories.textfeatures import (
    TextInfo,
    content_words,
    term_counts,
    text_info,
    url_words,
)

OPEN_DAYS = 7.0
FOLLOWUP_DAYS = 730.0
SIM_OPEN = 0.12
SIM_FOLLOWUP = 0.5
RARE_DF_SHARE = 0.05
TOP_CANDIDATES = 100
LINK_CANDIDATES = 30
COVERED_SHARE = 0.6
LATE_STORIES = 16  # stories older than the news cycle met before a common word's walk stops


@dataclass(frozen=True, slots=True)
class Assignment:
    development_id: str
    is_new: bool
    similarity: float  # cosine with the closest earlier story (1.0 for a duplicate)
    what_is_new: tuple[str, ...]
    matched_story: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """What :meth:`DevelopmentTracker.decide` found for a story, not stored yet."""

    story: StoryText
    body: str  # the body it is read with ("" for a site template)
    state: StoryState  # its vector and facts, of no development yet
    development_id: str | None = None  # the development it links to; None: none
    similarity: float = 0.0  # as Assignment.similarity
    matched_story: str | None = None


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


def _story_state(
    story: StoryText,
    development_id: str,
    vector: Mapping[str, float],
    body: str,
    evidence: str = "incident",
) -> StoryState:
    """What the tracker keeps of a story: its vector and the facts its evidence set reads (for
    incidents, the days, clock times, ages and streets its headline and body name, and its
    stage: monitor/detect/eventfacts.py; for general news, its figures, quotes and headline words:
    monitor/detect/evidence.py)."""
    if evidence == "general":
        general = general_facts(story.title, body)
        return StoryState(
            story.id, story.published, development_id, vector, story.source, general=general
        )
    facts = read_facts(story.title, body, story.published.date())
    return StoryState(story.id, story.published, development_id, vector, story.source, facts)


def _days(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds() / 86400.0


class Shipped:
    """The marker of the link model the package ships, as a tracker's default."""


SHIPPED = Shipped()


class DevelopmentTracker:
    """Assigns each new story of one topic to a development (see module doc)."""

    def __init__(
        self,
        store: DevelopmentStore | None = None,
        *,
        model: LinkModel | Shipped | None = SHIPPED,
        threshold: float | None = None,
        observer: Callable[[str, str, tuple[float, ...]], None] | None = None,
        ignore: Iterable[str] = (),
        ignore_prefixes: Iterable[str] = (),
        evidence: str = "incident",
        general: GeneralModel | None = None,
    ) -> None:
        if evidence not in EVIDENCE_SETS:
            raise ValueError(f"evidence {evidence!r}: not one of {', '.join(EVIDENCE_SETS)}")
        self.store: DevelopmentStore = store if store is not None else MemoryDevelopmentStore()
        self.evidence = evidence
        self.general = (
            general
            if general is not None
            else (load_general_model() if evidence == "general" else None)
        )
        self.model = load_model() if isinstance(model, Shipped) else model
        self.threshold = (
            threshold if threshold is not None else self.model.threshold if self.model else 0.5
        )
        self.observer = observer
        # the topic's own vocabulary (stemmed terms, and stem prefixes): every story of the
        # topic has it, so it tells none of its events apart
        self.ignore = frozenset(ignore)
        self.ignore_prefixes = tuple(ignore_prefixes)
        # general news: a word too common to bring candidates from the whole store still
        # brings those of the news cycle (several reports of one event share its words)
        self.cycle_hours = RECENCY_HOURS if evidence == "general" else None

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
        cycle = self.cycle_hours
        since = story.published - timedelta(hours=cycle) if cycle else None
        get = store.story
        for term, w in weights.items():
            if dfs[term] <= rare_df:
                for sid in store.postings(term):
                    partial[sid] += w
            elif since is not None:
                # a common word brings the stories of the news cycle only: its postings are
                # in the order stories came (publication order, but for a late story now and
                # then), walked from the newest until LATE_STORIES older ones were met
                older = 0
                for sid in reversed(store.postings(term)):
                    other = get(sid)
                    if other is None or other.published < since:
                        older += 1
                        if older > LATE_STORIES:
                            break
                    else:
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
        self, story: StoryText, state: StoryState, near: list[tuple[float, str]]
    ) -> tuple[float, str, str] | None:
        """The most probable link among the ``LINK_CANDIDATES`` nearest stories, if at least
        the threshold: (cosine, development id, story id)."""
        store = self.store
        rare_df = max(RARE_SPECIFIC_DF, 0.002 * store.n_docs())

        def rare(term: str) -> bool:
            return store.doc_freq(term) <= rare_df

        kinds = rare_specifics(link_specifics(state.vector), rare)
        words = rare_words(state.vector, store.doc_freq, store.n_docs())
        published = story.published
        get_story = store.story
        observer = self.observer
        others: list[StoryState] = []
        rows: list[tuple[float, ...]] = []
        sims: list[float] = []
        best_sim = near[0][0] if near else 0.0
        for sim, sid in near[:LINK_CANDIDATES]:
            other = get_story(sid)
            if other is None:
                continue
            age = _days(published, other.published)
            feats = pair_features(kinds, other, sim, age, state, len(rows), best_sim, words)
            others.append(other)
            rows.append(feats)
            sims.append(sim)
        rows = day_shares(rows)
        if observer is not None:
            for other, feats in zip(others, rows, strict=True):
                observer(story.id, other.id, feats)
        if self.model is None or not rows:
            return None
        keep = [i for i, row in enumerate(rows) if eligible(row)]
        if not keep:
            return None
        probs = self.model.probabilities([rows[i] for i in keep])
        at = max(range(len(keep)), key=probs.__getitem__)  # the first among equals
        if probs[at] < self.threshold:
            return None
        best = keep[at]
        return sims[best], others[best].development_id, others[best].id

    def _by_general(
        self, story: StoryText, state: StoryState, near: list[tuple[float, str]]
    ) -> tuple[float, str, str] | None:
        """The general evidence set (monitor/detect/evidence.py): the most probable link among the
        ``LINK_CANDIDATES`` nearest stories, if at least the model's threshold."""
        model = self.general
        assert model is not None and state.general is not None
        store = self.store
        cut = ACTOR_SHARE * store.n_docs() + 2

        def rare_name(term: str) -> bool:
            return store.doc_freq(term) <= cut

        best_sim = near[0][0] if near else 0.0
        found: tuple[float, float, str, str] | None = None
        for rank, (sim, sid) in enumerate(near[:LINK_CANDIDATES]):
            other = store.story(sid)
            if other is None or other.general is None:
                continue
            hours = (story.published - other.published).total_seconds() / 3600.0
            feats = general_features(
                state.general, other.general, state.vector, other.vector, sim, hours, rank,
                best_sim, rare_name,
            )  # fmt: skip
            if self.observer is not None:
                self.observer(story.id, other.id, feats)
            p = model.probability(feats)
            if found is None or p > found[0]:
                found = (p, sim, other.development_id, other.id)
        if found is None or found[0] < model.threshold:
            return None
        return found[1], found[2], found[3]

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
        store.add_story(_story_state(story, development_id, vector, story.text, self.evidence))

    def revise(self, development_id: str, title: str, text: str) -> tuple[str, ...]:
        """A story of the development changed (a new revision): the sentences of `title`
        and `text` (what the revision added) not covered yet; they count as covered now."""
        seen = self.store.seen_words(development_id)
        what = new_sentences(title, text, set(seen))
        self.store.add_seen_words(development_id, _seen_words(text_info(title), text_info(text)))
        return what

    def assign(
        self,
        story: StoryText,
        *,
        duplicate_of: str | None = None,
        template: bool = False,
        may_open: bool = True,
    ) -> Assignment:
        """Assign ``story`` (newer than every story seen so far) to a development:
        :meth:`decide`, then :meth:`commit`.

        ``duplicate_of``: an earlier story it duplicates, whose development it joins.
        ``template``: its body is site boilerplate, so only the headline describes it.
        ``may_open``: False for a story that may join a development but not open one (its
        relevance rests on too little): unless it links, it is left out (development id "").
        """
        link = self.decide(story, duplicate_of=duplicate_of, template=template)
        return self.commit(link, may_open=may_open)

    def decide(
        self, story: StoryText, *, duplicate_of: str | None = None, template: bool = False
    ) -> Link:
        """Which development ``story`` links to, if any (arguments as :meth:`assign`);
        changes nothing: :meth:`commit` stores the decision."""
        store = self.store
        body = "" if template else story.text
        slug = url_words(story.url)  # counted as body words; never "what is new"
        vector = term_counts(story.title, f"{body}\n{slug}" if slug else body).vector()
        if self.ignore or self.ignore_prefixes:
            vector = {
                t: w
                for t, w in vector.items()
                if t not in self.ignore and not t.startswith(self.ignore_prefixes or ("\0",))
            }
        state = _story_state(story, "", vector, body, self.evidence)
        original = store.story(duplicate_of) if duplicate_of else None
        if original is not None:
            return Link(story, body, state, original.development_id, 1.0, original.id)
        near = self.nearest(story, vector)
        if self.general is not None:
            picked = self._by_general(story, state, near)
        else:
            linked = None
            if self.model is not None or self.observer is not None:
                linked = self._by_link(story, state, near)
            picked = linked if self.model is not None else self._by_bar(story, near)
        if picked is None:
            return Link(story, body, state)
        similarity, dev_id, matched = picked
        return Link(story, body, state, dev_id, similarity, matched)

    def commit(self, link: Link, *, may_open: bool = True) -> Assignment:
        """Store what :meth:`decide` decided (nothing assigned in between): the story joins
        its development, or opens one if it links to none and ``may_open`` (else it is left
        out: development id "")."""
        store = self.store
        story, body, dev_id = link.story, link.body, link.development_id
        if dev_id is None and not may_open:
            return Assignment("", False, 0.0, ())
        seen_now = _seen_words(text_info(story.title), text_info(body))
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
        store.add_story(replace(link.state, development_id=dev_id))
        return Assignment(dev_id, is_new, link.similarity, what, link.matched_story)
