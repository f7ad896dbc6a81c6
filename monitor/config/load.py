"""`load(path)`: a TOML file to a validated `Config`, section by section."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.config.model import (
    Config,
    ConfigError,
    DeliveryConfig,
    DetectionConfig,
    FullTextConfig,
    PollingConfig,
    Problem,
    RetentionConfig,
    ServerConfig,
    StorageConfig,
    TopicTexts,
)
from monitor.config.sections import (
    read_feeds,
    read_health,
    read_included_feeds,
    read_sinks,
    read_topics,
    read_websub,
)
from monitor.config.values import (
    LOG_LEVELS,
    POSTGRES_SCHEMES,
    Reader,
    as_age,
    as_bool,
    as_duration_or_zero,
    as_fraction,
    as_listen,
    as_nonneg_int,
    as_positive_int,
    as_proxy_url,
    as_str,
    as_str_list,
    as_timezone,
    check_postgres_url,
    one_of,
    parse_duration,
    parse_size,
    read_secret,
    resolve_sqlite_url,
)


def load(path: str | os.PathLike[str], texts: TopicTexts | None = None) -> Config:
    """The configuration in `path`; with `texts`, its queries and seeds checked as well."""
    file = Path(path).resolve()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([Problem(str(file), "(file)", "no such file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(file), "(file)", f"cannot read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(file), "(syntax)", f"not valid TOML: {exc}")]) from None
    return from_dict(data, file, texts)


def from_dict(data: Mapping[str, Any], file: Path, texts: TopicTexts | None = None) -> Config:
    r = Reader(file)
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
    url = read_secret(r, st, "storage", "url") or "sqlite:///monitor.db"  # may hold a password
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
    host, port = r.get(sv, "server", "listen", as_listen, default=("127.0.0.1", 8080))
    enabled = r.get(sv, "server", "enabled", as_bool, default=True)
    token = read_secret(r, sv, "server", "token")
    if token is not None and len(token) < 16:
        r.problem("server.token", "a token must be at least 16 characters long")
    server = ServerConfig(host=host, port=port, enabled=enabled, token=token)

    retention = r.section(
        data,
        "retention",
        RetentionConfig,
        {
            "stories": as_age,
            "revisions": as_age,
            "attempts": as_age,
            "tombstones": as_age,
            "every": parse_duration,
            "batch": as_positive_int,
        },
    )
    if retention.stories and retention.tombstones and retention.tombstones < retention.stories:
        r.problem(
            "retention.tombstones",
            "must be at least retention.stories: a pruned story's "
            "tombstone keeps a re-listed item from looking new",
        )

    polling = r.section(
        data,
        "polling",
        PollingConfig,
        {
            "interval": parse_duration,
            "tick": parse_duration,
            "batch": as_positive_int,
            "concurrency": as_positive_int,
            "timeout": parse_duration,
            "connect_timeout": parse_duration,
            "max_bytes": parse_size,
            "max_redirects": as_nonneg_int,
            "max_entries": as_positive_int,
            "error_backoff_max": parse_duration,
            "failing_after": as_positive_int,
            "shutdown_timeout": parse_duration,
            "stall_after": parse_duration,
            "adaptive": as_bool,
            "min_interval": parse_duration,
            "max_interval": parse_duration,
            "jitter": as_fraction,
            "host_concurrency": as_positive_int,
            "host_gap": as_duration_or_zero,
            "proxy": as_proxy_url,
            "allow_private_addresses": as_bool,
        },
    )

    delivery = r.section(
        data,
        "delivery",
        DeliveryConfig,
        {
            "max_attempts": as_positive_int,
            "backoff_base": parse_duration,
            "backoff_max": parse_duration,
            "timeout": parse_duration,
            "batch": as_positive_int,
            "max_age": as_age,
            "timezone": as_timezone,
            "lease": parse_duration,
        },
    )
    if delivery.lease is not None and delivery.lease <= delivery.timeout:
        r.problem("delivery.lease", "must be longer than delivery.timeout (a send ends in it)")

    detection = r.section(
        data,
        "detection",
        DetectionConfig,
        {
            "dedup_window": parse_duration,
            "development_window": parse_duration,
            "batch": as_positive_int,
            "first_poll_wait": as_duration_or_zero,
            "semantic": as_bool,
            "semantic_model": as_str,
        },
    )
    if detection.semantic_model is not None:  # a folder, relative to the configuration's
        folder = (r.base / str(detection.semantic_model)).resolve()
        detection = replace(detection, semantic_model=folder)

    full_text = r.section(
        data,
        "full_text",
        FullTextConfig,
        {
            "enabled": as_bool,
            "wait": as_duration_or_zero,
            "timeout": parse_duration,
            "max_bytes": parse_size,
            "concurrency": as_positive_int,
            "attempts": as_positive_int,
        },
    )

    lg = r.table(data, "log", ("level",))
    level = r.get(lg, "log", "level", one_of(LOG_LEVELS), "info")

    sinks = tuple(read_sinks(r, data.get("sinks", [])))
    sink_ids = {s.id for s in sinks}
    feed_places: dict[str, tuple[str, str]] = {}
    feeds = tuple(read_feeds(r, data.get("feeds", []), feed_places))
    feeds_files: list[str] = []
    try:
        feeds_files = as_str_list(data.get("feeds_files", []))
    except ValueError as exc:
        r.problem("feeds_files", f'{exc} (e.g. feeds_files = ["feeds.d/*.toml"])')
    feeds += tuple(read_included_feeds(r, feeds_files, feed_places))
    feeds = tuple(
        replace(f, full_text=full_text.enabled) if f.full_text is None else f for f in feeds
    )
    topics = tuple(read_topics(r, data.get("topics", []), sink_ids, texts))
    health = read_health(r, data, sink_ids)
    websub = read_websub(r, data, server)

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
