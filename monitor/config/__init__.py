"""Typed configuration, loaded from TOML and validated at load.

`load(path)` returns a frozen `Config` or raises `ConfigError` carrying one `Problem` per
thing that is wrong, each naming the file, the key (`feeds[2].interval`) and what is wrong.
Relative paths (the SQLite file, seed globs, secret files) are relative to the folder of the
configuration file, so a configuration means the same thing from any working directory.

`model.py` holds the settings (frozen dataclasses), `values.py` how one value is read and
checked, `sections.py` the array sections (feeds, topics, sinks, health, WebSub) and
`load.py` the order in which a file is read; each imports only the ones before it.
"""

from monitor.config.load import from_dict, load
from monitor.config.model import (
    DEFAULT_SEMANTIC_OPEN,
    DEFAULT_THRESHOLD,
    EVIDENCE_SETS,
    MATCH_MODES,
    OPEN_FACTOR,
    SERVER_HINT_CAP,
    Config,
    ConfigError,
    DeliveryConfig,
    DetectionConfig,
    FeedConfig,
    FullTextConfig,
    HealthConfig,
    PollingConfig,
    Problem,
    RateLimit,
    RetentionConfig,
    ServerConfig,
    SinkConfig,
    StorageConfig,
    TopicConfig,
    TopicTexts,
    WebSubConfig,
    default_match,
    redact_url,
)
from monitor.config.values import (
    LOG_LEVELS,
    POSTGRES_SCHEMES,
    SINK_TYPES,
    check_postgres_url,
    parse_duration,
    parse_size,
    resolve_sqlite_url,
)

__all__ = [
    "DEFAULT_SEMANTIC_OPEN",
    "DEFAULT_THRESHOLD",
    "EVIDENCE_SETS",
    "LOG_LEVELS",
    "MATCH_MODES",
    "OPEN_FACTOR",
    "POSTGRES_SCHEMES",
    "SERVER_HINT_CAP",
    "SINK_TYPES",
    "Config",
    "ConfigError",
    "DeliveryConfig",
    "DetectionConfig",
    "FeedConfig",
    "FullTextConfig",
    "HealthConfig",
    "PollingConfig",
    "Problem",
    "RateLimit",
    "RetentionConfig",
    "ServerConfig",
    "SinkConfig",
    "StorageConfig",
    "TopicConfig",
    "TopicTexts",
    "WebSubConfig",
    "check_postgres_url",
    "default_match",
    "from_dict",
    "load",
    "parse_duration",
    "parse_size",
    "redact_url",
    "resolve_sqlite_url",
]
