-- 0001_initial.sql -- the ctspool journal, schema version 1.
--
-- A point's identity is (data stream token, record ID, hour).  The token
-- and aggregation function live in grp, the record (metric name and
-- custom dimensions) in series, and each hourly value in point.  seq
-- orders the journal and changes on every value change; a point is
-- pending while its (grp, seq) is in queue, so an acknowledgement of the
-- seqs it sent never marks a newer value as sent.

-- One (data stream token, aggregation function) upload group.  The token
-- is a secret: the file is created with mode 0600.
CREATE TABLE grp (
    id      INTEGER PRIMARY KEY,
    stream  TEXT NOT NULL,
    agg     INTEGER NOT NULL CHECK (agg BETWEEN 0 AND 3),
    UNIQUE (stream, agg)
);

-- One record: what upstream hashes into its record ID.
CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    grp         INTEGER NOT NULL REFERENCES grp (id),
    record_id   BLOB NOT NULL,        -- SHA-256, 32 bytes
    metric_name TEXT NOT NULL,
    dims        TEXT NOT NULL,        -- JSON object, keys in bytewise order
    UNIQUE (grp, record_id)
);

-- One hourly value, at its current version seq.  The key leads with the
-- hour: producers mostly write in time order, so new rows land at the
-- end of the B-tree.
CREATE TABLE point (
    hour    INTEGER NOT NULL,         -- hours since 1970-01-01 00:00 UTC
    series  INTEGER NOT NULL,
    grp     INTEGER NOT NULL,         -- copy of series.grp
    value   REAL NOT NULL,
    seq     INTEGER NOT NULL,         -- journal order of this version
    PRIMARY KEY (hour, series)
) WITHOUT ROWID;

-- The upload queue: one row per pending version, per group in journal
-- order.  A point is pending exactly when (grp, seq) is here; an
-- acknowledgement deletes the run of rows it sent (cheap: one range).
CREATE TABLE queue (
    grp     INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    hour    INTEGER NOT NULL,
    series  INTEGER NOT NULL,
    PRIMARY KEY (grp, seq)
) WITHOUT ROWID;

-- Acknowledgements per group and minute: the highest seq acknowledged in
-- that minute.  Retention deletes acknowledged points whose seq is at or
-- below what was acknowledged before the cutoff.
CREATE TABLE acklog (
    grp     INTEGER NOT NULL,
    minute  INTEGER NOT NULL,         -- Unix time / 60
    hi      INTEGER NOT NULL,
    PRIMARY KEY (grp, minute)
) WITHOUT ROWID;

-- When each transaction's first seq was written: gives the age of the
-- oldest pending point without a timestamp per point.
CREATE TABLE seqtime (
    seq     INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL          -- Unix time
);

-- Points upstream rejected as invalid, with its answer.
CREATE TABLE dead (
    id      INTEGER PRIMARY KEY,
    hour    INTEGER NOT NULL,
    series  INTEGER NOT NULL,
    value   REAL NOT NULL,
    status  INTEGER NOT NULL,         -- HTTP status of the rejection
    body    TEXT NOT NULL,            -- response body, truncated
    dead_at INTEGER NOT NULL          -- Unix time
);

-- Counters and the drainer's last results.
CREATE TABLE meta (
    k   TEXT PRIMARY KEY,
    v
) WITHOUT ROWID;

INSERT INTO meta (k, v) VALUES
    ('next_seq', 1), ('pending', 0), ('points', 0), ('epoch', 0),
    ('appended_total', 0), ('uploaded_total', 0), ('dead_total', 0),
    ('requests_2xx', 0), ('requests_4xx', 0), ('requests_5xx', 0),
    ('requests_failed', 0),
    ('last_upload_ok_at', NULL), ('last_upload_error', NULL),
    ('last_upload_error_at', NULL);
