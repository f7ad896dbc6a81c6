"""Behaviour of the text features (texts written for these tests)."""

import os
import random
import subprocess
import sys
from pathlib import Path

from monitor.stories.textfeatures import (
    MinHasher,
    fold,
    idf,
    is_person,
    names,
    person_key,
    sentences,
    shingles,
    stable_hash64,
    stem,
    term_vector,
    url_words,
    words,
)

ROOT = str(Path(__file__).resolve().parents[1])
TEXT = (
    "RIVERTON — Police said Tuesday that Maria López, 34, was hurt at 2 a.m. Monday on Elm "
    "Street. Sgt. J. Rivera of the Riverton Police Department said the shooter fled. "
    '"We are looking for him," Rivera said. Mr. Dunn was not hurt!'
)


def test_fold_and_words_strip_accents_and_case() -> None:
    assert fold("Café ÉLAN") == "cafe elan"
    assert words("José’s car, 3 DOORS") == ["jose", "car", "3", "doors"]


def test_sentences_respect_abbreviations_and_initials() -> None:
    assert sentences(TEXT) == [
        "RIVERTON — Police said Tuesday that Maria López, 34, was hurt at 2 a.m. Monday on Elm "
        "Street.",
        "Sgt. J. Rivera of the Riverton Police Department said the shooter fled.",
        '"We are looking for him," Rivera said.',
        "Mr. Dunn was not hurt!",
    ]
    assert sentences("") == []


def test_names_finds_people_places_and_datelines() -> None:
    found = names(TEXT)
    assert "maria lopez" in found
    assert "elm street" in found
    assert "riverton" in found  # all-caps dateline
    assert "dunn" in found  # after "Mr.", not a sentence start
    assert not any("tuesday" in n.split() for n in found)


def test_names_end_at_commas_brackets_and_slashes() -> None:
    assert names("victims Andrew Parmele, Shilo Thomas and Bo Ray were") == [
        "andrew parmele",
        "shilo thomas",
        "bo ray",
    ]
    assert names("PHILADELPHIA (CBS) — Police said") == ["philadelphia", "cbs"]
    assert names("Tony Cook / The Star reports") == ["tony cook", "star"]
    assert names("Police identified Jo Lee [pictured] on Monday") == ["jo lee"]


def test_shingles_are_stable_and_short_texts_have_one() -> None:
    assert shingles(["a", "b", "c", "d"]) == shingles(["a", "b", "c", "d"])
    assert len(shingles(["a", "b", "c", "d"])) == 2
    assert len(shingles(["a", "b"])) == 1
    assert shingles([]) == frozenset()


def test_hashes_are_the_same_in_another_process() -> None:
    code = (
        "from monitor.stories.textfeatures import MinHasher, shingles, stable_hash64, words;"
        "h = MinHasher(); print(stable_hash64('abc'), h.band_keys(h.signature("
        "shingles(words('one two three four five')))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": ROOT}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=1)
    h = MinHasher()
    assert int(out[0]) == stable_hash64("abc")
    assert out[1].strip() == str(
        h.band_keys(h.signature(shingles(words("one two three four five"))))
    )


def test_minhash_estimates_jaccard_and_bands_are_deterministic() -> None:
    hasher = MinHasher()
    a = shingles(words("the quick brown fox jumps over the lazy dog near the river bank today"))
    b = shingles(words("the quick brown fox jumps over the lazy dog near the river bank now"))
    c = shingles(words("a completely different sentence about city council budget votes here"))
    sa, sb, sc = hasher.signature(a), hasher.signature(b), hasher.signature(c)
    assert len(sa) == 128
    true_j = len(a & b) / len(a | b)
    assert abs(MinHasher.estimate_jaccard(sa, sb) - true_j) < 0.2
    assert MinHasher.estimate_jaccard(sa, sc) < 0.2
    assert set(hasher.band_keys(sa)) & set(hasher.band_keys(sb))
    assert not set(hasher.band_keys(sa)) & set(hasher.band_keys(sc))
    assert MinHasher().band_keys(sa) == hasher.band_keys(sa)
    assert all(0 <= k < 2**63 for k in hasher.band_keys(sa))


def test_minhash_equals_big_integer_arithmetic_at_the_edges() -> None:
    """The vectorised uint64 arithmetic gives exactly ``min((a*x + b) mod (2**61 - 1))``."""
    p = (1 << 61) - 1
    hasher = MinHasher(num_perm=8, bands=2, seed=7)
    rng = random.Random(7)
    params = [(rng.randrange(1, p), rng.randrange(0, p)) for _ in range(8)]
    edges = {0, 1, p - 1, p, p + 1, 2**61, 2**63, 2**64 - 1, 2**64 - 2, 0xDEADBEEFCAFEBABE}
    for xs in [edges, {2**64 - 1}, {p}, set(range(1000, 1100))]:
        expected = tuple(min((a * (x % p) + b) % p for x in xs) for a, b in params)
        assert hasher.signature(xs) == expected
    assert hasher.signature([]) == (p,) * 8
    assert all(type(v) is int for v in hasher.signature(edges))


def test_stem_joins_inflections_and_number_words() -> None:
    assert stem("shootings") == stem("shooting") == stem("shoots")
    assert stem("killed") == stem("kills")
    assert stem("four") == "4"


def test_term_vector_boosts_names_and_drops_stopwords() -> None:
    vec = term_vector("Woman hurt on Elm Street", TEXT)
    assert "the" not in vec
    assert "p:maria lopez" in vec  # a person's name
    assert "n:elm street" in vec  # a place
    assert vec["lopez"] > vec["fled"]
    assert vec["34"] > vec["fled"]
    assert "fled" not in term_vector("x", TEXT, drop={"fled"})


def test_idf_prefers_rare_terms() -> None:
    assert idf(0, 100) > idf(5, 100) > idf(90, 100) > 0


def test_is_person_tells_people_from_places_and_page_furniture() -> None:
    assert is_person("maria lopez")
    assert is_person("sgt j rivera")  # title stripped, initial kept
    assert is_person("police chief dana okafor")
    assert person_key("police chief dana okafor") == "dana okafor"
    assert not is_person("elm street")
    assert not is_person("riverton police department")
    assert not is_person("harlowe county")
    assert not is_person("memphis tenn")
    assert not is_person("pm edt updated")
    assert not is_person("riverton")


URL_CASES = [
    ("https://a.example/news/charges-pending-against-teen-after-brainerd-shooting/1248210/",
     "charges pending against teen after brainerd shooting"),
    ("http://a.example/news/local/man-shot-dead-in-harlowe.html#top", "man shot dead in harlowe"),
    ("https://a.example/story_2016_03_16_teen_charged_in_harlowe?utm_source=rss",
     "story teen charged in harlowe"),
    ("https://a.example/article/8627123?id=a-b-c-d", ""),  # no slug (the query does not count)
    ("https://a.example/2016/03/16/teen-charged.html", ""),  # two words: not a slug
    ("", ""),
]  # fmt: skip


def test_url_words_read_the_slug() -> None:
    for url, expected in URL_CASES:
        assert url_words(url) == expected, url
