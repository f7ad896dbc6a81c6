"""Topic query language: compile a query once, match it against many analyzed stories.

Grammar (EBNF-ish; ``NEAR`` binds tightest, then ``NOT``/``-``, then ``AND``, then ``OR``)::

The design in full: docs/modules.md, `monitor/topics/query.py`.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.stories.textfeatures import DROP_COMBINING

__all__ = [
    "AnalyzedDoc",
    "Fields",
    "Query",
    "QueryError",
    "QueryIndex",
    "analyze",
    "compile_query",
    "normalize_text",
    "tokenize",
]

DEFAULT_NEAR = 10
_TITLE, _BODY, _SOURCE = 0, 1, 2
_FIELDS = {"title": (_TITLE,), "source": (_SOURCE,)}
_ANY = (_TITLE, _BODY)
_OPS = {"AND": "and", "OR": "or", "NOT": "not"}
_WORD_RE = re.compile(r"[^\W_]+")
_FIELD_RE = re.compile(r"([A-Za-z]+):")


class QueryError(ValueError):
    """A query that does not parse; `position` is a 0-based offset into the query text."""

    def __init__(self, position: int, message: str, hint: str = "") -> None:
        self.position = position
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"at position {self.position}: {self.message}{hint}"


# --- text analysis -------------------------------------------------------------------------


def normalize_text(s: str) -> str:
    """Casefolded, accent-free form of `s` (NFKD, combining marks dropped)."""
    if s.isascii():
        return s.lower()
    return unicodedata.normalize("NFKD", s).translate(DROP_COMBINING).casefold()


def tokenize(s: str) -> list[str]:
    """Normalized word tokens of `s`: runs of letters and digits."""
    return _WORD_RE.findall(normalize_text(s))


@dataclass(frozen=True, slots=True)
class Fields:
    """What a query sees of one story."""

    title: str
    body: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class _FieldIndex:
    pos: dict[str, list[int]]  # token -> sorted positions
    vocab: list[str]  # sorted distinct tokens, for prefix lookup


def _index(text: str) -> _FieldIndex:
    pos: dict[str, list[int]] = {}
    for i, tok in enumerate(tokenize(text)):
        pos.setdefault(tok, []).append(i)
    return _FieldIndex(pos, sorted(pos))


class AnalyzedDoc:
    """Tokens of each field of one story with their positions; build it with `analyze`."""

    __slots__ = ("_fields", "_prefixes")

    def __init__(self, title: _FieldIndex, body: _FieldIndex, source: _FieldIndex) -> None:
        self._fields = (title, body, source)
        self._prefixes: dict[tuple[int, str], tuple[int, ...]] = {}

    def positions(self, f: int, word: str) -> Sequence[int]:
        return self._fields[f].pos.get(word, ())

    def mentions(self, word: str, prefix: bool, fields: Sequence[int] = (0, 1, 2)) -> bool:
        """Does one of `fields` hold `word` (or, with `prefix`, a word starting with it)?"""
        if not prefix:
            return any(word in self._fields[f].pos for f in fields)
        for f in fields:
            vocab = self._fields[f].vocab
            i = bisect_left(vocab, word)
            if i < len(vocab) and vocab[i].startswith(word):
                return True
        return False

    def prefix_positions(self, f: int, prefix: str) -> tuple[int, ...]:
        """Sorted positions of all tokens starting with `prefix` (cached per story)."""
        found = self._prefixes.get((f, prefix))
        if found is None:
            idx = self._fields[f]
            vocab, acc = idx.vocab, []
            i = bisect_left(vocab, prefix)
            while i < len(vocab) and vocab[i].startswith(prefix):
                acc.extend(idx.pos[vocab[i]])
                i += 1
            found = self._prefixes[(f, prefix)] = tuple(sorted(acc))
        return found


def analyze(fields: Fields) -> AnalyzedDoc:
    """Tokenize a story once so that any number of queries can match it cheaply."""
    return AnalyzedDoc(_index(fields.title), _index(fields.body), _index(fields.source))


# --- compiled query tree -------------------------------------------------------------------


class _Node:
    __slots__ = ()

    def test(self, doc: AnalyzedDoc) -> bool:
        raise NotImplementedError

    def collect(self, doc: AnalyzedDoc, out: list[str]) -> None:
        """Append the positive terms that matched; only called when `test` is true."""

    def positive(self, out: list[str]) -> None:
        """Append every positive term."""


class _Leaf(_Node):
    """A term or a NEAR expression: reported as written when it matches."""

    __slots__ = ()
    text: str

    def collect(self, doc: AnalyzedDoc, out: list[str]) -> None:
        out.append(self.text)

    def positive(self, out: list[str]) -> None:
        out.append(self.text)


@dataclass(frozen=True, slots=True)
class _Term(_Leaf):
    text: str  # as written, with any field prefix
    words: tuple[str, ...]
    prefix: bool  # last word is a prefix
    fields: tuple[int, ...]

    def starts(self, doc: AnalyzedDoc, f: int) -> Sequence[int]:
        last = len(self.words) - 1
        lists: list[Sequence[int]] = []
        for k, w in enumerate(self.words):
            p = doc.prefix_positions(f, w) if self.prefix and k == last else doc.positions(f, w)
            if not p:
                return ()
            lists.append(p)
        if last == 0:
            return lists[0]
        rest = [set(p) for p in lists[1:]]
        return [p for p in lists[0] if all(p + k in s for k, s in enumerate(rest, 1))]

    def test(self, doc: AnalyzedDoc) -> bool:
        if len(self.words) == 1:  # the common case: one word, or one prefix
            return doc.mentions(self.words[0], self.prefix, self.fields)
        return any(self.starts(doc, f) for f in self.fields)


@dataclass(frozen=True, slots=True)
class _Near(_Leaf):
    text: str
    left: _Term
    right: _Term
    distance: int
    fields: tuple[int, ...]

    def test(self, doc: AnalyzedDoc) -> bool:
        la, lb, n = len(self.left.words), len(self.right.words), self.distance
        for f in self.fields:
            a = self.left.starts(doc, f)
            b = self.right.starts(doc, f) if a else ()
            nb = len(b)
            for sa in a if nb else ():
                ea = sa + la - 1
                i = bisect_left(b, ea + 1)  # B after A: starts in [ea+1, ea+n]
                if i < nb and b[i] <= ea + n:
                    return True
                i = bisect_left(b, sa - n - lb + 1)  # B before A: ends in [sa-n, sa-1]
                if i < nb and b[i] <= sa - lb:
                    return True
        return False


@dataclass(frozen=True, slots=True)
class _And(_Node):
    parts: tuple[_Node, ...]

    def test(self, doc: AnalyzedDoc) -> bool:
        return all(p.test(doc) for p in self.parts)

    def collect(self, doc: AnalyzedDoc, out: list[str]) -> None:
        for p in self.parts:
            p.collect(doc, out)

    def positive(self, out: list[str]) -> None:
        for p in self.parts:
            p.positive(out)


@dataclass(frozen=True, slots=True)
class _Or(_Node):
    parts: tuple[_Node, ...]

    def test(self, doc: AnalyzedDoc) -> bool:
        return any(p.test(doc) for p in self.parts)

    def collect(self, doc: AnalyzedDoc, out: list[str]) -> None:
        for p in self.parts:
            if p.test(doc):
                p.collect(doc, out)

    def positive(self, out: list[str]) -> None:
        for p in self.parts:
            p.positive(out)


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    child: _Node

    def test(self, doc: AnalyzedDoc) -> bool:
        return not self.child.test(doc)


Anchors = frozenset[tuple[str, bool]]  # (word, is_prefix): one of them must occur


def _anchors(node: _Node) -> Anchors | None:
    """Words of which a matching story must contain at least one (None: no such set, e.g.
    under NOT). A cheap first test: most stories match few of many topics."""
    if isinstance(node, _Term):
        return frozenset({(node.words[0], node.prefix and len(node.words) == 1)})
    if isinstance(node, _Near):
        return _anchors(node.left)
    if isinstance(node, _And):
        found = [a for a in map(_anchors, node.parts) if a is not None]
        return min(found, key=len) if found else None
    if isinstance(node, _Or):
        union: set[tuple[str, bool]] = set()
        for part in node.parts:
            a = _anchors(part)
            if a is None:
                return None
            union |= a
        return frozenset(union)
    return None


@dataclass(frozen=True, slots=True)
class Query:
    """A compiled query; build it with `compile_query`. Equal when the text is equal."""

    text: str
    _root: _Node = field(repr=False, compare=False)
    _terms: tuple[str, ...] = field(repr=False, compare=False)
    _anchors: Anchors | None = field(default=None, repr=False, compare=False)

    def match(self, doc: AnalyzedDoc, *, anchored: bool = False) -> tuple[str, ...] | None:
        """None if the story does not match, else the positive terms that matched, as
        written in the query, deduplicated, in query order. `anchored`: the caller knows
        the story mentions one of the query's anchors (:class:`QueryIndex`)."""
        if (
            not anchored
            and self._anchors is not None
            and not any(doc.mentions(w, prefix) for w, prefix in self._anchors)
        ):
            return None
        if not self._root.test(doc):
            return None
        out: list[str] = []
        self._root.collect(doc, out)
        return tuple(dict.fromkeys(out))

    def terms(self) -> tuple[str, ...]:
        """All positive terms (not those under NOT/-), as written, in query order."""
        return self._terms


@dataclass(frozen=True, slots=True)
class QueryIndex:
    """Many queries by their anchors (the words of which a matching story must mention one):
    the queries a story can match at all, found from the story's own words rather than by
    asking every query (most stories mention the anchors of few of many topics)."""

    size: int
    unanchored: frozenset[int]  # queries without anchors: always candidates
    words: dict[str, tuple[int, ...]]  # anchor word -> numbers of its queries
    prefixes: dict[str, tuple[int, ...]]  # anchor prefix -> numbers of its queries
    prefix_lengths: tuple[int, ...]  # the lengths of those prefixes, ascending

    @classmethod
    def build(cls, queries: Sequence[Query | None]) -> QueryIndex:
        """The index of `queries` (None: no query, never a candidate), by position."""
        unanchored: set[int] = set()
        words: dict[str, list[int]] = {}
        prefixes: dict[str, list[int]] = {}
        for number, query in enumerate(queries):
            if query is None:
                continue
            if query._anchors is None:
                unanchored.add(number)
                continue
            for word, prefix in query._anchors:
                (prefixes if prefix else words).setdefault(word, []).append(number)
        return cls(
            len(queries),
            frozenset(unanchored),
            {w: tuple(ns) for w, ns in words.items()},
            {p: tuple(ns) for p, ns in prefixes.items()},
            tuple(sorted({len(p) for p in prefixes})),
        )

    def candidates(self, doc: AnalyzedDoc) -> set[int]:
        """The numbers of the queries that `doc` mentions an anchor of (as
        :meth:`Query.match` tests), and those without anchors."""
        found = set(self.unanchored)
        tokens = {t for f in doc._fields for t in f.pos}
        words, prefixes, lengths = self.words, self.prefixes, self.prefix_lengths
        for token in tokens:
            numbers = words.get(token)
            if numbers is not None:
                found.update(numbers)
            for n in lengths:  # a token starts with a prefix p iff token[:len(p)] == p
                if n > len(token):
                    break
                numbers = prefixes.get(token[:n])
                if numbers is not None:
                    found.update(numbers)
        return found


# --- lexer and parser ----------------------------------------------------------------------

_STAR = 'a trailing * matches word starts: peacekeep*, "security guarant*"'
_NEAR_HINT = 'NEAR joins two words or phrases, e.g. ukraine NEAR/5 "peace talks"'
_AFTER_FIELD = "'{f}:' must be followed directly by a word, phrase or (group)"
_ERRORS: dict[str, tuple[str, str]] = {  # code -> (message, hint), str.format()ted
    "empty": ("empty query", "write at least one word, e.g. ukraine"),
    "quote": ("unterminated quote", "add a closing '\"' or remove this one"),
    "minus": ("'-' must be directly followed by a term", "write -satire (no space), or drop '-'"),
    "field": (
        "unknown field '{f}'",
        "known fields: title, source; without a prefix a term searches title and body; "
        "to search for {run!r}, quote it",
    ),
    "field_space": (_AFTER_FIELD, "remove the space: {f}:word"),
    "field_op": (_AFTER_FIELD, "e.g. {f}:ukraine or {f}:(kyiv OR kiev); to exclude: -{f}:word"),
    "distance": (
        "bad NEAR distance '{d}'",
        f"write NEAR/n with n a whole number of words, e.g. NEAR/5; NEAR means NEAR/{DEFAULT_NEAR}",
    ),
    "distance0": ("NEAR distance must be at least 1", "NEAR/1 means adjacent words"),
    "near_left": (
        "NEAR needs a word or phrase on each side",
        _NEAR_HINT + "; for alternatives write (a NEAR/3 c) OR (b NEAR/3 c)",
    ),
    "near_right": ("NEAR needs a word or phrase on each side", _NEAR_HINT),
    "near_fields": ("NEAR sides search different fields", "give both the same field prefix"),
    "near_chain": ("NEAR cannot be chained", "write (a NEAR b) AND (b NEAR c)"),
    "close": ("unbalanced parenthesis", "remove this ')' or add a '(' before it"),
    "open": ("unbalanced parenthesis", "add a ')' or remove the '(' at position {at}"),
    "parens": ("empty parentheses", "put a term inside or remove them"),
    "start": ("query starts with operator '{op}'", "put a term before '{op}' or remove it"),
    "dangling": ("dangling operator '{op}' has no term after it", "add a term after '{op}'"),
    "after_paren": ("operator '{op}' right after '('", "put a term before '{op}' or remove it"),
    "two_ops": (
        "operator '{op}' right after '{prev}'",
        "two operators in a row: remove one or put a term between",
    ),
    "phrase": ("empty phrase", "put words between the quotes or remove them"),
    "bare_star": ("bare '*' matches nothing", "put '*' at the end of a word; " + _STAR),
    "inner_star": (
        "'*' is only allowed at the end of {where}",
        _STAR + "; leading or inner wildcards are not supported",
    ),
    "star_after": ("'*' must directly follow a letter or digit", _STAR),
    "no_words": (
        "{text!r} has no letters or digits to search for",
        "remove it; punctuation is ignored when matching",
    ),
    "negative": (
        "query has nothing positive to match",
        "a query must match something positive: add a word to search for, "
        "e.g. ukraine -satire (a NOT inside OR matches almost every story)",
    ),
}


def _error(code: str, position: int, **kw: object) -> QueryError:
    message, hint = _ERRORS[code]
    return QueryError(position, message.format(**kw), hint.format(**kw))


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word phrase field ( ) and or not neg near end
    pos: int
    end: int
    value: str
    num: int = 0  # NEAR distance


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(c, i, i + 1, c))
            i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise _error("quote", i)
            toks.append(_Tok("phrase", i, j + 1, text[i + 1 : j]))
            i = j + 1
        elif c == "-":
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")":
                raise _error("minus", i)
            toks.append(_Tok("neg", i, i + 1, "-"))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()"':
                j += 1
            run = text[i:j]
            if m := _FIELD_RE.match(run):
                name, k = m.group(1).lower(), i + m.end()
                if name not in _FIELDS:
                    raise _error("field", i, f=m.group(1), run=run)
                if k >= n or text[k].isspace() or text[k] == ")":
                    raise _error("field_space", i, f=m.group(1))
                toks.append(_Tok("field", i, k, name))
                i = k
                continue
            if run in _OPS:
                toks.append(_Tok(_OPS[run], i, j, run))
            elif run == "NEAR" or run.startswith("NEAR/"):
                digits = run[5:] if run != "NEAR" else str(DEFAULT_NEAR)
                if not (digits.isascii() and digits.isdigit()):
                    raise _error("distance", i + 5, d=digits)
                if int(digits) < 1:
                    raise _error("distance0", i + 5)
                toks.append(_Tok("near", i, j, run, int(digits)))
            else:
                toks.append(_Tok("word", i, j, run))
            i = j
    toks.append(_Tok("end", n, n, ""))
    return toks


_UNARY_START = frozenset({"word", "phrase", "field", "(", "not", "neg"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> _Node:
        node = self.or_expr(_ANY)
        if (t := self.peek()).kind != "end":  # only ')' can be left over
            raise _error("close", t.pos)
        return node

    def or_expr(self, fields: tuple[int, ...]) -> _Node:
        parts = [self.and_expr(fields)]
        while self.peek().kind == "or":
            self.take()
            parts.append(self.and_expr(fields))
        return _flat(_Or, parts)

    def and_expr(self, fields: tuple[int, ...]) -> _Node:
        parts = [self.unary(fields)]
        while (k := self.peek().kind) == "and" or k in _UNARY_START:
            if k == "and":
                self.take()
            parts.append(self.unary(fields))
        return _flat(_And, parts)

    def unary(self, fields: tuple[int, ...]) -> _Node:
        if self.peek().kind in ("not", "neg"):
            self.take()
            child = self.unary(fields)
            return child.child if isinstance(child, _Not) else _Not(child)
        return self.near(fields)

    def near(self, fields: tuple[int, ...]) -> _Node:
        start = self.peek().pos
        left = self.operand(fields)
        if (op := self.peek()).kind != "near":
            return left
        if not isinstance(left, _Term):
            raise _error("near_left", start)
        self.take()
        rpos = self.peek().pos
        right = None if self.peek().kind in ("(", "not", "neg") else self.operand(fields)
        if not isinstance(right, _Term):
            raise _error("near_right", rpos)
        both = tuple(f for f in left.fields if f in right.fields)
        if not both:
            raise _error("near_fields", op.pos)
        if (nxt := self.peek()).kind == "near":
            raise _error("near_chain", nxt.pos)
        end = self.toks[self.i - 1].end
        return _Near(self.text[start:end], left, right, op.num, both)

    def operand(self, fields: tuple[int, ...]) -> _Node:
        t = self.peek()
        start = t.pos
        if t.kind == "field":
            self.take()
            fields = _FIELDS[t.value]
            if self.peek().kind not in ("word", "phrase", "("):
                raise _error("field_op", t.pos, f=self.text[t.pos : t.end - 1])
            t = self.peek()
        if t.kind in ("word", "phrase"):
            self.take()
            return self.term(t, fields, self.text[start : t.end])
        if t.kind == "(":
            self.take()
            if self.peek().kind == ")":
                raise _error("parens", t.pos)
            node = self.or_expr(fields)
            if (close := self.peek()).kind != ")":
                raise _error("open", close.pos, at=t.pos)
            self.take()
            return node
        raise self.unexpected(t)

    def unexpected(self, t: _Tok) -> QueryError:
        prev = self.toks[self.i - 1] if self.i else None
        if prev is None:
            return _error("close", t.pos) if t.kind == ")" else _error("start", t.pos, op=t.value)
        if t.kind in ("end", ")"):
            return _error("dangling", prev.pos, op=prev.value)
        if prev.kind == "(":
            return _error("after_paren", t.pos, op=t.value)
        return _error("two_ops", t.pos, op=t.value, prev=prev.value)

    def term(self, t: _Tok, fields: tuple[int, ...], text: str) -> _Term:
        phrase = t.kind == "phrase"
        body, base = (t.value.rstrip(), t.pos + 1) if phrase else (t.value, t.pos)
        if phrase and not body:
            raise _error("phrase", t.pos)
        if body.strip() == "*":
            raise _error("bare_star", base + body.index("*"))
        star = body.find("*")
        if 0 <= star < len(body) - 1:
            raise _error(
                "inner_star", base + star, where="the last word of a phrase" if phrase else "a word"
            )
        if prefix := star >= 0:
            body = body[:-1]
            if not body[-1].isalnum():
                raise _error("star_after", base + len(body))
        words = tuple(tokenize(body))
        if not words:
            raise _error("no_words", t.pos, text=text)
        return _Term(text, words, prefix, fields)


def _flat(kind: type[_And] | type[_Or], parts: list[_Node]) -> _Node:
    if len(parts) == 1:
        return parts[0]
    flat: list[_Node] = []
    for p in parts:
        flat.extend(p.parts if isinstance(p, kind) else (p,))
    return kind(tuple(flat))


def compile_query(text: str) -> Query:
    """Parse `text` into a `Query`; raises QueryError with a position and a hint."""
    if not text.strip():
        raise _error("empty", 0)
    root = _Parser(text).parse()
    if root.test(analyze(Fields("", ""))):  # it would match a story with no words at all
        raise _error("negative", 0)
    terms: list[str] = []
    root.positive(terms)
    return Query(text, root, tuple(dict.fromkeys(terms)), _anchors(root))
