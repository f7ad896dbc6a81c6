"""The detection stage: duplicates, topics, developments and their alerts, for stored stories.

The pipeline stores what a feed brought (new stories; meaningful new revisions) and kicks this
stage, which takes the stories waiting for it in the order they were stored (`detected_rev`
behind: a queue in the store; after the first polls of a start, in the order they happened:
see :meth:`Detection.await_first_polls`) and, one batch per transaction:

The design in full: docs/modules.md, `monitor/detect/detection.py`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from monitor.clock import Clock
from monitor.config import Config, TopicConfig
from monitor.detect.development_alerts import alert_drafts_for, match_basis, substantial
from monitor.detect.developments import Assignment, DevelopmentTracker
from monitor.models import (
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    Lookups,
    MatchRow,
    StoredStory,
    TopicMatch,
)
from monitor.store import Store, StoreError
from monitor.stories.boilerplate import SiteTemplates
from monitor.stories.canonical import canonical_url
from monitor.stories.dedup import Fingerprint, StoryText, check, fingerprint
from monitor.stories.textfeatures import sentences, stem, words
from monitor.topics.compiled import Settings, Topic
from monitor.topics.feedback import EMPTY, Decision, FeedbackSet, needs_vector
from monitor.topics.feedback import apply as apply_feedback
from monitor.topics.match import match_topics, source_label
from monitor.topics.profile import StoryVector, story_vector
from monitor.topics.semantic import SemanticGate, model_folder

RELOAD_EVERY = 86400.0
MAX_SKIPS = 3  # stories skipped in one call before a failure counts as not the stories' own
HISTORY_KEEP = 10  # recent bodies (and headlines) per feed for site templates (on every page)
HISTORY_SOURCES = 20_000  # feeds whose recent bodies are kept (least recently seen forgotten)
PROFILE_TERMS = 20  # the seed profile's heaviest terms count as the topic's vocabulary


@dataclass(slots=True)
class DetectionOutcome:
    stories: int = 0
    duplicates: int = 0
    developments: int = 0
    alerts: int = 0
    alerts_by_feed: dict[int, int] = field(default_factory=dict)  # feed id -> its stories' alerts
    # topic matches feedback and negative seeds changed, by reason (monitor/topics/feedback.py):
    # not_relevant, exclude_seeds (dropped), relevant (added)
    feedback: dict[str, int] = field(default_factory=dict)

    def add(self, other: DetectionOutcome) -> None:
        self.stories += other.stories
        self.duplicates += other.duplicates
        self.developments += other.developments
        self.alerts += other.alerts
        for feed_id, n in other.alerts_by_feed.items():
            self.alerts_by_feed[feed_id] = self.alerts_by_feed.get(feed_id, 0) + n
        for reason, n in other.feedback.items():
            self.feedback[reason] = self.feedback.get(reason, 0) + n


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a story of a batch needs before the transaction is asked anything: its text as
    the detectors see it, and (for a new story, or a late text) its canonical URL and
    fingerprint, so that the batch's lookups are made together."""

    story: StoredStory
    text: StoryText
    late: bool  # its page's text came after it was detected without it
    canonical: str | None = None
    fingerprint: Fingerprint | None = None


def _prepare(stories: Sequence[StoredStory]) -> list[Prepared]:
    """Each story's :class:`Prepared`, in the same order."""
    out = []
    for story in stories:
        source = publisher(story.link, story.feed_url)
        text = StoryText(
            str(story.id), _dt(story_time(story)), story.title, story.text, source,
            story.link or "",
        )  # fmt: skip
        late = (
            story.detected_rev is not None
            and story.text_state == "late"
            and story.detected_rev >= story.revision
        )
        if story.detected_rev is not None and not late:  # a revision: no duplicate check
            out.append(Prepared(story, text, late))
            continue
        canonical = canonical_url(story.link) if story.link else None
        out.append(Prepared(story, text, late, canonical, fingerprint(text)))
    return out


class _Candidates:
    """The candidates the store found by band key, as :func:`monitor.stories.dedup.check` asks."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def add(self, story_id: str, bands: Sequence[int], signature: Sequence[int]) -> None:
        raise NotImplementedError  # the store keeps the bands

    def candidates(self, bands: Sequence[int]) -> list[str]:
        return self.ids


def publisher(link: str | None, feed_url: str) -> str:
    """The host a story comes from (without www.): a development's sources are counted so."""
    host = urlsplit(link or feed_url).hostname or urlsplit(feed_url).hostname or ""
    return host.removeprefix("www.")


def logged(p: Prepared) -> DetectionStep:
    """The detection log's step of a story of a batch: what the detectors read of it."""
    story = p.story
    kind = "new" if story.detected_rev is None else "late" if p.late else "revision"
    return DetectionStep(story.id, story.revision, kind, bool(story.full_text), story.published)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def story_time(story: StoredStory) -> float:
    """When the story happened, as far as we know: its date, never after we first saw it."""
    if story.published is None:
        return story.first_seen_at
    return min(story.published, story.first_seen_at)


ANY_ID = 2**62  # above every story id


def _before(story: StoredStory) -> int:
    """The stories that may be the original of ``story`` have ids below this. For a new story:
    every story detected before it, whatever its id (the queue is taken in the order stories
    happened, so a wire story stored after its reprint, by a feed polled later, comes first);
    only detected stories have the canonical URL and band keys it is compared on. For a story
    detected before (a revision, its page's text): only the stories stored before it, or its
    own copies would become its original."""
    return ANY_ID if story.detected_rev is None else story.id


def added_text(old_title: str, old_text: str, title: str, text: str) -> tuple[str, str]:
    """The headline (if it changed) and the sentences a revision added (compared as words)."""
    before = {tuple(words(s)) for s in sentences(old_text)}
    added = [s for s in sentences(text) if words(s) and tuple(words(s)) not in before]
    new_title = title if words(title) != words(old_title) else ""
    return new_title, " ".join(added)


class Detection:
    """The stage's state (per-topic trackers, recent bodies and headlines per feed) and its loop."""

    def __init__(self, store: Store, clock: Clock, log: Any, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.log = log
        self.settings = settings  # the configuration in force (a reload swaps it)
        self.trackers: dict[str, DevelopmentTracker] = {}
        self.templates = SiteTemplates(keep=HISTORY_KEEP, max_sources=HISTORY_SOURCES)
        self.loaded_at: float | None = None  # monotonic
        self.seq = 0  # the last development_stories row the trackers know (shared stores)
        self.last_error: str | None = None
        self.totals = DetectionOutcome()
        self._lock = asyncio.Lock()
        self._again = False  # stories came while a pass ran: go round once more
        self._unpolled: set[int] = set()  # feeds whose first poll detection waits for
        self._hold_until = 0.0  # clock time: when it stops waiting for them
        self._round_over = False  # the wait just ended: the next pass reads the queue by time
        self.feedback: FeedbackSet = EMPTY  # the topics' relevance feedback, as last read
        self._feedback_version: tuple[int, int] | None = None  # the store's, when read
        # told of every story whose matches feedback or negative seeds changed (backtest)
        self.on_feedback: Callable[[StoredStory, list[Decision]], None] | None = None
        self._loads = 0
        self._rebuilt: str | None = None  # the state was just rebuilt: said in the next batch's log
        self._semantic: SemanticGate | None = None  # loaded when first needed, again on a change

    @property
    def config(self) -> Config:
        return self.settings.config

    @property
    def semantic(self) -> SemanticGate:
        """The semantic gate of the configured model (monitor/topics/semantic.py), loaded
        on first use and again when a reload names another folder."""
        folder, named = model_folder(self.config.detection)
        gate = self._semantic
        if gate is None or gate.folder != folder:
            gate = self._semantic = SemanticGate.load(folder)
            if gate.problem is not None:
                # installed but broken: an error; named but missing: a warning; not installed
                # where it is looked for by default: said in /status only
                if gate.installed or named:
                    report = self.log.error if gate.installed else self.log.warning
                    report("detection.semantic_unavailable", model=str(folder), error=gate.problem)
            elif gate.available:
                self.log.info("detection.semantic_loaded", model=str(folder))
        return gate

    @semantic.setter
    def semantic(self, gate: SemanticGate) -> None:
        self._semantic = gate

    def semantic_status(self) -> dict[str, Any]:
        """What /status says of the semantic model (without loading it)."""
        folder, _ = model_folder(self.config.detection)
        gate = self._semantic
        if gate is None or gate.folder != folder:
            return SemanticGate(folder).status()  # not loaded yet: nothing to say against it
        return gate.status()

    def tracker(self, topic_id: str) -> DevelopmentTracker:
        t = self.trackers.get(topic_id)
        if t is None:
            topic = self.settings.topics.by_id.get(topic_id)
            exact, prefixes = topic_vocabulary(topic) if topic else (frozenset(), ())
            evidence = topic.config.evidence if topic else "incident"
            t = DevelopmentTracker(ignore=exact, ignore_prefixes=prefixes, evidence=evidence)
            self.trackers[topic_id] = t
        return t

    # -- state -----------------------------------------------------------------------------

    async def load(self) -> int:
        """Rebuild the trackers from the developments active within the window."""
        config = self.config
        now = self.clock.now().timestamp()
        if self.store.shared:  # what is in the store from now on is caught up with
            async with self.store.detection() as tx:
                self.seq = await tx.last_seq()
        _devs, rows = await self.store.development_history(
            now - config.detection.development_window
        )
        self.trackers = {}
        for r in rows:
            self.tracker(r.topic_id).replay(
                StoryText(
                    str(r.story.id), _dt(r.published), r.story.title, r.story.summary, r.source
                ),
                local_id(r.development_id),
                r.vector,
            )
        gated = [t.seeds for t in config.topics if t.semantic_at is not None]
        if gated and self.semantic.available:  # the model loads (or says why not) now
            # and the seeds are embedded once, before any story waits for them
            await asyncio.to_thread(lambda: [self.semantic.seeds_vector(s) for s in gated])
        self.loaded_at = time.monotonic()
        self._rebuilt = "start" if self._loads == 0 else "reload"
        self._loads += 1
        return len(rows)

    # -- the first polls ---------------------------------------------------------------------

    def await_first_polls(self, feed_ids: Iterable[int], until: float) -> None:
        """Detect nothing until these feeds (never polled) have been polled once, or the clock
        reaches ``until``. A first poll stores a feed's backlog, days of stories, at once;
        detected feed by feed as the polls end, a development would open with the story of
        whichever feed answered first rather than with its first story (and "what is new"
        would run backwards). Waiting for the round, the backlogs are detected together, in
        the order the stories happened: the pass after the wait reads the queue by story time
        (a sort of the whole queue, once), not in the order stories were stored."""
        self._unpolled.update(feed_ids)
        if self._unpolled:
            self._hold_until = max(self._hold_until, until)
            self.log.info("detection.awaiting_first_polls", feeds=len(self._unpolled))

    def polled(self, feed_id: int) -> bool:
        """A feed's poll ended, whatever its outcome; True when that was the last one awaited
        (the caller then runs detection)."""
        if feed_id not in self._unpolled:
            return False
        self._unpolled.discard(feed_id)
        self._round_over = not self._unpolled
        return self._round_over

    def awaiting(self) -> int:
        """How many feeds' first polls detection is waiting for (0: it is not waiting); past
        the limit, it stops waiting (and says so in the log)."""
        if self._unpolled and self.clock.now().timestamp() >= self._hold_until:
            self.log.warning("detection.first_polls_late", feeds_not_polled=len(self._unpolled))
            self._unpolled.clear()  # no longer: the stories of the others wait too long
            self._round_over = True
        return len(self._unpolled)

    # -- the loop --------------------------------------------------------------------------

    async def process(self, *, wait: bool = True) -> DetectionOutcome:
        """Detect every story waiting, a batch per transaction; never raises (a failure is
        logged and kept in `last_error`; the stories stay queued).

        With `wait=False`, a call made while another is running returns at once (with
        nothing): the running one goes round again and takes the new stories too, and its
        outcome counts them. Polls finishing together so share one pass instead of queueing
        one transaction each."""
        total = DetectionOutcome()
        if self.awaiting():  # the stories wait for the first polls of the others (see above)
            return total
        if not wait and self._lock.locked():
            self._again = True
            return total
        async with self._lock:
            total = await self._run()
        self.totals.add(total)
        return total

    async def _run(self) -> DetectionOutcome:
        total = DetectionOutcome()
        self._again = True
        while self._again:
            self._again = False
            total.add(await self._pass())
        return total

    async def _pass(self) -> DetectionOutcome:
        total = DetectionOutcome()
        if self.loaded_at is None or time.monotonic() - self.loaded_at > RELOAD_EVERY:
            await self._reload()
        await self._read_feedback()
        batch = self.config.detection.batch
        by_time, self._round_over = self._round_over, False  # the first polls' backlogs
        skipped = 0
        error_before = self.last_error
        while True:
            try:
                outcome, done = await self._batch(batch, by_time)
            except StoreError as exc:
                self._failed("store", str(exc))
                await self._reload()
                break
            except Exception as exc:  # a bug on some story: isolate it, keep the rest going
                self._failed("internal", f"{type(exc).__name__}: {exc}", exc_info=True)
                await self._reload()
                if batch > 1:
                    batch = 1
                    continue
                skipped += 1
                # a failure that is not a story's stays logged and is retried later
                if skipped > MAX_SKIPS or not await self._skip_first():
                    break
                continue
            total.add(outcome)
            if done:
                break
        if total.stories and not skipped and self.last_error == error_before:
            self.last_error = None  # a clean run: what failed before works again
        return total

    async def _catch_up(self, tx: Any) -> None:
        """On a store several instances share (one detects at a time: the transaction holds
        the lock): put into the trackers the stories other instances assigned since this
        one last looked (its own are there already, and skipped)."""
        while True:
            log = await tx.development_log(self.seq)
            for seq, r in log:
                self.seq = seq
                tracker = self.tracker(r.topic_id)
                if tracker.store.story(str(r.story.id)) is None:
                    tracker.replay(
                        StoryText(str(r.story.id), _dt(r.published), r.story.title,
                                  r.story.summary, r.source),
                        local_id(r.development_id),
                        r.vector,
                    )  # fmt: skip
            if len(log) < 1000:
                return

    async def _read_feedback(self) -> None:
        """Read the topics' feedback again when the store's has changed (a verdict given or
        taken back through the API or the CLI, by any process): one small query a pass. A
        failure keeps the feedback read last (and is logged)."""
        try:
            version = await self.store.feedback_version()
            if version == self._feedback_version:
                return
            rows = await self.store.feedback()
        except Exception as exc:
            self.log.error("detection.feedback_unread", error=f"{type(exc).__name__}: {exc}")
            return
        self.feedback = FeedbackSet.build(rows)
        self._feedback_version = version
        self.log.info(
            "detection.feedback_read", verdicts=len(rows), topics=len(self.feedback.by_topic)
        )

    def _apply_feedback(
        self,
        story: StoredStory,
        matches: list[TopicMatch],
        out: DetectionOutcome,
        vector: StoryVector | None = None,
    ) -> list[TopicMatch]:
        """The matches once feedback and negative seeds are applied (monitor/topics/feedback.py);
        each change is logged (debug) and counted."""
        kept, decisions = apply_feedback(
            self.settings.topics, self.feedback, story.title, story.text, matches,
            vector=vector,
        )  # fmt: skip
        for d in decisions:
            out.feedback[d.reason] = out.feedback.get(d.reason, 0) + 1
            self.log.debug("detection.feedback_applied", story_id=story.id, **d.as_dict())
        if decisions and self.on_feedback is not None:
            self.on_feedback(story, decisions)
        return kept

    async def _reload(self) -> None:
        try:
            await self.load()
        except Exception as exc:
            self._failed("store", f"cannot load developments: {type(exc).__name__}: {exc}")

    def _failed(self, kind: str, error: str, exc_info: bool = False) -> None:
        self.last_error = error
        self.log.error("detection.failed", error_kind=kind, error=error, exc_info=exc_info)

    async def _skip_first(self) -> int:
        """The first waiting story fails on its own: mark it detected without decisions, so
        it cannot block the queue (it is stored; it just makes no alert)."""
        async with self.store.detection() as tx:
            stories = await tx.pending(1)
            for story in stories:
                await tx.mark_detected(
                    story, canonical_url=None, duplicate_of=None, duplicate_by=None, bands=()
                )
                self.log.error("detection.story_skipped", story_id=story.id, feed_id=story.feed_id)
            steps = [
                DetectionStep(s.id, s.revision, "skipped", bool(s.full_text), s.published)
                for s in stories
            ]
            await tx.log_detected(self.clock.now().timestamp(), steps, None)
        return len(stories)

    async def _batch(self, limit: int, by_time: bool = False) -> tuple[DetectionOutcome, bool]:
        outcome = DetectionOutcome()
        async with self.store.detection() as tx:
            if self.store.shared:
                await self._catch_up(tx)
            now = self.clock.now().timestamp()
            # a story of a full_text feed waits (up to full_text.wait) for its page's text
            hold = now - self.config.full_text.wait
            stories = await tx.pending(limit, hold_since=hold, by_time=by_time)
            # in the order they happened (a feed lists newest first; the first poll of many
            # feeds stores days of stories at once, read by time after the first-poll wait):
            # developments grow forward in time
            batch = _prepare(sorted(stories, key=story_time))
            since = now - self.config.detection.dedup_window
            await tx.prefetch(
                Lookups(
                    [p.canonical for p in batch if p.fingerprint is not None and p.canonical],
                    [(p.fingerprint.bands, _before(p.story)) for p in batch if p.fingerprint],
                    since,
                )
            )
            for prepared in batch:
                one = await self._detect(tx, prepared, now)
                if one.alerts:
                    one.alerts_by_feed[prepared.story.feed_id] = one.alerts
                outcome.add(one)
            # the order and time of the decisions, for `monitor backtest` to replay
            await tx.log_detected(now, [logged(p) for p in batch], self._rebuilt)
        if stories:
            self._rebuilt = None
        return outcome, len(stories) < limit

    async def _detect(self, tx: Any, prepared: Prepared, now: float) -> DetectionOutcome:
        topics = self.settings.topics
        out = DetectionOutcome(stories=1)
        story, text = prepared.story, prepared.text
        source = source_label(story.feed_name, story.feed_url, story.link)
        # the story's profile vector, once for the profiles and the feedback
        vector = (
            story_vector(story.title, story.text)
            if topics.profiles.keys or needs_vector(topics, self.feedback)
            else None
        )
        matches = match_topics(topics, story.title, story.text, source, vector)
        matches = self._apply_feedback(story, matches, out, vector)
        if story.detected_rev is None:  # a new story
            dup, by, template, bands = await self._duplicate(tx, prepared, now)
            out.duplicates += dup is not None
            await tx.mark_detected(
                story, canonical_url=prepared.canonical, duplicate_of=dup, duplicate_by=by,
                bands=bands,
            )  # fmt: skip
            title, body = self.templates.clean(str(story.feed_id), story.title, story.text)
            stripped = replace(text, title=title, text=body)
            rows = []
            for m in matches:
                topic = topics.by_id[m.topic_id].config
                opened, alerts, strong = await self._assign(
                    tx, topic, m, story, stripped, dup, template, now
                )
                out.developments += opened
                out.alerts += alerts
                rows.append(match_row(topic, m, strong))
            # written once decided: a match's strength is the assignment's final word
            await tx.add_matches(story.id, rows, now)
            return out
        # a new revision, or the page's text came after the story was detected without it
        if prepared.late:  # the text may reveal a copy the teaser could not
            dup, by, _, bands = await self._duplicate(tx, prepared, now)
            out.duplicates += dup is not None
            before, after = (story.title, story.summary), (story.title, story.text)
        else:  # a revision: the feed's text changed (compared as the feed gives it)
            dup, by, bands = None, None, ()
            before = (story.old_title or "", story.old_summary or "")
            after = (story.title, story.summary)
        await tx.mark_detected(
            story, canonical_url=None, duplicate_of=dup, duplicate_by=by, bands=bands
        )
        joined = await tx.story_developments(story.id)
        rows = []
        for m in matches:
            topic = topics.by_id[m.topic_id].config
            tracker = self.tracker(topic.id)
            if m.topic_id not in joined or tracker.store.story(str(story.id)) is None:
                # matches now (or its development left the window): as a new story of the topic
                opened, alerts, strong = await self._assign(
                    tx, topic, m, story, text, None, False, now
                )
            else:
                opened, strong = 0, opens(topic, m)
                alerts = await self._revised(
                    tx, topic, m, story, joined[topic.id], (before, after), now,
                    not prepared.late,
                )  # fmt: skip
            out.developments += opened
            out.alerts += alerts
            rows.append(match_row(topic, m, strong))
        await tx.add_matches(story.id, rows, now)  # a topic's match stored before stays
        return out

    async def _duplicate(
        self, tx: Any, prepared: Prepared, now: float
    ) -> tuple[int | None, str | None, bool, tuple[int, ...]]:
        """(original story id, "url" | "text" | "title", body is a template, band keys)."""
        story, text, fp, canonical = (
            prepared.story, prepared.text, prepared.fingerprint, prepared.canonical
        )  # fmt: skip
        assert fp is not None
        if canonical is not None:
            original = await tx.url_original(canonical, _before(story))
            if original is not None:
                return original, "url", False, fp.bands
        since = now - self.config.detection.dedup_window
        found = await tx.near_candidates(fp.bands, since, _before(story))
        if not found:
            return None, None, False, fp.bands
        texts = {str(c.id): StoryText(str(c.id), _dt(c.dated), c.title, c.text) for c in found}
        roots = {str(c.id): c.duplicate_of or c.id for c in found}
        result = check(text, _Candidates(list(texts)), texts.get, fp=fp)
        if result.match is None:
            return None, None, result.template, fp.bands
        by = "title" if result.match.by_title_only else "text"
        return roots[result.match.story_id], by, result.template, fp.bands

    async def _assign(
        self,
        tx: Any,
        topic: TopicConfig,
        match: TopicMatch,
        story: StoredStory,
        text: StoryText,
        dup: int | None,
        template: bool,
        now: float,
    ) -> tuple[int, int, bool]:
        """Assign a new story of `topic`; returns (developments opened, alerts written,
        whether the match was strong: could open a development on its own, the semantic gate
        included when it weighed the story)."""
        tracker = self.tracker(topic.id)
        original = str(dup) if dup is not None and tracker.store.story(str(dup)) else None
        strong = opens(topic, match)
        semantic = None  # the story's embedding cosine to the seeds, when the gate applies
        gate = topic.semantic_at
        if strong and original is None and gate is not None and self.semantic.available:
            # only a story that would open a development is embedded: its link decided first
            # (the tracker unchanged), then, if it links to none, weighed; then committed
            link = tracker.decide(text, template=template)
            if link.development_id is None:
                # the encoder works for tens of milliseconds: off the event loop
                semantic = await asyncio.to_thread(
                    self.semantic.similarity, topic.seeds, story.title, story.text
                )
                strong = semantic is None or semantic >= gate
            a = tracker.commit(link, may_open=strong)
        else:
            a = tracker.assign(text, duplicate_of=original, template=template, may_open=strong)
        if not a.development_id:  # a match too weak to open a development, and unlinked
            return 0, 0, strong
        dev_id = global_id(topic.id, a.development_id)
        published = story_time(story)
        row = None if a.is_new else await tx.development(dev_id)
        if row is None:
            row = DevelopmentRow(
                dev_id, topic.id, story.id, story.title, now, now, published, published
            )
        else:
            row = replace(
                row, last_seen_at=now, last_published=max(row.last_published, published),
                stories=row.stories + 1,
            )  # fmt: skip
        event = self._event(topic, a, original is not None or dup is not None, row, now)
        if event == "development.update":
            row = replace(row, last_update_alert_at=now)
        await tx.save_development(row)
        state = tracker.store.story(text.id)
        new_source = await tx.add_development_story(
            DevelopmentStoryRow(
                dev_id, topic.id, story, text.source, published, round(a.similarity, 4),
                original is not None, a.what_is_new, dict(state.vector) if state else {},
            ),
            now,
        )  # fmt: skip
        if not a.is_new and new_source:
            row = replace(row, sources=row.sources + 1)
            await tx.save_development(row)
        alerts = 0
        if event is not None:
            drafts = alert_drafts_for(
                topic,
                event,
                row,
                story,
                match,
                a.similarity,
                a.what_is_new,
                strong=strong,
                semantic=semantic,
            )
            alerts = await tx.add_alerts(story.id, drafts, now)
        return int(a.is_new), alerts, strong

    @staticmethod
    def _event(
        topic: TopicConfig, a: Assignment, duplicate: bool, row: DevelopmentRow, now: float
    ) -> str | None:
        if topic.alert_on == "stories":
            return None if duplicate else "story.matched"
        if a.is_new:
            return "development.new"
        if duplicate or not topic.updates or not substantial(a.what_is_new):
            return None
        if not _gap_passed(row, now, topic.update_gap):
            return None
        return "development.update"

    async def _revised(
        self,
        tx: Any,
        topic: TopicConfig,
        match: TopicMatch,
        story: StoredStory,
        dev_id: str,
        change: tuple[tuple[str, str], tuple[str, str]],
        now: float,
        alert: bool = True,
    ) -> int:
        """A story of a development has a new revision (or its page's text came): what
        `change` (title and text before, after) added that the development had not covered
        may make a `development.update`. Returns alerts written."""
        row = await tx.development(dev_id)
        if row is None:
            return 0
        (old_title, old_text), (new_title, new_text) = change
        title, text = added_text(old_title, old_text, new_title, new_text)
        what = self.tracker(topic.id).revise(local_id(dev_id), title, text)
        row = replace(row, last_seen_at=now)
        event = None
        # a late text (the same story, read whole) was alerted already: it only teaches the
        # development what it said
        if (
            alert
            and topic.alert_on == "developments"
            and topic.updates
            and substantial(what)
            and _gap_passed(row, now, topic.update_gap)
        ):
            event = "development.update"
            row = replace(row, last_update_alert_at=now)
        await tx.save_development(row)
        if event is None:
            return 0
        drafts = alert_drafts_for(
            topic, event, row, story, match, 1.0, what, revised=True, strong=opens(topic, match)
        )
        return int(await tx.add_alerts(story.id, drafts, now))


_FIELD = re.compile(r"^[a-z]+:")
_NEAR = re.compile(r"^NEAR/\d+$")


def topic_vocabulary(topic: Topic) -> tuple[frozenset[str], tuple[str, ...]]:
    """The stemmed terms (and stem prefixes, from `word*`) of the topic's query and the
    leading terms of its seed profile: every story of the topic carries them, so they are left
    out when stories are compared to tell the topic's events apart."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for term in topic.query.terms() if topic.query is not None else ():
        for raw in _FIELD.sub("", term).replace('"', " ").split():
            ws = words(raw)
            if not ws or _NEAR.match(raw):
                continue
            if raw.endswith("*"):
                exact.update(stem(w) for w in ws[:-1])
                prefixes.append(stem(ws[-1])[: max(3, len(ws[-1]) - 1)])
            else:
                exact.update(stem(w) for w in ws)
    if topic.profile is not None:
        exact.update(t for t, _ in topic.profile.top(PROFILE_TERMS) if ":" not in t)
    return frozenset(exact), tuple(prefixes)


def opens(topic: TopicConfig, match: TopicMatch) -> bool:
    """Whether a story matching `topic` may open a development (and so alert as new).

    A topic with seeds matches stories its query finds or its profile is close to (the match
    mode), but a match that rests on one of the two only counts for less: near the profile's
    threshold a story shares the seeds' setting (the war, the talks, the leaders) rather than
    their subject, and a query's words can be passing ones in a story about something else.
    Such a story may join a development another story opened, never open one: a development
    opens on a story its query finds and that is at least as close to the profile as the
    topic's threshold, or on one the profile alone finds well above the threshold (the
    topic's `open_threshold`). A topic without seeds opens on every query match; one that
    alerts on every story (`alert_on = "stories"`) is not concerned."""
    if topic.alert_on != "developments" or match.similarity is None:
        return True
    if match.terms or topic.query is None:
        return match.similarity >= topic.profile_threshold
    return match.similarity >= topic.open_at


def match_row(topic: TopicConfig, match: TopicMatch, strong: bool) -> MatchRow:
    """The match as stored: its terms, what it rests on, and its strength (`strong`: the
    assignment's final word, see :func:`opens` and :meth:`Detection._assign`)."""
    basis = match_basis(match, topic.profile_threshold)
    return MatchRow(match.topic_id, match.terms, basis, "strong" if strong else "weak")


def _gap_passed(row: DevelopmentRow, now: float, gap: float) -> bool:
    """No update alert of the development within the last `gap` seconds."""
    return row.last_update_alert_at is None or now - row.last_update_alert_at >= gap


def global_id(topic_id: str, local: str) -> str:
    """A development's id in the store: its topic and the id of its first story."""
    return f"{topic_id}:{local}"


def local_id(development_id: str) -> str:
    """The tracker's id of a development (the id of its first story)."""
    return development_id.rsplit(":", 1)[-1]
