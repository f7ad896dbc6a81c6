"""The link model: whether a new story belongs to the development of an earlier one.

A small logistic model over a (new story, earlier story) pair (:func:`link_features`,
:data:`LINK_WEIGHTS`): the cosine, log(1 + days apart) and their product, how many rare
(document frequency at most ``RARE_SPECIFIC_DF`` or 0.2% of the stream) *person* names and
other multiword names (places, organisations) the two share, how many ages of people, whether
they come from the same source, whether either is thin (under ``THIN_TERMS`` terms, e.g. a
headline with a boilerplate body), whether the two name the same day, the same clock time
and the same street (:mod:`monitor.eventfacts`: a follow-up names the day of the shooting it
follows), and whether both name streets, or ages, and none in common (two incidents; ages
only when they share no person: a follow-up names the suspect's age, the first report the
victim's). A person's
full name links a court follow-up months later, while a city is shared by unrelated
incidents; the age term makes an old development need more evidence. The
story joins the development of the most probable link if that probability is at least
``LINK_THRESHOLD``, else opens a new one. The fourteen weights were fitted offline
(`bench/fit_links.py`, L2-regularised logistic regression over every (story, candidate) pair) on
the first half of the labelled stream only, and the threshold chosen there (alert F1 was flat
within 0.003 for 0.3-0.45; 0.4 keeps more alerts than 0.3, as missing a new development is
worse for a monitor than an extra alert); the second half was only scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from monitor.devstate import StoryState
from monitor.eventfacts import days_meet

THIN_TERMS = 12
RARE_SPECIFIC_DF = 5
# Logistic link model over LINK_FEATURES, fitted by bench/fit_links.py on the first half of the
# labelled development stream (2013-01 to 2015-08) only; LINK_THRESHOLD chosen there too.
LINK_WEIGHTS: tuple[float, ...] | None = (
    -3.712,  # bias
    10.394,  # cos
    -0.770,  # log_age
    0.008,  # cos_x_log_age
    1.845,  # person
    1.223,  # place
    1.678,  # ages
    0.573,  # same_source
    -0.198,  # thin
    2.373,  # same_day
    1.048,  # same_time
    2.819,  # same_street
    -1.189,  # streets_differ
    -0.967,  # ages_differ
)
LINK_THRESHOLD = 0.4


LINK_FEATURES = (
    "bias",
    "cos",
    "log_age",
    "cos_x_log_age",
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
)


def link_features(
    story: StoryState,
    other: StoryState,
    cosine: float,
    age_days: float,
    rare: Callable[[str], bool],
) -> tuple[float, ...]:
    """Features of a (new story, earlier story) pair, in the order of :data:`LINK_FEATURES`."""
    kinds = rare_specifics(link_specifics(story.vector), rare)
    return pair_features(kinds, len(story.vector), story.source, other, cosine, age_days, story)


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
    size: int,
    source: str,
    other: StoryState,
    cosine: float,
    age_days: float,
    story: StoryState,
) -> tuple[float, ...]:
    """:func:`link_features` given the new story's :func:`rare_specifics` and its number of
    terms (``size``): what depends on the earlier story only."""
    la = math.log1p(max(0.0, age_days))
    other_vector = other.vector
    person = place = 0
    for term in kinds[0]:
        person += term in other_vector
    for term in kinds[1]:
        place += term in other_vector
    return (
        1.0,
        cosine,
        la,
        cosine * la,
        float(min(person, 2)),
        float(min(place, 2)),
        float(min(len(story.ages & other.ages), 2)),
        float(bool(source) and source == other.source),
        float(min(size, len(other_vector)) < THIN_TERMS),
        float(
            bool(story.days or other.days)  # neither names a day: no dates to compute
            and days_meet(_day(story), story.days, _day(other), other.days)
        ),
        float(bool(story.times and other.times and story.times & other.times)),
        *_meet(story.streets, other.streets),
        0.0 if person else _differ(story.ages, other.ages),
    )


def _meet(mine: frozenset[str], theirs: frozenset[str]) -> tuple[float, float]:
    """(both name one of them, both name some and none in common)."""
    if not (mine and theirs):
        return 0.0, 0.0
    return (1.0, 0.0) if mine & theirs else (0.0, 1.0)


def _differ(mine: frozenset[int], theirs: frozenset[int]) -> float:
    return float(bool(mine and theirs and not mine & theirs))


def _day(story: StoryState) -> int:
    return story.published.date().toordinal()


def link_specifics(vector: Mapping[str, float]) -> list[str]:
    """The terms of ``vector`` that :func:`link_features` counts when shared: person names
    and other multiword names."""
    return [t for t in vector if t.startswith(("p:", "n:"))]


def link_probability(features: Sequence[float], weights: Sequence[float]) -> float:
    return sigmoid(link_score(features, weights))


def link_score(features: Sequence[float], weights: Sequence[float]) -> float:
    return sum(f * w for f, w in zip(features, weights, strict=True))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# rounding slack of a bound on the link score (scores are sums of fourteen products of size < 100)
SCORE_SLACK = 1e-9


def score_bound(
    weights: Sequence[float],
    kinds: tuple[list[str], list[str]],
    size: int,
    source: str,
    story: StoryState,
) -> tuple[float, float, float, float] | None:
    """For pruning candidates: (c0, wc, wl, wx) such that the link score of a candidate of
    cosine c and log age la is at most ``c0 + wc * c + (wl + wx * c) * la``: the shared
    specifics, same source and thin features at their best for the new story. None for
    weights that are not :data:`LINK_FEATURES`'."""
    if len(weights) != len(LINK_FEATURES):
        return None
    bias, wc, wl, wx, wp, wn, wage, ws, wt, wday, wtime, wst, wsd, wad = weights
    c0 = bias
    c0 += max(0.0, wp * min(2, len(kinds[0])))
    c0 += max(0.0, wn * min(2, len(kinds[1])))
    c0 += max(0.0, wage * min(2, len(story.ages)))
    c0 += max(0.0, ws) if source else 0.0
    c0 += wt if size < THIN_TERMS else max(0.0, wt)
    c0 += max(0.0, wday)  # an earlier story may name the new one's day, whatever it names
    c0 += max(0.0, wtime) if story.times else 0.0
    c0 += max(0.0, wst, wsd) if story.streets else 0.0
    c0 += max(0.0, wad) if story.ages else 0.0
    return c0, wc, wl, wx
