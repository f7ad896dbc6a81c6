"""The parse stage (bytes of one response in, normalized entries out) against feedparser's
default parse of the same documents, in the same run; and the event loop's lag while large
documents are parsed (in a thread, in the process pool, or on the loop itself)."""

from __future__ import annotations

import asyncio
import time

import feedparser

from bench.figures import Figure, best_of, size
from bench.parse_corpus import corpus, rss
from monitor.reader.normalize import normalize_entries
from monitor.reader.parse import parse_feed, parse_with_feedparser
from monitor.reader.parsestage import ParseStage, _Memo, normalize_with_memo, parse_and_normalize

URL = "https://news.example/feed"


def _ours(docs: list[tuple[bytes, str]]) -> int:
    n = 0
    for body, ctype in docs:  # cold: nothing remembered from an earlier poll
        n += len(normalize_entries(parse_feed(body, url=URL, content_type=ctype).entries, URL))
    return n


def _feedparser(docs: list[tuple[bytes, str]], sanitize: bool) -> int:
    n = 0
    for body, ctype in docs:
        if sanitize:  # feedparser's defaults: sanitize HTML, resolve relative URIs
            d = feedparser.parse(
                body, response_headers={"content-location": URL, "content-type": ctype}
            )
            n += len(d.entries)
        else:
            parsed = parse_with_feedparser(body, url=URL, content_type=ctype)
            n += len(normalize_entries(parsed.entries, URL))
    return n


async def _lag(mode: str, docs: list[bytes]) -> float:
    """The longest a 2 ms ticker waited past its due time while `docs` were parsed."""
    worst = 0.0
    done = asyncio.Event()
    stage = ParseStage(process_threshold=1 if mode == "process" else 1 << 40)
    if mode == "process":  # start the pool's worker first: its start is not parse load
        await stage.run(docs[0][:1000], url=URL, content_type=None, max_entries=1)

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            due = time.perf_counter() + 0.002
            await asyncio.sleep(0.002)
            worst = max(worst, time.perf_counter() - due)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    for body in docs:
        if mode == "loop":
            parse_and_normalize(body, URL, None, 10_000)
            await asyncio.sleep(0)
        else:
            await stage.run(body, url=URL, content_type=None, max_entries=10_000)
    done.set()
    await task
    stage.close()
    return worst


def run(quick: bool) -> list[Figure]:
    docs = corpus(size(40, 20, quick, 4))
    entries = _ours(docs)
    repeat = 1 if quick else 3
    ours = best_of(lambda: _ours(docs), repeat)
    baseline = best_of(lambda: _feedparser(docs, sanitize=True), 1)
    plain = best_of(lambda: _feedparser(docs, sanitize=False), 1)
    figures = [
        Figure("parse_stage", entries / ours, "entries/s", entries / baseline,
               "feedparser default", note="cold: parse and normalize"),
        Figure("feedparser_no_sanitizing", entries / plain, "entries/s", entries / baseline,
               "feedparser default"),
    ]  # fmt: skip
    # a re-poll: one new entry on top of an otherwise unchanged document
    memo = _Memo(100_000)
    parsed = [parse_feed(b, url=URL, content_type=c) for b, c in docs]
    for p in parsed:
        normalize_with_memo(p.entries, URL, memo)

    def repoll() -> None:
        for (body, ctype), _ in zip(docs, parsed, strict=True):
            normalize_with_memo(parse_feed(body, url=URL, content_type=ctype).entries, URL, memo)

    warm = best_of(repoll, repeat)
    figures.append(
        Figure("parse_stage_repoll", entries / warm, "entries/s", entries / baseline,
               "feedparser default")
    )  # fmt: skip
    import random

    big = [rss(random.Random(i), size(400, 200, quick, 20), full=True).encode() for i in range(2)]
    loop_lag = asyncio.run(_lag("loop", big))
    thread_lag = asyncio.run(_lag("thread", big))
    process_lag = asyncio.run(_lag("process", big))
    mb = len(big[0]) / 1e6
    figures += [
        Figure("loop_lag_process_pool", process_lag * 1000, "ms", loop_lag * 1000,
               "parsed on the loop", note=f"{mb:.1f} MB documents"),
        Figure("loop_lag_thread", thread_lag * 1000, "ms", loop_lag * 1000,
               "parsed on the loop", note=f"{mb:.1f} MB documents"),
    ]  # fmt: skip
    return figures
