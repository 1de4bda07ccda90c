-- 0006_upload_latency.sql -- how long the drainer's upload requests
-- took, for the upload latency histogram of /metrics (serve's and the
-- drainer's own): the number of requests, the sum of their durations
-- in milliseconds, and per bucket the requests that took at most its
-- bound and more than the bound before it (upload_ms_le_<bound>; the
-- ones over the last bound are the count less the buckets).  Only the
-- drainer adds to them.  INSERT OR IGNORE: applying it twice is harmless.
INSERT OR IGNORE INTO meta (k, v) VALUES
    ('upload_count', 0), ('upload_sum_ms', 0),
    ('upload_ms_le_50', 0), ('upload_ms_le_100', 0),
    ('upload_ms_le_250', 0), ('upload_ms_le_500', 0),
    ('upload_ms_le_1000', 0), ('upload_ms_le_2500', 0),
    ('upload_ms_le_5000', 0), ('upload_ms_le_10000', 0),
    ('upload_ms_le_30000', 0), ('upload_ms_le_60000', 0);
