"""Fuzzing with hypothesis: the parse and normalize stages and the topic query parser never
let an exception escape; every failure is a classified error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.reader.normalize import normalize_entries
from monitor.reader.parse import ParseError, parse_feed
from monitor.topics.query import Fields, QueryError, analyze, compile_query

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TAGS = ["rss", "channel", "item", "title", "link", "description", "guid", "pubDate", "feed",
        "entry", "summary", "content", "id", "updated", "author", "rdf:RDF", "html", "body",
        "content:encoded", "dc:date", "script", "![CDATA["]  # fmt: skip
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
PIECES = st.one_of(
    TEXT,
    st.sampled_from(TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(["&amp;", "&eacute;", "&#8217;", "&#xD800;", "&bogus;", "&", "<", "]]>",
                     '<?xml version="1.0" encoding="latin-1"?>', "<!DOCTYPE x>",
                     'href="javascript:alert(1)"', "<link href='/rel'/>", "\x00", "\x1b"]),
)  # fmt: skip


def feedish() -> st.SearchStrategy[bytes]:
    docs = st.lists(PIECES, max_size=60).map("".join)
    encodings = st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"])
    as_bytes = st.tuples(docs, encodings).map(lambda p: p[0].encode(p[1], errors="replace"))
    return st.one_of(
        as_bytes,
        st.binary(max_size=300),
        as_bytes.flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
    )


@FUZZ
@given(feedish(), st.sampled_from([None, "text/html", "application/rss+xml; charset=utf-16"]))
def test_parse_and_normalize_never_raise_unclassified(body: bytes, ctype: str | None) -> None:
    try:
        parsed = parse_feed(body, url="http://feeds.example/x.xml", content_type=ctype)
    except ParseError as exc:
        assert exc.kind in ("parse", "not_a_feed") and str(exc)
        return
    for entry in normalize_entries(parsed.entries, "http://feeds.example/x.xml"):
        assert entry.key and entry.content_hash
        assert entry.link is None or entry.link.startswith(("http://", "https://"))
        assert "<script" not in entry.summary.lower() or "&lt;" in entry.summary


QUERY_ALPHABET = st.sampled_from(
    [*'abcKyivé*"()-: /0123456789', " AND ", " OR ", " NOT ", " NEAR/", " NEAR ", "title:",
     "source:", "author:"]
)  # fmt: skip


@FUZZ
@given(st.lists(QUERY_ALPHABET, max_size=30).map("".join))
def test_the_query_parser_parses_or_explains(text: str) -> None:
    try:
        query = compile_query(text)
    except QueryError as exc:
        assert 0 <= exc.position <= len(text)
        assert exc.message and str(exc).startswith(f"at position {exc.position}: ")
        return
    doc = analyze(Fields(title="Kyiv talks", body="abc é 123 kyiv", source="wire"))
    result = query.match(doc)
    assert result is None or isinstance(result, tuple)
    assert query.terms()


WORDS = st.sampled_from(["kyiv", "ukraine", "troops", "peacekeepers", "security", "guarantees",
                         "grain", "storm", "abc", "a", "b", "c", "café"])  # fmt: skip


@FUZZ
@given(
    st.lists(QUERY_ALPHABET, max_size=25).map("".join),
    st.lists(WORDS, max_size=12).map(" ".join),
    st.lists(WORDS, max_size=30).map(" ".join),
)
def test_the_anchor_prefilter_never_changes_a_result(text: str, title: str, body: str) -> None:
    from dataclasses import replace

    try:
        query = compile_query(text)
    except QueryError:
        return
    doc = analyze(Fields(title=title, body=body, source="wire"))
    assert query.match(doc) == replace(query, _anchors=None).match(doc)
