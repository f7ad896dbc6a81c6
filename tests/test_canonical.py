"""Canonical URLs: the same story under different URLs meets, different stories do not."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.stories.canonical import canonical_url

CANONICAL = [
    # scheme, host case, default ports, www
    ("http://example.com/news/a", "https://example.com/news/a"),
    ("HTTPS://Example.COM/news/a", "https://example.com/news/a"),
    ("http://example.com:80/news/a", "https://example.com/news/a"),
    ("https://example.com:443/news/a", "https://example.com/news/a"),
    ("https://example.com:8443/news/a", "https://example.com:8443/news/a"),
    ("http://example.com:443/a", "https://example.com/a"),  # http and https are one
    ("https://example.com:80/a", "https://example.com/a"),
    ("https://www.example.com/news/a", "https://example.com/news/a"),
    ("https://user:secret@example.com/a", "https://example.com/a"),
    ("https://example.com./a", "https://example.com/a"),
    ("  https://example.com/a\n", "https://example.com/a"),
    ("https://192.168.1.20:8080/a", "https://192.168.1.20:8080/a"),
    ("http://[2001:DB8::1]:80/a", "https://[2001:db8::1]/a"),
    # internationalised hosts
    ("https://Bücher.example/a", "https://xn--bcher-kva.example/a"),
    ("https://XN--BCHER-KVA.example/a", "https://xn--bcher-kva.example/a"),
    ("https://faß.de/a", "https://xn--fa-hia.de/a"),
    # fragments
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com/#!/story/12", "https://example.com/#!/story/12"),
    # path: slashes, dot segments, percent-encoding
    ("https://example.com/", "https://example.com/"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/news/a/", "https://example.com/news/a"),
    ("https://example.com//news///a", "https://example.com/news/a"),
    ("https://example.com/news/./x/../a", "https://example.com/news/a"),
    ("https://example.com/%7euser/%41%2d", "https://example.com/~user/A-"),
    ("https://example.com/a%2fb/caf%c3%a9", "https://example.com/a%2Fb/caf%C3%A9"),
    ("https://example.com/café story", "https://example.com/caf%C3%A9%20story"),
    ("https://example.com/News/A", "https://example.com/News/A"),  # paths are case-sensitive
    # query: tracking dropped, the rest sorted stably
    ("https://example.com/a?utm_source=tw&utm_medium=social", "https://example.com/a"),
    ("https://example.com/a?UTM_Campaign=x&id=3", "https://example.com/a?id=3"),
    ("https://example.com/a?fbclid=IwAR0&gclid=1&dclid=2&msclkid=3", "https://example.com/a"),
    ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3&yclid=4&_ga=5", "https://example.com/a"),
    ("https://example.com/a?ref_src=twsrc&ref=hn&cmpid=rss&ocid=msn", "https://example.com/a"),
    (
        "https://example.com/a?smid=tw-share&taid=1&at_medium=rss&at_campaign=x",
        "https://example.com/a",
    ),
    (
        "https://example.com/a?__twitter_impression=true&wt_mc=rss&CMP=share",
        "https://example.com/a",
    ),
    (
        "https://example.com/a?pk_campaign=x&mtm_source=y&_hsenc=z&xtor=RSS-1",
        "https://example.com/a",
    ),
    ("https://example.com/a?p=12&story=7&id=3", "https://example.com/a?id=3&p=12&story=7"),
    ("https://example.com/a?tag=b&tag=a", "https://example.com/a?tag=b&tag=a"),  # stable
    ("https://example.com/a?q=a+b&x=%41&&y=%26", "https://example.com/a?q=a+b&x=A&y=%26"),
    ("https://example.com/a?", "https://example.com/a"),
    # AMP and mobile variants
    ("https://m.example.com/news/a", "https://example.com/news/a"),
    ("https://mobile.example.com/news/a", "https://example.com/news/a"),
    ("https://amp.example.com/news/a", "https://example.com/news/a"),
    ("https://www.example.co.uk/news/a", "https://example.co.uk/news/a"),
    ("https://example.com/news/a/amp", "https://example.com/news/a"),
    ("https://example.com/news/a/amp/", "https://example.com/news/a"),
    ("https://example.com/amp/news/a", "https://example.com/news/a"),
    ("https://example.com/news/a.amp", "https://example.com/news/a"),
    ("https://example.com/news/a.amp.html", "https://example.com/news/a.html"),
    ("https://example.com/news/a?amp=1", "https://example.com/news/a"),
    ("https://example.com/news/a?outputType=amp", "https://example.com/news/a"),
    (
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/a/amp?amp_js_v=0.1",
        "https://example.com/news/a",
    ),
    ("https://www.google.com/amp/s/m.example.com/news/a.amp", "https://example.com/news/a"),
    # ... but not where they may be something else
    ("https://www.com/a", "https://www.com/a"),
    ("https://m.co.uk/a", "https://m.co.uk/a"),
    ("https://amp.dev/a", "https://amp.dev/a"),
    ("https://example.com/amp", "https://example.com/amp"),
    ("https://example.com/news/.amp", "https://example.com/news/.amp"),
    ("https://example.com/news/a?amp=0", "https://example.com/news/a?amp=0"),
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL)
def test_canonical_form(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", [c for _, c in CANONICAL])
def test_canonical_form_is_a_fixed_point(url: str) -> None:
    assert canonical_url(url) == url


INVALID = [
    "",
    "example.com/news/a",
    "//example.com/news/a",
    "/news/a",
    "ftp://example.com/a",
    "mailto:desk@example.com",
    "javascript:alert(1)",
    "http://",
    "http:///news/a",
    "http://exa mple.com/a",
    "http://example.com:99999/a",
    "http://example.com:port/a",
    "http://[::1/a",
    "http://a..b/a",
    "https://example.com/\ud800",
]


@pytest.mark.parametrize("url", INVALID)
def test_not_an_http_url_has_no_canonical_form(url: str) -> None:
    assert canonical_url(url) is None


DIFFERENT_STORIES = [
    ("https://example.com/story?id=1", "https://example.com/story?id=2"),
    ("https://example.com/index.php?p=100", "https://example.com/index.php?p=101"),
    ("https://example.com/news/a", "https://example.com/news/b"),
    ("https://example.com/news/a", "https://example.com/sport/a"),
    ("https://example.com/News/A", "https://example.com/news/a"),
    ("https://example.com/news/a", "https://example.org/news/a"),
    ("https://news.example.com/a", "https://example.com/a"),
    ("https://example.com/a", "https://example.com:8080/a"),
    ("https://example.com/a%2Fb", "https://example.com/a/b"),
    ("https://example.com/a?tag=1&tag=2", "https://example.com/a?tag=2&tag=1"),
    ("https://example.com/a?q=x%26y", "https://example.com/a?q=x&y"),
    ("https://example.com/#!/story/1", "https://example.com/#!/story/2"),
    ("https://example.com/a?story=5", "https://example.com/a"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT_STORIES)
def test_different_stories_do_not_collapse(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


_PIECES = [*"/.?&=#%!+é ", "amp", "utm_a", "%2e", "%7E", "a", "B"]


@given(
    st.sampled_from(["http://", "HTTPS://www.", "https://m."]),
    st.sampled_from(["example.com", "Bücher.de", "x.cdn.ampproject.org/c/s/", "[::1]"]),
    st.lists(st.sampled_from(_PIECES), max_size=20).map("".join),
)
def test_canonical_form_of_anything_is_a_fixed_point(scheme: str, host: str, rest: str) -> None:
    url = canonical_url(scheme + host + "/" + rest)
    assert url is None or canonical_url(url) == url
