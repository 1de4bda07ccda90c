-- 0010_group_pending.sql -- how long each upload group has had points
-- waiting (DESIGN.md section 9: health, status, streams).
--
-- An update of a pending point gives it a new seq, and so a new seqtime:
-- the oldest version of a group updated every hour (accumulate mode, a
-- producer folding into its current hour) is always young, though
-- nothing of the group was delivered for days.  A row here says since
-- when the group has waited: since its queue was last empty, or since
-- its last acknowledgement if that came later.  It is written by the
-- transaction that gives an empty queue a row, moved on by each
-- acknowledgement, and deleted by the transaction that empties the
-- queue.  A group's wait is counted from here, or from its oldest
-- pending version if that is older.
--
-- Groups pending now start from the journal's own "pending since" (meta
-- pending_since, which this table replaces) or their last
-- acknowledgement, whichever is later; else from now.
CREATE TABLE grp_pending (
    grp     INTEGER PRIMARY KEY,      -- grp.id, with queue rows
    since   INTEGER NOT NULL          -- Unix time
);
INSERT INTO grp_pending (grp, since)
    SELECT g.id, coalesce(nullif(max(
               coalesce((SELECT v FROM meta WHERE k = 'pending_since'
                                                  AND v >= 0), 0),
               coalesce((SELECT max(minute) * 60 FROM acklog a
                         WHERE a.grp = g.id), 0)), 0),
               CAST(strftime('%s', 'now') AS INTEGER))
    FROM grp g WHERE EXISTS (SELECT 1 FROM queue q WHERE q.grp = g.id);
DELETE FROM meta WHERE k = 'pending_since';
