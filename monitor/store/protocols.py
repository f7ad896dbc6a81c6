"""The store's interface, by capability: each caller types its store with the part it uses.

`Store` is all of them, as `SQLiteStore` and `PostgresStore` implement it. Each write
method is one transaction, whole or not at all. Times are Unix seconds (floats); rows come
back as plain dicts or the frozen records of `monitor.models`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from monitor.config import FeedConfig
from monitor.models import (
    AlertDraft,
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    Entry,
    FeedRow,
    IngestResult,
    Lookups,
    MatchRow,
    PendingAlert,
    PollUpdate,
    StoredStory,
    Subscription,
)
from monitor.store.outbox import OutboxWrites
from monitor.stories.diff import RevisionDiff
from monitor.topics.feedback import Feedback


class DetectionTx(Protocol):
    """The detection stage's reads and writes, within one transaction."""

    async def pending(
        self, limit: int, after: int = 0, hold_since: float = float("inf"), by_time: bool = False
    ) -> list[StoredStory]:
        """Stories waiting for detection (new, with a revision it has not seen, or whose
        page's text came after it), by id (`after` one), or with `by_time` the earliest story
        time first (published, never after first seen; each call sorts the waiting stories:
        for the pass after the first polls); a story still waiting for its page's text is held
        back if first seen after `hold_since`."""
        ...

    async def development_log(
        self, after_seq: int, limit: int = 1000
    ) -> list[tuple[int, DevelopmentStoryRow]]:
        """(seq, row) of the stories joined to developments after `after_seq`, in order."""
        ...

    async def last_seq(self) -> int: ...

    async def prefetch(self, lookups: Lookups) -> None:
        """A hint before a batch: the canonical URLs `url_original` and the (band keys, story
        id) `near_candidates` will be asked about (with `since` and `limit`), to read at
        once; their answers must not change."""
        ...

    async def url_original(self, canonical: str, before_id: int) -> int | None: ...

    async def near_candidates(
        self, bands: Sequence[int], since: float, before_id: int, limit: int = 200
    ) -> list[StoredStory]:
        """Earlier stories sharing a band key, with their texts, dates and `duplicate_of`."""
        ...

    async def mark_detected(
        self,
        story: StoredStory,
        *,
        canonical_url: str | None,
        duplicate_of: int | None,
        duplicate_by: str | None,
        bands: Sequence[int],
    ) -> None: ...

    async def add_matches(self, story_id: int, matches: Sequence[MatchRow], now: float) -> None:
        """Store the story's topic matches (a match stored before is kept as it was)."""
        ...

    async def development(self, development_id: str) -> DevelopmentRow | None: ...

    async def story_developments(self, story_id: int) -> dict[str, str]: ...

    async def save_development(self, d: DevelopmentRow) -> None: ...

    async def add_development_story(self, row: DevelopmentStoryRow, now: float) -> bool: ...

    async def add_alerts(self, story_id: int, drafts: Sequence[AlertDraft], now: float) -> int: ...

    async def log_detected(
        self, at: float, steps: Sequence[DetectionStep], rebuilt: str | None
    ) -> None:
        """Append one batch to the detection log (`at`: the clock time of its decisions;
        `rebuilt`: the stage's state was rebuilt just before, see DetectionStep)."""
        ...


class FeedStore(Protocol):
    """The feeds table: configuration, claims of due feeds, the polls' effects."""

    async def sync_feeds(
        self, feeds: Sequence[FeedConfig], default_interval: float, now: float
    ) -> None: ...

    async def claim_due_feeds(
        self, now: float, limit: int, exclude: Iterable[int] = ()
    ) -> list[FeedRow]:
        """Due feeds, earliest first, each pushed one interval ahead as it is claimed (the
        lease: no other claim returns it before then)."""
        ...

    async def active_feeds(self) -> list[FeedRow]: ...

    async def set_paused(self, feed_id: int, paused: bool, now: float) -> bool:
        """Pause a feed (it is no longer claimed; a poll in flight finishes) or resume it (due
        now). False when there is no such feed."""
        ...

    async def record_poll(
        self, feed_id: int, update: PollUpdate, now: float, *, wait: bool = True
    ) -> None:
        """The poll's effect on the feed row; `wait=False` may return before it is committed
        (a store that groups these writes); `flush` waits for those."""
        ...

    async def flush(self) -> None: ...

    async def feed_row(self, feed_id: int) -> FeedRow | None:
        """One feed as a poll sees it (a pushed document is read against it)."""
        ...


class StoryStore(Protocol):
    """Stories as read from feeds, their revisions, and their pages' full text."""

    async def known_hashes(self, feed_id: int, keys: Sequence[str]) -> dict[str, str]: ...

    async def ingest(
        self,
        feed_id: int,
        update: PollUpdate,
        new: Sequence[Entry],
        updated: Sequence[tuple[Entry, RevisionDiff | None]],
        unchanged: int,
        now: float,
        *,
        full_text: bool = False,
    ) -> IngestResult:
        """New stories (waiting for detection; with `full_text`, for their pages' text too),
        revisions (with their diff; one that does not matter stored in place) and the feed
        update in one transaction; only rows this call inserted are new. Matches and alerts
        are the detection stage's, written by its transaction."""
        ...

    async def story_texts(self, feed_id: int, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, summary) stored for each of the feed's `keys` (to diff an update)."""
        ...

    async def claim_texts(
        self, now: float, limit: int, lease: float
    ) -> list[tuple[int, int, str, int]]: ...

    async def next_text_due(self) -> float | None: ...

    async def record_text(
        self,
        story_id: int,
        state: str,
        text: str | None,
        error: str | None,
        now: float,
        retry_at: float | None = None,
    ) -> None: ...


class DetectionStore(Protocol):
    """The detection stage's transaction, and what it left (for backtests and status)."""

    def detection(self) -> AbstractAsyncContextManager[DetectionTx]:
        """One detection transaction: the only one at a time (across instances, too)."""
        ...

    async def pending_count(self) -> int: ...

    async def replay_page(self, since: float, after: int, limit: int) -> list[StoredStory]: ...

    async def replay_count(self, since: float) -> int: ...

    async def detection_steps(
        self, since: float, after_seq: int, limit: int
    ) -> list[DetectionStep]:
        """The detection log (for `monitor backtest`): steps above `after_seq`, in the order
        they were decided, of the stories first seen since `since`."""
        ...

    async def revision_texts(
        self, story_ids: Sequence[int]
    ) -> dict[tuple[int, int], tuple[str, str]]:
        """(story id, revision) -> (title, summary) of the earlier revisions still stored."""
        ...

    async def development_history(
        self, since: float
    ) -> tuple[list[DevelopmentRow], list[DevelopmentStoryRow]]: ...

    async def detection_report(self) -> dict[str, Any]: ...


class OutboxStore(Protocol):
    """Alerts waiting for delivery, their attempts, digests and feed-health episodes (the
    rules are in monitor/alerts: rate limits, digests, feed health)."""

    def alert_writes(self, *locks: tuple[str, str]) -> AbstractAsyncContextManager[OutboxWrites]:
        """One transaction over the outbox's rows, holding `locks` (space, name)."""
        ...

    async def claim_due_alerts(
        self, now: float, limit: int, lease: float, exclude_sinks: Iterable[str] = ()
    ) -> list[PendingAlert]: ...

    async def record_attempt(
        self,
        alert_id: str,
        *,
        at: float,
        status: int | None,
        latency: float | None,
        error: str | None,
        state: str,
        next_attempt_at: float | None,
    ) -> None: ...

    async def next_alert_due(self) -> float | None: ...

    async def release_leases(self, now: float) -> int:
        """At the start of a delivery loop: make alerts leased by a process that is gone due
        now. Returns how many."""
        ...

    async def alert_since(self, alert_id: str) -> float | None: ...

    async def due_digests(self, now: float) -> list[dict[str, Any]]: ...

    async def requeue_dead(self, ids: Sequence[str] | None, now: float) -> list[str]: ...

    async def alert_log(
        self, state: str | None = None, limit: int = 50, alert_id: str | None = None
    ) -> list[dict[str, Any]]: ...


class FeedbackStore(Protocol):
    """Relevance feedback (monitor/feedback.py)."""

    async def add_feedback(
        self, topic_id: str, story_id: int, verdict: str, now: float, alert_id: str | None = None
    ) -> Feedback | None:
        """Record a verdict on a stored story for a topic (replacing an earlier verdict on
        the same story), with the story's title and text. None when there is no such story."""
        ...

    async def feedback(self, topic_id: str | None = None) -> list[Feedback]:
        """The feedback of one topic (None: of every topic), oldest first."""
        ...

    async def delete_feedback(self, topic_id: str, feedback_id: int) -> Feedback | None:
        """Take a verdict back; the deleted row, or None when the topic has no such one."""
        ...

    async def feedback_version(self) -> tuple[int, int]:
        """(rows, highest id) of the feedback: changes with every verdict added or taken
        back (ids are never reused), so a reader knows when to read it again."""
        ...


class SubscriptionStore(Protocol):
    """WebSub subscriptions (monitor/subscriber.py)."""

    async def subscriptions(self) -> list[Subscription]: ...

    async def subscription(self, feed_id: int) -> Subscription | None: ...

    async def subscribe(
        self, feed_id: int, hub: str, topic: str, callback: str, secret: str, now: float
    ) -> None:
        """A new subscription of the feed (replacing any other), pending, due now; its
        counters of pushes are kept."""
        ...

    async def update_subscription(
        self, feed_id: int, changes: Mapping[str, Any], now: float
    ) -> bool:
        """Set the columns `changes` names (of SUBSCRIPTION_COLUMNS); keeps feeds.pushed in
        step with the state. False when the feed has no subscription."""
        ...

    async def delete_subscription(self, feed_id: int) -> bool: ...

    async def claim_due_subscriptions(
        self, now: float, limit: int, lease: float
    ) -> list[Subscription]:
        """Subscriptions whose next action is due, earliest first, each pushed `lease`
        seconds ahead as it is claimed (no other instance acts on it meanwhile)."""
        ...

    async def count_push(self, feed_id: int, forged: bool, now: float) -> None:
        """One delivery received: a push (last_push_at) or a forged one."""
        ...


class MaintenanceStore(Protocol):
    """Opening, health, size and retention's deletes (monitor/retention.py decides)."""

    """What a store offers. Each write method is one transaction, whole or not at all."""

    write_failure: str | None  # why the last write failed, until one succeeds
    shared: bool  # several instances may write it (their decisions must be caught up with)

    @property
    def instance_id(self) -> str:
        """This process, as recorded with the leases it takes."""
        ...

    async def open(self) -> None:
        """Connect and apply the pending schema migrations."""
        ...

    async def close(self) -> None: ...

    async def probe_write(self) -> bool:
        """After a failed write: can the store write again? Clears `write_failure` if so."""
        ...

    async def set_max_size(self, max_bytes: int | None) -> None: ...

    async def ping(self) -> bool: ...

    async def checkpoint(self, mode: str = "PASSIVE") -> None: ...

    async def vacuum(self) -> tuple[int, int]: ...

    def size_bytes(self) -> int: ...

    async def prune_stories(self, cutoff: float, batch: int, now: float) -> int:
        """Delete up to `batch` stories first seen before `cutoff` (each leaving a tombstone
        of `now`), one transaction; how many."""
        ...

    async def prune_rows(self, kind: str, cutoff: float, batch: int) -> int:
        """Delete up to `batch` rows of `kind` (revisions, alerts, developments, tombstones)
        older than `cutoff`, one transaction; how many."""
        ...

    async def feed_report(self) -> list[dict[str, Any]]: ...

    async def topic_report(self) -> dict[str, dict[str, Any]]: ...

    async def alert_counts(self) -> dict[str, Any]: ...

    async def story_count(self) -> int: ...

    async def alerts(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    async def leases(self, now: float) -> list[dict[str, Any]]:
        """Leases held now, per instance: {"instance", "feeds", "alerts", "until"} (feeds is
        None where the store does not record feed leases: SQLite, one process)."""
        ...


class Store(
    FeedStore,
    StoryStore,
    DetectionStore,
    OutboxStore,
    FeedbackStore,
    SubscriptionStore,
    MaintenanceStore,
    Protocol,
):
    """Everything a store offers."""
