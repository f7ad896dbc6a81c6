"""OPML import and export, and the `feeds_files` include they write to.

The OPML file under tests/feeds/opml/ is written for the project in the shape of a feed
reader's export (folders, text vs title, htmlUrl, a repeated feed, a feed:// URL, a bookmark
without a feed, a link to another list)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from monitor.cli import main as cli
from monitor.cli import opml
from monitor.config import ConfigError, FeedConfig, Problem, load

EXPORT = Path(__file__).resolve().parent / "feeds" / "opml" / "reader-export.opml"

# What the reader export holds, as (url, name).
EXPECTED = {
    ("https://feeds.bbci.co.uk/news/world/rss.xml", "BBC News - World"),
    ("https://www.lemonde.fr/international/rss_full.xml", "Le Monde – International"),
    ("https://www.theguardian.com/world/rss", "The Guardian: World news"),  # text, not title
    ("https://kyivindependent.com/rss/", "Kyiv Independent"),
    ("https://www.pravda.com.ua/rss/view_news/", "Українська правда"),
    ("https://rss.sueddeutsche.de/rss/Politik", "Süddeutsche Zeitung – Politik"),
    (
        "https://news.example.com/politics/feed.xml?format=rss&lang=en",
        "Politics & Policy — Example Times",
    ),
    ("https://defence-weekly.example.org/atom.xml", '"Defence" Weekly'),
    ("https://blog.example.net/index.xml", None),
}

MAIN = """\
feeds_files = ["feeds.d/*.toml"]

[storage]
url = "sqlite:///monitor.db"

[[feeds]]
url = "https://kyivindependent.com/rss/"
name = "The Kyiv Independent"
"""


def config(folder: Path, text: str = MAIN) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def pairs(feeds: tuple[FeedConfig, ...] | list[FeedConfig]) -> set[tuple[str, str | None]]:
    return {(f.url, f.name) for f in feeds}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


# --- reading OPML --------------------------------------------------------------------------


def test_read_a_feed_readers_export() -> None:
    skipped: list[opml.Skipped] = []
    feeds = opml.read_opml(EXPORT, skipped)
    assert pairs(feeds) == EXPECTED
    assert len(feeds) == len(EXPECTED)  # the repeated feed is imported once
    reasons = {s.url: s.reason for s in skipped}
    assert reasons == {
        "https://feeds.bbci.co.uk/news/world/rss.xml": "listed 2 times; imported once",
        "feed://podcast.example.net/episodes.rss": "not an http(s) URL",
        "https://friends.example.org/blogroll.opml": "a link to another list, not followed",
        "https://longreads.example.com/": "a web page without a feed (no xmlUrl)",
    }
    assert "Old podcast" in str(skipped[1])
    # bytes work as well as a path
    assert opml.read_opml(EXPORT.read_bytes()) == feeds


def test_read_a_document_in_another_encoding() -> None:
    doc = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<opml version="1.0"><body>'
        '<outline type="rss" text="Café Révolution" xmlUrl="https://cafe.example/rss"/>'
        "</body></opml>"
    ).encode("iso-8859-1")
    assert pairs(opml.read_opml(doc)) == {("https://cafe.example/rss", "Café Révolution")}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"", "not well-formed XML"),
        (b"this is not xml", "not well-formed XML"),
        (b'<opml version="2.0"><body><outline text="a" xmlUrl="https://a/x">', "not well-formed"),
        (b'<rss version="2.0"><channel/></rss>', "not an OPML document (the root element is <rss>"),
        (b"<html><body><p>hello</p></body></html>", "root element is <html>"),
        (b'<opml version="2.0"><head/></opml>', "it has no <body>"),
    ],
)
def test_broken_or_foreign_documents_are_errors(doc: bytes, message: str) -> None:
    with pytest.raises(opml.OpmlError, match=message.replace("(", r"\(")):
        opml.read_opml(doc)


# --- writing OPML --------------------------------------------------------------------------


def test_write_opml_is_escaped_opml_2() -> None:
    feeds = [
        FeedConfig(url="https://a.example/rss?x=1&y=2", name='Tom & Jerry <"live">'),
        FeedConfig(url="https://b.example/feed", name="Бі-бі-сі\x01"),
        FeedConfig(url="https://c.example/atom"),
    ]
    when = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    doc = opml.write_opml(feeds, title="My <feeds> & more", now=when)
    assert doc.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(doc)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "My <feeds> & more"
    assert parsedate_to_datetime(root.findtext("head/dateCreated") or "") == when
    outlines = root.findall("body/outline")
    assert [(o.get("type"), o.get("text"), o.get("title"), o.get("xmlUrl")) for o in outlines] == [
        ("rss", 'Tom & Jerry <"live">', 'Tom & Jerry <"live">', "https://a.example/rss?x=1&y=2"),
        ("rss", "Бі-бі-сі", "Бі-бі-сі", "https://b.example/feed"),
        ("rss", "https://c.example/atom", "https://c.example/atom", "https://c.example/atom"),
    ]
    # and it reads back to the same feeds (a name equal to the URL is no name)
    assert pairs(opml.read_opml(doc)) == {
        ("https://a.example/rss?x=1&y=2", 'Tom & Jerry <"live">'),
        ("https://b.example/feed", "Бі-бі-сі"),
        ("https://c.example/atom", None),
    }


# --- the feeds file ------------------------------------------------------------------------


def test_append_feeds_escapes_toml_strings(tmp_path: Path) -> None:
    tricky = [
        FeedConfig(url="https://x.example/a", name='say "hi"'),
        FeedConfig(url="https://x.example/b", name="back\\slash C:\\temp\\"),
        FeedConfig(url="https://x.example/c", name="Київ — Zürich ✓ 日本"),
        FeedConfig(url="https://x.example/d", name="two\nlines\tand ''' \x7f"),
        FeedConfig(url="https://x.example/e?a=1&b='2'", name=None, interval=5400.0),
        FeedConfig(url="https://x.example/f", name="f", interval=0.5, proxy="http://p:3128"),
    ]
    file = tmp_path / "deep" / "feeds.d" / "imported.toml"
    result = opml.append_feeds(file, tricky, comment="imported from a test\nsecond line")
    assert result.added == tricky and result.already == []
    text = file.read_text(encoding="utf-8")
    assert text.startswith("# imported from a test\n# second line\n[[feeds]]\n")
    back = tomllib.loads(text)["feeds"]
    assert [(f["url"], f.get("name")) for f in back] == [(f.url, f.name) for f in tricky]
    assert back[4]["interval"] == "1h30m" and back[5]["interval"] == 0.5
    assert back[5]["proxy"] == "http://p:3128"
    assert [p.name for p in file.parent.iterdir()] == ["imported.toml"]  # no temp file left


def test_append_feeds_appends_and_skips_known_urls(tmp_path: Path) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text('[[feeds]]\nurl = "https://a.example/rss"  # by hand', encoding="utf-8")
    file.chmod(0o640)
    result = opml.append_feeds(
        file,
        [
            FeedConfig(url="https://a.example/rss", name="A"),  # in the file
            FeedConfig(url="https://b.example/rss", name="B"),  # configured elsewhere
            FeedConfig(url="https://c.example/rss", name="C"),
            FeedConfig(url="https://c.example/rss", name="C again"),  # repeated
        ],
        existing={"https://b.example/rss"},
    )
    assert [f.name for f in result.added] == ["C"]
    assert [f.name for f in result.already] == ["A", "B", "C again"]
    text = file.read_text(encoding="utf-8")
    assert text.startswith('[[feeds]]\nurl = "https://a.example/rss"  # by hand\n\n[[feeds]]')
    assert [f["url"] for f in tomllib.loads(text)["feeds"]] == [
        "https://a.example/rss",
        "https://c.example/rss",
    ]
    assert stat.S_IMODE(file.stat().st_mode) == 0o640  # permissions kept
    # nothing new: the file is not touched
    before = file.stat().st_mtime_ns
    assert opml.append_feeds(file, [FeedConfig(url="https://c.example/rss")]).added == []
    assert file.stat().st_mtime_ns == before


def test_append_feeds_refuses_a_file_it_cannot_append_to(tmp_path: Path) -> None:
    inline = tmp_path / "inline.toml"
    inline.write_text('feeds = [{ url = "https://a.example/rss" }]\n', encoding="utf-8")
    with pytest.raises(opml.OpmlError, match="cannot append"):
        opml.append_feeds(inline, [FeedConfig(url="https://b.example/rss")])
    broken = tmp_path / "broken.toml"
    broken.write_text("[[feeds]\n", encoding="utf-8")
    with pytest.raises(opml.OpmlError, match="not valid TOML"):
        opml.append_feeds(broken, [FeedConfig(url="https://b.example/rss")])
    assert inline.read_text(encoding="utf-8") == 'feeds = [{ url = "https://a.example/rss" }]\n'


# --- feeds_files in the configuration ------------------------------------------------------


def test_included_feeds_files_are_loaded_in_order(tmp_path: Path) -> None:
    path = config(tmp_path / "conf")
    assert load(path).feeds_files == ("feeds.d/*.toml",)
    assert [f.url for f in load(path).feeds] == ["https://kyivindependent.com/rss/"]  # empty dir
    feeds_d = tmp_path / "conf" / "feeds.d"
    feeds_d.mkdir()
    (feeds_d / "b.toml").write_text(
        '[[feeds]]\nurl = "https://b.example/rss"\ninterval = "1h"\n', encoding="utf-8"
    )
    (feeds_d / "a.toml").write_text(
        '[[feeds]]\nurl = "https://a.example/rss"\nname = "A"\n', encoding="utf-8"
    )
    (feeds_d / "notes.txt").write_text("not matched", encoding="utf-8")
    (feeds_d / "empty.toml").write_text("", encoding="utf-8")
    cfg = load(path)
    assert [(f.url, f.name, f.interval) for f in cfg.feeds] == [
        ("https://kyivindependent.com/rss/", "The Kyiv Independent", None),
        ("https://a.example/rss", "A", None),
        ("https://b.example/rss", None, 3600.0),
    ]
    # a reload (load again) sees what changed in the included files
    (feeds_d / "a.toml").unlink()
    assert [f.url for f in load(path).feeds][1:] == ["https://b.example/rss"]


def test_a_glob_matching_the_configuration_itself_does_not_include_it(tmp_path: Path) -> None:
    path = config(tmp_path, MAIN.replace("feeds.d/*.toml", "*.toml"))
    (tmp_path / "more.toml").write_text('[[feeds]]\nurl = "https://m.example/"\n', "utf-8")
    assert [f.url for f in load(path).feeds] == [
        "https://kyivindependent.com/rss/",
        "https://m.example/",
    ]


def test_problems_in_an_included_file_name_that_file(tmp_path: Path) -> None:
    path = config(tmp_path / "conf")
    feeds_d = tmp_path / "conf" / "feeds.d"
    feeds_d.mkdir()
    news = feeds_d / "news.toml"
    news.write_text(
        '[[feeds]]\nurl = "https://ok.example/rss"\n\n'
        '[[feeds]]\nurl = "ftp://files.example/rss"\n\n'
        '[[feeds]]\nurl = "https://x.example/rss"\nintervall = "1h"\n\n'
        '[[feeds]]\nurl = "https://kyivindependent.com/rss/"\n\n'
        '[[topics]]\nid = "t"\n',
        encoding="utf-8",
    )
    (feeds_d / "other.toml").write_text(
        '[[feeds]]\nurl = "https://ok.example/rss"\n', encoding="utf-8"
    )
    (feeds_d / "zz-broken.toml").write_text("[[feeds]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    got = [str(p) for p in err.value.problems]
    main = path.resolve()
    assert (
        got[0]
        == f"{news}: topics: not allowed here: a feeds file (feeds_files) holds only [[feeds]] tables"
    )
    assert f"{news}: feeds[1].url: 'ftp://files.example/rss' is not an http(s) URL" in got
    assert f"{news}: feeds[2].intervall: unknown key (did you mean 'interval'?)" in got
    assert (
        f"{news}: feeds[3].url: https://kyivindependent.com/rss/ is already configured as "
        f"{main}: feeds[0]"
    ) in got
    assert (
        f"{feeds_d / 'other.toml'}: feeds[0].url: https://ok.example/rss is already configured "
        f"as {news}: feeds[0]"
    ) in got
    assert got[-1].startswith(f"{feeds_d / 'zz-broken.toml'}: (syntax): not valid TOML")
    assert all(p.file != str(main) for p in err.value.problems)


def test_feeds_files_must_be_a_list_of_strings(tmp_path: Path) -> None:
    path = config(tmp_path, MAIN.replace('["feeds.d/*.toml"]', '"feeds.d/*.toml"'))
    with pytest.raises(ConfigError) as err:
        load(path)
    assert [p.key for p in err.value.problems] == ["feeds_files"]


def test_included_by_follows_glob_rules(tmp_path: Path) -> None:
    path = config(tmp_path, MAIN.replace('"feeds.d/*.toml"', '"feeds.d/*.toml", "more/**/*.toml"'))
    cfg = load(path)
    assert opml.included_by(cfg, tmp_path / "feeds.d" / "imported.toml")
    assert not opml.included_by(cfg, tmp_path / "feeds.d" / "sub" / "imported.toml")
    assert not opml.included_by(cfg, tmp_path / "feeds.d" / "imported.txt")
    assert not opml.included_by(cfg, tmp_path / "feeds.d" / ".hidden.toml")
    assert opml.included_by(cfg, tmp_path / "more" / "x.toml")
    assert opml.included_by(cfg, tmp_path / "more" / "a" / "b" / "x.toml")
    assert not opml.included_by(cfg, tmp_path / "elsewhere.toml")
    assert not opml.included_by(cfg, path)
    assert opml.include_hint(cfg, tmp_path / "other" / "x.toml") == (
        'feeds_files = ["feeds.d/*.toml", "more/**/*.toml", "other/*.toml"]'
    )


# --- the round trip and the commands -------------------------------------------------------


def test_opml_round_trip_through_the_commands(tmp_path: Path) -> None:
    first = config(tmp_path / "first")
    res = run("import-opml", EXPORT, "--config", first)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == (
        f"8 feeds added to {tmp_path / 'first' / 'feeds.d' / 'imported.toml'}; "
        "1 already configured; 4 skipped"
    )
    assert "  already configured: https://kyivindependent.com/rss/" in lines
    assert any("feed://podcast.example.net/episodes.rss" in line for line in lines)
    cfg = load(first)
    # the main file's own name for the Kyiv Independent stays
    assert pairs(cfg.feeds) == (
        EXPECTED - {("https://kyivindependent.com/rss/", "Kyiv Independent")}
    ) | {("https://kyivindependent.com/rss/", "The Kyiv Independent")}
    imported = tomllib.loads((tmp_path / "first" / "feeds.d" / "imported.toml").read_text("utf-8"))
    assert len(imported["feeds"]) == 8

    # importing again adds nothing
    again = run("import-opml", EXPORT, "--config", first)
    assert again.returncode == 0 and again.stdout.startswith("0 feeds added")

    out = tmp_path / "export.opml"
    res = run("export-opml", "--config", first, "-o", out)
    assert res.returncode == 0, res.stderr
    stdout = run("export-opml", "--config", first)
    assert stdout.returncode == 0 and ET.fromstring(stdout.stdout.encode()).tag == "opml"

    second = config(tmp_path / "second", MAIN.split("[[feeds]]")[0])  # no feeds of its own
    into = tmp_path / "second" / "feeds.d" / "from-first.toml"
    res = run("import-opml", out, "--config", second, "--into", into)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"9 feeds added to {into}; 0 already configured; 0 skipped")
    assert pairs(load(second).feeds) == pairs(cfg.feeds)


def test_import_into_a_file_the_configuration_does_not_read(tmp_path: Path) -> None:
    path = config(tmp_path, MAIN.replace('feeds_files = ["feeds.d/*.toml"]\n', ""))
    res = run("import-opml", EXPORT, "--config", path)
    assert res.returncode == 2
    assert f"does not read {tmp_path / 'feeds.d' / 'imported.toml'}" in res.stderr
    assert '    feeds_files = ["feeds.d/*.toml"]' in res.stderr.splitlines()
    assert not (tmp_path / "feeds.d").exists()

    path = config(tmp_path)
    res = run("import-opml", EXPORT, "--config", path, "--into", tmp_path / "lists" / "x.toml")
    assert res.returncode == 2
    assert 'feeds_files = ["feeds.d/*.toml", "lists/*.toml"]' in res.stderr


def test_import_of_a_broken_or_missing_opml_file(tmp_path: Path) -> None:
    path = config(tmp_path)
    broken = tmp_path / "broken.opml"
    broken.write_bytes(EXPORT.read_bytes()[:900])
    res = run("import-opml", broken, "--config", path)
    assert res.returncode == 2
    assert res.stderr.startswith(f"error: {broken}: not well-formed XML")
    res = run("import-opml", tmp_path / "missing.opml", "--config", path)
    assert res.returncode == 2 and "cannot read" in res.stderr
    res = run("import-opml", EXPORT, "--config", tmp_path / "missing.toml")
    assert res.returncode == 2 and "no such file" in res.stderr
    assert not (tmp_path / "feeds.d").exists()


def test_import_is_undone_when_the_configuration_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import opml_cli

    path = config(tmp_path)
    target = tmp_path / "feeds.d" / "imported.toml"
    target.parent.mkdir()
    target.write_text('[[feeds]]\nurl = "https://mine.example/rss"\n', encoding="utf-8")
    before = target.read_bytes()
    real_load = opml_cli.load
    calls = []

    def failing_second_load(p: str | os.PathLike[str]) -> object:
        calls.append(p)  # the first load (of the configuration) is cliutil's
        if len(calls) == 1:
            raise ConfigError([Problem(str(target), "feeds[1].url", "boom")])
        return real_load(p)

    monkeypatch.setattr(opml_cli, "load", failing_second_load)
    assert cli.main(["import-opml", str(EXPORT), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{target} is left as it was" in err and f"{target}: feeds[1].url: boom" in err
    assert target.read_bytes() == before

    target.unlink()  # a file the import created is removed again
    calls.clear()
    assert cli.main(["import-opml", str(EXPORT), "--config", str(path)]) == 2
    assert not target.exists()
