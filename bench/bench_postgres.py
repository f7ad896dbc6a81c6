"""The PostgreSQL store (issue 9), on a throw-away local cluster (tests/pg.py).

Figures:
- pg_polls_two_instances: feeds polled per second by two daemon processes sharing one
  PostgreSQL, beside one daemon alone on the same feeds (the ratio is the figure: the work is
  shared, each feed polled once). Every feed is made due at once; the time runs until every
  feed has been polled; first a pass of 200s (parse, store), then a pass of 304s.
- pg_ingest_per_story_1m: milliseconds per new story stored (50 stories per transaction, as
  a poll's ingest writes them; their matches and alerts are the detection stage's) once the
  store holds a million stories (100,000 with --quick), beside the same on an empty store:
  the ratio shows whether the cost grows with the corpus.

Skipped (no figures) when no PostgreSQL server binaries are found.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.figures import Figure, size
from monitor.config import FeedConfig, StorageConfig
from monitor.store import store_for
from monitor.store.postgres import PostgresStore
from tests.conftest import FeedServer, rss
from tests.pg import Cluster, cluster, create_database, find_bin_dir
from tests.test_store_backends import entry, ok

T0 = 1_700_000_000.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(folder: Path, name: str, urls: list[str], port: int) -> Path:
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
    path = folder / f"{name}.toml"
    path.write_text(
        '[storage]\nurl_env = "BENCH_PG_URL"\n'
        f'[server]\nlisten = "127.0.0.1:{port}"\n'
        '[log]\nlevel = "warning"\n'
        "[polling]\nconcurrency = 50\nhost_concurrency = 50\nhost_gap = 0\n"
        'interval = "15m"\nbatch = 200\ntick = "50ms"\njitter = 0\n'
        "[[topics]]\nid = \"t\"\nquery = '(Ukraine OR Kyiv) AND troops'\nsinks = []\n" + feeds
    )
    return path


async def _start(config: Path, url: str, port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "BENCH_PG_URL": url},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("the daemon did not start")


async def _pass(url: str, n: int, polls: int, timeout: float = 600.0) -> float:
    """Make every feed due now; seconds until each has `polls` polls."""
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        t0 = time.monotonic()
        await con.execute("UPDATE feeds SET next_poll_at = 0")
        while time.monotonic() - t0 < timeout:
            done = await con.fetchval("SELECT COUNT(*) FROM feeds WHERE polls >= $1", polls)
            if done >= n:
                return time.monotonic() - t0
            await asyncio.sleep(0.05)
    finally:
        await con.close()
    raise RuntimeError("the daemons did not poll every feed in time")


async def _polls(c: Cluster, server: FeedServer, n: int, instances: int) -> tuple[float, float]:
    """Polls per second (200 pass, 304 pass) with `instances` daemons on one database."""
    url = c.url(create_database(c))
    urls = [server.url(f"f{i}.xml") for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = PostgresStore(url)
        await store.open()  # migrated, feeds known and not due: the daemons start idle
        await store.sync_feeds([FeedConfig(url=u) for u in urls], 900.0, T0)
        async with store.transaction() as con:
            await con.execute("UPDATE feeds SET next_poll_at = 4e9")
        await store.close()
        procs = []
        try:
            for k in range(instances):
                port = _free_port()
                procs.append(await _start(_config(folder, f"d{k}", urls, port), url, port))
            first = await _pass(url, n, 1)
            second = await _pass(url, n, 2)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                await p.wait()
    return n / first, n / second


async def _bulk_load(url: str, stories: int) -> None:
    """`stories` old stories (detected), all first seen at T0, by SQL in one transaction.
    The per-row trigger that counts stories per hour is off meanwhile and its count is set
    once at the end: a million upserts of the one hour's row in one transaction would each
    walk that row's chain of versions (a quadratic half hour, and a million dead versions
    that the measured ingests, in the same hour, would then walk too)."""
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        async with con.transaction():
            await con.execute("ALTER TABLE stories DISABLE TRIGGER stories_hour")
            for lo in range(1, stories + 1, 100_000):
                await con.execute(
                    """INSERT INTO stories (feed_id, key, link, title, summary, published_at,
                                            content_hash, first_seen_at, detected_rev)
                       SELECT 1 + g % 100, 'pre' || g, 'https://example.org/' || g,
                              'Story ' || g, 'Summary of story ' || g, $3, md5(g::text),
                              $3, 1
                       FROM generate_series($1::int, $2::int) AS g""",
                    lo,
                    min(stories, lo + 99_999),
                    T0,
                )
            await con.execute("ALTER TABLE stories ENABLE TRIGGER stories_hour")
            await con.execute(
                """INSERT INTO story_hours (hour, stories)
                   SELECT floor(first_seen_at / 3600)::bigint, COUNT(*) FROM stories
                    WHERE key LIKE 'pre%' GROUP BY 1
                   ON CONFLICT (hour) DO UPDATE SET stories = story_hours.stories
                                                              + excluded.stories"""
            )
        await con.execute("ANALYZE")
    finally:
        await con.close()


async def _ingest_ms(url: str, stories: int, rounds: int) -> float:
    """ms per new story stored, with `stories` already in the store."""
    store = store_for(StorageConfig(url=url, path=None))
    await store.open()
    assert isinstance(store, PostgresStore)
    try:
        await store.sync_feeds([FeedConfig(url=f"http://x/{i}") for i in range(100)], 900.0, T0)
        if stories:  # a bulk load on its own connection, with no statement timeout
            await _bulk_load(url, stories)
        feeds = await store.active_feeds()
        t = 0.0
        for r in range(rounds):
            batch = [entry(f"new{r}-{i}") for i in range(50)]
            feed = feeds[r % len(feeds)]
            await store.known_hashes(feed.id, [e.key for e in batch])
            t0 = time.perf_counter()
            res = await store.ingest(feed.id, ok(T0 + 900), batch, [], 0, T0 + r)
            t += time.perf_counter() - t0
            assert res.new == 50
        return t * 1000 / (rounds * 50)
    finally:
        await store.close()


async def _run(quick: bool) -> list[Figure]:
    n = size(2000, 300, quick, smoke_size=20)
    corpus = size(1_000_000, 100_000, quick, smoke_size=1000)
    rounds = size(100, 40, quick, smoke_size=4)
    figures: list[Figure] = []
    with cluster() as c:
        server = FeedServer()
        await server.start()
        try:
            for i in range(n):
                server.set(
                    f"f{i}.xml",
                    rss([{"guid": f"g{i}", "title": f"Kyiv troops {i}", "description": "x"}]),
                )
            one = await _polls(c, server, n, 1)
            two = await _polls(c, server, n, 2)
        finally:
            if server._runner is not None:
                await server._runner.cleanup()
        for k, label in enumerate(("first poll (200)", "304")):
            figures.append(
                Figure(
                    f"pg_polls_two_instances_{'200' if k == 0 else '304'}",
                    two[k],
                    "polls/s",
                    baseline=one[k],
                    baseline_name="one_instance",
                    note=f"{n} feeds, {label}; 2 shared cores run both daemons, the feed "
                    "server and PostgreSQL",
                )
            )
        empty_url = c.url(create_database(c))
        full_url = c.url(create_database(c))
        empty = await _ingest_ms(empty_url, 0, rounds)
        full = await _ingest_ms(full_url, corpus, rounds)
        figures.append(
            Figure(
                f"pg_ingest_per_story_{corpus // 1000}k" if corpus < 1_000_000 else
                "pg_ingest_per_story_1m",
                full,
                "ms/story",
                baseline=empty,
                baseline_name="empty_store",
                note=f"{corpus:,} stories stored; 50 new stories a transaction",
            )
        )  # fmt: skip
    return figures


def run(quick: bool = False) -> list[Figure]:
    if find_bin_dir() is None:
        print("bench_postgres: no PostgreSQL server binaries, skipped", file=sys.stderr)
        return []
    return asyncio.run(_run(quick))
