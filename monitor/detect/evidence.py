"""Evidence sets: what decides whether a story joins the development of an earlier one.

A topic names its evidence set (``evidence`` in its configuration):

The design in full: docs/modules.md, `monitor/detect/evidence.py`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.config import EVIDENCE_SETS
from monitor.stories.textfeatures import content_words, fold

__all__ = ["EVIDENCE_SETS"]
GENERAL_MODEL_PATH = Path(__file__).with_name("linkmodel_general.json")

GENERAL_FEATURES = (
    "cos",  # TF-IDF cosine of the two stories (topic vocabulary left out)
    "headline",  # share of the new headline's content words found in the other's headline
    "cos_cycle",  # cos, weighed by how close in time (halved every RECENCY_HOURS)
    "headline_cycle",  # headline, weighed alike
    "log_hours",  # log(1 + hours apart)
    "actors",  # names both stories give that few of the topic's stories give
    "figures",  # figures both state (34%, 90-day, 26 nations)
    "figures_differ",  # both headlines state figures, none in common
    "quotes",  # a quoted phrase both carry
    "rank",  # the other story's place among the new one's candidates by cosine
    "cos_gap",  # how far its cosine is below the nearest one's
)
RECENCY_HOURS = 12.0  # a news cycle: evidence in common counts half as much this far apart
ACTOR_SHARE = 0.1  # a name given by at most this share of the topic's stories (and 2 more)

_NUMBER = re.compile(
    r"(?<![\w.,])(\$|€|£)?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(%|percent\b|per cent\b|"
    r"-?(?:point|day|year|month|week|hour|nation|countr|billion|million|trillion|bn\b|m\b)\w*)?",
    re.IGNORECASE,
)
_YEAR = re.compile(r"^(19|20)\d\d$")
_QUOTE = re.compile(r"[\"“”‘’']([^\"“”‘’']{3,80})[\"“”‘’']")
_DATE_DAY = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b", re.I
)


def figures(text: str) -> frozenset[str]:
    """The figures a text states, normalised ("34%", "90-day", "$50 billion" -> "50b"):
    numbers with a unit, or bare numbers from 2 up that are not years or days of a date."""
    out: set[str] = set()
    text = _DATE_DAY.sub(" ", text)
    for m in _NUMBER.finditer(text):
        raw = m.group(2).replace(",", "")
        unit = (m.group(3) or "").lower().lstrip("-")
        amount = m.group(1) or unit.startswith(("%", "percent", "per cent", "b", "m"))
        if not amount and (_YEAR.match(raw) or (not unit and float(raw) < 2)):
            continue  # a year (with or without a unit: "in 2025 day ..."), or 0 and 1
        if unit.startswith(("percent", "per cent", "%")):
            unit = "%"
        elif unit.startswith(("billion", "bn")):
            unit = "b"
        elif unit.startswith(("million", "m")) and not unit.startswith("month"):
            unit = "m"
        elif unit:
            unit = unit[:4]
        value = raw.rstrip("0").rstrip(".") if "." in raw else raw
        out.add(f"{value}{unit}")
    return frozenset(out)


def quotes(text: str) -> frozenset[str]:
    """Quoted phrases of two words or more, folded (the words a statement is known by)."""
    out = set()
    for m in _QUOTE.finditer(text):
        phrase = " ".join(fold(m.group(1)).split())
        if len(phrase.split()) >= 2:
            out.add(phrase)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class GeneralFacts:
    """What the general evidence keeps of a story besides its vector."""

    headline: frozenset[str] = frozenset()  # content words of the headline (stemmed)
    figures: frozenset[str] = frozenset()  # of headline and body
    headline_figures: frozenset[str] = frozenset()
    quotes: frozenset[str] = frozenset()


def general_facts(title: str, body: str) -> GeneralFacts:
    return GeneralFacts(
        headline=content_words(title),
        figures=figures(f"{title}\n{body}"),
        headline_figures=figures(title),
        quotes=quotes(f"{title}\n{body}"),
    )


def general_features(
    mine: GeneralFacts,
    theirs: GeneralFacts,
    my_vector: Mapping[str, float],
    their_vector: Mapping[str, float],
    cosine: float,
    hours: float,
    rank: int,
    best_cosine: float,
    rare_name: Callable[[str], bool],
) -> tuple[float, ...]:
    """The features of a (new story, earlier story) pair, in :data:`GENERAL_FEATURES` order."""
    head = len(mine.headline & theirs.headline) / len(mine.headline) if mine.headline else 0.0
    actors = sum(
        1 for t in my_vector if t.startswith(("p:", "n:")) and t in their_vector and rare_name(t)
    )
    differ = bool(
        mine.headline_figures
        and theirs.headline_figures
        and not mine.headline_figures & theirs.headline_figures
    )
    recency = 0.5 ** (abs(hours) / RECENCY_HOURS)
    return (
        cosine,
        head,
        cosine * recency,
        head * recency,
        math.log1p(abs(hours)),
        float(min(actors, 3)),
        float(min(len(mine.figures & theirs.figures), 3)),
        float(differ),
        float(bool(mine.quotes & theirs.quotes)),
        float(rank),
        best_cosine - cosine,
    )


@dataclass(frozen=True, slots=True)
class GeneralModel:
    """Logistic regression over :data:`GENERAL_FEATURES` (standardised by ``mean`` and
    ``scale``): a link's probability; a story joins its most probable link's development when
    that is at least ``threshold``."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> GeneralModel:
        feats = tuple(str(f) for f in data["features"])  # type: ignore[attr-defined]
        if feats != GENERAL_FEATURES:
            raise ValueError(f"general link model: features {feats} are not {GENERAL_FEATURES}")

        def floats(key: str) -> tuple[float, ...]:
            values = tuple(float(x) for x in data[key])  # type: ignore[attr-defined]
            if len(values) != len(feats):
                raise ValueError(f"general link model: {key} has {len(values)} values")
            return values

        return cls(
            feats,
            floats("weights"),
            float(data["bias"]),  # type: ignore[arg-type]
            floats("mean"),
            floats("scale"),
            float(data["threshold"]),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "weights": list(self.weights),
            "bias": self.bias,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "threshold": self.threshold,
        }

    def probability(self, row: Sequence[float]) -> float:
        z = self.bias
        for x, w, m, s in zip(row, self.weights, self.mean, self.scale, strict=True):
            z += w * (x - m) / s
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@functools.cache
def load_general_model(path: Path = GENERAL_MODEL_PATH) -> GeneralModel:
    """The model the package ships (read once)."""
    return GeneralModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
