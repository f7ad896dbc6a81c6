"""Per-source template stripping on texts written for this test."""

from monitor.stories.boilerplate import (
    MemoryBodyHistory,
    strip_and_remember,
    strip_playlist,
    strip_stamps,
    strip_template,
    strip_title_and_remember,
    strip_title_template,
)

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


SITE = "WXYZ Channel 7 Harlowe Valley News, Weather & Sports"
TITLE_CASES = [
    # (headline, an earlier headline of the source, what is kept)
    ("Man shot on Elm Street - " + SITE, "Bar fire downtown - " + SITE, "Man shot on Elm Street"),
    ("Man shot | Harlowe Gazette", "Council meets | Harlowe Gazette", "Man shot"),
    ("Man shot|Harlowe, OH|News", "Council meets|Harlowe, OH|News", "Man shot"),
    ("WXYZ - Man shot – Local", "WXYZ - Council meets – Local", "Man shot"),
    ("Gazette: Man shot", "Gazette: Council meets", "Gazette: Man shot"),  # no separator
    ("Man shot - " + SITE, "Man shot - " + SITE, "Man shot - " + SITE),  # never all of it
    ("Man shot - Update", "Council meets - " + SITE, "Man shot - Update"),
    ("Man shot-dead in Harlowe", "Boy shot-dead in Ashby", "Man shot-dead in Harlowe"),
]


def test_a_headline_loses_the_segments_its_source_repeats() -> None:
    for title, earlier, kept in TITLE_CASES:
        assert strip_title_template(title, [earlier]) == kept, title


def test_headline_history_is_per_source_and_the_first_sight_is_kept() -> None:
    titles = MemoryBodyHistory()
    assert strip_title_and_remember(titles, "a.test", "Man shot - " + SITE) == "Man shot - " + SITE
    assert strip_title_and_remember(titles, "b.test", "Fire - " + SITE) == "Fire - " + SITE
    assert strip_title_and_remember(titles, "a.test", "Fire - " + SITE) == "Fire"


STAMP_CASES = [
    ("Posted: Sunday, August 2, 2015 11:49 AM EDT Updated: Monday, August 3, 2015 7:00 PM EDT "
     "Police said a man was shot.", "Police said a man was shot."),
    ("Updated: 8/3/15 at 7:00 PM. A man was shot.", "A man was shot."),
    ("Published on Mar 14, 2013 A man was shot.", "A man was shot."),
    ("Published Wednesday, Feb. 20, 2013 A man was shot.", "A man was shot."),
    # news, not stamps: lower case, or a date alone
    ("The video was posted on Aug. 3 at 4:15 p.m.", "The video was posted on Aug. 3 at 4:15 p.m."),
    ("Police updated the count on Monday.", "Police updated the count on Monday."),
    ("Posted Aug. 3 by a neighbour, the video shows the car.",
     "Posted Aug. 3 by a neighbour, the video shows the car."),
]  # fmt: skip


def test_page_stamps_are_not_news() -> None:
    for text, kept in STAMP_CASES:
        assert " ".join(strip_stamps(text).split()) == kept, text
    history = MemoryBodyHistory()
    assert strip_and_remember(history, "a.test", STAMP_CASES[0][0]).strip() == STAMP_CASES[0][1]


PLAYLIST = (
    "1:17 Mayor opens the new bridge Pause 0:48 Zoo welcomes a baby rhino 2:03 Two men charged "
    "in an old case 0:33 Festival-goers brave the cold"
)


def test_a_video_playlist_is_not_the_story() -> None:
    assert strip_playlist(PLAYLIST).strip() == ""
    assert strip_playlist("Four teens were shot at a party. " + PLAYLIST).strip() == (
        "Four teens were shot at a party."
    )
    # clock times and the word "Pause" alone are news
    kept = "Shots at 10:30 p.m.; a Pause at 1:00 in the game, then 2:15 more."
    assert strip_playlist(kept) == kept
    history = MemoryBodyHistory()
    assert strip_and_remember(history, "a.test", "A man was shot. " + PLAYLIST).strip() == (
        "A man was shot."
    )
