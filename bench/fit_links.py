"""Offline: fit the development link model (``monitor/detect/linkmodel.json``).

Never imported by the detectors. It streams a *labelled* JSON-lines file (stories up to
``--until``, a date: fit on the first part of a stream, score on the rest) through the same
pipeline as :mod:`cli.evaluate`, records the :func:`detect.linkmodel.link_features` of every
(story, candidate earlier story) pair the tracker weighs (the features do not depend on the
tracker's decisions, so its first rule, ``model=None``, decides while they are recorded), labels
a pair 1 when both stories carry the same ``cluster_id``, and fits scikit-learn's
``HistGradientBoostingClassifier`` (300 trees of depth 2, learning rate 0.05: usual settings for
a small tabular problem, not tuned on the stream) with monotonic constraints
(:data:`MONOTONIC`): more evidence in common (cosine, names, ages, a day, a time, a street, the
same source) never lowers a link's probability, and a differing street or age, a lower rank or
a wider gap to the nearest never raises it. Besides being what the features mean, the
constraints keep the trees from learning quirks of the sample (without them, a court follow-up
that shares two people with the first report was less likely to link when both come from the
same source). The labels are read here only. ``--write`` replaces the model the package
ships.

usage: python -m bench.fit_links LABELLED.jsonl [--until YYYY-MM-DD] [--write]
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from monitor.cli.evaluate import decide, read_stories
from monitor.detect.developments import DevelopmentTracker
from monitor.detect.linkmodel import LINK_FEATURES, MODEL_PATH, LinkModel
from monitor.stories.dedup import StoryText

Pair = tuple[tuple[float, ...], float]
TREES, RATE = 300, 0.05
THRESHOLD = 0.45
# +1: the probability never falls as the feature grows; -1: never rises; 0: free
MONOTONIC = {
    "cos": 1, "log_age": 0, "person": 1, "place": 1, "ages": 1, "same_source": 1, "thin": 0,
    "same_day": 1, "same_time": 1, "same_street": 1, "streets_differ": -1, "ages_differ": -1,
    "stage": 0, "other_stage": 0, "rank": -1, "cos_gap": -1, "rare_words": 1,
}  # fmt: skip


def collect_pairs(path: str | Path, until: str | None = None) -> list[Pair]:
    """(features, label) of the pairs the tracker weighs on the labelled stream."""
    labels: dict[str, str] = {}  # read here only
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                raw = json.loads(line)
                labels[str(raw["id"])] = str(raw["cluster_id"])
    stories: Iterable[StoryText] = read_stories(path)
    if until is not None:
        stories = itertools.takewhile(lambda s: s.published.date().isoformat() <= until, stories)
    pairs: list[Pair] = []

    def observe(story_id: str, other_id: str, feats: tuple[float, ...]) -> None:
        pairs.append((feats, 1.0 if labels[story_id] == labels[other_id] else 0.0))

    for _ in decide(stories, DevelopmentTracker(model=None, observer=observe)):
        pass
    return pairs


def fit_trees(
    pairs: Sequence[Pair],
    *,
    trees: int = TREES,
    rate: float = RATE,
    threshold: float = THRESHOLD,
) -> LinkModel:
    """Fit the boosted trees (depth 2) and convert them to a :class:`LinkModel`, checked to
    score every pair as scikit-learn does."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not pairs:
        raise ValueError("no pairs to fit")
    x = np.asarray([f for f, _ in pairs], dtype=np.float64)
    y = np.asarray([label for _, label in pairs]) > 0.5
    if y.all() or not y.any():
        raise ValueError("pairs of one label only")
    gb = HistGradientBoostingClassifier(
        max_iter=trees, learning_rate=rate, max_depth=2, max_leaf_nodes=4,
        early_stopping=False, monotonic_cst=[MONOTONIC[f] for f in LINK_FEATURES],
        random_state=0,
    )  # fmt: skip
    gb.fit(x, y)
    # scikit-learn keeps the fitted trees as arrays of nodes (a private attribute; the check
    # below fails loudly if a release changes them)
    rows = [_tree_row(predictors[0].nodes) for predictors in gb._predictors]
    model = LinkModel.from_dict(
        {
            "features": list(LINK_FEATURES),
            "base": float(np.ravel(gb._baseline_prediction)[0]),
            "threshold": threshold,
            "trees": rows,
        }
    )
    if not np.allclose(model.scores(x), gb.decision_function(x), atol=1e-9):
        raise AssertionError("the converted trees do not score as scikit-learn's")
    return model


def _tree_row(nodes: np.ndarray) -> list[float]:  # type: ignore[type-arg]
    """One fitted tree as (root feature, threshold, left feature, threshold, right feature,
    threshold, four leaves): a leaf above depth 2 becomes a split that never goes right
    (scikit-learn goes left when the value is at most the threshold)."""

    def split(node: int) -> tuple[int, int, int, float]:  # feature, left, right, threshold
        n = nodes[node]
        if n["is_leaf"]:
            return 0, node, node, float("inf")
        return int(n["feature_idx"]), int(n["left"]), int(n["right"]), float(n["num_threshold"])

    f0, a, b, t0 = split(0)
    f1, aa, ab, t1 = split(a)
    f2, ba, bb, t2 = split(b)
    value = [float(nodes[i]["value"]) for i in (aa, ab, ba, bb)]
    return [f0, t0, f1, t1, f2, t2, *value]


def main(argv: list[str]) -> int:
    args = list(argv[1:])
    write = "--write" in args
    if write:
        args.remove("--write")
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--until"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    pairs = collect_pairs(args[0], args[2] if len(args) == 3 else None)
    model = fit_trees(pairs)
    positives = sum(1 for _, y in pairs if y)
    print(json.dumps({"pairs": len(pairs), "positives": positives, "trees": len(model.leaves)}))
    if write:
        MODEL_PATH.write_text(json.dumps(model.to_dict()) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
