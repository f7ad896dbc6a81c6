"""What changed between two revisions of a story (texts written for these tests)."""

import json

import pytest

from monitor.stories.diff import RevisionDiff, diff_revisions, is_meaningful_change

TITLE = "Two hurt in shooting on Elm Street"
LEAD = (
    "Two men were hurt in a shooting on Elm Street on Tuesday night, police said. "
    "Officers found the men outside a corner store shortly after 10 p.m. that night. "
    "Both were taken to Riverton General Hospital."
)


def test_appended_paragraph_names_exactly_the_added_sentences() -> None:
    more = (
        "\n\nPolice identified the men as Dan Ortiz, 24, and Lee Park, 31. "
        "No arrests have been made."
    )
    d = diff_revisions(TITLE, LEAD, TITLE, LEAD + more)
    assert d.added == (
        "Police identified the men as Dan Ortiz, 24, and Lee Park, 31.",
        "No arrests have been made.",
    )
    assert d.removed == ()
    assert d.title_changed is None
    assert d.meaningful


def test_headline_rewrite() -> None:
    new_title = "Man dies after Elm Street shooting"
    d = diff_revisions(TITLE, LEAD, new_title, LEAD)
    assert d.title_changed == (TITLE, new_title)
    assert (d.added, d.removed) == ((), ())
    assert d.meaningful
    assert d.summary() == f"Headline changed from “{TITLE}” to “{new_title}”."


def test_removed_sentence() -> None:
    shorter = LEAD.replace("Both were taken to Riverton General Hospital.", "")
    d = diff_revisions(TITLE, LEAD, TITLE, shorter)
    assert d.removed == ("Both were taken to Riverton General Hospital.",)
    assert d.added == ()
    assert d.meaningful
    assert d.summary() == "Removed: Both were taken to Riverton General Hospital."


def test_changed_figure_is_meaningful() -> None:
    old = "The gunman killed 5 people before police arrived."
    new = "The gunman killed 7 people before police arrived."
    d = diff_revisions(TITLE, old, TITLE, new)
    assert (d.added, d.removed) == ((new,), (old,))
    assert d.meaningful
    assert is_meaningful_change("Gunman kills 5", "", "Gunman kills 7", "")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "Updated 3:45 p.m. ET, Nov 26, 2026. " + LEAD,
            "Updated 9:10 a.m. ET, Nov. 27, 2026. " + LEAD,
        ),
        (LEAD, "Updated Nov. 27, 2026. " + LEAD),  # a time stamp appears
        (LEAD + " Last updated 2026-11-26T15:45Z.", LEAD + " Last updated 2026-11-27T09:10Z."),
        (LEAD, LEAD.replace("on Tuesday night", "on Wednesday night")),
        (LEAD, LEAD.replace("after 10 p.m.", "after 11:30 p.m.")),
        ("Posted 11/26/2026 at 3 pm. " + LEAD, "Posted 11/27/2026 at noon. " + LEAD),
    ],
)
def test_date_only_change_is_not_meaningful(old: str, new: str) -> None:
    d = diff_revisions(TITLE, old, TITLE, new)
    assert d.added or d.removed
    assert not d.meaningful


def test_date_only_headline_change_is_not_meaningful() -> None:
    d = diff_revisions(
        "Riverton news for Tuesday, Nov. 26", LEAD, "Riverton news for Wednesday, Nov. 27", LEAD
    )
    assert d.title_changed is not None
    assert not d.meaningful


def test_reordering_is_not_meaningful() -> None:
    a, b, c = ("One man was hurt.", "Police are searching for a car.", "The road is closed.")
    d = diff_revisions(TITLE, f"{a} {b} {c}", TITLE, f"{c} {a}\n\n{b}")
    assert d == RevisionDiff(None, (), (), False)
    assert d.summary() == "No change."


def test_whitespace_punctuation_and_case_are_not_meaningful() -> None:
    messy = "  " + LEAD.replace(". ", ".\n\n   ").replace(",", " ,").upper()
    d = diff_revisions(TITLE, LEAD, f"  {TITLE.lower()}  ", messy)
    assert d == RevisionDiff(None, (), (), False)
    assert not is_meaningful_change(TITLE, LEAD, TITLE + "!", LEAD + " ")


def test_a_date_change_beside_a_real_change_is_meaningful() -> None:
    old = "Updated Nov. 26, 2026. " + LEAD
    new = "Updated Nov. 27, 2026. " + LEAD + " A third man has died."
    d = diff_revisions(TITLE, old, TITLE, new)
    assert d.added == ("Updated Nov. 27, 2026.", "A third man has died.")
    assert d.removed == ("Updated Nov. 26, 2026.",)
    assert d.meaningful


def test_a_new_place_or_name_is_meaningful_even_next_to_a_date() -> None:
    assert is_meaningful_change(TITLE, "Police said Tuesday.", TITLE, "Lopez said Tuesday.")
    assert is_meaningful_change(TITLE, "It happened in May.", TITLE, "It happened in Maine.")


def test_summary_and_dict() -> None:
    d = diff_revisions("Man hurt", "A man was hurt. He is stable.", "Man dies", "A man died.")
    assert d.summary() == (
        "Headline changed from “Man hurt” to “Man dies”. Added: A man died. "
        "Removed: A man was hurt. He is stable."
    )
    assert json.loads(json.dumps(d.to_dict())) == {
        "title_changed": {"from": "Man hurt", "to": "Man dies"},
        "added": ["A man died."],
        "removed": ["A man was hurt.", "He is stable."],
        "meaningful": True,
    }
    assert RevisionDiff(None, (), (), False).to_dict()["title_changed"] is None
