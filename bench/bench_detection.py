"""The detection stage: what topics cost it, and what a large store costs it.

Stories are synthetic news built here: events (a person, a place, an organisation, a subject
of two or three words from a made-up vocabulary of 1,500 words) told by several feeds over
three days, each follow-up adding new facts and numbers, so that developments form; about one
story in eleven is a copy of an earlier one (a syndicated reprint under another URL, or the
same link with tracking parameters), so that both kinds of duplicate are found. Topics are
queries over the subject vocabulary (`a AND (b OR c)`, phrases, `NEAR/5`, prefixes); 70% of
events are about one of 1,000 topics, picked by a Zipf law (a few subjects are in the news
a lot), the rest about random subjects; topics share words now and then. Stories are stored
through the store's real ingest (`store.ingest`, 50 per feed and transaction) and wait for
detection; the figure is the time of `Detection.process` (canonical URL and near-duplicate
lookup in the band table, topic matching, developments, alert rows, all written).

Figures:
- detection_topics_1, _100, _1000: stories per second through the stage with 1, 100 and 1,000
  topics (the first 1, 100 or 1,000 of the same list), beside the same stories through the
  stage with no topic at all (duplicates only: the baseline).
- detection_cost_10k, _100k, _1m (quick: 10k, 50k, 100k): microseconds per detected story
  (100 topics) with that many stories already stored and detected, with their band rows, as
  a ratio to the smallest size (aim: <= 1.3 at a million). The old corpus is inserted by SQL
  with 33 random 63-bit band keys per story (32 bands and the headline key, as
  `stories.dedup.fingerprint` makes): computing real MinHash signatures for a million stories
  would take most of an hour. Random keys never collide with real ones, so the corpus adds
  the cost of a larger index (deeper B-trees, a colder cache), not candidates to verify.
- story_bands_bytes_per_story: growth of the store file per story between the smallest and
  the largest size, band rows and their index included (their own share in the note).
- detection_peak_memory: the process's peak RSS at the largest size.
- detection_semantic_gate: stories per second through the stage with 100 topics that have
  seeds (a seed paragraph of each topic's words) and the optional semantic model deciding
  what opens a development, beside the same with `[detection] semantic = false`. Only a
  story that would open a development is embedded; the seeds are embedded at the first
  pass, inside the time. Left out when the model is not installed.
"""

from __future__ import annotations

import asyncio
import io
import random
import resource
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.feeds import ACTORS, PLACES, VERBS
from bench.figures import Figure, size
from monitor import logs
from monitor.clock import SystemClock
from monitor.config import Config, load
from monitor.models import Entry, PollUpdate
from monitor.reader.normalize import content_hash
from monitor.service.daemon import open_service

FEEDS = 40
BANDS_PER_STORY = 33  # 32 LSH bands and the headline key
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
FIRST = ["Anna", "Piotr", "Marta", "Jonas", "Elena", "Tomas", "Ines", "Karl", "Olena",
         "Luca", "Sofia", "Mikael", "Irina", "Pavel", "Clara", "Hugo", "Nadia", "Erik",
         "Vera", "Adam"]  # fmt: skip
LAST = ["Kowalski", "Novak", "Berger", "Rossi", "Lindqvist", "Horvat", "Dubois", "Marin",
        "Petrenko", "Jansen", "Costa", "Weber", "Nilsen", "Popescu", "Ozols", "Kask",
        "Moreau", "Ferreira", "Svoboda", "Lehtonen"]  # fmt: skip
ROLES = ["minister", "spokesperson", "director", "chair", "mayor", "chief negotiator"]
ORG_KINDS = ["ministry", "agency", "council", "commission", "union", "institute"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _vocabulary(n: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3, 3)))))
    return sorted(words)


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    words: tuple[str, str, str]
    query: str


def topics(n: int = 1000) -> tuple[list[Topic], list[str]]:
    """`n` topics over a vocabulary of subject words (the same list whatever is taken)."""
    rng = random.Random(5)
    vocabulary = _vocabulary(1500, rng)
    out = []
    for i in range(n):
        a, b, c = rng.sample(vocabulary, 3)
        query = (
            f"{a} AND ({b} OR {c})",
            f'"{a} {b}"',
            f"({a} OR {b}) AND {c}",
            f"{a} NEAR/5 {b}",
            f"{a[:-1]}* AND {b}",
        )[i % 5]
        out.append(Topic(f"t{i}", (a, b, c), query))
    return out, vocabulary


@dataclass(frozen=True, slots=True)
class Story:
    feed: int  # index in the configuration's feeds
    entry: Entry


def stories(n: int, seed: int, start: datetime) -> list[Story]:
    """`n` stories of events over three days from `start` (see the module doc)."""
    rng = random.Random(seed)
    topic_list, vocabulary = topics()
    zipf = [1 / (r + 1) for r in range(len(topic_list))]
    out: list[Story] = []
    serial = 0
    while len(out) < n:
        if rng.random() < 0.7:
            a, b, c = rng.choices(topic_list, zipf)[0].words
        else:
            a, b, c = rng.sample(vocabulary, 3)
        person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        role, place = rng.choice(ROLES), rng.choice(PLACES)
        org = f"{rng.choice(vocabulary).capitalize()} {rng.choice(ORG_KINDS)}"
        began = start + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        feeds = rng.sample(range(FEEDS), 8)
        background = (
            f"{person}, {role} of the {org}, said the {a} {b} plan for {place} "
            f"would cost {rng.randint(2, 900)} million and affect {c} services."
        )
        told: list[Story] = []
        for k in range(min(1 + int(rng.expovariate(0.45)), 8)):  # the event and its follow-ups
            serial += 1
            when = began + timedelta(minutes=k * rng.randint(30, 400))
            fact = (
                f"On {rng.choice(DAYS)} {rng.choice(ACTORS)} {rng.choice(VERBS)} the {c} "
                f"measures after {rng.randint(3, 5000)} people in {rng.choice(PLACES)} "
                f"signed a petition, up {rng.randint(2, 80)}% since {rng.choice(DAYS)}."
            )
            extra = (
                f"{rng.choice(ACTORS).capitalize()} in {rng.choice(PLACES)} "
                f"{rng.choice(VERBS)} the figures, citing {rng.randint(2, 950)} cases."
            )
            title = (
                f"{place}: {person} {rng.choice(VERBS)} {a} {b} plan"
                if k == 0
                else f"{person} {rng.choice(['faces', 'defends', 'revises', 'drops'])} "
                f"{a} {b} plan as {c} row grows"
            )
            body = " ".join([fact, background, extra][: 2 + rng.randint(0, 1)])
            feed = feeds[k]
            link = f"https://news{feed}.example/{when:%Y/%m/%d}/{a}-{b}-{seed}-{serial}"
            told.append(_story(feed, f"s{seed}-{serial}", link, title, body, when))
        for story in told:  # copies, some time later, in other feeds
            e = story.entry
            assert e.published is not None
            r = rng.random()
            if r < 0.06:  # a syndicated reprint under another URL
                feed = rng.choice([f for f in range(FEEDS) if f != story.feed])
                serial += 1
                link = f"https://news{feed}.example/wire/{seed}-{serial}"
                title = f"{e.title} (wire)" if rng.random() < 0.5 else e.title
                when = e.published + timedelta(minutes=rng.randint(5, 120))
                told.append(_story(feed, f"s{seed}-{serial}", link, title, e.summary, when))
            elif r < 0.09:  # the same link with tracking parameters, in an aggregator
                serial += 1
                link = f"{e.link}?utm_source=rss&utm_medium=feed"
                when = e.published + timedelta(minutes=rng.randint(5, 60))
                told.append(_story(FEEDS - 1, f"s{seed}-{serial}", link, e.title,
                                   e.summary[:200], when))  # fmt: skip
        out.extend(told)
    return out[:n]


def _story(feed: int, key: str, link: str, title: str, body: str, when: datetime) -> Story:
    return Story(feed, Entry(key=key, link=link, title=title, summary=body, published=when,
                             author=None, content_hash=content_hash(title, body)))  # fmt: skip


def _config(folder: Path, n_topics: int, seeds: bool = False, semantic: bool = True) -> Path:
    parts = [
        '[storage]\nurl = "sqlite:///bench.db"\n[server]\nenabled = false\n[log]\n'
        'level = "error"\n[[sinks]]\nid = "s"\ntype = "webhook"\nurl = "http://127.0.0.1:9/h"\n'
        # stories are stored here without polls: detection must not wait for first polls
        f"[detection]\nfirst_poll_wait = 0\nsemantic = {str(semantic).lower()}\n"
    ]
    folder.mkdir(parents=True, exist_ok=True)
    for t in topics(n_topics)[0] if n_topics else ():
        parts.append(f'[[topics]]\nid = "{t.id}"\nquery = \'{t.query}\'\nsinks = ["s"]\n')
        if seeds:
            words = " ".join(t.words)
            (folder / f"{t.id}.txt").write_text(
                f"News of {words}: what {t.words[0]} and {t.words[1]} mean for {t.words[2]}, "
                f"who decides on them, and what changes when {words} are in the news.\n"
            )
            parts.append(f'seeds = ["{t.id}.txt"]\n')
    parts += [f'[[feeds]]\nurl = "https://news{i}.example/world.xml"\n' for i in range(FEEDS)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.toml"
    path.write_text("".join(parts))
    return path


async def _feed_ids(store: Any) -> list[int]:
    async with store.transaction() as db, db.execute("SELECT id, url FROM feeds") as cur:
        by_url = {r[1]: r[0] for r in await cur.fetchall()}
    return [by_url[f"https://news{i}.example/world.xml"] for i in range(FEEDS)]


async def _ingest(store: Any, feed_ids: Sequence[int], batch: Sequence[Story]) -> None:
    """Through the store's ingest, 50 stories per feed and transaction (as polls bring them)."""
    now = time.time()
    by_feed: dict[int, list[Story]] = defaultdict(list)
    for s in batch:
        by_feed[s.feed].append(s)
    for feed, items in sorted(by_feed.items()):
        for i in range(0, len(items), 50):
            await store.ingest(
                feed_ids[feed],
                PollUpdate(result="ok", http_status=200, next_poll_at=now + 900),
                [s.entry for s in items[i : i + 50]], [], 0, now,
            )  # fmt: skip


async def _detect(cfg: Config, batch: Sequence[Story]) -> tuple[float, Any]:
    """Seconds of `detection.process` over `batch`, stored in a new store; and its outcome."""
    async with open_service(cfg, SystemClock(), logs.get("bench")) as service:
        await _ingest(service.store, await _feed_ids(service.store), batch)
        detection = service.poller.detection
        await detection.load()  # the trackers start empty: not timed
        t0 = time.perf_counter()
        outcome = await detection.process()
        elapsed = time.perf_counter() - t0
        assert outcome.stories == len(batch), (outcome, detection.last_error)
        return elapsed, outcome


def _fresh(folder: Path) -> None:
    """No store in `folder`: the next run starts a new one."""
    for suffix in ("", "-wal", "-shm"):
        (folder / f"bench.db{suffix}").unlink(missing_ok=True)


async def _topics_figures(folder: Path, n: int, counts: Sequence[int], repeat: int) -> list[Figure]:
    batch = stories(n, seed=1, start=datetime.now(UTC) - timedelta(days=3))
    configs = {k: load(_config(folder / f"t{k}", k)) for k in (0, *counts)}
    best: dict[int, float] = {}
    outcomes: dict[int, Any] = {}
    for _ in range(repeat):  # interleaved, best of `repeat`: the least disturbed
        for k, cfg in configs.items():
            _fresh(folder / f"t{k}")
            elapsed, outcomes[k] = await _detect(cfg, batch)
            best[k] = min(best.get(k, float("inf")), elapsed)
    base = n / best[0]
    figures = []
    for k in counts:
        o = outcomes[k]
        note = (
            f"{n} stories, {o.duplicates} copies found, {o.developments} developments, "
            f"{o.alerts} alert rows; baseline: no topics (duplicates only)"
        )
        figures.append(Figure(f"detection_topics_{k}", n / best[k], "stories/s", base,
                              "no topics", note=note))  # fmt: skip
    return figures


async def _semantic_figures(folder: Path, n: int, repeat: int) -> list[Figure]:
    from monitor.topics.semantic import SemanticGate, model_folder

    on = load(_config(folder / "gate", 100, seeds=True))
    gate = SemanticGate.load(model_folder(on.detection)[0])
    if not gate.available:
        return []  # the optional model is not installed here
    off = load(_config(folder / "nogate", 100, seeds=True, semantic=False))
    batch = stories(n, seed=2, start=datetime.now(UTC) - timedelta(days=3))
    best: dict[str, float] = {}
    outcomes: dict[str, Any] = {}
    for _ in range(repeat):  # interleaved, best of `repeat`
        for name, cfg in (("off", off), ("on", on)):
            _fresh(folder / ("gate" if name == "on" else "nogate"))
            elapsed, outcomes[name] = await _detect(cfg, batch)
            best[name] = min(best.get(name, float("inf")), elapsed)
    o, f = outcomes["on"], outcomes["off"]
    note = (
        f"{n} stories, 100 topics with seeds: {o.developments} developments opened with the "
        f"gate, {f.developments} without"
    )
    return [Figure("detection_semantic_gate", n / best["on"], "stories/s", n / best["off"],
                   "semantic = false", note=note)]  # fmt: skip


def _k(n: int) -> str:
    return f"{n // 1_000_000}m" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


async def _grow(store: Any, have: int, target: int, now: float, span: float) -> None:
    """Old stories `have`..`target` by SQL, detected, each with 33 random band keys.

    A build, not a measurement, but on the store's own connection (whose cache the measured
    detection then finds as the store's writes leave it), in one transaction, without fsync
    and without foreign-key checks meanwhile (each band row names a story just inserted).
    The stories' full-text rows are written in one statement after them rather than one by
    one by the insert trigger: the same rows in a tenth of the time, in an index of fewer,
    larger segments (nothing measured here reads or writes it; the file is as large)."""
    db = store.db
    for pragma in ("foreign_keys = OFF", "synchronous = OFF"):
        await db.execute(f"PRAGMA {pragma}")
    try:
        async with store.transaction() as tx:
            await _insert_corpus(tx, have, target, now, span)
    finally:
        for pragma in ("foreign_keys = ON", "synchronous = NORMAL"):  # the store's own
            await db.execute(f"PRAGMA {pragma}")


async def _insert_corpus(db: Any, have: int, target: int, now: float, span: float) -> None:
    async with db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM stories") as cur:
        (first_id,) = await cur.fetchone()  # after the deleted stories of the last batch
    sql = "SELECT sql FROM sqlite_master WHERE name = ?"
    async with db.execute(sql, ("stories_fts_insert",)) as cur:
        (fts_trigger,) = await cur.fetchone()
    async with db.execute(sql, ("story_bands_story",)) as cur:
        (index_sql,) = await cur.fetchone()
    await db.execute("DROP TRIGGER stories_fts_insert")
    await db.executemany(
        "INSERT INTO stories (feed_id, key, link, title, summary, published_at, "
        "content_hash, first_seen_at, canonical_url, detected_rev) "
        "VALUES (?,?,?,?,?,?,?,?,?,1)",  # an old corpus: detected long ago
        (_old_story(i, now, span) for i in range(have, target)),
    )
    await db.execute(
        "INSERT INTO stories_fts (rowid, title, summary) "
        "SELECT id, title, summary FROM stories WHERE id >= ?",
        (first_id,),
    )
    await db.execute(fts_trigger)
    # band rows, inserted in key order (random order would rewrite the whole B-tree per
    # chunk); the index by story is rebuilt after, as CREATE INDEX sorts once
    await db.execute("CREATE TEMP TABLE new_bands (band INTEGER, story_id)")
    await db.execute(
        "INSERT INTO temp.new_bands SELECT random() >> 1, s.id FROM stories s, "
        f"(WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k "
        f"WHERE x < {BANDS_PER_STORY}) SELECT x FROM k) WHERE s.id >= ?",
        (first_id,),
    )
    await db.execute("DROP INDEX story_bands_story")
    await db.execute(
        "INSERT OR IGNORE INTO story_bands (band, story_id) "
        "SELECT band, story_id FROM temp.new_bands ORDER BY band, story_id"
    )
    await db.execute(index_sql)
    await db.execute("DROP TABLE temp.new_bands")


def _old_story(i: int, now: float, span: float) -> tuple[object, ...]:
    title = f"Story {i} about a place {i % 977} and a topic {i % 613}"
    summary = f"Summary of story {i}. It mentions number {i * 7} and city {i % 389}."
    link = f"https://old{i % 500}.example/{i}"
    seen = now - span + span * i / 1_000_000
    return (1 + i % FEEDS, f"k{i}", link, title, summary, seen, content_hash(title, summary),
            seen, link)  # fmt: skip


async def _bands_bytes(store: Any) -> int:
    async with (
        store.transaction() as db,
        db.execute(
            "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('story_bands', 'story_bands_story')"
        ) as cur,
    ):
        row = await cur.fetchone()
    return int(row[0] or 0)


async def _cost_figures(folder: Path, sizes: Sequence[int], per_size: int) -> list[Figure]:
    cfg = load(_config(folder / "scale", 100))
    start = datetime.now(UTC) - timedelta(days=3)
    batch = stories(per_size, seed=2, start=start)  # the same stories at every size
    costs: list[tuple[int, float]] = []
    work: list[str] = []  # copies/developments/alert rows found at each size
    sizes_bytes: list[tuple[int, int, int]] = []  # stories stored, file bytes, band bytes
    async with open_service(cfg, SystemClock(), logs.get("bench")) as service:
        store = service.store
        feed_ids = await _feed_ids(store)
        have, now = 0, time.time()
        for target in sizes:
            await _grow(store, have, target, now, span=60 * 86400.0)  # 1M = 60 days of news
            have = target
            corpus_max = await _max_id(store)
            await store.checkpoint("TRUNCATE")
            sizes_bytes.append((target, store.size_bytes(), await _bands_bytes(store)))
            await _ingest(store, feed_ids, batch)
            detection = type(service.poller.detection)(
                store, SystemClock(), logs.get("bench"), service.settings
            )
            await detection.load()
            t0 = time.perf_counter()
            outcome = await detection.process()
            elapsed = time.perf_counter() - t0
            assert outcome.stories == per_size, (outcome, detection.last_error)
            costs.append((target, elapsed / per_size * 1e6))
            work.append(f"{outcome.duplicates}/{outcome.developments}/{outcome.alerts}")
            async with store.transaction() as db:  # the same batch again at the next size
                await db.execute("DELETE FROM stories WHERE id > ?", (corpus_max,))
                await db.execute("DELETE FROM alerts WHERE story_id IS NULL")
                await db.execute("DELETE FROM developments")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    base = costs[0][1]
    figures = [
        Figure(f"detection_cost_{_k(target)}", cost, "us per story", base,
               f"at {_k(costs[0][0])}",
               note=f"{target} stories stored with band rows, {per_size} detected, 100 topics; "
               f"copies/developments/alert rows {w}")
        for (target, cost), w in zip(costs, work, strict=True)
    ]  # fmt: skip
    (s0, f0, b0), (s1, f1, b1) = sizes_bytes[0], sizes_bytes[-1]
    figures.append(Figure(
        "story_bands_bytes_per_story", (f1 - f0) / (s1 - s0), "bytes",
        note=f"store file growth per story from {_k(sizes[0])} to {_k(sizes[-1])}; "
        f"band table and index: {(b1 - b0) / (s1 - s0):.0f} of it",
    ))  # fmt: skip
    figures.append(Figure("detection_peak_memory", peak, "MiB",
                          note=f"bench process peak RSS, {_k(sizes[-1])} stories"))  # fmt: skip
    return figures


async def _max_id(store: Any) -> int:
    async with store.transaction() as db, db.execute("SELECT MAX(id) FROM stories") as cur:
        row = await cur.fetchone()
    return int(row[0])


def run(quick: bool = False) -> list[Figure]:
    logs.configure("error", stream=io.StringIO(), json=True)
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as tmp:
        folder = Path(tmp)
        n = size(2000, 600, quick, 40)
        repeat = size(3, 2, quick, 1)
        figures = asyncio.run(_topics_figures(folder, n, (1, 100, 1000), repeat))
        figures += asyncio.run(_semantic_figures(folder, n, repeat))
        sizes = (
            [300, 1000, 3000] if size(1, 0, quick, 2) == 2
            else [10_000, 100_000, 1_000_000] if not quick
            else [10_000, 50_000, 100_000]
        )  # fmt: skip
        figures += asyncio.run(_cost_figures(folder, sizes, size(1000, 400, quick, 30)))
    return figures
