"""The store interface: every method the daemon, the delivery loop and the commands use.

Two implementations: `SQLiteStore` (embedded, one process) and `PostgresStore` (a server
shared by several instances). Times are Unix seconds (floats); rows come back as plain dicts
or the frozen records of `monitor.models`.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from monitor.clock import iso
from monitor.config import FeedConfig, RetentionConfig
from monitor.models import (
    STORY_EVENTS,
    AlertDraft,
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    FeedRow,
    IngestResult,
    Lookups,
    NewStory,
    PendingAlert,
    PendingStory,
    PollUpdate,
    StoredText,
    Subscription,
    TopicMatch,
)
from monitor.topics.feedback import Feedback

# the story alerts (monitor.models.STORY_EVENTS) as an SQL list
STORY_EVENTS_SQL = "(" + ", ".join(f"'{e}'" for e in STORY_EVENTS) + ")"


class StoreError(Exception):
    """The store cannot be opened or written; the message says which store and why (never a
    password)."""


def new_alert_id() -> str:
    """A Standard Webhooks message id: time-ordered prefix, random suffix."""
    return f"msg_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def new_instance_id() -> str:
    """Who holds a lease: host name, process id and a random part (a restarted process with
    a recycled pid is another instance)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class DetectionTx(Protocol):
    """The detection stage's reads and writes, within one transaction."""

    async def pending(
        self, limit: int, after: int = 0, hold_since: float = float("inf"), by_time: bool = False
    ) -> list[PendingStory]:
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
    ) -> list[StoredText]: ...

    async def mark_detected(
        self,
        story: PendingStory,
        *,
        canonical_url: str | None,
        duplicate_of: int | None,
        duplicate_by: str | None,
        bands: Sequence[int],
    ) -> None: ...

    async def add_matches(
        self, story_id: int, matches: Sequence[TopicMatch], now: float
    ) -> None: ...

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


class Store(Protocol):
    """What a store offers. Each write method is one transaction, whole or not at all."""

    write_failure: str | None  # why the last write failed, until one succeeds
    shared: bool  # several instances may write it (their decisions must be caught up with)

    @property
    def instance_id(self) -> str:
        """This process, as recorded with the leases it takes."""
        ...

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and apply the pending schema migrations."""
        ...

    async def close(self) -> None: ...

    async def probe_write(self) -> bool:
        """After a failed write: can the store write again? Clears `write_failure` if so."""
        ...

    async def set_max_size(self, max_bytes: int | None) -> None: ...

    async def ping(self) -> bool: ...

    # -- feeds -----------------------------------------------------------------------------

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

    # -- stories ---------------------------------------------------------------------------

    async def known_hashes(self, feed_id: int, keys: Sequence[str]) -> dict[str, str]: ...

    async def ingest(
        self,
        feed_id: int,
        update: PollUpdate,
        new: Sequence[NewStory],
        updated: Sequence[NewStory],
        unchanged: int,
        now: float,
    ) -> IngestResult:
        """Stories, topic matches, alert rows and the feed update in one transaction; only
        rows this call inserted produce alerts."""
        ...

    async def story_texts(self, feed_id: int, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, summary) stored for each of the feed's `keys` (to diff an update)."""
        ...

    # -- full text -------------------------------------------------------------------------

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

    # -- detection -------------------------------------------------------------------------

    def detection(self) -> AbstractAsyncContextManager[DetectionTx]:
        """One detection transaction: the only one at a time (across instances, too)."""
        ...

    async def pending_count(self) -> int: ...

    async def replay_page(self, since: float, after: int, limit: int) -> list[PendingStory]: ...

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

    # -- alerts ----------------------------------------------------------------------------

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

    async def admit_alerts(
        self,
        items: Sequence[tuple[str, str, str, Sequence[tuple[bool, int, float]]]],
        now: float,
    ) -> set[str]: ...

    async def alert_since(self, alert_id: str) -> float | None: ...

    async def sync_digest_schedules(
        self, wanted: Sequence[tuple[str, str, str, str, float]], now: float
    ) -> int: ...

    async def due_digests(self, now: float) -> list[dict[str, Any]]: ...

    async def write_digest(
        self,
        topic_id: str,
        sink_id: str,
        topic: dict[str, Any],
        now: float,
        next_at: float,
        max_listed: int = 100,
    ) -> tuple[str | None, int]: ...

    async def check_feed_health(
        self, now: float, failing_after: int, after: float, sinks: Sequence[str]
    ) -> list[tuple[str, str, str]]: ...

    async def requeue_dead(self, ids: Sequence[str] | None, now: float) -> list[str]: ...

    async def alert_log(
        self, state: str | None = None, limit: int = 50, alert_id: str | None = None
    ) -> list[dict[str, Any]]: ...

    # -- maintenance -----------------------------------------------------------------------

    async def prune(self, now: float, retention: RetentionConfig) -> dict[str, int]: ...

    async def checkpoint(self, mode: str = "PASSIVE") -> None: ...

    async def vacuum(self) -> tuple[int, int]: ...

    def size_bytes(self) -> int: ...

    # -- reports ---------------------------------------------------------------------------

    async def feed_report(self) -> list[dict[str, Any]]: ...

    async def topic_report(self) -> dict[str, dict[str, Any]]: ...

    async def alert_counts(self) -> dict[str, Any]: ...

    async def story_count(self) -> int: ...

    async def alerts(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...

    async def leases(self, now: float) -> list[dict[str, Any]]:
        """Leases held now, per instance: {"instance", "feeds", "alerts", "until"} (feeds is
        None where the store does not record feed leases: SQLite, one process)."""
        ...

    # -- relevance feedback (monitor/feedback.py) -------------------------------------------

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

    # -- WebSub subscriptions (monitor/subscriber.py) ----------------------------------------

    async def feed_row(self, feed_id: int) -> FeedRow | None:
        """One feed as a poll sees it (a pushed document is read against it)."""
        ...

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


# The columns update_subscription may set.
SUBSCRIPTION_COLUMNS = frozenset(
    {
        "hub", "topic", "callback", "secret", "state", "requested_at", "lease_seconds",
        "lease_until", "next_action_at", "attempts", "last_error", "verified_at",
    }
)  # fmt: skip

# A subscription with what it needs of its feed; both stores read it so.
SUBSCRIPTION_SELECT = """
    SELECT w.feed_id, f.url AS feed_url,
           (f.active = 1 AND f.paused = 0 AND f.disabled_reason IS NULL) AS feed_live,
           w.hub, w.topic, w.callback, w.secret, w.state, w.requested_at, w.lease_seconds,
           w.lease_until, w.next_action_at, w.attempts, w.last_error, w.verified_at,
           w.last_push_at, w.pushes, w.forged
    FROM websub_subscriptions w JOIN feeds f ON f.id = w.feed_id"""


def subscription_of(r: Any) -> Subscription:
    """A row of SUBSCRIPTION_SELECT (a mapping) as a Subscription."""
    return Subscription(**{**dict(r), "feed_live": bool(r["feed_live"])})


HEALTH_SELECT = """SELECT f.id, f.url, f.name, f.title, f.active, f.consecutive_errors,
                          f.last_error_kind, f.last_error, f.last_success_at, f.last_poll_at,
                          h.failing_since, h.alerted_at
                   FROM feeds f LEFT JOIN feed_health h ON h.feed_id = f.id
                   WHERE f.consecutive_errors >= {failing_after} OR h.feed_id IS NOT NULL"""


def health_step(
    r: Any, now: float, failing_after: int, after: float
) -> tuple[str | None, str | None, dict[str, Any]]:
    """What one row of :data:`HEALTH_SELECT` calls for: (action, event, alert data).

    action: "open" (a feed seen failing starts an episode: insert its feed_health row),
    "alert" (still failing `after` seconds on: a `feed.failing` alert, the episode marked
    alerted), "close" (polling fine again, or inactive: the episode ends, with a
    `feed.recovered` alert if the failing one was sent), or None."""
    feed = {"id": r["id"], "url": r["url"], "name": r["name"] or r["title"]}
    failing = bool(r["active"]) and r["consecutive_errors"] >= failing_after
    if r["failing_since"] is None:
        return ("open" if failing else None), None, {}
    if failing and r["alerted_at"] is None and now - r["failing_since"] >= after:
        return (
            "alert",
            "feed.failing",
            {
                "feed": feed,
                "failing_since": iso(r["failing_since"]),
                "consecutive_errors": r["consecutive_errors"],
                "last_error": {"kind": r["last_error_kind"], "message": r["last_error"]},
                "last_success": iso(r["last_success_at"]),
            },
        )
    if r["consecutive_errors"] == 0 or not r["active"]:
        if r["alerted_at"] is not None and r["active"]:
            back = r["last_success_at"] or now
            return (
                "close",
                "feed.recovered",
                {
                    "feed": feed,
                    "failing_since": iso(r["failing_since"]),
                    "recovered_at": iso(back),
                    "down_seconds": round(back - r["failing_since"]),
                },
            )
        return "close", None, {}
    return None, None, {}


def checked_changes(changes: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (column, value) pairs of an update, each a column update_subscription may set."""
    unknown = set(changes) - SUBSCRIPTION_COLUMNS
    if unknown:
        raise ValueError(f"not a subscription column: {', '.join(sorted(unknown))}")
    return sorted(changes.items())


def digest_data(
    topic: Any, rows: Sequence[Any], since: float, now: float, max_listed: int
) -> dict[str, Any]:
    """The data of a `topic.digest` alert listing the story alerts `rows` (mappings with
    id, story_id, state, data), the same for every store."""
    stories = []
    for r in rows[:max_listed]:
        d = json.loads(r["data"])
        stories.append(
            {
                "alert_id": r["id"],
                "story_id": r["story_id"],
                **d.get("story", {}),
                "matched_terms": d.get("matched_terms", []),
                "folded": r["state"] == "held",
            }
        )
    return {
        "topic": topic,
        "period": {"from": iso(since), "to": iso(now)},
        "count": len(rows),
        "folded": sum(1 for r in rows if r["state"] == "held"),
        "more": max(0, len(rows) - max_listed),
        "stories": stories,
    }


def pending_alert(r: Any) -> PendingAlert:
    """A claimed outbox row (a mapping with its columns) as the delivery loop sees it."""
    return PendingAlert(
        id=r["id"],
        topic_id=r["topic_id"],
        sink_id=r["sink_id"],
        event=r["event"],
        data=json.loads(r["data"]),
        created_at=r["created_at"],
        attempts=r["attempts"],
    )


# -- relevance feedback, the same for every store ------------------------------------------

FEEDBACK_COLUMNS = "id, topic_id, story_id, verdict, title, text, created_at, alert_id"
# a story's title and text as detection reads them (the article's text, else the summary)
FEEDBACK_STORY = (
    "SELECT title, COALESCE(NULLIF(full_text, ''), summary) AS text FROM stories WHERE id = {id}"
)


def feedback_of(r: Any) -> Feedback:
    """A row of FEEDBACK_COLUMNS."""
    return Feedback(
        id=r["id"], topic_id=r["topic_id"], story_id=r["story_id"], verdict=r["verdict"],
        title=r["title"], text=r["text"], created_at=r["created_at"], alert_id=r["alert_id"],
    )  # fmt: skip


# -- detection rows, the same for every store ----------------------------------------------

# a PendingStory's columns up to its revision, from `stories s JOIN feeds f`
_PENDING_COLUMNS = """s.id, s.feed_id, f.name AS feed_name, f.url AS feed_url, s.link, s.title,
       s.summary, s.author, s.published_at, s.first_seen_at, s.revision, s.full_text"""

# the stories waiting for detection (new, revised, or whose page's text came after it), by
# id or by story time (`order`), with the text of the revision it saw last; a story still
# waiting for its page's text is held back while first seen after `hold`; each store fills
# in its placeholders
PENDING_TEMPLATE = f"""
SELECT {_PENDING_COLUMNS}, s.detected_rev, s.text_state,
       r.title AS old_title, r.summary AS old_summary
  FROM stories s
  JOIN feeds f ON f.id = s.feed_id
  LEFT JOIN story_revisions r ON r.story_id = s.id AND r.revision = s.detected_rev
 WHERE (s.detected_rev IS NULL OR s.detected_rev < s.revision OR s.text_state = 'late')
   AND s.id > {{after}}
   AND NOT (COALESCE(s.text_state, '') = 'pending' AND s.first_seen_at > {{hold}})
 ORDER BY {{order}}
 LIMIT {{limit}}
"""

# stored stories first seen since `since`, as new ones (backtest); placeholders as above
REPLAY_TEMPLATE = f"""
SELECT {_PENDING_COLUMNS}, NULL AS detected_rev, NULL AS text_state, NULL AS old_title,
       NULL AS old_summary
  FROM stories s JOIN feeds f ON f.id = s.feed_id
 WHERE s.first_seen_at >= {{since}} AND s.id > {{after}}
 ORDER BY s.id
 LIMIT {{limit}}
"""

# the detection log of the stories first seen since `since`, steps after `after`, in order
DETECTION_STEPS_TEMPLATE = """
SELECT l.story_id, l.revision, l.kind, l.full_text, l.published, l.seq, l.batch, l.at, l.rebuilt
  FROM detection_log l JOIN stories s ON s.id = l.story_id
 WHERE s.first_seen_at >= {since} AND l.seq > {after}
 ORDER BY l.seq
 LIMIT {limit}
"""


def detection_step(r: Any) -> DetectionStep:
    """A row of DETECTION_STEPS_TEMPLATE."""
    return DetectionStep(
        story_id=r[0], revision=r[1], kind=r[2], full_text=bool(r[3]), published=r[4],
        seq=r[5], batch=r[6], at=r[7], rebuilt=r[8],
    )  # fmt: skip


def detection_step_params(
    at: float, batch: int, steps: Sequence[DetectionStep], rebuilt: str | None
) -> list[tuple[Any, ...]]:
    """The values of detection_log rows: batch, at, story_id, revision, kind, full_text,
    published, rebuilt (on the batch's first row only)."""
    return [
        (batch, at, s.story_id, s.revision, s.kind, int(s.full_text), s.published,
         rebuilt if i == 0 else None)
        for i, s in enumerate(steps)
    ]  # fmt: skip


DETECTION_LOG_INSERT = (
    "INSERT INTO detection_log (batch, at, story_id, revision, kind, full_text, published, "
    "rebuilt) VALUES ({marks})"
)

DEVELOPMENT_COLUMNS = (
    "id, topic_id, story_id, headline, first_seen_at, last_seen_at, first_published, "
    "last_published, stories, sources, last_update_alert_at"
)

# a DevelopmentStoryRow's columns, from `development_stories d JOIN stories s`
DEVELOPMENT_STORY_COLUMNS = """d.development_id, d.topic_id, d.story_id, d.source, d.published,
       d.similarity, d.duplicate, d.what_is_new, d.vector, s.title, s.summary"""


def pending_story(r: Any) -> PendingStory:
    """A row of PENDING_TEMPLATE or REPLAY_TEMPLATE."""
    return PendingStory(
        id=r["id"], feed_id=r["feed_id"], feed_name=r["feed_name"], feed_url=r["feed_url"],
        link=r["link"], title=r["title"], summary=r["summary"], author=r["author"],
        published=r["published_at"], first_seen_at=r["first_seen_at"], revision=r["revision"],
        detected_rev=r["detected_rev"], old_title=r["old_title"], old_summary=r["old_summary"],
        full_text=r["full_text"], text_state=r["text_state"],
    )  # fmt: skip


# a text that came after detection ('late') has been read once the story is detected again
TEXT_READ = "CASE WHEN text_state = 'late' THEN 'ok' ELSE text_state END"


def development_row(r: Any) -> DevelopmentRow:
    """A row of DEVELOPMENT_COLUMNS."""
    return DevelopmentRow(*(r[i] for i in range(11)))


def development_params(d: DevelopmentRow) -> tuple[Any, ...]:
    """The values of DEVELOPMENT_COLUMNS."""
    return (d.id, d.topic_id, d.story_id, d.headline, d.first_seen_at, d.last_seen_at,
            d.first_published, d.last_published, d.stories, d.sources,
            d.last_update_alert_at)  # fmt: skip


def development_story_row(r: Any) -> DevelopmentStoryRow:
    """A row of DEVELOPMENT_STORY_COLUMNS."""
    return DevelopmentStoryRow(
        r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), tuple(json.loads(r[7])),
        json.loads(r[8]), r[9], r[10],
    )  # fmt: skip


def development_story_params(row: DevelopmentStoryRow, now: float) -> tuple[Any, ...]:
    """The values of a development_stories row: development_id, topic_id, story_id, source,
    published, similarity, duplicate, what_is_new, vector, added_at."""
    return (row.development_id, row.topic_id, row.story_id, row.source, row.published,
            row.similarity, int(row.duplicate), json.dumps(list(row.what_is_new)),
            json.dumps(row.vector, separators=(",", ":")), now)  # fmt: skip


def story_alert_rows(
    story_id: int, drafts: Sequence[AlertDraft]
) -> list[tuple[str, int, str, str, str, str]]:
    """(id, story_id, topic_id, sink_id, event, data) of a story's alert rows."""
    return [
        (new_alert_id(), story_id, a.topic_id, a.sink_id, a.event,
         json.dumps({**a.data, "story_id": story_id}))
        for a in drafts
    ]  # fmt: skip


def detection_summary(pending: int, duplicates: int, topics: Iterable[Any]) -> dict[str, Any]:
    """`detection_report`: stories waiting, duplicates, and per topic (topic id, developments,
    last seen) rows."""
    return {
        "pending": pending,
        "duplicates": duplicates,
        "topics": {t[0]: {"developments": t[1], "last_development_at": iso(t[2])} for t in topics},
    }
