-- 0007_events.sql -- Event Overlay (DESIGN.md section 9).
--
-- Events are spooled in the tables of points: one upload group for all
-- events, grp.id = -1 and grp.agg = 4 (not an aggregation function),
-- stream ''.  An event is one series row (record_id: its hour as 4
-- bytes big-endian, then the event ID -- time order keeps the index's
-- new entries together; metric_name: payload.type; dims: the upstream
-- data element without its timestamp, as JSON) and one point row (its
-- hour, value 0), so it is pending, acknowledged, dead, requeued and
-- compacted like a point.
-- An identical event has the same ID: appending it again changes
-- nothing.
--
-- grp is rebuilt (SQLite cannot change a CHECK constraint in place):
-- the table is small, one row per upload group.
CREATE TABLE grp_new (
    id      INTEGER PRIMARY KEY,
    stream  TEXT NOT NULL,
    agg     INTEGER NOT NULL CHECK (agg BETWEEN 0 AND 4),
    UNIQUE (stream, agg),
    CHECK ((agg = 4) = (id = -1))
);
INSERT INTO grp_new (id, stream, agg) SELECT id, stream, agg FROM grp;
DROP TABLE grp;
ALTER TABLE grp_new RENAME TO grp;

-- The event rows of point, for counting them (status): only events are
-- in this index, so a point pays nothing for it but the test of grp.
CREATE INDEX IF NOT EXISTS point_event ON point (series) WHERE grp = -1;
