"""Per-source template stripping on texts written for this test."""

from monitor.detect_boilerplate import MemoryBodyHistory, strip_and_remember, strip_template

PROMPT = "Thank you for reading. Sign in or create a free account to keep reading local news."
FOOTER = "Copyright 2024 Harlowe Gazette. All rights reserved. This material may not be published."


def test_shared_prefix_and_suffix_with_an_earlier_body_are_cut() -> None:
    earlier = [PROMPT + " The council met on Tuesday to debate parking fees downtown. " + FOOTER]
    body = PROMPT + " Ravi Okonjo, 31, was wounded outside the Copper Kettle bar. " + FOOTER
    assert (
        strip_template(body, earlier)
        == "Ravi Okonjo, 31, was wounded outside the Copper Kettle bar."
    )


def test_short_shared_openings_are_kept() -> None:
    earlier = ["Police said a man was hurt on Elm Street in a crash on Monday night."]
    body = "Police said a woman was shot on Delancey Road early Saturday near the bar."
    assert strip_template(body, earlier) == body


def test_pure_template_becomes_empty_and_history_is_per_source() -> None:
    history = MemoryBodyHistory(keep=2)
    assert strip_and_remember(history, "a.test", PROMPT) == PROMPT  # first sight: kept
    assert strip_and_remember(history, "b.test", PROMPT) == PROMPT  # another site
    assert strip_and_remember(history, "a.test", PROMPT) == ""
    assert len(history.recent_bodies("a.test")) == 2
    strip_and_remember(history, "a.test", "x y")
    strip_and_remember(history, "a.test", "")
    assert history.recent_bodies("a.test")[-1] == "x y"
    assert len(history.recent_bodies("a.test")) == 2
