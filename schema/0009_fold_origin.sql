-- 0009_fold_origin.sql -- what accumulate mode (DESIGN.md section 10)
-- needs to bring a dead letter back.
--
-- point.folded = 1: the point's value was built by folds alone, starting
-- from no stored value; NULL: a replace set it (or it predates this).
-- A dead letter keeps that mark and an Average's parts.  `dlq requeue`
-- of a letter whose identity got a value meanwhile then knows what to do:
-- a value folded from nothing does not hold the letter's observations,
-- so the two are folded together; a value a replace set is newer and
-- stays (as before).  Without the parts an Average brought back would
-- count as one observation.
ALTER TABLE point ADD COLUMN folded INTEGER;
ALTER TABLE dead ADD COLUMN folded INTEGER;
ALTER TABLE dead ADD COLUMN avg_sum REAL;
ALTER TABLE dead ADD COLUMN avg_n INTEGER;
