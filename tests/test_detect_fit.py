"""The offline link-model fitter on data written for this test."""

import json
from pathlib import Path

import numpy as np
import pytest

from bench.fit_links import MONOTONIC, collect_pairs, fit_trees, main
from monitor.detect.linkmodel import LINK_FEATURES, LinkModel

ROWS = [
    (
        "1",
        "A",
        "2024-01-02",
        "Two men wounded outside Harlowe bar",
        "Ravi Okonjo and Dale Pruitt were wounded outside the Copper Kettle bar in Harlowe.",
    ),
    (
        "2",
        "A",
        "2024-01-03",
        "Harlowe police name men shot at Copper Kettle",
        "Police named Ravi Okonjo and Dale Pruitt, shot outside the Copper Kettle bar.",
    ),
    (
        "3",
        "B",
        "2024-01-04",
        "Woman killed at Ashby Falls party",
        "Lorna Whitcombe, 45, was killed at a party on Windmere Court in Ashby Falls.",
    ),
    (
        "4",
        "B",
        "2024-03-04",
        "Ashby Falls party killing: man charged",
        "A man was charged in the death of Lorna Whitcombe at an Ashby Falls party.",
    ),
    (
        "5",
        "C",
        "2024-03-05",
        "Fire at Harlowe bar",
        "A kitchen fire closed the Copper Kettle bar in Harlowe for a week.",
    ),
]


def write(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.jsonl"
    lines = [
        json.dumps(
            {
                "id": i,
                "cluster_id": c,
                "published": d,
                "source": "x.test",
                "url": f"https://x.test/{i}",
                "title": t,
                "summary": b,
            }
        )
        for i, c, d, t, b in ROWS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_collect_pairs_labels_same_cluster_pairs(tmp_path: Path) -> None:
    pairs = collect_pairs(write(tmp_path))
    assert pairs and all(len(f) == len(LINK_FEATURES) for f, _ in pairs)
    assert {y for _, y in pairs} <= {0.0, 1.0}
    assert any(y == 1.0 for _, y in pairs)
    assert len(collect_pairs(write(tmp_path), until="2024-01-02")) == 0


def _rule_pairs() -> list[tuple[tuple[float, ...], float]]:
    """Pairs whose label is "cosine above 0.5 or a person in common"."""
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(400):
        feats = [0.0] * len(LINK_FEATURES)
        feats[0] = float(rng.random())  # cos
        feats[1] = float(rng.random() * 5)  # log_age
        feats[2] = float(rng.integers(0, 3) * (rng.random() < 0.2))  # person
        pairs.append((tuple(feats), 1.0 if feats[0] > 0.5 or feats[2] else 0.0))
    return pairs


def test_fit_trees_learns_a_simple_rule_and_converts_it_exactly() -> None:
    pairs = _rule_pairs()
    model = fit_trees(pairs, trees=60, rate=0.3)  # checks its scores against scikit-learn's
    rows = [list(f) for f, _ in pairs]
    probs = model.probabilities(rows)
    right = sum((p >= 0.5) == (y == 1.0) for p, (_, y) in zip(probs, pairs, strict=True))
    assert right >= 0.97 * len(pairs)
    again = LinkModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.probabilities(rows) == probs


def test_fit_trees_keeps_evidence_monotonic() -> None:
    """More of a shared feature never lowers the probability (here: cosine and persons)."""
    assert MONOTONIC["cos"] == 1 and MONOTONIC["streets_differ"] == -1
    model = fit_trees(_rule_pairs(), trees=60, rate=0.3)
    base = [0.0] * len(LINK_FEATURES)
    for i in (0, 2):
        ps = model.probabilities([[*base[:i], v, *base[i + 1 :]] for v in (0.0, 0.3, 0.6, 1, 2)])
        assert ps == sorted(ps)


def test_fit_trees_needs_both_labels() -> None:
    pairs = [(f, 1.0) for f, _ in _rule_pairs()]
    with pytest.raises(ValueError, match="one label"):
        fit_trees(pairs)
    with pytest.raises(ValueError, match="no pairs"):
        fit_trees([])


def test_main_usage(tmp_path: Path) -> None:
    assert main(["fit"]) == 2
    assert main(["fit", str(write(tmp_path)), "--until", "2024-12-31"]) == 0
