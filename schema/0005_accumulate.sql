-- 0005_accumulate.sql -- local hourly rollup (DESIGN.md section 10).
--
-- An Average point folded from observations keeps their sum and count
-- (the value is their quotient); NULL: the value is one observation.
-- Replace-mode writes set them back to NULL.
ALTER TABLE point ADD COLUMN avg_sum REAL;
ALTER TABLE point ADD COLUMN avg_n INTEGER;

-- Idempotency keys of producer requests: a key seen again within
-- server.idempotency_hours gets the first answer again and changes
-- nothing.  Written in the transaction of the request's items; old keys
-- are pruned by compaction.
CREATE TABLE IF NOT EXISTS idem (
    key     TEXT PRIMARY KEY,
    at      INTEGER NOT NULL,         -- Unix time of the first request
    answer  TEXT NOT NULL             -- what the first request was told
) WITHOUT ROWID;
