"""Tests for the topic query language (monitor/topics/query.py)."""

from __future__ import annotations

import pytest

from monitor.topics.query import (
    Fields,
    QueryError,
    analyze,
    compile_query,
    normalize_text,
    tokenize,
)

SHIPPED = (
    '(Ukraine OR Kyiv) AND ("security guarantee*" OR peacekeep* OR "coalition of the willing")'
)


def run(query: str, title: str, body: str = "", source: str = "") -> tuple[str, ...] | None:
    return compile_query(query).match(analyze(Fields(title=title, body=body, source=source)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café", "cafe"),
        ("ZELENSKYY", "zelenskyy"),
        ("Straße", "strasse"),
        ("Kyïv", "kyiv"),
        ("ｕｋｒａｉｎｅ", "ukraine"),  # fullwidth letters (NFKD)
        ("İstanbul", "istanbul"),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ukraine's grain", ["ukraine", "s", "grain"]),
        ("post-war plan", ["post", "war", "plan"]),
        ("U.S. talks, 2025!", ["u", "s", "talks", "2025"]),
        ("Café  au_lait", ["cafe", "au", "lait"]),
        ("", []),
    ],
)
def test_tokenize(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


# (query, title, body, expected match result)
MATCH_CASES = [
    # words, whole-word matching, body vs title
    ("ukraine", "Ukraine grain exports rise", "", ("ukraine",)),
    ("Ukraine", "Ukrainer in Berlin", "", None),
    ("Ukrain*", "Ukrainer in Berlin", "", ("Ukrain*",)),
    ("Ukrain*", "Ukraine", "", ("Ukrain*",)),
    ("ukraine", "Grain exports", "Shipments from Ukraine rose.", ("ukraine",)),
    ("Ukraine", "Ukraine's grain", "", ("Ukraine",)),
    ("s", "Ukraine's grain", "", ("s",)),
    ("grain", "Grains and more", "", None),
    ("2025", "Budget for 2025 agreed", "", ("2025",)),
    # case and accents
    ("Café", "cafe opens", "", ("Café",)),
    ("cafe", "CAFÉ opens", "", ("cafe",)),
    ("Zelenskyy", "zelenskyy speaks", "", ("Zelenskyy",)),
    ("zelensk*", "ZELENSKYY speaks", "", ("zelensk*",)),
    ("Kyiv", "Kyïv under fire", "", ("Kyiv",)),
    # phrases and hyphens
    ('"security guarantees"', "Security guarantees for Kyiv", "", ('"security guarantees"',)),
    ('"security guarantees"', "Guarantees of security", "", None),
    ('"security guarantees"', "Security, guarantees", "", ('"security guarantees"',)),
    ('"security guarant*"', "security guaranteed", "", ('"security guarant*"',)),
    ('"security guarant*"', "guarantees security", "", None),
    ('"kyiv talks"', "Kyiv", "talks begin", None),  # a phrase stays within one field
    ('"post-war"', "post war plan", "", ('"post-war"',)),
    ("post-war", "Post-war plan", "", ("post-war",)),
    ('"post war"', "post-war plan", "", ('"post war"',)),
    ("postwar", "post-war plan", "", None),
    # boolean operators and precedence (NOT > AND > OR)
    ("ukraine AND grain", "Ukraine grain", "", ("ukraine", "grain")),
    ("ukraine AND grain", "Ukraine oil", "", None),
    ("ukraine grain", "Ukraine oil", "", None),
    ("ukraine OR kyiv", "Kyiv", "", ("kyiv",)),
    ("a OR b c", "a", "", ("a",)),
    ("a OR b c", "b", "", None),
    ("a OR b c", "b c", "", ("b", "c")),
    ("a b OR c", "a", "", None),
    ("a b OR c", "c", "", ("c",)),
    ("(a OR b) c", "b c", "", ("b", "c")),
    ("ukraine NOT satire", "Ukraine satire", "", None),
    ("ukraine NOT satire", "Ukraine news", "", ("ukraine",)),
    ("ukraine -satire", "Ukraine", "A satire piece", None),
    ('ukraine -"peace talks"', "Ukraine peace and talks", "", ("ukraine",)),
    ('ukraine -"peace talks"', "Ukraine peace talks", "", None),
    ("ukraine -(satire OR parody)", "Ukraine parody", "", None),
    ("ukraine -(satire OR parody)", "Ukraine report", "", ("ukraine",)),
    ("NOT satire ukraine", "Ukraine", "", ("ukraine",)),
    ("NOT NOT ukraine", "Ukraine", "", ("ukraine",)),
    # lower-case operators are words
    ("peace and talks", "peace talks", "", None),
    ("peace and talks", "peace and talks", "", ("peace", "and", "talks")),
    ("war or peace", "war and peace", "", None),
    ("fighting near kyiv", "Fighting near Kyiv", "", ("fighting", "near", "kyiv")),
    ('"AND"', "this and that", "", ('"AND"',)),
    # syntax odds and ends
    ('"peace"talks', "peace talks", "", ('"peace"', "talks")),
    ("10:30", "Meeting at 10:30 today", "", ("10:30",)),
    ("NOT(satire) kyiv", "Kyiv", "", ("kyiv",)),
    ("(((kyiv)))", "Kyiv", "", ("kyiv",)),
    ("kyiv\n\tAND\ntalks", "Kyiv talks", "", ("kyiv", "talks")),
    # matched-term reporting: deduplicated, in query order, positives only
    ("kyiv OR ukraine", "Ukraine and Kyiv", "", ("kyiv", "ukraine")),
    ("Ukraine OR ukraine* OR Ukraine", "Ukraine", "", ("Ukraine", "ukraine*")),
    ("(a OR b) (c OR d)", "d c b", "", ("b", "c", "d")),
    ("(a OR b) -c", "a b", "", ("a", "b")),
    # NEAR: either order, distance limits, phrases and prefixes
    ("ukraine NEAR/3 talks", "Ukraine peace talks", "", ("ukraine NEAR/3 talks",)),
    ("ukraine NEAR/3 talks", "Talks on Ukraine", "", ("ukraine NEAR/3 talks",)),
    ("ukraine NEAR/3 talks", "Ukraine x y talks", "", ("ukraine NEAR/3 talks",)),
    ("ukraine NEAR/3 talks", "Talks x y Ukraine", "", ("ukraine NEAR/3 talks",)),
    ("ukraine NEAR/3 talks", "Ukraine x y z talks", "", None),
    ("ukraine NEAR/3 talks", "Talks x y z Ukraine", "", None),
    ("ukraine NEAR/1 talks", "Ukraine talks", "", ("ukraine NEAR/1 talks",)),
    ("ukraine NEAR/1 talks", "talks Ukraine", "", ("ukraine NEAR/1 talks",)),
    ("ukraine NEAR/1 talks", "Ukraine x talks", "", None),
    ("ukraine NEAR talks", "ukraine " + "x " * 9 + "talks", "", ("ukraine NEAR talks",)),
    ("ukraine NEAR talks", "ukraine " + "x " * 10 + "talks", "", None),
    ('"peace talks" NEAR/2 kyiv', "Peace talks in Kyiv", "", ('"peace talks" NEAR/2 kyiv',)),
    ('"peace talks" NEAR/2 kyiv', "Kyiv hosts peace talks", "", ('"peace talks" NEAR/2 kyiv',)),
    ('"peace talks" NEAR/2 kyiv', "Kyiv hosts the peace talks", "", None),
    ('"peace talks" NEAR/2 kyiv', "Peace talks far from here in Kyiv", "", None),
    ("peacekeep* NEAR/2 ukrain*", "Ukrainian peacekeeping", "", ("peacekeep* NEAR/2 ukrain*",)),
    ("ukraine NEAR/5 talks", "Ukraine", "talks", None),  # same field only
    ("ukraine NEAR/5 talks", "", "talks about Ukraine", ("ukraine NEAR/5 talks",)),
    ("kyiv NEAR/5 kyiv", "Kyiv", "", None),  # occurrences must not overlap
    ("kyiv NEAR/5 kyiv", "Kyiv and Kyiv", "", ("kyiv NEAR/5 kyiv",)),
    ("kyiv -talks NEAR/1 peace", "Kyiv peace talks", "", None),
    ("kyiv -talks NEAR/1 peace", "Kyiv talks then peace", "", ("kyiv",)),
    ("grain OR ukraine NEAR/1 talks", "Ukraine talks", "", ("ukraine NEAR/1 talks",)),
]


@pytest.mark.parametrize(("query", "title", "body", "expected"), MATCH_CASES)
def test_match(query: str, title: str, body: str, expected: tuple[str, ...] | None) -> None:
    assert run(query, title, body) == expected


# (query, title, body, source, expected)
FIELD_CASES = [
    ("title:ukraine", "Ukraine news", "", "", ("title:ukraine",)),
    ("title:ukraine", "News", "Ukraine", "", None),
    ("TITLE:ukraine", "Ukraine news", "", "", ("TITLE:ukraine",)),
    (
        'title:"security guarantees"',
        "Security guarantees",
        "",
        "",
        ('title:"security guarantees"',),
    ),
    ('title:"security guarantees"', "Talks", "security guarantees", "", None),
    ("source:reuters", "Talks", "", "Reuters reuters.com", ("source:reuters",)),
    ("source:reuters.com", "Talks", "", "Reuters reuters.com", ("source:reuters.com",)),
    ("source:reuters", "Talks", "", "AP apnews.com", None),
    ("reuters", "Talks", "", "Reuters reuters.com", None),  # unprefixed: title or body only
    ("reuters", "Talks", "Reuters reports", "", ("reuters",)),
    ("title:(kyiv OR kiev)", "Kiev talks", "", "", ("kiev",)),
    ("title:(kyiv OR kiev)", "Talks", "Kiev", "", None),
    ("title:(kyiv OR source:ap)", "Talks", "", "AP", ("source:ap",)),
    ("ukraine -source:satire", "Ukraine", "", "The Onion satire", None),
    ("ukraine -source:satire", "Ukraine", "", "Reuters", ("ukraine",)),
    ("title:ukraine NEAR/2 talks", "News", "Ukraine talks", "", None),
    ("title:ukraine NEAR/2 talks", "Ukraine talks", "", "", ("title:ukraine NEAR/2 talks",)),
    ("title:(ukraine NEAR/2 talks)", "Ukraine talks", "", "", ("ukraine NEAR/2 talks",)),
]


@pytest.mark.parametrize(("query", "title", "body", "source", "expected"), FIELD_CASES)
def test_field_prefixes(
    query: str, title: str, body: str, source: str, expected: tuple[str, ...] | None
) -> None:
    assert run(query, title, body, source) == expected


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("ukraine -satire", ("ukraine",)),
        (
            SHIPPED,
            (
                "Ukraine",
                "Kyiv",
                '"security guarantee*"',
                "peacekeep*",
                '"coalition of the willing"',
            ),
        ),
        ("a NEAR/3 b OR c -d NOT (e OR f)", ("a NEAR/3 b", "c")),
        ("title:x OR x OR x", ("title:x", "x")),
    ],
)
def test_terms(query: str, terms: tuple[str, ...]) -> None:
    q = compile_query(query)
    assert q.terms() == terms
    assert q.text == query


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "UK says troops to protect Kyiv's skies under security guarantees",
            ("Kyiv", '"security guarantee*"'),
        ),
        ("Ukraine grain exports rise", None),
        ("Coalition of the willing meets on Ukraine", ("Ukraine", '"coalition of the willing"')),
        ("European peacekeepers for Ukraine and Kyiv", ("Ukraine", "Kyiv", "peacekeep*")),
        ("Security guarantees for Taiwan", None),
    ],
)
def test_shipped_topic_query(title: str, expected: tuple[str, ...] | None) -> None:
    assert run(SHIPPED, title) == expected


# (query, position, words in the message, words in the hint)
ERROR_CASES = [
    ("", 0, "empty query", "at least one word"),
    ("   ", 0, "empty query", "at least one word"),
    ("(Ukraine OR Kyiv", 16, "unbalanced parenthesis", "add a ')' or remove the '(' at position 0"),
    ("a (b OR (c)", 11, "unbalanced parenthesis", "'(' at position 2"),
    ("a OR b)", 6, "unbalanced parenthesis", "remove this ')'"),
    (") a", 0, "unbalanced parenthesis", "remove this ')'"),
    ('ukraine "security', 8, "unterminated quote", "closing"),
    ("ukraine AND", 8, "dangling operator 'AND'", "add a term after 'AND'"),
    ("ukraine OR", 8, "dangling operator 'OR'", "add a term"),
    ("(ukraine OR) kyiv", 9, "dangling operator 'OR'", "add a term"),
    ("ukraine NOT", 8, "dangling operator 'NOT'", "add a term"),
    ("ukraine NEAR/3", 8, "dangling operator 'NEAR/3'", "add a term"),
    ("ukraine -", 8, "'-' must be directly followed", "no space"),
    ("ukraine - satire", 8, "'-' must be directly followed", "no space"),
    ("OR x", 0, "starts with operator 'OR'", "put a term before 'OR'"),
    ("AND x", 0, "starts with operator 'AND'", "put a term before"),
    ("(OR x)", 1, "right after '('", "put a term before 'OR'"),
    ("a AND OR b", 6, "'OR' right after 'AND'", "two operators in a row"),
    ("()", 0, "empty parentheses", "put a term inside"),
    ("ukraine ()", 8, "empty parentheses", "put a term inside"),
    ("a NEAR/x b", 7, "bad NEAR distance 'x'", "NEAR/5"),
    ("a NEAR/ b", 7, "bad NEAR distance", "whole number"),
    ("a NEAR/0 b", 7, "at least 1", "NEAR/1 means adjacent"),
    ("(a OR b) NEAR/3 c", 0, "NEAR needs a word or phrase on each side", "(a NEAR/3 c) OR"),
    ("c NEAR/3 (a OR b)", 9, "NEAR needs a word or phrase on each side", "NEAR joins"),
    ("c NEAR/3 -a", 9, "NEAR needs a word or phrase on each side", "NEAR joins"),
    ("c NEAR/3 title:(a b)", 9, "NEAR needs a word or phrase on each side", "NEAR joins"),
    ("a NEAR b NEAR c", 9, "cannot be chained", "(a NEAR b) AND (b NEAR c)"),
    ("title:a NEAR source:b", 8, "different fields", "same field prefix"),
    ("ukraine author:x", 8, "unknown field 'author'", "known fields: title, source"),
    ("ukraine title: x", 8, "'title:' must be followed directly", "remove the space"),
    ("title:-x", 0, "'title:' must be followed directly", "-title:word"),
    ("-ukraine", 0, "nothing positive", "a query must match something positive"),
    ("NOT x", 0, "nothing positive", "a query must match something positive"),
    ("-(a OR b)", 0, "nothing positive", "something positive"),
    ("a OR -b", 0, "nothing positive", "NOT inside OR"),
    ("*", 0, "bare '*'", "peacekeep*"),
    ("ukraine *", 8, "bare '*'", "end of a word"),
    ('ukraine "*"', 9, "bare '*'", "peacekeep*"),
    ("*kraine", 0, "only allowed at the end of a word", "leading or inner wildcards"),
    ("uk*aine", 2, "only allowed at the end of a word", "peacekeep*"),
    ('"secur* guarantees"', 6, "the last word of a phrase", '"security guarant*"'),
    ('"security *"', 10, "must directly follow a letter or digit", "peacekeep*"),
    ("ukraine &", 8, "no letters or digits", "punctuation is ignored"),
    ('ukraine ""', 8, "empty phrase", "put words between the quotes"),
]


@pytest.mark.parametrize(("query", "position", "message", "hint"), ERROR_CASES)
def test_errors(query: str, position: int, message: str, hint: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    err = info.value
    assert err.position == position, str(err)
    assert message in err.message
    assert hint in err.hint
    assert str(err) == f"at position {position}: {err.message} (hint: {err.hint})"


def test_query_error_is_value_error() -> None:
    err = QueryError(17, "unbalanced parenthesis", "add a ')' or remove the '(' at position 3")
    assert isinstance(err, ValueError)
    assert str(err) == (
        "at position 17: unbalanced parenthesis (hint: add a ')' or remove the '(' at position 3)"
    )
    assert str(QueryError(0, "empty query")) == "at position 0: empty query"


def test_query_equality_and_reuse() -> None:
    q = compile_query("ukraine OR kyiv")
    assert q == compile_query("ukraine OR kyiv")
    doc = analyze(Fields(title="Kyiv", body="Ukraine"))
    assert q.match(doc) == ("ukraine", "kyiv")
    assert q.match(doc) == ("ukraine", "kyiv")  # the per-story prefix cache is harmless
    assert compile_query("ukr*").match(doc) == ("ukr*",)
    assert compile_query("ukr*").match(doc) == ("ukr*",)
