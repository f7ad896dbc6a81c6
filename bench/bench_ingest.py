"""Ingest and scale: what one small server can watch, measured side by side.

Figures:
- ingest_end_to_end: stories per second from HTTP response bytes (served by nginx) to
  stored story with topic matching (10 topics) and alert rows, on 50-entry news feeds where
  every entry is new; beside feedparser's default parse alone of the same bytes (aim: 5x).
- steady_state_cpu: CPU seconds of the daemon's process per 1,000 polls when 90% of feeds
  answer 304 and the rest carry 1-3 new entries; and the implied number of feeds one core
  sustains at a 15-minute interval.
- store_ingest_cost_*: cost per ingested story with 10k, 100k and 1M stories already stored,
  as a ratio to the 10k case (aim: <= 1.3 at a million); store size per million stories.
- ready_seconds: time from `monitor run` to READY=1 with 1M stories and 10,000 feeds (aim:
  under 2 s), beside the same with an empty store; peak memory of that daemon after its
  first round of polls.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from bench.feeds import news_feed
from bench.figures import Figure, size
from monitor import logs
from monitor.clock import SystemClock
from monitor.config import load
from monitor.models import Entry, PollUpdate
from monitor.reader.normalize import content_hash
from monitor.service.daemon import open_service
from tests.nginx import nginx

TOPICS = [
    ("ukraine", '(Ukraine OR Kyiv) AND ("security guarantee*" OR troops OR peacekeep*)'),
    ("energy", '"energy prices" OR (gas NEAR/5 prices)'),
    ("rail", '"rail strike" OR (rail AND strike*)'),
    ("grain", "grain AND export*"),
    ("budget", 'budget AND (EU OR "European officials")'),
    ("storms", "storm* OR wildfire* OR flood*"),
    ("elections", "election* -football"),
    ("corruption", '"corruption inquiry" OR title:corruption'),
    ("drones", "drone* NEAR/3 attack*"),
    ("trade", '"trade agreement" AND (Brussels OR Madrid OR Rome)'),
]


def _config(folder: Path, urls: Sequence[str], *, concurrency: int = 50) -> Path:
    topics = "".join(
        f'[[topics]]\nid = "{tid}"\nquery = \'{q}\'\nsinks = ["s"]\n' for tid, q in TOPICS
    )
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
    path = folder / "bench.toml"
    path.write_text(
        '[storage]\nurl = "sqlite:///bench.db"\n[server]\nlisten = "127.0.0.1:0"\n'
        f"[polling]\nconcurrency = {concurrency}\nhost_concurrency = {concurrency}\n"
        'host_gap = 0\ninterval = "15m"\n[log]\nlevel = "error"\n'
        '[[sinks]]\nid = "s"\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n' + topics + feeds
    )
    return path


async def _ingest_and_steady(folder: Path, n: int) -> list[Figure]:
    root = folder / "www"
    root.mkdir()
    bodies = [news_feed(i, 50, round=0) for i in range(n)]
    for i, body in enumerate(bodies):
        (root / f"f{i}.xml").write_bytes(body)
    # baseline: feedparser's default parse of the same bytes
    t0 = time.perf_counter()
    parsed = sum(len(feedparser.parse(b).entries) for b in bodies)
    feedparser_rate = parsed / (time.perf_counter() - t0)

    with nginx(root, folder / "nginx") as port:
        urls = [f"http://127.0.0.1:{port}/f{i}.xml" for i in range(n)]
        logs.configure("error", stream=io.StringIO(), json=True)
        cfg = load(_config(folder, urls))
        async with open_service(cfg, SystemClock(), logs.get("bench")) as service:
            t0 = time.perf_counter()
            outcomes = await service.poll_all()
            elapsed = time.perf_counter() - t0
            stored = sum(o.ingest.new for o in outcomes)
            assert stored == n * 50, [o for o in outcomes if o.result != "ok"][:2]
            figures = [
                Figure("ingest_end_to_end", stored / elapsed, "stories/s", feedparser_rate,
                       "feedparser parse alone", note="10 topics, alert rows written"),
            ]  # fmt: skip

            # steady state: 10% of feeds carry 1-3 new entries, the rest answer 304
            changed = 0
            for i in range(0, n, 10):
                (root / f"f{i}.xml").write_bytes(news_feed(i, 50, round=1, new_per_round=1 + i % 3))
                changed += 1
            os.utime(root, None)
            cpu0 = time.process_time()
            outcomes = await service.poll_all()
            cpu = time.process_time() - cpu0
            results = [o.result for o in outcomes]
            assert results.count("ok") == changed, results[:10]
            per_1000 = cpu / len(outcomes) * 1000
            figures.append(Figure("steady_state_cpu", per_1000, "CPU s per 1000 polls",
                                  note="90% 304, 10% with 1-3 new entries"))  # fmt: skip
            figures.append(Figure("feeds_per_core_at_15_min", 900 / (per_1000 / 1000), "feeds"))
    return figures


def _row(i: int, now: float) -> tuple[object, ...]:
    title = f"Story {i} about a place {i % 977} and a topic {i % 613}"
    summary = f"Summary of story {i}. It mentions number {i * 7} and city {i % 389}."
    return (1 + i % 1000, f"k{i}", f"https://news.example/{i}", title, summary, None, now,
            content_hash(title, summary), now)  # fmt: skip


async def _store_scale(folder: Path, sizes: Sequence[int], batch_stories: int) -> list[Figure]:
    logs.configure("error", stream=io.StringIO(), json=True)
    (folder / "scale").mkdir()
    cfg = load(_config(folder / "scale", [f"http://f{i}.example/" for i in range(1000)]))
    figures: list[Figure] = []
    costs: list[tuple[int, float]] = []
    async with open_service(cfg, SystemClock(), logs.get("bench")) as service:
        store = service.store
        have = 0
        now = time.time()
        for target in sizes:
            while have < target:  # grow the corpus by direct inserts
                chunk = min(50_000, target - have)
                async with store.transaction() as db:
                    await db.executemany(
                        "INSERT INTO stories (feed_id, key, link, title, summary, author, "
                        "published_at, content_hash, first_seen_at, detected_rev) "
                        "VALUES (?,?,?,?,?,?,?,?,?,1)",  # an old corpus: detected long ago
                        [_row(i, now) for i in range(have, have + chunk)],
                    )
                have += chunk
            # measure: feeds of 50 entries through the store's real ingest path
            t0 = time.perf_counter()
            for b in range(batch_stories // 50):
                entries = [
                    Entry(key=f"new-{target}-{b}-{j}", link=f"https://n.example/{target}/{b}/{j}",
                          title=f"New {b} {j}", summary="Fresh text.",
                          published=datetime.now(UTC), author=None,
                          content_hash=content_hash(f"New {b} {j}", "Fresh text."))
                    for j in range(50)
                ]  # fmt: skip
                feed_id = 1 + b % 1000
                known = await store.known_hashes(feed_id, [e.key for e in entries])
                assert not known
                await store.ingest(
                    feed_id,
                    PollUpdate(result="ok", http_status=200, next_poll_at=now + 900),
                    entries, [], 0, now,
                )  # fmt: skip
            costs.append((target, (time.perf_counter() - t0) / batch_stories * 1e6))
            have += batch_stories
        await store.checkpoint("TRUNCATE")
        db_bytes = store.size_bytes()
    base = costs[0][1]
    for target, cost in costs:
        figures.append(Figure(f"store_ingest_cost_{_k(target)}", cost, "us per story", base,
                              f"at {_k(costs[0][0])}"))  # fmt: skip
    figures.append(Figure("store_size_per_million", db_bytes / have * 1e6 / 2**20,
                          "MiB per 1M stories"))  # fmt: skip
    return figures


def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def _time_to_ready(folder: Path, config: Path) -> tuple[float, float]:
    """Seconds from exec to READY=1, and the daemon's peak RSS (MiB) a few seconds later."""
    sock_path = folder / "notify.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
        ready = time.perf_counter() - t0
        time.sleep(3)  # a first round of polls (they fail fast: nothing listens)
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
        return ready, hwm / 1024
    finally:
        proc.terminate()
        proc.wait(30)
        sock.close()


def _startup(folder: Path, n_feeds: int) -> list[Figure]:
    """READY with the store built by _store_scale (its folder) and n_feeds feeds."""
    scale = folder / "scale"
    feeds_dir = scale / "feeds.d"
    feeds_dir.mkdir(exist_ok=True)
    (feeds_dir / "many.toml").write_text("".join(
        f'[[feeds]]\nurl = "http://127.0.0.1:9/{i}.xml"\n' for i in range(n_feeds)))  # fmt: skip
    config = scale / "bench.toml"
    text = config.read_text()
    config.write_text('feeds_files = ["feeds.d/*.toml"]\n' + text)
    empty = folder / "empty"
    empty.mkdir()
    (empty / "bench.toml").write_text(
        '[storage]\nurl = "sqlite:///e.db"\n[server]\nlisten = "127.0.0.1:0"\n'
        '[[feeds]]\nurl = "http://127.0.0.1:9/x.xml"\n'
    )
    base_ready, _ = _time_to_ready(empty, empty / "bench.toml")
    ready, peak = _time_to_ready(scale, config)
    return [
        Figure("ready_seconds", ready, "s", base_ready, "empty store, 1 feed",
               note=f"{n_feeds} feeds and the store above"),
        Figure("daemon_peak_memory", peak, "MiB", note=f"{n_feeds} feeds, store above"),
    ]  # fmt: skip


def run(quick: bool = False) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp)
        figures = asyncio.run(_ingest_and_steady(folder, size(200, 40, quick, 4)))
        sizes = (
            [200, 1000, 5000] if size(1, 0, quick, 2) == 2
            else [10_000, 100_000, 1_000_000] if not quick
            else [10_000, 50_000, 100_000]
        )  # fmt: skip
        figures += asyncio.run(_store_scale(folder, sizes, size(2000, 1000, quick, 100)))
        figures += _startup(folder, size(10_000, 2000, quick, 50))
        return figures
