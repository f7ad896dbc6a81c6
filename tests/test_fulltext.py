"""Full text: teaser feeds whose article pages (and robots.txt) are served on 127.0.0.1; the
service's pipeline, its full-text round and its detection stage, on an injected clock."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from monitor import logs
from monitor.clock import FixedClock
from monitor.config import load
from monitor.reader.fetch import FetchLimits
from monitor.reader.politeness import HostLimiter
from monitor.service.core import Service
from monitor.service.daemon import open_service
from monitor.stories.fulltext import ROBOTS_RETRY, ROBOTS_TTL, Robots, fetch_article, is_notice
from tests.conftest import DaemonProcess, FeedServer, Receiver, rss

T0 = datetime.now(UTC).replace(microsecond=0)
QUERY = "Ukraine OR Kyiv"

ARTICLE = """
The Pentagon has begun planning joint air-defence exercises with Ukraine for the spring of
2027, defence secretary Pete Hegseth said on Tuesday. The drills would take place in Poland and
Romania and involve about 4,000 troops from nine countries, he told reporters in Brussels after
a meeting of the Ukraine Defense Contact Group. Kyiv welcomed the plan as a first step towards
the security guarantees promised by its allies. Germany has offered two Patriot batteries for
the exercises, and the Netherlands said it would send F-35 fighters for the air patrols that
would accompany them. Officials said the first phase would test how quickly allied air
defences could be moved to protect Ukrainian ports and power stations.
"""


def page(title: str, body: str) -> bytes:
    """An article page with the furniture of a real site around the text."""
    paragraphs = "".join(f"<p>{p.strip()}</p>" for p in body.strip().split(". ") if p.strip())
    return f"""<!doctype html><html><head><title>{title}</title></head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
</header>
<main><article><h1>{title}</h1><p class="byline">By Staff Reporter</p>{paragraphs}</article>
</main>
<aside><h3>Most read</h3><ul><li><a href="/a">Storm closes Alpine passes</a></li>
<li><a href="/b">Rail strike called off</a></li></ul></aside>
<footer>Copyright 2026 Example News. All rights reserved.</footer></body></html>""".encode()


PAYWALL = b"""<!doctype html><html><body><main><h1>Exclusive: guarantees for Kyiv</h1>
<p>Subscribe now to continue reading. Already a subscriber? Sign in to continue.</p>
</main></body></html>"""


@asynccontextmanager
async def service_for(config: Path, clock: FixedClock) -> AsyncIterator[Service]:
    logs.configure("debug", stream=io.StringIO(), json=True)
    async with open_service(load(config), clock, logs.get("monitor")) as service:
        yield service


async def settle(service: Service) -> None:
    """What the daemon's loops do after a poll: fetch the pages due, detect what waits."""
    while await service.poller.enricher.round(service.config):
        pass
    await service.poller.detection.process()


def rows(config: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(config.parent / "var" / "monitor.db") as db:
        return list(db.execute(sql, args))


def serve_teaser(feed_server: FeedServer) -> str:
    """A feed with one teaser whose article page is served beside it; the feed's URL."""
    feed_server.set("world/pentagon.html", page("Pentagon plans drills", ARTICLE),
                    content_type="text/html")  # fmt: skip
    teaser = {"guid": "t1", "title": "Pentagon begins planning exercises with Ukraine",
              "link": feed_server.url("world/pentagon.html"),
              "description": "The US will hold drills with Ukraine."}  # fmt: skip
    return feed_server.set("teasers.xml", rss([teaser]))


def full_text_config(
    config_factory: Callable[..., Path], urls: list[str], hook: str, extra: str = ""
) -> Path:
    return config_factory(urls, hook, query=QUERY, extra=f"[full_text]\nenabled = true\n{extra}")


async def test_a_teaser_becomes_a_story_with_its_full_text_before_it_is_detected(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    feed_server.set(
        "robots.txt", b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    url = serve_teaser(feed_server)
    config = full_text_config(config_factory, [url], receiver.url)
    async with service_for(config, FixedClock(T0)) as service:
        [outcome] = await service.poll_all()
        assert outcome.ingest.new == 1 and outcome.ingest.alerts == 0, "waits for its text"
        assert rows(config, "SELECT text_state, detected_rev FROM stories") == [("pending", None)]
        await settle(service)
        status = await service.status()
    [(text, state)] = rows(config, "SELECT full_text, text_state FROM stories")
    assert state == "ok" and "Patriot batteries" in text and "Most read" not in text
    assert "Copyright" not in text and "Home" not in text.split()[:3]
    [(data,)] = rows(config, "SELECT data FROM alerts")
    what = json.loads(data)["what_is_new"]
    assert any("Patriot batteries" in s for s in what), what  # read from the page
    assert status["feeds"][0]["full_text"] == {
        "enabled": True, "fetched": 1, "not_article": 0, "failed": 0, "last_error": None,
    }  # fmt: skip
    assert feed_server.requests["/robots.txt"] == 1


async def test_a_copy_only_the_full_text_reveals_is_linked(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    feed_server.set(
        "a/story.html", page("Pentagon plans drills", ARTICLE), content_type="text/html"
    )
    feed_server.set("b/2026/11/26/us-drills.html", page("US plans drills with Ukraine",
                    ARTICLE + " (Reporting by Wire staff.)"), content_type="text/html")  # fmt: skip
    a = {
        "guid": "a1",
        "title": "Pentagon begins planning exercises with Ukraine",
        "link": feed_server.url("a/story.html"),
        "description": "Drills with Ukraine.",
    }
    b = {"guid": "b1", "title": "Allies to rehearse defending Ukraine's ports",
         "link": feed_server.url("b/2026/11/26/us-drills.html"),
         "description": "Nine countries, one plan."}  # fmt: skip
    first = feed_server.set("a.xml", rss([a]))
    second = feed_server.set("b.xml", rss([]))
    config = full_text_config(config_factory, [first, second], receiver.url)
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        await settle(service)
        feed_server.set("b.xml", rss([b]))
        clock.advance(600)
        await service.poll_all()
        await settle(service)
    stories = rows(config, "SELECT title, duplicate_of, duplicate_by FROM stories ORDER BY id")
    assert stories == [(a["title"], None, None), (b["title"], 1, "text")]
    assert [e for (e,) in rows(config, "SELECT event FROM alerts")] == ["development.new"]


async def test_robots_txt_paywalls_and_failures_keep_the_summary(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    feed_server.set(
        "robots.txt", b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    feed_server.set("private/a.html", page("Hidden", ARTICLE), content_type="text/html")
    feed_server.set("premium/b.html", PAYWALL, content_type="text/html")
    feed_server.set("gone/c.html", b"no", status=500, content_type="text/html")
    items = [
        {"guid": "p", "title": "Kyiv story: robots", "link": feed_server.url("private/a.html"),
         "description": "Kyiv teaser one."},
        {"guid": "q", "title": "Kyiv story: paywall",
         "link": feed_server.url("premium/b.html"), "description": "Kyiv teaser two."},
        {"guid": "r", "title": "Kyiv story: broken",
         "link": feed_server.url("gone/c.html"), "description": "Kyiv teaser three."},
    ]  # fmt: skip
    url = feed_server.set("f.xml", rss(items))
    config = full_text_config(config_factory, [url], receiver.url, "attempts = 2\n")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        await settle(service)
        states = dict(rows(config, "SELECT substr(title, 13), text_state FROM stories"))
        assert states == {"robots": "blocked", "paywall": "not_article", "broken": "pending"}
        assert feed_server.requests.get("/private/a.html") is None, "robots.txt is honoured"
        clock.advance(3600)  # the failed page's retry is due; its last attempt fails too
        await settle(service)
        status = await service.status()
    states = dict(rows(config, "SELECT substr(title, 13), text_state FROM stories"))
    assert states == {"robots": "blocked", "paywall": "not_article", "broken": "failed"}
    assert rows(config, "SELECT COUNT(*) FROM stories WHERE full_text IS NOT NULL") == [(0,)]
    assert feed_server.requests["/gone/c.html"] == 2
    counts = status["feeds"][0]["full_text"]
    assert (counts["not_article"], counts["failed"]) == (1, 2)
    assert "HTTP 500" in counts["last_error"]
    # every story was detected with its summary: the three are about Kyiv
    assert rows(config, "SELECT COUNT(*) FROM stories WHERE detected_rev IS NULL") == [(0,)]
    assert rows(config, "SELECT COUNT(*) FROM story_topics") == [(3,)]


async def test_a_text_that_comes_late_is_read_once_without_a_second_alert(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = serve_teaser(feed_server)
    config = full_text_config(config_factory, [url], receiver.url, "wait = 0\n")
    async with service_for(config, FixedClock(T0)) as service:
        [outcome] = await service.poll_all()
        assert outcome.ingest.alerts == 1, "no wait: detected with the teaser"
        await settle(service)  # the text comes: the story is read again, once
        await settle(service)
    assert rows(config, "SELECT text_state FROM stories") == [("ok",)]
    assert [e for (e,) in rows(config, "SELECT event FROM alerts")] == ["development.new"]


def test_notices_are_not_articles() -> None:
    assert is_notice("Subscribe now to continue reading. Already a subscriber? Sign in.")
    assert is_notice("We value your privacy. " + "Accept all cookies to continue. " * 5)
    assert not is_notice(" ".join(ARTICLE.split()))
    assert not is_notice(JAPANESE), "two characters of Japanese count as a word"
    assert is_notice("続きを読むには会員登録が必要です。")


async def test_the_daemon_fetches_pages_beside_polling_and_alerts_with_the_text(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[[Path], DaemonProcess],
) -> None:
    url = serve_teaser(feed_server)
    d = daemon_factory(full_text_config(config_factory, [url], receiver.url))
    await d.start()
    [hook] = await receiver.wait_for(1)
    assert hook["json"]["type"] == "development.new"
    assert any("Patriot batteries" in s for s in hook["json"]["data"]["what_is_new"])
    await d.wait_event("fulltext.fetched")
    assert await d.stop() == 0


# -- robots.txt (RFC 9309) against a live server ----------------------------------------------


class Ticks:
    """The Robots cache's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def robots_of(
    feed_server: FeedServer, body: bytes | None = None, status: int = 200
) -> AsyncIterator[tuple[Callable[[str], Awaitable[bool]], Ticks]]:
    """`allowed(path)` of a Robots reading the server's robots.txt (none when `body` is
    None and status is 200: the server answers 404)."""
    if body is not None or status != 200:
        feed_server.set("robots.txt", body or b"", status=status, content_type="text/plain")
    ticks = Ticks()
    async with aiohttp.ClientSession() as session:
        robots = Robots(session, HostLimiter(2, 0.0), monotonic=ticks)

        async def allowed(path: str) -> bool:
            return await robots.allowed(feed_server.url(path), FetchLimits(timeout=10.0))

        yield allowed, ticks


async def test_robots_txt_longest_match_wins(feed_server: FeedServer) -> None:
    body = b"User-agent: *\nDisallow: /\nAllow: /news/\nDisallow: /news/private\n"
    async with robots_of(feed_server, body) as (allowed, _):
        assert await allowed("news/story"), "Allow: /news/ is longer than Disallow: /"
        assert not await allowed("about")
        assert not await allowed("news/private/x"), "the longer Disallow wins again"
    body = b"User-agent: *\nAllow: /page\nDisallow: /page\n"
    async with robots_of(feed_server, body) as (allowed, _):
        assert await allowed("page"), "a tie goes to Allow"


async def test_robots_txt_wildcards_and_end_anchor(feed_server: FeedServer) -> None:
    body = b"User-agent: *\nDisallow: /*?print=\nDisallow: /*.pdf$\nDisallow: /caf%C3%A9\n"
    async with robots_of(feed_server, body) as (allowed, _):
        assert not await allowed("a?print=1")
        assert await allowed("a?page=2")
        assert not await allowed("files/report.pdf")
        assert await allowed("files/report.pdf?download=1"), "$ ends the pattern"
        assert await allowed("files/report.pdfx")
        assert not await allowed("caf\u00e9"), "percent-encoded and raw paths are one path"


async def test_robots_txt_group_of_our_product_token(feed_server: FeedServer) -> None:
    body = b"""\xef\xbb\xbfUser-agent: MONITOR
User-agent: otherbot
Disallow: /private/

User-agent: *
Disallow: /

User-agent: monitorbot
Allow: /
"""  # a byte-order mark, a group of two agents, our token in capitals
    async with robots_of(feed_server, body) as (allowed, _):
        assert await allowed("news/story"), "our group, not the * group"
        assert not await allowed("private/a")
    body = b"User-agent: *\nDisallow: /news/\n\nUser-agent: monitorbot\nAllow: /\n"
    async with robots_of(feed_server, body) as (allowed, _):
        assert not await allowed("news/a"), "monitorbot is another crawler: the * group"
    body = b"User-agent: otherbot\nDisallow: /\n"
    async with robots_of(feed_server, body) as (allowed, _):
        assert await allowed("news/a"), "no group for us and no *: everything"


async def test_robots_txt_missing_allows_all_and_5xx_nothing_for_an_hour(
    feed_server: FeedServer,
) -> None:
    async with robots_of(feed_server) as (allowed, ticks):  # 404
        assert await allowed("news/a") and await allowed("private/b")
        ticks.now += ROBOTS_TTL - 1
        assert await allowed("news/c")
        assert feed_server.requests["/robots.txt"] == 1, "a 4xx is kept like a robots.txt"
    feed_server.requests.clear()
    async with robots_of(feed_server, b"oops", status=503) as (allowed, ticks):
        assert not await allowed("news/a"), "unreachable: nothing, for now"
        ticks.now += ROBOTS_RETRY - 1
        assert not await allowed("news/a")
        assert feed_server.requests["/robots.txt"] == 1
        feed_server.set("robots.txt", b"User-agent: *\nDisallow: /private/\n",
                        content_type="text/plain")  # fmt: skip
        ticks.now += 2  # the hour is over: asked again
        assert await allowed("news/a") and not await allowed("private/b")
        assert feed_server.requests["/robots.txt"] == 2


# -- the encodings of article pages ------------------------------------------------------------

FRENCH = """
Le gouvernement a présenté mercredi à Paris un plan de soutien aux régions touchées par les
crues de l'été. Selon le ministère de l'Économie, près de deux cents communes recevront une
aide d'urgence avant la fin du mois, et les agriculteurs dont les récoltes ont été détruites
pourront déposer une demande dès lundi. « Nous ne laisserons personne de côté », a déclaré
la ministre devant les élus réunis à l'hôtel de région. Les associations de sinistrés ont
salué un premier pas, tout en jugeant les délais trop longs. À Zürich, les assureurs suisses
ont annoncé qu'ils participeraient au fonds de garantie créé l'an dernier pour les dégâts
causés par les intempéries. Les premières indemnités seront versées début décembre.
"""

JAPANESE = (
    "東京都は二十六日、首都直下地震に備えた新しい防災計画を発表した。計画では、"
    "避難所の数を現在の約一・五倍に増やし、高齢者や障害のある人のための福祉避難所を"
    "各区に少なくとも十か所設けるとしている。また、停電に備えて非常用の発電機と"
    "飲料水の備蓄を拡充し、三日分から七日分に引き上げる。都の担当者は「過去の震災の"
    "教訓を生かし、誰も取り残さない体制を整えたい」と話した。計画の総費用は約二千億円で、"
    "来年度から五年かけて段階的に実施される。専門家からは、木造住宅が密集する地域の"
    "対策をさらに急ぐべきだとの声も上がっている。都は来月、区や市町村の担当者を集めた"
    "説明会を開き、住民向けの訓練も各地で行う予定だ。①避難経路の確認②家具の固定③"
    "備蓄品の点検の三点を、各家庭で今月中に見直すよう呼びかけている。"
)


def html_page(title: str, paragraphs: list[str], head: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head>{head}<title>{title}</title></head><body>"
            f"<header><nav><a href='/'>Accueil</a></nav></header><main><article>"
            f"<h1>{title}</h1>{body}</article></main><footer>(c) 2026</footer></body></html>")  # fmt: skip


def french_page(head: str = "") -> str:
    sentences = [s.strip() + "." for s in " ".join(FRENCH.split()).split(". ") if s.strip()]
    return html_page("Crues : un plan de soutien", sentences, head)


def japanese_page(head: str = "") -> str:
    return html_page("防災計画を発表", [s + "。" for s in JAPANESE.split("。") if s], head)


async def article_of(feed_server: FeedServer, path: str, body: bytes, content_type: str) -> str:
    """The article text `fetch_article` reads from a page served with this Content-Type."""
    feed_server.set(path, body, content_type=None, headers={"Content-Type": content_type})
    async with aiohttp.ClientSession() as session:
        hosts = HostLimiter(2, 0.0)
        got = await fetch_article(session, feed_server.url(path), FetchLimits(timeout=10.0),
                                  hosts, Robots(session, hosts))  # fmt: skip
    assert got.state == "ok" and got.text is not None, got
    return got.text


async def test_a_latin1_page_declared_in_the_header_keeps_its_accents(
    feed_server: FeedServer,
) -> None:
    body = french_page().encode("iso-8859-1")
    text = await article_of(feed_server, "fr/a.html", body, "text/html; charset=ISO-8859-1")
    assert "Économie" in text and "« Nous ne laisserons personne de côté »" in text
    assert "Zürich" in text and "\ufffd" not in text


async def test_a_latin1_page_declared_only_in_its_meta_keeps_its_accents(
    feed_server: FeedServer,
) -> None:
    for head in ('<meta charset="iso-8859-1">',
                 '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'):  # fmt: skip
        body = french_page(head).encode("cp1252")
        text = await article_of(feed_server, "fr/b.html", body, "text/html")
        assert "Économie" in text and "Zürich" in text and "\ufffd" not in text, head


async def test_a_shift_jis_page_is_read_in_japanese(feed_server: FeedServer) -> None:
    body = japanese_page().encode("cp932")  # what browsers mean by Shift_JIS
    text = await article_of(feed_server, "jp/a.html", body, "text/html; charset=Shift_JIS")
    assert "首都直下地震に備えた新しい防災計画を発表した" in text
    assert "①避難経路の確認" in text and "\ufffd" not in text
    body = japanese_page('<meta http-equiv="content-type" content="text/html;charset=shift_jis">')
    text = await article_of(feed_server, "jp/b.html", body.encode("cp932"), "text/html")
    assert "誰も取り残さない体制" in text
