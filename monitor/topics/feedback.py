"""Relevance feedback and negative seeds: teaching a topic which stories it should not match
(and which it should). Pure: data classes and functions, no I/O.

A user marks a story (or the alert it made) "relevant" or "not relevant" for a topic; the
store keeps the verdict with the story's title and text (:class:`Feedback`), so that it
still applies once the story itself is pruned. The detection stage reads a topic's feedback
at start (and again whenever the store's feedback changes) into a :class:`FeedbackSet`: one
unit term vector per verdict (:func:`monitor.topics.profile.story_vector`, the weighting of the
seed profiles), and after :func:`monitor.topics.match.match_topics` calls :func:`apply` on each
later story. Rocchio-style, with the marked stories as the positive and negative examples,
per topic, nearest example first:

The design in full: docs/modules.md, `monitor/topics/feedback.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.clock import iso
from monitor.models import TopicMatch
from monitor.topics.compiled import Topic, Topics
from monitor.topics.profile import StoryVector, cosine, story_vector

VERDICTS = ("relevant", "not_relevant")
FEEDBACK_THRESHOLD = 0.5  # cosine to a marked story at which its verdict applies: see above


class FeedbackError(ValueError):
    """Feedback that cannot be taken: the message says what is wrong."""


def check_verdict(value: Any) -> str:
    """`value` as a verdict, or FeedbackError naming the allowed ones."""
    if value not in VERDICTS:
        raise FeedbackError(f"verdict must be one of {', '.join(VERDICTS)}, not {value!r}")
    return str(value)


@dataclass(frozen=True, slots=True)
class Feedback:
    """One stored verdict on one story for one topic."""

    id: int
    topic_id: str
    story_id: int | None  # None once the story is pruned (its title and text stay)
    verdict: str  # relevant | not_relevant
    title: str
    text: str
    created_at: float
    alert_id: str | None = None  # the alert it was given on, if any

    def as_dict(self) -> dict[str, Any]:
        """The API's and the CLI's view (the text left out: it can be long)."""
        return {
            "id": self.id,
            "topic_id": self.topic_id,
            "story_id": self.story_id,
            "alert_id": self.alert_id,
            "verdict": self.verdict,
            "title": self.title,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Example:
    """A marked story as the matcher compares it: its feedback id and unit term vector."""

    feedback_id: int
    vector: StoryVector


@dataclass(frozen=True, slots=True)
class TopicFeedback:
    relevant: tuple[Example, ...] = ()
    not_relevant: tuple[Example, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedbackSet:
    """Every topic's feedback, compiled (each marked story's vector computed once)."""

    by_topic: Mapping[str, TopicFeedback]

    @classmethod
    def build(cls, rows: Iterable[Feedback]) -> FeedbackSet:
        lists: dict[str, tuple[list[Example], list[Example]]] = {}
        for row in rows:
            vec = story_vector(row.title, row.text)
            if not vec.weights:  # no content words: like nothing
                continue
            good, bad = lists.setdefault(row.topic_id, ([], []))
            (good if row.verdict == "relevant" else bad).append(Example(row.id, vec))
        return cls({t: TopicFeedback(tuple(g), tuple(b)) for t, (g, b) in lists.items()})

    def __len__(self) -> int:
        return sum(len(f.relevant) + len(f.not_relevant) for f in self.by_topic.values())


EMPTY = FeedbackSet({})


@dataclass(frozen=True, slots=True)
class Decision:
    """Why feedback or negative seeds changed a topic's match of a story."""

    topic_id: str
    action: str  # dropped | added
    reason: str  # not_relevant | relevant (feedback) | exclude_seeds
    similarity: float  # to the nearest marked story, or to the negative profile
    against: float  # what it beat: nearest story of the other verdict, or the own profile
    feedback_id: int | None = None  # the nearest marked story's feedback

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic_id": self.topic_id,
            "action": self.action,
            "reason": self.reason,
            "similarity": round(self.similarity, 4),
            "against": round(self.against, 4),
            "feedback_id": self.feedback_id,
        }


def dot(a: StoryVector, b: StoryVector) -> float:
    """Cosine of two unit term vectors (a sparse dot product over the smaller one)."""
    small, large = (a, b) if len(a.weights) <= len(b.weights) else (b, a)
    lw = large.weights
    return min(1.0, sum(w * lw[t] for t, w in small.weights.items() if t in lw))


def nearest(examples: Sequence[Example], vec: StoryVector) -> tuple[float, int | None]:
    """(highest cosine, its feedback id) of `vec` with `examples`; (0, None) without any."""
    best, which = 0.0, None
    for ex in examples:
        sim = dot(ex.vector, vec)
        if sim > best:
            best, which = sim, ex.feedback_id
    return best, which


def needs_vector(topics: Iterable[Topic], feedback: FeedbackSet) -> bool:
    """Whether any topic has feedback or negative seeds (else apply has nothing to do); for
    the compiled `Topics` without a look at each topic."""
    if feedback.by_topic:
        return True
    if isinstance(topics, Topics):
        return topics.excluding
    return any(t.exclude_profile is not None for t in topics)


def apply(
    topics: Sequence[Topic],
    feedback: FeedbackSet,
    title: str,
    text: str,
    matches: Sequence[TopicMatch],
    threshold: float = FEEDBACK_THRESHOLD,
    vector: StoryVector | None = None,
) -> tuple[list[TopicMatch], list[Decision]]:
    """The matches of a story (title, text: what match_topics read) once each topic's
    feedback and negative seeds are applied, in the topics' order, and the decisions that
    changed them (`vector`: the story's, if the caller has it already)."""
    if not needs_vector(topics, feedback):
        return list(matches), []
    matched = {m.topic_id: m for m in matches}
    vec = vector
    out: list[TopicMatch] = []
    decisions: list[Decision] = []
    for topic in topics:
        fb = feedback.by_topic.get(topic.id)
        exclude = topic.exclude_profile
        m = matched.get(topic.id)
        if fb is None and (exclude is None or m is None):
            if m is not None:
                out.append(m)
            continue
        if vec is None:
            vec = story_vector(title, text)
        pos, pos_id = nearest(fb.relevant, vec) if fb else (0.0, None)
        neg, neg_id = nearest(fb.not_relevant, vec) if fb else (0.0, None)
        if pos >= threshold and pos >= neg:  # like a story marked relevant: matched
            if m is None:
                own = cosine(topic.profile, vec) if topic.profile is not None else None
                m = TopicMatch(topic_id=topic.id, terms=(), similarity=own)
                decisions.append(Decision(topic.id, "added", "relevant", pos, neg, pos_id))
            out.append(m)
            continue
        if m is None:
            continue
        if neg >= threshold and neg > pos:
            decisions.append(Decision(topic.id, "dropped", "not_relevant", neg, pos, neg_id))
            continue
        if exclude is not None:
            against = cosine(exclude, vec)
            own = cosine(topic.profile, vec) if topic.profile is not None else 0.0
            if against >= topic.profile_threshold and against > own:
                decisions.append(Decision(topic.id, "dropped", "exclude_seeds", against, own))
                continue
        out.append(m)
    return out, decisions
