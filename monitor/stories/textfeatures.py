"""Text features for near-duplicate and new-development detection.

Pure functions, no I/O, deterministic across processes (no use of Python's salted ``hash()``):

- :func:`fold` / :func:`words`: accent-stripped, casefolded word tokens.
- :func:`sentences`: a rule-based sentence splitter that knows common news abbreviations.
- :func:`shingles`, :class:`MinHasher`: hashed word shingles, MinHash signatures and LSH band
  keys (defined in :mod:`monitor.stories.minhash`, re-exported here).
- :func:`names`: capitalised (multi)word names, the "specifics" that tell look-alike news apart;
  :func:`is_person`: whether such a name looks like a person's (not a place or an organisation).
- :func:`stem`, :func:`term_vector`, :func:`idf`: the weighted bag of terms used to compare
  stories.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TypeVar

from monitor.stories.minhash import MinHasher as MinHasher
from monitor.stories.minhash import shingles as shingles
from monitor.stories.minhash import stable_hash64 as stable_hash64

K = TypeVar("K")
V = TypeVar("V")

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})


def _wordlist(text: str) -> list[str]:
    return text.split()


def _wordset(text: str) -> frozenset[str]:
    return frozenset(_wordlist(text))


STOPWORDS = _wordset(
    """a about above according after again against all also am amid among an and any are around
    as at be because been before being below between both but by can could did do does doing
    down during each few for from further had has have having he her here hers herself him
    himself his how i if in into is it its itself just me more most mr mrs ms my myself near
    no nor not now of off on once only or other our ours out over own per s said same say
    says she should so some st such t than that the their theirs them then there these
    they this those through to told too under until up very via was we were what when where
    which while who whom why will with would you your yours yourself
    """
)
WEEKDAYS_MONTHS = _wordset(
    """apr april aug august dec december feb february friday jan january jul july jun june mar
    march may monday nov november oct october saturday sep sept september sunday thursday
    tuesday wednesday
    """
)

# Words ending in "." that do not end a sentence (titles, street types, months, initials).
_ABBREVIATIONS = _wordset(
    """a.m apr aug ave blvd capt co col corp cpl d.c dec dept det dr e.g feb ft gen gov hwy i.e
    inc insp jan jr ln lt ltd mar mr mrs ms mt no nov oct ofc p.m rd rep rev sen sep sept
    sgt sr st supt u.s u.s.a vs
    """
)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"“'‘(\[]?[A-Z0-9])")


class Memo(dict[K, V]):
    """A pure function's answers by argument (``memo[key]``), computed when first asked and
    remembered, up to ``limit`` of them: then all are forgotten at once (a clear costs nothing
    per entry, and the next ones needed come back quickly). A hit is a dict lookup."""

    def __init__(self, compute: Callable[[K], V], limit: int) -> None:
        super().__init__()
        self.compute = compute
        self.limit = limit

    def __missing__(self, key: K) -> V:
        value = self.compute(key)
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


def _combining_dropped(code: int) -> int | None:
    return None if unicodedata.combining(chr(code)) else code


# A ``str.translate`` table that drops combining marks (Unicode combining class above 0) and
# keeps every other character, filled per code point as met: a text is filtered at C speed,
# exactly as by a filter on :func:`unicodedata.combining`.
DROP_COMBINING = Memo(_combining_dropped, 1 << 16)


def fold(text: str) -> str:
    """Casefold and strip accents (NFKD, combining marks dropped), unify apostrophes."""
    if text.isascii():  # nothing to decompose (most news text): skip the table
        return text.casefold()
    return _strip_accents(text).casefold()


def _strip_accents(text: str) -> str:
    if text.isascii():  # no accents, no curly apostrophes
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    return decomposed.translate(DROP_COMBINING)


def words(text: str) -> list[str]:
    """Word tokens of ``text``: casefolded, accent-stripped; a trailing possessive 's dropped."""
    return [w[:-2] if w.endswith("'s") else w for w in _WORD.findall(fold(text))]


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences.

    A break is a ``.``, ``!`` or ``?`` (plus closing quotes) followed by space and an upper-case
    letter, digit or opening quote, unless the word before the point is a known abbreviation
    (``Mr.``, ``Ave.``, ``a.m.``...) or a single-letter initial (``J. Smith``).
    """
    text = " ".join(text.split())
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if text[m.start()] == ".":
            before = text[start : m.start()].rsplit(None, 1)
            last = before[-1].lstrip("\"'“‘(").lower() if before else ""
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
        piece = text[start : m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


_RAW_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[.!?;:,()\[\]/|—–]|\s-\s")


def _is_title_case(title: str) -> bool:
    """Headline capitalisation ("Man Shot On Main Street") carries no name evidence."""
    toks = [t for t in _WORD.findall(title) if t[0].isalpha() and len(t) > 3]
    return bool(toks) and sum(1 for t in toks if t[0].isupper()) >= 0.6 * len(toks)


def names(text: str) -> list[str]:
    """Capitalised names in ``text``, casefolded: "Maria Lopez", "Elm Street", "Riverton".

    A name is a run of capitalised words (or all-caps words such as datelines). A run of one word
    at a sentence start is ignored (every sentence starts capitalised); stopwords, weekdays and
    months never count as names on their own and are trimmed from the ends of a run. A comma,
    bracket or slash ends a run: "Andrew Parmele, Shilo Thomas" are two people, "PHILADELPHIA
    (CBS)" a dateline and its station, "Tony Cook / The Star" a credit and its paper.
    """
    out: list[str] = []
    run: list[str] = []
    run_starts_sentence = False
    sentence_start = True

    def flush() -> None:
        nonlocal run_starts_sentence
        while run and (fold(run[0]) in STOPWORDS or fold(run[0]) in WEEKDAYS_MONTHS):
            run.pop(0)
            run_starts_sentence = False
        while run and (fold(run[-1]) in STOPWORDS or fold(run[-1]) in WEEKDAYS_MONTHS):
            run.pop()
        if run and (len(run) > 1 or not run_starts_sentence):
            out.append(" ".join(words(" ".join(run))))
        run.clear()

    prev = ""
    for tok in _RAW_TOKEN.findall(_strip_accents(text)):
        if not tok[0].isalnum():
            if tok == "." and (len(prev) == 1 or prev.lower() in _ABBREVIATIONS):
                continue  # "J. Rivera", "Sgt. Dunn": not a sentence end
            if run:
                flush()
            sentence_start = tok.strip() in {".", "!", "?", "-", "—", "–", ":"}
            prev = ""
            continue
        if tok[0].isupper():
            if not run:
                # all-caps words (datelines, acronyms) are names even at a sentence start
                run_starts_sentence = sentence_start and not (len(tok) > 2 and tok.isupper())
            run.append(tok)
        elif run:
            flush()
        sentence_start = False
        prev = tok
    flush()
    return [n for n in out if n]


# Leading titles stripped from a name before deciding whether it is a person's.
_PERSON_TITLES = _wordset(
    """agent assistant attorney capt captain chief coroner cpl corporal deputy det detective dist
    district dr father gov governor judge lt lieutenant mayor medical examiner miss mr mrs ms
    officer officers pastor pfc police president prosecutor pvt rep rev sen senator sergeant sgt
    sheriff special spc state superintendent trooper u.s
    """
)
# Words that make a capitalised run a place, an organisation or a medium rather than a person.
_NOT_PERSON_WORDS = _wordset(
    """academy agency airport ap apartments apartment association ave avenue bank bar beach bay
    blvd boulevard bridge bureau cafe center centre channel church circle city club co college
    community company corp county court courthouse creek ct daily department dept district
    division dr drive east elementary estates facebook falls federal fire fort forest gardens
    grove hall harbor heights high highway hill hills hospital hotel house hwy inc island jail
    journal junction lake lane llc ln los mall market mcdonald medical memorial middle mount mt
    national news north northeast northwest office park parkway pd pike place plaza point police
    post press prison radio rd ridge river road route saint san santa school services sheriff
    south southeast southwest springs square st state station store street tavern times tower
    town township trail tribune tv twitter union united university valley view village walmart
    way west
    """
    # medium and page furniture, time stamps
    """am caption close edt est image more new photo pm posted updated video
    """
    # US states, their postal and AP abbreviations
    """al ala alabama alaska ariz arizona ark arkansas az ca calif california carolina colo
    colorado conn connecticut dakota de del delaware fl fla florida ga georgia hawaii ia id
    idaho il ill illinois ind indiana iowa kan kans kansas kentucky ky la louisiana ma maine
    maryland mass massachusetts md me mich michigan minn minnesota miss mississippi missouri
    mo mont montana nc nd ne neb nebraska nev nevada nh nj nm nv ny ohio ok okla oklahoma or
    ore oregon pa penn pennsylvania ri sc sd tenn tennessee tex texas tn tx ut utah va vermont
    virginia vt wa wash washington wi wis wisconsin wv wy wyo wyoming
    """
)


def is_person(name: str) -> bool:
    """Whether a name from :func:`names` looks like a person's: two to four words (after leading
    titles such as "Sgt." or "Police Chief"), none of them a place, organisation or medium word
    ("Street", "County", "Police", "News"...), a weekday, a month or a number."""
    ws = name.split()
    while ws and ws[0] in _PERSON_TITLES:
        ws.pop(0)
    if not 2 <= len(ws) <= 4:
        return False
    return all(w.isalpha() and w not in _NOT_PERSON_WORDS and w not in WEEKDAYS_MONTHS for w in ws)


def person_key(name: str) -> str:
    """A person's name without leading titles ("sgt john dunn" -> "john dunn")."""
    ws = name.split()
    while ws and ws[0] in _PERSON_TITLES:
        ws.pop(0)
    return " ".join(ws)


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        _wordlist(
            """zero one two three four five six seven eight nine ten eleven twelve thirteen
            fourteen fifteen sixteen seventeen eighteen nineteen twenty"""
        )
    )
}
_UNDOUBLE = re.compile(r"([b-df-hj-km-np-rtv-y])\1$")


def stem(word: str) -> str:
    """A light suffix stripper so that "shootings"/"shooting"/"shoots", "killed"/"kills" and
    "four"/"4" meet. Crude but consistent; only used to compare stories."""
    return _STEMS[word]


def _stem(word: str) -> str:
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = _UNDOUBLE.sub(r"\1", word[: -len(suffix)])
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


_STEMS = Memo(_stem, 1 << 16)  # news vocabulary recurs: most words are hits

NAME_BOOST = 2.0
TITLE_REPEAT = 2
NUMBER_BOOST = 1.5


class TextInfo:
    """What the development tracker needs of one text (a headline or a body), computed once
    however many topics' trackers look at the same story: see :func:`text_info`."""

    __slots__ = ("_content", "_sentences", "_text", "words")

    def __init__(self, text: str) -> None:
        self.words = words(text)
        self._content: frozenset[str] | None = None
        self._sentences: tuple[tuple[str, frozenset[str]], ...] | None = None
        self._text = text

    def content(self) -> frozenset[str]:
        """The content words (:func:`content_words`)."""
        if self._content is None:
            self._content = _content(self.words)
        return self._content

    def sentences(self) -> tuple[tuple[str, frozenset[str]], ...]:
        """Each sentence (:func:`sentences`) with its content words."""
        if self._sentences is None:
            self._sentences = tuple((s, content_words(s)) for s in sentences(self._text))
        return self._sentences


def _content(ws: Sequence[str]) -> frozenset[str]:
    return frozenset(w for w in ws if w not in STOPWORDS and (len(w) > 2 or w.isdigit()))


def content_words(text: str) -> frozenset[str]:
    """The words that say what a sentence is about (no stopwords, no 1-2 letter words)."""
    return _content(words(text))


_INFO_CACHE_SIZE = 256
_INFO_CACHE = Memo(TextInfo, _INFO_CACHE_SIZE)


def text_info(text: str) -> TextInfo:
    """The :class:`TextInfo` of ``text``, from a small cache of the latest texts (a story's
    headline and body are analysed once for all the topics it matches)."""
    return _INFO_CACHE[text]


class TermCounts:
    """The part of :func:`term_vector` that does not depend on ``drop``: computed once per
    (title, text) by :func:`term_counts`; :meth:`vector` finishes it."""

    __slots__ = ("_kinds", "counts", "name_words", "names")

    def __init__(self, title: str, text: str) -> None:
        found = names(text)
        if not _is_title_case(title):
            found += names(title)
        self.name_words = {stem(w) for n in found for w in n.split()}
        # distinct kept words in order of first occurrence: (word, its stem, count)
        raw: Counter[str] = Counter(
            w
            for w in words(title) * TITLE_REPEAT + words(text)
            if not (w in STOPWORDS or (len(w) < 2 and not w.isdigit()))
        )
        self.counts = [(w, stem(w), c) for w, c in raw.items()]
        # multiword names: (their words, their term)
        self.names = [
            (n.split(), "p:" + person_key(n) if is_person(n) else "n:" + n)
            for n in found
            if " " in n
        ]
        # each term's boost: _NAME (name_boost), _NUMBER (NUMBER_BOOST) or 1.0
        self._kinds = {
            term: _term_kind(term, self.name_words)
            for term in [s for _, s, _ in self.counts] + [t for _, t in self.names]
        }

    def vector(
        self, drop: frozenset[str] | set[str] = frozenset(), *, name_boost: float = NAME_BOOST
    ) -> dict[str, float]:
        tf: dict[str, int] = {}
        for w, s, c in self.counts:
            if w not in drop:
                tf[s] = tf.get(s, 0) + c
        for ws, term in self.names:
            if not all(w in drop for w in ws):
                tf[term] = tf.get(term, 0) + 1
        boosts = (1.0, name_boost, NUMBER_BOOST)
        kinds, log = self._kinds, math.log
        return {term: (1.0 + log(count)) * boosts[kinds[term]] for term, count in tf.items()}


_NAME, _NUMBER = 1, 2


def _term_kind(term: str, name_words: AbstractSet[str]) -> int:
    """Which boost a term of a story's vector gets (see :func:`term_vector`)."""
    if term.startswith(("n:", "p:")) or term in name_words:
        return _NAME
    if term.isdigit() and len(term) >= 2:
        return _NUMBER
    return 0


def _term_counts(key: tuple[str, str]) -> TermCounts:
    return TermCounts(*key)


_COUNTS_CACHE = Memo(_term_counts, _INFO_CACHE_SIZE)


_SLUG_SEGMENT = re.compile(r"[^/]+")
_SLUG_WORD = re.compile(r"[A-Za-z]{2,}")
_SLUG_EXTENSION = re.compile(r"\.[A-Za-z0-9]{2,5}$")


def url_words(url: str) -> str:
    """The words of a story link's slug, the path segment most divided by "-" or "_"
    (".../2016/03/16/teen-charged-after-brainerd-shooting.html"), if it has three or more;
    else "". A slug is written when the story is first published and rarely changed: it
    keeps the first headline's words after the headline was rewritten, and it is all a
    story behind a paywall shows besides its headline."""
    path = url.split("://", 1)[-1].split("?", 1)[0].split("#", 1)[0].partition("/")[2]
    divided = [seg for seg in _SLUG_SEGMENT.findall(path) if "-" in seg or "_" in seg]
    best = max(divided, key=lambda seg: seg.count("-") + seg.count("_"), default="")
    found = _SLUG_WORD.findall(_SLUG_EXTENSION.sub("", best))
    return " ".join(found) if len(found) >= 3 else ""


def term_counts(title: str, text: str) -> TermCounts:
    """The :class:`TermCounts` of a story, from a small cache of the latest stories."""
    return _COUNTS_CACHE[(title, text)]


def term_vector(
    title: str,
    text: str,
    drop: frozenset[str] | set[str] = frozenset(),
    *,
    name_boost: float = NAME_BOOST,
) -> dict[str, float]:
    """Weighted terms of a story before IDF: ``(1 + log tf) * boost`` per term.

    Terms are stemmed (:func:`stem`) non-stopword tokens, minus the words in ``drop``, plus one
    ``"n:<name>"`` term per multiword name, so that a full name ("n:elm street") counts
    beyond its two words; a name that looks like a person's (:func:`is_person`) is
    ``"p:<name>"`` instead ("p:maria lopez"), since a person links reports months apart while a
    place is shared by unrelated events. Words inside a capitalised name get ``NAME_BOOST`` and
    numbers of two or more digits (ages, house numbers) ``NUMBER_BOOST``: in look-alike news
    only such specifics tell events apart; the factors are modest so that IDF still decides what
    is rare. (A topic profile passes ``name_boost=1``: a topic is about its vocabulary as much as
    about the names in it.)
    The headline is counted ``TITLE_REPEAT`` times: it is the cleanest summary of a story, while
    scraped bodies are often partly boilerplate. Title-case headlines are not mined for names.
    """
    return TermCounts(title, text).vector(drop, name_boost=name_boost)


def idf(doc_freq: int, n_docs: int) -> float:
    """Smoothed inverse document frequency ``log((1 + N) / (1 + df)) + 1``.

    Learned online: ``N`` and ``df`` count only stories seen before, so an unseen term gets the
    highest weight and nothing is known from the future.
    """
    return math.log((1.0 + n_docs) / (1.0 + doc_freq)) + 1.0
