"""Evidence sets (general news, incidents), the rule for what opens a development, and the
replay of a labelled topic stream through the daemon (`monitor evaluate --stream`)."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import logs
from monitor.clock import FixedClock
from monitor.config import ConfigError, load
from monitor.config.model import TopicConfig
from monitor.detect.detection import opens
from monitor.detect.developments import DevelopmentTracker
from monitor.detect.evidence import figures, general_facts, general_features, quotes
from monitor.models import TopicMatch
from monitor.service.core import Service
from monitor.service.daemon import open_service
from monitor.stories.dedup import StoryText
from tests.conftest import FeedServer, Receiver, rss

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

# One meeting, reported by three outlets within four hours; an unrelated story; and another
# development of the topic the same day (Moscow's answer), which names no figure of the meeting.
MEETING = [
    {
        "guid": "m1",
        "title": "Zelensky and Trump meet at White House on security guarantees",
        "link": "https://wire.example/world/zelensky-trump-meet",
        "description": (
            "Volodymyr Zelensky met Donald Trump at the White House on Thursday to discuss "
            "security guarantees for Ukraine. Trump said the United States would back a "
            "European-led force of 25,000 troops with air support, a step Kyiv has sought "
            "for months."
        ),
        "pubDate": "Thu, 26 Nov 2026 09:00:00 GMT",
    },
    {
        "guid": "m2",
        "title": "Trump backs European force for Ukraine after Zelensky meeting",
        "link": "https://paper.example/2026/11/26/trump-backs-force",
        "description": (
            "After meeting Volodymyr Zelensky at the White House, Donald Trump said "
            "Washington would provide air support to a European-led reassurance force of "
            "25,000 troops in Ukraine after a ceasefire."
        ),
        "pubDate": "Thu, 26 Nov 2026 11:00:00 GMT",
    },
    {
        "guid": "m3",
        "title": "White House talks: US offers air support to 25,000-strong Ukraine force",
        "link": "https://tv.example/news/us-air-support-ukraine-force",
        "description": (
            "Trump told reporters after his talks with Zelensky that US air power would back "
            "the 25,000 European troops planned for post-war Ukraine, calling the guarantee "
            "'rock solid'."
        ),
        "pubDate": "Thu, 26 Nov 2026 13:00:00 GMT",
    },
]
ELSEWHERE = {
    "guid": "x1",
    "title": "Russian drones strike power plant in Kharkiv region",
    "link": "https://paper.example/2026/11/26/kharkiv-power-plant",
    "description": "A drone attack cut electricity to 40,000 homes, the governor said.",
    "pubDate": "Thu, 26 Nov 2026 10:00:00 GMT",
}
KREMLIN = {
    "guid": "r1",
    "title": "Kremlin: Western troops in Ukraine would be legitimate targets",
    "link": "https://wire.example/world/kremlin-legitimate-targets",
    "description": (
        "Kremlin spokesman Dmitry Peskov said Moscow would treat any troops from NATO "
        "countries deployed in Ukraine as legitimate targets and would never accept them."
    ),
    "pubDate": "Thu, 26 Nov 2026 15:00:00 GMT",
}


@asynccontextmanager
async def service_for(config: Path, clock: FixedClock) -> AsyncIterator[Service]:
    logs.configure("debug", stream=io.StringIO(), json=True)
    async with open_service(load(config), clock, logs.get("monitor")) as service:
        yield service


PLACES = ["Oslo", "Lima", "Hanoi", "Quito", "Accra", "Perth", "Riga", "Porto", "Dakar", "Cusco"]


def _cycle_tracker(evidence: str) -> DevelopmentTracker:
    """A topic's tracker whose earlier stories (days before T0) all say "watchdog" and
    "obligations", so that neither word is rare any more, each with words of its own."""
    tracker = DevelopmentTracker(evidence=evidence)
    for i in range(40):
        place = f"{PLACES[i % 10]} {['harbour', 'ferry', 'bridge', 'tunnel'][i // 10]}"
        when = T0 - timedelta(days=6, hours=-3 * i)
        text = f"The watchdog reviewed the obligations of the {place} operator number {i + 2}."
        tracker.assign(StoryText(f"f{i}", when, f"Watchdog on the {place}", text))
    return tracker


@pytest.mark.parametrize("evidence", ["general", "incident"])
def test_a_common_word_brings_the_news_cycles_stories_only_with_general_evidence(
    evidence: str,
) -> None:
    # two reports of one ruling an hour apart, sharing only words the topic's earlier
    # stories made common: the general set compares them (a burst of reports makes an event's
    # words common at once), the incident set (rare words only) does not; the earlier
    # stories sharing the same words stay out (days before: not the news cycle)
    tracker = _cycle_tracker(evidence)
    first = StoryText("a", T0, "Watchdog rules on obligations", "The watchdog ruled today.")
    tracker.assign(first)
    # a story of two days before, come late (after the first): it does not hide the first
    late = "The watchdog named the obligations of the Nairobi depot."
    tracker.assign(StoryText("late", T0 - timedelta(days=2), "Watchdog on the depot", late))
    later = StoryText(
        "b", T0 + timedelta(hours=1), "Obligations breached, watchdog says", "A statement."
    )
    found = [sid for _, sid in tracker.nearest(later, tracker.decide(later).state.vector)]
    assert ("a" in found) is (evidence == "general")
    assert not [sid for sid in found if sid.startswith("f") or sid == "late"]


def db_rows(config: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(config.parent / "var" / "monitor.db") as db:
        return list(db.execute(sql))


def test_figures_are_read_with_their_units_and_years_and_dates_left_out() -> None:
    text = (
        "China raises tariffs to 84% on April 9, 2025; a 90-day pause; $50 billion; "
        "26 nations; 3.50 percent; in 2025 day 1,285"
    )
    assert figures(text) == {"84%", "90day", "50b", "26nati", "3.5%", "1285"}
    assert figures("Trump meets Zelensky") == frozenset()


def test_quoted_phrases_of_two_words_or_more_are_kept() -> None:
    text = "Putin: troops would be ‘legitimate targets’; Starmer says pledge is 'unbreakable'"
    assert quotes(text) == {"legitimate targets"}


def test_differing_headline_figures_count_against_a_link() -> None:
    a = general_facts("China raises tariff on US goods to 84%", "")
    b = general_facts("China raises tariff on US goods to 125%", "")
    c = general_facts("China to raise its tariff to 84%, ministry says", "")
    row = general_features(a, b, {}, {}, 0.5, 24.0, 0, 0.5, lambda _: True)
    assert row[7] == 1.0  # figures_differ
    row = general_features(a, c, {}, {}, 0.5, 2.0, 0, 0.5, lambda _: True)
    assert row[7] == 0.0 and row[6] == 1.0  # one figure in common


async def test_several_outlets_same_day_reports_of_one_meeting_form_one_development(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([MEETING[0], KREMLIN]))
    paper = feed_server.set("paper.xml", rss([MEETING[1], ELSEWHERE]))
    tv = feed_server.set("tv.xml", rss([MEETING[2]]))
    config = config_factory([wire, paper, tv], receiver.url)  # the default: general news
    async with service_for(config, FixedClock(T0.replace(hour=18))) as service:
        await service.poll_all()
    members = db_rows(
        config,
        "SELECT d.development_id, s.key FROM development_stories d JOIN stories s ON s.id = d.story_id "
        "ORDER BY s.key",
    )
    by_dev: dict[str, set[str]] = {}
    for dev, key in members:
        by_dev.setdefault(dev, set()).add(key.rsplit("/", 1)[-1])
    assert sorted(by_dev.values(), key=len) == [{"r1"}, {"m1", "m2", "m3"}]
    new = db_rows(
        config,
        "SELECT s.key FROM alerts a JOIN stories s ON s.id = a.story_id "
        "WHERE a.event = 'development.new' ORDER BY s.key",
    )
    assert [k.rsplit("/", 1)[-1] for (k,) in new] == [
        "m1",
        "r1",
    ]  # one alert for the meeting, one for Moscow


async def test_the_incident_evidence_links_an_update_a_day_on(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """The same follow-up (the next day, new figures of its own) is an update of the
    meeting's development with the incident evidence (the event's facts decide), a new
    development with the general one (a new fact of the topic)."""
    follow = {
        "guid": "m4",
        "title": "Zelensky: 25,000-strong force with US air support to deploy after ceasefire",
        "link": "https://paper.example/2026/11/27/force-deploy",
        "description": (
            "A day after meeting Donald Trump at the White House, Ukraine's Volodymyr Zelensky said the "
            "European-led force of 25,000 troops with US air support would deploy within 30 "
            "days of a ceasefire, with 5,000 troops from France. Poland will host its "
            "headquarters, and Britain will command a naval mission in the Black Sea."
        ),
        "pubDate": "Fri, 27 Nov 2026 12:00:00 GMT",
    }
    kinds = {}
    for evidence in ("incident", "general"):
        feed = feed_server.set(f"{evidence}.xml", rss([MEETING[0]]))
        config = config_factory([feed], receiver.url, evidence=evidence)
        clock = FixedClock(T0.replace(hour=10))
        async with service_for(config, clock) as service:
            await service.poll_all()
            feed_server.set(f"{evidence}.xml", rss([MEETING[0], follow]))
            clock.advance(86400 + 3 * 3600)
            await service.poll_all()
        kinds[evidence] = [e for (e,) in db_rows(config, "SELECT event FROM alerts ORDER BY rowid")]
        (config.parent / "var" / "monitor.db").unlink()
    assert kinds["incident"] == ["development.new", "development.update"]
    assert kinds["general"] == ["development.new", "development.new"]


def test_a_topic_names_its_evidence_set(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(
        """
[[topics]]
id = "shootings"
query = "shooting OR shot"
evidence = "incident"

[[topics]]
id = "talks"
query = "ceasefire"
""",
        encoding="utf-8",
    )
    cfg = load(path)
    assert [t.evidence for t in cfg.topics] == ["incident", "general"]
    path.write_text('[[topics]]\nid = "x"\nquery = "a"\nevidence = "crime"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert "topics[0].evidence" in str(err.value) and "incident" in str(err.value)


def _topic(**kw: Any) -> TopicConfig:
    base: dict[str, Any] = {
        "id": "t",
        "name": "t",
        "query": "guarantee*",
        "sinks": (),
        "profile_threshold": 0.2,
        "match": "either",
    }
    return TopicConfig(**(base | kw))


def test_a_match_opens_a_development_only_on_both_signals_or_a_strong_profile() -> None:
    topic = _topic()
    assert topic.open_at == pytest.approx(0.3)  # 1.5 times the profile's threshold
    by_query = ("guarantees",)
    assert opens(topic, TopicMatch("t", by_query, 0.25))  # query, and near the seeds
    assert not opens(topic, TopicMatch("t", by_query, 0.1))  # query words in passing
    assert not opens(topic, TopicMatch("t", (), 0.25))  # the seeds' setting only
    assert opens(topic, TopicMatch("t", (), 0.31))  # close to the seeds
    assert opens(_topic(open_threshold=0.22), TopicMatch("t", (), 0.25))
    assert opens(_topic(alert_on="stories"), TopicMatch("t", (), 0.21))
    no_seeds = _topic(match="query")
    assert opens(no_seeds, TopicMatch("t", by_query, None))


def _stream(folder: Path) -> Path:
    items = [
        ("m1", "wire", MEETING[0], "2026-11-26T09:00:00+00:00"),
        ("x1", "paper", ELSEWHERE, "2026-11-26T10:00:00+00:00"),
        ("m2", "paper", MEETING[1], "2026-11-26T11:00:00+00:00"),
        ("m3", "tv", MEETING[2], "2026-11-26T13:00:00+00:00"),
        ("r1", "wire", KREMLIN, "2026-11-26T15:00:00+00:00"),
    ]
    folder.mkdir()
    with open(folder / "items.jsonl", "w", encoding="utf-8") as fh:
        for item_id, source, it, published in items:
            fh.write(
                json.dumps(
                    {
                        "id": item_id,
                        "source": source.title(),
                        "feed_url": f"https://{source}.example/rss",
                        "title": it["title"],
                        "description": it["description"],
                        "link": it["link"],
                        "published": published,
                    }
                )
                + "\n"
            )
    return folder


def test_evaluate_stream_replays_a_topic_stream_through_the_daemon(
    tmp_path: Path, config_factory: Callable[..., Path]
) -> None:
    stream = _stream(tmp_path / "stream")
    config = config_factory([], "http://127.0.0.1:9/hook")
    outs = []
    for n in (1, 2):
        out = tmp_path / f"decisions{n}.jsonl"
        proc = subprocess.run(
            [
                sys.executable, "-m", "monitor", "evaluate", "--stream", str(stream),
                "--config", str(config), "--topic", "ukraine-security-guarantees",
                "--out", str(out),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["items"] == 5
        outs.append(out.read_text(encoding="utf-8"))
    assert outs[0] == outs[1]  # the same decisions on every run
    got = {d["id"]: d for d in map(json.loads, outs[0].splitlines())}
    assert list(got) == ["m1", "x1", "m2", "m3", "r1"]
    assert not got["x1"]["matched"] and got["x1"]["development"] is None
    assert [i for i, d in got.items() if d["new"]] == ["m1", "r1"]
    assert got["m1"]["development"] == got["m2"]["development"] == got["m3"]["development"]
    assert not (tmp_path / "var").exists()  # the user's store is never touched


def test_evaluate_stream_names_an_unknown_topic(
    tmp_path: Path, config_factory: Callable[..., Path]
) -> None:
    stream = _stream(tmp_path / "stream")
    config = config_factory([], "http://127.0.0.1:9/hook")
    proc = subprocess.run(
        [
            sys.executable, "-m", "monitor", "evaluate", "--stream", str(stream),
            "--config", str(config), "--topic", "nope", "--out", str(tmp_path / "o.jsonl"),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "no topic 'nope' (known: ukraine-security-guarantees)" in proc.stderr


def test_an_alert_says_what_its_match_rests_on_and_whether_it_is_weak() -> None:
    from monitor.alerts.render import message, plain_text, slack_payload
    from monitor.detect.development_alerts import alert_drafts_for, match_basis
    from monitor.models import DevelopmentRow, PendingAlert, StoredStory

    topic = _topic(sinks=("ops",))
    assert match_basis(TopicMatch("t", ("guarantees",), 0.25), 0.2) == "query and profile"
    assert match_basis(TopicMatch("t", ("guarantees",), 0.1), 0.2) == "query"
    assert match_basis(TopicMatch("t", ("guarantees",), None), 0.2) == "query"
    assert match_basis(TopicMatch("t", (), 0.25), 0.2) == "profile"
    story = StoredStory(1, 1, "Wire", "https://wire.example/rss", "https://wire.example/a",
                         "Allies restate their guarantees", "Ministers met in Paris. Two more "
                         "countries joined the pledge.", None, 0.0, 0.0, 1)  # fmt: skip
    row = DevelopmentRow("t:1", "t", 1, story.title, 0.0, 0.0, 0.0, 0.0)
    passing = TopicMatch("t", ("guarantees",), 0.1)  # query words in passing: weak
    for strong in (True, False):
        [draft] = alert_drafts_for(
            topic, "development.update", row, story, passing, 0.4, ["Two more."], strong=strong
        )
        match = draft.data["match"]
        assert match["basis"] == "query"
        assert match["strength"] == ("strong" if strong else "weak")
        alert = PendingAlert("a", "t", "ops", draft.event, draft.data, 0.0, 0)
        text = plain_text(message(alert))
        slack = json.dumps(slack_payload(alert))
        assert ("weak match" in text) is (not strong) and ("weak match" in slack) is (not strong)
        assert "Matched: guarantees" in text
    by_profile = TopicMatch("t", (), 0.22)
    [draft] = alert_drafts_for(
        topic, "development.update", row, story, by_profile, 0.4, ["Two more."], strong=False
    )
    alert = PendingAlert("a", "t", "ops", draft.event, draft.data, 0.0, 0)
    assert draft.data["match"]["basis"] == "profile"
    assert "Matched: the topic's seeds (weak match" in plain_text(message(alert))
