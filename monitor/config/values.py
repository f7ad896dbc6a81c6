"""How one value of the configuration is read and checked: durations, sizes, URLs, ids,
secrets (from the file, the environment or systemd credentials), and the walker that collects
every problem instead of stopping at the first."""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from monitor.config.model import Problem, RateLimit
from monitor.cron import validate as validate_cron
from monitor.cron import zone

T = TypeVar("T")
Converter = Callable[[Any], Any]

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


class Reader:
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

    def section(
        self, data: Mapping[str, Any], key: str, cls: type[T], fields: Mapping[str, Converter]
    ) -> T:
        """The table `key` as a `cls`: each of its `fields` read with its converter, a
        missing one at the dataclass's default. `fields` names every field of `cls`."""
        names = tuple(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        assert set(fields) == set(names), f"{cls.__name__}: {set(names) ^ set(fields)}"
        table = self.table(data, key, names)
        default = cls()
        return cls(
            **{
                name: self.get(table, key, name, conv, getattr(default, name))
                for name, conv in fields.items()
            }
        )

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


def as_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def as_positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("must be a positive integer")
    return value


def as_http_url(value: Any, what: str = "an http(s) URL") -> str:
    url = as_str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not {what}")
    return url


def as_ident(value: Any) -> str:
    text = as_str(value)
    if not _ID.match(text):
        raise ValueError(f"{text!r} is not a valid id (letters, digits, '_', '-', '.')")
    return text


def as_listen(value: Any) -> tuple[str, int]:
    text = as_str(value)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'{text!r} is not host:port (e.g. "127.0.0.1:8080")')
    return host.strip("[]") or "127.0.0.1", int(port)


def read_secret(r: Reader, data: Mapping[str, Any], key: str, name: str) -> str | None:
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


def signing_secret(r: Reader, data: Mapping[str, Any], key: str) -> str | None:
    """A Standard Webhooks signing secret (`whsec_` + base64) from secret/secret_env/secret_file."""
    value = read_secret(r, data, key, "secret")
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


def as_fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError("must be a number from 0 up to (not including) 1, e.g. 0.1")
    return float(value)


def as_duration_or_zero(value: Any) -> float:
    if value == 0 or value == "0":
        return 0.0
    return parse_duration(value)


def as_proxy_url(value: Any) -> str:
    return as_http_url(value, 'an http(s) proxy URL (e.g. "http://proxy:3128")')


def as_age(value: Any) -> float | None:
    """A retention age: a duration, or "never" to keep rows for ever."""
    if value == "never":
        return None
    return parse_duration(value)


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def as_nonneg_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be an integer >= 0")
    return value


def one_of(options: tuple[str, ...]) -> Callable[[Any], str]:
    def conv(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return str(value)

    return conv


def as_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError("must be a number above 0 and at most 1, e.g. 0.2")
    return float(value)


def as_str_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return list(value)


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+)$")


def as_rate_limit(value: Any) -> RateLimit:
    """ "N/period": at most N alerts per period, e.g. "10/1h" (N may be 0: digests only)."""
    m = _RATE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(
            f'{value!r} is not a rate limit (use "N/period", e.g. "10/1h"; "0/1d" sends '
            "digests only)"
        )
    return RateLimit(count=int(m.group(1)), period=parse_duration(m.group(2)))


def as_cron(value: Any) -> str:
    return validate_cron(as_str(value))


def as_timezone(value: Any) -> str:
    text = as_str(value)
    zone(text)
    return text


def as_ntfy_priority(value: Any) -> int:
    names = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    raise ValueError("must be 1-5 or one of min, low, default, high, max")


def as_callback_url(value: Any) -> str:
    url = as_http_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(
            f"{url!r} must be a base URL without query or fragment (the daemon appends "
            "/websub/<feed id>)"
        )
    return url.rstrip("/")
