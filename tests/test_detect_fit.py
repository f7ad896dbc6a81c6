"""The offline link-model fitter on data written for this test."""

import json
import math
from pathlib import Path

from bench.fit_links import collect_pairs, fit_logistic, main
from monitor.linkmodel import LINK_FEATURES

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


def test_fit_logistic_separates_a_simple_rule() -> None:
    pairs = [((1.0, x / 10), 1.0 if x >= 5 else 0.0) for x in range(10)] * 3
    w = fit_logistic(pairs, l2=0.1)
    assert w[1] > 0
    assert 0.2 < -w[0] / w[1] < 0.7  # the boundary lies between the classes
    assert all(math.isfinite(v) for v in w)


def test_main_usage(tmp_path: Path) -> None:
    assert main(["fit"]) == 2
    assert main(["fit", str(write(tmp_path)), "--until", "2024-12-31"]) == 0
