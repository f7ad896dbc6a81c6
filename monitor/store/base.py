"""What every store shares below its statements: its error, ids, column lists, statement
templates and row conversions (the interface is monitor/store/protocols.py)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.clock import iso
from monitor.models import (
    STORY_EVENTS,
    AlertDraft,
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    PendingAlert,
    StoredStory,
    Subscription,
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


def checked_changes(changes: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (column, value) pairs of an update, each a column update_subscription may set."""
    unknown = set(changes) - SUBSCRIPTION_COLUMNS
    if unknown:
        raise ValueError(f"not a subscription column: {', '.join(sorted(unknown))}")
    return sorted(changes.items())


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

# a StoredStory's columns up to its revision, from `stories s JOIN feeds f`
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

# a DevelopmentStoryRow's columns (with its story's texts), from
# `development_stories d JOIN stories s`
DEVELOPMENT_STORY_COLUMNS = """d.development_id, d.topic_id, d.story_id, d.source, d.published,
       d.similarity, d.duplicate, d.what_is_new, d.vector, s.title, s.summary"""


def pending_story(r: Any) -> StoredStory:
    """A row of PENDING_TEMPLATE or REPLAY_TEMPLATE."""
    return StoredStory(
        id=r["id"], feed_id=r["feed_id"], feed_name=r["feed_name"], feed_url=r["feed_url"],
        link=r["link"], title=r["title"], summary=r["summary"], author=r["author"],
        published=r["published_at"], first_seen_at=r["first_seen_at"], revision=r["revision"],
        detected_rev=r["detected_rev"], old_title=r["old_title"], old_summary=r["old_summary"],
        full_text=r["full_text"], text_state=r["text_state"],
    )  # fmt: skip


# a StoredStory's columns as the duplicate check compares an earlier story, from `stories`
NEAR_COLUMNS = "id, title, summary, full_text, published_at, first_seen_at, duplicate_of"


def near_story(r: Any) -> StoredStory:
    """A row of NEAR_COLUMNS."""
    return StoredStory(
        r[0], title=r[1], summary=r[2], full_text=r[3], published=r[4], first_seen_at=r[5],
        duplicate_of=r[6],
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
        r[0], r[1], StoredStory(r[2], title=r[9], summary=r[10]), r[3], r[4], r[5], bool(r[6]),
        tuple(json.loads(r[7])), json.loads(r[8]),
    )  # fmt: skip


def development_story_params(row: DevelopmentStoryRow, now: float) -> tuple[Any, ...]:
    """The values of a development_stories row: development_id, topic_id, story_id, source,
    published, similarity, duplicate, what_is_new, vector, added_at."""
    return (row.development_id, row.topic_id, row.story.id, row.source, row.published,
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
