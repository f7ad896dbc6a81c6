"""Typed configuration, loaded from TOML and validated at load.

`load(path)` returns a frozen `Config` or raises `ConfigError` carrying one `Problem` per
thing that is wrong, each naming the file, the key (`feeds[2].interval`) and what is wrong.
Relative paths (the SQLite file, seed globs, secret files) are relative to the folder of the
configuration file, so a configuration means the same thing from any working directory.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import glob
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.intervals import SERVER_HINT_CAP
from monitor.profile import (
    DEFAULT_THRESHOLD,
    MATCH_MODES,
    Profile,
    ProfileIndex,
    SeedError,
    default_match,
    load_profile,
)
from monitor.query import Query, QueryError, QueryIndex, compile_query


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
    """Article pages of new stories (monitor/fulltext.py, monitor/enrich.py)."""

    enabled: bool = False  # for feeds that do not say
    wait: float = 120.0  # detection waits this long for a story's text, then goes without
    timeout: float = 20.0  # per page
    max_bytes: int = 5 * 1024 * 1024  # page size limit, after decompression
    concurrency: int = 4  # pages fetched at once (each host's own limits apply too)
    attempts: int = 3  # tries of a page that fails (with backoff) before the summary is kept


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Duplicates and developments (monitor/detection.py)."""

    dedup_window: float = 7 * 86400.0  # a copy is looked for among stories first seen this recently
    development_window: float = 90 * 86400.0  # a story may join developments active this recently
    batch: int = 200  # stories detected per transaction


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
    query: Query | None  # None: a topic matched by its seed profile only
    sinks: tuple[str, ...]
    seeds: tuple[Path, ...] = ()
    rate_limit: RateLimit | None = None  # per sink of the topic
    digest: str | None = None  # cron expression of this topic's digests
    match: str = "query"  # query | profile | both | either (see monitor/profile.py)
    profile: Profile | None = None  # compiled from the seeds at load
    profile_threshold: float = DEFAULT_THRESHOLD  # similarity at which the profile matches
    alert_on: str = "developments"  # developments: new developments (and updates); stories: each
    updates: bool = True  # development.update alerts for stories that add substantial news
    update_gap: float = 3600.0  # at most one development.update per development in this time


class TopicSet(tuple[TopicConfig, ...]):
    """The configured topics (a tuple), with their seed profiles compiled into one index at
    load, so that a story is compared with every profile at once (see monitor/profile.py),
    and their queries indexed by anchor words (monitor/query.py)."""

    profiles: ProfileIndex
    queries: QueryIndex

    def __new__(cls, topics: Iterable[TopicConfig] = ()) -> TopicSet:
        self = super().__new__(cls, topics)
        self.profiles = ProfileIndex.build((t.id, t.profile) for t in self if t.profile)
        self.queries = QueryIndex.build([t.query for t in self])
        return self


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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?", re.IGNORECASE)
_SIZE_UNIT = {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}
SINK_TYPES = ("webhook", "slack", "discord", "ntfy", "apprise")
LOG_LEVELS = ("debug", "info", "warning", "error")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def parse_duration(value: object) -> float:
    """`"15m"`, `"1h30m"`, `"90s"`, `"2d"` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "15m"')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, seconds = 0, 0.0
        for m in _DURATION.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT[m.group(2)]
            pos = m.end()
        if not text or pos != len(text):
            raise ValueError(
                f"{value!r} is not a duration (use a number and a unit: ms, s, m, h, d, w, "
                'e.g. "15m" or "1h30m")'
            )
    else:
        raise ValueError('expected a duration such as "15m"')
    if seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


def parse_size(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError('expected a size such as "10MiB"')
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value.strip())):
        size = int(float(m.group(1)) * _SIZE_UNIT[(m.group(2) or "b").lower()])
    else:
        raise ValueError(f"{value!r} is not a size (e.g. 10MiB, 500KB or a number of bytes)")
    if size <= 0:
        raise ValueError("must be greater than zero")
    return size


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


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


def check_postgres_url(url: str) -> None:
    """A postgresql:// URL asyncpg can use; errors never quote the URL (it may hold a
    password)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise ValueError(f"not a valid postgresql:// URL ({exc})") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(
            "names no server: postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
            "(or ?host=/run/postgresql for a socket)"
        )


def resolve_sqlite_url(url: str, base: Path) -> Path:
    """`sqlite:///rel/path` is relative to `base`; `sqlite:////abs/path` is absolute."""
    if not url.startswith("sqlite:///"):
        raise ValueError(
            'use sqlite:///PATH (a file, e.g. "sqlite:///../var/monitor.db") or '
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (a server shared by several "
            "instances)"
        )
    rest = url[len("sqlite:///") :]
    if not rest or rest == "/":
        raise ValueError("the URL names no database file")
    path = Path(rest)
    return path if path.is_absolute() else (base / path).resolve()


class _Reader:
    """Walks the TOML document, collecting problems instead of stopping at the first."""

    def __init__(self, file: Path) -> None:
        self.file = str(file)
        self.base = file.parent
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, key, message))

    def table(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        self.unknown(value, key, allowed)
        return value

    def unknown(self, value: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else (f" (known keys: {', '.join(allowed)})")
                )
                self.problem(f"{key}.{name}", f"unknown key{hint}")

    def get(
        self,
        data: Mapping[str, Any],
        key: str,
        name: str,
        conv: Callable[[Any], Any],
        default: Any = None,
        required: bool = False,
    ) -> Any:
        if name not in data:
            if required:
                self.problem(f"{key}.{name}", "is required")
            return default
        try:
            return conv(data[name])
        except (ValueError, TypeError) as exc:
            self.problem(f"{key}.{name}", str(exc))
            return default


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _http_url(value: Any) -> str:
    url = _str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url


def _ident(value: Any) -> str:
    text = _str(value)
    if not _ID.match(text):
        raise ValueError(f"{text!r} is not a valid id (letters, digits, '_', '-', '.')")
    return text


def _listen(value: Any) -> tuple[str, int]:
    text = _str(value)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'{text!r} is not host:port (e.g. "127.0.0.1:8080")')
    return host.strip("[]") or "127.0.0.1", int(port)


def _read_secret(r: _Reader, data: Mapping[str, Any], key: str, name: str) -> str | None:
    """A secret from `NAME`, `NAME_env` (an environment variable) or `NAME_file`.

    A relative `NAME_file` is looked up in $CREDENTIALS_DIRECTORY (systemd's
    LoadCredential=) when set, else relative to the configuration file. Problems name the
    key, never the secret's value.
    """
    options = (name, f"{name}_env", f"{name}_file")
    given = [k for k in options if k in data]
    if len(given) > 1:
        r.problem(
            f"{key}.{given[1]}",
            f"give only one of {', '.join(options)} (also set: {given[0]})",
        )
        return None
    if not given:
        return None
    which = given[0]
    raw = data[which]
    if not isinstance(raw, str) or not raw.strip():
        r.problem(f"{key}.{which}", "must be a non-empty string")
        return None
    if which == name:
        return raw.strip()
    if which.endswith("_env"):
        value = os.environ.get(raw)
        if value is None:
            r.problem(f"{key}.{which}", f"environment variable {raw} is not set")
        return value.strip() if value else None
    path = Path(raw)
    if not path.is_absolute():
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        path = Path(creds) / path if creds else r.base / path
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        r.problem(f"{key}.{which}", f"cannot read {path}: {exc.strerror or exc}")
        return None


def _secret(r: _Reader, data: Mapping[str, Any], key: str) -> str | None:
    """A Standard Webhooks signing secret (`whsec_` + base64) from secret/secret_env/secret_file."""
    value = _read_secret(r, data, key, "secret")
    if value is None:
        return None
    which = next(k for k in ("secret", "secret_env", "secret_file") if k in data)
    if not value.startswith("whsec_"):
        r.problem(
            f"{key}.{which}",
            "a signing secret must start with 'whsec_' "
            "(Standard Webhooks: whsec_ followed by base64)",
        )
        return None
    try:
        if len(base64.b64decode(value[6:], validate=True)) < 16:
            raise ValueError
    except (binascii.Error, ValueError):
        r.problem(f"{key}.{which}", "the part after 'whsec_' must be base64 of at least 16 bytes")
        return None
    return value


def load(path: str | os.PathLike[str]) -> Config:
    file = Path(path).resolve()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([Problem(str(file), "(file)", "no such file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(file), "(file)", f"cannot read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(file), "(syntax)", f"not valid TOML: {exc}")]) from None
    return from_dict(data, file)


def from_dict(data: Mapping[str, Any], file: Path) -> Config:
    r = _Reader(file)
    r.unknown(
        data,
        "(top level)",
        (
            "storage",
            "server",
            "polling",
            "delivery",
            "retention",
            "log",
            "feeds",
            "feeds_files",
            "topics",
            "sinks",
            "health",
            "detection",
            "full_text",
            "websub",
        ),
    )

    st = r.table(data, "storage", ("url", "url_env", "url_file", "max_size"))
    url = _read_secret(r, st, "storage", "url") or "sqlite:///monitor.db"  # may hold a password
    max_size = r.get(st, "storage", "max_size", parse_size)
    db_path: Path | None = None
    if url.startswith(POSTGRES_SCHEMES):
        try:
            check_postgres_url(url)
        except ValueError as exc:
            r.problem("storage.url", str(exc))
        if max_size is not None:
            r.problem("storage.max_size", "applies to a SQLite store only")
    else:
        try:
            db_path = resolve_sqlite_url(url, r.base)
        except ValueError as exc:
            r.problem("storage.url", str(exc))
            db_path = r.base / "monitor.db"
    storage = StorageConfig(url=url, path=db_path, max_size=max_size)

    sv = r.table(data, "server", ("listen", "enabled", "token", "token_env", "token_file"))
    host, port = r.get(sv, "server", "listen", _listen, default=("127.0.0.1", 8080))
    enabled = r.get(sv, "server", "enabled", _bool, default=True)
    token = _read_secret(r, sv, "server", "token")
    if token is not None and len(token) < 16:
        r.problem("server.token", "a token must be at least 16 characters long")
    server = ServerConfig(host=host, port=port, enabled=enabled, token=token)

    rdef = RetentionConfig()
    rt = r.table(data, "retention", tuple(RetentionConfig.__dataclass_fields__))
    retention = RetentionConfig(
        stories=r.get(rt, "retention", "stories", _age, rdef.stories),
        revisions=r.get(rt, "retention", "revisions", _age, rdef.revisions),
        attempts=r.get(rt, "retention", "attempts", _age, rdef.attempts),
        tombstones=r.get(rt, "retention", "tombstones", _age, rdef.tombstones),
        every=r.get(rt, "retention", "every", parse_duration, rdef.every),
        batch=r.get(rt, "retention", "batch", _positive_int, rdef.batch),
    )
    if retention.stories and retention.tombstones and retention.tombstones < retention.stories:
        r.problem(
            "retention.tombstones",
            "must be at least retention.stories: a pruned story's "
            "tombstone keeps a re-listed item from looking new",
        )

    pdef = PollingConfig()
    pl = r.table(data, "polling", tuple(PollingConfig.__dataclass_fields__))
    polling = PollingConfig(
        interval=r.get(pl, "polling", "interval", parse_duration, pdef.interval),
        tick=r.get(pl, "polling", "tick", parse_duration, pdef.tick),
        batch=r.get(pl, "polling", "batch", _positive_int, pdef.batch),
        concurrency=r.get(pl, "polling", "concurrency", _positive_int, pdef.concurrency),
        timeout=r.get(pl, "polling", "timeout", parse_duration, pdef.timeout),
        connect_timeout=r.get(
            pl, "polling", "connect_timeout", parse_duration, pdef.connect_timeout
        ),
        max_bytes=r.get(pl, "polling", "max_bytes", parse_size, pdef.max_bytes),
        max_redirects=r.get(pl, "polling", "max_redirects", _nonneg_int, pdef.max_redirects),
        max_entries=r.get(pl, "polling", "max_entries", _positive_int, pdef.max_entries),
        error_backoff_max=r.get(
            pl, "polling", "error_backoff_max", parse_duration, pdef.error_backoff_max
        ),
        failing_after=r.get(pl, "polling", "failing_after", _positive_int, pdef.failing_after),
        shutdown_timeout=r.get(
            pl, "polling", "shutdown_timeout", parse_duration, pdef.shutdown_timeout
        ),
        stall_after=r.get(pl, "polling", "stall_after", parse_duration, pdef.stall_after),
        adaptive=r.get(pl, "polling", "adaptive", _bool, pdef.adaptive),
        min_interval=r.get(pl, "polling", "min_interval", parse_duration, pdef.min_interval),
        max_interval=r.get(pl, "polling", "max_interval", parse_duration, pdef.max_interval),
        jitter=r.get(pl, "polling", "jitter", _fraction, pdef.jitter),
        host_concurrency=r.get(
            pl, "polling", "host_concurrency", _positive_int, pdef.host_concurrency
        ),
        host_gap=r.get(pl, "polling", "host_gap", _duration_or_zero, pdef.host_gap),
        proxy=r.get(pl, "polling", "proxy", _proxy_url, pdef.proxy),
        allow_private_addresses=r.get(
            pl, "polling", "allow_private_addresses", _bool, pdef.allow_private_addresses
        ),
    )

    ddef = DeliveryConfig()
    dl = r.table(data, "delivery", tuple(DeliveryConfig.__dataclass_fields__))
    delivery = DeliveryConfig(
        max_attempts=r.get(dl, "delivery", "max_attempts", _positive_int, ddef.max_attempts),
        backoff_base=r.get(dl, "delivery", "backoff_base", parse_duration, ddef.backoff_base),
        backoff_max=r.get(dl, "delivery", "backoff_max", parse_duration, ddef.backoff_max),
        timeout=r.get(dl, "delivery", "timeout", parse_duration, ddef.timeout),
        batch=r.get(dl, "delivery", "batch", _positive_int, ddef.batch),
        max_age=r.get(dl, "delivery", "max_age", _age, ddef.max_age),
        timezone=r.get(dl, "delivery", "timezone", _timezone, ddef.timezone),
        lease=r.get(dl, "delivery", "lease", parse_duration, ddef.lease),
    )
    if delivery.lease is not None and delivery.lease <= delivery.timeout:
        r.problem("delivery.lease", "must be longer than delivery.timeout (a send ends in it)")

    xdef = DetectionConfig()
    dt = r.table(data, "detection", tuple(DetectionConfig.__dataclass_fields__))
    detection = DetectionConfig(
        dedup_window=r.get(dt, "detection", "dedup_window", parse_duration, xdef.dedup_window),
        development_window=r.get(
            dt, "detection", "development_window", parse_duration, xdef.development_window
        ),
        batch=r.get(dt, "detection", "batch", _positive_int, xdef.batch),
    )

    fdef = FullTextConfig()
    ft = r.table(data, "full_text", tuple(FullTextConfig.__dataclass_fields__))
    full_text = FullTextConfig(
        enabled=r.get(ft, "full_text", "enabled", _bool, fdef.enabled),
        wait=r.get(ft, "full_text", "wait", _duration_or_zero, fdef.wait),
        timeout=r.get(ft, "full_text", "timeout", parse_duration, fdef.timeout),
        max_bytes=r.get(ft, "full_text", "max_bytes", parse_size, fdef.max_bytes),
        concurrency=r.get(ft, "full_text", "concurrency", _positive_int, fdef.concurrency),
        attempts=r.get(ft, "full_text", "attempts", _positive_int, fdef.attempts),
    )

    lg = r.table(data, "log", ("level",))
    level = r.get(lg, "log", "level", _choice(LOG_LEVELS), "info")

    sinks = tuple(_sinks(r, data.get("sinks", [])))
    sink_ids = {s.id for s in sinks}
    feed_places: dict[str, tuple[str, str]] = {}
    feeds = tuple(_feeds(r, data.get("feeds", []), feed_places))
    feeds_files: list[str] = []
    try:
        feeds_files = _str_list(data.get("feeds_files", []))
    except ValueError as exc:
        r.problem("feeds_files", f'{exc} (e.g. feeds_files = ["feeds.d/*.toml"])')
    feeds += tuple(_included_feeds(r, feeds_files, feed_places))
    feeds = tuple(
        replace(f, full_text=full_text.enabled) if f.full_text is None else f for f in feeds
    )
    topics = TopicSet(_topics(r, data.get("topics", []), sink_ids))
    health = _health(r, data, sink_ids)
    websub = _websub(r, data, server)

    if r.problems:
        raise ConfigError(r.problems)
    return Config(
        source=file,
        storage=storage,
        server=server,
        polling=polling,
        delivery=delivery,
        feeds=feeds,
        topics=topics,
        sinks=sinks,
        log_level=level,
        retention=retention,
        health=health,
        feeds_files=tuple(feeds_files),
        detection=detection,
        full_text=full_text,
        websub=websub,
    )


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError("must be a number from 0 up to (not including) 1, e.g. 0.1")
    return float(value)


def _duration_or_zero(value: Any) -> float:
    if value == 0 or value == "0":
        return 0.0
    return parse_duration(value)


def _proxy_url(value: Any) -> str:
    url = _str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'{url!r} is not an http(s) proxy URL (e.g. "http://proxy:3128")')
    return url


def _age(value: Any) -> float | None:
    """A retention age: a duration, or "never" to keep rows for ever."""
    if value == "never":
        return None
    return parse_duration(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _nonneg_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be an integer >= 0")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def conv(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return str(value)

    return conv


def _array(r: _Reader, value: Any, key: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(value, list):
        r.problem(key, f"must be an array of tables ([[{key}]])")
        return []
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            r.problem(f"{key}[{i}]", "must be a table")
            continue
        out.append((f"{key}[{i}]", item))
    return out


def _feeds(
    r: _Reader, value: Any, seen: dict[str, tuple[str, str]] | None = None
) -> list[FeedConfig]:
    """The [[feeds]] of one file; `seen` (url -> (file, key)) spans the included files."""
    seen = {} if seen is None else seen
    out = []
    for key, item in _array(r, value, "feeds"):
        r.unknown(item, key, ("url", "name", "interval", "proxy", "full_text"))
        url = r.get(item, key, "url", _http_url, required=True)
        name = r.get(item, key, "name", _str)
        interval = r.get(item, key, "interval", parse_duration)
        proxy = r.get(item, key, "proxy", _proxy_url)
        full_text = r.get(item, key, "full_text", _bool)
        if url is None:
            continue
        if url in seen:
            where, first = seen[url]
            place = first if where == r.file else f"{where}: {first}"
            r.problem(f"{key}.url", f"{url} is already configured as {place}")
            continue
        seen[url] = (r.file, key)
        out.append(
            FeedConfig(url=url, name=name, interval=interval, proxy=proxy, full_text=full_text)
        )
    return out


# --- feeds_files: included [[feeds]] files (see monitor/opml.py for import/export) ---
def _included_feeds(
    r: _Reader, patterns: list[str], seen: dict[str, tuple[str, str]]
) -> list[FeedConfig]:
    """The feeds of the files matched by the `feeds_files` globs (relative to the
    configuration's folder), in sorted path order. A glob matching nothing is fine (an
    empty feeds.d); problems name the included file and its key."""
    main = Path(r.file).resolve()
    files: set[Path] = set()
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(r.base / pattern)
        for found in glob.glob(full, recursive=True):
            path = Path(found).resolve()
            if path.is_file() and path != main:
                files.add(path)
    out: list[FeedConfig] = []
    for path in sorted(files):
        sub = _Reader(path)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            sub.problem("(file)", f"cannot read: {exc.strerror or exc}")
        except UnicodeDecodeError as exc:
            sub.problem("(file)", f"not UTF-8: {exc}")
        except tomllib.TOMLDecodeError as exc:
            sub.problem("(syntax)", f"not valid TOML: {exc}")
        else:
            for name in doc:
                if name != "feeds":
                    sub.problem(
                        name,
                        "not allowed here: a feeds file (feeds_files) holds only [[feeds]] tables",
                    )
            out.extend(_feeds(sub, doc.get("feeds", []), seen))
        r.problems.extend(sub.problems)
    return out


# --- end feeds_files ---


_TOPIC_KEYS = (
    "id", "name", "query", "seeds", "match", "profile_threshold", "sinks", "rate_limit",
    "digest", "alert_on", "updates", "update_gap",
)  # fmt: skip
# developments: one alert per new development (and development.update for substantial news);
# stories: one story.matched alert per matching story that is not a duplicate (keyword alerts)
ALERT_ON = ("developments", "stories")


def _topics(r: _Reader, value: Any, sink_ids: set[str]) -> list[TopicConfig]:
    seen: set[str] = set()
    out = []
    for key, item in _array(r, value, "topics"):
        r.unknown(item, key, _TOPIC_KEYS)
        rate_limit = r.get(item, key, "rate_limit", _rate_limit)
        alert_on = r.get(item, key, "alert_on", _choice(ALERT_ON), "developments")
        updates = r.get(item, key, "updates", _bool, True)
        update_gap = r.get(item, key, "update_gap", _duration_or_zero, 3600.0)
        digest = r.get(item, key, "digest", _cron)
        tid = r.get(item, key, "id", _ident, required=True)
        name = r.get(item, key, "name", _str, default=tid)
        mode = r.get(item, key, "match", _choice(MATCH_MODES))
        mode = mode or default_match("query" in item, bool(item.get("seeds")))
        threshold = r.get(item, key, "profile_threshold", _threshold, DEFAULT_THRESHOLD)
        qtext = r.get(item, key, "query", _str, required=mode != "profile")
        query = None
        if qtext is not None:
            try:
                query = compile_query(qtext)
            except QueryError as exc:
                r.problem(f"{key}.query", f"{exc} in {qtext!r}")
        sinks = r.get(item, key, "sinks", _str_list, default=[])
        for s in sinks:
            if s not in sink_ids:
                known = ", ".join(sorted(sink_ids)) or "none are configured"
                r.problem(f"{key}.sinks", f"no sink with id {s!r} (known: {known})")
        seeds, profile = _seeds(r, item, key, mode)
        if tid is None or (query is None and mode != "profile"):
            continue
        if tid in seen:
            r.problem(f"{key}.id", f"topic id {tid!r} is used twice")
            continue
        seen.add(tid)
        out.append(
            TopicConfig(
                id=tid,
                name=name,
                query=query,
                sinks=tuple(sinks),
                seeds=tuple(seeds),
                rate_limit=rate_limit,
                digest=digest,
                match=mode,
                profile=profile,
                profile_threshold=threshold,
                alert_on=alert_on,
                updates=updates,
                update_gap=update_gap,
            )
        )
    return out


def _seeds(
    r: _Reader, item: Mapping[str, Any], key: str, mode: str
) -> tuple[list[Path], Profile | None]:
    """The seed files of a topic (globs relative to the configuration's folder) and the
    profile compiled from them; a match mode that needs a profile needs seeds."""
    if not item.get("seeds"):
        if mode != "query":
            r.problem(
                f"{key}.match",
                f'"{mode}" compares stories with a profile built from seed documents: '
                'add seeds = ["seeds/TOPIC/*.txt"] or use match = "query"',
            )
        if "profile_threshold" in item:
            r.problem(f"{key}.profile_threshold", "applies to a topic with seeds only")
        return [], None
    seeds: list[Path] = []
    for pattern in r.get(item, key, "seeds", _str_list, default=[]):
        full = pattern if os.path.isabs(pattern) else str(r.base / pattern)
        found = sorted(Path(p) for p in glob.glob(full) if os.path.isfile(p))
        if not found:
            r.problem(f"{key}.seeds", f"{pattern!r} matches no file")
        seeds.extend(p for p in found if p not in seeds)  # a file matched twice counts once
    if not seeds:
        return [], None
    try:
        return seeds, load_profile(seeds)
    except SeedError as exc:
        r.problem(f"{key}.seeds", str(exc))
        return seeds, None


def _threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError("must be a number above 0 and at most 1, e.g. 0.2")
    return float(value)


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return list(value)


# Keys every sink takes, and those of one type only.
_SINK_KEYS = ("id", "type", "url", "url_env", "url_file", "timeout", "rate_limit", "digest")
_SINK_TYPE_KEYS = {
    "webhook": ("secret", "secret_env", "secret_file"),
    "slack": (),
    "discord": (),
    "ntfy": ("token", "token_env", "token_file", "priority", "tags"),
    "apprise": (),
}


def _sinks(r: _Reader, value: Any) -> list[SinkConfig]:
    """Sinks by type: webhook (signed JSON), slack, discord, ntfy, apprise. The URL may come
    from `url`, `url_env` or `url_file` (Slack, Discord and Apprise URLs carry credentials)."""
    seen: set[str] = set()
    out = []
    every = tuple(k for keys in _SINK_TYPE_KEYS.values() for k in keys)
    for key, item in _array(r, value, "sinks"):
        r.unknown(item, key, _SINK_KEYS + every)
        sid = r.get(item, key, "id", _ident, required=True)
        stype = r.get(item, key, "type", _choice(SINK_TYPES), required=True)
        if stype is not None:
            for name in every:
                if name in item and name not in _SINK_TYPE_KEYS[stype]:
                    r.problem(f"{key}.{name}", f"not a key of {stype} sinks")
        timeout = r.get(item, key, "timeout", parse_duration)
        rate_limit = r.get(item, key, "rate_limit", _rate_limit)
        digest = r.get(item, key, "digest", _cron)
        secret = _secret(r, item, key) if stype == "webhook" else None
        token = _read_secret(r, item, key, "token") if stype == "ntfy" else None
        priority = r.get(item, key, "priority", _ntfy_priority) if stype == "ntfy" else None
        tags = r.get(item, key, "tags", _str_list, default=[]) if stype == "ntfy" else []
        url = _read_secret(r, item, key, "url")
        if url is None and not any(k in item for k in ("url", "url_env", "url_file")):
            r.problem(f"{key}.url", "is required (or url_env, url_file)")
        elif url is not None and stype is not None:
            which = next(k for k in ("url", "url_env", "url_file") if k in item)
            problem = _sink_url_problem(stype, url)
            if problem:
                r.problem(f"{key}.{which}", problem)
                url = None
        if sid is None or stype is None or url is None:
            continue
        if sid in seen:
            r.problem(f"{key}.id", f"sink id {sid!r} is used twice")
            continue
        seen.add(sid)
        out.append(
            SinkConfig(
                id=sid,
                type=stype,
                url=url,
                secret=secret,
                timeout=timeout,
                rate_limit=rate_limit,
                digest=digest,
                token=token,
                priority=priority,
                tags=tuple(tags),
            )
        )
    return out


def _sink_url_problem(stype: str, url: str) -> str | None:
    """What is wrong with a sink's URL, never quoting it (it may hold credentials)."""
    if stype != "apprise":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "is not an http(s) URL"
        if stype == "ntfy" and not parts.path.strip("/"):
            return "must name the ntfy topic (e.g. https://ntfy.sh/my-alerts)"
        return None
    try:
        import apprise  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return "apprise sinks need the optional extra: pip install 'monitor[apprise]'"
    if not apprise.Apprise().add(url):
        return "is not an Apprise URL that the installed Apprise supports"
    return None


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+)$")


def _rate_limit(value: Any) -> RateLimit:
    """ "N/period": at most N alerts per period, e.g. "10/1h" (N may be 0: digests only)."""
    m = _RATE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(
            f'{value!r} is not a rate limit (use "N/period", e.g. "10/1h"; "0/1d" sends '
            "digests only)"
        )
    return RateLimit(count=int(m.group(1)), period=parse_duration(m.group(2)))


def _cron(value: Any) -> str:
    from monitor.alerts.cron import validate

    return validate(_str(value))


def _timezone(value: Any) -> str:
    from monitor.alerts.cron import zone

    text = _str(value)
    zone(text)
    return text


def _ntfy_priority(value: Any) -> int:
    names = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    raise ValueError("must be 1-5 or one of min, low, default, high, max")


def _health(r: _Reader, data: Mapping[str, Any], sink_ids: set[str]) -> HealthConfig:
    hdef = HealthConfig()
    hl = r.table(data, "health", ("sinks", "after"))
    sinks = r.get(hl, "health", "sinks", _str_list, default=[])
    for s in sinks:
        if s not in sink_ids:
            known = ", ".join(sorted(sink_ids)) or "none are configured"
            r.problem("health.sinks", f"no sink with id {s!r} (known: {known})")
    after = r.get(hl, "health", "after", parse_duration, hdef.after)
    return HealthConfig(sinks=tuple(sinks), after=after)


def _websub(r: _Reader, data: Mapping[str, Any], server: ServerConfig) -> WebSubConfig:
    wdef = WebSubConfig()
    ws = r.table(data, "websub", tuple(WebSubConfig.__dataclass_fields__))
    callback = r.get(ws, "websub", "callback_url", _callback_url)
    lease = r.get(ws, "websub", "lease", parse_duration, wdef.lease)
    poll_interval = r.get(ws, "websub", "poll_interval", parse_duration, wdef.poll_interval)
    if lease < 60:
        r.problem("websub.lease", "must be at least 1m")
    if poll_interval > SERVER_HINT_CAP:
        r.problem(
            "websub.poll_interval",
            "must be at most 1d (a pushed feed is polled at least daily, in case pushes stop)",
        )
    if callback is not None and not server.enabled:
        r.problem(
            "websub.callback_url",
            "needs the status server (server.enabled = true): the hubs call it",
        )
    return WebSubConfig(callback_url=callback, lease=lease, poll_interval=poll_interval)


def _callback_url(value: Any) -> str:
    url = _http_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(
            f"{url!r} must be a base URL without query or fragment (the daemon appends "
            "/websub/<feed id>)"
        )
    return url.rstrip("/")
