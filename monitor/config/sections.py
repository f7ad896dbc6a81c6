"""The array sections of the configuration: feeds (and included feeds files), topics and
their seed profiles, sinks, feed health alerts, WebSub."""

from __future__ import annotations

import glob
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config.model import (
    DEFAULT_THRESHOLD,
    EVIDENCE_SETS,
    MATCH_MODES,
    SERVER_HINT_CAP,
    FeedConfig,
    HealthConfig,
    ServerConfig,
    SinkConfig,
    TopicConfig,
    TopicTexts,
    WebSubConfig,
    default_match,
)
from monitor.config.values import (
    SINK_TYPES,
    Reader,
    as_bool,
    as_callback_url,
    as_cron,
    as_duration_or_zero,
    as_fraction,
    as_http_url,
    as_ident,
    as_ntfy_priority,
    as_proxy_url,
    as_rate_limit,
    as_str,
    as_str_list,
    as_threshold,
    one_of,
    parse_duration,
    read_secret,
    signing_secret,
)


def _array(r: Reader, value: Any, key: str) -> list[tuple[str, dict[str, Any]]]:
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


def read_feeds(
    r: Reader, value: Any, seen: dict[str, tuple[str, str]] | None = None
) -> list[FeedConfig]:
    """The [[feeds]] of one file; `seen` (url -> (file, key)) spans the included files."""
    seen = {} if seen is None else seen
    out = []
    for key, item in _array(r, value, "feeds"):
        r.unknown(item, key, ("url", "name", "interval", "proxy", "full_text"))
        url = r.get(item, key, "url", as_http_url, required=True)
        name = r.get(item, key, "name", as_str)
        interval = r.get(item, key, "interval", parse_duration)
        proxy = r.get(item, key, "proxy", as_proxy_url)
        full_text = r.get(item, key, "full_text", as_bool)
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


# --- feeds_files: included [[feeds]] files (see monitor/cli/opml.py for import/export) ---
def read_included_feeds(
    r: Reader, patterns: list[str], seen: dict[str, tuple[str, str]]
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
        sub = Reader(path)
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
            out.extend(read_feeds(sub, doc.get("feeds", []), seen))
        r.problems.extend(sub.problems)
    return out


# --- end feeds_files ---


_TOPIC_KEYS = (
    "id", "name", "query", "seeds", "match", "profile_threshold", "sinks", "rate_limit",
    "digest", "alert_on", "updates", "update_gap", "exclude_seeds", "evidence",
    "open_threshold", "semantic_open",
)  # fmt: skip
# developments: one alert per new development (and development.update for substantial news);
# stories: one story.matched alert per matching story that is not a duplicate (keyword alerts)
ALERT_ON = ("developments", "stories")


def read_topics(
    r: Reader, value: Any, sink_ids: set[str], texts: TopicTexts | None = None
) -> list[TopicConfig]:
    """The topics; with `texts`, each query and seed set is also checked by the engine that
    will compile them, and a topic whose query fails is left out."""
    seen: set[str] = set()
    out = []
    for key, item in _array(r, value, "topics"):
        r.unknown(item, key, _TOPIC_KEYS)
        rate_limit = r.get(item, key, "rate_limit", as_rate_limit)
        alert_on = r.get(item, key, "alert_on", one_of(ALERT_ON), "developments")
        updates = r.get(item, key, "updates", as_bool, True)
        update_gap = r.get(item, key, "update_gap", as_duration_or_zero, 3600.0)
        evidence = r.get(item, key, "evidence", one_of(EVIDENCE_SETS), "general")
        digest = r.get(item, key, "digest", as_cron)
        tid = r.get(item, key, "id", as_ident, required=True)
        name = r.get(item, key, "name", as_str, default=tid)
        mode = r.get(item, key, "match", one_of(MATCH_MODES))
        mode = mode or default_match("query" in item, bool(item.get("seeds")))
        threshold = r.get(item, key, "profile_threshold", as_threshold, DEFAULT_THRESHOLD)
        open_threshold = r.get(item, key, "open_threshold", as_threshold)
        semantic_open = r.get(item, key, "semantic_open", as_fraction)
        qtext = r.get(item, key, "query", as_str, required=mode != "profile")
        query = qtext
        if qtext is not None and texts is not None:
            problem = texts.query_problem(qtext)
            if problem is not None:
                r.problem(f"{key}.query", f"{problem} in {qtext!r}")
                query = None
        sinks = r.get(item, key, "sinks", as_str_list, default=[])
        for s in sinks:
            if s not in sink_ids:
                known = ", ".join(sorted(sink_ids)) or "none are configured"
                r.problem(f"{key}.sinks", f"no sink with id {s!r} (known: {known})")
        seeds = _seeds(r, item, key, mode, texts)
        exclude_seeds = _exclude_seeds(r, item, key, texts)
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
                profile_threshold=threshold,
                alert_on=alert_on,
                updates=updates,
                update_gap=update_gap,
                exclude_seeds=tuple(exclude_seeds),
                evidence=evidence,
                open_threshold=open_threshold,
                semantic_open=semantic_open,
            )
        )
    return out


# Seed documents shipped inside the package (monitor/seeds/TOPIC/…), named in a
# configuration as "builtin:TOPIC/*.txt": found wherever the package is installed, so a
# configuration copied to /etc/monitor/ needs no path to a checkout.
BUILTIN = "builtin:"
BUILTIN_SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def builtin_seed_sets() -> list[str]:
    """The names of the seed folders shipped with the package."""
    if not BUILTIN_SEEDS.is_dir():
        return []
    return sorted(p.name for p in BUILTIN_SEEDS.iterdir() if p.is_dir())


def _seeds(
    r: Reader, item: Mapping[str, Any], key: str, mode: str, texts: TopicTexts | None
) -> list[Path]:
    """The seed files of a topic (globs relative to the configuration's folder, or
    "builtin:" ones among the package's seeds); a match mode that needs a profile needs
    seeds."""
    if not item.get("seeds"):
        if mode != "query":
            r.problem(
                f"{key}.match",
                f'"{mode}" compares stories with a profile built from seed documents: '
                'add seeds = ["seeds/TOPIC/*.txt"] or use match = "query"',
            )
        if "profile_threshold" in item and not item.get("exclude_seeds"):
            r.problem(
                f"{key}.profile_threshold", "applies to a topic with seeds (or exclude_seeds) only"
            )
        for name in ("open_threshold", "semantic_open"):
            if name in item:
                r.problem(f"{key}.{name}", "applies to a topic with seeds only")
        return []
    seeds = _seed_files(r, item, key, "seeds")
    _check_seeds(r, f"{key}.seeds", seeds, texts)
    return seeds


def _check_seeds(r: Reader, key: str, files: list[Path], texts: TopicTexts | None) -> None:
    problem = texts.seeds_problem(files) if files and texts is not None else None
    if problem is not None:
        r.problem(key, problem)


def _seed_files(r: Reader, item: Mapping[str, Any], key: str, name: str) -> list[Path]:
    """The files of a topic's `name` globs (relative to the configuration's folder, or
    `builtin:` for the seeds shipped with monitor), each once; a glob matching no file is a
    problem naming the key."""
    files: list[Path] = []
    for pattern in r.get(item, key, name, as_str_list, default=[]):
        if pattern.startswith(BUILTIN):
            rest = pattern.removeprefix(BUILTIN).lstrip("/")
            full = str(BUILTIN_SEEDS / rest)
        else:
            full = pattern if os.path.isabs(pattern) else str(r.base / pattern)
        found = sorted(Path(p) for p in glob.glob(full) if os.path.isfile(p))
        if not found and pattern.startswith(BUILTIN):
            known = ", ".join(builtin_seed_sets()) or "none"
            r.problem(
                f"{key}.{name}",
                f"{pattern!r} matches no file among the seeds shipped with monitor "
                f"(known: {known}; e.g. 'builtin:{known.split(', ')[0]}/*.txt')",
            )
        elif not found:
            r.problem(f"{key}.{name}", f"{pattern!r} matches no file")
        files.extend(p for p in found if p not in files)  # a file matched twice counts once
    return files


def _exclude_seeds(
    r: Reader, item: Mapping[str, Any], key: str, texts: TopicTexts | None
) -> list[Path]:
    """A topic's negative seeds (`exclude_seeds`: documents of what it is not about),
    read as the seeds are (monitor/topics/feedback.py applies them)."""
    if "exclude_seeds" not in item:
        return []
    files = _seed_files(r, item, key, "exclude_seeds")
    if not files:
        if item.get("exclude_seeds") == []:
            r.problem(f"{key}.exclude_seeds", "is empty: name seed files or leave it out")
        return []
    _check_seeds(r, f"{key}.exclude_seeds", files, texts)
    return files


# Keys every sink takes, and those of one type only.
_SINK_KEYS = ("id", "type", "url", "url_env", "url_file", "timeout", "rate_limit", "digest")
_SINK_TYPE_KEYS = {
    "webhook": ("secret", "secret_env", "secret_file"),
    "slack": (),
    "discord": (),
    "ntfy": ("token", "token_env", "token_file", "priority", "tags"),
    "apprise": (),
}


def read_sinks(r: Reader, value: Any) -> list[SinkConfig]:
    """Sinks by type: webhook (signed JSON), slack, discord, ntfy, apprise. The URL may come
    from `url`, `url_env` or `url_file` (Slack, Discord and Apprise URLs carry credentials)."""
    seen: set[str] = set()
    out = []
    every = tuple(k for keys in _SINK_TYPE_KEYS.values() for k in keys)
    for key, item in _array(r, value, "sinks"):
        r.unknown(item, key, _SINK_KEYS + every)
        sid = r.get(item, key, "id", as_ident, required=True)
        stype = r.get(item, key, "type", one_of(SINK_TYPES), required=True)
        if stype is not None:
            for name in every:
                if name in item and name not in _SINK_TYPE_KEYS[stype]:
                    r.problem(f"{key}.{name}", f"not a key of {stype} sinks")
        timeout = r.get(item, key, "timeout", parse_duration)
        rate_limit = r.get(item, key, "rate_limit", as_rate_limit)
        digest = r.get(item, key, "digest", as_cron)
        secret = signing_secret(r, item, key) if stype == "webhook" else None
        token = read_secret(r, item, key, "token") if stype == "ntfy" else None
        priority = r.get(item, key, "priority", as_ntfy_priority) if stype == "ntfy" else None
        tags = r.get(item, key, "tags", as_str_list, default=[]) if stype == "ntfy" else []
        url = read_secret(r, item, key, "url")
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


def read_health(r: Reader, data: Mapping[str, Any], sink_ids: set[str]) -> HealthConfig:
    hdef = HealthConfig()
    hl = r.table(data, "health", ("sinks", "after"))
    sinks = r.get(hl, "health", "sinks", as_str_list, default=[])
    for s in sinks:
        if s not in sink_ids:
            known = ", ".join(sorted(sink_ids)) or "none are configured"
            r.problem("health.sinks", f"no sink with id {s!r} (known: {known})")
    after = r.get(hl, "health", "after", parse_duration, hdef.after)
    return HealthConfig(sinks=tuple(sinks), after=after)


def read_websub(r: Reader, data: Mapping[str, Any], server: ServerConfig) -> WebSubConfig:
    wdef = WebSubConfig()
    ws = r.table(data, "websub", tuple(WebSubConfig.__dataclass_fields__))
    callback = r.get(ws, "websub", "callback_url", as_callback_url)
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
