"""Offline: how far linking and relevance can go on a labelled topic stream (the bounds that
docs/detection.md reports). Never imported by the daemon.

For each labelled stream (a folder with ``items.jsonl`` and ``labels.json``, see the evaluation
data's README; ``DIR[=CONFIG[#TOPIC]]`` as for ``bench.fit_general``):

- **The daemon, off-topic items taken out**: the stream replayed through the daemon as
  ``monitor evaluate --stream`` does, once whole and once without the items that are neither in
  a development nor neutral (as if relevance turned every off-topic story away, and changed
  nothing else): how much of what is lost is relevance, how much linking.
- **Linking with relevance known**: the items of the stream's developments are given to a
  :class:`monitor.detect.developments.DevelopmentTracker` with the general evidence set, in
  publication order, each allowed to open a development; no other item matches (perfect
  relevance, neutral items left out). Alert F1 by the evaluation data's ``score_topic.py``:
  with the shipped link model; with a model fitted on the stream itself at its best threshold
  of 0.2 to 0.8 (in-sample: what these features could give at best); and, with the optional
  sentence-embedding model installed, linking to the nearest earlier item within 12 or 24
  hours by embedding cosine at its best threshold, alone and as a second chance for an item the
  lexical model leaves unlinked. Every figure but the shipped model's is tuned on the stream
  it is scored on: an optimistic ceiling, not an estimate.
- **Relevance**: among the items the topic's opening rule lets open a development
  (:func:`monitor.detect.detection.opens`), the area under the ROC curve of first reports of
  a development against off-topic items, ranked by each signal the daemon has: the seed
  profile's cosine, the number of query terms, the embedding cosine to the seeds.

usage: python -m bench.stream_bounds STREAM_DIR[=CONFIG[#TOPIC]] ...
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.fit_general import fit, pairs_of, stream_args
from monitor import logs
from monitor.cli.evaluate_stream import StreamItem, decisions, read_items, read_toml
from monitor.cli.evaluate_stream import replay as replay_daemon
from monitor.detect.detection import opens, topic_vocabulary
from monitor.detect.developments import DevelopmentTracker
from monitor.detect.evidence import GeneralModel, load_general_model
from monitor.stories.dedup import StoryText
from monitor.topics.compiled import Topic, load
from monitor.topics.match import match_topics
from monitor.topics.semantic import STORY_CHARS, SemanticGate, default_model_dir

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
EMBEDDING_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
WINDOWS_HOURS = (12.0, 24.0)
Decisions = list[dict[str, Any]]
Linker = Callable[[int, StreamItem], str | None]  # (index, item) -> earlier item's id, or None


def score(folder: Path, decisions: Decisions) -> dict[str, Any]:
    """The evaluation data's own scorer (``score_topic.py`` beside the stream folders)."""
    scorer = folder.parent / "score_topic.py"
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        out.write("".join(json.dumps(d) + "\n" for d in decisions))
    try:
        run = subprocess.run(
            [sys.executable, str(scorer), str(folder), out.name, "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        Path(out.name).unlink()
    return dict(json.loads(run.stdout))


def labels_of(folder: Path) -> tuple[dict[str, str], set[str], set[str]]:
    """(development of each item in one, first reports, neutral items)."""
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    dev_of = {i: n for n, d in labels["developments"].items() for i in d["first"] + d["follow"]}
    first = {i for d in labels["developments"].values() for i in d["first"]}
    return dev_of, first, set(labels["neutral"])


def daemon(items: Sequence[StreamItem], config: Path, topic_id: str, kept: set[str]) -> Decisions:
    """The daemon's decisions on the `kept` items of the stream (the others: unmatched)."""
    user = read_toml(config.resolve())
    logs.configure("warning", stream=sys.stderr, json=True)
    served = [i for i in items if i.id in kept]
    with tempfile.TemporaryDirectory(prefix="monitor-bounds-") as tmp:
        db, cfg = asyncio.run(
            replay_daemon(list(served), user, config.resolve(), topic_id, Path(tmp))
        )
        alert_on = next(t for t in cfg.topics if t.id == topic_id).alert_on
        found = decisions(db, topic_id, alert_on)
    none = {"matched": False, "new": False, "development": None}
    return [found.get(i.id, {"id": i.id, **none}) for i in items]


def story(item: StreamItem) -> StoryText:
    when = datetime.fromtimestamp(item.published, UTC)
    return StoryText(item.id, when, item.title, item.description, item.source, item.link)


def replay(
    items: Sequence[StreamItem],
    on_topic: set[str],
    tracker: DevelopmentTracker,
    second: Linker | None = None,
) -> Decisions:
    """Decisions with relevance known: each on-topic item links (the tracker, then `second`)
    or opens a development; the rest do not match."""
    development: dict[str, str] = {}  # item -> its development (the id of its first item)
    out: Decisions = []
    for k, item in enumerate(items):
        if item.id not in on_topic:
            out.append({"id": item.id, "matched": False, "new": False, "development": None})
            continue
        text = story(item)
        link = tracker.decide(text)
        if link.development_id is not None:
            dev = development[link.development_id]
        else:
            earlier = second(k, item) if second is not None else None
            dev = development[earlier] if earlier is not None else item.id
        tracker.commit(link)  # or opens in the tracker: later items may link to it
        development[item.id] = dev
        out.append({"id": item.id, "matched": True, "new": dev == item.id, "development": dev})
    return out


def nearest_by_embedding(
    items: Sequence[StreamItem],
    vectors: npt.NDArray[np.float32],
    on_topic: set[str],
    threshold: float,
    hours: float,
) -> Linker:
    """The earlier on-topic item within `hours` of the highest embedding cosine, if at least
    `threshold`."""

    def link(k: int, item: StreamItem) -> str | None:
        best, found = threshold, None
        for j in range(k - 1, -1, -1):
            other = items[j]
            if item.published - other.published > hours * 3600:
                break
            if other.id in on_topic:
                cos = float(vectors[k] @ vectors[j])
                if cos >= best:
                    best, found = cos, other.id
        return found

    return link


def tracker_for(topic: Topic, model: GeneralModel) -> DevelopmentTracker:
    ignore, prefixes = topic_vocabulary(topic)
    return DevelopmentTracker(
        evidence="general", general=model, ignore=ignore, ignore_prefixes=prefixes
    )


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def embed(gate: SemanticGate, items: Sequence[StreamItem]) -> npt.NDArray[np.float32]:
    assert gate.encoder is not None
    texts = [
        f"{i.title.strip()}. {i.description.strip()[:STORY_CHARS]}"
        if i.description.strip()
        else i.title
        for i in items
    ]
    return gate.encoder.encode(texts)


def bounds(folder: Path, config: Path, topic_id: str, gate: SemanticGate) -> dict[str, Any]:
    topic = load(config).topics.by_id[topic_id]
    items = read_items(folder)
    dev_of, first, neutral = labels_of(folder)
    on_topic = set(dev_of)

    def f1(decided: Decisions) -> float:
        return float(score(folder, decided)["alert_f1"])

    out: dict[str, Any] = {"stream": folder.name, "items": len(items)}
    everything = {i.id for i in items}
    out["the daemon"] = f"{f1(daemon(items, config, topic_id, everything)):.2f}"
    kept = on_topic | neutral
    out["the daemon, off-topic out"] = f"{f1(daemon(items, config, topic_id, kept)):.2f}"
    shipped = f1(replay(items, on_topic, tracker_for(topic, load_general_model())))
    out["linking, shipped model"] = f"{shipped:.2f}"
    pairs = pairs_of(folder, config, topic_id)
    models = {t: fit(pairs, t) for t in THRESHOLDS}
    fitted = [(f1(replay(items, on_topic, tracker_for(topic, m))), t) for t, m in models.items()]
    f, t = max(fitted)
    out["linking, fitted on itself"] = f"{f:.2f} (link threshold {t})"
    vectors = embed(gate, items) if gate.available else None
    if vectors is not None:
        never = fit(pairs, 1.01)  # links nothing: the embedding alone decides
        best_alone: tuple[float, float, float] = (0.0, 0.0, 0.0)
        best_both: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
        for hours in WINDOWS_HOURS:
            for th in EMBEDDING_THRESHOLDS:
                second = nearest_by_embedding(items, vectors, on_topic, th, hours)
                alone = f1(replay(items, on_topic, tracker_for(topic, never), second))
                best_alone = max(best_alone, (alone, th, hours))
                for t in THRESHOLDS[:4]:
                    both = f1(replay(items, on_topic, tracker_for(topic, models[t]), second))
                    best_both = max(best_both, (both, t, th, hours))
        f, th, hours = best_alone
        out["linking, embedding alone"] = f"{f:.2f} (cosine {th}, {hours:g} h)"
        f, t, th, hours = best_both
        out["linking, lexical then embedding"] = (
            f"{f:.2f} (link threshold {t}, cosine {th}, {hours:g} h)"
        )
    # relevance among the stories the opening rule lets open
    topics = load(config).topics
    rows: list[tuple[bool, float, float, float]] = []  # (first report?, then the signals)
    seeds = gate.seeds_vector(topic.config.seeds) if gate.available else None
    for k, item in enumerate(items):
        match = next(
            (m for m in match_topics(topics, item.title, item.description, item.source)
             if m.topic_id == topic_id), None,
        )  # fmt: skip
        if match is None or not opens(topic.config, match):
            continue
        if item.id not in first and (item.id in dev_of or item.id in neutral):
            continue  # a later report of a development, or neutral: counted nowhere
        semantic = float(vectors[k] @ seeds) if vectors is not None and seeds is not None else 0.0
        rows.append((item.id in first, match.similarity or 0.0, float(len(match.terms)), semantic))
    for n, name in enumerate(("profile", "query terms", "embedding"), start=1):
        if name == "embedding" and seeds is None:
            continue
        pos = [r[n] for r in rows if r[0]]
        neg = [r[n] for r in rows if not r[0]]
        out[f"relevance AUC {name}"] = (
            f"{auc(pos, neg):.2f} ({len(pos)} first reports, {len(neg)} off-topic)"
        )
    return out


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    if not args:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    folder = default_model_dir()
    gate = SemanticGate.load(folder)
    print(f"embedding model: {folder if gate.available else 'none (' + str(gate.problem) + ')'}")
    for stream, config, topic_id in stream_args(args):
        result = bounds(stream, config, topic_id, gate)
        print(f"{result.pop('stream')} ({result.pop('items')} items)")
        for key, value in result.items():
            print(f"  {key:34} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
