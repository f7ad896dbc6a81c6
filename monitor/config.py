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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.query import Query, QueryError, compile_query


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
    url: str
    path: Path  # resolved SQLite database file


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
class PollingConfig:
    interval: float = 900.0  # default seconds between polls of one feed
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


@dataclass(frozen=True, slots=True)
class FeedConfig:
    url: str
    name: str | None = None
    interval: float | None = None


@dataclass(frozen=True, slots=True)
class TopicConfig:
    id: str
    name: str
    query: Query
    sinks: tuple[str, ...]
    seeds: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class SinkConfig:
    id: str
    type: str
    url: str
    secret: str | None = field(default=None, repr=False)  # whsec_… for signing
    timeout: float | None = None


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

    def sink(self, sink_id: str) -> SinkConfig:
        return next(s for s in self.sinks if s.id == sink_id)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?", re.IGNORECASE)
_SIZE_UNIT = {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}
SINK_TYPES = ("webhook",)
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


def resolve_sqlite_url(url: str, base: Path) -> Path:
    """`sqlite:///rel/path` is relative to `base`; `sqlite:////abs/path` is absolute."""
    if not url.startswith("sqlite:///"):
        raise ValueError('only sqlite:/// URLs are supported (e.g. "sqlite:///../var/monitor.db")')
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
            "topics",
            "sinks",
        ),
    )

    st = r.table(data, "storage", ("url",))
    url = r.get(st, "storage", "url", _str, default="sqlite:///monitor.db")
    try:
        db_path = resolve_sqlite_url(url, r.base)
    except ValueError as exc:
        r.problem("storage.url", str(exc))
        db_path = r.base / "monitor.db"
    storage = StorageConfig(url=url, path=db_path)

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
    )

    ddef = DeliveryConfig()
    dl = r.table(data, "delivery", tuple(DeliveryConfig.__dataclass_fields__))
    delivery = DeliveryConfig(
        max_attempts=r.get(dl, "delivery", "max_attempts", _positive_int, ddef.max_attempts),
        backoff_base=r.get(dl, "delivery", "backoff_base", parse_duration, ddef.backoff_base),
        backoff_max=r.get(dl, "delivery", "backoff_max", parse_duration, ddef.backoff_max),
        timeout=r.get(dl, "delivery", "timeout", parse_duration, ddef.timeout),
        batch=r.get(dl, "delivery", "batch", _positive_int, ddef.batch),
    )

    lg = r.table(data, "log", ("level",))
    level = r.get(lg, "log", "level", _choice(LOG_LEVELS), "info")

    sinks = tuple(_sinks(r, data.get("sinks", [])))
    sink_ids = {s.id for s in sinks}
    feeds = tuple(_feeds(r, data.get("feeds", [])))
    topics = tuple(_topics(r, data.get("topics", []), sink_ids))

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
    )


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


def _feeds(r: _Reader, value: Any) -> list[FeedConfig]:
    seen: dict[str, str] = {}
    out = []
    for key, item in _array(r, value, "feeds"):
        r.unknown(item, key, ("url", "name", "interval"))
        url = r.get(item, key, "url", _http_url, required=True)
        name = r.get(item, key, "name", _str)
        interval = r.get(item, key, "interval", parse_duration)
        if url is None:
            continue
        if url in seen:
            r.problem(f"{key}.url", f"{url} is already configured as {seen[url]}")
            continue
        seen[url] = key
        out.append(FeedConfig(url=url, name=name, interval=interval))
    return out


def _topics(r: _Reader, value: Any, sink_ids: set[str]) -> list[TopicConfig]:
    seen: set[str] = set()
    out = []
    for key, item in _array(r, value, "topics"):
        r.unknown(item, key, ("id", "name", "query", "seeds", "sinks"))
        tid = r.get(item, key, "id", _ident, required=True)
        name = r.get(item, key, "name", _str, default=tid)
        qtext = r.get(item, key, "query", _str, required=True)
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
        seeds: list[Path] = []
        for pattern in r.get(item, key, "seeds", _str_list, default=[]):
            full = pattern if os.path.isabs(pattern) else str(r.base / pattern)
            found = sorted(Path(p) for p in glob.glob(full) if os.path.isfile(p))
            if not found:
                r.problem(f"{key}.seeds", f"{pattern!r} matches no file")
            seeds.extend(found)
        if tid is None or query is None:
            continue
        if tid in seen:
            r.problem(f"{key}.id", f"topic id {tid!r} is used twice")
            continue
        seen.add(tid)
        out.append(
            TopicConfig(id=tid, name=name, query=query, sinks=tuple(sinks), seeds=tuple(seeds))
        )
    return out


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return list(value)


def _sinks(r: _Reader, value: Any) -> list[SinkConfig]:
    seen: set[str] = set()
    out = []
    for key, item in _array(r, value, "sinks"):
        r.unknown(
            item, key, ("id", "type", "url", "secret", "secret_env", "secret_file", "timeout")
        )
        sid = r.get(item, key, "id", _ident, required=True)
        stype = r.get(item, key, "type", _choice(SINK_TYPES), required=True)
        url = r.get(item, key, "url", _http_url, required=True)
        timeout = r.get(item, key, "timeout", parse_duration)
        secret = _secret(r, item, key)
        if sid is None or stype is None or url is None:
            continue
        if sid in seen:
            r.problem(f"{key}.id", f"sink id {sid!r} is used twice")
            continue
        seen.add(sid)
        out.append(SinkConfig(id=sid, type=stype, url=url, secret=secret, timeout=timeout))
    return out
