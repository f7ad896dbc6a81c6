"""Offline: fit the development link model (:data:`monitor.linkmodel.LINK_WEIGHTS`).

Never imported by the detectors. It streams a *labelled* JSON-lines file (stories up to
``--until``, a date: fit on the first part of a stream, score on the rest) through the same
pipeline as :mod:`monitor.evaluate`, with the tracker's previous similarity-bar rule deciding
(``weights=None``), records the :func:`monitor.linkmodel.link_features` of every
(story, candidate earlier story) pair the tracker considers, labels a pair 1 when both stories
carry the same ``cluster_id``, and fits an L2-regularised logistic regression by Newton's method
(fourteen weights: a few parameters, not a memory of stories). The labels are read here only.

usage: python -m bench.fit_links LABELLED.jsonl [--until YYYY-MM-DD]
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from monitor.dedup import MemoryNearDupIndex, StoryText, check, fingerprint
from monitor.detect_boilerplate import MemoryBodyHistory, strip_and_remember
from monitor.developments import DevelopmentTracker
from monitor.linkmodel import LINK_FEATURES

Pair = tuple[tuple[float, ...], float]


def collect_pairs(path: str | Path, until: str | None = None) -> list[Pair]:
    """(features, label) of the pairs the tracker considers on the labelled stream."""
    labels: dict[str, str] = {}
    stories: list[StoryText] = []
    from monitor.evaluate import _published

    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            raw = json.loads(line)
            if until is not None and str(raw["published"])[:10] > until:
                break
            labels[str(raw["id"])] = str(raw["cluster_id"])
            stories.append(
                StoryText(
                    str(raw["id"]),
                    _published(str(raw["published"])),
                    str(raw.get("title") or ""),
                    str(raw.get("summary") or ""),
                    str(raw.get("source") or ""),
                    str(raw.get("url") or ""),
                )
            )
    pairs: list[Pair] = []

    def observe(story_id: str, other_id: str, feats: tuple[float, ...]) -> None:
        pairs.append((feats, 1.0 if labels[story_id] == labels[other_id] else 0.0))

    tracker = DevelopmentTracker(weights=None, observer=observe)
    index = MemoryNearDupIndex()
    seen: dict[str, StoryText] = {}
    history = MemoryBodyHistory()
    for story in stories:
        if story.id in seen:
            continue
        fp = fingerprint(story)
        result = check(story, index, seen.get, fp=fp)
        dup = result.match.story_id if result.match else None
        body = strip_and_remember(history, story.source, story.text)
        tracker.assign(replace(story, text=body), duplicate_of=dup, template=result.template)
        index.add(story.id, fp.bands, fp.signature)
        seen[story.id] = story
    return pairs


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(m[r][i]))
        m[i], m[p] = m[p], m[i]
        for r in range(n):
            if r != i and m[i][i]:
                f = m[r][i] / m[i][i]
                for c in range(i, n + 1):
                    m[r][c] -= f * m[i][c]
    return [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]


def fit_logistic(pairs: Sequence[Pair], l2: float = 1.0, iterations: int = 25) -> list[float]:
    """Weights of an L2-regularised logistic regression (the bias, first, is not penalised)."""
    if not pairs:
        raise ValueError("no pairs to fit")
    k = len(pairs[0][0])
    w = [0.0] * k
    for _ in range(iterations):
        grad = [0.0] * k
        hess = [[0.0] * k for _ in range(k)]
        for x, y in pairs:
            z = sum(a * b for a, b in zip(x, w, strict=True))
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            for i in range(k):
                grad[i] += (p - y) * x[i]
                for j in range(k):
                    hess[i][j] += p * (1.0 - p) * x[i] * x[j]
        for i in range(1, k):
            grad[i] += l2 * w[i]
            hess[i][i] += l2
        step = _solve(hess, grad)
        w = [a - b for a, b in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < 1e-6:
            break
    return w


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--until"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    pairs = collect_pairs(argv[1], argv[3] if len(argv) == 4 else None)
    weights = fit_logistic(pairs)
    positives = sum(1 for _, y in pairs if y)
    print(json.dumps({"pairs": len(pairs), "positives": positives}))
    for name, w in zip(LINK_FEATURES, weights, strict=True):
        print(f"    {w:.3f},  # {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
