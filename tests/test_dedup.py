"""Near-duplicate detection on small texts written for these tests."""

from datetime import UTC, datetime, timedelta

from monitor.stories.dedup import (
    MemoryNearDupIndex,
    StoryText,
    check,
    find_duplicate,
    fingerprint,
)

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
WIRE = (
    "A 27-year-old man was wounded Saturday night when someone opened fire on a parked car "
    "outside the Bluebird Diner on Orchard Lane, police said. Officers found Tomas Brennick "
    "with a gunshot wound to the leg and took him to Mercy General Hospital, where he was "
    "listed in stable condition. Detectives said the shooter drove away in a gray sedan and "
    "asked anyone with video from the area to call the Millbrook police tip line."
)
BOILER = (
    "Thank you for registering. Please check your inbox and click the link to verify your "
    "account before you continue reading our coverage and newsletters every day."
)


def story(sid: str, title: str, text: str, hours: float = 0.0, source: str = "a.test") -> StoryText:
    return StoryText(
        sid, T0 + timedelta(hours=hours), title, text, source, f"https://{source}/{sid}"
    )


class Stream:
    def __init__(self) -> None:
        self.index = MemoryNearDupIndex()
        self.seen: dict[str, StoryText] = {}

    def push(self, s: StoryText) -> str | None:
        match = find_duplicate(s, self.index, self.seen.get)
        fp = fingerprint(s)
        self.index.add(s.id, fp.bands, fp.signature)
        self.seen[s.id] = s
        return match.story_id if match else None


def test_reprint_with_new_dateline_and_credit_is_duplicate_of_earliest() -> None:
    st = Stream()
    assert st.push(story("a", "Man wounded outside Millbrook diner", WIRE)) is None
    reprint = "MILLBROOK (AP) — " + WIRE + " Copyright 2024 The Associated Press."
    assert st.push(story("b", "Man wounded outside Millbrook diner", reprint, 3, "b.test")) == "a"
    edited = WIRE.replace("Saturday night", "late Saturday")
    third = story("c", "Man shot outside Millbrook diner, police say", edited, 5, "c.test")
    assert st.push(third) == "a"


def test_summary_of_a_longer_copy_is_a_duplicate() -> None:
    st = Stream()
    longer = WIRE + " The diner's owner said the lot would get new lights next week."
    assert st.push(story("a", "Man wounded outside Millbrook diner", longer)) is None
    lead = " ".join(WIRE.split()[:45])
    assert st.push(story("b", "Millbrook diner shooting leaves man hurt", lead, 1)) == "a"


def test_blog_reprint_under_its_own_fixed_headline_is_duplicate() -> None:
    st = Stream()
    st.push(story("a", "Man wounded outside Bluebird Diner in Millbrook", WIRE))
    assert st.push(story("b", "Daily crime roundup", WIRE, 2, "blog.test")) == "a"


def test_different_story_is_not_duplicate() -> None:
    st = Stream()
    st.push(story("a", "Man wounded outside Millbrook diner", WIRE))
    other = (
        "Two teenagers were arrested Sunday after a shooting at a basketball court in Eastvale "
        "left a 16-year-old girl injured, according to the Eastvale County sheriff. Deputies "
        "recovered a handgun near the court and said the victim is expected to recover."
    )
    assert st.push(story("b", "Two teens arrested after Eastvale court shooting", other, 4)) is None


def test_shared_site_boilerplate_is_not_a_duplicate() -> None:
    st = Stream()
    assert st.push(story("a", "Fire destroys barn near Oakfield", BOILER)) is None
    assert st.push(story("b", "Council approves new budget for schools", BOILER, 2)) is None
    index, seen = st.index, st.seen
    third = story("c", "Bridge closed for repairs on Route 9", BOILER, 4)
    result = check(third, index, seen.get)
    assert result.match is None
    assert result.template


def test_identical_long_headline_with_no_body_is_duplicate() -> None:
    st = Stream()
    title = "Police identify man wounded outside Millbrook diner on Saturday"
    assert st.push(story("a", title, "")) is None
    assert st.push(story("b", title, "", 1)) == "a"
    assert st.push(story("c", "Police update", "", 2)) is None


def test_index_returns_candidates_in_insertion_order_once() -> None:
    index = MemoryNearDupIndex()
    index.add("x", [1, 2], (0,))
    index.add("y", [2, 3], (0,))
    index.add("x", [9], (0,))
    assert index.candidates([3, 2, 1]) == ["x", "y"]
    assert index.candidates([7]) == []
    assert len(index) == 2
