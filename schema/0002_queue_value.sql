-- A pending version's value is kept in its queue row too, so the drainer
-- reads a batch from queue and series alone, without a lookup in point
-- per point.  The queue row of (grp, seq) is the point's current version
-- (journal.c invariant 3), so the copy never differs from point.value.
ALTER TABLE queue ADD COLUMN value REAL NOT NULL DEFAULT 0;

UPDATE queue SET value = (SELECT p.value FROM point p
                          WHERE p.hour = queue.hour
                            AND p.series = queue.series);
