"""Read queries of the dashboard and the JSON API (monitor/web), on SQLite and PostgreSQL.

Every query answers from an index or a counter, whatever the size of the store: lists are
keyset-paginated (`WHERE (key, id) < (?, ?) ORDER BY key DESC, id DESC LIMIT n`, never
OFFSET), counts of large tables come from the counters migration 6 keeps with triggers
(`story_hours`, `poll_hours`, `topic_stats`), text search goes through the FTS5 table
`stories_fts` (PostgreSQL: the GIN index `stories_fts` over the same text). The only scan
is the feeds table's state counts (one pass over the feeds, not the stories).

The functions take a Reader (monitor/store/readers.py: the dashboard's own read-only
SQLite connection, or read-only transactions on the PostgreSQL pool) and return plain dicts
shaped as the API returns them; both stores give the same answers and the same cursors.
Where the dialects differ (FTS5 MATCH and tsquery, IFNULL, INDEXED BY, SUM of a boolean,
IN lists, parameter types) the SQL asks `db.dialect`; SQLite's statements are as they
were, plans included. Writes (pause, resume, re-queue) are Store methods.

By list: `paging.py` the cursors and `Page`, `feeds.py` the feeds and the hourly activity,
`stories.py` search and the stories list, `topics.py` timelines and developments,
`alerts.py` the alerts; this package's names are what `monitor/web` uses.
"""

from monitor.reads.alerts import ALERT_STATES, alert, alert_summary, alerts_page
from monitor.reads.feeds import (
    DEFAULT_FEED_SORT,
    FEED_SORTS,
    FEED_STATES,
    feed,
    feed_counts,
    feed_dict,
    feed_state,
    feeds_page,
    hourly,
)
from monitor.reads.paging import (
    CURSOR_PATTERNS,
    BadCursor,
    Page,
    decode_cursor,
    encode_cursor,
)
from monitor.reads.stories import (
    ARRIVAL_SKEW,
    fts_query,
    stories_page,
    story_dict,
    ts_query,
)
from monitor.reads.topics import developments_page, timeline, topic_stats

__all__ = [
    "ALERT_STATES",
    "ARRIVAL_SKEW",
    "CURSOR_PATTERNS",
    "DEFAULT_FEED_SORT",
    "FEED_SORTS",
    "FEED_STATES",
    "BadCursor",
    "Page",
    "alert",
    "alert_summary",
    "alerts_page",
    "decode_cursor",
    "developments_page",
    "encode_cursor",
    "feed",
    "feed_counts",
    "feed_dict",
    "feed_state",
    "feeds_page",
    "fts_query",
    "hourly",
    "stories_page",
    "story_dict",
    "timeline",
    "topic_stats",
    "ts_query",
]
