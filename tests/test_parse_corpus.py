"""The parse stage on a corpus of real-world-shaped and broken feeds (tests/feeds/parse/,
written for the project): expected titles, links, dates and summaries, which reader handled
each document, and agreement with the feedparser reading on the same bytes."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

import pytest

from monitor.reader.fastparse import decode
from monitor.reader.normalize import html_to_text, html_to_text_reference, normalize_entries
from monitor.reader.parse import ParseError, parse_feed, parse_with_feedparser
from monitor.reader.parsestage import ParseStage, _Memo, normalize_with_memo, parse_and_normalize

CORPUS = Path(__file__).parent / "feeds" / "parse"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
URL = "https://feeds.test/feed"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_document_reads_as_expected(name: str) -> None:
    spec = EXPECTED[name]
    body = (CORPUS / name).read_bytes()
    parsed = parse_feed(body, url=URL, content_type=spec["content_type"])
    entries = normalize_entries(parsed.entries, URL)
    assert parsed.title == spec["feed_title"]
    if "parser" in spec:
        assert parsed.parser == spec["parser"], parsed.warning
    assert len(entries) == len(spec["entries"])
    for got, want in zip(entries, spec["entries"], strict=True):
        assert got.title == want["title"]
        assert got.link == want["link"]
        published = datetime.fromisoformat(want["published"]) if want["published"] else None
        assert got.published == published
        if "summary" in want:
            assert got.summary == want["summary"]
        if "key" in want:
            assert got.key == want["key"]


# where feedparser is wrong: a stray Latin-1 byte makes it read the whole document as
# windows-1252; its loose parser turns "AT&T" into "AT&T;"; it keeps control characters;
# it keeps the half-read last entry of a truncated document (with an empty title)
FEEDPARSER_WRONG = {
    "mixed-encoding.xml",
    "bare-ampersands.xml",
    "control-chars.xml",
    "truncated.xml",
}
FEEDPARSER_AGREES = [
    n for n in sorted(EXPECTED) if n.endswith(".xml") and n not in FEEDPARSER_WRONG
]


@pytest.mark.parametrize("name", FEEDPARSER_AGREES)
def test_the_fast_path_gives_what_feedparser_gives(name: str) -> None:
    """Same normalized entries (keys, content hashes) as the feedparser reading, so that
    switching parsers makes no stored story look updated."""
    spec = EXPECTED[name]
    body = (CORPUS / name).read_bytes()
    ours = normalize_entries(
        parse_feed(body, url=URL, content_type=spec["content_type"]).entries, URL
    )
    theirs = normalize_entries(
        parse_with_feedparser(body, url=URL, content_type=spec["content_type"]).entries, URL
    )
    assert [(e.key, e.title, e.link, e.published) for e in ours] == [
        (e.key, e.title, e.link, e.published) for e in theirs
    ]


def test_a_stray_latin1_byte_in_utf8_loses_nothing() -> None:
    # feedparser reads the whole document as windows-1252 here: "SÃ£o Paulo café"
    body = (CORPUS / "mixed-encoding.xml").read_bytes()
    [e] = normalize_entries(parse_feed(body, url=URL).entries, URL)
    assert e.title == "São Paulo café — ok"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (
            b"<!DOCTYPE html><html><head><title>502</title></head><body>Bad gateway</body></html>",
            "not_a_feed",
        ),
        (
            b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Maintenance</p></body></html>',
            "not_a_feed",
        ),
        (b'{"error": "not found"}', "not_a_feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": ', "parse"),
        (b"<rss version='2.0'><channel><title>x</title><item><title>a</tit", "parse"),
    ],
)
def test_pages_that_are_not_feeds(body: bytes, kind: str) -> None:
    try:
        parsed = parse_feed(body, url=URL, content_type="text/html")
    except ParseError as err:
        assert err.kind == kind
    else:  # a truncated feed gives what it holds whole: here, nothing
        assert kind == "parse" and parsed.entries == ()


def test_html_to_text_fast_reading_equals_htmlparser_reading() -> None:
    atoms = [
        "<p>", "</p>", "<br>", "<br/>", "<b>", "</b>", "<script>x<y</script>", "<style>p{}</style>",
        "&amp;", "&eacute;", "&#233;", "a", "b c", " ", "\n", "<", "<!-- c -->", '<a href="x>y">',
        "</a>", "<img src=x alt='q'>", "</div>", "&", "&foo;", "<iframe>", "</iframe>", "<SCRIPT>",
        "</Script >", "<li>", "<!DOCTYPE html>", "<?x?>", "</>", "<a b='c>", "&nbsp", "<p/>",
        "<a href=x'y>", '<P\n class="x">', "<br/ >", "</p x>", "<!--", "<x:y>", "&lt;b&gt;", "\u00a0",
    ]  # fmt: skip
    rng = random.Random(4)
    for _ in range(3000):
        markup = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 10)))
        assert html_to_text(markup) == html_to_text_reference(markup), markup


def test_unchanged_entries_are_not_normalized_again() -> None:
    body = (CORPUS / "rss2-news.xml").read_bytes()
    memo = _Memo(100)
    raw = parse_feed(body, url=URL).entries
    first, done = normalize_with_memo(raw, URL, memo)
    assert done == 2
    again, done = normalize_with_memo(raw, URL, memo)
    assert (again, done) == (first, 0)
    changed = body.replace(b"Deal &#8212;", b"Deal now &#8212;")
    entries, done = normalize_with_memo(parse_feed(changed, url=URL).entries, URL, memo)
    assert done == 1 and entries[0] == first[0] and entries[1].summary == "Deal now — worth $2bn."


async def test_large_documents_are_parsed_in_another_process() -> None:
    body = (CORPUS / "rss2-news.xml").read_bytes()
    local = parse_and_normalize(body, URL, None, 1000)
    stage = ParseStage(process_threshold=1)
    try:
        remote = await stage.run(body, url=URL, content_type=None, max_entries=1000)
        assert remote.entries == local.entries
        with pytest.raises(ParseError):
            await stage.run(b"<html></html>", url=URL, content_type=None, max_entries=10)
    finally:
        stage.close()


def test_monitor_parse_prints_the_normalized_entries(capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli.main import main

    path = CORPUS / "atom-xml-base.xml"
    assert main(["parse", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["parser"] == "lxml"
    first = doc["entries"][0]
    assert first["title"] == "S&P up été"
    assert first["link"] == "https://blog.example/posts/2026/rally.html"
    assert first["published"] == "2026-11-25T07:15:00+00:00"
    assert first["key"] == "tag:blog.example,2026:1"
    assert main(["parse", str(path)]) == 0
    assert "2 entries" in capsys.readouterr().out
    assert main(["parse", str(CORPUS / "nonexistent.xml")]) == 1


def test_an_undeclared_latin1_document_is_read_as_windows_1252(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No BOM, no charset, no XML declaration, not UTF-8: windows-1252 (as browsers and
    feedparser read it), not a statistical guess (which reads Portuguese in a Central
    European or Baltic code page: 'simulaēões de 2ŗ turno')."""
    from monitor.cli.main import main

    path = CORPUS / "latin1-undeclared.xml"
    body = path.read_bytes()
    assert not body.startswith(b"<?xml") and b"\xe7\xf5" in body  # 'çõ' in ISO-8859-1
    assert decode(body, None) == (body.decode("cp1252"), "windows-1252")
    assert decode(body, "application/rss+xml")[1] == "windows-1252"
    assert main(["parse", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["title"] == "Jornal da Serra - Política"
    assert [e["title"] for e in doc["entries"]] == [
        "Pesquisa: simulações de 2º turno mostram disputa acirrada",
        "Câmara aprova orçamento após negociação com a oposição",
    ]


NON_LATIN = [
    ("cp1251", "Правительство объявило о новых мерах поддержки экономики страны."),
    ("koi8-r", "Министр финансов сказал, что бюджет будет сбалансирован к концу года."),
    ("cp1253", "Η κυβέρνηση ανακοίνωσε νέα μέτρα στήριξης της οικονομίας της χώρας."),
    ("shift_jis", "政府は経済を支援するための新たな措置を発表した。財務大臣は述べた。"),
    ("gb18030", "政府宣布了支持经济的新措施。财政部长表示，预算将在年底前实现平衡。"),
]


@pytest.mark.parametrize(("encoding", "text"), NON_LATIN)
def test_undeclared_non_latin_scripts_are_still_guessed(encoding: str, text: str) -> None:
    """Whole words of non-ASCII bytes are no Western European text: there windows-1252
    would be wrong and the encoding is guessed from the bytes."""
    doc = f"<rss version='2.0'><channel><title>{text[:12]}</title><item><title>{text}</title>"
    doc += f"<description>{text} {text[::-1]}</description></item></channel></rss>"
    body = doc.encode(encoding)
    decoded, _used = decode(body, None)
    assert text in decoded
    [entry] = parse_feed(body, url=URL).entries
    assert entry.title == text


def test_an_undeclared_mostly_utf8_document_keeps_its_utf8() -> None:
    body = "<rss version='2.0'><channel><title>São Paulo</title><item><title>Ação".encode()
    body += b" caf\xe9</title></item></channel></rss>"  # one stray Latin-1 byte
    [entry] = parse_feed(body, url=URL).entries
    assert entry.title == "Ação café"


WRAPPED = CORPUS / "xhtml-wrapped-atom.xml"
WRAPPED_TITLES = ["Harbour cranes back at work", "Ferry timetable changes"]


def test_an_atom_feed_wrapped_in_xhtml_keeps_its_entries_in_monitor_parse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The fast reader gives up on an (X)HTML page; feedparser finds the Atom feed inside."""
    from monitor.cli.main import main

    assert main(["parse", str(WRAPPED), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["parser"] == "feedparser" and doc["version"] == "atom10"
    assert "an (X)HTML page" in doc["warning"]
    assert [e["title"] for e in doc["entries"]] == WRAPPED_TITLES
    assert [e["link"] for e in doc["entries"]] == [
        "https://notes.example/2026/cranes",
        "https://notes.example/2026/ferry",
    ]
    assert main(["parse", str(WRAPPED), "--content-type", "text/html"]) == 0
    assert "2 entries" in capsys.readouterr().out


@pytest.mark.parametrize("threshold", [1 << 30, 1])  # a worker thread, the process pool
async def test_an_atom_feed_wrapped_in_xhtml_keeps_its_entries_in_the_parse_stage(
    threshold: int,
) -> None:
    stage = ParseStage(process_threshold=threshold)
    try:
        result = await stage.run(
            WRAPPED.read_bytes(), url=URL, content_type="text/html", max_entries=1000
        )
    finally:
        stage.close()
    assert [e.title for e in result.entries] == WRAPPED_TITLES
    assert result.feed.parser == "feedparser"


def test_a_page_neither_reader_can_read_is_refused_naming_both() -> None:
    page = b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Maintenance</p></body></html>'
    with pytest.raises(ParseError) as refused:
        parse_feed(page, url=URL, content_type="text/html")
    assert refused.value.kind == "not_a_feed"
    message = str(refused.value)
    assert "not an RSS or Atom feed (an HTML page" in message
    assert "neither reader could read it (fast reader: an (X)HTML page)" in message
