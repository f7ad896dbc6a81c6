"""The optional semantic gate on what opens a development (monitor/topics/semantic.py): with a
model, a story the lexical rule would let open a development opens one only if its embedding
is close enough to the seeds'; without the model the daemon runs and decides as before."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from monitor import logs
from monitor.clock import FixedClock
from monitor.config import DEFAULT_SEMANTIC_OPEN, ConfigError, load
from monitor.service.core import Service
from monitor.service.daemon import open_service
from monitor.topics.semantic import SemanticGate, seed_paragraphs
from tests.conftest import FeedServer, Receiver, rss

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
SEED = """Security guarantees for Ukraine: the coalition's plan.

European governments and the United States discussed security guarantees for Ukraine after a
ceasefire: a reassurance force of troops from several countries, air support and a guarantee
backed by Washington, under European command.

Short line.
"""
GUARANTEE = {
    "guid": "g1",
    "title": "Allies agree security guarantees for Ukraine",
    "link": "https://wire.example/world/guarantees",
    "description": "Twenty countries pledged troops for a reassurance force in Ukraine after a "
    "ceasefire, a guarantee backed by US air support.",
    "pubDate": "Thu, 26 Nov 2026 09:00:00 GMT",
}
FRONT = {
    "guid": "f1",
    "title": "Ukraine's troops hold the front line near Pokrovsk",
    "link": "https://paper.example/world/front",
    "description": "Ukrainian troops repelled assaults along the front as Russian troops "
    "pressed on, Kyiv said.",
    "pubDate": "Thu, 26 Nov 2026 10:00:00 GMT",
}


class KeywordEncoder:
    """A stand-in model: one dimension for guarantees, one for the front line, a little of
    everything (so no text has a zero vector)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.extend(texts)
        rows = []
        for text in texts:
            low = text.lower()
            v = np.array([float("guarantee" in low), float("front" in low), 0.1], np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.array(rows, dtype=np.float32)


def write(folder: Path, feeds: list[str], sink_url: str, topic_extra: str, top: str = "") -> Path:
    (folder / "seeds").mkdir(exist_ok=True)
    (folder / "seeds" / "seed.txt").write_text(SEED, encoding="utf-8")
    feed_lines = "".join(f'[[feeds]]\nurl = "{u}"\n\n' for u in feeds)
    text = f"""{top}
[storage]
url = "sqlite:///var/monitor.db"

[server]
listen = "127.0.0.1:0"

[polling]
interval = "1h"
timeout = "5s"
host_gap = 0
jitter = 0

[[topics]]
id = "guarantees"
query = '(Ukraine OR Kyiv) AND ("security guarantee*" OR troops)'
seeds = ["seeds/*.txt"]
profile_threshold = 0.01
sinks = ["ops"]
{topic_extra}

[[sinks]]
id = "ops"
type = "webhook"
url = "{sink_url}"

{feed_lines}"""
    path = folder / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


@asynccontextmanager
async def service_for(config: Path, log: io.StringIO) -> AsyncIterator[Service]:
    logs.configure("debug", stream=log, json=True)
    async with open_service(load(config), FixedClock(T0), logs.get("monitor")) as service:
        yield service


def by_guid(config: Path, sql: str) -> dict[str, tuple[Any, ...]]:
    """The rows of a query of the test's store whose first column is a story's key (the
    rest of each row), by the story's guid."""
    with sqlite3.connect(config.parent / "var" / "monitor.db") as db:
        rows = db.execute(sql).fetchall()
    return {row[0].rsplit("/", 1)[-1]: tuple(row[1:]) for row in rows}


def new_alerts(config: Path) -> dict[str, dict[str, Any]]:
    """The development.new alerts, by the story's guid, with their data."""
    sql = (
        "SELECT s.key, a.data FROM alerts a JOIN stories s ON s.id = a.story_id "
        "WHERE a.event = 'development.new'"
    )
    return {guid: json.loads(data) for guid, (data,) in by_guid(config, sql).items()}


def stored_matches(config: Path) -> dict[str, tuple[Any, ...]]:
    """The topic's stored matches (basis, strength), by the story's guid."""
    sql = (
        "SELECT s.key, t.basis, t.strength FROM story_topics t JOIN stories s ON s.id = t.story_id"
    )
    return by_guid(config, sql)


def test_seed_paragraphs_leave_out_short_lines(tmp_path: Path) -> None:
    path = tmp_path / "seed.txt"
    path.write_text(SEED, encoding="utf-8")
    paragraphs = seed_paragraphs([path])
    assert len(paragraphs) == 1 and paragraphs[0].startswith("European governments")
    path.write_text("Guarantees, briefly.", encoding="utf-8")
    assert seed_paragraphs([path]) == ["Guarantees, briefly."]  # nothing longer: the whole


def test_semantic_open_is_configured_per_topic_with_seeds(tmp_path: Path) -> None:
    config = write(tmp_path, [], "http://127.0.0.1:9/hook", "semantic_open = 0.55",
                   top='[detection]\nsemantic_model = "models/minilm"\n')  # fmt: skip
    cfg = load(config)
    assert cfg.topics[0].semantic_open == cfg.topics[0].semantic_at == 0.55
    plain = write(tmp_path, [], "http://127.0.0.1:9/hook", "")
    assert load(plain).topics[0].semantic_at == DEFAULT_SEMANTIC_OPEN
    off = write(tmp_path, [], "http://127.0.0.1:9/hook", "semantic_open = 0")
    assert load(off).topics[0].semantic_at is None
    stories = write(tmp_path, [], "http://127.0.0.1:9/hook", 'alert_on = "stories"')
    assert load(stories).topics[0].semantic_at is None  # it opens no development to gate
    assert cfg.detection.semantic_model == (tmp_path / "models" / "minilm").resolve()
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[topics]]\nid = "t"\nquery = "a"\nsemantic_open = 0.5\nsinks = []\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load(bad)
    assert "topics[0].semantic_open" in str(err.value) and "seeds" in str(err.value)


@pytest.mark.parametrize("setting", ["semantic_open = 0.5", "", "semantic_open = 0"])
async def test_a_story_far_from_the_seeds_in_meaning_does_not_open_a_development(
    setting: str, feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    """Both stories match the query and pass the lexical rule; with the gate (set, or the
    default for a topic with seeds) the report from the front, about the war rather than the
    guarantees, does not open a development; `semantic_open = 0` turns the gate off."""
    feed = feed_server.set("news.xml", rss([GUARANTEE, FRONT]))
    config = write(tmp_path, [feed], receiver.url, setting)
    encoder = KeywordEncoder()
    async with service_for(config, io.StringIO()) as service:
        service.poller.detection.semantic = SemanticGate(None, encoder)
        await service.poll_all()
    alerts = new_alerts(config)
    if setting != "semantic_open = 0":
        assert set(alerts) == {"g1"}
        match = alerts["g1"]["match"]
        assert match["semantic_similarity"] == pytest.approx(1.0, abs=0.01)
        assert match["strength"] == "strong"
        # the seeds once, then only the stories that would open a development
        assert len(encoder.calls) == 3 and encoder.calls[1].startswith(GUARANTEE["title"])
        # the stored match says what the gate decided: the front line's is weak
        assert stored_matches(config) == {
            "g1": ("query and profile", "strong"),
            "f1": ("query and profile", "weak"),
        }
    else:
        assert set(alerts) == {"g1", "f1"}
        assert "semantic_similarity" not in alerts["f1"]["match"]
        assert encoder.calls == []  # no topic asks for it: nothing is embedded
        assert set(stored_matches(config).values()) == {("query and profile", "strong")}


async def test_without_the_model_the_daemon_runs_and_says_why(
    feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    feed = feed_server.set("news.xml", rss([GUARANTEE, FRONT]))
    config = write(tmp_path, [feed], receiver.url, "semantic_open = 0.5",
                   top='[detection]\nsemantic_model = "models/missing"\n')  # fmt: skip
    log = io.StringIO()
    async with service_for(config, log) as service:
        await service.poll_all()
        status = (await service.status())["detection"]["semantic"]
    assert set(new_alerts(config)) == {"g1", "f1"}  # the lexical rule alone
    assert status["model"] == str((tmp_path / "models" / "missing").resolve())
    assert status["loaded"] is False and "missing" in status["problem"]
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    [err] = [e for e in events if e.get("event") == "detection.semantic_unavailable"]
    assert err["level"] == "warning" and "not installed" in err["error"]
    # installed but not the pinned files: an error, and still the lexical rule alone
    broken = tmp_path / "models" / "broken"
    broken.mkdir(parents=True)
    (broken / "model.safetensors").write_bytes(b"not a model")
    (broken / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    gate = SemanticGate.load(broken)
    assert gate.installed and not gate.available
    assert gate.problem is not None and "model.safetensors" in gate.problem


def test_the_real_model_tells_the_shipped_topics_subject_from_its_setting() -> None:
    """With the model installed (`make test` installs it and sets MONITOR_MINILM_DIR): the
    shipped topic's gate lets a report of pledged troops open a development, not one of a
    drone strike or of an envoy's trip. Skipped without the model, except under CI."""
    folder = os.environ.get("MONITOR_MINILM_DIR")
    if not folder or not Path(folder).is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI: the semantic model is not installed (make semantic-model)")
        pytest.skip("the semantic model is not installed (make semantic-model)")
    gate = SemanticGate.load(Path(folder))
    assert gate.available, gate.problem
    shipped = load(Path(__file__).resolve().parent.parent / "config" / "monitor.toml").topics[0]
    assert shipped.semantic_at is not None
    pledge = gate.similarity(
        shipped.seeds,
        "European allies pledge troops for a reassurance force in Ukraine after a ceasefire",
        "Britain and France said twenty countries would send soldiers and aircraft to protect "
        "Ukraine once the fighting stops, with American support.",
    )
    strike = gate.similarity(
        shipped.seeds,
        "Russian drones hit power stations in Kharkiv overnight",
        "A drone attack cut electricity to thousands of homes, the regional governor said.",
    )
    trip = gate.similarity(
        shipped.seeds,
        "Envoy to meet Putin as talks on ending the war continue",
        "The White House said its envoy would travel to Moscow next week.",
    )
    assert pledge is not None and strike is not None and trip is not None
    assert pledge >= shipped.semantic_at > trip > strike
    assert strike < DEFAULT_SEMANTIC_OPEN


def test_the_model_is_found_where_it_is_installed_unless_the_configuration_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import DetectionConfig
    from monitor.topics.semantic import MODEL_NAME, default_model_dir, model_folder

    monkeypatch.delenv("MONITOR_SEMANTIC_MODEL")
    assert default_model_dir() == Path(sys.prefix) / "share" / "monitor" / "models" / MODEL_NAME
    assert model_folder(DetectionConfig()) == (default_model_dir(), False)
    monkeypatch.setenv("MONITOR_SEMANTIC_MODEL", str(tmp_path))
    assert model_folder(DetectionConfig()) == (tmp_path, False)
    named = tmp_path / "elsewhere"
    assert model_folder(DetectionConfig(semantic_model=named)) == (named, True)
    assert model_folder(DetectionConfig(semantic=False, semantic_model=named)) == (None, False)
    monkeypatch.setenv("MONITOR_SEMANTIC_MODEL", "off")
    assert model_folder(DetectionConfig()) == (None, False)
    # not installed where it is looked for by default: said in /status, not logged
    assert SemanticGate.load(tmp_path / "absent").problem is not None
