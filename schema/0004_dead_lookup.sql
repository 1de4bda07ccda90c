-- 0004_dead_lookup.sql -- dead letters by point: salvage (`ctspool
-- salvage`, the drainer's auto_salvage) adds a recovered dead letter
-- only once, whatever number of times it runs.
CREATE INDEX IF NOT EXISTS dead_point ON dead (series, hour);
