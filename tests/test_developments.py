"""Development tracking on small texts written for these tests."""

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from monitor.detect.developments import Assignment, DevelopmentTracker, new_sentences
from monitor.detect.devstate import MemoryDevelopmentStore, StoryState
from monitor.detect.eventfacts import EventFacts
from monitor.detect.linkmodel import (
    LINK_FEATURES,
    MIN_COSINE,
    LinkModel,
    day_shares,
    eligible,
    link_features,
    load_model,
    rare_words,
)
from monitor.stories.dedup import StoryText
from monitor.stories.textfeatures import term_vector

T0 = datetime(2024, 5, 4, 9, 0, tzinfo=UTC)

FIRST = (
    "Two men were wounded early Saturday in a shooting outside the Copper Kettle bar on Delancey "
    "Road in Harlowe, police said. Officers found Ravi Okonjo, 31, and Dale Pruitt, 28, in the "
    "parking lot. Both were taken to Saint Brigid Medical Center."
)
SECOND = (
    "Harlowe police on Sunday released the names of the two men shot outside the Copper Kettle "
    "bar on Delancey Road. Ravi Okonjo and Dale Pruitt remain hospitalized. Detectives are "
    "reviewing video from the bar."
)
FOLLOW = (
    "Ravi Okonjo and Dale Pruitt were wounded outside the Copper Kettle bar on Delancey Road. "
    "Harlowe police arrested Curtis Vandermeer, 24, on Tuesday. "
    "He faces two counts of aggravated assault."
)
OTHER = (
    "A woman was killed Friday night when gunfire erupted at a birthday party on Windmere Court "
    "in Ashby Falls, the Pell County sheriff said. Deputies identified her as Lorna Whitcombe, "
    "45. No arrests have been made."
)
FILLER = [
    (
        "Storm knocks out power across Fenwick",
        "Crews in Fenwick restored electricity to 4,000 "
        "homes after high winds toppled lines along Quarry Street on Thursday.",
    ),
    (
        "School board picks new superintendent",
        "The Brackett school board chose Amina Solberg, "
        "a former principal from Tiverton, as superintendent in a 5-2 vote.",
    ),
    (
        "Library expands weekend hours",
        "The Oxley public library will open on Sundays starting "
        "in June after the city council approved extra funding for staff.",
    ),
]


def s(sid: str, title: str, text: str, days: float) -> StoryText:
    return StoryText(sid, T0 + timedelta(days=days), title, text, "news.test", f"https://n/{sid}")


def tracker_with_filler() -> DevelopmentTracker:
    tr = DevelopmentTracker(MemoryDevelopmentStore())
    for i, (title, text) in enumerate(FILLER):
        assert tr.assign(s(f"f{i}", title, text, -30 + i)).is_new
    return tr


def test_two_reports_of_one_event_form_one_development() -> None:
    tr = tracker_with_filler()
    a = tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    b = tr.assign(s("b", "Police name men shot outside Copper Kettle", SECOND, 1))
    assert a.is_new and a.development_id == "a"
    assert not b.is_new
    assert b.development_id == "a"
    assert b.matched_story == "a"
    assert b.similarity > 0


def test_different_event_opens_second_development() -> None:
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    c = tr.assign(s("c", "Woman killed at Ashby Falls birthday party", OTHER, 0.5))
    assert c.is_new
    assert c.development_id == "c"
    assert c.what_is_new[0] == "Woman killed at Ashby Falls birthday party"


def test_what_is_new_lists_only_the_new_sentences_of_a_follow_up() -> None:
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    tr.assign(s("b", "Police name men shot outside Copper Kettle", SECOND, 1))
    d = tr.assign(s("d", "Harlowe arrest in Copper Kettle shooting", FOLLOW, 3))
    assert d.development_id == "a"
    assert d.what_is_new == (
        "Harlowe police arrested Curtis Vandermeer, 24, on Tuesday.",
        "He faces two counts of aggravated assault.",
    )


def test_duplicate_joins_its_originals_development_with_nothing_new() -> None:
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    tr.assign(s("c", "Woman killed at Ashby Falls birthday party", OTHER, 0.5))
    dup = tr.assign(s("e", "Two men wounded outside Harlowe bar", FIRST, 0.6), duplicate_of="a")
    assert dup.development_id == "a"
    assert not dup.is_new
    assert dup.similarity == 1.0
    assert dup.what_is_new == ()


def test_decide_changes_nothing_and_commit_stores_what_assign_would() -> None:
    tr, twin = tracker_with_filler(), tracker_with_filler()
    a = s("a", "Two men wounded outside Harlowe bar", FIRST, 0)
    b = s("b", "Police name men shot outside Copper Kettle", SECOND, 1)
    unlinked = tr.decide(a)
    assert unlinked.development_id is None
    assert tr.commit(unlinked, may_open=False) == Assignment("", False, 0.0, ())
    assert tr.store.n_docs() == len(FILLER) and tr.store.development("a") is None
    for story in (a, b):
        assert tr.commit(tr.decide(story)) == twin.assign(story)
    assert tr.store.story("b") == twin.store.story("b")
    assert tr.store.seen_words("a") == twin.store.seen_words("a")


def test_old_development_needs_a_higher_bar() -> None:
    assert DevelopmentTracker.bar(0) < DevelopmentTracker.bar(3) < DevelopmentTracker.bar(30)
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    # months later, sharing only the town and generic words: a new development
    later = s("g", "Harlowe man hurt in shooting", "A man was hurt in a shooting in Harlowe.", 200)
    assert tr.assign(later).is_new


def test_new_sentences_helper() -> None:
    seen = {"harlowe", "police", "bar"}
    assert new_sentences("", "Harlowe police bar. Vandermeer charged today.", seen) == (
        "Vandermeer charged today.",
    )


COURT = (
    "Curtis Vandermeer, 24, pleaded guilty Monday to aggravated assault. Prosecutors said he "
    "fired into a crowd last spring, wounding Ravi Okonjo and Dale Pruitt."
)


def test_link_features_count_rare_shared_people_apart_from_places() -> None:
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    other = tr.store.story("a")
    assert other is not None
    vec = {"p:ravi okonjo": 1.0, "n:delancey road": 1.0, "harlowe": 1.0, "31": 1.0}
    ages = frozenset({31, 40})  # Ravi Okonjo, 31 (and someone of 40 the first story does not name)
    new = StoryState("n", T0 + timedelta(days=100), "", vec, "news.test", EventFacts(ages=ages))
    feats = dict(
        zip(LINK_FEATURES, link_features(new, other, 0.3, 100.0, lambda t: True), strict=True)
    )
    assert feats["person"] == 1.0
    assert feats["place"] == 1.0
    assert feats["ages"] == 1.0
    assert feats["same_source"] == 1.0
    assert feats["thin"] == 1.0
    assert feats["log_age"] == math.log1p(100.0)
    # a story older than the one it is weighed against (a first poll of many feeds hands
    # detection its stories feed by feed) is as many days apart
    older = link_features(new, other, 0.3, -3.0, lambda t: True)
    assert dict(zip(LINK_FEATURES, older, strict=True))["log_age"] == math.log1p(3.0)
    assert (feats["same_day"], feats["same_time"]) == (0.0, 0.0)  # the new one names no day
    assert (feats["rank"], feats["cos_gap"]) == (0.0, 0.0)
    ranked = link_features(new, other, 0.3, 100.0, lambda t: True, rank=4, best_cosine=0.5)
    assert dict(zip(LINK_FEATURES, ranked, strict=True))["rank"] == 4.0
    assert abs(dict(zip(LINK_FEATURES, ranked, strict=True))["cos_gap"] - 0.2) < 1e-12


def test_link_features_read_the_days_and_clock_times_two_stories_name() -> None:
    """The earlier story says "early Saturday" (the day it was published); a story 12 days
    later that names that day ("the May 4 shooting") and its clock time meets it on both, one
    that names another day and time on neither."""
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST + " It was 1:40 a.m.", 0))
    other = tr.store.story("a")
    assert other is not None

    def feats(days: frozenset[int], times: frozenset[int]) -> tuple[float, float]:
        new = StoryState(
            "n", T0 + timedelta(days=12), "", {"harlowe": 1.0}, "", EventFacts(days, times)
        )
        f = link_features(new, other, 0.3, 12.0, lambda t: True)
        f = dict(zip(LINK_FEATURES, f, strict=True))
        return f["same_day"], f["same_time"]

    may4, may1 = T0.date().toordinal(), T0.date().toordinal() - 3
    assert feats(frozenset({may4}), frozenset({100})) == (1.0, 1.0)
    assert feats(frozenset({may1}), frozenset({200})) == (0.0, 0.0)


def test_link_features_read_the_streets_and_ages_two_stories_name() -> None:
    """Both name a street (or an age): one in common, or none (two incidents); a story that
    names none says nothing either way."""
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))  # Delancey Road; 31, 28
    other = tr.store.story("a")
    assert other is not None
    assert (other.facts.streets, other.facts.ages) == ({"delancey road"}, {31, 28})
    cases = [
        ({"delancey road"}, {28}, (1.0, 0.0, 1.0, 0.0)),
        ({"quarry street"}, {45}, (0.0, 1.0, 0.0, 1.0)),
        (set(), set(), (0.0, 0.0, 0.0, 0.0)),
    ]
    for streets, ages, expected in cases:
        new = StoryState(
            "n", T0 + timedelta(days=3), "", {"harlowe": 1.0},
            facts=EventFacts(streets=frozenset(streets), ages=frozenset(ages)),
        )  # fmt: skip
        f = dict(
            zip(LINK_FEATURES, link_features(new, other, 0.3, 3.0, lambda t: True), strict=True)
        )
        assert (f["same_street"], f["streets_differ"], f["ages"], f["ages_differ"]) == expected


def test_a_follow_up_naming_the_day_of_the_event_joins_it() -> None:
    """Twelve days later, few words in common: naming the day of the shooting is what links
    the report to it; the same text without the day opens a development of its own."""
    text = "Harlowe detectives questioned a man on Thursday about the {}shooting."
    for day, joins in (("May 4 ", True), ("", False)):
        tr = tracker_with_filler()
        tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
        arrest = tr.assign(s("b", "Man questioned in Harlowe", text.format(day), 12))
        assert arrest.is_new is not joins
        assert (arrest.development_id == "a") is joins


def test_a_paywalled_follow_up_joins_by_the_words_of_its_link() -> None:
    """A headline and a sign-in page (a template body): too little in common with the first
    report alone; its link's slug names the bar and the town. The slug counts in the vector,
    never in "what is new"."""
    slug = "https://news.test/news/2024/05/05/arrest-made-in-copper-kettle-bar-shooting-in-harlowe"
    for url, joins in (("https://news.test/n/h", False), (slug, True)):
        tr = tracker_with_filler()
        tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
        story = replace(s("h", "Arrest made in bar shooting", "", 3), url=url)
        arrest = tr.assign(story, template=True)
        assert (arrest.development_id == "a") is joins
        assert arrest.what_is_new == ("Arrest made in bar shooting",)


def tracker_with_corpus() -> DevelopmentTracker:
    """The filler and 60 more unrelated local stories: a topic's store with some history, so
    that rarity (IDF) means what it means in use."""
    tr = tracker_with_filler()
    towns = ["Fenwick", "Brackett", "Oxley", "Tiverton", "Calder", "Ennis", "Morrow", "Pell"]
    things = ["library", "bridge", "school", "park", "market", "museum", "ferry", "clinic"]
    for k, (town, thing) in enumerate((t, x) for t in towns for x in things[:7]):
        text = (
            f"The {thing} in {town} reopened on Monday after repairs costing {k + 10},000 dollars."
        )
        tr.assign(s(f"g{k}", f"{town} {thing} reopens", text, -29 + k * 0.4))
    return tr


def test_court_follow_up_months_later_joins_by_the_shared_people() -> None:
    tr = tracker_with_corpus()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    court = tr.assign(s("h", "Gunman pleads guilty", COURT, 60))
    assert not court.is_new
    assert court.development_id == "a"


def test_previous_bar_rule_is_still_available() -> None:
    tr = DevelopmentTracker(MemoryDevelopmentStore(), model=None)
    for i, (title, text) in enumerate(FILLER):
        tr.assign(s(f"f{i}", title, text, -30 + i))
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    b = tr.assign(s("b", "Police name men shot outside Copper Kettle", SECOND, 1))
    assert b.development_id == "a"


def test_observer_sees_the_pairs_considered() -> None:
    seen: list[tuple[str, str]] = []
    tr = DevelopmentTracker(observer=lambda a, b, f: seen.append((a, b)))
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    tr.assign(s("b", "Police name men shot outside Copper Kettle", SECOND, 1))
    assert ("b", "a") in seen


def _random_stream(count: int, seed: int) -> list[StoryText]:
    rng = random.Random(seed)
    vocab = [f"{w}{i}" for i, w in enumerate(("storm", "court", "fire", "vote", "crash") * 60)]
    people = ["Ravi Okonjo", "Dale Pruitt", "Lorna Whitcombe", "Amina Solberg", "Curtis Vandermeer"]
    places = ["Delancey Road", "Ashby Falls", "Quarry Street", "Pell County"]
    out = []
    for i in range(count):
        ws = rng.choices(vocab[: 40 + i], k=rng.randint(3, 60))
        ws += rng.sample(people, rng.randint(0, 2)) + rng.sample(places, rng.randint(0, 2))
        ws += [str(rng.randint(10, 40)) for _ in range(rng.randint(0, 2))]
        rng.shuffle(ws)
        title = " ".join(rng.choices(vocab[: 40 + i], k=4))
        source = f"s{rng.randint(0, 3)}.test"
        out.append(
            StoryText(f"r{i}", T0 + timedelta(hours=7 * i), title, ". ".join(ws), source, "")
        )
    return out


def test_term_index_and_pruning_decide_exactly_as_term_by_term() -> None:
    indexed = MemoryDevelopmentStore()
    assert indexed.term_index is not None
    indexed.term_index.MIN_TERMS = 0  # always by the index
    fast = DevelopmentTracker(indexed)
    plain = DevelopmentTracker(MemoryDevelopmentStore(term_index=False))
    # an observer sees every pair: no candidate is pruned from the link decision
    unpruned = DevelopmentTracker(observer=lambda story, other, features: None)
    for story in _random_stream(400, seed=7):
        vector = term_vector(story.title, story.text)
        assert fast.nearest(story, vector) == plain.nearest(story, vector)
        a = fast.assign(story)
        assert a == plain.assign(story) == unpruned.assign(story)


def test_link_model_scores_its_trees() -> None:
    """One tree by hand: root on cos at 0.5, then person (left) and same_day (right)."""
    tree = [0, 0.5, 2, 0.0, 7, 0.0, -2.0, 1.0, 0.5, 2.0]
    model = LinkModel.from_dict(
        {"features": list(LINK_FEATURES), "base": 0.25, "threshold": 0.4, "trees": [tree]}
    )
    row = [0.0] * len(LINK_FEATURES)
    low_cos_person = [0.2, 0.0, 1.0, *row[3:]]
    high_cos_day = [0.9, *row[1:7], 1.0, *row[8:]]
    assert model.scores(np.asarray([row, low_cos_person, high_cos_day])).tolist() == [
        -1.75, 1.25, 2.25,
    ]  # fmt: skip
    assert model.probabilities([]) == []
    with pytest.raises(ValueError, match="features"):
        LinkModel.from_dict({"features": ["cos"], "base": 0, "threshold": 0.5, "trees": [tree]})
    shipped = load_model()
    assert shipped.features == LINK_FEATURES and len(shipped.leaves) > 10


def test_a_court_follow_up_carries_its_stage() -> None:
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    tr.assign(s("h", "Gunman pleads guilty", COURT, 60))
    first, court = tr.store.story("a"), tr.store.story("h")
    assert first is not None and court is not None
    assert (first.facts.stage, court.facts.stage) == (0, 3)  # pleaded, guilty, Prosecutors


def _row(**values: float) -> tuple[float, ...]:
    return tuple(values.get(name, 0.0) for name in LINK_FEATURES)


def test_a_pair_needs_some_text_or_a_specific_in_common() -> None:
    """A day several candidates meet, with little text in common, is not enough (a busy
    topic); a day no other candidate meets is (a quiet one: the report of the day after)."""
    assert not eligible(_row(cos=MIN_COSINE - 0.01, same_day=0.5, same_source=1.0))
    assert eligible(_row(cos=0.02, same_day=1.0))
    assert eligible(_row(cos=MIN_COSINE))
    for specific in ("person", "place", "ages", "same_time", "same_street"):
        assert eligible(_row(cos=0.02, **{specific: 1.0}))
    # a model that links everything it is asked about: only the guard keeps a pair apart
    always = LinkModel.from_dict(
        {
            "features": list(LINK_FEATURES),
            "base": 10.0,
            "threshold": 0.4,
            "trees": [[0, 0.0, 0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0]],
        }
    )
    tr = DevelopmentTracker(MemoryDevelopmentStore(), model=always)
    for i, (title, text) in enumerate(FILLER):
        tr.assign(s(f"f{i}", title, text, -30 + i))
    # a busy day: two stories of a fair name Saturday (the second joins the first: the only
    # candidate meeting its day is weighed, and this model links all it weighs)
    tr.assign(s("x", "Ashby fair opens", "The Ashby county fair opened on Saturday.", -0.2))
    tr.assign(s("y", "Ashby fair crowds", "Crowds came to the Ashby fair on Saturday.", -0.1))
    a = tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    assert a.is_new  # a day two candidates meet, and no text in common: not weighed
    # the same day ("Saturday") as three, and a word in common with one (the bar): a
    # development of its own
    b = tr.assign(s("b", "Brenton bar closes", "The Brenton bar closed early Saturday.", 0.2))
    assert b.is_new
    c = tr.assign(s("c", "Harlowe bar shooting", SECOND, 1))
    assert c.development_id == "a"


def test_a_day_many_candidates_name_counts_for_less() -> None:
    """``same_day`` is 1 / (how many candidates meet the day)."""
    one = [_row(cos=0.3, same_day=1.0), _row(cos=0.2)]
    assert day_shares(one) == one
    three = [_row(cos=c, same_day=1.0) for c in (0.3, 0.2, 0.1)] + [_row(cos=0.05)]
    shared = day_shares(three)
    day = LINK_FEATURES.index("same_day")
    assert [r[day] for r in shared] == [1 / 3, 1 / 3, 1 / 3, 0.0]
    assert [r[0] for r in shared] == [0.3, 0.2, 0.1, 0.05]


def test_rare_words_shared_are_summed_by_their_idf() -> None:
    """Words (not names) in at most 1% of the stream and 2 more stories count, by IDF."""
    df = {"dice": 0, "game": 4, "shooting": 40, "p:ravi okonjo": 0}.__getitem__
    vec = {"dice": 1.0, "game": 1.0, "shooting": 2.0, "p:ravi okonjo": 1.0}
    words = rare_words(vec, df, 100)
    assert set(words) == {"dice"}  # "game": 4 > 1% of 100 + 2; names are counted apart
    assert words["dice"] == math.log(101.0) + 1.0
    tr = tracker_with_filler()
    tr.assign(s("a", "Two men wounded outside Harlowe bar", FIRST, 0))
    other = tr.store.story("a")
    assert other is not None
    new = StoryState("n", T0 + timedelta(days=2), "", {"kettl": 1.0, "copper": 1.0, "x": 1.0})
    f = dict(
        zip(
            LINK_FEATURES,
            link_features(
                new, other, 0.3, 2.0, lambda t: True, rare_words={"kettl": 2.5, "x": 4.0}
            ),
            strict=True,
        )
    )
    assert f["rare_words"] == 2.5  # "kettl" (stemmed) is in the first report, "x" is not
