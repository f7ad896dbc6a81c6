"""Offline: fit the general evidence set's link model (``monitor/detect/linkmodel_general.json``).

Never imported by the detectors. For each labelled topic stream given (a folder with
``items.jsonl`` and ``labels.json``, see the evaluation data's README), its items are replayed
in publication order through a :class:`monitor.detect.developments.DevelopmentTracker` with the
general evidence set and the topic's vocabulary left out (as the daemon builds it from the
configuration), and the :data:`monitor.detect.evidence.GENERAL_FEATURES` of every (story, candidate
earlier story) pair it weighs are recorded. A pair whose new story is on the topic (in a
labelled development) is labelled 1 when both stories are of the same development, 0 otherwise
(an earlier story off the topic, neutral, or of another development). The features do not
depend on the tracker's decisions. The model is a logistic regression on standardised
features (L2 of strength 1, the usual default, not tuned on the streams), each weight's sign
bounded by what its feature means (:data:`SIGNS`): few features, little data, and each weight
reads as what the evidence means. ``--write`` replaces the model
the package ships; the threshold is kept at 0.5 unless ``--threshold`` says otherwise.

usage: python -m bench.fit_general STREAM_DIR[=CONFIG[#TOPIC]] ... [--write] [--threshold P]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from monitor.cli.evaluate_stream import read_items
from monitor.detect.detection import topic_vocabulary
from monitor.detect.developments import DevelopmentTracker
from monitor.detect.evidence import GENERAL_FEATURES, GENERAL_MODEL_PATH, GeneralModel
from monitor.stories.dedup import StoryText
from monitor.topics.compiled import load

Pair = tuple[tuple[float, ...], int]


def stream_pairs(folder: Path, ignore: frozenset[str], prefixes: tuple[str, ...]) -> list[Pair]:
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))  # read here only
    dev_of = {
        i: name for name, d in labels["developments"].items() for i in d["first"] + d["follow"]
    }
    pairs: list[Pair] = []
    n = len(GENERAL_FEATURES)
    blank = GeneralModel(GENERAL_FEATURES, (0.0,) * n, 0.0, (0.0,) * n, (1.0,) * n, 1.0)
    tracker = DevelopmentTracker(  # the blank model opens every story: features are recorded
        evidence="general", general=blank, ignore=ignore, ignore_prefixes=prefixes,
        observer=lambda s, o, f: (
            pairs.append((f, int(dev_of.get(o) == dev_of[s]))) if s in dev_of else None
        ),
    )  # fmt: skip
    from datetime import UTC, datetime

    for it in read_items(folder):
        story = StoryText(
            it.id, datetime.fromtimestamp(it.published, UTC), it.title, it.description,
            it.source, it.link,
        )  # fmt: skip
        tracker.assign(story)
    return pairs


# +1: the weight is never below 0 (more of it in common never lowers a link's probability);
# -1: never above 0 (hours apart, differing figures, a lower rank, a wider gap to the nearest)
SIGNS = {
    "cos": 1, "headline": 1, "cos_cycle": 1, "headline_cycle": 1, "log_hours": -1,
    "actors": 1, "figures": 1, "figures_differ": -1, "quotes": 1, "rank": -1, "cos_gap": -1,
}  # fmt: skip
L2 = 1.0  # the usual default strength (scikit-learn's C=1), not tuned on the streams


def fit(pairs: list[Pair], threshold: float) -> GeneralModel:
    """L2-regularised logistic regression on standardised features, each weight's sign
    bounded by what the feature means (:data:`SIGNS`), by L-BFGS-B."""
    from scipy.optimize import minimize

    x = np.array([f for f, _ in pairs], dtype=np.float64)
    y = np.array([label for _, label in pairs], dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    n = len(GENERAL_FEATURES)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:  # type: ignore[type-arg]
        w, b = theta[:n], theta[n]
        t = z @ w + b
        p = 1.0 / (1.0 + np.exp(-t))
        value = float(np.sum(np.logaddexp(0.0, t) - y * t) + 0.5 * L2 * w @ w)
        grad = np.concatenate([z.T @ (p - y) + L2 * w, [np.sum(p - y)]])
        return value, grad

    bounds = [(0.0, None) if SIGNS[f] > 0 else (None, 0.0) for f in GENERAL_FEATURES]
    res = minimize(
        loss, np.zeros(n + 1), jac=True, method="L-BFGS-B", bounds=[*bounds, (None, None)]
    )
    return GeneralModel(
        GENERAL_FEATURES,
        tuple(round(float(w), 6) for w in res.x[:n]),
        round(float(res.x[n]), 6),
        tuple(round(float(m), 6) for m in mean),
        tuple(round(float(s), 6) for s in scale),
        threshold,
    )


def stream_args(args: list[str]) -> list[tuple[Path, Path, str]]:
    """(stream folder, configuration, topic id) of each `DIR[=CONFIG[#TOPIC]]` argument: by
    default the folder's topic.toml and its first topic."""
    out = []
    for arg in args:
        folder, _, rest = arg.partition("=")
        config, _, topic = rest.partition("#")
        path = Path(config) if config else Path(folder) / "topic.toml"
        cfg = load(path)
        out.append((Path(folder), path, topic or cfg.topics[0].id))
    return out


def pairs_of(folder: Path, config: Path, topic_id: str) -> list[Pair]:
    topic = load(config).topics.by_id[topic_id]
    ignore, prefixes = topic_vocabulary(topic)
    return stream_pairs(folder, ignore, prefixes)


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    if "--out" in argv:
        args.remove(argv[argv.index("--out") + 1])
    threshold = 0.5
    if "--threshold" in argv:
        value = argv[argv.index("--threshold") + 1]
        threshold = float(value)
        args.remove(value)
    if not args:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    streams = stream_args(args)
    by_stream = {folder.name: pairs_of(folder, config, topic) for folder, config, topic in streams}
    pairs = [p for ps in by_stream.values() for p in ps]
    model = fit(pairs, threshold)
    positives = sum(label for _, label in pairs)
    print(f"{len(pairs)} pairs, {positives} of one development, from {len(streams)} streams")
    for name, w in zip(GENERAL_FEATURES, model.weights, strict=True):
        print(f"  {name:15} {w:+.3f}")
    print(f"  {'(bias)':15} {model.bias:+.3f}")
    if len(by_stream) > 1:  # each stream scored by a model fitted on the others
        print("pair accuracy, each stream left out of the fit:")
        for name, held in by_stream.items():
            rest = [p for other, ps in by_stream.items() if other != name for p in ps]
            m = fit(rest, threshold)
            tp = sum(1 for f, y in held if y and m.probability(f) >= threshold)
            fp = sum(1 for f, y in held if not y and m.probability(f) >= threshold)
            pos = sum(y for _, y in held)
            print(f"  {name:18} links {tp}/{pos} of one development, {fp} across")
    if "--out" in argv:
        out = Path(argv[argv.index("--out") + 1])
        out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    if "--write" in argv:
        GENERAL_MODEL_PATH.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
        print(f"written: {GENERAL_MODEL_PATH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
