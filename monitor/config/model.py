"""The typed settings: frozen dataclasses, and the problems a load reports."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

# what links a story to a development (monitor/detect/evidence.py): general | incident
EVIDENCE_SETS = ("general", "incident")
# the longest interval a server's hint may set, and the longest WebSub poll interval
SERVER_HINT_CAP = 86400.0
# how a topic matches a story: its query, its seed profile, both, or either
MATCH_MODES = ("query", "profile", "both", "either")
DEFAULT_THRESHOLD = 0.17  # profile similarity of a match; chosen on the shipped topic (README)
# a story the profile alone matches opens a development only this far above the threshold
# (monitor/detect/detection.py `opens`): half as close again as the bar for a match
OPEN_FACTOR = 1.5
# With the optional semantic model, a topic with seeds opens a development only on a story whose
# embedding is at least this close to the seeds' (its `semantic_open`; 0 turns the gate off): a
# floor that turns away stories far from the seeds' meaning (README, "The semantic gate")
DEFAULT_SEMANTIC_OPEN = 0.45


def default_match(has_query: bool, has_seeds: bool) -> str:
    """The match mode of a topic that names none: with seeds, the profile widens the query
    ("either": the seeds are there to catch what the query's words miss) or stands alone
    ("profile"); without seeds, the query alone."""
    if has_seeds:
        return "either" if has_query else "profile"
    return "query"


class TopicTexts(Protocol):
    """What a load asks of the text engine (monitor/topics/compiled.py): whether a query
    compiles and whether seed documents can be read. The configuration holds the texts and
    paths; the engine that compiles them lives above it."""

    def query_problem(self, text: str) -> str | None:
        """Why `text` is no valid query, or None."""
        ...

    def seeds_problem(self, files: Sequence[Path]) -> str | None:
        """Why `files` cannot serve as seed documents, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class StorageConfig:
    url: str = field(repr=False)  # may hold a password: print `display`, never `url`
    path: Path | None  # resolved SQLite database file; None for a PostgreSQL store
    max_size: int | None = None  # cap of the database file; writes beyond it fail cleanly

    @property
    def backend(self) -> str:
        return "sqlite" if self.path is not None else "postgresql"

    @property
    def display(self) -> str:
        """The store for logs and /status: the SQLite file, or the URL without password."""
        return str(self.path) if self.path is not None else redact_url(self.url)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int
    enabled: bool = True
    token: str | None = field(default=None, repr=False)  # bearer token for all but health


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Ages after which rows are pruned (None: kept for ever), and how often to prune."""

    stories: float | None = 90 * 86400.0
    revisions: float | None = 90 * 86400.0
    attempts: float | None = 30 * 86400.0  # delivered alerts and their delivery log
    tombstones: float | None = 365 * 86400.0  # identity of pruned stories
    every: float = 3600.0
    batch: int = 500


@dataclass(frozen=True, slots=True)
class FullTextConfig:
    """Article pages of new stories (monitor/stories/fulltext.py, monitor/poll/enrich.py)."""

    enabled: bool = False  # for feeds that do not say
    wait: float = 120.0  # detection waits this long for a story's text, then goes without
    timeout: float = 20.0  # per page
    max_bytes: int = 5 * 1024 * 1024  # page size limit, after decompression
    concurrency: int = 4  # pages fetched at once (each host's own limits apply too)
    attempts: int = 3  # tries of a page that fails (with backoff) before the summary is kept


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Duplicates and developments (monitor/detect/detection.py)."""

    dedup_window: float = 7 * 86400.0  # a copy is looked for among stories first seen this recently
    development_window: float = 90 * 86400.0  # a story may join developments active this recently
    batch: int = 200  # stories detected per transaction
    # after a start or reload, wait up to this long for the feeds never polled to be polled
    # once before detecting (their backlogs then go in the order stories happened); 0: no wait
    first_poll_wait: float = 120.0
    # the optional sentence-embedding model (monitor/topics/semantic.py): used when installed
    # (its files are checked against pinned hashes before they load); `semantic_model` names
    # its folder, by default where `monitor semantic install` puts it; false: never used
    semantic: bool = True
    semantic_model: Path | None = None


@dataclass(frozen=True, slots=True)
class PollingConfig:
    interval: float = 900.0  # first interval of a feed without its own, before it is adapted
    adaptive: bool = True  # feeds without an explicit interval follow their publication rate
    min_interval: float = 300.0  # bounds of the adaptive interval
    max_interval: float = 6 * 3600.0
    jitter: float = 0.1  # +-10% on every next poll, so feeds do not synchronise
    host_concurrency: int = 2  # requests in flight to one host name at once
    host_gap: float = 1.0  # seconds between the starts of two requests to one host name
    proxy: str | None = None  # HTTP(S) proxy URL for all feeds (a feed may set its own)
    allow_private_addresses: bool = True  # False: refuse feeds on loopback/private/link-local
    tick: float = 1.0  # seconds between scheduler ticks that claim due feeds
    batch: int = 100  # feeds claimed per tick at most
    concurrency: int = 20  # polls in flight at once
    timeout: float = 30.0  # total seconds for one request
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024  # response body limit, after decompression
    max_redirects: int = 5
    max_entries: int = 1000  # entries taken from one document
    error_backoff_max: float = 86400.0  # cap of the error backoff
    failing_after: int = 3  # consecutive errors before a feed is "failing"
    shutdown_timeout: float = 10.0  # seconds in-flight polls get to finish at shutdown
    stall_after: float = 30.0  # no scheduler tick for this long: unhealthy, no watchdog ping


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    max_attempts: int = 12
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    timeout: float = 10.0
    batch: int = 50
    max_age: float | None = 86400.0  # dead-lettered when still failing this long after written
    timezone: str = "UTC"  # of digest schedules
    lease: float | None = None  # a claimed alert's lease; None: 3 * timeout + 30 s

    @property
    def lease_seconds(self) -> float:
        """How long a claimed alert stays with its instance before another may send it."""
        return self.lease if self.lease is not None else self.timeout * 3 + 30


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` alerts per `period` seconds; the rest are folded into the next digest."""

    count: int
    period: float


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Feed health alerts: feed.failing once a feed has been failing for `after` seconds,
    feed.recovered when it polls fine again; sent to `sinks`."""

    sinks: tuple[str, ...] = ()
    after: float = 3600.0


@dataclass(frozen=True, slots=True)
class WebSubConfig:
    """WebSub push: feeds advertising a hub are subscribed to when `callback_url` (the
    status server's public base URL) is set; None: off."""

    callback_url: str | None = None
    lease: float = 10 * 86400.0  # lease asked of hubs (each hub grants what it grants)
    poll_interval: float = 6 * 3600.0  # a pushed feed is still polled this often at least

    @property
    def enabled(self) -> bool:
        return self.callback_url is not None

    def callback(self, feed_id: int) -> str:
        """The callback URL of one feed's subscription."""
        return f"{(self.callback_url or '').rstrip('/')}/websub/{feed_id}"


@dataclass(frozen=True, slots=True)
class FeedConfig:
    url: str
    name: str | None = None
    interval: float | None = None  # explicit; None: adaptive (or polling.interval)
    proxy: str | None = None
    full_text: bool | None = None  # fetch each new story's page; None: [full_text] enabled


@dataclass(frozen=True, slots=True)
class TopicConfig:
    id: str
    name: str
    query: str | None  # the query's text; None: a topic matched by its seed profile only
    sinks: tuple[str, ...]
    seeds: tuple[Path, ...] = ()
    rate_limit: RateLimit | None = None  # per sink of the topic
    digest: str | None = None  # cron expression of this topic's digests
    match: str = "query"  # query | profile | both | either (see monitor/topics/profile.py)
    profile_threshold: float = DEFAULT_THRESHOLD  # similarity at which the profile matches
    alert_on: str = "developments"  # developments: new developments (and updates); stories: each
    updates: bool = True  # development.update alerts for stories that add substantial news
    update_gap: float = 3600.0  # at most one development.update per development in this time
    # negative seeds: documents of what the topic is not about (monitor/topics/feedback.py)
    exclude_seeds: tuple[Path, ...] = ()
    evidence: str = "general"  # what links a story to a development: general | incident
    open_threshold: float | None = None  # profile alone: similarity that opens a development
    # with the semantic model: the embedding cosine to the seeds a story needs to open one
    semantic_open: float | None = None

    @property
    def open_at(self) -> float:
        """The similarity at which a story the profile alone matches may open a development
        (see monitor/detect/detection.py `opens`): `open_threshold`, by default OPEN_FACTOR times
        the profile's threshold."""
        if self.open_threshold is not None:
            return self.open_threshold
        return min(1.0, OPEN_FACTOR * self.profile_threshold)

    @property
    def semantic_at(self) -> float | None:
        """The embedding cosine to the seeds a story needs to open a development when the
        semantic model is installed: `semantic_open`, by default DEFAULT_SEMANTIC_OPEN; None
        for a topic without seeds, with `semantic_open = 0`, or alerting on every story
        (`alert_on = "stories"`: it opens no development to gate)."""
        if not self.seeds or self.alert_on != "developments":
            return None
        value = DEFAULT_SEMANTIC_OPEN if self.semantic_open is None else self.semantic_open
        return value or None


@dataclass(frozen=True, slots=True)
class SinkConfig:
    id: str
    type: str
    url: str = field(repr=False)  # may carry credentials (Slack, Discord, Apprise URLs)
    secret: str | None = field(default=None, repr=False)  # whsec_… for signing
    timeout: float | None = None
    rate_limit: RateLimit | None = None  # over all topics sent to this sink
    digest: str | None = None  # cron expression of digests to this sink (per topic)
    token: str | None = field(default=None, repr=False)  # ntfy access token
    priority: int | None = None  # ntfy 1-5
    tags: tuple[str, ...] = ()  # ntfy tags / emoji shortcodes


@dataclass(frozen=True, slots=True)
class Config:
    source: Path
    storage: StorageConfig
    server: ServerConfig
    polling: PollingConfig
    delivery: DeliveryConfig
    feeds: tuple[FeedConfig, ...]
    topics: tuple[TopicConfig, ...]
    sinks: tuple[SinkConfig, ...]
    log_level: str = "info"
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    feeds_files: tuple[str, ...] = ()  # globs of included [[feeds]] files, as written
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    full_text: FullTextConfig = field(default_factory=FullTextConfig)
    websub: WebSubConfig = field(default_factory=WebSubConfig)

    def sink(self, sink_id: str) -> SinkConfig:
        return next(s for s in self.sinks if s.id == sink_id)

    def topic(self, topic_id: str) -> TopicConfig | None:
        return next((t for t in self.topics if t.id == topic_id), None)


def redact_url(url: str) -> str:
    """`url` with its password (user:password@, password= parameter) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else netloc
    query = re.sub(r"(?i)(^|&)(password|sslpassword)=[^&]*", r"\1\2=***", parts.query)
    return parts._replace(netloc=netloc, query=query).geturl()
