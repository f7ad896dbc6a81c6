"""Relevance feedback and negative seeds (monitor/topics/feedback.py): the pure decision, then the
real service (feeds served on 127.0.0.1, a real SQLite store, a webhook receiver, an injected
clock), the CLI in another process, the API on both stores, and the backtest."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.clock import FixedClock
from monitor.config import ConfigError, TopicConfig
from monitor.models import TopicMatch
from monitor.topics.compiled import Topic, load
from monitor.topics.feedback import (
    FEEDBACK_THRESHOLD,
    Feedback,
    FeedbackSet,
    apply,
    dot,
)
from monitor.topics.profile import Profile, build_profile, story_vector
from monitor.topics.query import compile_query
from tests.conftest import API_TOKEN, FeedServer, Receiver, WebServer, rss
from tests.test_detection import T0, alerts, rows, service_for

TOPIC = "ukraine-security-guarantees"
QUERY = "Ukraine OR Kyiv"

# three tellings of one off-topic event (the query matches each: Kyiv, Ukraine), none a
# near-duplicate of another (dedup keeps them apart), cosine 0.51 and 0.72 with the first
HARRY = {
    "guid": "h1",
    "title": "Prince Harry makes surprise visit to Kyiv",
    "link": "https://wire.example/royals/harry-kyiv",
    "description": (
        "Prince Harry arrived in Kyiv by train on Thursday for a surprise visit, meeting "
        "wounded veterans at a rehabilitation centre and laying flowers at a memorial to fallen "
        "soldiers. The Duke of Sussex has championed the Invictus Games for injured servicemen."
    ),
}
HARRY_2 = {
    "guid": "h2",
    "title": "Duke of Sussex meets wounded veterans in Ukraine",
    "link": "https://daily.example/royals/sussex-veterans",
    "description": (
        "The Duke of Sussex, Prince Harry, met injured veterans at a rehabilitation clinic in "
        "the Ukrainian capital during an unannounced trip, and spoke about the Invictus Games "
        "he founded for wounded servicemen and women."
    ),
}
HARRY_3 = {
    "guid": "h3",
    "title": "Prince Harry's Kyiv trip: Invictus founder visits rehabilitation centre",
    "link": "https://third.example/harry-invictus-kyiv",
    "description": (
        "On his surprise visit to Kyiv, Prince Harry toured a rehabilitation centre for "
        "wounded soldiers and veterans and said the Invictus Games would welcome Ukrainian "
        "servicemen again next year."
    ),
}
HARRY_4 = {  # a fourth (0.68 with the first)
    "guid": "h4",
    "title": "Invictus Games founder Prince Harry in Kyiv to see wounded veterans",
    "link": "https://fourth.example/harry",
    "description": (
        "Prince Harry, the Duke of Sussex, travelled to Kyiv to visit a rehabilitation centre "
        "where wounded veterans are treated, and invited them to the next Invictus Games."
    ),
}
RUSSIA = {  # on the topic, like none of them
    "guid": "r1",
    "title": "Russia rules out NATO troops in Ukraine",
    "link": "https://wire.example/world/russia-rules-out-nato-troops",
    "description": (
        "Moscow will never accept troops from NATO countries on Ukrainian soil as part of any "
        "settlement, Kremlin spokesman Dmitry Peskov said on Wednesday, rejecting a British "
        "proposal for a reassurance force of up to 10,000 soldiers."
    ),
}
# on the topic without the query's words (cosine 0.59 with each other)
COALITION = {
    "guid": "c1",
    "title": "Coalition of the willing pledges reassurance force",
    "link": "https://wire.example/world/coalition-pledge",
    "description": (
        "Twenty-six countries of the coalition of the willing pledged to deploy a reassurance "
        "force on land, at sea and in the air once a ceasefire is agreed, French President "
        "Emmanuel Macron said after a summit in Paris."
    ),
}
COALITION_2 = {
    "guid": "c2",
    "title": "Macron: 26 nations commit troops to post-ceasefire reassurance force",
    "link": "https://daily.example/world/macron-26-nations",
    "description": (
        "Emmanuel Macron said twenty-six countries had committed to a reassurance force of "
        "troops on land, at sea or in the air after a ceasefire, at a Paris summit of the "
        "coalition of the willing."
    ),
}
FOOTBALL = {  # the query matches (Kyiv); the topic's negative seeds are about football
    "guid": "f1",
    "title": "Kyiv side beats France in World Cup qualifier",
    "link": "https://sport.example/football/ukraine-france",
    "description": (
        "Ukraine's national football team beat France 2-1 in a World Cup qualifier in Lyon, "
        "with the striker scoring twice in the second half as the coach praised his players "
        "and the fans in the stadium."
    ),
}
NEGATIVE_SEED = (
    "Football: the national team plays World Cup qualifiers and friendly matches. The coach "
    "picks the players, the striker scores goals, the goalkeeper saves, fans fill the "
    "stadium. League results, the Champions League, transfers and the match report."
)


def vec(item: dict[str, str]) -> Any:
    return story_vector(item["title"], item["description"])


def feedback(fid: int, item: dict[str, str], verdict: str, topic: str = "t") -> Feedback:
    return Feedback(fid, topic, fid, verdict, item["title"], item["description"], 0.0)


def topic(
    profile: Profile | None = None, exclude_profile: Profile | None = None, **kw: Any
) -> Topic:
    config = TopicConfig(id="t", name="t", query=QUERY, sinks=(), **kw)
    return Topic(config, compile_query(QUERY), profile, exclude_profile)


def decide(
    topics: list[TopicConfig], fb: list[Feedback], item: dict[str, str], matched: bool
) -> tuple[list[TopicMatch], list[Any]]:
    matches = [TopicMatch(topic_id=t.id, terms=("kyiv",)) for t in topics] if matched else []
    return apply(topics, FeedbackSet.build(fb), item["title"], item["description"], matches)


# -- the decision, pure --------------------------------------------------------------------


def test_the_stories_of_these_tests_are_as_close_as_they_say() -> None:
    assert dot(vec(HARRY), vec(HARRY_2)) >= FEEDBACK_THRESHOLD
    assert dot(vec(HARRY), vec(HARRY_3)) >= FEEDBACK_THRESHOLD
    assert dot(vec(HARRY), vec(HARRY_4)) >= FEEDBACK_THRESHOLD
    assert dot(vec(COALITION), vec(COALITION_2)) >= FEEDBACK_THRESHOLD
    for other in (HARRY, HARRY_2, HARRY_3, HARRY_4, COALITION, COALITION_2):
        assert dot(vec(RUSSIA), vec(other)) < FEEDBACK_THRESHOLD


def test_a_story_like_one_marked_not_relevant_is_dropped_and_the_reason_given() -> None:
    kept, [d] = decide([topic()], [feedback(7, HARRY, "not_relevant")], HARRY_2, True)
    assert kept == []
    assert (d.topic_id, d.action, d.reason, d.feedback_id) == ("t", "dropped", "not_relevant", 7)
    assert d.similarity >= FEEDBACK_THRESHOLD and d.against == 0.0
    # another story of the topic keeps its match; other topics are left alone
    kept, ds = decide([topic()], [feedback(7, HARRY, "not_relevant")], RUSSIA, True)
    assert [m.topic_id for m in kept] == ["t"] and ds == []
    kept, ds = decide([topic()], [feedback(7, HARRY, "not_relevant", "other")], HARRY_2, True)
    assert [m.topic_id for m in kept] == ["t"] and ds == []


def test_a_story_closer_to_a_relevant_story_keeps_its_match() -> None:
    fb = [feedback(1, HARRY_3, "not_relevant"), feedback(2, HARRY, "relevant")]
    # HARRY_2 is 0.51 from HARRY (relevant) and 0.47 from HARRY_3: relevant wins
    kept, ds = decide([topic()], fb, HARRY_2, True)
    assert [m.topic_id for m in kept] == ["t"] and ds == []


def test_a_story_like_one_marked_relevant_is_matched_though_the_query_is_not() -> None:
    t = topic(profile=build_profile([COALITION["description"]]), match="either")
    [m], [d] = decide([t], [feedback(3, COALITION, "relevant")], COALITION_2, False)
    assert m.topic_id == "t" and m.terms == () and m.similarity is not None
    assert (d.action, d.reason, d.feedback_id) == ("added", "relevant", 3)
    # unlike it: still not matched
    assert decide([t], [feedback(3, COALITION, "relevant")], HARRY, False) == ([], [])


def test_negative_seeds_drop_a_story_closer_to_them_than_to_the_topic() -> None:
    negative = build_profile([NEGATIVE_SEED])
    t = topic(exclude_profile=negative)
    kept, [d] = decide([t], [], FOOTBALL, True)
    assert kept == [] and (d.action, d.reason) == ("dropped", "exclude_seeds")
    assert d.similarity >= t.profile_threshold and d.feedback_id is None
    assert [m.topic_id for m in decide([t], [], RUSSIA, True)[0]] == ["t"]
    # with seeds: dropped only when closer to the negative seeds than to the topic's own
    football_topic = topic(exclude_profile=negative, profile=build_profile([FOOTBALL["title"]]))
    kept, ds = decide([football_topic], [], FOOTBALL, True)
    assert [m.topic_id for m in kept] == ["t"] and ds == []


def test_without_feedback_or_negative_seeds_nothing_is_computed() -> None:
    matches = [TopicMatch(topic_id="t", terms=("kyiv",))]
    assert apply([topic()], FeedbackSet({}), "x", "y", matches) == (matches, [])


# -- configuration -------------------------------------------------------------------------


def _with_topic_lines(config: Path, lines: str) -> None:
    text = config.read_text()
    config.write_text(text.replace('alert_on = "', lines + '\nalert_on = "', 1))


def test_exclude_seeds_compile_at_load_and_a_bad_glob_names_the_key(
    config_factory: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_factory(["http://127.0.0.1:9/f.xml"], "http://127.0.0.1:9/hook")
    (tmp_path / "neg").mkdir()
    (tmp_path / "neg" / "football.txt").write_text(NEGATIVE_SEED)
    _with_topic_lines(config, 'exclude_seeds = ["neg/*.txt"]')
    [t] = load(config).topics
    assert t.config.exclude_seeds == (tmp_path / "neg" / "football.txt",)
    assert t.exclude_profile is not None and "coach" in dict(t.exclude_profile.top(20))
    config.write_text(config.read_text().replace("neg/*.txt", "x/*.txt"))
    with pytest.raises(ConfigError) as err:
        load(config)
    assert "topics[0].exclude_seeds: 'x/*.txt' matches no file" in str(err.value)


async def test_check_config_shows_the_negative_seeds(
    config_factory: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_factory(["http://127.0.0.1:9/f.xml"], "http://127.0.0.1:9/hook")
    (tmp_path / "neg").mkdir()
    (tmp_path / "neg" / "football.txt").write_text(NEGATIVE_SEED)
    _with_topic_lines(config, 'exclude_seeds = ["neg/*.txt"]')
    code, out, err = await monitor("check-config", str(config))
    assert code == 0, err
    assert f"topic {TOPIC}: excludes stories closer to 1 exclude_seeds" in out


# -- the service -----------------------------------------------------------------------------


async def monitor(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def story_id(config: Path, item: dict[str, str]) -> int:
    return int(rows(config, "SELECT id FROM stories WHERE title = ?", item["title"])[0][0])


def matched(config: Path, item: dict[str, str]) -> bool:
    return bool(
        rows(
            config,
            "SELECT 1 FROM story_topics t JOIN stories s ON s.id = t.story_id WHERE s.title = ?",
            item["title"],
        )
    )


async def test_not_relevant_feedback_silences_a_retelling_also_after_a_restart(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([HARRY]))
    config = config_factory([wire], receiver.url, query=QUERY, alert_on="stories")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        assert [t for _, t, _ in alerts(config)] == [HARRY["title"]]
        # marked from another process (the CLI), while the daemon runs
        code, out, err = await monitor(
            "topic", "feedback", "--config", str(config), "--topic", TOPIC,
            "--story", str(story_id(config, HARRY)), "--not-relevant",
        )  # fmt: skip
        assert code == 0, err
        assert out.startswith("recorded:") and "not_relevant" in out and HARRY["title"] in out
        feed_server.set("wire.xml", rss([HARRY, HARRY_2, RUSSIA]))
        clock.advance(3600)
        await service.poll_all()
        status = await service.status()
    assert [t for _, t, _ in alerts(config)] == [HARRY["title"], RUSSIA["title"]]
    assert not matched(config, HARRY_2) and matched(config, RUSSIA)
    assert status["detection"]["since_start"]["feedback"] == {"not_relevant": 1}
    # a restart reads the feedback from the store
    async with service_for(config, clock) as service:
        feed_server.set("wire.xml", rss([HARRY, HARRY_2, RUSSIA, HARRY_3]))
        clock.advance(3600)
        await service.poll_all()
        status = await service.status()
    assert [t for _, t, _ in alerts(config)] == [HARRY["title"], RUSSIA["title"]]
    assert not matched(config, HARRY_3)
    assert status["detection"]["since_start"]["feedback"] == {"not_relevant": 1}
    # listed, then taken back: a later retelling alerts again
    code, out, _ = await monitor(
        "topic", "feedback", "--config", str(config), "--topic", TOPIC, "--json"
    )
    [given] = json.loads(out)
    assert given["verdict"] == "not_relevant" and given["story_id"] == story_id(config, HARRY)
    code, out, err = await monitor(
        "topic", "feedback", "--config", str(config), "--topic", TOPIC,
        "--delete", str(given["id"]),
    )  # fmt: skip
    assert code == 0 and out.startswith("taken back:"), err
    async with service_for(config, clock) as service:
        feed_server.set("wire.xml", rss([HARRY_4]))
        clock.advance(3600)
        await service.poll_all()
    assert [t for _, t, _ in alerts(config)][-1] == HARRY_4["title"]


async def test_the_feedback_command_refuses_what_it_cannot_take(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([HARRY]))
    config = config_factory([wire], receiver.url, query=QUERY)
    async with service_for(config, FixedClock(T0)) as service:
        await service.poll_all()
    base = ("topic", "feedback", "--config", str(config))
    code, _, err = await monitor(*base, "--topic", "nope", "--story", "1", "--relevant")
    assert code == 2 and "no topic 'nope'" in err
    code, _, err = await monitor(*base, "--topic", TOPIC, "--story", "999", "--relevant")
    assert code == 2 and "no story 999" in err
    code, _, err = await monitor(*base, "--topic", TOPIC, "--story", "1")
    assert code == 2 and "--relevant or --not-relevant" in err
    code, _, err = await monitor(*base, "--topic", TOPIC, "--delete", "5")
    assert code == 2 and "no feedback 5" in err
    [(alert_id,)] = rows(config, "SELECT id FROM alerts")
    code, out, err = await monitor(*base, "--topic", TOPIC, "--alert", alert_id, "--relevant")
    assert code == 0 and "relevant" in out, err
    assert rows(config, "SELECT alert_id, verdict FROM topic_feedback") == [(alert_id, "relevant")]


async def test_relevant_feedback_makes_a_similar_story_match(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([COALITION]))
    config = config_factory([wire], receiver.url, query=QUERY, alert_on="stories")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        assert alerts(config) == [] and not matched(config, COALITION)  # no query word
        done = await service.store.add_feedback(
            TOPIC, story_id(config, COALITION), "relevant", clock.now().timestamp()
        )
        assert done is not None and done.title == COALITION["title"]
        feed_server.set("wire.xml", rss([COALITION, COALITION_2, HARRY]))
        clock.advance(3600)
        await service.poll_all()
        status = await service.status()
    assert sorted(t for _, t, _ in alerts(config)) == sorted([COALITION_2["title"], HARRY["title"]])
    assert matched(config, COALITION_2)
    assert status["detection"]["since_start"]["feedback"] == {"relevant": 1}


async def test_exclude_seeds_drop_a_story_close_to_them(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    tmp_path: Path,
) -> None:
    wire = feed_server.set("wire.xml", rss([FOOTBALL, RUSSIA]))
    config = config_factory([wire], receiver.url, query=QUERY, alert_on="stories")
    (tmp_path / "neg").mkdir()
    (tmp_path / "neg" / "football.txt").write_text(NEGATIVE_SEED)
    _with_topic_lines(config, 'exclude_seeds = ["neg/*.txt"]')
    async with service_for(config, FixedClock(T0)) as service:
        await service.poll_all()
        status = await service.status()
    assert [t for _, t, _ in alerts(config)] == [RUSSIA["title"]]
    assert not matched(config, FOOTBALL)
    assert status["detection"]["since_start"]["feedback"] == {"exclude_seeds": 1}


async def test_backtest_shows_the_matches_feedback_and_negative_seeds_changed(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    tmp_path: Path,
) -> None:
    wire = feed_server.set("wire.xml", rss([HARRY, HARRY_2, RUSSIA, FOOTBALL]))
    config = config_factory([wire], receiver.url, query=QUERY, alert_on="stories")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        await service.store.add_feedback(
            TOPIC, story_id(config, HARRY), "not_relevant", clock.now().timestamp()
        )
    (tmp_path / "neg").mkdir()
    (tmp_path / "neg" / "football.txt").write_text(NEGATIVE_SEED)
    _with_topic_lines(config, 'exclude_seeds = ["neg/*.txt"]')
    code, out, err = await monitor("backtest", "--topic", TOPIC, "--config", str(config))
    assert code == 0, err
    changed = out.split("matches changed by feedback or negative seeds:")[1].split("\n\n")[0]
    lines = changed.strip().splitlines()
    assert len(lines) == 3, out
    by_title = {
        t["title"]: ln for t in (HARRY, HARRY_2, FOOTBALL) for ln in lines if t["title"] in ln
    }
    assert "like a story marked not relevant (feedback 1), 1.00" in by_title[HARRY["title"]]
    assert "like a story marked not relevant (feedback 1)" in by_title[HARRY_2["title"]]
    assert "closer to exclude_seeds" in by_title[FOOTBALL["title"]]
    alert_lines = [ln for ln in out.splitlines() if "story.matched" in ln]
    assert len(alert_lines) == 1 and RUSSIA["title"] in alert_lines[0]
    assert "dropped 3 matches, added 0" in out


# -- the API, on both stores ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def web_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


async def call(server: WebServer, method: str, path: str, status: int, **kw: Any) -> Any:
    headers = {**server.headers, **kw.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, server.url(path), headers=headers, **kw) as r,
    ):
        assert r.status == status, (method, path, r.status, await r.text())
        return await r.json()


async def test_the_api_takes_lists_and_takes_back_feedback(
    web_factory: Callable[..., Any],
) -> None:
    server: WebServer = await web_factory(token=API_TOKEN)
    path = f"/api/topics/{TOPIC}/feedback"
    assert await call(server, "GET", path, 200) == {"items": []}
    stories = (await call(server, "GET", "/api/stories", 200))["items"]
    grain = next(s for s in stories if s["title"] == "Ukraine grain exports rise")
    given = await call(
        server, "POST", path, 201, json={"story_id": grain["id"], "verdict": "not_relevant"}
    )
    assert given["story_id"] == grain["id"] and given["verdict"] == "not_relevant"
    assert given["title"] == grain["title"] and given["alert_id"] is None
    # by alert: the alert's story
    [alert, *_] = (await call(server, "GET", "/api/alerts", 200))["items"]
    by_alert = await call(
        server, "POST", path, 201, json={"alert_id": alert["id"], "verdict": "relevant"}
    )
    assert by_alert["story_id"] == alert["story_id"] and by_alert["alert_id"] == alert["id"]
    # marking a story again replaces its verdict
    again = await call(
        server, "POST", path, 201, json={"story_id": grain["id"], "verdict": "relevant"}
    )
    listed = (await call(server, "GET", path, 200))["items"]
    assert [(f["id"], f["verdict"]) for f in listed] == [
        (by_alert["id"], "relevant"),
        (again["id"], "relevant"),
    ]
    versions = await server.service.store.feedback_version()
    assert versions == (2, again["id"])
    # errors: unknown topic 404, bad verdict 400, unknown story 404, and the rest
    await call(server, "GET", "/api/topics/nope/feedback", 404)
    body = {"story_id": grain["id"], "verdict": "relevant"}
    assert (
        "no topic 'nope'"
        in (await call(server, "POST", "/api/topics/nope/feedback", 404, json=body))["error"]
    )
    bad = await call(server, "POST", path, 400, json={"story_id": grain["id"], "verdict": "meh"})
    assert "verdict must be one of relevant, not_relevant" in bad["error"]
    missing = await call(server, "POST", path, 404, json={"story_id": 999, "verdict": "relevant"})
    assert missing["error"] == "no story 999"
    await call(server, "POST", path, 404, json={"alert_id": "msg_nope", "verdict": "relevant"})
    for wrong in (
        {"verdict": "relevant"},
        {"story_id": 1, "alert_id": alert["id"], "verdict": "relevant"},
        {"story_id": "1", "verdict": "relevant"},
        {"story_id": True, "verdict": "relevant"},
        {"story_id": 1, "alert_id": None, "verdict": "relevant"},
        {"story_id": 1, "verdict": "relevant", "why": "x"},
        [1],
    ):
        await call(server, "POST", path, 400, json=wrong)
    await call(server, "POST", path, 400, data=b"{not json")
    # writes need the token, and a same-site request
    await call(server, "POST", path, 403, json=body, headers={"Sec-Fetch-Site": "cross-site"})
    await call(server, "DELETE", f"{path}/{again['id']}", 403,
               headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    gone = await call(server, "DELETE", f"{path}/{again['id']}", 200)
    assert gone == again
    await call(server, "DELETE", f"{path}/{again['id']}", 404)
    await call(server, "DELETE", f"/api/topics/nope/feedback/{by_alert['id']}", 404)
    assert [f["id"] for f in (await call(server, "GET", path, 200))["items"]] == [by_alert["id"]]
    assert await server.service.store.feedback_version() == (1, by_alert["id"])
    rows_ = await server.service.store.feedback(TOPIC)
    assert [(f.id, f.title) for f in rows_] == [(by_alert["id"], alert["title"])]


async def test_the_api_refuses_feedback_without_a_token(web_factory: Callable[..., Any]) -> None:
    server: WebServer = await web_factory()
    path = f"/api/topics/{TOPIC}/feedback"
    body = await call(server, "POST", path, 403, json={"story_id": 1, "verdict": "relevant"})
    assert "token" in body["error"]
    await call(server, "DELETE", f"{path}/1", 403)
    assert await call(server, "GET", path, 200) == {"items": []}


async def test_the_dashboard_marks_stories_and_alerts_with_forms(
    web_factory: Callable[..., Any],
) -> None:
    server: WebServer = await web_factory(token=API_TOKEN)

    async def page() -> str:
        async with (
            aiohttp.ClientSession() as s,
            s.get(server.url(f"/?topic={TOPIC}"), headers=server.headers) as r,
        ):
            assert r.status == 200
            return await r.text()

    async def form(path: str, data: dict[str, str], status: int = 303, **headers: str) -> str:
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                server.url(path), data=data, headers={**server.headers, **headers},
                allow_redirects=False,
            ) as r,
        ):  # fmt: skip
            assert r.status == status, await r.text()
            return r.headers.get("Location", "") if status == 303 else await r.text()

    html = await page()
    action = f'action="/topics/{TOPIC}/feedback"'
    stories = await server.service.store.feedback(TOPIC)
    assert stories == [] and action in html and "Feedback:" not in html
    [alert, *_] = (await call(server, "GET", "/api/alerts", 200))["items"]
    assert f'name="alert_id" value="{alert["id"]}"' in html  # on the alert rows too
    where = await form(
        f"/topics/{TOPIC}/feedback", {"alert_id": alert["id"], "verdict": "not_relevant"}
    )
    assert where == f"/?topic={TOPIC}#topics"
    [given] = await server.service.store.feedback(TOPIC)
    assert given.story_id == alert["story_id"] and given.verdict == "not_relevant"
    html = await page()
    assert "Feedback: 1 verdicts" in html and "marked not relevant" in html
    # refused: a bad verdict, an unknown story, a cross-site post
    bad = await form(f"/topics/{TOPIC}/feedback", {"story_id": "1", "verdict": "x"}, 400)
    assert "verdict must be one of" in bad
    await form(f"/topics/{TOPIC}/feedback", {"story_id": "999", "verdict": "relevant"}, 404)
    await form("/topics/nope/feedback", {"story_id": "1", "verdict": "relevant"}, 404)
    await form(
        f"/topics/{TOPIC}/feedback", {"story_id": "1", "verdict": "relevant"}, 403,
        **{"Sec-Fetch-Site": "cross-site"},
    )  # fmt: skip
    assert f"/topics/{TOPIC}/feedback/{given.id}/delete" in html
    await form(f"/topics/{TOPIC}/feedback/{given.id}/delete", {})
    assert await server.service.store.feedback(TOPIC) == []
    await form(f"/topics/{TOPIC}/feedback/{given.id}/delete", {}, 404)


async def test_the_dashboard_offers_no_feedback_buttons_when_read_only(
    web_factory: Callable[..., Any],
) -> None:
    server: WebServer = await web_factory()
    async with aiohttp.ClientSession() as s, s.get(server.url("/")) as r:
        html = await r.text()
    assert "/feedback" not in html
    async with (
        aiohttp.ClientSession() as s,
        s.post(server.url(f"/topics/{TOPIC}/feedback"), data={"story_id": "1"}) as r,
    ):
        assert r.status == 403
