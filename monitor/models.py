"""Immutable records passed between the stages of the pipeline: frozen dataclasses, and
NamedTuples for the few made on every poll (a feed's row, its update): a frozen dataclass
sets each field through object.__setattr__, which costs more than making a NamedTuple.

A story has three shapes: as read (:class:`Entry`), as stored (:class:`StoredStory`), as
detection sees it (:class:`monitor.stories.dedup.StoryText`); see docs/modules.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

# alerts about one story of a topic (rate limits and digests apply to these)
STORY_EVENTS = ("development.new", "development.update", "story.matched")
# the states of a WebSub subscription
WEBSUB_STATES = ("pending", "active", "failed", "unsubscribing")


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, normalized: what the store keeps and topics match against."""

    key: str  # identity within its feed: guid, else link, else a hash of title and content
    link: str | None  # absolute http(s) URL or None
    title: str  # plain text
    summary: str  # plain text
    published: datetime | None  # UTC
    author: str | None
    content_hash: str  # hash of the normalized title and summary: changes mean an update


class FeedRow(NamedTuple):
    id: int
    url: str
    name: str | None
    interval: float
    etag: str | None
    last_modified: str | None
    next_poll_at: float
    consecutive_errors: int
    body_hash: str | None = None
    explicit_interval: float | None = None  # configured; None means adaptive
    rate: float | None = None  # new entries per second (exponentially weighted), None: unknown
    server_interval: float | None = None  # the shortest interval the server asked for
    last_success_at: float | None = None
    config_url: str | None = None  # the URL as configured (url moves on permanent redirects)
    pushed: bool = False  # a WebSub hub pushes it (an active subscription): safety-net polls
    full_text: bool = False  # new stories wait for their article page's text


@dataclass(frozen=True, slots=True)
class TopicMatch:
    topic_id: str
    terms: tuple[str, ...]  # the query's positive terms that matched (none: profile only)
    similarity: float | None = None  # cosine with the topic's seed profile, when it has one


@dataclass(frozen=True, slots=True)
class MatchRow:
    """A topic's match of a story as stored (story_topics), written once detection has
    decided on it: the terms, what it rests on (`basis`: "query and profile" | "query" |
    "profile") and its `strength`: "strong" (it could open a development on its own) or
    "weak" (it may only join one: the lexical rule, or the semantic gate turned it away)."""

    topic_id: str
    terms: tuple[str, ...]
    basis: str
    strength: str


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert to be written in the same transaction as the story that caused it."""

    topic_id: str
    sink_id: str
    event: str  # e.g. "story.matched"
    data: dict[str, Any]


class PollUpdate(NamedTuple):
    """What one poll changes on the feed row."""

    result: str  # "ok" | "not_modified" | "error"
    http_status: int | None
    next_poll_at: float
    error_kind: str | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    url: str | None = None  # new URL after a permanent redirect
    title: str | None = None
    body_hash: str | None = None
    interval: float | None = None  # the feed's new current interval
    rate: float | None = None
    server_interval: float | None = None
    disabled_reason: str | None = None  # set: the feed is no longer polled (410 Gone)


@dataclass(frozen=True, slots=True)
class IngestResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    alerts: int = 0  # written by the detection pass the poll ran (the store's ingest writes none)
    new_keys: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class PendingAlert:
    id: str
    topic_id: str
    sink_id: str
    event: str
    data: dict[str, Any]
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A story as stored: the one record of a stored story, whichever read made it.

    The detection queue reads it whole: new (`detected_rev` None) or changed since detection
    last saw it (then `old_title`/`old_summary` are that revision's text). The duplicate
    check's earlier stories and a development's stories are read with only what they are
    compared on (id, texts, times, `duplicate_of`); the other fields keep their defaults."""

    id: int
    feed_id: int = 0
    feed_name: str | None = None
    feed_url: str = ""
    link: str | None = None
    title: str = ""
    summary: str = ""
    author: str | None = None
    published: float | None = None
    first_seen_at: float = 0.0
    revision: int = 1
    detected_rev: int | None = None
    old_title: str | None = None
    old_summary: str | None = None
    full_text: str | None = None  # the article page's text, when its feed fetches it
    text_state: str | None = None  # pending | ok | late (came after detection) | … | None
    duplicate_of: int | None = None  # the original it copies, once detection decided so

    @property
    def text(self) -> str:
        """What the detectors read: the article's text when there is one, else the summary."""
        return self.full_text or self.summary

    @property
    def dated(self) -> float:
        """Its date for the duplicate check: published, else first seen."""
        return self.published if self.published is not None else self.first_seen_at


@dataclass(frozen=True, slots=True)
class Lookups:
    """What the detection stage will ask its transaction for a batch of stories: the
    earliest story of each canonical URL in `urls`, and for each (band keys, story id) in
    `near` the candidates of `near_candidates(bands, since, story id, limit)`."""

    urls: Sequence[str]
    near: Sequence[tuple[Sequence[int], int]]
    since: float
    limit: int = 200


@dataclass(frozen=True, slots=True)
class DetectionStep:
    """One story the detection stage decided on, as its log keeps it: which revision, how
    (`new`; `revision`: a later revision of a story detected before; `late`: its page's text
    came after it was detected; `skipped`: its detection failed and it was passed over),
    whether it read the article's text, and the date it saw. A batch of steps is one
    transaction at one clock time (`at`); `rebuilt` says the stage's state was rebuilt from
    the store just before (`start`: a new process; `reload`). `monitor backtest` replays the
    log batch by batch."""

    story_id: int
    revision: int
    kind: str  # new | revision | late | skipped
    full_text: bool
    published: float | None
    seq: int = 0
    batch: int = 0
    at: float = 0.0
    rebuilt: str | None = None


@dataclass(frozen=True, slots=True)
class DevelopmentRow:
    """A development as stored (times in Unix seconds)."""

    id: str
    topic_id: str
    story_id: int | None
    headline: str
    first_seen_at: float
    last_seen_at: float
    first_published: float
    last_published: float
    stories: int = 1
    sources: int = 1
    last_update_alert_at: float | None = None


@dataclass(frozen=True, slots=True)
class DevelopmentStoryRow:
    """One story's place in a development, as stored (what rebuilds the tracker): the story
    (as read back: its id, title and summary), and what the development recorded of it."""

    development_id: str
    topic_id: str
    story: StoredStory
    source: str
    published: float
    similarity: float
    duplicate: bool
    what_is_new: tuple[str, ...]
    vector: dict[str, float]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A feed's WebSub subscription, as stored (monitor/poll/subscriber.py runs its lifecycle)."""

    feed_id: int
    feed_url: str
    feed_live: bool  # configured, not paused, not disabled: its pushed documents are read
    hub: str
    topic: str  # the feed's self URL
    callback: str  # as given to the hub (a subscription is its topic and callback)
    secret: str = field(repr=False)  # HMAC key of the hub's deliveries; never shown
    state: str = "pending"  # pending | active | failed | unsubscribing
    requested_at: float | None = None  # a request awaits the hub's verification since then
    lease_seconds: float | None = None  # as the hub granted it
    lease_until: float | None = None
    next_action_at: float = 0.0  # renew, retry (or give up an unsubscription) then
    attempts: int = 0  # consecutive failures
    last_error: str | None = None
    verified_at: float | None = None
    last_push_at: float | None = None
    pushes: int = 0
    forged: int = 0  # deliveries refused: no or a wrong signature
