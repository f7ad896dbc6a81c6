"""What changed between two revisions of a story.

:func:`diff_revisions` compares an old and a new (title, text) pair, both plain text, and returns
a :class:`RevisionDiff`: the headline change, the sentences added and removed, and whether the
change is meaningful. Pure functions, no I/O.

The design in full: docs/modules.md, `monitor/stories/diff.py`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.stories.textfeatures import sentences, words

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# weekday abbreviations only with their point ("Wed."): "sat" and "wed" are also words
_WEEKDAY = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|(?:mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)\.)"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_TIME_ZONE = r"(?:[ecmp][sd]?t|gmt|utc|bst|cet|cest)"
_CLOCK = (
    rf"(?:\d{{1,2}}(?::\d{{2}}){{1,2}}(?:\s*[ap]\.?m\.?)?|\d{{1,2}}\s*[ap]\.?m\.?|noon|midnight)"
    rf"(?:\s+{_TIME_ZONE}(?![a-z]))?"
)
_DATE = re.compile(
    r"(?<![\w])(?:"
    r"\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}/\d{1,2}/\d{2,4}"
    rf"|{_CLOCK}"
    rf"|{_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}|{_WEEKDAY}"
    r"|today|tonight|yesterday|tomorrow"
    r")(?![\w])",
    re.IGNORECASE,
)
_DATE_TOKEN = "<date>"  # never a word: words() yields only letters, digits and apostrophes
_JOINERS = frozenset({"at", "on", "of"})  # "Nov. 26 at 3 p.m." is one date
# words of a line that only stamps the time: "Updated Nov. 26, 2026", "Posted on Tuesday"
_STAMP_WORDS = frozenset(
    {"updated", "update", "published", "posted", "modified", "edited", "last", "first"}
    | {"originally", "as", "at", "on", "of", _DATE_TOKEN}
)


@dataclass(frozen=True, slots=True)
class RevisionDiff:
    """What changed from one revision of a story to the next (see the module doc)."""

    title_changed: tuple[str, str] | None  # (old, new), when their words differ
    added: tuple[str, ...]  # sentences of the new text not in the old one
    removed: tuple[str, ...]  # sentences of the old text not in the new one
    meaningful: bool  # False when nothing differs but dates, times and layout

    def summary(self) -> str:
        """A readable account: "Headline changed from “…” to “…”. Added: … Removed: …"."""
        parts = []
        if self.title_changed is not None:
            old, new = self.title_changed
            parts.append(f"Headline changed from “{old}” to “{new}”.")
        if self.added:
            parts.append("Added: " + " ".join(self.added))
        if self.removed:
            parts.append("Removed: " + " ".join(self.removed))
        return " ".join(parts) or "No change."

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict; ``title_changed`` is ``{"from", "to"}`` or None."""
        title = self.title_changed
        return {
            "title_changed": None if title is None else {"from": title[0], "to": title[1]},
            "added": list(self.added),
            "removed": list(self.removed),
            "meaningful": self.meaningful,
        }


def _key(sentence: str) -> tuple[str, ...]:
    return tuple(words(sentence))


def _dateless_key(sentence: str) -> tuple[str, ...]:
    """The sentence's words with each date or time expression replaced by one ``<date>``."""
    out: list[str] = []
    start = 0
    for m in _DATE.finditer(sentence):
        out += words(sentence[start : m.start()])
        if out[-2:-1] == [_DATE_TOKEN] and out[-1] in _JOINERS:
            out.pop()
        if out[-1:] != [_DATE_TOKEN]:
            out.append(_DATE_TOKEN)
        start = m.end()
    out += words(sentence[start:])
    return tuple(out)


def _is_stamp(sentence: str) -> bool:
    """Whether a sentence is only a time stamp ("Updated 3:45 p.m. ET, Nov. 26, 2026.")."""
    key = _dateless_key(sentence)
    return _DATE_TOKEN in key and all(w in _STAMP_WORDS for w in key)


def _missing(ours: list[str], theirs: Iterable[str]) -> tuple[str, ...]:
    """Sentences of ``ours`` (in order) beyond the count of equal-worded ones in ``theirs``."""
    left = Counter(_key(s) for s in theirs)
    out = []
    for s in ours:
        k = _key(s)
        if left[k] > 0:
            left[k] -= 1
        elif k:  # a sentence without words ("—") is layout
            out.append(s)
    return tuple(out)


def _beyond_dates(removed: tuple[str, ...], added: tuple[str, ...]) -> bool:
    """Whether the differing sentences differ in more than dates, times and time stamps."""
    unmatched = Counter(_dateless_key(s) for s in removed if not _is_stamp(s))
    unmatched.subtract(_dateless_key(s) for s in added if not _is_stamp(s))
    return any(unmatched.values())


def diff_revisions(old_title: str, old_text: str, new_title: str, new_text: str) -> RevisionDiff:
    """What changed from (``old_title``, ``old_text``) to (``new_title``, ``new_text``)."""
    old_sentences, new_sentences = sentences(old_text), sentences(new_text)
    added = _missing(new_sentences, old_sentences)
    removed = _missing(old_sentences, new_sentences)
    title_changed = None
    if _key(old_title) != _key(new_title):
        title_changed = (" ".join(old_title.split()), " ".join(new_title.split()))
    meaningful = _beyond_dates(removed, added) or (
        title_changed is not None and _dateless_key(old_title) != _dateless_key(new_title)
    )
    return RevisionDiff(title_changed, added, removed, meaningful)


def is_meaningful_change(old_title: str, old_text: str, new_title: str, new_text: str) -> bool:
    """Whether the new revision says something the old one did not (see the module doc)."""
    return diff_revisions(old_title, old_text, new_title, new_text).meaningful
