"""`monitor backtest`: replay stored stories through one topic and show what it would do.

What the daemon decides depends on the order in which its detection stage meets the stories
and on the state it has by then: which stories a batch held (a first poll's backlog waits
for the other feeds' and is read by story time; later polls are read as stored, a batch per
transaction, each batch sorted by story time), the clock time of each batch (update gaps,
windows), the sites' boilerplate memory and the trackers' rarity statistics (reset by a
restart, rebuilt from the store). The stage keeps a log of it (`detection_log`: each batch,
its time, its stories with the revision and text they were read with, and whether the state
had just been rebuilt).

The design in full: docs/modules.md, `monitor/cli/backtest.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from monitor import logs
from monitor.cli.progress import bar
from monitor.cli.util import load_or_report
from monitor.clock import iso
from monitor.config import Config
from monitor.detect.detection import Detection, story_time
from monitor.models import (
    AlertDraft,
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    Lookups,
    MatchRow,
    StoredStory,
)
from monitor.topics.compiled import Settings
from monitor.topics.feedback import Decision, Feedback

PAGE = 5000
WHY = {  # a change by feedback or negative seeds, as the report says it
    "not_relevant": "like a story marked not relevant",
    "relevant": "like a story marked relevant",
    "exclude_seeds": "closer to exclude_seeds",
}


class ReplaySource(Protocol):
    """What the backtest reads of a store."""

    async def replay_page(self, since: float, after: int, limit: int) -> list[StoredStory]: ...

    async def detection_steps(
        self, since: float, after_seq: int, limit: int
    ) -> list[DetectionStep]: ...

    async def revision_texts(
        self, story_ids: Sequence[int]
    ) -> dict[tuple[int, int], tuple[str, str]]: ...


class ReplayClock:
    """The clock time of the batch being replayed."""

    def __init__(self) -> None:
        self.ts = 0.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


@dataclass
class Batch:
    """One detection transaction to replay: its clock time, its stories in the order the
    daemon took them, whether the daemon's state was rebuilt just before it."""

    at: float
    steps: list[DetectionStep]
    rebuilt: str | None = None
    key: int = 0  # the log's batch number (0: not from the log)


@dataclass
class Plan:
    batches: list[Batch]
    stories: dict[int, StoredStory]  # the stored stories (their latest revision)
    revisions: dict[tuple[int, int], tuple[str, str]]  # earlier revisions' (title, summary)
    notes: dict[int, list[str]]  # story id -> why the replay may not decide as the daemon did


def queue_batches(stories: Sequence[StoredStory], size: int, first_poll_wait: float) -> list[Batch]:
    """The order the daemon's queue gives stories the log does not hold, from what is stored:
    the first polls' backlogs (stories first seen within `first_poll_wait` of the first one)
    together, by story time, as the pass after the first-poll wait reads them; then each
    poll's stories (one first-seen time) as stored, in batches of `size`."""
    if not stories:
        return []
    ordered = sorted(stories, key=lambda s: (s.first_seen_at, s.id))
    t0 = ordered[0].first_seen_at
    first = [s for s in ordered if first_poll_wait > 0 and s.first_seen_at <= t0 + first_poll_wait]
    rest = ordered[len(first) :]
    out: list[Batch] = []

    def add(group: list[StoredStory], at: float) -> None:
        for i in range(0, len(group), size):
            steps = [
                DetectionStep(s.id, s.revision, "new", bool(s.full_text), s.published)
                for s in group[i : i + size]
            ]
            out.append(Batch(at, steps))

    if first:
        first.sort(key=lambda s: (story_time(s), s.id))
        add(first, max(s.first_seen_at for s in first))
    group: list[StoredStory] = []
    for s in rest:
        if group and s.first_seen_at != group[0].first_seen_at:
            add(group, group[0].first_seen_at)
            group = []
        group.append(s)
    if group:
        add(group, group[0].first_seen_at)
    return out


UNLOGGED = (
    "not in the daemon's detection log (stored before the log was kept, or not detected "
    "yet): replayed when first seen, in the queue's order, which the daemon may not have kept"
)


async def plan_replay(source: ReplaySource, since: float, config: Config) -> Plan:
    """The batches to replay: the detection log's, and the stories it does not hold placed
    by :func:`queue_batches` at the times they were first seen."""
    stories: dict[int, StoredStory] = {}
    after = 0
    while page := await source.replay_page(since, after, PAGE):
        stories.update((s.id, s) for s in page)
        after = page[-1].id
    logged: list[Batch] = []
    after = 0
    while steps := await source.detection_steps(since, after, PAGE):
        for step in steps:
            if step.story_id not in stories:
                continue
            if not logged or logged[-1].key != step.batch:
                logged.append(Batch(step.at, [], step.rebuilt, step.batch))
            logged[-1].steps.append(step)
        after = steps[-1].seq
    seen = {s.story_id for b in logged for s in b.steps if s.kind in ("new", "skipped")}
    unlogged = [s for i, s in stories.items() if i not in seen]
    notes: dict[int, list[str]] = defaultdict(list)
    for s in unlogged:
        notes[s.id].append(UNLOGGED)
    d = config.detection
    fallback = queue_batches(unlogged, d.batch, d.first_poll_wait)
    batches = list(heapq.merge(logged, fallback, key=lambda b: b.at))
    older = {(s.story_id, s.revision) for b in batches for s in b.steps}
    wanted = sorted({i for i, r in older if r != stories[i].revision})
    revisions = await source.revision_texts(wanted) if wanted else {}
    return Plan(batches, stories, revisions, notes)


@dataclass
class ReplayStore:
    """What :class:`Detection` needs of a store, in memory, answering as the real stores do
    (monitor/store/sqlite_detect.py), fed the plan's batches one transaction at a time."""

    plan: Plan
    clock: ReplayClock
    shared = False  # nobody else decides: nothing to catch up with
    progress: Callable[[int], object] | None = None
    seen: int = 0  # stories replayed (their first detection)
    held: bool = False  # the next batch waits: the state is rebuilt before it
    next: int = 0  # index of the next batch of the plan
    started: bool = False  # a batch was replayed
    current: list[StoredStory] = field(default_factory=list)
    taken: dict[int, StoredStory] = field(default_factory=dict)  # the batch's stories
    detected: dict[int, int] = field(default_factory=dict)  # story id -> revision it saw
    canonical: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    bands: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    texts: dict[int, StoredStory] = field(default_factory=dict)
    first_seen: dict[int, float] = field(default_factory=dict)
    duplicates: dict[int, int] = field(default_factory=dict)
    developments: dict[str, DevelopmentRow] = field(default_factory=dict)
    rows: list[DevelopmentStoryRow] = field(default_factory=list)  # in the order joined
    members: dict[int, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    sources: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    alert_keys: dict[int, set[tuple[str, str, str]]] = field(default_factory=dict)
    alerts: list[tuple[StoredStory, AlertDraft, float]] = field(default_factory=list)
    feedback_rows: Sequence[Feedback] = ()  # the topic's feedback, as the real store has it
    changed: list[tuple[StoredStory, Decision]] = field(default_factory=list)  # by feedback
    semantic: dict[str, Any] | None = None  # the gate's model, for a topic it weighs

    async def feedback_version(self) -> tuple[int, int]:
        return len(self.feedback_rows), max((f.id for f in self.feedback_rows), default=0)

    async def feedback(self, topic_id: str | None = None) -> list[Feedback]:
        return [f for f in self.feedback_rows if topic_id in (None, f.topic_id)]

    @property
    def notes(self) -> dict[int, list[str]]:
        return self.plan.notes

    def upcoming(self) -> Batch | None:
        return self.plan.batches[self.next] if self.next < len(self.plan.batches) else None

    @asynccontextmanager
    async def detection(self) -> AsyncIterator[ReplayStore]:
        """A transaction: the next batch's stories, at the batch's clock time (set before
        the stage reads the clock)."""
        self.current = []
        while not self.held and (batch := self.upcoming()) is not None:
            if batch.rebuilt and self.started:  # the daemon rebuilt its state here: so do we
                self.held = True
                break
            self.next += 1
            self.started = True
            self.clock.ts = batch.at
            self.current = [s for s in map(self._story, batch.steps) if s is not None]
            self.taken = {s.id: s for s in self.current}
            if self.progress is not None:
                self.progress(len(batch.steps))
            if self.current:
                break
        yield self

    def resume(self) -> str | None:
        """Let the held batch go, at its clock time; returns how the daemon rebuilt its
        state before it (start | reload), which the caller does first."""
        batch = self.upcoming()
        self.held = False
        if batch is None:
            return None
        rebuilt, batch.rebuilt = batch.rebuilt, None
        self.clock.ts = batch.at
        return rebuilt

    def _text(self, stored: StoredStory, revision: int) -> tuple[str, str]:
        if revision == stored.revision:
            return stored.title, stored.summary
        found = self.plan.revisions.get((stored.id, revision))
        if found is None:
            note = (
                f"the text of its revision {revision} is no longer stored (pruned): "
                f"replayed with revision {stored.revision}'s"
            )
            if note not in self.notes[stored.id]:
                self.notes[stored.id].append(note)
            return stored.title, stored.summary
        return found

    def _story(self, step: DetectionStep) -> StoredStory | None:
        """The story as the daemon's detection stage read it at this step."""
        stored = self.plan.stories[step.story_id]
        title, summary = self._text(stored, step.revision)
        text = stored.full_text if step.full_text else None
        base = replace(stored, title=title, summary=summary, revision=step.revision,
                       published=step.published, full_text=text, text_state=None,
                       detected_rev=None, old_title=None, old_summary=None)  # fmt: skip
        if step.kind in ("new", "skipped"):
            if step.kind == "skipped":
                self.notes[stored.id].append(
                    "the daemon skipped it (its detection failed): the replay decides on it"
                )
            self.seen += 1
            return base
        before = self.detected.get(stored.id)
        if before is None:  # its first detection is not replayed (before --since)
            return None
        if step.kind == "late":
            self.notes[stored.id].append(
                f"its page's text came after it was detected ({iso(step.at)}): decided on "
                "the feed's summary first, as the daemon did"
            )
            return replace(base, detected_rev=max(before, step.revision), text_state="late")
        old_title, old_summary = self._text(stored, before)
        return replace(base, detected_rev=before, old_title=old_title, old_summary=old_summary)

    async def development_history(
        self, since: float
    ) -> tuple[list[DevelopmentRow], list[DevelopmentStoryRow]]:
        """As the store answers it (the daemon's state at a start or reload)."""
        devs = sorted(
            (d for d in self.developments.values() if d.last_seen_at >= since),
            key=lambda d: d.first_seen_at,
        )
        active = {d.id for d in devs}
        stories = self.plan.stories
        rows = [
            replace(r, story=stories[r.story.id]) for r in self.rows if r.development_id in active
        ]
        return devs, rows

    # -- DetectionTx -----------------------------------------------------------------------

    async def pending(
        self, limit: int, after: int = 0, hold_since: float = float("inf"), by_time: bool = False
    ) -> list[StoredStory]:
        """The batch the daemon took (whatever the limit: its batches are replayed whole)."""
        out, self.current = self.current, []
        return out

    async def development_log(
        self, after_seq: int, limit: int = 1000
    ) -> list[tuple[int, DevelopmentStoryRow]]:
        return []

    async def last_seq(self) -> int:
        return 0

    async def prefetch(self, lookups: Lookups) -> None:
        return None  # in memory: every lookup is cheap

    async def url_original(self, canonical: str, before_id: int) -> int | None:
        """The earliest detected story with this canonical URL (its original, if a copy)."""
        ids = [i for i in self.canonical.get(canonical, ()) if i < before_id]
        if not ids:
            return None
        first = min(ids)
        return self.duplicates.get(first, first)

    async def near_candidates(
        self, bands: Sequence[int], since: float, before_id: int, limit: int = 200
    ) -> list[StoredStory]:
        ids = sorted({i for b in bands for i in self.bands.get(b, ()) if i < before_id})
        return [self.texts[i] for i in ids if self.first_seen[i] >= since][:limit]

    async def mark_detected(
        self,
        story: StoredStory,
        *,
        canonical_url: str | None,
        duplicate_of: int | None,
        duplicate_by: str | None,
        bands: Sequence[int],
    ) -> None:
        new = story.detected_rev is None
        if new and canonical_url is not None and story.id not in self.canonical[canonical_url]:
            self.canonical[canonical_url].append(story.id)
        if duplicate_of is not None:
            if new:
                self.duplicates[story.id] = duplicate_of
            else:  # a revision's copy is linked only if it had none
                self.duplicates.setdefault(story.id, duplicate_of)
        for b in bands:
            if story.id not in self.bands[b]:
                self.bands[b].append(story.id)
        self.detected[story.id] = max(story.revision, self.detected.get(story.id, 0))
        # the text later stories are compared with: the stored one, as it is now
        self.texts[story.id] = replace(story, duplicate_of=self.duplicates.get(story.id))
        self.first_seen[story.id] = story.first_seen_at

    async def add_matches(self, story_id: int, matches: Sequence[MatchRow], now: float) -> None:
        return None

    async def development(self, development_id: str) -> DevelopmentRow | None:
        return self.developments.get(development_id)

    async def story_developments(self, story_id: int) -> dict[str, str]:
        return dict(self.members.get(story_id, {}))

    async def save_development(self, d: DevelopmentRow) -> None:
        self.developments[d.id] = d

    async def add_development_story(self, row: DevelopmentStoryRow, now: float) -> bool:
        known = row.source in self.sources[row.development_id]
        if row.topic_id not in self.members[row.story.id]:  # one row per story and topic
            self.members[row.story.id][row.topic_id] = row.development_id
            self.sources[row.development_id].add(row.source)
            self.rows.append(row)
        return not known

    async def add_alerts(self, story_id: int, drafts: Sequence[AlertDraft], now: float) -> int:
        """As the store: one alert per story, topic, sink and event; listed once per story
        and event (not per sink)."""
        keys = self.alert_keys.setdefault(story_id, set())
        added = [d for d in drafts if (d.topic_id, d.sink_id, d.event) not in keys]
        keys.update((d.topic_id, d.sink_id, d.event) for d in added)
        story = self.taken.get(story_id)
        if added and story is not None:
            self.alerts.append((story, added[0], now))
        return len(added)

    async def log_detected(
        self, at: float, steps: Sequence[DetectionStep], rebuilt: str | None
    ) -> None:
        return None  # the replay writes nothing


async def replay(
    config: Config,
    topic_id: str,
    source: ReplaySource,
    log: Any,
    since: float = 0.0,
    progress: Callable[[int], object] | None = None,
    plan: Plan | None = None,
    feedback: Sequence[Feedback] = (),
) -> ReplayStore:
    """Replay the stored stories first seen since `since` through the detection stage with
    only the topic `topic_id`, batch by batch as the daemon detected them (see the module
    doc); the topic's `feedback` and negative seeds apply (the stories whose match they
    changed are in `changed`). Raises RuntimeError when the detection stage fails."""
    topic = next(t for t in config.topics if t.id == topic_id)
    cfg = replace(config, topics=(replace(topic, sinks=topic.sinks or ("backtest",)),))
    settings = Settings.of(cfg)
    if plan is None:
        plan = await plan_replay(source, since, cfg)
    clock = ReplayClock()
    store = ReplayStore(plan, clock, progress, feedback_rows=feedback)

    def stage() -> Detection:
        detection = Detection(store, clock, log, settings)  # type: ignore[arg-type]
        detection.on_feedback = lambda story, ds: store.changed.extend((story, d) for d in ds)
        return detection

    detection = stage()
    while store.upcoming() is not None:
        await detection.process()
        if detection.last_error:
            raise RuntimeError(detection.last_error)
        if store.held:  # the daemon rebuilt its state before the next batch
            if store.resume() == "start":  # a new process: a new stage, its state from the store
                detection = stage()
            else:  # a reload: the trackers from the store, the sites' memory kept
                await detection.load()
    if topic.semantic_at is not None:
        store.semantic = detection.semantic_status()
    return store


def semantic_line(status: dict[str, Any]) -> str:
    """What the replay's semantic gate was: the daemon without the model, or with another
    model, may open other developments (README, "The semantic gate")."""
    if status.get("loaded"):
        return f"the semantic gate weighed each would-be new development (model {status['model']})"
    why = status.get("problem") or "no model installed or configured"
    return (
        f"the semantic gate was open ({why}): new developments rest on the lexical rule "
        "alone, as in a daemon without the model"
    )


def report(store: ReplayStore, out: Any = sys.stdout) -> dict[str, int]:
    """Print the alerts the topic would have sent, its developments, and the stories the
    replay may not decide as the daemon did (and why)."""
    print("alerts it would have sent:", file=out)
    for story, draft, at in store.alerts:
        new = draft.data.get("what_is_new") or []
        dev = draft.data.get("development", {}).get("id", "-")
        print(f"  {iso(at)}  {draft.event:<18}  {dev:<24}  {story.title}", file=out)
        for sentence in new[1:4] if draft.event == "development.update" else ():
            print(f"      + {sentence}", file=out)
    if store.changed:
        print("\nmatches changed by feedback or negative seeds:", file=out)
    for story, c in store.changed:
        ref = f" (feedback {c.feedback_id})" if c.feedback_id is not None else ""
        print(
            f"  {iso(story.first_seen_at)}  {c.action:<7}  {WHY[c.reason]}{ref}, "
            f"{c.similarity:.2f} vs {c.against:.2f}  {story.title}",
            file=out,
        )
    devs = sorted(store.developments.values(), key=lambda d: d.first_seen_at)
    print(f"\ndevelopments ({len(devs)}):", file=out)
    for d in devs:
        print(
            f"  {d.id:<24}  {iso(d.first_seen_at)}  {d.stories:>4} stories "
            f"{d.sources:>3} sources  {d.headline}",
            file=out,
        )
    notes = {i: n for i, n in store.notes.items() if n}
    if notes:  # each reason once, then the stories it concerns
        print(f"\nstories replayed otherwise than the daemon read them ({len(notes)}):", file=out)
        by_reason: dict[str, list[int]] = defaultdict(list)
        for story_id, why in sorted(notes.items()):
            for reason in why:
                by_reason[reason].append(story_id)
        for reason, ids in by_reason.items():
            print(f"  ! {reason}:", file=out)
            for story_id in ids:
                print(f"      story {story_id}  {store.plan.stories[story_id].title}", file=out)
    matched = sum(1 for m in store.members.values() if m)
    return {
        "stories": store.seen,
        "matched": matched,
        "developments": len(devs),
        "alerts": len(store.alerts),
        "dropped": sum(1 for _, d in store.changed if d.action == "dropped"),
        "added": sum(1 for _, d in store.changed if d.action == "added"),
        "flagged": len(notes),
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
        plan = await plan_replay(store, since, cfg)
        total = sum(len(b.steps) for b in plan.batches)
        with bar(total, "backtest", unit="stories", show=show) as progress:
            result = await replay(
                cfg, topic_id, store, logs.get("monitor"), since, progress.update, plan,
                await store.feedback(topic_id),
            )  # fmt: skip
    except (StoreError, RuntimeError) as exc:
        print(f"error: the replay failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    summary = report(result)
    print(
        f"\n{summary['stories']:,} stories replayed, {summary['matched']:,} matched, "
        f"{summary['developments']:,} developments, {summary['alerts']:,} alerts; "
        f"feedback and negative seeds dropped {summary['dropped']:,} matches, "
        f"added {summary['added']:,}"
        + (f"; {summary['flagged']:,} stories flagged above" if summary["flagged"] else "")
    )
    if result.semantic is not None:
        print(semantic_line(result.semantic))
    if since:
        print(
            f"(stories first seen before {iso(since)} are not replayed: the developments they "
            "opened and the copies they are originals of are unknown to the replay)"
        )
    return 0


def register(sub: Any, default_config: str) -> None:
    p = sub.add_parser(
        "backtest",
        help="replay stored stories through a topic as the daemon detected them; print the "
        "developments and alerts",
    )
    p.add_argument("--topic", required=True, metavar="ID")
    p.add_argument("--since", metavar="DATE", help="stories first seen since (ISO 8601)")
    p.add_argument("--config", default=default_config, help=f"(default {default_config})")
    show = p.add_mutually_exclusive_group()
    show.add_argument("--progress", action="store_true", default=None, help="show a progress bar")
    show.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=cmd_backtest)
