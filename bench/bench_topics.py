"""Topic matching with many topics: what seed profiles add to the cost of a story.

Figures:
- topic_match_with_profiles: time to match one story against 1,000 topics that each have a
  query and a seed profile (match = "either"), beside the same 1,000 queries without seeds.
  Each topic has its own 40 words (from a made-up vocabulary of 3,000 words); its seeds and
  stories are half its own words, a quarter the benchmark feeds' news words (bench/feeds.py,
  shared by every topic) and a quarter any words of the vocabulary. Each story is about one
  topic, so it shares news words with every profile and its subject words with a few.
- topic_compile_with_seeds: time to load a configuration of 1,000 topics with two seed files
  each (reading the seeds, building the profiles and their index), beside the same
  configuration without seeds.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from bench.feeds import ACTORS, PLACES, VERBS
from bench.figures import Figure, best_of, size
from monitor.models import Entry
from monitor.topics.compiled import Settings, load
from monitor.topics.match import match_topics

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aiou"]
NEWS_WORDS = " ".join(ACTORS + PLACES + VERBS).replace(",", "").split()


def _vocabulary(n: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(3)))
    return sorted(words)


def _text(rng: random.Random, own: list[str], vocabulary: list[str], words: int) -> str:
    """`words` words: half the topic's own, a quarter news words, a quarter any words."""
    pools = (own, own, NEWS_WORDS, vocabulary)
    return " ".join(rng.choice(rng.choice(pools)) for _ in range(words))


def _topics(n: int) -> tuple[list[list[str]], list[str]]:
    rng = random.Random(7)
    vocabulary = _vocabulary(3000, rng)
    return [rng.sample(vocabulary, 40) for _ in range(n)], vocabulary


def _config(folder: Path, topics: list[list[str]], vocabulary: list[str], seeded: bool) -> Path:
    rng = random.Random(11)
    parts = []
    for i, own in enumerate(topics):
        query = f"{own[0]} AND ({own[1]} OR {own[2]})"
        part = f'[[topics]]\nid = "t{i}"\nquery = \'{query}\'\nsinks = ["s"]\n'
        if seeded:
            seeds = folder / "seeds" / f"t{i}"
            seeds.mkdir(parents=True)
            for k in range(2):
                (seeds / f"{k}.txt").write_text(_text(rng, own, vocabulary, 150))
            part += f'seeds = ["seeds/t{i}/*.txt"]\nmatch = "either"\n'
        parts.append(part)
    path = folder / "monitor.toml"
    path.write_text(
        '[[sinks]]\nid = "s"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
        + "\n".join(parts)
    )
    return path


def _stories(topics: list[list[str]], vocabulary: list[str], count: int) -> list[Entry]:
    rng = random.Random(13)
    out = []
    for k in range(count):
        own = topics[k * 7 % len(topics)]
        title, summary = _text(rng, own, vocabulary, 8), _text(rng, own, vocabulary, 50)
        out.append(Entry(key=str(k), link=None, title=title, summary=summary, published=None,
                         author=None, content_hash=str(k)))  # fmt: skip
    return out


def _match_all(cfg: Settings, stories: list[Entry]) -> int:
    return sum(len(match_topics(cfg.topics, e.title, e.summary, "News")) for e in stories)


def run(quick: bool = False) -> list[Figure]:
    n_topics = size(1000, 1000, quick, 20)
    topics, vocabulary = _topics(n_topics)
    stories = _stories(topics, vocabulary, size(500, 100, quick, 10))
    with tempfile.TemporaryDirectory(prefix="bench-topics-") as tmp:
        plain_dir, seeded_dir = Path(tmp) / "plain", Path(tmp) / "seeded"
        plain_dir.mkdir()
        seeded_dir.mkdir()
        plain_path = _config(plain_dir, topics, vocabulary, seeded=False)
        seeded_path = _config(seeded_dir, topics, vocabulary, seeded=True)
        load_plain = best_of(lambda: load(plain_path), 3)
        load_seeded = best_of(lambda: load(seeded_path), 3)
        plain, seeded = load(plain_path), load(seeded_path)
    assert all(t.profile is not None for t in seeded.topics)
    per_story = 1e6 / len(stories)
    base = best_of(lambda: _match_all(plain, stories), 3) * per_story
    ours = best_of(lambda: _match_all(seeded, stories), 3) * per_story
    matches = _match_all(seeded, stories) / len(stories)
    note = f"{n_topics} topics, {len(stories)} stories, {matches:.1f} matches per story"
    return [
        Figure("topic_match_with_profiles", ours, "us per story", base, "queries only",
               note=note),
        Figure("topic_compile_with_seeds", load_seeded * 1e3, "ms", load_plain * 1e3,
               "queries only", note=f"{n_topics} topics, 2 seed files each"),
    ]  # fmt: skip
