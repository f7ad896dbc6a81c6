"""`monitor backtest` replays the store as the daemon detected it: the same batches, in the
same order, at the same clock times, with the state rebuilt where the daemon rebuilt it. For
an unchanged topic it reproduces the daemon's developments and alerts; where it cannot, it
names the story and says why."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor import logs
from monitor.cli.backtest import ReplayStore, replay, report, semantic_line
from monitor.cli.demo import run_demo, sample_feeds
from monitor.clock import FixedClock
from monitor.config import Config, load
from monitor.models import DetectionStep, StoredStory
from monitor.service.daemon import open_service
from monitor.store import open_store
from tests.conftest import FeedServer, Receiver
from tests.test_detection import PENTAGON, T0, WIRE

TOPIC = "ukraine-security-guarantees"
DEMO_QUERY = (
    '(Ukraine OR Ukrainian OR Kyiv) AND ("security guarantee*" OR peacekeep* OR '
    '"coalition of the willing" OR "no-fly zone" OR "air defence" OR "air defense" OR troops)'
)


def daemon_decisions(db: Path) -> tuple[dict[int, str], list[tuple[int, str, str]]]:
    """The daemon's developments (story -> development) and alerts (story, event,
    development) in the order it wrote them, one per story and event."""
    with sqlite3.connect(db) as con:
        members = dict(
            con.execute(
                "SELECT story_id, development_id FROM development_stories WHERE topic_id = ?",
                (TOPIC,),
            )
        )
        rows = con.execute(
            "SELECT story_id, event, json_extract(data, '$.development.id') FROM alerts "
            "WHERE topic_id = ? ORDER BY rowid",
            (TOPIC,),
        )
        alerts = list(dict.fromkeys((r[0], r[1], r[2]) for r in rows))
    return members, alerts


def replay_decisions(result: ReplayStore) -> tuple[dict[int, str], list[tuple[int, str, str]]]:
    members = {sid: m[TOPIC] for sid, m in result.members.items() if TOPIC in m}
    alerts = [
        (story.id, draft.event, draft.data["development"]["id"])
        for story, draft, _ in result.alerts
    ]
    return members, alerts


async def backtest(cfg: Config) -> ReplayStore:
    logs.configure("error", stream=io.StringIO())
    store = await open_store(cfg.storage)
    try:
        return await replay(cfg, TOPIC, store, logs.get("monitor"))
    finally:
        await store.close()


async def test_the_demo_backtested_gives_the_daemons_developments_and_alerts(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    assert await run_demo(tmp_path, out) == 0
    cfg = load(tmp_path / "demo.toml")
    members, alerts = daemon_decisions(tmp_path / "demo.db")
    assert len(set(members.values())) >= 5 and len(alerts) >= 6  # the demo's developments
    result = await backtest(cfg)
    assert replay_decisions(result) == (members, alerts)
    assert not any(result.notes.values())  # every story replayed as the daemon read it


async def test_a_backtest_says_whether_the_semantic_gate_weighed_new_developments(
    tmp_path: Path,
) -> None:
    # the tests run without the model (MONITOR_SEMANTIC_MODEL=off): a topic with seeds is
    # replayed with the gate open, and the backtest says so; a topic without seeds has no gate
    assert await run_demo(tmp_path, io.StringIO()) == 0
    cfg = load(tmp_path / "demo.toml")
    assert (await backtest(cfg)).semantic is None
    seed = tmp_path / "seed.txt"
    seed.write_text(
        "European allies would station a reassurance force in Ukraine after a ceasefire, "
        "with American air support as a backstop of the security guarantees.",
        encoding="utf-8",
    )
    topics = tuple(replace(t, seeds=(seed,)) if t.id == TOPIC else t for t in cfg.topics)
    status = (await backtest(replace(cfg, topics=topics))).semantic
    assert status is not None and not status["loaded"]
    assert semantic_line(status).startswith("the semantic gate was open (no model installed")
    loaded = semantic_line({"model": "/srv/models/m", "loaded": True, "problem": None})
    assert loaded == "the semantic gate weighed each would-be new development (model /srv/models/m)"


# -- a stream over several polls, out of publication order ----------------------------------

_ITEM = re.compile(rb"<(item|entry)>.*?</\1>", re.S)


def split_feed(doc: bytes, polls: int) -> list[bytes]:
    """The document as it stood at each of `polls` polls: item i appears at poll i % polls,
    so each poll brings stories from across the feed's dates (not in publication order)."""
    items = [m.group(0) for m in _ITEM.finditer(doc)]
    first, last = _ITEM.search(doc), list(_ITEM.finditer(doc))[-1]
    assert first is not None
    head, tail = doc[: first.start()], doc[last.end() :]
    return [
        head + b"".join(it for i, it in enumerate(items) if i % polls <= k) + tail
        for k in range(polls)
    ]


def demo_config(folder: Path, feeds: list[str], sink: str) -> Path:
    text = (
        '[storage]\nurl = "sqlite:///var/monitor.db"\n'
        '[server]\nlisten = "127.0.0.1:0"\n'
        "[polling]\njitter = 0\nhost_gap = 0\nhost_concurrency = 20\n"
        '[delivery]\nbackoff_base = "100ms"\n'
        f'[[topics]]\nid = "{TOPIC}"\nname = "Ukraine"\nquery = \'{DEMO_QUERY}\'\n'
        'sinks = ["ops"]\n'
        f'[[sinks]]\nid = "ops"\ntype = "webhook"\nurl = "{sink}"\n'
        + "".join(f'[[feeds]]\nurl = "{u}"\nname = "Feed {i}"\n' for i, u in enumerate(feeds))
    )
    path = folder / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def poll(config: Path, clock: FixedClock) -> None:
    logs.configure("debug", stream=io.StringIO(), json=True)
    async with open_service(load(config), clock, logs.get("monitor")) as service:
        await service.poll_all()


async def test_a_stream_over_several_polls_backtested_gives_the_daemons_decisions(
    feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    polls = 3
    docs = {name: split_feed(body, polls) for name, body in sample_feeds().items()}
    urls = [feed_server.set(name, versions[0]) for name, versions in docs.items()]
    config = demo_config(tmp_path, urls, receiver.url)
    clock = FixedClock(T0)
    await poll(config, clock)  # the first polls: each feed's first third
    for k in range(1, polls):
        clock.advance(3 * 3600)
        for name, versions in docs.items():
            feed_server.set(name, versions[k])
        await poll(config, clock)  # a new process each time: the daemon's state is rebuilt
    clock.advance(3 * 3600)  # a story rewritten: a revision with news of its own
    name = "continental-times.xml"
    feed_server.set(
        name,
        docs[name][-1].replace(
            b"from outside the country.&lt;/p&gt;</content>",
            b"from outside the country.&lt;/p&gt;&lt;p&gt;On Friday the Pentagon confirmed "
            b"that Germany would station two Patriot batteries and 600 soldiers in Rzeszow, "
            b"Poland, by March 2027 to cover the airlift routes into Ukraine.&lt;/p&gt;</content>",
        ),
    )
    await poll(config, clock)
    db = tmp_path / "var" / "monitor.db"
    with sqlite3.connect(db) as con:
        starts = con.execute("SELECT COUNT(*) FROM detection_log WHERE rebuilt = 'start'")
        assert starts.fetchone()[0] == polls + 1
        kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM detection_log")}
        assert kinds == {"new", "revision"}
        first_seen = {t for (t,) in con.execute("SELECT DISTINCT first_seen_at FROM stories")}
        assert len(first_seen) == polls  # stories came in every poll
    members, alerts = daemon_decisions(db)
    assert len(set(members.values())) >= 4 and len(alerts) >= 5
    result = await backtest(load(config))
    assert replay_decisions(result) == (members, alerts)
    assert not any(result.notes.values())

    # the same store, where exact agreement cannot hold: the log of one story lost (as in a
    # store kept before the log was), the text of a revision pruned. Each story is named.
    with sqlite3.connect(db) as con:
        (lost, lost_title), *_ = con.execute(
            "SELECT id, title FROM stories WHERE title LIKE 'Moscow rules out%'"
        )
        con.execute("DELETE FROM detection_log WHERE story_id = ?", (lost,))
        (revised, revised_title), *_ = con.execute(
            "SELECT s.id, s.title FROM stories s JOIN story_revisions r ON r.story_id = s.id"
        )
        con.execute("DELETE FROM story_revisions")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "backtest", "--topic", TOPIC, "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    flagged = text.split("stories replayed otherwise than the daemon read them (2):")[1]
    assert "not in the daemon's detection log" in flagged
    assert f"story {lost}  {lost_title}" in flagged
    assert "the text of its revision 1 is no longer stored (pruned)" in flagged
    assert f"story {revised}  {revised_title}" in flagged
    assert "2 stories flagged above" in text
    assert err.decode() == ""  # stderr is not a terminal: no progress bar


async def test_a_replay_writes_nothing(
    feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    urls = [feed_server.set(name, body) for name, body in sample_feeds().items()]
    config = demo_config(tmp_path, urls, receiver.url)
    await poll(config, FixedClock(T0))
    db = tmp_path / "var" / "monitor.db"

    def counts() -> list[Any]:
        with sqlite3.connect(db) as con:
            return [
                con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("alerts", "developments", "development_stories", "detection_log")
            ]

    before = counts()
    await backtest(load(config))
    assert counts() == before


class LogSource:
    """A store's replay reads, from lists (the detection log as a daemon wrote it)."""

    def __init__(self, stories: list[StoredStory], steps: list[DetectionStep]) -> None:
        self.stories, self.steps = stories, steps

    async def replay_page(self, since: float, after: int, limit: int) -> list[StoredStory]:
        return [s for s in self.stories if s.id > after and s.first_seen_at >= since][:limit]

    async def detection_steps(
        self, since: float, after_seq: int, limit: int
    ) -> list[DetectionStep]:
        return [s for s in self.steps if s.seq > after_seq][:limit]

    async def revision_texts(
        self, story_ids: Sequence[int]
    ) -> dict[tuple[int, int], tuple[str, str]]:
        return {}


async def test_a_text_that_came_after_the_alert_is_replayed_late_and_named(
    tmp_path: Path,
) -> None:
    t = T0.timestamp()
    story = StoredStory(
        id=7, feed_id=1, feed_name="Wire", feed_url="http://127.0.0.1:1/wire.xml",
        link="https://wire.example/world/pentagon", title=PENTAGON["title"],
        summary="Teaser: Pentagon drills with Ukraine troops.", author=None, published=t - 600,
        first_seen_at=t, revision=1, full_text=WIRE, text_state="ok",
    )  # fmt: skip
    steps = [  # detected on the teaser (its page's text had not come), then the text, late
        DetectionStep(7, 1, "new", False, t - 600, seq=1, batch=1, at=t, rebuilt="start"),
        DetectionStep(7, 1, "late", True, t - 600, seq=2, batch=2, at=t + 90),
    ]
    config = demo_config(tmp_path, [], "http://127.0.0.1:9/hook")
    logs.configure("error", stream=io.StringIO())
    result = await replay(load(config), TOPIC, LogSource([story], steps), logs.get("monitor"))
    assert [(s.id, d.event) for s, d, _ in result.alerts] == [(7, "development.new")]
    assert result.alerts[0][2] == t  # decided at the daemon's time, before the text came
    assert result.texts[7].text == WIRE  # the late text was read afterwards
    [why] = result.notes[7]
    assert why.startswith("its page's text came after it was detected")
    out = io.StringIO()
    assert report(result, out)["flagged"] == 1
    assert f"story 7  {PENTAGON['title']}" in out.getvalue()
