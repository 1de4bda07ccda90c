-- 0003_group_state.sql -- the drainer's state of each upload group, for
-- every process to see (status, streams, /metrics).  A group upstream
-- refuses as a whole (HTTP 404: no stream found) is parked: it waits out
-- its own backoff while the other groups keep flowing.  A group has a
-- row here only while it is parked; the 2xx that unparks it deletes the
-- row.  Only the drainer writes rows; `streams retire` and compaction
-- delete those of groups they leave without pending points.  Written
-- with IF NOT EXISTS / OR IGNORE so that applying it twice is harmless.
CREATE TABLE IF NOT EXISTS grp_state (
    grp             INTEGER PRIMARY KEY,  -- grp.id
    parked_since    INTEGER NOT NULL,     -- Unix time of the first refusal
    parked_until_ms INTEGER NOT NULL,     -- Unix ms: not tried before
    reason          TEXT NOT NULL,        -- "404 no stream found: ..."
    failures        INTEGER NOT NULL      -- consecutive refusals
);

-- Points of requests whose outcome the drainer does not know (no answer,
-- 5xx), as the drainer last noted it: shown by status.
INSERT OR IGNORE INTO meta (k, v) VALUES ('in_doubt_points', 0);
