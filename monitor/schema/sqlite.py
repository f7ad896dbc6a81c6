"""Schema migrations, applied in order at open; `PRAGMA user_version` records how far."""

MIGRATIONS: tuple[str, ...] = (
    # 1: feeds, stories with revisions, topic matches, alert outbox and delivery log.
    """
    CREATE TABLE feeds (
        id                 INTEGER PRIMARY KEY,
        url                TEXT NOT NULL UNIQUE,
        config_url         TEXT NOT NULL UNIQUE,     -- the URL as configured (redirects move url)
        name               TEXT,
        title              TEXT,                     -- the feed's own title
        interval           REAL NOT NULL,
        active             INTEGER NOT NULL DEFAULT 1,
        etag               TEXT,
        last_modified      TEXT,
        body_hash          TEXT,
        next_poll_at       REAL NOT NULL,
        last_poll_at       REAL,
        last_success_at    REAL,
        last_result        TEXT,                     -- ok | not_modified | error
        last_status        INTEGER,                  -- HTTP status of the last response
        last_error_kind    TEXT,
        last_error         TEXT,
        consecutive_errors INTEGER NOT NULL DEFAULT 0,
        stories            INTEGER NOT NULL DEFAULT 0,
        polls              INTEGER NOT NULL DEFAULT 0,
        created_at         REAL NOT NULL
    );
    CREATE INDEX feeds_due ON feeds (next_poll_at) WHERE active = 1;

    CREATE TABLE stories (
        id            INTEGER PRIMARY KEY,
        feed_id       INTEGER NOT NULL REFERENCES feeds (id),
        key           TEXT NOT NULL,
        link          TEXT,
        title         TEXT NOT NULL,
        summary       TEXT NOT NULL,
        author        TEXT,
        published_at  REAL,
        content_hash  TEXT NOT NULL,
        first_seen_at REAL NOT NULL,
        updated_at    REAL,
        revision      INTEGER NOT NULL DEFAULT 1,
        UNIQUE (feed_id, key)
    );
    CREATE INDEX stories_first_seen ON stories (first_seen_at);

    CREATE TABLE story_revisions (
        story_id     INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        revision     INTEGER NOT NULL,
        title        TEXT NOT NULL,
        summary      TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        seen_at      REAL NOT NULL,
        PRIMARY KEY (story_id, revision)
    );

    CREATE TABLE story_topics (
        story_id   INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        topic_id   TEXT NOT NULL,
        terms      TEXT NOT NULL,                    -- JSON array of the terms that matched
        matched_at REAL NOT NULL,
        PRIMARY KEY (topic_id, story_id)
    );
    CREATE INDEX story_topics_recent ON story_topics (topic_id, matched_at);

    CREATE TABLE alerts (
        id              TEXT PRIMARY KEY,            -- msg_…; the webhook-id, stable across retries
        story_id        INTEGER REFERENCES stories (id) ON DELETE SET NULL,
        topic_id        TEXT NOT NULL,
        sink_id         TEXT NOT NULL,
        event           TEXT NOT NULL,
        data            TEXT NOT NULL,               -- JSON, frozen when the alert was written
        state           TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        delivered_at    REAL,
        last_error      TEXT,
        UNIQUE (story_id, topic_id, sink_id, event)
    );
    CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE state = 'pending';

    CREATE TABLE alert_attempts (
        alert_id   TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
        attempt    INTEGER NOT NULL,
        at         REAL NOT NULL,
        status     INTEGER,                          -- HTTP status, NULL when none came back
        latency    REAL,
        error      TEXT,
        PRIMARY KEY (alert_id, attempt)
    );
    """,
    # 2: retention. A pruned story leaves a tombstone (its identity and content hash), so a
    # feed that re-lists an old item does not make it new again; indexes for age-based pruning.
    """
    CREATE TABLE story_tombstones (
        feed_id      INTEGER NOT NULL,
        key          TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        pruned_at    REAL NOT NULL,
        PRIMARY KEY (feed_id, key)
    );
    CREATE INDEX story_tombstones_age ON story_tombstones (pruned_at);
    CREATE INDEX story_revisions_age ON story_revisions (seen_at);
    CREATE INDEX alerts_done ON alerts (delivered_at) WHERE state = 'delivered';
    """,
    # 3: polling at scale. The configured interval (NULL: adaptive), the publication rate
    # (an exponentially weighted mean of new entries per second), the shortest interval the
    # server asked for (ttl, sy:updatePeriod, Cache-Control, Expires), why a feed is disabled.
    """
    ALTER TABLE feeds ADD COLUMN explicit_interval REAL;
    ALTER TABLE feeds ADD COLUMN rate REAL;
    ALTER TABLE feeds ADD COLUMN server_interval REAL;
    ALTER TABLE feeds ADD COLUMN disabled_reason TEXT;
    UPDATE feeds SET explicit_interval = interval;
    DROP INDEX feeds_due;
    CREATE INDEX feeds_due ON feeds (next_poll_at) WHERE active = 1 AND disabled_reason IS NULL;
    """,
    # 4: alert delivery (issue 7). A claim leases a row (leased_until; a restart releases
    # the leases a killed process held), the rate limiter marks what it let through
    # (released_at) and holds the rest (state 'held') for the next digest of its topic and sink
    # (digest_id, state 'digested'); a re-queued dead letter restarts its attempt budget
    # (attempts_base) and age (queued_at). Digest due times and feed-health episodes.
    """
    ALTER TABLE alerts ADD COLUMN leased_until REAL;
    ALTER TABLE alerts ADD COLUMN released_at REAL;
    ALTER TABLE alerts ADD COLUMN digest_id TEXT;
    ALTER TABLE alerts ADD COLUMN attempts_base INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN queued_at REAL;
    CREATE INDEX alerts_released ON alerts (sink_id, released_at) WHERE released_at IS NOT NULL;
    CREATE INDEX alerts_topic_sink ON alerts (topic_id, sink_id, created_at);
    CREATE INDEX alerts_leased ON alerts (leased_until) WHERE leased_until IS NOT NULL;

    CREATE TABLE digest_schedules (
        topic_id TEXT NOT NULL,
        sink_id  TEXT NOT NULL,
        cron     TEXT NOT NULL,
        timezone TEXT NOT NULL,
        next_at  REAL NOT NULL,
        last_at  REAL NOT NULL,                      -- end of the period the last digest covered
        PRIMARY KEY (topic_id, sink_id)
    );

    CREATE TABLE feed_health (
        feed_id       INTEGER PRIMARY KEY REFERENCES feeds (id) ON DELETE CASCADE,
        failing_since REAL NOT NULL,
        alerted_at    REAL                           -- when feed.failing was written
    );
    """,
    # 5: a scratch table the store writes to, to learn whether the disk has room again
    # after a write failed (a full or read-only disk).
    """
    CREATE TABLE write_probe (data BLOB NOT NULL);
    """,
    # 6: the dashboard and API (issue 10, monitor/web). A paused feed (an operator's choice,
    # distinct from a 410-disabled one) is not claimed. Indexes for the feeds page's filters
    # and keyset pages, a topic's timeline, the alert lists. Full-text search of stories
    # (FTS5 over title and summary, kept in sync by triggers). Counters kept by triggers so
    # no request counts a large table: stories first seen and polls (and poll errors) per
    # hour, matches per topic.
    """
    ALTER TABLE feeds ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN paused_at REAL;
    DROP INDEX feeds_due;
    CREATE INDEX feeds_due ON feeds (next_poll_at)
        WHERE active = 1 AND disabled_reason IS NULL AND paused = 0;
    CREATE INDEX feeds_last_poll ON feeds (IFNULL(last_poll_at, 0));
    CREATE INDEX feeds_next_poll ON feeds (next_poll_at);
    CREATE INDEX feeds_errors ON feeds (consecutive_errors);

    DROP INDEX story_topics_recent;
    CREATE INDEX story_topics_recent ON story_topics (topic_id, matched_at, story_id);
    CREATE INDEX alerts_recent ON alerts (created_at, id);
    CREATE INDEX alerts_state ON alerts (state, created_at, id);

    CREATE VIRTUAL TABLE stories_fts USING fts5 (
        title, summary, content = 'stories', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO stories_fts (stories_fts) VALUES ('rebuild');
    CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN
        INSERT INTO stories_fts (rowid, title, summary) VALUES (NEW.id, NEW.title, NEW.summary);
    END;
    CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, title, summary)
            VALUES ('delete', OLD.id, OLD.title, OLD.summary);
    END;
    CREATE TRIGGER stories_fts_update AFTER UPDATE OF title, summary ON stories BEGIN
        INSERT INTO stories_fts (stories_fts, rowid, title, summary)
            VALUES ('delete', OLD.id, OLD.title, OLD.summary);
        INSERT INTO stories_fts (rowid, title, summary) VALUES (NEW.id, NEW.title, NEW.summary);
    END;

    CREATE TABLE story_hours (
        hour    INTEGER PRIMARY KEY,                 -- Unix time // 3600
        stories INTEGER NOT NULL                     -- first seen in that hour (never pruned)
    );
    INSERT INTO story_hours (hour, stories)
        SELECT CAST(first_seen_at / 3600 AS INTEGER), COUNT(*) FROM stories GROUP BY 1;
    CREATE TRIGGER stories_hour AFTER INSERT ON stories BEGIN
        INSERT INTO story_hours (hour, stories)
            VALUES (CAST(NEW.first_seen_at / 3600 AS INTEGER), 1)
            ON CONFLICT (hour) DO UPDATE SET stories = stories + 1;
    END;

    CREATE TABLE poll_hours (
        hour   INTEGER PRIMARY KEY,                  -- Unix time // 3600
        polls  INTEGER NOT NULL,
        errors INTEGER NOT NULL
    );
    CREATE TRIGGER feeds_poll_hour AFTER UPDATE OF polls ON feeds
        WHEN NEW.polls > OLD.polls AND NEW.last_poll_at IS NOT NULL BEGIN
        INSERT INTO poll_hours (hour, polls, errors)
            VALUES (CAST(NEW.last_poll_at / 3600 AS INTEGER), 1, NEW.last_result = 'error')
            ON CONFLICT (hour) DO UPDATE SET polls = polls + 1, errors = errors + excluded.errors;
    END;

    CREATE TABLE topic_stats (
        topic_id      TEXT PRIMARY KEY,
        matches       INTEGER NOT NULL,              -- story_topics rows of the topic
        last_match_at REAL
    );
    INSERT INTO topic_stats (topic_id, matches, last_match_at)
        SELECT topic_id, COUNT(*), MAX(matched_at) FROM story_topics GROUP BY topic_id;
    CREATE TRIGGER story_topics_count AFTER INSERT ON story_topics BEGIN
        INSERT INTO topic_stats (topic_id, matches, last_match_at)
            VALUES (NEW.topic_id, 1, NEW.matched_at)
            ON CONFLICT (topic_id) DO UPDATE SET matches = matches + 1,
                last_match_at = MAX(IFNULL(last_match_at, 0), excluded.last_match_at);
    END;
    CREATE TRIGGER story_topics_uncount AFTER DELETE ON story_topics BEGIN
        UPDATE topic_stats SET matches = MAX(0, matches - 1) WHERE topic_id = OLD.topic_id;
    END;
    """,
    # 7: detection (issues 5 and 6). Each story gets a canonical URL and, when it repeats an
    # earlier story (same canonical URL, or near-duplicate text), a link to the earliest one;
    # `detected_rev` is the revision the detection stage has seen (NULL: not yet): stories
    # waiting for it are a queue, so a crash between storing a story and detecting it loses
    # nothing. LSH band keys of each story's MinHash (the near-duplicate index: an indexed
    # lookup, no load at start-up). Developments of each topic and their stories (with the
    # term vector that rebuilds the tracker at start, and what each story added). Revisions
    # keep the readable diff to the next one. Stories stored before this migration count as
    # detected (no alerts for the past).
    """
    ALTER TABLE stories ADD COLUMN canonical_url TEXT;
    ALTER TABLE stories ADD COLUMN duplicate_of INTEGER;
    ALTER TABLE stories ADD COLUMN duplicate_by TEXT;          -- url | text | title
    ALTER TABLE stories ADD COLUMN detected_rev INTEGER;
    UPDATE stories SET detected_rev = revision;
    CREATE INDEX stories_pending ON stories (id)
        WHERE detected_rev IS NULL OR detected_rev < revision;
    CREATE INDEX stories_canonical ON stories (canonical_url, id)
        WHERE canonical_url IS NOT NULL;
    CREATE INDEX stories_duplicate ON stories (duplicate_of) WHERE duplicate_of IS NOT NULL;
    ALTER TABLE story_revisions ADD COLUMN diff TEXT;          -- JSON: what the next one changed

    CREATE TABLE story_bands (
        band     INTEGER NOT NULL,
        story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        PRIMARY KEY (band, story_id)
    ) WITHOUT ROWID;
    CREATE INDEX story_bands_story ON story_bands (story_id);

    CREATE TABLE developments (
        id                   TEXT PRIMARY KEY,         -- topic id:id of its first story
        topic_id             TEXT NOT NULL,
        story_id             INTEGER,                  -- its first story
        headline             TEXT NOT NULL,
        first_seen_at        REAL NOT NULL,
        last_seen_at         REAL NOT NULL,
        first_published      REAL NOT NULL,
        last_published       REAL NOT NULL,
        stories              INTEGER NOT NULL DEFAULT 1,
        sources              INTEGER NOT NULL DEFAULT 1,
        last_update_alert_at REAL
    );
    CREATE INDEX developments_topic ON developments (topic_id, last_seen_at, id);

    CREATE TABLE development_stories (
        seq            INTEGER PRIMARY KEY,
        development_id TEXT NOT NULL REFERENCES developments (id) ON DELETE CASCADE,
        topic_id       TEXT NOT NULL,
        story_id       INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        source         TEXT NOT NULL,
        published      REAL NOT NULL,
        similarity     REAL NOT NULL,
        duplicate      INTEGER NOT NULL DEFAULT 0,
        what_is_new    TEXT NOT NULL,                  -- JSON array of sentences
        vector         TEXT NOT NULL,                  -- JSON term weights
        added_at       REAL NOT NULL,
        UNIQUE (topic_id, story_id)
    );
    CREATE INDEX development_stories_dev ON development_stories (development_id, seq);
    CREATE INDEX development_stories_story ON development_stories (story_id);
    CREATE INDEX development_stories_recent ON development_stories (topic_id, published);
    """,
    # 8: WebSub push (monitor/subscriber.py). One subscription per feed: the hub and topic
    # (the feed's self URL) it advertised, the callback and secret given to the hub, the
    # state (pending | active | failed | unsubscribing), the request awaiting the hub's
    # verification (requested_at), the lease the hub granted, when the daemon acts next
    # (renewal, retry), pushes received and forged ones refused. feeds.pushed mirrors "has an
    # active subscription" (the safety-net interval applies) in the row a claim reads.
    """
    ALTER TABLE feeds ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE websub_subscriptions (
        feed_id        INTEGER PRIMARY KEY REFERENCES feeds (id) ON DELETE CASCADE,
        hub            TEXT NOT NULL,
        topic          TEXT NOT NULL,
        callback       TEXT NOT NULL,
        secret         TEXT NOT NULL,              -- HMAC key of deliveries, never shown
        state          TEXT NOT NULL,              -- pending | active | failed | unsubscribing
        requested_at   REAL,                       -- a request awaits verification since
        lease_seconds  REAL,                       -- as granted by the hub
        lease_until    REAL,
        next_action_at REAL NOT NULL,              -- renew, retry or give up then
        attempts       INTEGER NOT NULL DEFAULT 0, -- consecutive failures
        last_error     TEXT,
        verified_at    REAL,
        last_push_at   REAL,
        pushes         INTEGER NOT NULL DEFAULT 0,
        forged         INTEGER NOT NULL DEFAULT 0, -- deliveries whose signature did not match
        created_at     REAL NOT NULL,
        updated_at     REAL NOT NULL
    );
    CREATE INDEX websub_due ON websub_subscriptions (next_action_at);
    """,
    # 9: full text (issue 13, monitor/fulltext.py). A story of a `full_text` feed waits for its
    # article page (text_state 'pending', text_next_at: when to try next); its text, or why
    # there is none (not_article, blocked by robots.txt, failed), and how often that went
    # well per feed. A text that arrives after detection ('late') queues the story again.
    """
    ALTER TABLE feeds ADD COLUMN full_text INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN texts_ok INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN texts_failed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN texts_not_article INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN last_text_error TEXT;
    ALTER TABLE stories ADD COLUMN full_text TEXT;
    ALTER TABLE stories ADD COLUMN text_state TEXT;  -- pending ok late not_article blocked failed
    ALTER TABLE stories ADD COLUMN text_error TEXT;
    ALTER TABLE stories ADD COLUMN text_next_at REAL;
    ALTER TABLE stories ADD COLUMN text_attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX stories_text_due ON stories (text_next_at) WHERE text_state = 'pending';
    DROP INDEX stories_pending;
    CREATE INDEX stories_pending ON stories (id)
        WHERE detected_rev IS NULL OR detected_rev < revision OR text_state = 'late';
    """,
    # 10: nothing for SQLite. (PostgreSQL's migration 10 ends the feeds page's indexes with
    # the id, for keyset pages in (key, id) order; a SQLite index ends with the rowid, which
    # is the id, by itself.)
    """
    """,
    # 11: relevance feedback (monitor/feedback.py): a user's verdict on a story for a topic,
    # with the story's title and text (what detection compares later stories with; kept when
    # the story is pruned). AUTOINCREMENT: an id is never reused, so (count, max id) changes
    # with every insert and delete and tells the daemon to reload.
    """
    CREATE TABLE topic_feedback (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        topic_id   TEXT NOT NULL,
        story_id   INTEGER REFERENCES stories (id) ON DELETE SET NULL,
        alert_id   TEXT,                             -- the alert it was given on, if any
        verdict    TEXT NOT NULL,                    -- relevant | not_relevant
        title      TEXT NOT NULL,
        text       TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX topic_feedback_story ON topic_feedback (topic_id, story_id);
    """,
    # 12: the detection log (issue 25): each story the detection stage decided on, in the
    # order it did, one batch (transaction) at a time: the clock time of the batch's decisions
    # (`at`), the revision and how it was detected (new | revision | late | skipped), whether
    # the article's text was read, the date seen, and whether the stage's state had just been
    # rebuilt (start | reload). `monitor backtest` replays it, so that it decides as the daemon
    # did. A pruned story takes its rows with it.
    """
    CREATE TABLE detection_log (
        seq       INTEGER PRIMARY KEY,
        batch     INTEGER NOT NULL,
        at        REAL NOT NULL,
        story_id  INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
        revision  INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        full_text INTEGER NOT NULL DEFAULT 0,
        published REAL,
        rebuilt   TEXT
    );
    CREATE INDEX detection_log_story ON detection_log (story_id);
    """,
    # 13: what a topic's match of a story rests on (`basis`: "query and profile" | "query" |
    # "profile", monitor/detect/development_alerts.py `match_basis`) and whether it could open
    # a development on its own (`strength`: "strong" | "weak": the lexical rule, and the
    # semantic gate when it weighed the story). NULL for the rows matched before: unknown.
    """
    ALTER TABLE story_topics ADD COLUMN basis TEXT;
    ALTER TABLE story_topics ADD COLUMN strength TEXT;
    """,
)
