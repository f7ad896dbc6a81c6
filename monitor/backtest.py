"""`monitor backtest`: replay stored stories through one topic and show what it would do.

The replay runs the detection stage itself (:class:`monitor.detection.Detection`) over an
in-memory stand-in for the store (:class:`ReplayStore`): the same duplicate checks, topic
match, development tracker and alert decisions as the daemon, with a fresh state and nothing
written. The stories come from the real store, oldest first, each at the time it was first
seen (the replay clock follows them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from monitor import logs
from monitor.cliutil import load_or_report
from monitor.clock import iso
from monitor.config import Config, TopicSet
from monitor.detection import Detection
from monitor.models import (
    AlertDraft,
    DevelopmentRow,
    DevelopmentStoryRow,
    Lookups,
    PendingStory,
    StoredText,
    TopicMatch,
)
from monitor.progress import bar

PAGE = 500


class ReplayClock:
    """The time of the story being replayed."""

    def __init__(self) -> None:
        self.ts = 0.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


@dataclass
class ReplayStore:
    """What :class:`Detection` needs of a store, in memory, fed page by page by `load`
    (stories with ids above the given one, oldest first)."""

    load: Callable[[int, int], Awaitable[list[PendingStory]]]
    clock: ReplayClock
    shared = False  # nobody else decides: nothing to catch up with
    progress: Callable[[int], object] | None = None
    seen: int = 0
    buffer: list[PendingStory] = field(default_factory=list)
    current: PendingStory | None = None
    canonical: dict[str, int] = field(default_factory=dict)
    bands: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    texts: dict[int, StoredText] = field(default_factory=dict)
    first_seen: dict[int, float] = field(default_factory=dict)
    duplicates: dict[int, int] = field(default_factory=dict)
    developments: dict[str, DevelopmentRow] = field(default_factory=dict)
    members: dict[int, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    sources: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    alerts: list[tuple[PendingStory, AlertDraft]] = field(default_factory=list)

    @asynccontextmanager
    async def detection(self) -> AsyncIterator[ReplayStore]:
        yield self

    async def development_history(
        self, since: float
    ) -> tuple[list[DevelopmentRow], list[DevelopmentStoryRow]]:
        return [], []

    # -- DetectionTx -----------------------------------------------------------------------

    async def pending(
        self, limit: int, after: int = 0, hold_since: float = float("inf"), by_time: bool = False
    ) -> list[PendingStory]:
        """One story at a time (as stored), so that the clock is each story's own time."""
        if not self.buffer:
            last = self.current.id if self.current is not None else 0
            self.buffer = list(reversed(await self.load(last, PAGE)))
        if not self.buffer:
            return []
        self.current = story = self.buffer.pop()
        self.clock.ts = story.first_seen_at
        self.seen += 1
        if self.progress is not None:
            self.progress(self.seen)
        return [story]

    async def development_log(
        self, after_seq: int, limit: int = 1000
    ) -> list[tuple[int, DevelopmentStoryRow]]:
        return []

    async def last_seq(self) -> int:
        return 0

    async def prefetch(self, lookups: Lookups) -> None:
        return None  # in memory: every lookup is cheap

    async def url_original(self, canonical: str, before_id: int) -> int | None:
        first = self.canonical.get(canonical)
        return None if first is None else self.duplicates.get(first, first)

    async def near_candidates(
        self, bands: Sequence[int], since: float, before_id: int, limit: int = 200
    ) -> list[StoredText]:
        ids = sorted({i for b in bands for i in self.bands.get(b, ())})
        return [self.texts[i] for i in ids if self.first_seen[i] >= since][:limit]

    async def mark_detected(
        self,
        story: PendingStory,
        *,
        canonical_url: str | None,
        duplicate_of: int | None,
        duplicate_by: str | None,
        bands: Sequence[int],
    ) -> None:
        if canonical_url is not None:
            self.canonical.setdefault(canonical_url, story.id)
        if duplicate_of is not None:
            self.duplicates[story.id] = duplicate_of
        for b in bands:
            self.bands[b].append(story.id)
        self.texts[story.id] = StoredText(
            story.id, story.title, story.summary,
            story.published if story.published is not None else story.first_seen_at,
            duplicate_of,
        )  # fmt: skip
        self.first_seen[story.id] = story.first_seen_at

    async def add_matches(self, story_id: int, matches: Sequence[TopicMatch], now: float) -> None:
        return None

    async def development(self, development_id: str) -> DevelopmentRow | None:
        return self.developments.get(development_id)

    async def story_developments(self, story_id: int) -> dict[str, str]:
        return dict(self.members.get(story_id, {}))

    async def save_development(self, d: DevelopmentRow) -> None:
        self.developments[d.id] = d

    async def add_development_story(self, row: DevelopmentStoryRow, now: float) -> bool:
        self.members[row.story_id][row.topic_id] = row.development_id
        known = row.source in self.sources[row.development_id]
        self.sources[row.development_id].add(row.source)
        return not known

    async def add_alerts(self, story_id: int, drafts: Sequence[AlertDraft], now: float) -> int:
        assert self.current is not None
        story = self.current
        self.alerts.extend((story, d) for d in drafts[:1])  # one line per alert, not per sink
        return len(drafts)


async def replay(
    config: Config,
    topic_id: str,
    load: Callable[[int, int], Awaitable[list[PendingStory]]],
    log: Any,
    progress: Callable[[int], object] | None = None,
) -> ReplayStore:
    """Run the stories `load` pages out (oldest first) through the detection stage with only
    the topic `topic_id`, one story per step."""
    topic = config.topics.by_id[topic_id]
    cfg = replace(
        config,
        topics=TopicSet([replace(topic, sinks=topic.sinks or ("backtest",))]),
        detection=replace(config.detection, batch=1),
    )
    clock = ReplayClock()
    store = ReplayStore(load, clock, progress)
    detection = Detection(store, clock, log)  # type: ignore[arg-type]
    await detection.process(cfg)  # until no story is left
    if detection.last_error:
        raise RuntimeError(detection.last_error)
    return store


def report(store: ReplayStore, out: Any = sys.stdout) -> dict[str, int]:
    """Print the alerts the topic would have sent and its developments."""
    print("alerts it would have sent:", file=out)
    for story, draft in store.alerts:
        new = draft.data.get("what_is_new") or []
        dev = draft.data.get("development", {}).get("id", "-")
        print(
            f"  {iso(story.first_seen_at)}  {draft.event:<18}  {dev:<24}  {story.title}",
            file=out,
        )
        for sentence in new[1:4] if draft.event == "development.update" else ():
            print(f"      + {sentence}", file=out)
    devs = sorted(store.developments.values(), key=lambda d: d.first_seen_at)
    print(f"\ndevelopments ({len(devs)}):", file=out)
    for d in devs:
        print(
            f"  {d.id:<24}  {iso(d.first_seen_at)}  {d.stories:>4} stories "
            f"{d.sources:>3} sources  {d.headline}",
            file=out,
        )
    matched = sum(1 for m in store.members.values() if m)
    return {
        "stories": store.seen,
        "matched": matched,
        "developments": len(devs),
        "alerts": len(store.alerts),
    }


def _since(value: str) -> float:
    """A date or date-time (ISO 8601, UTC unless it says otherwise) as Unix seconds."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def cmd_backtest(args: argparse.Namespace) -> int:
    cfg = load_or_report(args.config)
    if cfg is None:
        return 2
    if cfg.topic(args.topic) is None:
        known = ", ".join(t.id for t in cfg.topics) or "none"
        print(f"error: no topic {args.topic!r} in {cfg.source} (known: {known})", file=sys.stderr)
        return 2
    try:
        since = _since(args.since) if args.since else 0.0
    except ValueError:
        print(f"error: --since {args.since!r} is not a date (e.g. 2026-11-01)", file=sys.stderr)
        return 2
    logs.configure("error", stream=sys.stderr)
    return asyncio.run(_backtest(cfg, args.topic, since, args.progress))


async def _backtest(cfg: Config, topic_id: str, since: float, show: bool | None) -> int:
    from monitor.store import StoreError, open_store

    try:
        store = await open_store(cfg.storage)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        total = await store.replay_count(since)
        with bar(total, "backtest", unit="stories", show=show) as progress:
            result = await replay(
                cfg,
                topic_id,
                lambda after, limit: store.replay_page(since, after, limit),
                logs.get("monitor"),
                lambda n: progress.update(n - progress.n),
            )
        summary = report(result)
        print(
            f"\n{summary['stories']:,} stories replayed, {summary['matched']:,} matched, "
            f"{summary['developments']:,} developments, {summary['alerts']:,} alerts"
        )
        return 0
    finally:
        await store.close()


def register(sub: Any, default_config: str) -> None:
    p = sub.add_parser(
        "backtest",
        help="replay stored stories through a topic; print the developments and alerts",
    )
    p.add_argument("--topic", required=True, metavar="ID")
    p.add_argument("--since", metavar="DATE", help="stories first seen since (ISO 8601)")
    p.add_argument("--config", default=default_config, help=f"(default {default_config})")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None, help="show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=cmd_backtest)
