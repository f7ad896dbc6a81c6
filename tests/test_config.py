"""Configuration is validated at load; every problem names the file, the key and what is
wrong; `monitor check-config` exits 2 with one line per problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import Config, ConfigError, parse_duration, parse_size
from monitor.topics.compiled import load as load_settings

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path) -> Config:
    """The configuration at `path`, checked as the daemon loads it (queries and seeds too)."""
    return load_settings(path).config


GOOD = """
[storage]
url = "sqlite:///../var/monitor.db"

[server]
listen = "127.0.0.1:8080"

[[feeds]]
url = "https://example.org/rss.xml"
name = "Example"
interval = "15m"

[[topics]]
id = "ukraine-security-guarantees"
name = "Ukraine security guarantees"
query = '(Ukraine OR Kyiv) AND ("security guarantee" OR peacekeepers)'
sinks = ["ops"]

[[sinks]]
id = "ops"
type = "webhook"
url = "http://127.0.0.1:9000/hook"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "monitor.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, text))
    return [str(p) for p in err.value.problems]


def test_the_documented_example_loads(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, GOOD))
    assert cfg.storage.path == (tmp_path / "var" / "monitor.db").resolve()
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 8080)
    assert cfg.feeds[0].interval == 900
    assert cfg.feeds[0].name == "Example"
    assert cfg.topics[0].sinks == ("ops",)
    assert cfg.sinks[0].secret is None


def test_absolute_sqlite_path_with_four_slashes(tmp_path: Path) -> None:
    cfg = load(
        write(tmp_path, GOOD.replace("sqlite:///../var/monitor.db", f"sqlite:///{tmp_path}/abs.db"))
    )
    assert cfg.storage.path == tmp_path / "abs.db"


def test_the_shipped_configuration_is_valid() -> None:
    cfg = load(ROOT / "config" / "monitor.toml")
    assert len(cfg.feeds) >= 5
    topic = cfg.topics[0]
    assert topic.id == "ukraine-security-guarantees"
    assert topic.seeds, "the shipped topic is seeded from seeds/"
    assert all(p.is_file() for p in topic.seeds)
    assert load_settings(ROOT / "config" / "monitor.toml").topics[0].profile is not None
    assert topic.match == "either"


def test_the_shipped_configuration_loads_from_any_folder(tmp_path: Path) -> None:
    """As an operator installs it: the file copied alone to another folder (/etc/monitor/);
    its topic's seeds are the package's own ("builtin:"), not a path into a checkout."""
    folder = tmp_path / "etc" / "monitor"
    folder.mkdir(parents=True)
    copy = folder / "monitor.toml"
    copy.write_text((ROOT / "config" / "monitor.toml").read_text(encoding="utf-8"))
    cfg = load(copy)
    shipped = load(ROOT / "config" / "monitor.toml")
    assert cfg.topics[0].seeds == shipped.topics[0].seeds
    assert {p.name for p in cfg.topics[0].seeds} == {"000_f945fe1ac5d4f3e4.txt", "brief.txt"}
    assert all(p.is_file() and "monitor" in p.parts for p in cfg.topics[0].seeds)
    assert load_settings(copy).topics[0].profile is not None


def test_an_unknown_builtin_seed_set_names_the_known_ones(tmp_path: Path) -> None:
    text = GOOD.replace('sinks = ["ops"]', 'sinks = ["ops"]\nseeds = ["builtin:grain-deal/*.txt"]')
    [found] = [p for p in problems(tmp_path, text) if "topics[0].seeds" in p]
    assert "'builtin:grain-deal/*.txt' matches no file among the seeds shipped" in found
    assert "known: ukraine-security-guarantees" in found


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (('interval = "15m"', 'interval = "soon"'), "feeds[0].interval", "not a duration"),
        (('interval = "15m"', "interval = -5"), "feeds[0].interval", "greater than zero"),
        (
            ('url = "https://example.org/rss.xml"', 'url = "ftp://example.org/x"'),
            "feeds[0].url",
            "not an http(s) URL",
        ),
        (('listen = "127.0.0.1:8080"', 'listen = "localhost"'), "server.listen", "host:port"),
        (('sinks = ["ops"]', 'sinks = ["pager"]'), "topics[0].sinks", "no sink with id 'pager'"),
        (('type = "webhook"', 'type = "carrier-pigeon"'), "sinks[0].type", "must be one of"),
        (('name = "Example"', 'nmae = "Example"'), "feeds[0].nmae", "did you mean 'name'"),
        (("OR peacekeepers)'", "OR peacekeepers'"), "topics[0].query", "position"),
        (('url = "sqlite:///../var/monitor.db"', 'url = "mysql://x"'), "storage.url", "sqlite"),
        (("[server]", "[servers]"), "(top level).servers", "did you mean 'server'"),
    ],
)
def test_a_bad_value_is_named_by_file_and_key(
    tmp_path: Path, change: tuple[str, str], key: str, words: str
) -> None:
    found = problems(tmp_path, GOOD.replace(*change))
    assert any(f": {key}: " in p and words in p and "monitor.toml" in p for p in found), found


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = GOOD.replace('interval = "15m"', 'interval = "x"').replace(
        'sinks = ["ops"]', 'sinks = ["nope"]'
    )
    found = problems(tmp_path, text)
    assert len(found) == 2


def test_missing_required_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, '[[feeds]]\nname = "no url"\n[[topics]]\nid = "t"\n')
    assert any("feeds[0].url: is required" in p for p in found)
    assert any("topics[0].query: is required" in p for p in found)


def test_duplicate_feed_urls_and_topic_ids(tmp_path: Path) -> None:
    text = GOOD + '\n[[feeds]]\nurl = "https://example.org/rss.xml"\n'
    assert any("feeds[1].url" in p and "already configured" in p for p in problems(tmp_path, text))


def test_seed_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace('sinks = ["ops"]', 'sinks = ["ops"]\nseeds = ["seeds/*.txt"]')
    assert any("topics[0].seeds" in p and "matches no file" in p for p in problems(tmp_path, text))


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    monkeypatch.setenv("OPS_SECRET", secret)
    cfg = load(write(tmp_path, GOOD + 'secret_env = "OPS_SECRET"\n'))
    assert cfg.sinks[0].secret == secret
    assert secret not in repr(cfg.sinks[0])
    (tmp_path / "conf" / "ops.secret").write_text(secret + "\n")
    cfg = load(write(tmp_path, GOOD + 'secret_file = "ops.secret"\n'))
    assert cfg.sinks[0].secret == secret
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "ops.secret").write_text(secret)
    assert load(write(tmp_path, GOOD + 'secret_file = "ops.secret"\n')).sinks[0].secret == secret


def test_bad_secrets(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD + 'secret = "hunter2"\n')
    assert any("sinks[0].secret" in p and "whsec_" in p for p in found)
    assert not any("hunter2" in p for p in found), "a secret is never printed"
    found = problems(tmp_path, GOOD + 'secret_env = "NO_SUCH_VARIABLE_HERE"\n')
    assert any("NO_SUCH_VARIABLE_HERE is not set" in p for p in found)


def test_not_toml(tmp_path: Path) -> None:
    assert any("not valid TOML" in p for p in problems(tmp_path, "[storage\n"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h30m", 5400), ("90s", 90), ("2d", 172800), (30, 30), ("250ms", 0.25)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_sizes() -> None:
    assert parse_size("10MiB") == 10 * 2**20
    assert parse_size("500KB") == 500_000
    assert parse_size(1234) == 1234


def test_check_config_command(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD)
    ok = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(good)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = write(tmp_path, GOOD.replace('interval = "15m"', 'interval = "soon"'))
    res = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [
        f"{bad}: feeds[0].interval: 'soon' is not a duration (use a number and a "
        'unit: ms, s, m, h, d, w, e.g. "15m" or "1h30m")'
    ]


def test_websub_is_off_without_a_callback_url_and_validated_with_one(tmp_path: Path) -> None:
    off = load(write(tmp_path, GOOD)).websub
    assert not off.enabled and off.lease == 10 * 86400 and off.poll_interval == 6 * 3600
    on = load(
        write(
            tmp_path,
            '[websub]\ncallback_url = "https://monitor.example.org/push/"\nlease = "2d"\n'
            'poll_interval = "12h"\n' + GOOD,
        )
    ).websub
    assert on.enabled and (on.lease, on.poll_interval) == (172800, 43200)
    assert on.callback(7) == "https://monitor.example.org/push/websub/7"
    bad = problems(
        tmp_path,
        '[websub]\ncallback_url = "https://m.example/?x=1"\nlease = "10s"\n'
        'poll_interval = "2d"\npoll = 1\n'
        + GOOD.replace('listen = "127.0.0.1:8080"', "enabled = false"),
    )
    keys = [p.split(": ")[1] for p in bad]
    assert keys == ["websub.poll", "websub.callback_url", "websub.lease", "websub.poll_interval"]
    assert "without query or fragment" in bad[1]
    bad = problems(
        tmp_path,
        '[websub]\ncallback_url = "https://m.example/"\n'
        + GOOD.replace('listen = "127.0.0.1:8080"', "enabled = false"),
    )
    assert [p.split(": ", 1)[1] for p in bad] == [
        "websub.callback_url: needs the status server (server.enabled = true): the hubs call it"
    ]
