"""The JSON API (/api/…) and the dashboard's HTML, in process: a real store filled by real
polls of a feed server, a real webhook receiver, the status server on port 0. Every API and
dashboard test runs on both stores: SQLite in tmp_path, PostgreSQL on a throw-away cluster
(tests/pg.py: skipped without server binaries, a failure under CI). The query plan checks
are per store."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from monitor import reads as queries
from monitor.reads.readers import PostgresReader, SQLiteReader, positional
from monitor.web import status
from monitor.web.openapi import document
from tests.conftest import API_TOKEN, WebServer
from tests.test_pipeline import GUARANTEE as GUARANTEE_ITEM
from tests.test_semantic import SEED

TOPIC = "ukraine-security-guarantees"


@pytest.fixture(params=["sqlite", "postgresql"])
def web_backend(request: pytest.FixtureRequest) -> str:
    """The store behind web_factory's server (overrides conftest's SQLite-only one)."""
    backend: str = request.param
    return backend


async def get(
    server: WebServer, path: str, status: int = 200, headers: dict[str, str] | None = None
) -> Any:
    async with (
        aiohttp.ClientSession() as s,
        s.get(server.url(path), headers=server.headers if headers is None else headers) as r,
    ):
        assert r.status == status, (path, r.status, await r.text())
        if r.content_type == "application/json":
            return await r.json()
        return await r.text()


async def post(server: WebServer, path: str, status: int, **kw: Any) -> Any:
    headers = {**server.headers, **kw.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as s,
        s.post(server.url(path), headers=headers, **kw) as r,
    ):
        assert r.status == status, (path, r.status, await r.text())
        return await r.json()


async def test_feeds_filter_by_state_and_keyset_pages(web_factory: Callable[..., Any]) -> None:
    server: WebServer = await web_factory()
    failing = await get(server, "/api/feeds?state=failing")
    assert [f["url"].rsplit("/", 1)[1] for f in failing["items"]] == ["b.xml"]
    [bad] = failing["items"]
    assert bad["last_error"]["kind"] == "http" and bad["consecutive_errors"] == 3
    assert bad["last_status"] == 503
    ok = await get(server, "/api/feeds?state=ok")
    assert [f["state"] for f in ok["items"]] == ["ok"] and ok["items"][0]["stories"] == 3
    assert (await get(server, "/api/feeds?state=paused"))["items"] == []
    for sort in queries.FEED_SORTS:
        first = await get(server, f"/api/feeds?limit=1&sort={sort}")
        assert first["next_cursor"]
        second = await get(server, f"/api/feeds?limit=1&sort={sort}&cursor={first['next_cursor']}")
        assert second["next_cursor"] is None
        ids = [first["items"][0]["id"], second["items"][0]["id"]]
        assert sorted(ids) == [1, 2], sort
    worst = await get(server, "/api/feeds?sort=errors")
    assert worst["items"][0]["state"] == "failing"
    one = await get(server, f"/api/feeds/{bad['id']}")
    assert one == bad
    await get(server, "/api/feeds/999", 404)
    for wrong in (
        "state=broken",
        "limit=0",
        "limit=x",
        "sort=name",
        "cursor=zzz",
        "state=ok&state=new",
    ):
        body = await get(server, f"/api/feeds?{wrong}", 400)
        assert body["error"].split(":")[0] in wrong
    await get(server, "/api/feeds/abc", 400)


async def test_stories_search_by_words_and_time(web_factory: Callable[..., Any]) -> None:
    server: WebServer = await web_factory()
    every = await get(server, "/api/stories")
    assert len(every["items"]) == 3 and every["next_cursor"] is None
    titles = {s["title"] for s in (await get(server, "/api/stories?q=troops"))["items"]}
    assert titles == {
        "UK offers troops to guard Kyiv skies",
        "Russia rejects foreign troops in Ukraine",
    }
    # prefix, case and accents, every word required, FTS syntax not interpreted
    assert len((await get(server, "/api/stories?q=PEACEKEEP*"))["items"]) == 1
    assert len((await get(server, "/api/stories?q=troops%20grain"))["items"]) == 0
    assert len((await get(server, "/api/stories?q=%22troops%22%20OR%20NEAR("))["items"]) == 0
    assert (await get(server, "/api/stories?q=%2A%2A"))["items"] == []
    first_seen = every["items"][0]["first_seen"]
    assert len((await get(server, f"/api/stories?since={first_seen}"))["items"]) == 3
    assert (await get(server, f"/api/stories?until={first_seen}"))["items"] == []
    assert (await get(server, "/api/stories?since=2999-01-01T00:00:00Z"))["items"] == []
    page1 = await get(server, "/api/stories?limit=2")
    page2 = await get(server, f"/api/stories?limit=2&cursor={page1['next_cursor']}")
    ids = [s["id"] for s in page1["items"] + page2["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert page2["next_cursor"] is None
    assert len((await get(server, "/api/stories?feed=1"))["items"]) == 3
    for wrong in ("since=yesterday", "until=2026-13-01T00:00:00Z", "limit=500"):
        await get(server, f"/api/stories?{wrong}", 400)


async def test_topic_timeline_lists_matched_stories_with_their_developments(
    web_factory: Callable[..., Any],
) -> None:
    server: WebServer = await web_factory()
    [topic] = (await get(server, "/api/topics"))["items"]
    assert topic["id"] == TOPIC and topic["matches"] == 2 and topic["last_match"]
    timeline = await get(server, f"/api/topics/{TOPIC}/timeline")
    assert {i["title"] for i in timeline["items"]} == {
        "UK offers troops to guard Kyiv skies",
        "Russia rejects foreign troops in Ukraine",
    }
    for item in timeline["items"]:
        assert item["source"] == "Feed 0" and item["matched_terms"]
        dev = item["development"]
        assert dev["stories"] == 1 and dev["sources"] == 1 and dev["headline"] == item["title"]
        assert dev["what_is_new"][0] == item["title"]
    page = await get(server, f"/api/topics/{TOPIC}/timeline?limit=1")
    rest = await get(server, f"/api/topics/{TOPIC}/timeline?limit=1&cursor={page['next_cursor']}")
    assert page["items"][0]["story_id"] != rest["items"][0]["story_id"]
    await get(server, "/api/topics/nope/timeline", 404)

    devs = await get(server, f"/api/topics/{TOPIC}/developments")
    assert [len(d["items"]) for d in devs["items"]] == [1, 1]
    assert {d["headline"] for d in devs["items"]} == {
        "UK offers troops to guard Kyiv skies",
        "Russia rejects foreign troops in Ukraine",
    }
    first = await get(server, f"/api/topics/{TOPIC}/developments?limit=1")
    second = await get(
        server, f"/api/topics/{TOPIC}/developments?limit=1&cursor={first['next_cursor']}"
    )
    assert first["items"][0]["id"] != second["items"][0]["id"] and not second["next_cursor"]
    await get(server, f"/api/topics/{TOPIC}/developments?cursor=zzz", 400)
    await get(server, "/api/topics/nope/developments", 404)


async def test_alerts_show_their_delivery_attempts(web_factory: Callable[..., Any]) -> None:
    server: WebServer = await web_factory()
    [dead] = (await get(server, "/api/alerts?state=dead"))["items"]
    assert dead["attempts"] == 1 and dead["event"] == "development.new"
    [attempt] = dead["attempts_log"]
    assert attempt["status"] == 400 and attempt["attempt"] == 1
    [delivered] = (await get(server, "/api/alerts?state=delivered"))["items"]
    assert delivered["attempts_log"][0]["status"] == 204 and delivered["delivered"]
    assert await get(server, f"/api/alerts/{dead['id']}") == dead
    await get(server, "/api/alerts/msg_nope", 404)
    overview = await get(server, "/api/overview")
    assert overview["alerts"]["dead"] == 1 and overview["alerts"]["delivered_24h"] == 1
    assert overview["feeds"]["failing"] == 1 and overview["feeds"]["ok"] == 1
    assert overview["stories"] == 3 and sum(overview["hourly"]["stories"]) == 3
    assert sum(overview["hourly"]["polls"]) == 6 and sum(overview["hourly"]["poll_errors"]) == 3


async def test_changes_are_refused_without_a_token(web_factory: Callable[..., Any]) -> None:
    server: WebServer = await web_factory()
    [dead] = (await get(server, "/api/alerts?state=dead"))["items"]
    body = await post(server, f"/api/alerts/{dead['id']}/requeue", 403)
    assert "token" in body["error"]
    await post(server, "/api/feeds/1/pause", 403)
    assert (await get(server, "/api/alerts?state=dead"))["items"]


async def test_with_a_token_requeue_pause_and_resume(
    web_factory: Callable[..., Any], web_backend: str
) -> None:
    server: WebServer = await web_factory(token=API_TOKEN)
    await get(server, "/api/feeds", 401, headers={})
    await get(server, "/", 401, headers={})
    await get(server, "/api/openapi.json", 401, headers={})
    async with aiohttp.ClientSession() as s, s.get(server.url("/healthz")) as r:
        assert r.status == 200
    [dead] = (await get(server, "/api/alerts?state=dead"))["items"]
    again = await post(server, f"/api/alerts/{dead['id']}/requeue", 200)
    assert again["id"] == dead["id"] and again["state"] == "pending"
    await post(server, f"/api/alerts/{dead['id']}/requeue", 409)
    await post(server, "/api/alerts/msg_nope/requeue", 404)
    # a cross-site form post (a proxy lending its token to any page) is refused
    await post(server, "/api/feeds/1/pause", 403, headers={"Sec-Fetch-Site": "cross-site"})
    paused = await post(server, "/api/feeds/1/pause", 200)
    assert paused["state"] == "paused" and paused["paused"] and paused["next_poll"] is None
    paused_at = server.clock.now().timestamp()
    assert (await post(server, "/api/feeds/1/pause", 200)) == paused  # again: no change
    server.clock.advance(86400)
    now = server.clock.now().timestamp()
    claimed = await server.service.store.claim_due_feeds(now, 10)
    assert [f.id for f in claimed] == [2]  # the paused feed is not polled
    assert [f.id for f in await server.service.store.active_feeds()] == [2]
    assert (await get(server, "/api/overview"))["feeds"]["paused"] == 1
    report = {f["id"]: f for f in await server.service.store.feed_report()}
    assert report[1]["paused"] and report[1]["paused_at"] == paused_at
    if web_backend == "sqlite":  # (PostgreSQL's /status also needs the detection stage's
        # report, which the PostgreSQL store does not have yet)
        status = {f["id"]: f["state"] for f in (await server.service.status())["feeds"]}
        assert status[1] == "paused"  # /status and /metrics say so too
    assert b'monitor_feeds{state="paused"} 1.0' in await server.service.metrics_text()
    resumed = await post(server, "/api/feeds/1/resume", 200)
    assert resumed["state"] == "ok" and not resumed["paused"]
    assert [f.id for f in await server.service.store.claim_due_feeds(now, 10)] == [1]
    await post(server, "/api/feeds/99/pause", 404)


async def test_dashboard_renders_every_section_and_escapes_stored_text(
    web_factory: Callable[..., Any],
) -> None:
    server: WebServer = await web_factory()
    # stored text is escaped (the normalizer already drops markup: this bypasses it)
    await server.execute("UPDATE stories SET title = '<script>alert(1)</script> Kyiv' WHERE id = 1")
    html = await get(server, "/")
    for needle in (
        "Feeds",
        "Activity, last 48 hours",
        "Russia rejects foreign troops in Ukraine",
        "Ukraine security guarantees",
        "Dead letters",
        "Alert queue",
        "1 stories · 1 sources",
        "<svg",
        'data-state="failing"',
    ):
        assert needle in html, needle
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    failing = await get(server, "/?state=failing&sort=last_poll")
    assert 'data-state="failing"' in failing and 'data-state="ok"' not in failing
    bad = await get(server, "/?state=nonsense", 400)
    assert "not one of" in bad


@pytest.mark.parametrize("web_backend", ["sqlite"])
async def test_openapi_documents_every_api_route(web_factory: Callable[..., Any]) -> None:
    server: WebServer = await web_factory()
    doc = await get(server, "/api/openapi.json")
    assert doc == document(doc["info"]["version"]) and doc["openapi"] == "3.1.0"
    app = status.make_app(server.service)
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/")
    }
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert routes == documented
    assert len(documented) == 16  # 13, and the three of relevance feedback


QUERIES = [
    lambda db: queries.feeds_page(db, failing_after=3, state="failing", sort="last_poll"),
    lambda db: queries.feeds_page(db, failing_after=3, sort="-next_poll"),
    lambda db: queries.timeline(db, TOPIC),
    lambda db: queries.developments_page(db, TOPIC),
    lambda db: queries.stories_page(db, q="troops", since=0.0, until=4e9),
    lambda db: queries.stories_page(db, q="troops peacekeep*"),
    lambda db: queries.stories_page(db, since=0.0, until=4e9),
    lambda db: queries.alerts_page(db, state="dead"),
    lambda db: queries.alerts_page(db),
    lambda db: queries.alert_summary(db, 0.0),
    lambda db: queries.hourly(db, 0.0),
    lambda db: queries.topic_stats(db),
]


@pytest.mark.parametrize("web_backend", ["sqlite"])
@pytest.mark.parametrize("call", QUERIES)
async def test_no_query_scans_stories_matches_or_alerts(
    web_factory: Callable[..., Any], call: Callable[..., Any]
) -> None:
    """Every query answers from an index (EXPLAIN QUERY PLAN shows no SCAN of a large
    table), so pages stay fast at a million stories."""
    server: WebServer = await web_factory()
    db = server.service.store.db
    plans: list[tuple[str, Any]] = []
    original = db.execute

    def spy(sql: str, params: Any = ()) -> Any:
        plans.append((sql, params))
        return original(sql, params)

    db.execute = spy  # type: ignore[method-assign]
    try:
        await call(SQLiteReader(db))
    finally:
        db.execute = original  # type: ignore[method-assign]
    with sqlite3.connect(server.service.store.path) as raw:
        for sql, params in plans:
            rows = raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            details = [r[-1] for r in rows]
            assert not any("TEMP B-TREE FOR ORDER BY" in d for d in details), (sql, details)
            for detail in details:
                # a walk of a table that grows with the stories must be in the order asked
                # for and stop at LIMIT; anything else is a full scan
                big = r"SCAN (stories|s|st|story_topics|alerts|alert_attempts)\b"
                if re.match(big, detail) and "VIRTUAL TABLE" not in detail:
                    assert "LIMIT" in sql and "ORDER BY" in sql, (sql, detail)


# tables that grow with the stories or the feeds (the counters do not)
BIG = r"(feeds|stories|story_topics|alerts|alert_attempts|developments|development_stories)"


@pytest.mark.parametrize("web_backend", ["postgresql"])
@pytest.mark.parametrize("call", QUERIES)
async def test_postgres_queries_walk_indexes(
    web_factory: Callable[..., Any], call: Callable[..., Any]
) -> None:
    """The same queries on PostgreSQL, each explained with sequential scans and sorts priced
    out (a few rows would otherwise rightly be scanned): what still scans a large table, or
    still sorts, has no index to serve it. Word search without a time window must use the
    GIN index stories_fts (its expression is the index's), and may sort the matches by id."""
    server: WebServer = await web_factory()
    store = server.service.store
    reader = PostgresReader(store)
    seen: list[tuple[str, dict[str, Any]]] = []
    fetch = reader.fetch

    async def spy(sql: str, params: Any = None) -> Any:
        seen.append((sql, dict(params or {})))
        return await fetch(sql, params)

    reader.fetch = spy  # type: ignore[method-assign]
    await call(reader)
    assert seen
    async with store.connection() as con:
        for sql, params in seen:
            text, names = positional(sql)
            args = [params[n] for n in names]
            words = "@@" in sql
            async with con.transaction():
                await con.execute("SET LOCAL enable_seqscan = off")
                await con.execute(f"SET LOCAL enable_sort = {'on' if words else 'off'}")
                if words:  # no walk of the primary key either: the GIN index or nothing
                    await con.execute("SET LOCAL enable_indexscan = off")
                plan = "\n".join(r[0] for r in await con.fetch("EXPLAIN " + text, *args))
            assert not re.search(rf"Seq Scan on {BIG}\b", plan), (sql, plan)
            if words:
                if ":since" not in sql and ":until" not in sql:  # (or the window's index)
                    assert "Bitmap Index Scan on stories_fts" in plan, plan
            elif re.search(rf"\bFROM {BIG}\b", sql):
                assert not re.search(r"\bSort\b", plan), (sql, plan)


@pytest.mark.parametrize("web_backend", ["postgresql"])
async def test_postgres_answers_every_call_as_sqlite_does(web_factory: Callable[..., Any]) -> None:
    """The same data on both stores (PostgreSQL's copied from SQLite's): every call, every
    page after it (following next_cursor) and the dashboard are alike, byte for byte, odd
    cursors included (a text key in a numeric order, a number in the URL order, keys between
    or beyond integers, a NUL in an alert id)."""
    server: WebServer = await web_factory()
    assert server.twin is not None
    first_seen = (await get(server, "/api/stories"))["items"][0]["first_seen"]
    paths = [
        "/",
        "/?state=failing&sort=last_poll",
        f"/?topic={TOPIC}",
        "/api/overview",
        "/api/topics",
        "/api/feeds/1",
        f"/api/topics/{TOPIC}/timeline?limit=1",
        f"/api/topics/{TOPIC}/developments?limit=1",
        "/api/stories?limit=1",
        "/api/stories?q=troops&limit=1",
        "/api/stories?q=PEACEKEEP*",
        "/api/stories?q=ukraine%20troops%20kyiv",
        "/api/stories?q=troops%20grain",
        f"/api/stories?since={first_seen}&limit=1",
        f"/api/stories?until={first_seen}",
        "/api/stories?feed=1&q=ukr*&limit=1",
        "/api/alerts?limit=1",
        "/api/alerts?state=dead",
        "/api/alerts?state=delivered&limit=1",
        "/api/alerts?cursor=1000~x",
        "/api/alerts?cursor=4000000000~msg%00x",
        *(f"/api/feeds?limit=1&sort={sort}" for sort in queries.FEED_SORTS),
        *(f"/api/feeds?state={state}" for state in queries.FEED_STATES),
    ]
    for sort in queries.FEED_SORTS:
        for key in ("u", "uhttp://127.0.0.1:1/", "2.5", "-0.5", "0", "99999999999", "-99999999999"):
            paths.append(f"/api/feeds?sort={sort}&cursor={key}~1")
    pages = 0
    for path in paths:
        for _ in range(10):  # the pages of the list
            ours, theirs = await get(server, path), await get(server.twin, path)
            assert ours == theirs, path
            pages += 1
            if not isinstance(ours, dict) or not ours.get("next_cursor"):
                break
            path = re.sub(r"[?&]cursor=[^&]*", "", path)
            path += ("&" if "?" in path else "?") + "cursor=" + quote(ours["next_cursor"])
    assert pages > len(paths) + 10  # next pages were followed


GUARANTEES_TOPIC = """
[[topics]]
id = "guarantees"
name = "Security guarantees"
query = '(Ukraine OR Kyiv) AND ("security guarantee*" OR troops)'
seeds = ["seeds/*.txt"]
profile_threshold = 0.2
sinks = ["ops"]
"""
GUARANTEE = GUARANTEE_ITEM["title"]  # of web_factory's feed
SKIES = {  # its query finds it, far from the seeds
    "guid": "s4",
    "title": "UK jets to guard Kyiv skies, Britain says",
    "link": "http://news.example/s4",
    "description": "British jets would guard the skies over Kyiv and protect Ukraine's ports, "
    "the UK said, with a few troops on the ground.",
    "pubDate": "Thu, 26 Nov 2026 11:00:00 GMT",
}
COALITION = {  # no query term: the seed profile alone finds it
    "guid": "s5",
    "title": "Coalition plan: a reassurance force after a ceasefire",
    "link": "http://news.example/s5",
    "description": "European governments and the United States discussed a reassurance force "
    "backed by Washington, with air support and a guarantee under European command.",
    "pubDate": "Thu, 26 Nov 2026 12:00:00 GMT",
}


async def test_a_weak_match_is_marked_in_the_api_and_on_the_dashboard(
    web_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """A topic with seeds: the report of the guarantee (its query and near its seeds) opens a
    development; the report of jets over Kyiv, which its query finds far from the seeds,
    joins it as a weak match; the coalition's plan, which only the seeds find, is a strong
    match on the seeds. The API says so of each story, the dashboard marks the weak one."""
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "guarantees.txt").write_text(SEED, encoding="utf-8")
    server: WebServer = await web_factory(extra_items=[SKIES, COALITION], extra=GUARANTEES_TOPIC)
    expected = {
        GUARANTEE: {"basis": "query and profile", "strength": "strong"},
        SKIES["title"]: {"basis": "query", "strength": "weak"},
        COALITION["title"]: {"basis": "profile", "strength": "strong"},
    }
    timeline = await get(server, "/api/topics/guarantees/timeline")
    matches = {it["title"]: it["match"] for it in timeline["items"]}
    assert {title: matches[title] for title in expected} == expected
    devs = await get(server, "/api/topics/guarantees/developments")
    joined = {it["title"]: (d["headline"], it["match"]) for d in devs["items"] for it in d["items"]}
    assert joined[SKIES["title"]] == (GUARANTEE, expected[SKIES["title"]])
    assert {title: joined[title][1] for title in expected} == expected
    # the other topic has no seeds: its matches rest on its query, and open developments
    other = await get(server, f"/api/topics/{TOPIC}/timeline")
    assert {it["title"]: it["match"]["basis"] for it in other["items"]}[GUARANTEE] == "query"

    html = await get(server, "/?topic=guarantees")

    def meta(title: str) -> str:  # the line under the story's headline: source and match
        found = re.search(rf'{re.escape(title)}</a></p><p class="meta">(.*?)</p>', html)
        assert found, title
        return found.group(1)

    weak = meta(SKIES["title"])
    assert '<span class="term weak" title="' in weak and ">weak match</span>" in weak
    assert "could not have opened a development on its own" in weak
    assert "weak match" not in meta(GUARANTEE) and "the topic&#x27;s seeds" not in meta(GUARANTEE)
    seeds = meta(COALITION["title"])
    assert "the topic&#x27;s seeds</span>" in seeds and "weak match" not in seeds
