"""The link model: whether a new story belongs to the development of an earlier one.

The design in full: docs/modules.md, `monitor/detect/linkmodel.py`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from monitor.detect.devstate import StoryState
from monitor.detect.eventfacts import ages_differ, days_meet, streets_meet

THIN_TERMS = 12
RARE_SPECIFIC_DF = 5
RARE_WORD_SHARE = 0.01  # a word in at most 1% of the stream's stories (and 2 more) is rare
MODEL_PATH = Path(__file__).with_name("linkmodel.json")

LINK_FEATURES = (
    "cos",
    "log_age",
    "person",
    "place",
    "ages",
    "same_source",
    "thin",
    "same_day",
    "same_time",
    "same_street",
    "streets_differ",
    "ages_differ",
    "stage",
    "other_stage",
    "rank",
    "cos_gap",
    "rare_words",
)


@dataclass(frozen=True, slots=True)
class LinkModel:
    """Depth-2 trees over :data:`LINK_FEATURES`: the score of a pair is ``base`` plus, for each
    tree, the leaf its features reach (a split goes right when the feature is above its
    threshold); the probability is the logistic of the score."""

    features: tuple[str, ...]
    base: float
    threshold: float
    # one row per tree: (root feature, left child's feature, right child's feature)
    split_features: npt.NDArray[np.intp]
    split_thresholds: npt.NDArray[np.float64]  # the same shape: their thresholds
    leaves: npt.NDArray[np.float64]  # one row per tree: left-left, left-right, right-left, ...

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> LinkModel:
        features = tuple(str(f) for f in data["features"])  # type: ignore[attr-defined]
        if features != LINK_FEATURES:
            raise ValueError(f"link model features {features} are not {LINK_FEATURES}")
        trees = np.asarray(data["trees"], dtype=np.float64)
        if trees.ndim != 2 or trees.shape[1] != 10:
            raise ValueError("link model trees: 10 numbers a tree expected")
        return cls(
            features,
            float(data["base"]),  # type: ignore[arg-type]
            float(data["threshold"]),  # type: ignore[arg-type]
            trees[:, 0:6:2].astype(np.intp),
            trees[:, 1:6:2].copy(),
            trees[:, 6:10].copy(),
        )

    def to_dict(self) -> dict[str, object]:
        trees = np.empty((len(self.leaves), 10))
        trees[:, 0:6:2] = self.split_features
        trees[:, 1:6:2] = self.split_thresholds
        trees[:, 6:10] = self.leaves
        return {
            "features": list(self.features),
            "base": self.base,
            "threshold": self.threshold,
            "trees": trees.tolist(),
        }

    def scores(self, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The score (log odds) of each row of features."""
        f, t = self.split_features, self.split_thresholds
        right = rows[:, f[:, 0]] > t[:, 0]
        second = np.where(right, rows[:, f[:, 2]] > t[:, 2], rows[:, f[:, 1]] > t[:, 1])
        leaf = 2 * right + second
        values = np.take_along_axis(self.leaves[None, :, :], leaf[:, :, None], axis=2)
        out: npt.NDArray[np.float64] = self.base + values[:, :, 0].sum(axis=1)
        return out

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        if not rows:
            return []
        z = np.clip(self.scores(np.asarray(rows, dtype=np.float64)), -30.0, 30.0)
        out: list[float] = (1.0 / (1.0 + np.exp(-z))).tolist()
        return out


# A pair needs this cosine, a specific or a day of its own in common to be weighed (eligible)
MIN_COSINE = 0.15
_COS = LINK_FEATURES.index("cos")
_SPECIFICS = tuple(
    LINK_FEATURES.index(f) for f in ("person", "place", "ages", "same_time", "same_street")
)
_SAME_DAY = LINK_FEATURES.index("same_day")


def eligible(features: Sequence[float]) -> bool:
    """Whether a pair may link at all: some text in common (a cosine of ``MIN_COSINE``) or a
    specific (a rare name, an age, a clock time, a street), or a day that no other candidate
    meets (``same_day`` of 1 after :func:`day_shares`). A day several candidates meet is not
    enough alone: in a busy topic several developments happen on one day."""
    return (
        features[_COS] >= MIN_COSINE
        or any(features[i] for i in _SPECIFICS)
        or features[_SAME_DAY] >= 1.0
    )


def day_shares(rows: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    """``same_day`` as a share: 1 / (how many of the candidates meet the story's day). A day
    every recent story names (a busy topic: five developments on a Tuesday) tells none of
    them apart, as a word every story has (its IDF) does not; in a quiet stream the one
    earlier story naming the day is strong evidence."""
    meeting = sum(1 for row in rows if row[_SAME_DAY])
    if meeting <= 1:
        return rows
    share = 1.0 / meeting
    return [(*r[:_SAME_DAY], share, *r[_SAME_DAY + 1 :]) if r[_SAME_DAY] else r for r in rows]


@functools.cache
def load_model(path: Path = MODEL_PATH) -> LinkModel:
    """The model the package ships (read once, when first asked for)."""
    return LinkModel.from_dict(json.loads(path.read_text(encoding="utf-8")))


def link_features(
    story: StoryState,
    other: StoryState,
    cosine: float,
    age_days: float,
    rare: Callable[[str], bool],
    rank: int = 0,
    best_cosine: float | None = None,
    rare_words: Mapping[str, float] | None = None,
) -> tuple[float, ...]:
    """Features of a (new story, earlier story) pair, in the order of :data:`LINK_FEATURES`
    (``rank``: the earlier story's place among the new one's candidates by cosine, 0 the
    nearest; ``best_cosine``: the nearest one's cosine, by default this one's;
    ``rare_words``: the new story's rare words and their IDF, see :func:`rare_words`)."""
    kinds = rare_specifics(link_specifics(story.vector), rare)
    best = cosine if best_cosine is None else best_cosine
    words = rare_words or {}
    return pair_features(kinds, other, cosine, age_days, story, rank, best, words)


def rare_words(
    vector: Mapping[str, float], doc_freq: Callable[[str], int], n_docs: int
) -> dict[str, float]:
    """The words of ``vector`` (not names) in at most ``RARE_WORD_SHARE`` of the ``n_docs``
    stories (and 2 more), with their IDF: "dice", "Kool-Aid", "barbershop". Two stories that
    share them describe the same particulars."""
    cut = RARE_WORD_SHARE * n_docs + 2
    out: dict[str, float] = {}
    for term in vector:
        if not term.startswith(("p:", "n:")):
            df = doc_freq(term)
            if df <= cut:
                out[term] = math.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    return out


def rare_specifics(
    specifics: Iterable[str], rare: Callable[[str], bool]
) -> tuple[list[str], list[str]]:
    """The rare ones of :func:`link_specifics`: (person names, other names)."""
    person: list[str] = []
    place: list[str] = []
    for term in specifics:
        if rare(term):
            (person if term.startswith("p:") else place).append(term)
    return person, place


def pair_features(
    kinds: tuple[list[str], list[str]],
    other: StoryState,
    cosine: float,
    age_days: float,
    story: StoryState,
    rank: int,
    best_cosine: float,
    words: Mapping[str, float],
) -> tuple[float, ...]:
    """:func:`link_features` given the new story's :func:`rare_specifics` and
    :func:`rare_words`."""
    other_vector = other.vector
    person = place = 0
    for term in kinds[0]:
        person += term in other_vector
    for term in kinds[1]:
        place += term in other_vector
    shared = 0.0
    for term, weight in words.items():
        if term in other_vector:
            shared += weight
    source = story.source
    mine, theirs = story.facts, other.facts
    return (
        cosine,
        math.log1p(abs(age_days)),
        float(min(person, 2)),
        float(min(place, 2)),
        float(min(len(mine.ages & theirs.ages), 2)),
        float(bool(source) and source == other.source),
        float(min(len(story.vector), len(other_vector)) < THIN_TERMS),
        float(
            bool(mine.days or theirs.days)  # neither names a day: no dates to compute
            and days_meet(_day(story), mine.days, _day(other), theirs.days)
        ),
        float(bool(mine.times and theirs.times and mine.times & theirs.times)),
        *streets_meet(mine.streets, theirs.streets),
        0.0 if person else ages_differ(mine.ages, theirs.ages),
        float(mine.stage),
        float(theirs.stage),
        float(rank),
        best_cosine - cosine,
        shared,
    )


def _day(story: StoryState) -> int:
    return story.published.date().toordinal()


def link_specifics(vector: Mapping[str, float]) -> list[str]:
    """The terms of ``vector`` that :func:`link_features` counts when shared: person names
    and other multiword names."""
    return [t for t in vector if t.startswith(("p:", "n:"))]
