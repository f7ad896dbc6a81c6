"""The parse stage as the pipeline runs it: bytes of one response -> normalized entries.

- Small documents (most feeds) are parsed in a worker thread: the fast path spends much of
  its time inside lxml, which releases the GIL, and a thread costs nothing to start.
- Large documents (`PROCESS_THRESHOLD` bytes and more) go to a one-process pool, so their
  CPU time is spent on the second core and the event loop (polls, the status server, alert
  delivery) keeps its own; `bench/bench_parse.py` measures the loop's lag both ways.
- Unchanged entries are not normalized again: the normalized entry is remembered under a
  digest of the raw entry (and the feed URL it is resolved against); an entry whose raw
  fields have not changed since the last poll is taken from that memo.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import multiprocessing
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from monitor.models import Entry
from monitor.reader.normalize import normalize_entry
from monitor.reader.parse import parse_feed
from monitor.reader.rawfeed import ParsedFeed, RawEntry

PROCESS_THRESHOLD = 256 * 1024
MEMO_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class StageResult:
    feed: ParsedFeed  # title, version, warning, hints, hub links (its raw entries dropped)
    entries: tuple[Entry, ...]
    normalized: int  # entries normalized this time (the rest came from the memo)


class _Memo:
    """Normalized entries by raw-entry digest, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[bytes, Entry] = OrderedDict()
        self.lock = threading.Lock()  # parse threads share it

    def get(self, key: bytes) -> Entry | None:
        with self.lock:
            entry = self.items.get(key)
            if entry is not None:
                self.items.move_to_end(key)
            return entry

    def put(self, key: bytes, entry: Entry) -> None:
        with self.lock:
            self.items[key] = entry
            if len(self.items) > self.size:
                self.items.popitem(last=False)


_memo = _Memo(MEMO_SIZE)


def _digest(raw: RawEntry, feed_url: str) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in (feed_url, raw.guid, raw.link, raw.title, raw.summary, raw.content, raw.author):
        h.update((part or "").encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    h.update(repr((raw.published, raw.updated)).encode())
    return h.digest()


def normalize_with_memo(
    entries: tuple[RawEntry, ...], feed_url: str, memo: _Memo | None = None
) -> tuple[list[Entry], int]:
    """Normalized entries (first of each identity key kept) and how many were normalized."""
    memo = memo or _memo
    out: dict[str, Entry] = {}
    done = 0
    for raw in entries:
        key = _digest(raw, feed_url)
        entry = memo.get(key)
        if entry is None:
            entry = normalize_entry(raw, feed_url)
            memo.put(key, entry)
            done += 1
        out.setdefault(entry.key, entry)
    return list(out.values()), done


def parse_and_normalize(
    body: bytes, url: str, content_type: str | None, max_entries: int
) -> StageResult:
    """The whole stage, synchronously (raises ParseError)."""
    parsed = parse_feed(body, url=url, content_type=content_type, max_entries=max_entries)
    entries, done = normalize_with_memo(parsed.entries, url)
    head = dataclasses.replace(parsed, entries=())
    return StageResult(head, tuple(entries), done)


class ParseStage:
    """Runs the stage off the event loop: a thread for small documents, a one-worker
    process pool (the second core) for documents of `process_threshold` bytes and more.
    The pool starts on first use; `close()` shuts it down (the daemon's exit stack)."""

    def __init__(self, process_threshold: int = PROCESS_THRESHOLD) -> None:
        self.process_threshold = process_threshold
        self._pool: ProcessPoolExecutor | None = None

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: a clean child, never a fork of a process with running threads
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["monitor.reader.parsestage"])
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx)
        return self._pool

    async def run(
        self, body: bytes, *, url: str, content_type: str | None, max_entries: int
    ) -> StageResult:
        """Parse and normalize `body`; raises ParseError."""
        if len(body) < self.process_threshold:
            return await asyncio.to_thread(
                parse_and_normalize, body, url, content_type, max_entries
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._process_pool(), parse_and_normalize, body, url, content_type, max_entries
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
