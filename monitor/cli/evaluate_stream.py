"""`monitor evaluate --stream DIR`: replay a labelled topic stream through the running daemon.

A topic stream is a folder with ``items.jsonl``: feed items (``id``, ``source``, ``feed_url``,
``title``, ``description``, ``link``, ``published``) of several outlets' feeds. The replay
serves each outlet's feed from a local HTTP server as it grew (the items published so far,
newest first), advances an injected clock in steps (6 hours by default) and polls every feed
at each step with the daemon's own service (:func:`monitor.service.daemon.open_service`, as
``poll-once`` does): fetch, parse, store, dedup, the configured topic's matching, its
developments and its alert decisions are the daemon's code, on a throw-away store. Then it
writes one decision per item for ``score_topic.py``::

The design in full: docs/modules.md, `monitor/cli/evaluate_stream.py`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from monitor import logs
from monitor.clock import FixedClock
from monitor.config import Config, ConfigError, from_dict
from monitor.config.model import Problem

STEP = 6 * 3600.0  # seconds between two polls of every feed
FEED_ITEMS = 50  # items a feed document lists (the newest)


@dataclass(frozen=True, slots=True)
class StreamItem:
    id: str
    source: str
    feed_url: str
    title: str
    description: str
    link: str
    published: float  # Unix seconds


def read_items(folder: str | Path) -> list[StreamItem]:
    """The items of ``folder/items.jsonl`` in publication order (ties in file order)."""
    path = Path(folder) / "items.jsonl"
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                when = datetime.fromisoformat(str(raw["published"]).replace("Z", "+00:00"))
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                out.append(
                    StreamItem(
                        id=str(raw["id"]),
                        source=str(raw.get("source") or ""),
                        feed_url=str(raw.get("feed_url") or raw.get("source") or "feed"),
                        title=str(raw.get("title") or ""),
                        description=str(raw.get("description") or raw.get("summary") or ""),
                        link=str(raw.get("link") or raw.get("url") or ""),
                        published=when.timestamp(),
                    )
                )
            except (KeyError, ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a stream item ({exc})") from None
    out.sort(key=lambda i: i.published)  # stable: ties keep the file's order
    return out


def rss(items: Iterable[StreamItem], title: str) -> bytes:
    """An RSS 2.0 document of `items` (newest first), each with its id as a guid."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://example.invalid/</link>",
        "<description>replayed feed</description>",
    ]
    for it in sorted(items, key=lambda i: i.published, reverse=True):
        when = format_datetime(datetime.fromtimestamp(it.published, UTC), usegmt=True)
        parts.append(
            f'<item><guid isPermaLink="false">{escape(it.id)}</guid>'
            f"<title>{escape(it.title)}</title><link>{escape(it.link)}</link>"
            f"<description>{escape(it.description)}</description>"
            f"<pubDate>{when}</pubDate></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def read_toml(config_path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([Problem(str(config_path), "(file)", str(exc))]) from None


def stream_config(
    data: dict[str, Any],
    config_path: Path,
    topic_id: str,
    feeds: list[tuple[str, str]],
    db: Path,
) -> dict[str, Any]:
    """The configuration of the replay: the user's (`data`, read from `config_path`) with its
    own storage, feeds and sinks replaced (`feeds`: (url, name)), and only the topic
    `topic_id`, without sinks."""
    topics = [t for t in data.get("topics", []) if isinstance(t, dict) and t.get("id") == topic_id]
    if not topics:
        known = ", ".join(str(t.get("id")) for t in data.get("topics", []) if isinstance(t, dict))
        message = f"no topic {topic_id!r} (known: {known or 'none'})"
        raise ConfigError([Problem(str(config_path), "topics", message)])
    topic = {k: v for k, v in topics[0].items() if k not in ("sinks", "digest")}
    out: dict[str, Any] = {
        k: v for k, v in data.items() if k in ("detection", "polling", "full_text", "retention")
    }
    polling = dict(out.get("polling", {}))
    # one poll at a time, in the order of the feeds: the same decisions on every run
    polling.update({"host_gap": "1ms", "host_concurrency": 1, "concurrency": 1})
    polling.pop("proxy", None)
    out.update(
        storage={"url": f"sqlite:///{db}"},
        server={"enabled": False},
        polling=polling,
        log={"level": "warning"},
        feeds=[{"url": url, "name": name} for url, name in feeds],
        topics=[topic],
    )
    return out


def decisions(db: Path, topic_id: str, alert_on: str) -> dict[str, dict[str, Any]]:
    """Per item id (the story's key): matched, new, development, as the store holds them."""
    with sqlite3.connect(db) as conn:
        keys = dict(conn.execute("SELECT id, key FROM stories"))
        dups = {i for (i,) in conn.execute("SELECT id FROM stories WHERE duplicate_of IS NOT NULL")}
        matched = {
            s
            for (s,) in conn.execute(
                "SELECT story_id FROM story_topics WHERE topic_id = ?", (topic_id,)
            )
        }
        dev_of = dict(
            conn.execute(
                "SELECT story_id, development_id FROM development_stories WHERE topic_id = ?",
                (topic_id,),
            )
        )
        firsts = {
            s
            for (s,) in conn.execute(
                "SELECT story_id FROM developments WHERE topic_id = ?", (topic_id,)
            )
        }
    out = {}
    for sid, key in keys.items():
        hit = sid in matched
        new = sid in firsts if alert_on == "developments" else hit and sid not in dups
        out[key] = {
            "id": key,
            "matched": hit,
            "new": bool(hit and new),
            "development": dev_of.get(sid),
        }
    return out


async def replay(
    items: list[StreamItem],
    user: dict[str, Any],
    config_path: Path,
    topic_id: str,
    folder: Path,
    *,
    step: float = STEP,
    progress: Callable[[int, int], object] | None = None,
    report: dict[str, Any] | None = None,
) -> tuple[Path, Config]:
    """Poll the growing feeds of `items` with the daemon's service, one round per `step`;
    returns the store's file (in `folder`) and the configuration replayed. `config_path`:
    resolved. `report`, if given, is told whether the semantic model decided too."""
    from monitor.service.daemon import open_service

    feed_urls = list(dict.fromkeys(i.feed_url for i in items))
    names = {i.feed_url: i.source for i in items}
    docs: dict[str, bytes] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        body = docs.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        paths = {url: f"feed{n}.xml" for n, url in enumerate(feed_urls)}
        feeds = [(f"http://127.0.0.1:{port}/{paths[u]}", names[u] or u) for u in feed_urls]
        db = folder / "replay.db"  # `folder`: an absolute path
        data = stream_config(user, config_path, topic_id, feeds, db)
        cfg = from_dict(data, config_path)
        start = items[0].published if items else 0.0
        t = (start // step + 1) * step
        clock = FixedClock(datetime.fromtimestamp(t, UTC))
        shown = 0
        async with open_service(cfg, clock, logs.get("monitor.evaluate")) as service:
            while True:
                visible = [i for i in items if i.published <= t]
                for url in feed_urls:
                    mine = [i for i in visible if i.feed_url == url]
                    mine.sort(key=lambda i: i.published)
                    docs[paths[url]] = rss(mine[-FEED_ITEMS:], names[url] or url)
                clock.set(datetime.fromtimestamp(t, UTC))
                await service.poll_all()
                if progress is not None and len(visible) != shown:
                    progress(len(visible) - shown, len(items))
                    shown = len(visible)
                if len(visible) >= len(items):
                    break
                t += step
            if report is not None:
                report["semantic"] = service.poller.detection.semantic_status()
        return db, cfg
    finally:
        await runner.cleanup()


def run(
    stream: str | Path,
    config_path: str | Path,
    topic_id: str,
    out_path: str | Path,
    *,
    step: float = STEP,
    progress: Callable[[int, int], object] | None = None,
) -> dict[str, Any]:
    """Replay the stream, write the decisions; returns summary counts."""
    items = read_items(stream)
    config_path = Path(config_path).resolve()
    user = read_toml(config_path)
    logs.configure("warning", stream=sys.stderr, json=True)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="monitor-eval-") as tmp:
        db, cfg = asyncio.run(
            replay(
                items, user, config_path, topic_id, Path(tmp), step=step, progress=progress,
                report=report,
            )
        )  # fmt: skip
        cfg_topic = next(t for t in cfg.topics if t.id == topic_id)
        found = decisions(db, topic_id, cfg_topic.alert_on)
    counts: dict[str, Any] = {"items": len(items), "matched": 0, "new": 0, "developments": 0}
    devs = set()
    with open(out_path, "w", encoding="utf-8") as out:
        for it in items:
            d = found.get(it.id, {"id": it.id, "matched": False, "new": False, "development": None})
            out.write(json.dumps(d) + "\n")
            counts["matched"] += d["matched"]
            counts["new"] += d["new"]
            if d["development"]:
                devs.add(d["development"])
    counts["developments"] = len(devs)
    semantic = report.get("semantic") or {}
    counts["semantic_model"] = semantic.get("model") if semantic.get("loaded") else None
    return counts
