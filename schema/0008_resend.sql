-- 0008_resend.sql -- points to send again (DESIGN.md section 1: the
-- final state upstream is exact).
--
-- A point acknowledged with a new value while an older value of it was
-- in an upload of unknown outcome (a timeout, a 5xx) must be sent again
-- once that upload can no longer land upstream: it could land late and
-- overwrite the new value.  The drainer notes such a point here in the
-- transaction of the acknowledgement, and deletes it in the transaction
-- that makes it pending again.  A drainer that dies in between (kill -9,
-- power loss) leaves its rows to the next one, which makes them pending
-- once the landing record of the lock file says nothing can land.
CREATE TABLE resend (
    hour    INTEGER NOT NULL,
    series  INTEGER NOT NULL,
    PRIMARY KEY (hour, series)
) WITHOUT ROWID;
